"""The data of the execution core: jobs, their results, progress reports, cache keys."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

CACHE_VERSION = "2"
"""Bumped whenever the cached data or the key's content changes; part of every key."""

STATUSES = ("ok", "error", "timeout", "dead", "start_failed", "interrupted")


@dataclass(frozen=True)
class Job:
    """One (document, framework) execution: its cells, run in order in one fresh kernel."""

    docname: str
    framework: str
    cells: tuple[tuple[int, str], ...]
    """(cell id = 1-based source line of the cell, code), in execution order."""
    source_path: str = ""
    kernel: str = "python3"
    """The kernelspec name."""
    env: tuple[tuple[str, str], ...] = ()
    """Extra environment variables of the kernel."""
    cwd: str = ""
    """The kernel's working directory; empty: the current one."""
    setup_code: str = ""
    """Run silently before the cells; a failure in it fails the job."""
    timeout: float = 600.0
    """Per-cell timeout in seconds (``math.inf``: none)."""
    gpus: int = 0
    allow_errors: bool = False
    """Every cell's errors are expected (as for ``allow_error_cells``): recorded, not a
    failure, the job goes on (``d2l_allow_errors``, a page's front matter)."""
    allow_error_cells: frozenset[int] = frozenset()
    """Cells whose errors are expected: recorded, not a failure, the job goes on."""
    extra_key: str = ""
    """Opaque text mixed into the cache key by the caller."""

    @property
    def label(self) -> str:
        """``docname [framework]``, for progress reports and messages."""
        return f"{self.docname} [{self.framework}]"


def cache_key(job: Job) -> str:
    """Content hash (sha256 hex) of everything that decides a job's outputs.

    Not part of it: the cell ids (source lines: adding prose above a cell must hit the
    cache), the working directory (machine-specific), the timeout and the GPU count.
    """
    ids = [cid for cid, _ in job.cells]
    payload = {
        "version": CACHE_VERSION,
        "framework": job.framework,
        "kernel": job.kernel,
        "env": sorted([name, value] for name, value in job.env),
        "setup": job.setup_code,
        "cells": [code for _, code in job.cells],
        "allow_errors": job.allow_errors,
        "allow_error_cells": sorted(ids.index(c) for c in job.allow_error_cells if c in ids),
        "extra": job.extra_key,
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class JobResult:
    """What running a job produced."""

    docname: str
    framework: str
    status: str
    """``ok``, ``error``, ``timeout``, ``dead``, ``start_failed`` or ``interrupted``."""
    outputs: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    """Cell id → nbformat v4 output dicts."""
    execution_counts: dict[int, int | None] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    """The first failure: ``cell`` (0: not a cell), ``ename``, ``evalue``, ``traceback``,
    ``message`` (a one-line human-readable summary)."""
    seconds: float = 0.0
    """Wall time of the whole job, kernel start-up included (not the time its started
    kernel waited for a run slot: :mod:`.pool`)."""
    kernel_start_seconds: float = 0.0
    setup_seconds: float = 0.0
    """Of ``seconds``: the setup code's (``d2l_setup_code``; with a warm pool, run before
    the job took its run slot)."""
    cuda_visible_devices: str = ""
    gpu_fallback: bool = False
    """GPUs were wanted but none exists: it ran on the CPU."""
    cached: bool = False
    """Set by callers when the result comes from a cache (not stored)."""
    key: str = ""
    cell_ids: list[int] = field(default_factory=list)
    """The ids of the job's cells when it ran, in order (see :meth:`for_job`)."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def machinery_failure(self) -> bool:
        """It failed because of the machinery, not because of the code: a timeout, a
        kernel killed by a signal (the OOM killer, a Ctrl-C), a kernel that did not
        start, an interrupted job, an unexpected error of the execution core. Such a
        result is reported but never cached: the next build runs the job again. (An
        exception raised by a cell, or a kernel that exits by itself, is the page's
        result and is cached.)"""
        if self.status in ("timeout", "start_failed", "interrupted"):
            return True
        error = self.error or {}
        if self.status == "dead":
            return not str(error.get("evalue", "")).startswith("exit status")
        return self.status == "error" and str(error.get("message", "")).startswith(
            "execution failed:")

    def errors_allowed(self, job: Job) -> JobResult:
        """This result as ``job``, which allows errors, takes it: a cell's exception is no
        failure (results of builds where ``allow_errors`` still failed the job may be in a
        cache). ``self`` when nothing changes."""
        error = self.error or {}
        if not (job.allow_errors and self.status == "error" and error.get("cell")
                and not self.machinery_failure):
            return self
        return replace(self, status="ok", error=None)

    def cells_not_run(self) -> int:
        """How many of the job's cells did not run because of its failure: those after
        the failing cell (all of them when it failed before its first cell)."""
        if self.ok or not self.cell_ids:
            return 0
        failed_at = (self.error or {}).get("cell") or 0
        later = self.cell_ids[self.cell_ids.index(failed_at) + 1:] if (
            failed_at in self.cell_ids) else self.cell_ids
        return sum(1 for cid in later if cid not in self.execution_counts)

    def for_job(self, job: Job) -> JobResult:
        """This result (e.g. from the cache) as a result of ``job``, whose cells may sit
        on other lines (prose added above them) or in another document with the same code:
        cell ids are mapped by position. ``self`` if nothing changes."""
        new_ids = [cid for cid, _ in job.cells]
        mapping = dict(zip(self.cell_ids, new_ids, strict=False)) if (
            len(self.cell_ids) == len(new_ids)) else {}
        if (job.docname, job.framework) == (self.docname, self.framework) and all(
                old == new for old, new in mapping.items()):
            return self
        error = self.error
        if error is not None and error.get("cell") in mapping:
            old, new = error["cell"], mapping[error["cell"]]
            error = {**error, "cell": new, "source": job.source_path or error.get("source", "")}
            prefix = f"cell at line {old}:"
            if isinstance(error.get("message"), str) and error["message"].startswith(prefix):
                error["message"] = f"cell at line {new}:" + error["message"][len(prefix):]
        return replace(
            self,
            docname=job.docname,
            framework=job.framework,
            outputs={mapping.get(k, k): v for k, v in self.outputs.items()},
            execution_counts={mapping.get(k, k): v for k, v in self.execution_counts.items()},
            error=error,
            cell_ids=new_ids if mapping else list(self.cell_ids),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "docname": self.docname,
            "framework": self.framework,
            "status": self.status,
            "outputs": {str(k): v for k, v in self.outputs.items()},
            "execution_counts": {str(k): v for k, v in self.execution_counts.items()},
            "error": self.error,
            "seconds": self.seconds,
            "kernel_start_seconds": self.kernel_start_seconds,
            "setup_seconds": self.setup_seconds,
            "cuda_visible_devices": self.cuda_visible_devices,
            "gpu_fallback": self.gpu_fallback,
            "key": self.key,
            "cell_ids": list(self.cell_ids),
        }

    @classmethod
    def from_json(cls, data: Any) -> JobResult:
        """The inverse of :meth:`to_json`; raises ``TypeError``/``ValueError`` on data of
        the wrong shape or types (every output is checked: a result read back is safe
        to render)."""
        _expect(isinstance(data, dict), "a job result is a JSON object")
        outputs = data.get("outputs") or {}
        counts = data.get("execution_counts") or {}
        error = data.get("error")
        _expect(isinstance(outputs, dict) and isinstance(counts, dict), "malformed job result")
        _expect(error is None or _is_error_record(error), "malformed error record")
        for key in ("docname", "framework", "status"):
            _expect(isinstance(data.get(key), str), f"{key!r} is not a string")
        for name in ("seconds", "kernel_start_seconds", "setup_seconds"):
            _expect(isinstance(data.get(name, 0.0), (int, float)), f"{name!r} is not a number")
        cell_ids = data.get("cell_ids") or []
        _expect(isinstance(cell_ids, list) and all(_is_int(c) for c in cell_ids),
                "'cell_ids' is not a list of integers")
        parsed: dict[int, list[dict[str, Any]]] = {}
        for cell, cell_outputs in outputs.items():
            _expect(isinstance(cell_outputs, list), f"outputs of cell {cell} are not a list")
            for output in cell_outputs:
                check_output(output)
            parsed[int(cell)] = cell_outputs
        _expect(all(v is None or _is_int(v) for v in counts.values()),
                "an execution count is not an integer")
        result = cls(
            docname=data["docname"],
            framework=data["framework"],
            status=data["status"],
            outputs=parsed,
            execution_counts={int(k): v for k, v in counts.items()},
            error=error,
            seconds=float(data.get("seconds", 0.0)),
            kernel_start_seconds=float(data.get("kernel_start_seconds", 0.0)),
            setup_seconds=float(data.get("setup_seconds", 0.0)),
            cuda_visible_devices=str(data.get("cuda_visible_devices", "")),
            gpu_fallback=bool(data.get("gpu_fallback", False)),
            key=str(data.get("key", "")),
            cell_ids=list(cell_ids),
        )
        if result.status not in STATUSES:
            raise ValueError(f"unknown status {result.status!r}")
        return result


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise TypeError(message)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text(value: Any) -> bool:
    """A string, or a list of strings (nbformat's multi-line form)."""
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(v, str) for v in value))


