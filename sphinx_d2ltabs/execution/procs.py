"""Killing a kernel and every process it started.

A kernel runs in its own session and process group (jupyter-client starts it with
``start_new_session``). Its processes are found by that session/group, by descent from
the kernel process, and by a token in their environment (inherited by children that
start their own session, and kept by orphans): on Linux all three through ``/proc``,
elsewhere the process group only.

A token names the build process that made it, ``<pid>:<start time>:<random hex>``: what
a killed build left behind is found by its owner being gone (:func:`kill_orphans`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

TOKEN_VAR = "D2LTABS_KERNEL_TOKEN"
"""Environment variable holding ``<pid>:<start time>:<random hex>`` of the starting
process (start time: ``0`` where unknown; older builds wrote ``<pid>:<hex>``)."""

ZYGOTE_VAR = "D2LTABS_ZYGOTE"
"""``1`` in the environment of a kernel fork server (:mod:`.zygote`), so in that of each
kernel it forks and of what they fork in turn without ``exec`` (Linux shows a process's
environment as it was at its ``exec``)."""
TOKEN_FILE = "d2l-token:"
"""A forked kernel holds an anonymous file (``memfd``) named this + its token, which the
processes it forks inherit: what tells them apart when their environment is the
server's."""
TOKEN_FILE_LINK = "/memfd:" + TOKEN_FILE
PROC = "/proc"
ROUNDS = 6


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    pgrp: int
    session: int


def _stat_fields(pid: int | str) -> list[bytes] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (the state first) of a
    live (not zombie) process, or None."""
    try:
        with open(f"{PROC}/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2:].split()
    if not fields or fields[0] in (b"Z", b"X", b"x"):
        return None
    return fields


def _stat(pid: str) -> ProcInfo | None:
    """A live (not zombie) process's ids, or None."""
    fields = _stat_fields(pid)
    if fields is None or len(fields) < 4:
        return None
    try:
        return ProcInfo(int(pid), int(fields[1]), int(fields[2]), int(fields[3]))
    except ValueError:
        return None


def start_time(pid: int) -> str | None:
    """A live (not zombie) process's start time (clock ticks after boot), or None."""
    fields = _stat_fields(pid)
    if fields is None or len(fields) < 20:
        return None
    return fields[19].decode("ascii", "replace")


