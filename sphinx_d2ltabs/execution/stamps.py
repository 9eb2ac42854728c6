"""Stamps of the cache entries a build used: the no-op check without reading them again
(Sphinx-free).

At the end of a full execution phase, every entry that phase used has just been read
and checked (:meth:`.cache.TieredCache.load`) or written by it. :func:`take` records,
per key, the folder that holds the entry and its stat stamp: inode, size, modification
and change times (nanoseconds). The next build's no-op check (:func:`unchanged`) trusts
an entry whose stamp is the same, that is the very file that phase used: writing the
file changes its change time (which no program can set back) and its modification time,
replacing it (an atomic write) gives a new inode, removing it makes it missing. Any
other entry is read and checked as before: one without a stamp, one whose stamp
differs, one found in an earlier folder now, one changed just before its stamp was
taken (:func:`racy`: a write in the same clock tick could go unseen, so such entries
are not stamped), and one due to be marked used (:data:`.cache.TOUCH_AFTER`: the read
marks it).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .cache import TOUCH_AFTER, TieredCache

Stamp = tuple[str, int, int, int, int]
"""(folder, inode, size, mtime_ns, ctime_ns) of an entry."""

RACY_NS = 100_000_000
"""An entry changed less than this before its stamp is taken is not stamped..."""
COARSE_RACY_NS = 2_000_000_000
"""... or less than this on a file system whose times are whole milliseconds or
coarser (FAT: 2 s)."""


def _stat(path: str) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def take(cache: TieredCache, keys: Iterable[str]) -> dict[str, Stamp]:
    """The stamps of the entries of ``keys`` where :meth:`.TieredCache.load` finds them
    (the first folder that holds one); entries in no folder, or changed just now, get
    none."""
    now = time.time_ns()
    stamps: dict[str, Stamp] = {}
    for key in keys:
        for tier in cache.tiers:
            found = _stat(tier.path(key))
            if found is None:
                continue
            if not racy(found[3], now):
                stamps[key] = (tier.directory, *found)
            break
    return stamps


def racy(ctime_ns: int, now_ns: int) -> bool:
    """Whether a file changed at ``ctime_ns`` is too recent at ``now_ns`` to stamp."""
    window = COARSE_RACY_NS if ctime_ns % 1_000_000 == 0 else RACY_NS
    return ctime_ns >= now_ns - window


def unchanged(cache: TieredCache, key: str, stamp: Stamp | None) -> bool:
    """Whether :meth:`.TieredCache.load` would read the very entry ``stamp`` describes
    (then it loads, as it did), and it is not due to be marked used."""
    if stamp is None:
        return False
    directory, *want = stamp
    for tier in cache.tiers:
        path = tier.path(key)
        if tier.directory != directory:
            if os.path.lexists(path):
                return False  # a folder read first holds an entry now
            continue
        found = _stat(path)
        if found is None or list(found) != want:
            return False
        # an entry of the written folder that is due to be marked used is read again
        # (TieredCache.load marks it)
        return not (tier is cache.writable and found[2] < (time.time() - TOUCH_AFTER) * 1e9)
    return False


def trust(cache: TieredCache, stamps: Mapping[str, Stamp],
          keys: Mapping[str, Mapping[str, str]], report: Mapping[str, Any],
          ) -> Callable[[str, str, str], dict[str, Any] | None]:
    """What a full phase may take from the last one without reading the entry again
    (:data:`.runner.Trust`): for a job whose key is the one that phase gave it (``keys``:
    docname → framework → key), the entry of its report (``report["pages"]``) when the
    entry is still the very file that phase used (:func:`unchanged`, with ``stamps``)."""
    entries = {(e.get("docname"), e.get("framework")): e for e in report.get("pages", [])
               if isinstance(e, dict)}

    def known(docname: str, framework: str, key: str) -> dict[str, Any] | None:
        entry = entries.get((docname, framework))
        if (entry is None or keys.get(docname, {}).get(framework) != key
                or not unchanged(cache, key, stamps.get(key))):
            return None
        return dict(entry)

    return known
