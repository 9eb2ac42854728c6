"""A scaled-down load test (15 pages x 3 frameworks, 45 kernels on 2 workers): the book
executes, and rebuilds (the same output folder, or a new one on the same cache) start no
kernel; the no-op rebuild writes no page again. The full-size run is
``python tests/robustness/load_book.py`` (figures in docs/robustness.md).

Sized to what it proves: many jobs through the scheduler and the cache, every page
read from the cache, pages in several chapters, a library saved from several pages, and
memory far below the bound (a leak, e.g. outputs kept per kernel, grows with the jobs:
the full-size run measures it). It used to build 60 pages; 15 prove the same here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from load_book import FRAMEWORKS, generate_book, run_build

PAGES, FRAMEWORKS_USED = 15, 3


def pages_of(out: Path) -> dict[str, int]:
    """The book's pages (not Sphinx's search and index pages, written on every build)
    → their modification time."""
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*.html")
            if p.name not in ("search.html", "genindex.html")}


@pytest.mark.slow
def test_fifteen_pages_three_frameworks(tmp_path: Path) -> None:
    src = generate_book(tmp_path / "src", PAGES, FRAMEWORKS[:FRAMEWORKS_USED])
    opts = ["-D", f"d2l_cache_dir={tmp_path / 'cache'}", "-D", "d2l_workers=2"]
    clean = run_build("clean build", src, tmp_path / "out1", PAGES, *opts)
    written = pages_of(tmp_path / "out1")
    noop = run_build("no-op rebuild", src, tmp_path / "out1", PAGES, *opts)
    from_cache = run_build("rebuild from the cache", src, tmp_path / "out2", PAGES, *opts)
    jobs = PAGES * FRAMEWORKS_USED
    for stats in (clean, noop, from_cache):
        assert stats.returncode == 0 and stats.failed == 0 and stats.warnings == 0, stats
        # generous bound: a leak (e.g. outputs kept per kernel) shows up far above it
        assert stats.peak_rss_mb < 1024, stats
    assert clean.executed == jobs and clean.cached == 0
    assert noop.executed == 0 and noop.cached == jobs
    assert from_cache.executed == 0 and from_cache.cached == jobs
    # the no-op rebuild is cheap: it wrote no page again (was: took < 1/3 of the clean
    # build's wall time, a measure that a loaded machine can break)
    assert len(written) > PAGES and pages_of(tmp_path / "out1") == written
    html = (tmp_path / "out2" / "chapter_2" / "page_5.html").read_text(encoding="utf-8")
    assert "gamma 5" in html and "helper_5" in html
    lib = (src / "d2l" / "alpha.py").read_text(encoding="utf-8")
    assert "def helper_10(x):" in lib
