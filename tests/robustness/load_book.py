"""Load test: generate a book of N pages x F frameworks, build it with ``sphinx-build``
three times and report time and memory.

1. clean build: every (page, framework) runs in its own kernel;
2. no-op rebuild: same output folder, nothing changed;
3. rebuild from the cache: a new output folder on the same cache (every page is read
   and written again, no kernel starts).

For each build: wall time, seconds per page, kernels run, the peak RSS of the largest
process (``sphinx-build`` itself or one kernel; from ``getrusage`` of the children) and
the peak RSS of the whole process tree (the build and its live kernels, sampled through
``/proc`` every 0.2 s on Linux).

    python tests/robustness/load_book.py --pages 500 --frameworks 3 --workers 2

The pytest suite runs a scaled-down variant (``test_load.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

FRAMEWORKS = ("alpha", "beta", "gamma", "delta", "epsilon")
TOKEN_VAR = "D2LTABS_KERNEL_TOKEN"


def page_text(i: int, n: int, frameworks: tuple[str, ...]) -> str:
    """A page: a label, prose, a reference to the previous page, an equation, one
    ``#@tab all`` cell, one cell per framework and, on every fifth page, a saved helper."""
    parts = [f"# Section {i}\n:label:`sec_{i}`\n\n",
             f"Page {i} of {n}. " + "Some prose about tensors and gradients. " * 12 + "\n\n"]
    if i:
        parts.append(f"This follows :numref:`sec_{i - 1}`.\n\n")
    parts.append(f"$$y_{{{i}}} = {i} x$$\n:eqlabel:`eq_{i}`\n\n")
    if i % 5 == 0:
        parts.append(f"```{{.python .input}}\n#@tab all\ndef helper_{i}(x):  #@save\n"
                     f"    return x * {i}\n```\n\n")
    parts.append(f"```{{.python .input}}\n#@tab all\ndata = list(range({i % 50 + 10}))\n"
                 "total = sum(data)\ntotal\n```\n\n")
    for fw in frameworks:
        parts.append(f"```{{.python .input}}\n#@tab {fw}\nprint('{fw}', {i}, total * 2)\n```\n\n")
    parts.append("More prose after the code, with a list:\n\n* one\n* two\n")
    return "".join(parts)


