"""A ``sphinx-build`` killed by SIGKILL mid-cell leaves no process behind: its kernel (even
one busy in C code) and every process the cell started are killed by the build's
watchdog (and the kernel at once by its parent-death signal); what a build left when its
watchdog died too is killed by the next build."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from robust_helpers import (
    TOKEN_VAR,
    cell,
    kernels_of,
    kill,
    marked,
    sphinx_build,
    start_time,
    still_alive,
    wait_for_file,
    wait_until,
    watchdogs_of,
    write_book,
)

from sphinx_d2ltabs.execution import procs

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")

READY_TIMEOUT = 300.0
"""Seconds for the build to start the cell (a loaded machine: Sphinx, then a kernel)."""
GONE_TIMEOUT = 60.0
"""Seconds for every process to be gone after the build is killed."""

BLOCKS = {
    "sleep": "time.sleep(1000)",
    "c-loop": "import re\nre.match('(a*)*b', 'a' * 40)",  # backtracking in C, GIL held
}
CELL = """\
import os, subprocess, sys, time
children = [
    subprocess.Popen(['sleep', '1000']),                         # in the kernel's group
    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(1000)'],
                     start_new_session=True),                    # its own session
    subprocess.Popen(['sleep', '1000'], env={{}}),               # no token, no marker
]
with open({tmp!r}, 'w') as fh:
    fh.write(' '.join(str(p) for p in [os.getpid()] + [c.pid for c in children]))
os.replace({tmp!r}, {ready!r})
{block}
"""


@pytest.fixture
def mark() -> str:
    return uuid.uuid4().hex


def start_book(tmp_path: Path, mark: str, block: str,
               forked: bool = False) -> tuple[subprocess.Popen[str], Path]:
    """The book of one page whose cell blocks; ``forked``: one more page and one worker,
    so that the kernels are forked from a fork server (more jobs than workers)."""
    ready = tmp_path / "ready"
    code = CELL.format(tmp=str(ready) + ".part", ready=str(ready), block=block)
    pages = {"p": "# P\n\n" + cell(code)}
    if forked:
        pages["q"] = "# Q\n\n" + cell("print(1)")
    src = write_book(tmp_path / "src", pages, mark=mark,
                     conf="d2l_workers = 1\n" if forked else "")
    return sphinx_build(src, tmp_path / "out"), ready


def started(ready: Path, proc: subprocess.Popen[str]) -> dict[int, str | None]:
    """The kernel's and the cell's processes (pid → start time), once the cell runs."""
    pids = [int(p) for p in wait_for_file(ready, proc, READY_TIMEOUT).split()]
    return {pid: start_time(pid) for pid in pids}


@pytest.fixture
def cleanup(mark: str) -> Iterator[dict[int, str | None]]:
    """Processes to kill (and report) if a test leaves them."""
    pids: dict[int, str | None] = {}
    yield pids
    left = marked(mark) + still_alive(pids)
    kill(left)
    assert left == [], f"processes left behind: {left}"


@pytest.mark.parametrize("block, forked", [("sleep", False), ("c-loop", False),
                                           ("sleep", True)],
                         ids=["sleep", "c-loop", "sleep-forked"])
def test_sigkill_leaves_no_process(tmp_path: Path, mark: str, block: str, forked: bool,
                                   cleanup: dict[int, str | None]) -> None:
    proc, ready = start_book(tmp_path, mark, BLOCKS[block], forked)
    cleanup.update(started(ready, proc))
    assert len(still_alive(cleanup)) == 4 and proc.poll() is None
    kernel = next(iter(cleanup))
    parent = int(Path(f"/proc/{kernel}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert (parent != proc.pid) is forked  # forked: the fork server is its parent
    proc.send_signal(signal.SIGKILL)
    # nothing holds the build's output pipe: this returns once the build is dead
    proc.communicate(timeout=GONE_TIMEOUT)
    assert wait_until(lambda: not marked(mark) and not still_alive(cleanup)
                      and not kernels_of(proc.pid), GONE_TIMEOUT), (
        marked(mark), still_alive(cleanup))
    assert wait_until(lambda: not watchdogs_of(proc.pid), GONE_TIMEOUT)


def test_kernel_dies_with_the_build_while_its_watchdog_is_stopped(
        tmp_path: Path, mark: str, cleanup: dict[int, str | None]) -> None:
    """The parent-death signal alone kills the kernel; the stopped watchdog, once
    continued, kills the cell's processes."""
    proc, ready = start_book(tmp_path, mark, BLOCKS["sleep"])
    cleanup.update(started(ready, proc))
    kernel = next(iter(cleanup))
    dogs = watchdogs_of(proc.pid)
    assert len(dogs) == 1
    os.kill(dogs[0], signal.SIGSTOP)
    try:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=GONE_TIMEOUT)
        assert wait_until(lambda: kernel not in still_alive(cleanup), GONE_TIMEOUT)
    finally:
        os.kill(dogs[0], signal.SIGCONT)
    assert wait_until(lambda: not marked(mark) and not still_alive(cleanup), GONE_TIMEOUT), (
        marked(mark), still_alive(cleanup))
    assert wait_until(lambda: start_time(dogs[0]) is None, GONE_TIMEOUT)


def holder(token: str) -> subprocess.Popen[bytes]:
    """A process holding ``token`` (as if a kernel had started it)."""
    return subprocess.Popen(["sleep", "1000"], env={**os.environ, TOKEN_VAR: token},
                            start_new_session=True)


def dead_pid() -> int:
    """The pid of a process that has ended."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


def test_sweep_kills_what_dead_builds_left() -> None:
    mine = procs.owner_prefix()
    me = os.getpid()
    orphans = [holder(f"{dead_pid()}:123:{uuid.uuid4().hex}"),   # owner gone
               holder(f"{dead_pid()}:{uuid.uuid4().hex}"),       # an older token's form
               holder(f"{me}:1:{uuid.uuid4().hex}")]             # pid reused by another
    kept = [holder(mine + uuid.uuid4().hex),                     # its owner lives
            holder(f"{os.getppid()}:{uuid.uuid4().hex}"),
            holder("not-a-token")]
    try:
        assert wait_until(lambda: all(start_time(p.pid) for p in orphans + kept), 30)
        procs.kill_orphans()
        assert wait_until(lambda: all(start_time(p.pid) is None for p in orphans), 30)
        assert all(start_time(p.pid) is not None for p in kept)
    finally:
        kill(p.pid for p in orphans + kept)
        for p in orphans + kept:
            p.wait()


def test_next_build_kills_what_a_dead_build_left(tmp_path: Path, mark: str) -> None:
    orphan = holder(f"{dead_pid()}:123:{uuid.uuid4().hex}")
    kept = holder(procs.owner_prefix() + uuid.uuid4().hex)
    try:
        src = write_book(tmp_path / "src", {"p": "# P\n\n" + cell("print(1)")}, mark=mark)
        proc = sphinx_build(src, tmp_path / "out")
        output, _ = proc.communicate(timeout=READY_TIMEOUT)
        assert proc.returncode == 0, output
        assert wait_until(lambda: start_time(orphan.pid) is None, GONE_TIMEOUT)
        assert start_time(kept.pid) is not None
        # the build's watchdog ended with it
        assert wait_until(lambda: not watchdogs_of(proc.pid), GONE_TIMEOUT)
    finally:
        kill([orphan.pid, kept.pid])
        orphan.wait()
        kept.wait()
