"""The no-op fast path: an unchanged book reads no page, writes no library, starts no kernel.

Each test builds once, changes one thing, rebuilds, and checks that the second build
took the full path exactly when the change matters to execution.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helpers import body, copy_root, warnings_of

FAST = "nothing changed since the last build"


@pytest.fixture
def book(tmp_path: Path, request: pytest.FixtureRequest,
         prime_cache: Callable[..., None]) -> Path:
    """The exec book; its cache filled first for tests marked ``primed`` (conftest)."""
    src = copy_root(tmp_path, "exec")
    if request.node.get_closest_marker("primed"):
        prime_cache(src)
    return src


def build(make_app: Any, src: Path, **conf: Any) -> tuple[Any, dict[str, Any], str]:
    app = make_app("html", srcdir=src, confoverrides=conf)
    app.build()
    report = json.loads(Path(app.doctreedir, "d2l_execution_report.json").read_text())
    return app, report, app.status.getvalue()


def test_unchanged_book_takes_the_fast_path(make_app: Any, book: Path) -> None:
    _, first, status = build(make_app, book)
    assert first["executed"] == 3 and FAST not in status
    app, report, status = build(make_app, book)
    assert FAST in status, [ln for ln in status.splitlines() if "d2l" in ln or "config" in ln]
    assert report["executed"] == 0 and report["cached"] == 3 and report["failed"] == 0
    assert sorted((e["docname"], e["framework"]) for e in report["pages"]) == sorted(
        (e["docname"], e["framework"]) for e in first["pages"])
    assert [w for w in warnings_of(app) if "already registered" not in w] == []
    assert "alpha-out" in body(app, "chapter/one.html").get_text()


@pytest.mark.primed
def test_cell_edit_leaves_the_fast_path(make_app: Any, book: Path) -> None:
    build(make_app, book)
    page = book / "chapter" / "two.md"
    text = page.read_text()
    assert "print(" in text
    page.write_text(text.replace("print(", "print('edited', ", 1))
    app, report, status = build(make_app, book)
    assert FAST not in status
    assert [(e["docname"], e["framework"]) for e in report["pages"] if not e["cached"]] == [
        ("chapter/two", "alpha")]
    assert "edited" in body(app, "chapter/two.html").get_text()
    # and the build after that is a no-op again
    _, report, status = build(make_app, book)
    assert FAST in status and report["executed"] == 0


def test_lost_cache_entry_is_run_again(make_app: Any, book: Path) -> None:
    _, first, _ = build(make_app, book)
    assert first["executed"] == 3
    cache_dir = book / "_build" / ".d2l_cache"
    entries = sorted(cache_dir.rglob("*.json"))
    victims = [p for p in entries if p.parent != cache_dir]
    assert victims, entries
    victims[0].unlink()
    _, report, status = build(make_app, book)
    assert FAST not in status and report["executed"] == 1


def test_deleted_library_is_written_again(make_app: Any, book: Path) -> None:
    page = book / "chapter" / "one.md"
    page.write_text(page.read_text() + "\n```{.python .input}\n#@save\ndef helper():\n"
                    "    return 1\n```\n")
    build(make_app, book, d2l_lib_enable=True)
    lib = book / "d2l"
    assert (lib / "alpha.py").is_file()
    _, _, status = build(make_app, book, d2l_lib_enable=True)
    assert FAST in status
    shutil.rmtree(lib)
    _, report, status = build(make_app, book, d2l_lib_enable=True)
    assert FAST not in status and "def helper" in (lib / "alpha.py").read_text()
    assert report["executed"] == 0


def test_failures_are_reported_on_every_build(make_app: Any, book: Path) -> None:
    page = book / "chapter" / "two.md"
    page.write_text(page.read_text() + "\n```{.python .input}\nraise ValueError('boom')\n```\n")
    app, report, _ = build(make_app, book)
    assert report["failed"] == 1 and any("boom" in w for w in warnings_of(app))
    app, report, status = build(make_app, book)
    assert FAST not in status
    assert report["failed"] == 1 and any("boom" in w for w in warnings_of(app))


@pytest.mark.primed
def test_force_never_takes_the_fast_path(make_app: Any, book: Path) -> None:
    build(make_app, book)
    _, report, status = build(make_app, book, d2l_execute="force")
    assert FAST not in status and report["executed"] == 3


@pytest.mark.primed
def test_config_change_leaves_the_fast_path(make_app: Any, book: Path) -> None:
    build(make_app, book)
    _, report, status = build(make_app, book, d2l_timeout=77)
    assert FAST not in status
    assert report["executed"] + report["cached"] == 3 and report["failed"] == 0
    assert os.path.exists(book / "_build" / "doctrees" / "d2l_execution_report.json")
