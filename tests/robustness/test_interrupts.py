"""Interrupting a real ``sphinx-build`` (Ctrl-C, SIGTERM) mid-execution, and two builds on
one cache at once: the cache stays valid, finished pages are not run again, no temporary
file and no kernel process is left."""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from robust_helpers import (
    cell,
    kernels_of,
    kill,
    marked,
    sphinx_build,
    temp_files,
    wait_until,
    write_book,
)

from sphinx_d2ltabs.execution import FileCache

FAST = [f"fast{i}" for i in range(4)]
HANG_GUARD = 300.0
"""Seconds a test waits for an event before it fails: only a hang reaches it."""

PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5E"
       "rkJggg==")


def slow_page(running: Path) -> str:
    """A page whose cell writes ``running`` once it runs, then sleeps (300 s)."""
    return "# Slow\n\n" + cell(f"import time\nprint('slow', flush=True)\n"
                                f"open({str(running)!r}, 'w').close()\ntime.sleep(300)")


def fast_page(i: int) -> str:
    return (f"# Fast {i}\n\n" + cell(f"def helper_{i}():  #@save\n    return {i}\n"
                                     f"print('fast-alpha', helper_{i}())")
            + "\n" + cell(f"print('fast-beta', {i})", "beta") + "\n" + cell(
                "import base64\nfrom IPython.display import Image, display\n"
                f"display(Image(data=base64.b64decode('{PNG}')))", "all"))


def entries(cache: Path) -> list[Path]:
    """The cache's entries (not its page index)."""
    return [p for p in cache.glob("??/*.json") if not p.name.startswith(".tmp")]


def assert_cache_valid(cache: Path) -> int:
    store = FileCache(cache)
    found = entries(cache)
    for path in found:
        result = store.get(path.stem)
        assert result is not None, f"unreadable cache entry {path.name}"
        assert result.status != "interrupted"
    return len(found)


@pytest.fixture
def mark() -> str:
    return uuid.uuid4().hex


@pytest.fixture(autouse=True)
def no_kernel_left(mark: str) -> Iterator[None]:
    yield
    # killed processes may take a moment to vanish (a hang guard, not a measure)
    wait_until(lambda: not marked(mark), 60)
    left = marked(mark)
    kill(left)
    assert left == [], f"kernel processes left behind: {left}"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_execution_then_rebuild(tmp_path: Path, mark: str, sig: int) -> None:
    pages = {name: fast_page(i) for i, name in enumerate(FAST)}
    running = tmp_path / "slow-running"
    pages["slow"] = slow_page(running)
    src = write_book(tmp_path / "src", pages, tabs=("alpha", "beta"), mark=mark,
                     conf="d2l_lib_enable = True\n")
    out, cache = tmp_path / "out", tmp_path / ".d2l_cache"
    proc = sphinx_build(src, out, "-D", "d2l_workers=2")
    # the slow page starts first (it is planned last but the fast ones finish) - wait
    # until every fast job is cached while the slow one still runs
    wanted = 2 * len(FAST)
    if not wait_until(lambda: (len(entries(cache)) >= wanted and running.exists())
                      or proc.poll() is not None, HANG_GUARD):
        proc.kill()
        pytest.fail("the fast pages were not cached: " + proc.communicate()[0])
    assert proc.poll() is None, proc.communicate()[0]
    assert len(marked(mark)) > 0  # the slow kernel runs its cell
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=HANG_GUARD)
    assert proc.returncode != 0
    assert "Traceback" not in output, output
    # every kernel (and anything it started) is gone with the build
    assert wait_until(lambda: not marked(mark) and not kernels_of(proc.pid), 60)
    assert temp_files(cache, out, src) == []
    assert assert_cache_valid(cache) == wanted
    # rebuild: the finished pages come from the cache, the slow one (now fixed) runs
    (src / "slow.md").write_text("# Slow\n\n" + cell("print('now' + '-fast')"))
    again = sphinx_build(src, out)
    output, _ = again.communicate(timeout=HANG_GUARD)
    assert again.returncode == 0, output
    assert "WARNING" not in output, output
    report = json.loads((out / ".doctrees" / "d2l_execution_report.json").read_text())
    ran = sorted((e["docname"], e["framework"]) for e in report["pages"] if not e["cached"])
    assert ran == [("slow", "alpha")]
    assert report["cached"] == wanted and report["failed"] == 0
    assert "now-fast" in (out / "slow.html").read_text()
    assert "fast-alpha" in (out / "fast0.html").read_text()
    assert temp_files(cache, out, src) == []
    assert assert_cache_valid(cache) == wanted + 1


def test_two_builds_at_once_on_one_cache(tmp_path: Path, mark: str) -> None:
    """Same sources, same cache, same library folder, two output folders, at once."""
    pages = {name: fast_page(i) for i, name in enumerate(FAST)}
    src = write_book(tmp_path / "src", pages, tabs=("alpha", "beta"), mark=mark,
                     conf="d2l_lib_enable = True\nd2l_workers = 2\n")
    cache = tmp_path / "cache"
    opts = ("-D", f"d2l_cache_dir={cache}")
    procs = [sphinx_build(src, tmp_path / name / "html", *opts) for name in ("b1", "b2")]
    for proc in procs:
        output, _ = proc.communicate(timeout=HANG_GUARD)
        assert proc.returncode == 0, output
        assert "WARNING" not in output, output
    assert temp_files(cache, src, tmp_path / "b1", tmp_path / "b2") == []
    assert assert_cache_valid(cache) == 2 * len(FAST)
    for name in ("b1", "b2"):
        html = (tmp_path / name / "html" / "fast3.html").read_text()
        assert "fast-alpha 3" in html and "fast-beta 3" in html and "<img" in html
    lib = (src / "d2l" / "alpha.py").read_text()
    assert all(f"def helper_{i}" in lib for i in range(len(FAST)))
    # a third build finds everything in the cache
    third = sphinx_build(src, tmp_path / "b3" / "html", *opts)
    output, _ = third.communicate(timeout=HANG_GUARD)
    assert third.returncode == 0, output
    report = json.loads((tmp_path / "b3" / "html" / ".doctrees" / "d2l_execution_report.json")
                        .read_text())
    assert report["executed"] == 0 and report["cached"] == 2 * len(FAST)