def _is_error_record(error: Any) -> bool:
    return isinstance(error, dict) and isinstance(error.get("message", ""), str) and (
        _is_int(error.get("cell", 0))) and isinstance(error.get("traceback", []), list) and all(
        isinstance(t, str) for t in error.get("traceback", []))


def check_output(output: Any) -> None:
    """Raise ``TypeError`` unless ``output`` is an nbformat v4 output of a shape the
    renderer can use (the types of the fields it reads)."""
    _expect(isinstance(output, dict), "an output is not an object")
    kind = output.get("output_type")
    if kind == "stream":
        _expect(isinstance(output.get("name"), str) and _is_text(output.get("text")),
                "malformed stream output")
    elif kind in ("display_data", "execute_result"):
        data, meta = output.get("data"), output.get("metadata", {})
        _expect(isinstance(data, dict) and isinstance(meta, dict),
                f"malformed {kind} output")
        for mime, value in data.items():
            _expect(isinstance(mime, str), "a MIME type is not a string")
            _expect(_is_text(value) or mime.endswith("json"), f"malformed {mime} data")
        count = output.get("execution_count")
        _expect(count is None or _is_int(count), "malformed execution count")
    elif kind == "error":
        _expect(isinstance(output.get("ename"), str) and isinstance(output.get("evalue"), str)
                and isinstance(output.get("traceback"), list)
                and all(isinstance(t, str) for t in output["traceback"]),
                "malformed error output")
    else:
        raise TypeError(f"unknown output type {kind!r}")


@dataclass
class Progress:
    """A snapshot of a :class:`~.Scheduler` run."""

    done: int
    total: int
    running: list[str]
    """Labels (``docname [framework]``) of the jobs running now."""
    failed: int
    elapsed: float
    eta: float | None
    """Estimated seconds left; None before the first job has finished."""
