"""The no-op rebuild reads nothing an unchanged book does not need: cache entries that are
the very files the last full phase used are not read again (execution/stamps.py), the
notebooks are not made again (notebook_files.py: the book's fingerprint), and any change
of an entry or a notebook file is still seen."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import body, copy_root, warnings_of
from sphinx_d2ltabs.execution import cache as cache_mod
from sphinx_d2ltabs.execution import stamps

FAST = "nothing changed since the last build"


@pytest.fixture
def book(tmp_path: Path, prime_cache: Callable[..., None]) -> Path:
    src = copy_root(tmp_path, "exec")
    prime_cache(src)
    return src


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The cache entries read (FileCache.load); every entry may be stamped (no entry is
    taken for one written in the same clock tick: a test does not wait for the clock)."""
    seen: list[str] = []
    real = cache_mod.FileCache.load

    def load(self: cache_mod.FileCache, key: str, **kwargs: Any) -> cache_mod.Lookup:
        seen.append(key)
        return real(self, key, **kwargs)

    monkeypatch.setattr(cache_mod.FileCache, "load", load)
    monkeypatch.setattr(stamps, "racy", lambda ctime_ns, now_ns: False)
    yield seen


def build(make_app: Any, src: Path) -> tuple[Any, dict[str, Any], str]:
    app = make_app("html", srcdir=src)
    app.build()
    report = json.loads(Path(app.doctreedir, "d2l_execution_report.json").read_text())
    return app, report, app.status.getvalue()


def test_the_no_op_check_reads_no_entry(make_app: Any, book: Path, reads: list[str]) -> None:
    _, first, _ = build(make_app, book)
    assert first["executed"] == 0 and first["cached"] == 3 and len(set(reads)) == 3
    reads.clear()
    app, report, status = build(make_app, book)
    assert FAST in status and report["cached"] == 3
    assert reads == []  # the stamps stood for the entries
    assert "alpha-out" in body(app, "chapter/one.html").get_text()


def test_an_entry_rewritten_in_place_is_read_and_found_corrupt(
        make_app: Any, book: Path, reads: list[str]) -> None:
    build(make_app, book)
    entry = sorted((book / "_build" / ".d2l_cache").glob("??/*.json"))[0]
    st = os.stat(entry)
    size = st.st_size
    with open(entry, "r+b") as fh:  # same inode, same size, the same mtime put back
        fh.write(b"{" * size)
    os.utime(entry, ns=(st.st_atime_ns, st.st_mtime_ns))
    reads.clear()
    app, report, status = build(make_app, book)
    assert FAST not in status
    assert entry.stem in reads
    assert report["executed"] == 1 and report["failed"] == 0
    assert any("corrupt" in w for w in warnings_of(app)), warnings_of(app)
    assert json.loads(entry.read_text())["status"] == "ok"  # replaced by the new result


def test_notebooks_are_not_made_again_unless_a_file_went_away(
        make_app: Any, book: Path, reads: list[str]) -> None:
    app, _, _ = build(make_app, book)
    root = Path(app.outdir, "_notebooks")
    notebook = root / "alpha" / "chapter" / "one.ipynb"
    assert notebook.is_file()
    made = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
    _, _, status = build(make_app, book)
    assert FAST in status and "notebooks: 0 written" in status
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()} == made
    notebook.unlink()
    _, _, status = build(make_app, book)
    assert FAST in status and "notebooks: 1 written" in status
    assert notebook.is_file() and "alpha-out" in notebook.read_text()


def test_an_edit_reads_only_the_entries_of_the_pages_it_reads(
        make_app: Any, book: Path, reads: list[str]) -> None:
    """A full phase (a page changed) does not read the entries the last one used that are
    still those files: the report has them, a page read again loads its own."""
    _, first, _ = build(make_app, book)
    one = {e["framework"]: e for e in first["pages"] if e["docname"] == "chapter/one"}
    page = book / "chapter" / "two.md"
    page.write_text(page.read_text().replace('print("two"', 'print("two, edited"'))
    reads.clear()
    app, report, status = build(make_app, book)
    assert FAST not in status
    assert report["executed"] == 1 and report["cached"] == 2 and report["failed"] == 0
    for entry in report["pages"]:
        if entry["docname"] == "chapter/one":  # (not read: from the last report)
            assert entry == dict(one[entry["framework"]], cached=True)
    keys = get_keys(app, "chapter/one")
    assert not set(keys.values()) & set(reads)  # chapter/one is not read again
    assert "two, edited" in body(app, "chapter/two.html").get_text()
    # a change that makes Sphinx read every page again: each loads its own entries
    reads.clear()
    app, report, status = build_with(make_app, book, rst_prolog=".. |x| replace:: y")
    assert set(keys.values()) <= set(reads)
    assert "alpha-out" in body(app, "chapter/one.html").get_text()
    assert report["cached"] == 3
    assert [w for w in warnings_of(app) if "already registered" not in w] == []


def get_keys(app: Any, docname: str) -> dict[str, str]:
    from sphinx_d2ltabs.state import get_state

    return dict(get_state(app.env).doc_keys[docname])


def build_with(make_app: Any, src: Path, **conf: Any) -> tuple[Any, dict[str, Any], str]:
    app = make_app("html", srcdir=src, confoverrides=conf)
    app.build()
    report = json.loads(Path(app.doctreedir, "d2l_execution_report.json").read_text())
    return app, report, app.status.getvalue()


def test_an_edit_still_reads_an_entry_rewritten_in_place(
        make_app: Any, book: Path, reads: list[str]) -> None:
    app, _, _ = build(make_app, book)
    key = get_keys(app, "chapter/one")["alpha"]
    entry = book / "_build" / ".d2l_cache" / key[:2] / f"{key}.json"
    st = os.stat(entry)
    with open(entry, "r+b") as fh:  # same inode, same size, the same mtime put back
        fh.write(b"{" * st.st_size)
    os.utime(entry, ns=(st.st_atime_ns, st.st_mtime_ns))
    page = book / "chapter" / "two.md"
    page.write_text(page.read_text().replace('print("two"', 'print("two, edited"'))
    reads.clear()
    app, report, _ = build(make_app, book)
    assert entry.stem in reads
    assert report["executed"] == 2 and report["failed"] == 0  # chapter/two, chapter/one's
    assert any("corrupt" in w for w in warnings_of(app)), warnings_of(app)
    assert "alpha-out" in body(app, "chapter/one.html").get_text()