def generate_book(src: Path, pages: int, frameworks: tuple[str, ...],
                  chapters: int = 10) -> Path:
    """``src/index.md`` → ``chapter_k/index.md`` → pages ``chapter_k/page_i.md``."""
    src.mkdir(parents=True, exist_ok=True)
    (src / "conf.py").write_text(
        'extensions = ["sphinx_d2ltabs"]\nproject = "load"\n'
        f"d2l_tabs = {list(frameworks)!r}\n", encoding="utf-8")
    per = -(-pages // chapters)
    names = []
    for c in range(chapters):
        chapter = src / f"chapter_{c}"
        chapter.mkdir(exist_ok=True)
        entries = []
        for i in range(c * per, min(pages, (c + 1) * per)):
            (chapter / f"page_{i}.md").write_text(page_text(i, pages, frameworks),
                                                  encoding="utf-8")
            entries.append(f"page_{i}")
        if entries:
            (chapter / "index.md").write_text(
                f"# Chapter {c}\n\n```toc\n:maxdepth: 1\n\n" + "\n".join(entries) + "\n```\n",
                encoding="utf-8")
            names.append(f"chapter_{c}/index")
    (src / "index.md").write_text(
        "# Load\n\n```toc\n:maxdepth: 2\n:numbered:\n\n" + "\n".join(names) + "\n```\n",
        encoding="utf-8")
    return src


@dataclass
class BuildStats:
    name: str
    seconds: float
    seconds_per_page: float
    executed: int
    cached: int
    failed: int
    warnings: int
    peak_rss_mb: float
    """The largest single process (the build or one kernel)."""
    peak_tree_rss_mb: float
    """The build and its live kernels together (0 where /proc is missing)."""
    returncode: int


def _rss_kb(pid: str) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _tree_rss_kb(build_pid: int) -> int:
    """RSS of the build process and of every process of its kernels."""
    prefix = f"{TOKEN_VAR}={build_pid}:".encode()
    total = _rss_kb(str(build_pid))
    try:
        names = os.listdir("/proc")
    except OSError:
        return total
    for name in names:
        if not name.isdigit() or int(name) == build_pid:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as fh:
                if not any(e.startswith(prefix) for e in fh.read().split(b"\0")):
                    continue
        except OSError:
            continue
        total += _rss_kb(name)
    return total


def run_build(name: str, src: Path, out: Path, pages: int, *extra: str) -> BuildStats:
    """Run ``sphinx-build`` in a wrapper process whose children's peak RSS is reported."""
    wrapper = (
        "import resource, subprocess, sys\n"
        "p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)\n"
        "sys.stderr.buffer.write(p.stdout)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.returncode)\n"
    )
    cmd = [sys.executable, "-c", wrapper, sys.executable, "-m", "sphinx", "-q", "-b", "html",
           str(src), str(out), *extra]
    peak_tree = 0
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_tree
        while not done.wait(0.2):
            # the wrapper's child is the build
            try:
                with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as fh:
                    children = fh.read().split()
            except OSError:
                continue
            for child in children:
                peak_tree = max(peak_tree, _tree_rss_kb(int(child)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    seconds = time.monotonic() - start
    done.set()
    sampler.join()
    max_rss_kb, returncode = (int(x) for x in stdout.split())
    report_path = out / ".doctrees" / "d2l_execution_report.json"  # (the doctree folder)
    report = json.loads(report_path.read_text(encoding="utf-8"))
    return BuildStats(
        name=name, seconds=round(seconds, 2), seconds_per_page=round(seconds / pages, 4),
        executed=report["executed"], cached=report["cached"], failed=report["failed"],
        warnings=stderr.count("WARNING"), peak_rss_mb=round(max_rss_kb / 1024, 1),
        peak_tree_rss_mb=round(peak_tree / 1024, 1), returncode=returncode)


def run(root: Path, pages: int, frameworks: int, workers: int | None) -> list[BuildStats]:
    fws = FRAMEWORKS[:frameworks]
    src = generate_book(root / "src", pages, fws)
    cache = root / "cache"
    opts = ["-D", f"d2l_cache_dir={cache}"]
    if workers:
        opts += ["-D", f"d2l_workers={workers}"]
    return [
        run_build("clean build", src, root / "out1", pages, *opts),
        run_build("no-op rebuild", src, root / "out1", pages, *opts),
        run_build("rebuild from the cache", src, root / "out2", pages, *opts),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--frameworks", type=int, default=3, choices=range(1, 6))
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--dir", type=Path, default=None,
                        help="working folder (default: a temporary one, removed)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="d2l-load-") as tmp:
        root = args.dir or Path(tmp)
        stats = run(root, args.pages, args.frameworks, args.workers)
    if args.json:
        print(json.dumps([asdict(s) for s in stats], indent=1))
    else:
        print(f"{args.pages} pages x {args.frameworks} frameworks, "
              f"{args.workers or os.cpu_count()} workers, {os.cpu_count()} CPUs")
        print(f"{'build':<24}{'s':>9}{'s/page':>9}{'run':>6}{'cached':>8}{'peak MB':>9}"
              f"{'tree MB':>9}{'warn':>6}")
        for s in stats:
            print(f"{s.name:<24}{s.seconds:>9.1f}{s.seconds_per_page:>9.3f}{s.executed:>6}"
                  f"{s.cached:>8}{s.peak_rss_mb:>9.0f}{s.peak_tree_rss_mb:>9.0f}{s.warnings:>6}")
    return 0 if all(s.returncode == 0 and s.failed == 0 for s in stats) else 1


if __name__ == "__main__":
    sys.exit(main())
