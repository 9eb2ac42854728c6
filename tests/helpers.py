"""Helpers shared by test modules."""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bs4 import BeautifulSoup

ROOTS = Path(__file__).parent / "roots"


def copy_root(tmp_path: Path, name: str) -> Path:
    """A writable copy of ``tests/roots/test-<name>`` (tests that edit their book)."""
    import shutil

    src = tmp_path / "src"
    shutil.copytree(ROOTS / f"test-{name}", src)
    return src


def build_once(src: Path, builder: str = "html", **options: Any) -> Any:
    """One build of ``src`` in a fresh in-process app (its output captured), cleaned up at
    once: its outdir, doctrees and env stay readable, and several builds or builders can
    follow one another in a test. ``options``: SphinxTestApp's (``confoverrides``...)."""
    from sphinx.testing.util import SphinxTestApp

    app = SphinxTestApp(builder, srcdir=src, status=io.StringIO(), warning=io.StringIO(),
                        **options)
    try:
        app.build()
    finally:
        app.cleanup()
    return app


def warnings_of(app: Any) -> list[str]:
    """Warning lines of a sphinx.testing app, with the source folder made relative."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", app.warning.getvalue())
    text = text.replace(str(app.srcdir) + os.sep, "")
    return [line for line in text.splitlines() if "WARNING" in line or "ERROR" in line]


def html(app: Any, page: str) -> BeautifulSoup:
    return BeautifulSoup(Path(app.outdir, page).read_text(encoding="utf-8"), "html.parser")


def body(app: Any, page: str) -> Any:
    soup = html(app, page)
    return soup.find("div", {"role": "main"}) or soup.find("main") or soup.body


def process_alive(pid: int | str) -> bool:
    """Whether process ``pid`` runs (one that has ended but is not reaped yet, a zombie,
    does not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:].split()[0] not in (b"Z", b"X")


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds (a hang guard, never what
    decides a test on a slow machine) pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def durations_seen(monkeypatch: Any) -> list[Any]:
    """The job durations (``expected_seconds``) that each run of the test's builds gets
    (:func:`sphinx_d2ltabs.book_run.start_run`), in order."""
    from sphinx_d2ltabs import book_run

    seen: list[Any] = []
    real = book_run.start_run

    def spy(runner: Any, plans: Any, mode: str, expected: Any = None, **kwargs: Any) -> Any:
        seen.append(expected)
        return real(runner, plans, mode, expected, **kwargs)

    monkeypatch.setattr(book_run, "start_run", spy)
    return seen
