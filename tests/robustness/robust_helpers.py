"""Helpers of the robustness suite: small books written on the fly, builds in this process
or as ``sphinx-build`` subprocesses, and scans of ``/proc`` for processes left behind."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# (wait_until re-exported: the one polling helper of the tests)
from helpers import process_alive, wait_until

MARK_VAR = "D2L_ROBUST_MARK"
"""Every kernel of a marked book holds ``MARK_VAR=<marker>`` (``d2l_kernel_env``)."""
TOKEN_VAR = "D2LTABS_KERNEL_TOKEN"
"""Set by the extension in every kernel it starts: ``<pid of the build>:<hex>``."""


def write_book(src: Path, pages: Mapping[str, str | bytes], *, tabs: Iterable[str] = ("alpha",),
               conf: str = "", toc: Iterable[str] | None = None, mark: str | None = None,
               index: str | None = None) -> Path:
    """A book: ``conf.py``, an ``index.md`` whose toc lists ``toc`` (default: every page,
    in order) and the pages (``name`` → text or bytes, ``.md`` added)."""
    src.mkdir(parents=True, exist_ok=True)
    lines = ['extensions = ["sphinx_d2ltabs"]', 'project = "robust"',
             f"d2l_tabs = {list(tabs)!r}", "d2l_lib_enable = False"]
    if mark is not None:
        lines.append(f"d2l_kernel_env = {{'*': {{{MARK_VAR!r}: {mark!r}}}}}")
    (src / "conf.py").write_text("\n".join(lines) + "\n" + conf, encoding="utf-8")
    entries = list(pages) if toc is None else list(toc)
    if index is None:
        index = "# Robust\n\n```toc\n:maxdepth: 1\n\n" + "\n".join(entries) + "\n```\n"
    (src / "index.md").write_text(index, encoding="utf-8")
    for name, text in pages.items():
        path = src / (name + ".md")
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
    return src


def cell(code: str, tab: str | None = None) -> str:
    marker = f"#@tab {tab}\n" if tab else ""
    return f"```{{.python .input}}\n{marker}{code}\n```\n"


@dataclass
class Build:
    status: str
    warnings: list[str]
    outdir: Path
    srcdir: Path

    @property
    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            (self.outdir.parent / "doctrees" / "d2l_execution_report.json").read_text("utf-8"))
        return data

    def entry(self, docname: str, framework: str) -> dict[str, Any]:
        return next(e for e in self.report["pages"]
                    if e["docname"] == docname and e["framework"] == framework)

    def page_text(self, docname: str) -> str:
        from bs4 import BeautifulSoup

        soup = BeautifulSoup((self.outdir / f"{docname}.html").read_text(encoding="utf-8"),
                             "html.parser")
        main = soup.find("div", {"role": "main"}) or soup.body
        return " ".join(main.get_text(" ", strip=True).split()) if main else ""

    def warnings_for(self, page: str) -> list[str]:
        return [w for w in self.warnings if w.startswith(page + ":") or f"{page}:" in w]


def _warning_lines(text: str, srcdir: Path) -> list[str]:
    """Warnings (a warning's continuation lines, e.g. a traceback, joined to it)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text).replace(str(srcdir) + os.sep, "")
    out: list[str] = []
    for line in text.splitlines():
        if "WARNING:" in line or "ERROR:" in line or "CRITICAL:" in line:
            out.append(line)
        elif out and line.strip():
            out[-1] += "\n" + line
    return out


def build(src: Path, builder: str = "html", **conf: Any) -> Build:
    """Build in this process (a fresh app over ``src/_build/<builder>``)."""
    from sphinx.testing.util import SphinxTestApp

    status, warning = io.StringIO(), io.StringIO()
    # kernels as in a real build: ipykernel does not capture fd 1/2 under pytest
    running_test = os.environ.pop("PYTEST_CURRENT_TEST", None)
    try:
        app = SphinxTestApp(builder, srcdir=src, confoverrides=conf, status=status,
                            warning=warning)
        try:
            app.build()
        finally:
            app.cleanup()
    finally:
        if running_test is not None:
            os.environ["PYTEST_CURRENT_TEST"] = running_test
    return Build(status.getvalue(), _warning_lines(warning.getvalue(), src),
                 Path(app.outdir), src)


def default_sigint() -> None:
    """(In a child, before exec) Ctrl-C's default disposition: Python then turns SIGINT
    into KeyboardInterrupt, even when the tests run with SIGINT ignored (started in the
    background by a shell without job control, or under nohup), which children inherit."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def sphinx_build(src: Path, out: Path, *args: str,
                 env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """``sphinx-build -b html src out args`` as a subprocess (its output in ``stdout``)."""
    return subprocess.Popen(
        [sys.executable, "-m", "sphinx", "-q", "-b", "html", str(src), str(out), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **(env or {})}, preexec_fn=default_sigint)


def _environ(pid: str) -> list[bytes] | None:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return fh.read().split(b"\0")
    except OSError:
        return None


def processes(match: Callable[[list[bytes]], bool]) -> list[int]:
    """Live (not zombie) processes, this one excepted, whose environment ``match``es."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        environ = _environ(name)
        if environ is not None and match(environ) and process_alive(name):
            found.append(int(name))
    return found


def marked(mark: str) -> list[int]:
    """Processes started by the kernels of a book marked with ``mark``."""
    needle = f"{MARK_VAR}={mark}".encode()
    return processes(lambda env: needle in env)


def kernels_of(pid: int) -> list[int]:
    """Processes started by the kernels of the build process ``pid``."""
    prefix = f"{TOKEN_VAR}={pid}:".encode()
    return processes(lambda env: any(e.startswith(prefix) for e in env))




def kill(pids: Iterable[int]) -> None:
    import signal

    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def temp_files(*folders: Path) -> list[str]:
    """Temporary files (``*.tmp``, ``.tmp-*``, ``*.part``) left under ``folders``."""
    found = []
    for folder in folders:
        if not folder.exists():
            continue
        for path in folder.rglob("*"):
            name = path.name
            if name.endswith((".tmp", ".part")) or name.startswith(".tmp") or ".tmp." in name:
                found.append(str(path.relative_to(folder)))
    return sorted(found)


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def start_time(pid: int) -> str | None:
    """A live (not zombie) process's start time (to tell a reused pid apart), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2:].split()
    return None if fields[0] in (b"Z", b"X") else fields[19].decode()


def still_alive(started: Mapping[int, str | None]) -> list[int]:
    """The processes of ``started`` (pid → :func:`start_time`) that are still alive."""
    return [pid for pid, start in started.items()
            if start is not None and start_time(pid) == start]


def watchdogs_of(pid: int) -> list[int]:
    """The live watchdog processes (``sphinx_d2ltabs.execution.reaper``) of the build
    process ``pid`` (its pid is an argument of theirs)."""
    found = []
    owner = f"\0{pid}\0".encode()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                cmdline = fh.read()
        except OSError:
            continue
        if (b"sphinx_d2ltabs.execution.reaper" in cmdline and owner in cmdline
                and process_alive(name)):
            found.append(int(name))
    return found


def wait_for_file(path: Path, proc: subprocess.Popen[str], timeout: float) -> str:
    """The text of ``path`` once it exists (written by rename: complete); fails the test
    with the build's output when the build ends first or the deadline passes."""
    import pytest

    if not wait_until(lambda: path.exists() or proc.poll() is not None, timeout):
        proc.kill()
    if not path.exists():
        if proc.poll() is None:
            proc.kill()
        pytest.fail(f"{path.name} was not written; the build wrote:\n{proc.communicate()[0]}")
    return path.read_text(encoding="utf-8")
