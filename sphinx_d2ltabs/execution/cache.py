"""The execution cache: one JSON file per key, written atomically."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from typing import Protocol

from .model import JobResult

TMP_PREFIX = ".tmp-"
STALE_TMP_SECONDS = 3600.0


class Cache(Protocol):
    """Where job results are kept between builds (failed ones too)."""

    def get(self, key: str) -> JobResult | None: ...

    def put(self, key: str, result: JobResult) -> None: ...


class FileCache:
    """``<directory>/<key[:2]>/<key>.json``.

    Writes go to a temporary file in the same folder, then ``os.replace``: a reader sees
    the old entry or the new one, never half a file, whatever crashes or writes at once
    (the last writer wins). A corrupt or truncated entry reads as a miss and is removed.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = os.fspath(directory)

    def path(self, key: str) -> str:
        if not key or os.sep in key or "/" in key or key.startswith("."):
            raise ValueError(f"invalid cache key {key!r}")
        return os.path.join(self.directory, key[:2], key + ".json")

    def get(self, key: str) -> JobResult | None:
        path = self.path(key)
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
            result = JobResult.from_json(data)
            if result.key and result.key != key:
                raise ValueError("entry stored under another key")
            result.key = key
            return result
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            with contextlib.suppress(OSError):
                os.remove(path)
            return None

    def put(self, key: str, result: JobResult) -> None:
        path = self.path(key)
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        data = result.to_json()
        data["key"] = key
        text = json.dumps(data, ensure_ascii=False)
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=".json", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise

    def keys(self) -> set[str]:
        """The keys of every entry."""
        found: set[str] = set()
        for folder in self._shards():
            with contextlib.suppress(OSError):
                found.update(name[:-5] for name in os.listdir(folder)
                             if name.endswith(".json") and not name.startswith(TMP_PREFIX))
        return found

    def prune(self, keep: set[str]) -> int:
        """Remove the entries not in ``keep`` (and temporary files left by a killed
        writer more than an hour ago); return how many entries were removed."""
        removed = 0
        for key in self.keys() - keep:
            with contextlib.suppress(OSError):
                os.remove(self.path(key))
                removed += 1
        limit = time.time() - STALE_TMP_SECONDS
        for folder in self._shards():
            with contextlib.suppress(OSError):
                for name in os.listdir(folder):
                    tmp = os.path.join(folder, name)
                    if name.startswith(TMP_PREFIX) and os.path.getmtime(tmp) < limit:
                        os.remove(tmp)
        return removed

    def _shards(self) -> list[str]:
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []
        return [os.path.join(self.directory, n) for n in sorted(names)
                if len(n) == 2 and os.path.isdir(os.path.join(self.directory, n))]
