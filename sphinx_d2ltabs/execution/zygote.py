"""A kernel fork server ("zygote", :mod:`.zygote_main`) as the build sees it: one
process that forks kernels on request (:class:`Zygote`), and each kernel it forked as
jupyter-client's provisioner uses a process (:class:`ForkedProcess`). Which kernels are
forked from which zygote: :mod:`.forks`.

The zygote is the build's child in its own session; it holds a token of the build
(:mod:`.procs`, swept like the kernels' if the build dies) and ends with its socket.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import select
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from typing import IO, Any

from . import procs
from .zygote_main import BOOT, MAX_MESSAGE

MAIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zygote_main.py")
READY_TIMEOUT = 60.0
"""Seconds for a zygote to import the kernel's modules."""
REPLY_TIMEOUT = 30.0
LOST_REPORT = 2.0
"""Seconds to wait for the end report of a kernel that no longer exists."""


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
        """The top-level modules it imported that a kernel's folder would replace
        (:func:`.zygote_main.shadowable`)."""
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
