"""The execution cache: one JSON file per key, written atomically, read defensively.

A :class:`FileCache` is one folder. A :class:`TieredCache` reads through several of
them (the writable one first, then read-only ones: a CI cache mounted read-only, a
shared folder) and writes to the writable one only. When the writable folder turns out
to be read-only, writes move to a local fallback folder, with one notice. Behind the
folders, a :class:`~.remote.RemoteTier` (``d2l_cache_remote``) is read last; its hits are
copied into the writable folder, and with ``d2l_cache_push`` the results a build puts are
uploaded to it too.

Whatever is in a folder, reading never raises: a missing entry is a miss; an entry that
is truncated, not JSON, nested pathologically or of the wrong shape is *corrupt*: a
miss, reported, and replaced when the job runs again; an entry that can't be read
because of the operating system (EMFILE, EACCES, EIO...) is *unreadable*: a miss,
reported, and never deleted.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..fileio import TMP_PREFIX, atomic_write, remove_stale_temporaries
from .model import JobResult

if TYPE_CHECKING:
    from .remote import RemoteEntry, RemoteTier

USAGE_FILE = "last-build.json"
"""In the writable folder: when the last build ran and which keys it used."""
READ_ONLY_ERRORS = (errno.EACCES, errno.EPERM, errno.EROFS)
TOUCH_AFTER = 86400.0
"""An entry used by a build is marked used (its mtime) when its mark is older than this."""
PRUNE_STAMP = ".last-prune"
"""In a cache folder: its mtime is when a build last pruned it by age."""
PRUNE_EVERY = 3600.0
"""Seconds between two prunings by age (ages are counted in days)."""


class Cache(Protocol):
    """Where job results are kept between builds (failed ones too)."""

    def get(self, key: str) -> JobResult | None: ...

    def put(self, key: str, result: JobResult) -> None: ...


@dataclass
class Lookup:
    """The outcome of reading one entry."""

    result: JobResult | None
    problem: str = ""
    """Empty for a hit or a plain miss; else why the entry could not be used."""
    corrupt: bool = False
    """The entry exists and is not a valid result (as opposed to unreadable)."""
    path: str = ""
    mtime: float = 0.0
    """When the entry was last written or marked used."""


class FileCache:
    """``<directory>/<key[:2]>/<key>.json``.

    Writes go through :func:`~sphinx_d2ltabs.fileio.atomic_write`: a reader sees the old
    entry or the new one, never half a file (the last writer wins).
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = os.fspath(directory)

    def path(self, key: str) -> str:
        if not key or os.sep in key or "/" in key or key.startswith("."):
            raise ValueError(f"invalid cache key {key!r}")
        return os.path.join(self.directory, key[:2], key + ".json")

    def load(self, key: str, *, remove_corrupt: bool = True) -> Lookup:
        """Read an entry; never raises. An entry verified corrupt is removed (unless
        ``remove_corrupt`` is false); one that can't be read is never removed."""
        path = self.path(key)
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
                mtime = os.fstat(fh.fileno()).st_mtime
        except FileNotFoundError:
            return Lookup(None, path=path)
        except OSError as err:  # transient or permissions: keep the entry
            return Lookup(None, f"cannot be read ({err.strerror or err})", path=path)
        try:
            result = JobResult.from_json(json.loads(raw.decode("utf-8")))
            if result.key and result.key != key:
                raise ValueError("it is stored under another key")
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError,
                MemoryError) as err:
            reason = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
            if remove_corrupt:
                with contextlib.suppress(OSError):
                    os.remove(path)
            return Lookup(None, f"is corrupt ({reason})", corrupt=True, path=path)
        result.key = key
        return Lookup(result, path=path, mtime=mtime)

    def get(self, key: str) -> JobResult | None:
        return self.load(key).result

    def put(self, key: str, result: JobResult) -> None:
        """Store a result; raises ``OSError`` when the folder can't be written."""
        data = result.to_json()
        data["key"] = key
        atomic_write(self.path(key), json.dumps(data, ensure_ascii=False))

    def touch(self, key: str) -> None:
        """Mark an entry as used now (its mtime): pruning by age keeps what builds use."""
        with contextlib.suppress(OSError):
            os.utime(self.path(key))

    def entries(self) -> Iterator[tuple[str, os.stat_result]]:
        """(key, stat) of every entry."""
        for folder in self._shards():
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            for name in sorted(names):
                if name.endswith(".json") and not name.startswith(TMP_PREFIX):
                    with contextlib.suppress(OSError):
                        yield name[:-5], os.stat(os.path.join(folder, name))

    def keys(self) -> set[str]:
        """The keys of every entry."""
        return {key for key, _ in self.entries()}

    def remove(self, key: str) -> bool:
        try:
            os.remove(self.path(key))
        except OSError:
            return False
        return True

    def prune(self, keep: set[str] | None = None, older_than: float | None = None) -> int:
        """Remove the entries not in ``keep`` (None: no such condition) and last used
        more than ``older_than`` seconds ago (None: any age), and temporary files left
        by a killed writer; return how many entries were removed."""
        limit = None if older_than is None else time.time() - older_than
        removed = 0
        for key, st in list(self.entries()):
            if keep is not None and key in keep:
                continue
            if limit is not None and st.st_mtime >= limit:
                continue
            removed += int(self.remove(key))
        for folder in self._shards():
            remove_stale_temporaries(folder)
        return removed

    def prune_aged(self, older_than: float, every: float = PRUNE_EVERY) -> int:
        """:meth:`prune` the entries last used more than ``older_than`` seconds ago, unless
        a build did within the last ``every`` seconds (:data:`PRUNE_STAMP`): each build
        would otherwise ``stat`` every entry for it."""
        stamp = os.path.join(self.directory, PRUNE_STAMP)
        with contextlib.suppress(OSError):
            if time.time() - os.stat(stamp).st_mtime < min(every, older_than):
                return 0
        removed = self.prune(older_than=older_than)
        with contextlib.suppress(OSError), open(stamp, "a", encoding="utf-8"):
            os.utime(stamp)
        return removed

    def temporaries(self) -> list[str]:
        """Leftover temporary files (of writers killed mid-write, or writing now)."""
        return [os.path.join(folder, name) for folder in self._shards()
                for name in _listdir(folder) if name.startswith(TMP_PREFIX)]

    def _shards(self) -> list[str]:
        return [os.path.join(self.directory, n) for n in _listdir(self.directory)
                if len(n) == 2 and os.path.isdir(os.path.join(self.directory, n))]


