"""Stamps of cache entries (execution/stamps.py): the no-op check trusts exactly the file
the last full phase used; any write, replacement, removal or shadowing entry is seen."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from sphinx_d2ltabs.execution import JobResult
from sphinx_d2ltabs.execution import stamps as stamps_mod
from sphinx_d2ltabs.execution.cache import TOUCH_AFTER, FileCache, TieredCache
from sphinx_d2ltabs.execution.stamps import racy, take, unchanged

KEY = "ab" + "0" * 62


def result(text: str = "out") -> JobResult:
    return JobResult("page", "fw", "ok", outputs={1: [
        {"output_type": "stream", "name": "stdout", "text": text}]}, cell_ids=[1])


def aged(path: str, seconds: float = 60.0) -> None:
    """Make the entry look written ``seconds`` ago (its mtime; its ctime is now, so the
    stamp is taken after the racy window: see ``not_racy``)."""
    then = time.time() - seconds
    os.utime(path, (then, then))


@pytest.fixture
def not_racy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stamps are taken as if well after every write (no clock waits in the tests)."""
    monkeypatch.setattr(stamps_mod, "racy", lambda ctime_ns, now_ns: False)


@pytest.fixture
def cache(tmp_path: Path) -> TieredCache:
    tiers = [FileCache(tmp_path / "local"), FileCache(tmp_path / "shared")]
    return TieredCache(tiers)


@pytest.mark.usefixtures("not_racy")
def test_an_untouched_entry_is_trusted(cache: TieredCache) -> None:
    cache.put(KEY, result())
    aged(cache.tiers[0].path(KEY))
    stamp = take(cache, [KEY, "cd" + "1" * 62])
    assert set(stamp) == {KEY}  # no entry, no stamp
    assert stamp[KEY][0] == cache.tiers[0].directory
    assert unchanged(cache, KEY, stamp[KEY])
    assert not unchanged(cache, KEY, None)


@pytest.mark.usefixtures("not_racy")
@pytest.mark.parametrize("change", ["in_place", "replaced", "removed", "mode"])
def test_any_change_of_the_entry_is_seen(cache: TieredCache, change: str) -> None:
    cache.put(KEY, result("first"))
    path = cache.tiers[0].path(KEY)
    aged(path)
    stamp = take(cache, [KEY])[KEY]
    if change == "in_place":  # same size, same inode, mtime set back: the ctime moves
        data = Path(path).read_bytes().replace(b"first", b"FIRST")
        st = os.stat(path)
        with open(path, "r+b") as fh:
            fh.write(data)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert os.stat(path).st_ino == st.st_ino and os.stat(path).st_size == st.st_size
    elif change == "replaced":  # an atomic write of the same bytes: a new inode
        cache.put(KEY, result("first"))
        aged(path)
    elif change == "removed":
        os.remove(path)
    else:
        os.chmod(path, 0o600)
    assert not unchanged(cache, KEY, stamp)


@pytest.mark.usefixtures("not_racy")
def test_an_entry_of_a_later_folder_shadowed_by_an_earlier_one(cache: TieredCache) -> None:
    shared = cache.tiers[1]
    shared.put(KEY, result())
    aged(shared.path(KEY))
    stamp = take(cache, [KEY])[KEY]
    assert stamp[0] == shared.directory and unchanged(cache, KEY, stamp)
    Path(cache.tiers[0].path(KEY)).parent.mkdir(parents=True)
    Path(cache.tiers[0].path(KEY)).write_text("{broken")  # load would read this one now
    assert not unchanged(cache, KEY, stamp)


@pytest.mark.usefixtures("not_racy")
def test_an_entry_due_to_be_marked_used_is_read_again(cache: TieredCache) -> None:
    cache.put(KEY, result())
    aged(cache.tiers[0].path(KEY), TOUCH_AFTER + 60)
    stamp = take(cache, [KEY])[KEY]
    assert not unchanged(cache, KEY, stamp)  # the read (TieredCache.load) marks it
    assert cache.load(KEY).result is not None
    assert os.stat(cache.tiers[0].path(KEY)).st_mtime > time.time() - TOUCH_AFTER


def test_an_entry_written_just_now_is_not_stamped(cache: TieredCache) -> None:
    cache.put(KEY, result())
    assert take(cache, [KEY]) == {}
    now = time.time_ns()
    assert racy(now - 10_000_001, now) and not racy(now - 1_000_000_001, now)
    # times in whole milliseconds or coarser (FAT, some network file systems): 2 s
    assert racy(now // 10**9 * 10**9 - 1_000_000_000, now)
