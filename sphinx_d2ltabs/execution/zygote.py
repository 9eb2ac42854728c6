"""Cheap kernel starts: kernels forked from a fork server (:mod:`.zygote_main`) instead
of started from nothing (Linux).

A fresh ``python -m ipykernel_launcher`` spends about 0.3 s of CPU importing IPython,
ipykernel, zmq and debugpy before it answers; a kernel forked from a process that has
imported them spends about 0.07 s. On a machine whose cores are all busy running cells
(a build with ``d2l_workers`` = the CPUs), that CPU is the build's start-up cost.

While :func:`forking` is active (the local scheduler's run, ``d2l_fork_kernels``),
:class:`ForkProvisioner` forks every kernel whose kernelspec is the standard IPython one
(``<python> -m ipykernel_launcher ...`` or ``-m ipykernel``) from a zygote of that Python
and environment (all variables but ``CUDA_VISIBLE_DEVICES`` and the kernel's token, which
each kernel gets its own of). Any other kernel, a zygote that does not start (ipykernel
missing, an import that starts a thread), or one too many environments: the kernel is
started as before, through :mod:`.launch`; so is the second try of a forked kernel that did
not start (:func:`.kernel.run_job`). Isolation is unchanged: one process per
kernel, never reused, killed with its process group at the end of its job.

A kernel with set-up code (``d2l_setup_code``) is forked from a zygote that has also run
the code's leading imports (``import torch``, ``from d2l import torch as d2l``: seconds
of CPU each kernel would spend again), one per (Python, full environment, set-up code,
library): it keeps the kernel's ``CUDA_VISIBLE_DEVICES`` (refusing when its imports
initialize CUDA), and the cache key part ``job.extra_key`` (the library's contents) names
it. When that zygote refuses (see :mod:`.zygote_main`), or when the page's folder holds
a module or file of the same name as one it imported (the kernel's ``sys.path[0]``
would have found that one), the kernel is forked from the zygote without them.

The zygote is the build's child in its own session; it holds a token of the build
(:mod:`.procs`, swept like the kernels' if the build dies) and ends with its socket.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from typing import IO, Any

from . import launch, procs
from .zygote_main import BOOT, MAX_MESSAGE

MAIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zygote_main.py")
PER_KERNEL = frozenset({"CUDA_VISIBLE_DEVICES", procs.TOKEN_VAR})
"""Variables that may differ between kernels of one zygote."""
READY_TIMEOUT = 60.0
"""Seconds for a zygote to import the kernel's modules."""
REPLY_TIMEOUT = 30.0
LOST_REPORT = 2.0
"""Seconds to wait for the end report of a kernel that no longer exists."""
MAX_ZYGOTES = 4
"""Zygotes (Python and environment pairs) at once, and as many again with set-up imports;
further kernels start as before."""
Key = tuple[str, frozenset[tuple[str, str]], str, str]
"""A zygote's Python, environment, set-up code and library stamp ('' and '': none)."""


class ZygoteError(RuntimeError):
    """The zygote can't fork this kernel (it did not start, or it ended)."""


class Zygote:
    """One fork server and the kernels it forked; thread-safe."""

    def __init__(self, python: str, env: Mapping[str, str],
                 timeout: float = READY_TIMEOUT, setup: str = "") -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        self.log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self.cond = threading.Condition()
        self.replies: dict[int, dict[str, Any]] = {}
        self.exits: dict[Any, int] = {}
        """Request id → the return code of the kernel it forked."""
        self.ended = False
        self.modules: frozenset[str] = frozenset()
        """The top-level names of the modules it imported."""
        self._ids = itertools.count()
        self._send_lock = threading.Lock()
        try:
            self.proc = subprocess.Popen(
                [python, "-c", BOOT, MAIN, str(theirs.fileno()), *([setup] if setup else [])],
                env=dict(env),
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=self.log,
                stderr=self.log, start_new_session=True)
        except BaseException:
            ours.close()
            self.log.close()
            raise
        finally:
            theirs.close()
        try:
            self.pid = self._handshake(timeout)
        except BaseException:
            self.close()
            raise
        self._reader = threading.Thread(target=self._read, name="d2l-zygote", daemon=True)
        self._reader.start()

    def _handshake(self, timeout: float) -> int:
        ready, _, _ = select.select([self.sock], [], [], timeout)
        data = self.sock.recv(MAX_MESSAGE) if ready else b""
        message = json.loads(data) if data else {}
        if "ready" in message:
            self.modules = frozenset(map(str, message.get("modules") or ()))
            return int(message["ready"])
        why = message.get("error") or ("no answer" if not ready else "it exited")
        raise ZygoteError(f"the kernel fork server did not start: {why}"
                          + (f"; it wrote:\n{tail}" if (tail := self._log_tail()) else ""))

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            self.log.seek(0)
            return self.log.read()[-2000:].decode("utf-8", "replace").strip()
        return ""

    def _read(self) -> None:
        """The reader thread: replies and exits into the shared state until the end of
        the socket; however it ends, the server counts as ended (its kernels as dead)."""
        try:
            while data := self._recv():
                try:
                    message = json.loads(data)
                    exit_code = int(message["code"]) if "exit" in message else None
                except (ValueError, KeyError, TypeError):
                    continue  # (never sent: not a reason to stop reading)
                with self.cond:
                    if exit_code is not None:  # (by request: a pid may be reused)
                        self.exits[message.get("id")] = exit_code
                    elif isinstance(message.get("id"), int):
                        self.replies[message["id"]] = message
                    self.cond.notify_all()
        finally:
            with self.cond:
                self.ended = True
                self.cond.notify_all()

    def _recv(self) -> bytes:
        try:
            return self.sock.recv(MAX_MESSAGE)
        except OSError:
            return b""

    def fork(self, argv: list[str], env: Mapping[str, str], cwd: str | None,
             stdout: int, stderr: int) -> ForkedProcess:
        """A kernel forked with ``argv`` (``[python, "-m", module, ...]``), ``env`` and
        ``cwd``, writing to the descriptors ``stdout`` and ``stderr``."""
        number = next(self._ids)
        request = {"id": number, "argv": argv, "env": dict(env), "cwd": cwd,
                   "token_file": procs.TOKEN_FILE + env.get(procs.TOKEN_VAR, "")}
        with self._send_lock:
            try:
                socket.send_fds(self.sock, [json.dumps(request).encode()], [stdout, stderr])
            except OSError as err:
                raise ZygoteError(f"the kernel fork server is gone: {err}") from err
        with self.cond:
            if not self.cond.wait_for(lambda: number in self.replies or self.ended,
                                      REPLY_TIMEOUT):
                raise ZygoteError("the kernel fork server did not answer")
            reply = self.replies.pop(number, None)
        if reply is None:
            raise ZygoteError("the kernel fork server ended")
        if "pid" not in reply:
            raise ZygoteError(f"the kernel fork server could not fork: {reply.get('error')}")
        return ForkedProcess(self, int(reply["pid"]), number)

    def alive(self) -> bool:
        with self.cond:
            return not self.ended and self.proc.poll() is None

    def close(self) -> None:
        """End the zygote (it kills the kernels it still runs) and wait for it."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        with contextlib.suppress(OSError):
            self.log.close()


class ForkedProcess:
    """A forked kernel, with what jupyter-client and :mod:`.session` use of a
    :class:`subprocess.Popen`. The zygote reaps it and reports its end; a kernel whose
    zygote ended is dead too (SIGKILL, ``PR_SET_PDEATHSIG``)."""

    stdin = stdout = stderr = None

    def __init__(self, zygote: Zygote, pid: int, number: int) -> None:
        self.zygote = zygote
        self.pid = pid
        self.number = number
        """The request that forked it (its end is reported under it)."""
        self.returncode: int | None = None

    def _code(self) -> int | None:
        code = self.zygote.exits.get(self.number)
        if code is None and self.zygote.ended:
            code = -int(signal.SIGKILL)
        return code

    def poll(self) -> int | None:
        with self.zygote.cond:
            self.returncode = self._code()
            if self.returncode is None and not _exists(self.pid):
                # gone without a report yet: the report is on its way (the server reaps
                # and reports at once); should it never come, the kernel is still dead
                self.zygote.cond.wait_for(lambda: self._code() is not None, LOST_REPORT)
                code = self._code()
                self.returncode = -int(signal.SIGKILL) if code is None else code
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        with self.zygote.cond:
            if not self.zygote.cond.wait_for(lambda: self._code() is not None, timeout):
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout or 0)
            code = self._code()
        assert code is not None
        self.returncode = code
        return code

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


def _exists(pid: int) -> bool:
    """Whether process ``pid`` exists (a zombie does: its server has not reaped it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


class Forks:
    """The zygotes of one run, by :data:`Key`; :meth:`fork` starts them on first use.
    Thread-safe. ``setup_imports``: fork kernels with set-up code from zygotes that ran
    its imports (``d2l_fork_setup_imports``)."""

    def __init__(self, setup_imports: bool = True) -> None:
        self.setup_imports = setup_imports
        self.lock = threading.Lock()
        self.zygotes: dict[Key, Zygote] = {}
        self.starting: dict[Key, threading.Event] = {}
        self.broken: set[Key] = set()
        self.closed = False
        self.token = procs.new_token()
        self.notes: list[str] = []
        """Why a zygote could not be used (each once)."""
        self.forked = 0
        """Kernels forked."""

    def fork(self, argv: list[str], env: Mapping[str, str], cwd: str | None,
             stdout: int, stderr: int, setup: tuple[str, str] = ("", "")
             ) -> ForkedProcess | None:
        """The kernel ``argv`` forked, or None when it can't be (start it as before).
        ``setup``: the kernel's set-up code and the stamp of the library it may import."""
        python = forkable(argv)
        if python is None:
            return None
        for key in self._keys(python, env, setup):
            zygote = self._zygote(key, env)
            if zygote is None or shadowed(cwd, zygote.modules):
                continue
            try:
                process = zygote.fork([python, *argv[1:]], env, cwd, stdout, stderr)
            except ZygoteError as err:
                self._drop(key, zygote, str(err))
                continue
            with self.lock:
                self.forked += 1
            return process
        return None

    def _keys(self, python: str, env: Mapping[str, str], setup: tuple[str, str]) -> list[Key]:
        base = (python, frozenset((k, v) for k, v in env.items() if k not in PER_KERNEL), "", "")
        if not (self.setup_imports and has_imports(setup[0])):
            return [base]
        full = frozenset((k, v) for k, v in env.items() if k != procs.TOKEN_VAR)
        return [(python, full, setup[0], setup[1]), base]

    def _zygote(self, key: Key, env: Mapping[str, str]) -> Zygote | None:
        """The running zygote of ``key``, started if need be (one thread starts it, the
        others wait for it); None when it can't be had."""
        while True:
            with self.lock:
                zygote = self.zygotes.get(key)
                if zygote is not None and zygote.alive():
                    return zygote
                if key in self.broken or self.closed:
                    return None
                event = self.starting.get(key)
                if event is None:
                    kind = sum(bool(k[2]) == bool(key[2]) for k in self.zygotes)
                    if zygote is None and kind >= MAX_ZYGOTES:
                        return None
                    if zygote is not None:  # ended (killed): one more, never a third
                        self.broken.add(key)
                        del self.zygotes[key]
                    self.starting[key] = event = threading.Event()
                    break
            event.wait()
        if zygote is not None:
            zygote.close()
        return self._start(key, env, event)

    def _start(self, key: Key, env: Mapping[str, str], event: threading.Event) -> Zygote | None:
        zenv = {k: v for k, v in env.items() if k not in PER_KERNEL}
        if key[2]:  # (its imports see the kernel's GPUs)
            zenv = {k: v for k, v in env.items() if k != procs.TOKEN_VAR}
        else:
            zenv["CUDA_VISIBLE_DEVICES"] = ""
        zenv.update({procs.TOKEN_VAR: self.token, procs.ZYGOTE_VAR: "1"})
        zygote: Zygote | None = None
        try:
            zygote = Zygote(key[0], zenv, setup=key[2])
        except (OSError, ZygoteError) as err:
            with self.lock:
                self.broken.add(key)
                self.notes.append(str(err))
        finally:
            with self.lock:
                if zygote is not None and not self.closed:
                    self.zygotes[key] = zygote
                self.starting.pop(key, None)
                event.set()
        if zygote is not None and self.closed:
            zygote.close()
            return None
        return zygote

    def _drop(self, key: Key, zygote: Zygote, why: str) -> None:
        with self.lock:
            self.broken.add(key)
            self.notes.append(why)
            if self.zygotes.get(key) is zygote:
                self.zygotes.pop(key)
        zygote.close()

    def close(self) -> None:
        """End the zygotes, then kill whatever holds their token still: processes that
        kernels forked and orphaned (each job's end kills its own already)."""
        with self.lock:
            self.closed = True
            zygotes = list(self.zygotes.values())
            self.zygotes.clear()
        for zygote in zygotes:
            zygote.close()
        token = self.token.encode()
        procs.kill_matching(lambda value: value == token)


def has_imports(code: str) -> bool:
    """Whether set-up code may start with imports worth a zygote of their own (the zygote
    reads it as IPython does: :func:`.zygote_main.setup_imports`)."""
    return bool(_IMPORT.search(code))


_IMPORT = re.compile(r"^\s*(import|from)\s", re.MULTILINE)
_MODULE_FILE = re.compile(r"^([A-Za-z_]\w*)(\.py[cw]?|\..*\.so|\.so|\.pyd)$")


def shadowed(cwd: str | None, modules: frozenset[str]) -> str:
    """The first of ``modules`` (top-level names) that a kernel started in the folder
    ``cwd`` would import from there instead (its ``sys.path[0]``), or that would read a
    file there when imported (``matplotlibrc``); '' when none."""
    if not cwd or not modules:
        return ""
    try:
        entries = os.listdir(cwd)
    except OSError:
        return ""
    for entry in entries:
        match = _MODULE_FILE.match(entry)
        name = match.group(1) if match else entry
        if name in modules and (match is not None or os.path.isfile(
                os.path.join(cwd, entry, "__init__.py"))):
            return name
    if "matplotlib" in modules and "matplotlibrc" in entries:
        return "matplotlib"
    return ""


def forkable(argv: list[str]) -> str | None:
    """The Python of an IPython kernel command that a zygote can fork, else None."""
    if (not sys.platform.startswith("linux") or not launch.runs_ipykernel(argv)
            or not hasattr(socket, "send_fds")):
        return None
    return shutil.which(argv[0])


_lock = threading.Lock()
_current: Forks | None = None
_users = 0


def current() -> Forks | None:
    """The active zygotes, or None (kernels start as before)."""
    return _current


@contextlib.contextmanager
def forking(enabled: bool = True, setup_imports: bool = True) -> Iterator[Forks | None]:
    """Fork kernels from zygotes within this block (nested and concurrent blocks share
    them, with the first one's ``setup_imports``; the last to leave closes them)."""
    global _current, _users
    if not enabled or not sys.platform.startswith("linux"):
        yield None
        return
    with _lock:
        if _current is None:
            _current = Forks(setup_imports)
        _users += 1
        forks = _current
    try:
        yield forks
    finally:
        with _lock:
            _users -= 1
            done = _users == 0
            if done:
                _current = None
        if done:
            forks.close()


def launch_kernel(argv: list[str], kwargs: Mapping[str, Any],
                  setup: tuple[str, str] = ("", "")) -> ForkedProcess | None:
    """The kernel forked as jupyter-client's ``launch_kernel(argv, **kwargs)`` would
    start it, or None (no active zygotes, or not forkable). ``setup``: see
    :meth:`Forks.fork`."""
    forks = current()
    if forks is None:
        return None
    env = dict(kwargs.get("env") or os.environ)
    env["JPY_PARENT_PID"] = str(os.getpid())  # (as jupyter-client's launcher sets it)
    cwd = kwargs.get("cwd")
    if cwd is not None and not os.path.isdir(cwd):
        raise FileNotFoundError(2, "No such file or directory", str(cwd))
    out, err = _fd(kwargs.get("stdout"), 1), _fd(kwargs.get("stderr"), 2)
    if out is None or err is None:
        return None
    return forks.fork(list(argv), env, None if cwd is None else str(cwd), out, err, setup)


def _fd(stream: Any, default: int) -> int | None:
    """The descriptor of a ``Popen`` stream argument; None for a pipe (not forkable)."""
    if stream is None:
        return default
    if isinstance(stream, int):
        return stream if stream >= 0 else None
    try:
        return int(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return None
