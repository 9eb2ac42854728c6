"""The Dask executor against the local one, and what shipping the book's files costs.

**Throughput.** A book of ``--pages`` pages (default 200), each one cell
``time.sleep(--sleep)`` (default 0.2 s) of one framework: 200 kernels whose own work is
a sleep, so what is measured is the executors' cost (kernel start-up, scheduling,
transfers). Built with ``sphinx-build -D d2l_execute=force`` (every job runs; the same
sources and output folder each time) by:

* ``local``: ``d2l_executor = "local"``, ``d2l_workers = N`` (``--workers``, default 2);
* ``dask-K``: a ``distributed.LocalCluster`` of K worker processes of one thread each on
  127.0.0.1 (started by this script before the build, stopped after it: only the measured
  cluster runs), ``d2l_executor = "dask:<address>"``, for each K of ``--scaling`` (default
  1 2 4; N is always among them). Dask's statistical profiler is off in the workers
  (``distributed.worker.profile.enabled``; ``--dask-profile`` keeps it on): it samples a
  task's thread every 10 ms for the whole life of its kernel.

Runs are interleaved (``--runs``), medians printed: the execution phase (the report's
``seconds``: connecting, shipping files, running, collecting) and the whole build; the
ratio of ``dask-N`` to ``local``; the Dask speed-up against ``dask-1`` and its share of
linear.

**Shipping** (``--ship``): the example book (its generated ``#@save`` package and
``img/``), and the same with a 50 MB ``data/`` file, made ready for a fresh one-worker
cluster: ``ship`` (contents sent into an empty store), again (the store has them), and
``auto`` (the worker sees the source folder: it checks the files' hashes in place).

    .venv/bin/python bench/bench_dask.py --pages 200 --workers 2 --scaling 1 2 4 --runs 1
    .venv/bin/python bench/bench_dask.py --ship --runs 5
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
BOOK = os.path.join(HERE, os.pardir, "example_book")


def write_book(root: str, pages: int, sleep: float) -> None:
    os.makedirs(root)
    names = [f"p{i:03d}" for i in range(pages)]
    with open(os.path.join(root, "conf.py"), "w", encoding="utf-8") as fh:
        fh.write('extensions = ["sphinx_d2ltabs"]\nproject = "bench"\n'
                 'd2l_tabs = ["python"]\nd2l_lib_enable = False\n')
    with open(os.path.join(root, "index.md"), "w", encoding="utf-8") as fh:
        fh.write("# Bench\n\n```toc\n:maxdepth: 1\n\n" + "\n".join(names) + "\n```\n")
    for name in names:
        with open(os.path.join(root, name + ".md"), "w", encoding="utf-8") as fh:
            fh.write(f"# {name}\n\n```{{.python .input}}\nimport time\n"
                     f"time.sleep({sleep})\n```\n")


def build(src: str, *options: str) -> tuple[float, dict[str, Any]]:
    """A forced build; (wall seconds, execution report). Failed jobs are printed."""
    out = os.path.join(src, "_build", "html")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-q", "-b", "html",
                           "-D", "d2l_execute=force", *options, src, out],
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"build failed ({' '.join(options)}):\n{proc.stdout}{proc.stderr}")
    with open(os.path.join(out, ".doctrees", "d2l_execution_report.json"), encoding="utf-8") as fh:
        report = json.load(fh)
    for entry in report["pages"]:
        if entry["status"] != "ok":
            print(f"    failed: {entry['docname']} {entry['status']}: {entry['error']}")
    return wall, report


@contextlib.contextmanager
def cluster(workers: int, store: str, profile: bool = False) -> Iterator[str]:
    """A LocalCluster of ``workers`` one-thread worker processes; its address. Dask's
    statistical profiler (``distributed.worker.profile``) is off unless ``profile``: it
    samples the running task's thread every 10 ms, that is the whole life of a kernel."""
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.worker.profile.enabled": profile}), LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None, silence_logs=logging.ERROR,
            env={"D2L_WORKER_STORE": store}) as c:
        yield c.scheduler_address


def slots(name: str, args: argparse.Namespace) -> int:
    """Kernels at once: ``d2l_workers`` for local, K for dask-K."""
    return args.workers if name == "local" else int(name.split("-")[1])