def _listdir(folder: str) -> list[str]:
    try:
        return sorted(os.listdir(folder))
    except OSError:
        return []


def fallback_dir(directory: str) -> str:
    """Where results go when ``directory`` is read-only: a folder of the user's cache
    (``$XDG_CACHE_HOME``, else ``~/.cache``) named after ``directory``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    name = hashlib.sha256(os.path.abspath(directory).encode()).hexdigest()[:16]
    return os.path.join(base, "sphinx_d2ltabs", name)


class TieredCache:
    """Read through several folders, write to one.

    ``tiers[0]`` is the writable folder; the others are read only. ``on_problem`` gets
    one message per unusable entry and per write problem (the caller warns); a folder
    that refuses writes with a permissions error is replaced, for writes, by
    :func:`fallback_dir` (``on_notice`` is told once); when that fails too, results of
    this build are not kept (told once). ``remote`` is read after every folder (its
    problems are its own to report, once per build: a lookup gets a plain miss).
    """

    def __init__(self, tiers: Sequence[FileCache], *,
                 on_problem: Callable[[str], None] | None = None,
                 on_notice: Callable[[str], None] | None = None,
                 fallback: str | None = None, remote: RemoteTier | None = None) -> None:
        if not tiers:
            raise ValueError("a cache needs at least one folder")
        self.tiers = list(tiers)
        self.writable: FileCache | None = self.tiers[0]
        self.fallback = fallback
        self.remote = remote
        self.prefetched: dict[str, RemoteEntry] = {}
        """Remote hits of :meth:`prefetch` that could not be copied into a folder."""
        self.on_problem = on_problem or (lambda message: None)
        self.on_notice = on_notice or (lambda message: None)
        self.problems: dict[str, str] = {}
        """path → problem, of this cache's lifetime (each reported once)."""

    def load(self, key: str, *, remove_corrupt: bool = True) -> Lookup:
        """The first usable entry among the tiers, else the first problem met (the
        caller reports it: it knows the page)."""
        first_problem = Lookup(None)
        for tier in self.tiers:
            lookup = tier.load(key, remove_corrupt=remove_corrupt)
            if lookup.result is not None:
                if tier is self.writable and lookup.mtime < time.time() - TOUCH_AFTER:
                    tier.touch(key)  # (at most once a day: a no-op build stays cheap)
                return lookup
            if lookup.problem and not first_problem.problem:
                first_problem = lookup
        if self.remote is not None:
            entry = self.prefetched.pop(key, None) or self.remote.load(key)
            if entry is not None:
                self._keep(entry)
                return Lookup(entry.result, path=self.remote.where(key), mtime=time.time())
        return first_problem

    def get(self, key: str) -> JobResult | None:
        return self.load(key).result

    def put(self, key: str, result: JobResult) -> None:
        """Store in the writable folder, and push to the remote when it takes pushes;
        never raises (problems are reported)."""
        data = result.to_json()
        data["key"] = key
        text = json.dumps(data, ensure_ascii=False)
        self.write_file(self._relpath(key), text)
        if self.remote is not None and self.remote.push_enabled:
            self.remote.push(key, text)

    def prefetch(self, keys: Iterable[str]) -> int:
        """Fetch from the remote, concurrently, the entries of ``keys`` that no folder
        holds, into the writable folder (so that :meth:`load` finds them there); return
        how many were found. Never raises."""
        if self.remote is None or self.remote.down:
            return 0
        wanted = [k for k in dict.fromkeys(keys)
                  if not any(os.path.exists(t.path(k)) for t in self.tiers)]
        found = self.remote.fetch_many(wanted)
        for entry in found.values():
            if not self._keep(entry):
                self.prefetched[entry.key] = entry
        return len(found)

    def _keep(self, entry: RemoteEntry) -> bool:
        """Copy a remote entry into the writable folder (the next build finds it there)."""
        return self.writable is not None and self.write_file(self._relpath(entry.key),
                                                             entry.text)

    def _relpath(self, key: str) -> str:
        return os.path.relpath(self.tiers[0].path(key), self.tiers[0].directory)

    def write_file(self, relpath: str, text: str) -> bool:
        """Write a file into the writable folder (moving to the fallback folder when it
        is read-only); never raises: False, reported once, when it can't be written."""
        while self.writable is not None:
            try:
                atomic_write(os.path.join(self.writable.directory, relpath), text)
                return True
            except OSError as err:
                if not self._writes_elsewhere(err):
                    self._report(self.writable.directory,
                                 f"cannot write to the cache folder {self.writable.directory}"
                                 f" ({err.strerror or err}): results of this build are "
                                 "not kept")
                    return False
        return False

    def _writes_elsewhere(self, err: OSError) -> bool:
        """After a refused write: switch to the fallback folder (True), or stop writing."""
        assert self.writable is not None
        refused = self.writable.directory
        if err.errno in READ_ONLY_ERRORS and self.fallback and self.fallback != refused:
            fallback = FileCache(self.fallback)
            self.fallback = None
            self.on_notice(f"the cache folder {refused} is read-only: it is read, and new "
                           f"results go to {fallback.directory}")
            self.writable = fallback
            if all(t.directory != fallback.directory for t in self.tiers):
                self.tiers.insert(0, fallback)
            return True
        if err.errno in READ_ONLY_ERRORS:
            self.on_notice(f"the cache folder {refused} is read-only and no other folder "
                           "could be written: results of this build are not kept")
            self.writable = None
            return True
        return False

    def _report(self, path: str, message: str) -> None:
        if path not in self.problems:
            self.problems[path] = message
            self.on_problem(message)