def owner_prefix(pid: int | None = None) -> str:
    """``<pid>:<start time>:``, the start of the tokens made by process ``pid`` (default:
    this one); the start time tells a later process with the same pid apart."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}:{start_time(pid) or 0}:"


def new_token() -> str:
    """A token for one kernel of this process."""
    return owner_prefix() + uuid.uuid4().hex


def _has_token(pid: int, match: Callable[[bytes], bool]) -> bool:
    """Whether process ``pid`` holds a token that satisfies ``match``: in its environment,
    or, for a process forked from a kernel fork server (whose environment is still the
    server's), in the name of the token file it inherited (:data:`TOKEN_FILE`)."""
    try:
        with open(f"{PROC}/{pid}/environ", "rb") as fh:
            entries = fh.read().split(b"\0")
    except OSError:
        return False
    prefix = TOKEN_VAR.encode() + b"="
    tokens = [e[len(prefix):] for e in entries if e.startswith(prefix)]
    if any(match(token) for token in tokens):
        return True
    return ZYGOTE_VAR.encode() + b"=1" in entries and any(map(match, _file_tokens(pid)))


def _file_tokens(pid: int) -> list[bytes]:
    """The tokens named by the token files among ``pid``'s open files."""
    try:
        fds = os.listdir(f"{PROC}/{pid}/fd")
    except OSError:
        return []
    found = []
    for fd in fds:
        with contextlib.suppress(OSError):
            link = os.readlink(f"{PROC}/{pid}/fd/{fd}")
            if link.startswith(TOKEN_FILE_LINK):
                found.append(link[len(TOKEN_FILE_LINK):].split(" ")[0].encode())
    return found


def find(leader: int | None, token_match: Callable[[bytes], bool] | None) -> list[int]:
    """Live processes in ``leader``'s session or group, descending from it, or whose
    environment token satisfies ``token_match``. Empty where there is no ``/proc``."""
    try:
        names = os.listdir(PROC)
    except OSError:
        return []
    me = os.getpid()
    infos: dict[int, ProcInfo] = {}
    for name in names:
        if name.isdigit():
            info = _stat(name)
            if info is not None and info.pid != me:
                infos[info.pid] = info
    found: set[int] = set()
    if leader:
        found.update(p for p, i in infos.items() if leader in (p, i.session, i.pgrp))
        # descendants (a child that started its own session, before it is orphaned)
        children: dict[int, list[int]] = {}
        for info in infos.values():
            children.setdefault(info.ppid, []).append(info.pid)
        stack = [leader]
        while stack:
            for child in children.get(stack.pop(), []):
                if child not in found:
                    found.add(child)
                    stack.append(child)
            # the leader itself is in ``found`` already when alive
    if token_match is not None:
        found.update(p for p in infos if p not in found and _has_token(p, token_match))
    found.discard(me)
    return sorted(found)


def kill_tree(pgid: int | None, token: str | None) -> None:
    """SIGKILL the process group ``pgid`` and every process :func:`find` finds, until
    none is left (a few rounds: a process may fork while we look)."""
    wanted = token.encode() if token else None

    def exact(value: bytes) -> bool:
        return value == wanted

    for _ in range(ROUNDS):
        if pgid:
            with contextlib.suppress(OSError):
                os.killpg(pgid, signal.SIGKILL)
        pids = find(pgid, exact if wanted else None)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def kill_matching(token_match: Callable[[bytes], bool]) -> None:
    """SIGKILL every process whose token satisfies ``token_match``, until none is left."""
    for _ in range(ROUNDS):
        pids = find(None, token_match)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def kill_owned(prefix: str | None = None) -> None:
    """SIGKILL every process holding a token that starts with ``prefix`` (default: this
    process's :func:`owner_prefix`, i.e. all its kernels)."""
    wanted = (prefix or owner_prefix()).encode()
    kill_matching(lambda value: value.startswith(wanted))


def owner_gone(token: bytes) -> bool:
    """Whether the process that made ``token`` has ended (its pid is gone or now belongs
    to a process started at another time)."""
    parts = token.split(b":")
    if len(parts) < 2 or not parts[0].isdigit():
        return False  # not a token of ours
    started = start_time(int(parts[0]))
    if started is None:
        return True
    known = len(parts) >= 3 and parts[1] not in (b"", b"0")
    return known and parts[1] != started.encode()


def kill_orphans() -> None:
    """SIGKILL the processes of kernels whose build has ended (say, killed by SIGKILL
    with its reaper). The token this process inherited, if any, is spared: its holders
    include the kernel that started this process."""
    own = os.environ.get(TOKEN_VAR, "").encode()
    kill_matching(lambda value: value != own and owner_gone(value))


def describe_stuck(pid: int, kind: str, ports: Iterable[int] = ()) -> str:
    """One line on a process that does not answer: its state, where each of its threads
    waits, and on how many of ``ports`` it listens (Linux ``/proc``); what can't be read
    is left out."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0].decode()
        waits = []
        for tid in sorted(os.listdir(f"/proc/{pid}/task")):
            with open(f"/proc/{pid}/task/{tid}/wchan", encoding="ascii") as fh:
                waits.append(fh.read().strip() or "-")
    except (OSError, IndexError, UnicodeDecodeError):
        return f"({kind} {pid}: gone)"
    text = f"({kind} {pid}: state {state}, threads waiting in {', '.join(waits)}"
    wanted = sorted(set(ports))
    if wanted:
        listening = _listening_ports(pid)
        text += f", listening on {sum(p in listening for p in wanted)} of its {len(wanted)} ports"
    return text + ")"


def _listening_ports(pid: int) -> set[int]:
    """The TCP ports that process ``pid`` listens on."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError, ValueError, IndexError), open(table) as fh:
            for line in fh.read().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # (0A: LISTEN)
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports
