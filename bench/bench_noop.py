"""No-op rebuild of the example book: this extension against plain Sphinx + myst-parser.

Both trees hold the same pages (``example_book/``); the plain one uses myst-parser,
sphinx-design, sphinxcontrib-bibtex and the same theme, without this extension (so no
execution, no tabs). Each is built clean once, then rebuilt with nothing changed
``--runs`` times, the two interleaved. Prints the medians, their ratio, and the number of
jobs the extension executed in its no-op rebuilds (read from its execution report; it
must be 0).

    python bench/bench_noop.py --runs 9
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BOOK = os.path.join(HERE, os.pardir, "example_book")

PLAIN_CONF = '''\
project = "Dive into sphinx_d2ltabs"
extensions = ["myst_parser", "sphinx_design", "sphinxcontrib.bibtex"]
html_theme = "sphinx_book_theme"
exclude_patterns = ["_build", "d2l"]
bibtex_bibfiles = ["refs.bib"]
bibtex_reference_style = "author_year"
suppress_warnings = ["*"]
'''


def build(src: str, out: str, *options: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sphinx", "-q", "-b", "html", *options, src, out],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def serial_overhead(src: str) -> tuple[float, float, int]:
    """A clean build with one worker: (execution phase, sum of the jobs' own time, jobs)."""
    out = os.path.join(src, "_build", "serial")
    build(src, out, "-D", "d2l_workers=1", "-D", "d2l_cache_dir=_build/serial_cache")
    with open(os.path.join(out, ".doctrees", "d2l_execution_report.json"), encoding="utf-8") as fh:
        report = json.load(fh)
    return report["seconds"], sum(e["seconds"] for e in report["pages"]), len(report["pages"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        ext_src = os.path.join(work, "ext")
        plain_src = os.path.join(work, "plain")
        ignore = shutil.ignore_patterns("_build", "d2l", "__pycache__")
        shutil.copytree(BOOK, ext_src, ignore=ignore)
        shutil.copytree(BOOK, plain_src, ignore=ignore)
        with open(os.path.join(plain_src, "conf.py"), "w", encoding="utf-8") as fh:
            fh.write(PLAIN_CONF)
        ext_out = os.path.join(ext_src, "_build", "html")
        plain_out = os.path.join(plain_src, "_build", "html")
        clean_ext = build(ext_src, ext_out)
        report_path = os.path.join(ext_out, ".doctrees", "d2l_execution_report.json")
        with open(report_path, encoding="utf-8") as fh:
            clean_report = json.load(fh)
        clean_plain = build(plain_src, plain_out)
        pages = len({e["docname"] for e in clean_report["pages"]})
        jobs = len(clean_report["pages"])
        job_sum = sum(e["seconds"] for e in clean_report["pages"])
        phase1, jobs1, count1 = serial_overhead(ext_src)
        ext_times, plain_times, executed = [], [], []
        for _ in range(args.runs):
            ext_times.append(build(ext_src, ext_out))
            with open(report_path, encoding="utf-8") as fh:
                executed.append(json.load(fh)["executed"])
            plain_times.append(build(plain_src, plain_out))
    ext, plain = statistics.median(ext_times), statistics.median(plain_times)
    phase = clean_report["seconds"]
    print(f"clean build: extension {clean_ext:.2f} s (executes every cell), "
          f"plain {clean_plain:.2f} s")
    print(f"  execution phase {phase:.2f} s for {jobs} jobs on {pages} pages; the jobs' own "
          f"time (kernel start + cells) sums to {job_sum:.2f} s")
    print(f"  beyond the jobs and plain Sphinx: "
          f"{(clean_ext - clean_plain - phase) / pages * 1000:.0f} ms per page outside the "
          f"execution phase")
    print(f"  one worker: execution phase {phase1:.2f} s, jobs' own time {jobs1:.2f} s: "
          f"{(phase1 - jobs1) / count1 * 1000:.1f} ms per job of scheduling beyond the kernels")
    print(f"no-op rebuild, median of {args.runs}: extension {ext:.3f} s, plain {plain:.3f} s, "
          f"ratio {ext / plain:.2f}x; jobs executed in no-op rebuilds: {sum(executed)}")


if __name__ == "__main__":
    main()
