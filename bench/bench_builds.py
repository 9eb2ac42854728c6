"""Build time of executable two-framework books: this extension against other tools.

The same generated book (N pages in two chapters, prose plus cheap pure-Python cells for a
``numpy`` and a ``pytorch`` tab, both run by the ``python3`` kernelspec) is built by:

* ``ext``: sphinx_d2ltabs (d2lbook dialect, ``d2l_execute = "auto"``, ``d2l_workers``);
* ``plain``: plain Sphinx + myst-parser, the same pages as MyST markdown, nothing executed;
* ``mystnb``: MyST-NB with ``nb_execution_mode = "cache"`` (jupyter-cache), ``sphinx-build -j``;
* ``d2lbook``: d2lbook itself (``build eval`` per tab, then ``build html --tab all``).

Each is timed in three scenarios, one after the other on the same tree:

* ``clean``: fresh sources, no build folder, no cache;
* ``noop``: the same build again, nothing changed (``--noop-repeats`` times, the median
  counted: a no-op is short);
* ``edit``: one cell of one page (the numpy cell of the middle page) changed, then rebuilt.

Runs are interleaved (run 1 of every tool, then run 2 of every tool, ...; the order of the
tools rotates from run to run) and the medians are printed with ratios to ``ext`` and to
``plain``. Every executing tool's HTML is checked for the cells' outputs after the clean
build and for the edited cell's new output after the edit.

MyST-NB and d2lbook run from their own virtual environments, made by ``bench/setup.sh``
(``bench/.venvs/mystnb``, ``bench/.venvs/d2lbook``); ``ext`` and ``plain`` use the Python that
runs this script (the project's ``.venv``).

Usage::

    .venv/bin/python bench/bench_builds.py --sizes 10 50 200 --runs 3 \
        --tools ext,plain,mystnb,d2lbook --workers 2 --runs-at 200:1

``--ext-before DIR`` adds ``ext0``: the extension from another copy of its code (e.g.
``git archive HEAD sphinx_d2ltabs | tar -x -C DIR``), built side by side with ``ext``;
``--ext-code DIR`` runs ``ext`` itself from a copy (a snapshot of a tree being edited).
For every executing variant of the extension the table of limits compares each build with
its physical limit (``build_metrics.py``). ``--profile-noop DIR`` keeps pyinstrument
profiles of one more no-op build of ``ext`` and ``plain`` per size, as text.

Every build runs with Python's bytecode cache on (``PYTHONPYCACHEPREFIX`` under
``bench/_work``, whatever ``PYTHONDONTWRITEBYTECODE`` says), as an installed package has it,
after one untimed warm-up build per tool.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import build_metrics

HERE = Path(__file__).resolve().parent
VENVS = HERE / ".venvs"
WORK = HERE / "_work"
SCENARIOS = ("clean", "noop", "edit")
NOOP_REPEATS = 5
"""No-op builds per run (their median is the run's no-op time): ``--noop-repeats``."""
TABS = ("numpy", "pytorch")
CHAPTERS = ("a", "b")


# --------------------------------------------------------------------------- content


@dataclass(frozen=True)
class Cell:
    tab: str  # "numpy", "pytorch" or "all"
    code: str


def page_cells(i: int, edited: bool = False) -> list[Cell]:
    """The cells of page ``i``; ``edited`` changes the first (numpy-only) cell."""
    first = f"x = sum(range(1000 + {i}{' + 1' if edited else ''}))\nprint(x)"
    return [
        Cell("numpy", first),
        Cell("pytorch", f"x = sum(range(2000 + {i}))\nprint(x)"),
        Cell("all", "y = [k * k for k in range(100)]\nprint(len(y), x % 7)"),
        Cell("all", f'{{"page": {i}, "total": x + sum(y)}}'),
    ]


def expected_outputs(i: int, edited: bool = False) -> dict[str, str]:
    """The first printed number of page ``i`` for each framework."""
    return {"numpy": str(sum(range(1000 + i + (1 if edited else 0)))),
            "pytorch": str(sum(range(2000 + i)))}


def layout(n: int) -> dict[str, list[int]]:
    """Pages of each chapter: the first half in chapter a, the rest in chapter b."""
    half = (n + 1) // 2
    return {"a": list(range(half)), "b": list(range(half, n))}


def chapter_of(n: int, i: int) -> str:
    return "a" if i < (n + 1) // 2 else "b"


def edit_page(n: int) -> int:
    return n // 2


PROSE = ("Some prose with *emphasis*, `inline code` and a little math, $y = x^2 + 1$. "
         "The cells below are cheap pure Python, so the build time is the tool's own cost: "
         "reading, kernel start-up, caching and writing.")


def d2l_page(n: int, i: int, edited: bool = False) -> str:
    """Page ``i`` in the d2lbook dialect (used by ``ext`` and ``d2lbook``)."""
    ch = chapter_of(n, i)
    ref = f" It follows :numref:`sec_p{i - 1}`." if i else ""
    parts = [f"# Page {i}\n:label:`sec_p{i}`\n",
             f"This page belongs to :numref:`chap_{ch}`.{ref} {PROSE}\n",
             f":begin_tab:`numpy`\nThe NumPy version of page {i}.\n:end_tab:\n",
             f":begin_tab:`pytorch`\nThe PyTorch version of page {i}.\n:end_tab:\n"]
    for k, cell in enumerate(page_cells(i, edited)):
        marker = "" if cell.tab == "numpy" else f"#@tab {cell.tab}\n"
        parts.append(f"```{{.python .input}}\n{marker}{cell.code}\n```\n")
        if k == 1:
            parts.append(f"{PROSE}\n")
    return "\n".join(parts)


def myst_page(n: int, i: int, edited: bool = False) -> str:
    """Page ``i`` as plain MyST markdown: the code of every tab, not executed."""
    ch = chapter_of(n, i)
    ref = f" It follows {{numref}}`sec_p{i - 1}`." if i else ""
    parts = [f"(sec_p{i})=\n# Page {i}\n",
             f"This page belongs to {{numref}}`chap_{ch}`.{ref} {PROSE}\n",
             f"The NumPy version of page {i}.\n", f"The PyTorch version of page {i}.\n"]
    for k, cell in enumerate(page_cells(i, edited)):
        parts.append(f"```python\n{cell.code}\n```\n")
        if k == 1:
            parts.append(f"{PROSE}\n")
    return "\n".join(parts)


MYSTNB_HEADER = """---
file_format: mystnb
kernelspec:
  name: python3
  display_name: Python 3
---
"""


def mystnb_page(n: int, i: int, tab: str | None, edited: bool = False) -> str:
    """Page ``i`` as a MyST-NB text notebook: one framework (``tab``), or both (``None``)."""
    ch = chapter_of(n, i)
    label = f"sec_p{i}" if tab in (None, "numpy") else f"sec_p{i}_{tab}"
    title = f"Page {i}" + (f" ({tab})" if tab else "")
    ref = f" It follows {{numref}}`sec_p{i - 1}`." if i else ""
    parts = [MYSTNB_HEADER, f"({label})=\n# {title}\n",
             f"This page belongs to {{numref}}`chap_{ch}`.{ref} {PROSE}\n"]
    tabs = [tab] if tab else list(TABS)
    for t in tabs:
        parts.append(f"The {'NumPy' if t == 'numpy' else 'PyTorch'} version of page {i}.\n")
        for k, cell in enumerate(page_cells(i, edited)):
            if cell.tab in (t, "all"):
                parts.append(f"```{{code-cell}} python\n{cell.code}\n```\n")
            if k == 1 and t == tabs[-1]:
                parts.append(f"{PROSE}\n")
    return "\n".join(parts)


def d2l_toc(entries: list[str], numbered: bool = False) -> str:
    opts = ":maxdepth: 2\n" + (":numbered:\n" if numbered else "")
    return "```toc\n" + opts + "\n" + "\n".join(entries) + "\n```\n"


def myst_toc(entries: list[str], numbered: bool = False) -> str:
    opts = ":maxdepth: 2\n" + (":numbered:\n" if numbered else "")
    return "```{toctree}\n" + opts + "\n" + "\n".join(entries) + "\n```\n"


def write_book(src: Path, n: int, page: Callable[[int], dict[str, str]], dialect: bool,
               header: str = "") -> None:
    """Write index, chapter indexes and pages; ``page(i)`` maps file stems to contents."""
    toc = d2l_toc if dialect else myst_toc
    chapters = [f"chapter_{c}/index" for c in CHAPTERS]
    (src / "index.md").write_text(f"{header}# Bench book\n\n" + toc(chapters, numbered=True))
    for ch, pages in layout(n).items():
        folder = src / f"chapter_{ch}"
        folder.mkdir(parents=True, exist_ok=True)
        stems: list[str] = []
        for i in pages:
            for stem, text in page(i).items():
                (folder / f"{stem}.md").write_text(text)
                stems.append(stem)
        title = f"# Chapter {ch.upper()}\n" + (
            f":label:`chap_{ch}`\n" if dialect else "")
        anchor = "" if dialect else f"(chap_{ch})=\n"
        (folder / "index.md").write_text(
            f"{header}{anchor}{title}\nThe pages of chapter {ch}.\n\n" + toc(stems))


# --------------------------------------------------------------------------- tools


def edit_d2l(src: Path, n: int) -> None:
    i = edit_page(n)
    path = src / f"chapter_{chapter_of(n, i)}" / f"p{i}.md"
    path.write_text(d2l_page(n, i, edited=True))


@dataclass
class Step:
    argv: list[str]
    cwd: Path
    env: dict[str, str]


class Tool:
    name = ""
    label = ""
    executes = True

    def __init__(self, workers: int, mystnb_layout: str = "split") -> None:
        self.workers = workers
        self.mystnb_layout = mystnb_layout

    def available(self) -> str:
        """An empty string, or why the tool cannot run."""
        return ""

    def write(self, src: Path, n: int) -> None:
        raise NotImplementedError

    def edit(self, src: Path, n: int) -> None:
        raise NotImplementedError

    def steps(self, src: Path) -> list[Step]:
        raise NotImplementedError

    def prepare(self, src: Path) -> list[Step]:
        """Untimed steps before the clean build."""
        return []

    def html_for(self, src: Path, n: int, i: int) -> dict[str, Path]:
        """The HTML file that shows each framework's output of page ``i``."""
        return {}

    def commands_text(self) -> str:
        return ""


def _importable(*names: str) -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in names)


