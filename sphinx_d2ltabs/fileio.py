"""Writing files safely (Sphinx-free): the one atomic-write helper of the package.

Every file a build writes (cache entries, the pages index, the library, the report,
output images, generated pages) goes through :func:`atomic_write`: a temporary file in
the same folder, then ``os.replace``. Readers and concurrent builds see the old content
or the new one, never half a file, whatever crashes; the temporary name is unique per
writer, so two builds never write into one temporary file. The file gets the mode a
plain ``open()`` would give (``0o666`` less the umask), so a cache shared by a group
keeps group permissions (``mkstemp`` alone would make it ``0600``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time

TMP_PREFIX = ".tmp-"
"""Temporary files start with this; :func:`remove_stale_temporaries` cleans them."""
STALE_TMP_SECONDS = 3600.0
"""A temporary file older than this was left by a killed writer."""


def _read_umask() -> int:
    """The process umask without changing it (Linux: ``/proc``), else the classic dance
    (done once, at import, before any thread of ours starts)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _read_umask()


def file_mode() -> int:
    """The mode of a new file: what ``open(path, "w")`` gives."""
    return 0o666 & ~UMASK


def atomic_write(path: str, data: bytes | str) -> None:
    """Write ``data`` to ``path`` atomically, creating its folder.

    Raises ``OSError`` (read-only folder, disk full...); the temporary file is removed.
    """
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            with contextlib.suppress(OSError):  # (a file system without modes)
                os.fchmod(fh.fileno(), file_mode())
            fh.write(payload)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def write_unless_same(path: str, data: bytes) -> bool:
    """Write ``data`` to ``path`` atomically unless the file already holds it (compared
    when the sizes agree); True if written. Raises ``OSError`` as :func:`atomic_write`."""
    try:
        if os.path.getsize(path) == len(data):
            with open(path, "rb") as fh:
                if fh.read() == data:
                    return False
    except OSError:
        pass
    atomic_write(path, data)
    return True


def remove_stale_temporaries(folder: str, max_age: float = STALE_TMP_SECONDS) -> int:
    """Remove temporary files of :func:`atomic_write` older than ``max_age`` seconds in
    ``folder`` (left by a killed writer); return how many were removed."""
    removed = 0
    limit = time.time() - max_age
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    for name in names:
        if not name.startswith(TMP_PREFIX):
            continue
        path = os.path.join(folder, name)
        with contextlib.suppress(OSError):
            if os.path.getmtime(path) < limit:
                os.remove(path)
                removed += 1
    return removed