def open_tiers(directory: str, *, on_problem: Callable[[str], None] | None = None,
               on_notice: Callable[[str], None] | None = None,
               remote: RemoteTier | None = None) -> TieredCache:
    """The cache of a build: ``directory`` (written, or read-only with writes going to
    :func:`fallback_dir`), the fallback folder read too when a previous build wrote
    there, then ``remote``. Raises ``NotADirectoryError`` when ``directory`` is a file."""
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise NotADirectoryError(f"the cache folder {directory} is a file, not a folder")
    fallback = fallback_dir(directory)
    tiers = [FileCache(directory)]
    if os.path.isdir(fallback):
        tiers.append(FileCache(fallback))
    return TieredCache(tiers, on_problem=on_problem, on_notice=on_notice, fallback=fallback,
                       remote=remote)


def read_usage(directory: str) -> dict[str, Any]:
    """The usage record of a cache folder (empty if none or unreadable)."""
    try:
        with open(os.path.join(directory, USAGE_FILE), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def write_usage(cache: TieredCache, keys: set[str], book: str,
                pages: Sequence[Mapping[str, Any]] = ()) -> None:
    """Record in the writable folder which keys this build used (``cache info``,
    ``cache prune --unused``), and each job's seconds (``pages``: the report's entries,
    of which ``docname``, ``framework`` and ``seconds`` are kept: the order of the next
    build's jobs when its build folder is new, :func:`last_usage`)."""
    data = {"time": time.time(), "book": book, "keys": sorted(keys),
            "pages": [{k: e.get(k) for k in ("docname", "framework", "seconds")}
                      for e in pages]}
    cache.write_file(USAGE_FILE, json.dumps(data))


def last_usage(cache: TieredCache) -> dict[str, Any]:
    """The usage record of the first local folder of ``cache`` that has one (the
    writable folder, its fallback, then the read-only ones)."""
    folders = [t.directory for t in cache.tiers]
    if cache.fallback:
        folders.insert(1, cache.fallback)
    for folder in folders:
        usage = read_usage(folder)
        if usage:
            return usage
    return {}