def _env(bindir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONPATH", None)
    # the bytecode cache on, outside the source trees (as an installed package has it)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(WORK / "pycache")
    return env


def _sphinx(python: Path, src: Path, extra: list[str]) -> Step:
    return Step([str(python), "-m", "sphinx", "-b", "html", *extra, str(src),
                 str(src / "_build" / "html")], src, _env(python.parent))


SPHINX_COMMON = "project = 'bench'\nexclude_patterns = ['_build']\nnumfig = True\n"


class Ext(Tool):
    name, label = "ext", "sphinx_d2ltabs"
    code: Path | None = None
    """Where its package comes from (PYTHONPATH); None: the installed one."""

    def write(self, src: Path, n: int) -> None:
        src.mkdir(parents=True)
        (src / "conf.py").write_text(
            SPHINX_COMMON + "extensions = ['sphinx_d2ltabs']\n"
            "d2l_tabs = ['numpy', 'pytorch']\nd2l_execute = 'auto'\n"
            f"d2l_workers = {self.workers}\n")
        write_book(src, n, lambda i: {f"p{i}": d2l_page(n, i)}, dialect=True)

    def edit(self, src: Path, n: int) -> None:
        edit_d2l(src, n)

    def steps(self, src: Path) -> list[Step]:
        step = _sphinx(Path(sys.executable), src, [])
        if self.code is not None:
            step.env["PYTHONPATH"] = str(self.code)
        return [step]

    def html_for(self, src: Path, n: int, i: int) -> dict[str, Path]:
        page = src / "_build" / "html" / f"chapter_{chapter_of(n, i)}" / f"p{i}.html"
        return dict.fromkeys(TABS, page)

    def metrics(self, src: Path) -> dict[str, float]:
        return build_metrics.job_metrics(src / "_build" / "html", src / "_build" / ".d2l_cache")

    def commands_text(self) -> str:
        where = f" (code: {self.code})" if self.code is not None else ""
        return (f"`python -m sphinx -b html src src/_build/html` with `d2l_workers = "
                f"{self.workers}`{where}")


class ExtBefore(Ext):
    name, label = "ext0", "sphinx_d2ltabs (before)"


class Plain(Tool):
    name, label, executes = "plain", "Sphinx+myst-parser", False

    def write(self, src: Path, n: int) -> None:
        src.mkdir(parents=True)
        (src / "conf.py").write_text(
            SPHINX_COMMON + "extensions = ['myst_parser']\n"
            "myst_enable_extensions = ['dollarmath']\n")
        write_book(src, n, lambda i: {f"p{i}": myst_page(n, i)}, dialect=False)

    def edit(self, src: Path, n: int) -> None:
        i = edit_page(n)
        path = src / f"chapter_{chapter_of(n, i)}" / f"p{i}.md"
        path.write_text(myst_page(n, i, edited=True))

    def steps(self, src: Path) -> list[Step]:
        return [_sphinx(Path(sys.executable), src, [])]

    def commands_text(self) -> str:
        return "`python -m sphinx -b html src src/_build/html` (no execution)"


class MystNB(Tool):
    name, label = "mystnb", "MyST-NB"
    python = VENVS / "mystnb" / "bin" / "python"

    def __init__(self, workers: int, mystnb_layout: str = "split") -> None:
        super().__init__(workers, mystnb_layout)
        if not self.python.exists() and _importable("myst_nb", "jupyter_cache"):
            self.python = Path(sys.executable)  # (installed beside this extension)

    def available(self) -> str:
        return "" if self.python.exists() else f"{self.python} missing: run bench/setup.sh"

    def _pages(self, n: int, i: int, edited: bool = False) -> dict[str, str]:
        if self.mystnb_layout == "merged":
            return {f"p{i}": mystnb_page(n, i, None, edited)}
        return {f"p{i}_{t}": mystnb_page(n, i, t, edited and t == "numpy") for t in TABS}

    def write(self, src: Path, n: int) -> None:
        src.mkdir(parents=True)
        (src / "conf.py").write_text(
            SPHINX_COMMON + "extensions = ['myst_nb']\n"
            "myst_enable_extensions = ['dollarmath']\n"
            "nb_execution_mode = 'cache'\nnb_execution_timeout = 600\n")
        write_book(src, n, lambda i: self._pages(n, i), dialect=False)

    def edit(self, src: Path, n: int) -> None:
        i = edit_page(n)
        stem = f"p{i}" if self.mystnb_layout == "merged" else f"p{i}_numpy"
        path = src / f"chapter_{chapter_of(n, i)}" / f"{stem}.md"
        path.write_text(self._pages(n, i, edited=True)[stem])

    def steps(self, src: Path) -> list[Step]:
        return [_sphinx(self.python, src, ["-j", str(self.workers)])]

    def prepare(self, src: Path) -> list[Step]:
        # With sphinx-build -j, two processes that find no cache database both create its
        # tables and one fails ("table nbproject already exists", sphinx-doc/sphinx#12481):
        # create the empty database first.
        code = ("import sys; from jupyter_cache import get_cache; "
                "get_cache(sys.argv[1]).list_cache_records()")
        return [Step([str(self.python), "-c", code, str(src / "_build" / ".jupyter_cache")],
                     src, _env(self.python.parent))]

    def html_for(self, src: Path, n: int, i: int) -> dict[str, Path]:
        folder = src / "_build" / "html" / f"chapter_{chapter_of(n, i)}"
        if self.mystnb_layout == "merged":
            return dict.fromkeys(TABS, folder / f"p{i}.html")
        return {t: folder / f"p{i}_{t}.html" for t in TABS}

    def commands_text(self) -> str:
        return (f"`python -m sphinx -b html -j {self.workers} src src/_build/html` with "
                "`nb_execution_mode = 'cache'`")


D2LBOOK_CONFIG = """[project]
name = bench
title = Bench book

[build]
notebooks = *.md */*.md
tabs = numpy, pytorch
"""


class D2lbook(Tool):
    name, label = "d2lbook", "d2lbook"
    exe = VENVS / "d2lbook" / "bin" / "d2lbook"

    def available(self) -> str:
        if not self.exe.exists():
            return f"{self.exe} missing: run bench/setup.sh"
        if shutil.which("pandoc") is None:
            return "pandoc missing: run bench/setup.sh --apt"
        return ""

    def write(self, src: Path, n: int) -> None:
        src.mkdir(parents=True)
        (src / "config.ini").write_text(D2LBOOK_CONFIG)
        write_book(src, n, lambda i: {f"p{i}": d2l_page(n, i)}, dialect=True)

    def edit(self, src: Path, n: int) -> None:
        edit_d2l(src, n)

    def steps(self, src: Path) -> list[Step]:
        env = _env(self.exe.parent)
        exe = str(self.exe)
        return [Step([exe, "build", "eval"], src, env),
                Step([exe, "build", "eval", "--tab", "pytorch"], src, env),
                Step([exe, "build", "html", "--tab", "all"], src, env)]

    def html_for(self, src: Path, n: int, i: int) -> dict[str, Path]:
        page = src / "_build" / "html" / f"chapter_{chapter_of(n, i)}" / f"p{i}.html"
        return dict.fromkeys(TABS, page)

    def commands_text(self) -> str:
        return ("`d2lbook build eval`; `d2lbook build eval --tab pytorch`; "
                "`d2lbook build html --tab all` (2 eval workers, `sphinx-build -j 4`, both "
                "hard-coded in d2lbook)")


TOOLS: dict[str, type[Tool]] = {t.name: t for t in (Ext, ExtBefore, Plain, MystNB, D2lbook)}


# --------------------------------------------------------------------------- running


class BuildFailed(RuntimeError):
    pass


def run_steps(steps: list[Step], name: str, log: Path) -> float:
    """Run ``steps``; the wall time of all of them, in seconds."""
    log.parent.mkdir(parents=True, exist_ok=True)
    total = 0.0
    with log.open("w") as out:
        for step in steps:
            out.write(f"$ {' '.join(step.argv)}\n")
            out.flush()
            # wait() without a timeout blocks in waitpid: run(timeout=...) polls every
            # 50 ms, which rounded every time to 0.05 s (a no-op lasts 0.5 to 1 s)
            start = time.perf_counter()
            proc = subprocess.Popen(step.argv, cwd=step.cwd, env=step.env, stdout=out,
                                    stderr=subprocess.STDOUT)
            guard = threading.Timer(7200, proc.kill)
            guard.start()
            try:
                proc.wait()
            finally:
                guard.cancel()
            total += time.perf_counter() - start
            if proc.returncode:
                raise BuildFailed(f"{name}: {step.argv[1:4]} exited {proc.returncode}, "
                                  f"see {log}")
    return total


def check_outputs(tool: Tool, src: Path, n: int, i: int, edited: bool) -> str:
    """An empty string, or what is missing from the HTML."""
    want = expected_outputs(i, edited)
    for tab, path in tool.html_for(src, n, i).items():
        if not path.exists():
            return f"{path} missing"
        if want[tab] not in path.read_text(errors="replace"):
            return f"{path}: output {want[tab]} ({tab}) missing"
    return ""


def one_run(tool: Tool, n: int, run: int) -> tuple[dict[str, float], dict[str, Any]]:
    """Clean, no-op and one-cell-edit builds of ``tool`` on a fresh tree of ``n`` pages:
    their wall times, and for this extension what its jobs took (``build_metrics``)."""
    src = WORK / f"{tool.name}_{n}"
    shutil.rmtree(src, ignore_errors=True)
    tool.write(src, n)
    logs = WORK / "logs" / f"{tool.name}_{n}"
    times: dict[str, float] = {}
    metrics: dict[str, Any] = {}
    for scenario in SCENARIOS:
        if scenario == "edit":
            time.sleep(1.1)  # mtime-based tools (Sphinx, d2lbook) must see a newer file
            tool.edit(src, n)
        if scenario == "clean":
            run_steps(tool.prepare(src), tool.name, logs / f"prepare_{run}.log")
        log = logs / f"{scenario}_{run}.log"
        if log.exists():  # keep the log of a failed attempt
            log.rename(log.with_suffix(f".failed{time.time_ns()}.log"))
        times[scenario] = run_steps(tool.steps(src), tool.name, log)
        if scenario == "noop" and NOOP_REPEATS > 1:  # (a no-op is short: its median)
            times[scenario] = statistics.median(
                [times[scenario]] + [run_steps(tool.steps(src), tool.name, log)
                                     for _ in range(NOOP_REPEATS - 1)])
        if isinstance(tool, Ext) and scenario != "noop":
            metrics[scenario] = tool.metrics(src)
        if tool.executes and scenario != "noop":
            edited = scenario == "edit"
            for i in {0, n - 1, edit_page(n)}:
                problem = check_outputs(tool, src, n, i, edited and i == edit_page(n))
                if problem:
                    print(f"  WARNING {tool.name} n={n} {scenario}: {problem}", flush=True)
    return times, metrics


def warm_up(tools: list[Tool]) -> None:
    """One untimed build of a 2-page book per tool: the bytecode cache of every package
    (and of the kernels') is written before anything is timed."""
    for tool in tools:
        src = WORK / f"warmup_{tool.name}"
        shutil.rmtree(src, ignore_errors=True)
        tool.write(src, 2)
        try:
            run_steps(tool.prepare(src) + tool.steps(src), tool.name,
                      WORK / "logs" / f"warmup_{tool.name}.log")
        except BuildFailed as exc:  # (a kernel lost to a port race, say: not timed)
            print(f"  warm-up failed, not timed: {exc}", flush=True)


def profile_noop(tools: list[Tool], n: int, folder: Path) -> None:
    """pyinstrument text profiles of one more no-op build of ``ext`` and ``plain`` on the
    trees their last runs left (``folder/noop_<tool>_<n>.txt``)."""
    folder = folder.resolve()  # (the builds run in the book's folder)
    folder.mkdir(parents=True, exist_ok=True)
    for tool in tools:
        if tool.name not in ("ext", "plain"):
            continue
        src = WORK / f"{tool.name}_{n}"
        step = tool.steps(src)[0]
        out = folder / f"noop_{tool.name}_{n}.txt"
        argv = [step.argv[0], "-m", "pyinstrument", "-r", "text", "-i", "0.001",
                "--show", "*/sphinx_d2ltabs/*", "-o", str(out), "-m", "sphinx", "-q",
                *step.argv[3:]]
        subprocess.run(argv, cwd=step.cwd, env=step.env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.write_text(_relative(out.read_text(), tool))
        print(f"  profile: {out}")


def _relative(text: str, tool: Tool) -> str:
    """A profile without this machine's folders (the code's, this repository's)."""
    roots = [str(HERE.parent) + os.sep]
    if isinstance(tool, Ext) and tool.code is not None:
        roots.insert(0, str(tool.code.resolve()) + os.sep)
    for root in roots:
        text = text.replace(root, "")
    return text


def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}"


Results = dict[str, dict[str, Any]]  # pages -> tool -> scenario -> times (and "metrics")


def medians(res: dict[str, dict[str, list[float]]], scenario: str) -> dict[str, float | None]:
    return {name: (statistics.median(v[scenario]) if v[scenario] else None)
            for name, v in res.items()}


def print_table(results: Results) -> None:
    print("\nmedians in seconds; ratios = tool / ext and tool / plain")
    print(f"{'pages':>5} {'scenario':<8} {'tool':<8} {'runs':>4} {'median':>8} "
          f"{'/ext':>6} {'/plain':>7}")
    for n, res in results.items():
        for s in SCENARIOS:
            med = medians(res, s)
            for name, v in res.items():
                print(f"{n:>5} {s:<8} {name:<8} {len(v[s]):>4} {fmt(med[name]):>8} "
                      f"{ratio(med[name], med.get('ext')):>6} "
                      f"{ratio(med[name], med.get('plain')):>7}")


def markdown_table(results: Results) -> str:
    """One row per (pages, scenario): each tool's median and its ratio to ext."""
    names = list(dict.fromkeys(name for res in results.values() for name in res))
    head = ("| pages | build | runs | " + " | ".join(names)
            + " | ext / plain |")
    rows = [head, "|" + "---|" * (len(names) + 4)]
    for n, res in results.items():
        for s in SCENARIOS:
            med = medians(res, s)
            runs = "/".join(str(len(res[name][s])) if name in res else "0" for name in names)
            cells = []
            for name in names:
                if name not in res or med[name] is None:
                    cells.append("-")
                elif name == "ext" or not med.get("ext"):
                    cells.append(f"{fmt(med[name])} s")
                else:
                    cells.append(f"{fmt(med[name])} s (×{ratio(med[name], med['ext'])})")
            rows.append(f"| {n} | {s} | {runs} | " + " | ".join(cells)
                        + f" | {ratio(med.get('ext'), med.get('plain'))} |")
    return "\n".join(rows)


def main() -> None:
    global NOOP_REPEATS
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--runs-at", action="append", default=[],
                        metavar="SIZE[:TOOL]:RUNS",
                        help="fewer (or more) runs for one size, or one tool at one size, "
                             "e.g. 200:1 or 200:d2lbook:1 (repeatable)")
    parser.add_argument("--tools", default="ext,plain,mystnb,d2lbook")
    parser.add_argument("--workers", type=int, default=2,
                        help="d2l_workers of ext, sphinx-build -j of mystnb")
    parser.add_argument("--mystnb-layout", choices=["split", "merged"], default="split",
                        help="split: one notebook per page and framework (default); merged: "
                             "one notebook per page running both frameworks' cells")
    parser.add_argument("--retries", type=int, default=0,
                        help="repeat a run whose build failed (kernel deaths under load)")
    parser.add_argument("--json", type=Path, default=WORK / "results.json")
    parser.add_argument("--ext-before", type=Path, metavar="DIR",
                        help="add ext0: the extension with its code from DIR (PYTHONPATH)")
    parser.add_argument("--ext-code", type=Path, metavar="DIR",
                        help="run ext with its code from DIR (PYTHONPATH)")
    parser.add_argument("--no-warm-up", dest="warm_up", action="store_false",
                        help="no untimed warm-up build per tool")
    parser.add_argument("--noop-repeats", type=int, default=NOOP_REPEATS, metavar="K",
                        help="no-op builds per run, their median counted (default: "
                             f"{NOOP_REPEATS})")
    parser.add_argument("--profile-noop", type=Path, metavar="DIR",
                        help="pyinstrument profiles of a no-op of ext and plain per size")
    parser.add_argument("--summarize", type=Path, nargs="+", metavar="JSON",
                        help="build nothing: merge these result files and print the tables")
    args = parser.parse_args()
    NOOP_REPEATS = max(1, args.noop_repeats)
    if args.summarize:
        merged: Results = {}
        for path in args.summarize:
            for n, res in json.loads(path.read_text()).items():
                for name, times in res.items():
                    slot = merged.setdefault(n, {}).setdefault(
                        name, {**{s: [] for s in SCENARIOS}, "metrics": {}})
                    for s in SCENARIOS:
                        slot[s].extend(times[s])
                    for s, ms in times.get("metrics", {}).items():
                        slot["metrics"].setdefault(s, []).extend(ms)
        print_table(merged)
        print()
        print(markdown_table(merged))
        print()
        print(build_metrics.limits_table(merged, args.workers))
        return

    runs_at: dict[tuple[int, str], int] = {}
    for item in args.runs_at:
        size, *tool_name, count = item.split(":")
        runs_at[int(size), tool_name[0] if tool_name else ""] = int(count)

    def runs_for(n: int, tool: Tool) -> int:
        return runs_at.get((n, tool.name), runs_at.get((n, ""), args.runs))

    names = [name.strip() for name in args.tools.split(",")]
    if args.ext_before and "ext0" not in names:
        names.insert(names.index("ext") + 1 if "ext" in names else 0, "ext0")
    tools: list[Tool] = []
    for name in names:
        tool = TOOLS[name](args.workers, args.mystnb_layout)
        if isinstance(tool, ExtBefore):
            tool.code = args.ext_before
        elif isinstance(tool, Ext):
            tool.code = args.ext_code
        why = tool.available()
        if why:
            print(f"skipping {tool.name}: {why}")
        else:
            tools.append(tool)
    WORK.mkdir(exist_ok=True)
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    for tool in tools:
        print(f"  {tool.name}: {tool.commands_text()}")

    if args.warm_up:
        warm_up(tools)
    results = run_sizes(args, tools, runs_for)
    print_table(results)
    print()
    print(markdown_table(results))
    print()
    print(build_metrics.limits_table(results, args.workers))