def throughput(args: argparse.Namespace, work: str) -> None:
    src = os.path.join(work, "book")
    write_book(src, args.pages, args.sleep)
    # Sphinx's environment, warm (nothing executed)
    subprocess.run([sys.executable, "-m", "sphinx", "-q", "-b", "html", "-D", "d2l_execute=off",
                    src, os.path.join(src, "_build", "html")], check=True,
                   capture_output=True)
    names = ["local"] + [f"dask-{k}" for k in sorted(set(args.scaling) | {args.workers})]
    seen: dict[str, dict[str, list[float]]] = {name: {} for name in names}
    for run in range(args.runs):
        for name in names[run % len(names):] + names[:run % len(names)]:
            # only the measured cluster runs (started before, stopped after the timing)
            with contextlib.ExitStack() as stack:
                if name == "local":
                    options: tuple[str, ...] = ("-D", f"d2l_workers={args.workers}")
                else:
                    address = stack.enter_context(cluster(
                        slots(name, args), os.path.join(work, "store"), args.dask_profile))
                    options = ("-D", f"d2l_executor=dask:{address}")
                load = os.getloadavg()[0]
                wall, report = build(src, *options)
            jobs = sum(e["seconds"] for e in report["pages"])
            for metric, value in (("phase", report["seconds"]), ("wall", wall),
                                  ("jobs", jobs), ("failed", report["failed"])):
                seen[name].setdefault(metric, []).append(value)
            print(f"  run {run + 1} {name}: execution phase {report['seconds']:.2f} s, "
                  f"build {wall:.2f} s, jobs' own time {jobs:.1f} s, "
                  f"{report['failed']} failed (load average before: {load:.1f})", flush=True)
    table(args, names, {n: {k: sum(v) if k == "failed" else statistics.median(v)
                            for k, v in m.items()} for n, m in seen.items()})


def table(args: argparse.Namespace, names: list[str], med: dict[str, dict[str, float]],
          ) -> None:
    """Medians; "busy": the jobs' own time over (slots x phase), the share of the
    executor's slots spent in kernels (what the load of the machine changes less)."""
    print(f"\n{args.pages} pages x one cell time.sleep({args.sleep}), medians of "
          f"{args.runs}; Dask's worker profiler {'on' if args.dask_profile else 'off'}:")
    print("| executor | execution phase | whole build | jobs' own time | busy | vs local "
          "| speed-up vs dask-1 | of linear |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        m, k = med[name], slots(name, args)
        speed = med["dask-1"]["phase"] / m["phase"] if name.startswith("dask") and (
            "dask-1" in med) else None
        print(f"| {name} | {m['phase']:.1f} s | {m['wall']:.1f} s | {m['jobs']:.1f} s | "
              f"{m['jobs'] / (k * m['phase']):.0%} | "
              f"x{m['phase'] / med['local']['phase']:.2f} | "
              + (f"x{speed:.2f} | {speed / k:.0%} |" if speed is not None else "- | - |")
              + (f" ({m['failed']:.0f} job(s) failed in all runs)" if m["failed"] else ""))


def ship(args: argparse.Namespace, work: str) -> None:
    from sphinx_d2ltabs.cli import main as cli
    from sphinx_d2ltabs.confpy import load_conf
    from sphinx_d2ltabs.execution.dask_executor import DaskExecutor
    from sphinx_d2ltabs.execution.executor import Callbacks

    book = os.path.join(work, "example")
    shutil.copytree(BOOK, book, ignore=shutil.ignore_patterns("_build", "d2l", "api.md"))
    with contextlib.redirect_stdout(None):
        cli(["lib", book])
    big = os.path.join(work, "example-50mb")
    shutil.copytree(book, big)
    os.makedirs(os.path.join(big, "data"))
    with open(os.path.join(big, "data", "big.bin"), "wb") as fh:
        fh.write(os.urandom(50 << 20))
    print("| book | files | size | mode | time (median) | sent |")
    print("|---|---|---|---|---|---|")
    for src in (book, big):
        cfg = load_conf(src)[0]
        times: dict[str, list[float]] = {}
        stats: dict[str, dict[str, Any]] = {}
        for run in range(args.runs):
            store = os.path.join(work, f"store-{os.path.basename(src)}-{run}")
            with cluster(1, store) as address:
                for mode in ("ship", "ship again", "auto"):
                    workspace = mode.split()[0]
                    if mode == "auto":  # (a fresh store: only the check in place counts)
                        shutil.rmtree(store, ignore_errors=True)
                    config = dataclasses.replace(cfg, executor_workspace=workspace)
                    with DaskExecutor(config, src, address, Callbacks()) as ex:
                        start = time.perf_counter()
                        assert ex.files is not None
                        ex.files.prepare()
                        times.setdefault(mode, []).append(time.perf_counter() - start)
                        stats[mode] = ex.files.stats
        for mode, values in times.items():
            s = stats[mode]
            print(f"| {os.path.basename(src)} | {s['files']} | {size(s['bytes'])} | "
                  f"{mode} | {statistics.median(values) * 1000:.0f} ms | "
                  f"{s['sent_files']} files, {size(s['sent_bytes'])}"
                  + (f"; {s['in_place']} worker in place |" if s["in_place"] else " |"))


def size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--sleep", type=float, default=0.2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scaling", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--ship", action="store_true", help="measure shipping only")
    parser.add_argument("--dask-profile", action="store_true",
                        help="keep Dask's statistical profiler on in the workers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        if args.ship:
            ship(args, work)
        else:
            throughput(args, work)


if __name__ == "__main__":
    main()
