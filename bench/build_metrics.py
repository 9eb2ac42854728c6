"""What a build of this extension did, read from its own files, and the limits it is held
to (used by ``bench_builds.py`` and ``bench_realpages.py``).

* :func:`job_metrics`: from the execution report and the cache entries of a build: the
  jobs' own time, split into kernel start-up, set-up code and cells, and the execution
  phase's wall time.
* The physical limit of a clean build: ``Σ(cell run time) / workers + the plain-Sphinx
  time`` (every kernel start and every set-up code hidden behind other jobs' cells); of a
  one-cell edit: ``plain no-op + that job's own time``; of a no-op: the plain no-op.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

REPORT = "d2l_execution_report.json"


def read_report(out: Path) -> dict[str, Any]:
    """The execution report of the HTML build in ``out`` (in the doctree folder since the
    report moved there, in the output folder before)."""
    for path in (out / ".doctrees" / REPORT, out / REPORT):
        if path.exists():
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return data
    raise FileNotFoundError(f"no {REPORT} under {out}")


def cache_entries(cache: Path, keys: set[str] | None = None) -> list[dict[str, Any]]:
    """The results in a cache folder (only ``keys`` when given)."""
    out = []
    for path in sorted(cache.glob("??/*.json")):
        if keys is not None and path.stem not in keys:
            continue
        try:
            out.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return out


def job_metrics(out: Path, cache: Path, executed_only: bool = True) -> dict[str, float]:
    """Seconds of the jobs a build ran (``executed_only``) or used: ``jobs`` (their own
    time), ``starts`` (kernel start-up), ``setup`` (set-up code), ``cells`` (the rest:
    running the cells), ``phase`` (the execution phase's wall time) and ``n`` (jobs)."""
    report = read_report(out)
    wanted = {(e["docname"], e["framework"]) for e in report["pages"]
              if not (executed_only and e.get("cached"))}
    # the entry of each job that this build's report shows (an edit leaves the page's
    # old entry in the cache: the report's seconds tell them apart)
    seconds = {(e["docname"], e["framework"]): e["seconds"] for e in report["pages"]}
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in cache_entries(cache):
        job = (entry["docname"], entry["framework"])
        if job in wanted and abs(entry.get("seconds", 0.0) - seconds[job]) < 0.002:
            newest[job] = entry
    jobs = sum(e.get("seconds", 0.0) for e in newest.values())
    starts = sum(e.get("kernel_start_seconds", 0.0) for e in newest.values())
    setup = sum(e.get("setup_seconds", 0.0) for e in newest.values())
    return {"jobs": jobs, "starts": starts, "setup": setup,
            "cells": max(0.0, jobs - starts - setup), "phase": float(report["seconds"]),
            "n": float(len(newest))}


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def limit(scenario: str, metrics: dict[str, float] | None, workers: int,
          plain: dict[str, float | None]) -> float | None:
    """The physical limit of a scenario (None when a part of it is missing)."""
    if scenario == "noop":
        return plain.get("noop")
    if metrics is None:
        return None
    if scenario == "clean" and plain.get("clean") is not None:
        return metrics["cells"] / max(1, workers) + float(plain["clean"] or 0.0)
    if scenario == "edit" and plain.get("noop") is not None:
        return float(plain["noop"] or 0.0) + metrics["jobs"]
    return None


def median_metrics(runs: list[dict[str, float]]) -> dict[str, float] | None:
    """Per field, the median over runs."""
    if not runs:
        return None
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def limits_table(results: dict[str, Any], workers: int) -> str:
    """Markdown: per size and scenario, each executing variant of this extension against
    the physical limit, and the per-page cost outside execution of its clean builds."""
    rows = ["| pages | build | tool | median | limit | tool / limit | jobs' own time "
            "(start + set-up + cells) | outside execution, per page |",
            "|---|---|---|---|---|---|---|---|"]
    for n, res in results.items():
        plain_times = res.get("plain", {})
        plain = {s: median(plain_times.get(s, [])) for s in ("clean", "noop", "edit")}
        for tool, data in res.items():
            metrics = data.get("metrics") if isinstance(data, dict) else None
            if not metrics:
                continue
            for scenario in ("clean", "noop", "edit"):
                wall = median(data.get(scenario, []))
                m = median_metrics(metrics.get(scenario, []))
                lim = limit(scenario, m, workers, plain)
                parts = "-" if m is None or scenario == "noop" else (
                    f"{m['jobs']:.1f} s ({m['starts']:.1f} + {m['setup']:.1f} + "
                    f"{m['cells']:.1f}), {int(m['n'])} jobs")
                outside = "-"
                if (scenario == "clean" and m is not None and wall is not None
                        and plain["clean"] and str(n).isdigit()):
                    per = (wall - m["phase"] - plain["clean"]) / int(n) * 1000
                    outside = f"{per:.0f} ms"
                ratio = "-" if wall is None or not lim else f"{wall / lim:.2f}"
                rows.append(f"| {n} | {scenario} | {tool} | "
                            f"{'-' if wall is None else f'{wall:.2f} s'} | "
                            f"{'-' if lim is None else f'{lim:.2f} s'} | {ratio} | {parts} | "
                            f"{outside} |")
    return "\n".join(rows)
