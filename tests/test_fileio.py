"""fileio.write_unless_same: the notebooks' and the slides' files are rewritten only when
their bytes change (an unchanged file keeps its inode and time stamps)."""

from __future__ import annotations

import os
from pathlib import Path

from sphinx_d2ltabs.fileio import write_unless_same


def test_write_unless_same(tmp_path: Path) -> None:
    path = str(tmp_path / "sub" / "a.bin")
    assert write_unless_same(path, b"abc")  # the folder is made
    before = os.stat(path)
    assert not write_unless_same(path, b"abc")
    after = os.stat(path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert write_unless_same(path, b"abd")  # same size, other bytes
    assert Path(path).read_bytes() == b"abd"
    assert write_unless_same(path, b"abcd") and Path(path).read_bytes() == b"abcd"
