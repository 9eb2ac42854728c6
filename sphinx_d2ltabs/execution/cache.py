"""The execution cache: one JSON file per key, written atomically."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from . import JobResult


class Cache(Protocol):
    """Where job results are kept between builds."""

    def get(self, key: str) -> JobResult | None: ...

    def put(self, key: str, result: JobResult) -> None: ...


class FileCache:
    """``<dir>/<key[:2]>/<key>.json``.

    Writes go to a temporary file in the same folder, then ``os.replace``: a reader sees
    the old entry or the new one, never half a file, whatever crashes or runs at once.
    A corrupt entry reads as a miss and is removed.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = os.fspath(directory)

    def path(self, key: str) -> str:
        return os.path.join(self.directory, key[:2], key + ".json")

    def get(self, key: str) -> JobResult | None:
        from . import JobResult

        path = self.path(key)
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
            return JobResult.from_json(data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            with contextlib.suppress(OSError):
                os.remove(path)
            return None

    def put(self, key: str, result: JobResult) -> None:
        path = self.path(key)
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(result.to_json(), fh)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    def keys(self) -> set[str]:
        found: set[str] = set()
        if not os.path.isdir(self.directory):
            return found
        for shard in os.listdir(self.directory):
            folder = os.path.join(self.directory, shard)
            if len(shard) == 2 and os.path.isdir(folder):
                found.update(n[:-5] for n in os.listdir(folder)
                             if n.endswith(".json") and not n.startswith(".tmp-"))
        return found

    def prune(self, keep: set[str]) -> int:
        """Remove the entries not in ``keep``; return how many were removed."""
        removed = 0
        for key in self.keys() - keep:
            with contextlib.suppress(OSError):
                os.remove(self.path(key))
                removed += 1
        return removed