def run_sizes(args: argparse.Namespace, tools: list[Tool],
              runs_for: Callable[[int, Tool], int]) -> Results:
    """Every size, runs interleaved (the order of the tools rotating); the results are
    saved to ``args.json`` after each size."""
    results: Results = {}
    for n in args.sizes:
        res: dict[str, Any] = results.setdefault(
            str(n), {t.name: {**{s: [] for s in SCENARIOS}, "metrics": {}} for t in tools})
        runs = max(runs_for(n, t) for t in tools)
        for run in range(runs):
            order = tools[run % len(tools):] + tools[:run % len(tools)]
            for tool in order:
                if run >= runs_for(n, tool):
                    continue
                done = None
                for attempt in range(1 + args.retries):
                    try:
                        done = one_run(tool, n, run)
                        break
                    except (BuildFailed, subprocess.TimeoutExpired) as exc:
                        print(f"  FAILED (attempt {attempt + 1}) {exc}", flush=True)
                if done is None:
                    continue
                times, metrics = done
                for s, t in times.items():
                    res[tool.name][s].append(t)
                for s, m in metrics.items():
                    res[tool.name]["metrics"].setdefault(s, []).append(m)
                print(f"n={n} run {run + 1}/{runs_for(n, tool)} {tool.name:<8} "
                      + " ".join(f"{s}={t:.2f}s" for s, t in times.items())
                      + f"  (load {os.getloadavg()[0]:.1f})", flush=True)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
        if args.profile_noop:
            profile_noop(tools, n, args.profile_noop)
    return results


if __name__ == "__main__":
    main()
