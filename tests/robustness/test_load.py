"""A scaled-down load test (60 pages x 3 frameworks): the book executes, and rebuilds (the
same output folder, or a new one on the same cache) start no kernel. The full-size run is
``python tests/robustness/load_book.py`` (figures in docs/robustness.md)."""

from __future__ import annotations

from pathlib import Path

from load_book import run

PAGES, FRAMEWORKS = 60, 3


def test_sixty_pages_three_frameworks(tmp_path: Path) -> None:
    clean, noop, from_cache = run(tmp_path, PAGES, FRAMEWORKS, workers=2)
    jobs = PAGES * FRAMEWORKS
    for stats in (clean, noop, from_cache):
        assert stats.returncode == 0 and stats.failed == 0 and stats.warnings == 0, stats
        # generous bound: a leak (e.g. outputs kept per kernel) shows up far above it
        assert stats.peak_rss_mb < 1024, stats
    assert clean.executed == jobs and clean.cached == 0
    assert noop.executed == 0 and noop.cached == jobs
    assert from_cache.executed == 0 and from_cache.cached == jobs
    assert noop.seconds < clean.seconds / 3
    html = (tmp_path / "out2" / "chapter_0" / "page_5.html").read_text(encoding="utf-8")
    assert "gamma 5" in html and "helper_5" in html
    lib = (tmp_path / "src" / "d2l" / "alpha.py").read_text(encoding="utf-8")
    assert "def helper_55(x):" in lib
