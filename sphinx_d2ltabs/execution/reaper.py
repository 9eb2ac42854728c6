"""A watchdog per build process: when the build ends, however it ends (SIGKILL too), every
process of its kernels is killed.

:func:`ensure` (called before each kernel start) starts it once per process: a small
Python process in its own session (a Ctrl-C on the terminal does not reach it), with
its output on ``/dev/null`` (it holds none of the build's pipes) and, as its stdin, a
pipe whose write end only the build holds. The build writes the process group of each
live kernel to that pipe (``+<pgid>``; ``-<pgid>`` once killed). The watchdog blocks
reading it. The build has ended when the watchdog is its child no more (its parent
changes); end of file on the pipe (the build's descriptors are closed as it exits) says
to look at once, and the parent is checked every second anyway (should a copy of the
write end live on in a forked process). Then it SIGKILLs those groups, their sessions
and descendants, and every process holding a token of the build (:mod:`.procs`), and
exits. After a normal end there is nothing left to kill.

At its first kernel start, a build also kills what earlier builds left behind when they
died with their watchdog (:func:`.procs.kill_orphans`). Without ``posix_spawn`` (not
POSIX) there is no watchdog; without ``/proc`` it only kills the process groups.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import threading
import time
from pathlib import Path

from . import procs

CHECK = 1.0
"""Seconds between checks of the watchdog's parent while the pipe is quiet."""
STARTS = 3
"""Watchdogs a process starts at most (one; another when one was killed)."""

_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
         "from sphinx_d2ltabs.execution.reaper import main; main(sys.argv[2:])")


class _Watchdog:
    def __init__(self, owner: int, pid: int, fd: int) -> None:
        self.owner = owner
        self.pid = pid
        self.fd = fd

    def alive(self) -> bool:
        try:
            done, _ = os.waitpid(self.pid, os.WNOHANG)
            return done == 0
        except ChildProcessError:  # reaped elsewhere (SIGCHLD ignored, say)
            pass
        try:
            os.kill(self.pid, 0)
        except OSError:
            return False
        return True

    def send(self, line: str) -> None:
        with contextlib.suppress(OSError):  # ended, or full (it stopped reading)
            os.write(self.fd, line.encode() + b"\n")


_lock = threading.Lock()
_current: _Watchdog | None = None
_swept: int | None = None
"""The pid of the process that swept up earlier builds' leftovers (after a fork: again)."""
_starts = 0


def ensure() -> None:
    """Start this process's watchdog unless it runs (thread-safe); the first time in a
    process, first kill what dead builds left (:func:`.procs.kill_orphans`)."""
    global _current, _swept, _starts
    pid = os.getpid()
    with _lock:
        current = _current
        if current is not None and current.owner == pid and current.alive():
            return
        if _swept != pid:
            _swept, _starts = pid, 0
            procs.kill_orphans()
        if current is not None:  # ended, or the parent's (this is a forked copy)
            with contextlib.suppress(OSError):
                os.close(current.fd)
            _current = None
        if _starts < STARTS:
            _starts += 1
            _current = _spawn()


def watch_group(pgid: int | None) -> None:
    """Tell the watchdog about a kernel's process group (killed if the build dies)."""
    _send(pgid, "+")


def forget_group(pgid: int | None) -> None:
    """The kernel of ``pgid`` has been killed: the group may be reused."""
    _send(pgid, "-")


def _send(pgid: int | None, sign: str) -> None:
    current = _current
    if pgid and current is not None and current.owner == os.getpid():
        current.send(f"{sign}{pgid}")


def _spawn() -> _Watchdog | None:
    if not hasattr(os, "posix_spawn") or not sys.executable:
        return None
    read, write = os.pipe()
    env = {k: v for k, v in os.environ.items() if k != procs.TOKEN_VAR}
    argv = [sys.executable, "-I", "-S", "-c", _BOOT, str(Path(__file__).resolve().parents[2]),
            str(os.getpid()), procs.owner_prefix()]
    actions = [(os.POSIX_SPAWN_DUP2, read, 0),
               (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
               (os.POSIX_SPAWN_DUP2, 1, 2)]
    try:
        os.set_inheritable(read, True)  # (were it fd 0, dup2 would not clear close-on-exec)
        pid = os.posix_spawn(sys.executable, argv, env, file_actions=actions, setsid=True)
    except (OSError, NotImplementedError, TypeError):
        os.close(write)
        return None
    finally:
        os.close(read)
    os.set_blocking(write, False)
    return _Watchdog(os.getpid(), pid, write)


# ---------------------------------------------------------------- the watchdog process
def main(args: list[str]) -> None:
    """The watchdog: ``<owner pid> <owner token prefix>``, the pipe on stdin."""
    owner, prefix = int(args[0]), args[1]
    _close_inherited()
    groups = _watch(owner)
    while os.getppid() == owner:  # the pipe's end closes just before the owner ends
        time.sleep(0.05)
    for pgid in sorted(groups):
        procs.kill_tree(pgid, None)
    procs.kill_owned(prefix)


def _close_inherited() -> None:
    """Close what was inherited beyond stdin/stdout/stderr (descriptors the build made
    inheritable): nobody waiting for one of them to close waits on this process."""
    try:
        fds = [int(n) for n in os.listdir("/proc/self/fd")]
    except OSError:
        os.closerange(3, 256)
        return
    for fd in fds:
        if fd > 2:
            with contextlib.suppress(OSError):
                os.close(fd)


def _watch(owner: int) -> set[int]:
    """Read the build's messages until it ends; the process groups still registered."""
    groups: set[int] = set()
    pending = b""
    while True:
        try:
            ready, _, _ = select.select([0], [], [], CHECK)
        except OSError:  # no pipe after all: watch the parent only
            while os.getppid() == owner:
                time.sleep(CHECK)
            return groups
        if ready:
            data = os.read(0, 4096)
            if not data:
                return groups
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                _apply(groups, line)
        elif os.getppid() != owner:  # a copy of the write end lives on elsewhere
            return groups


def _apply(groups: set[int], line: bytes) -> None:
    with contextlib.suppress(ValueError):
        pgid = int(line[1:])
        if line.startswith(b"+"):
            groups.add(pgid)
        elif line.startswith(b"-"):
            groups.discard(pgid)
