"""One started kernel and its client: start, readiness, running a cell, kill and close.

Built on jupyter-client's ``KernelManager`` (through :mod:`.launch`) and its blocking
client's channels, with our own waiting loops. jupyter-client's helpers do not fit:

* ``KernelClient.wait_for_ready`` notices a dead kernel only after a 1 s shell wait, knows
  no cancel event, raises a bare ``RuntimeError`` for both a dead kernel and a timeout
  (we retry a kernel that exited at once, not one that timed out) and ends by waiting
  for 0.2 s of IOPub silence on every start;
* ``KernelClient.execute_interactive`` drops IOPub messages of other executions (we route
  late output to the earlier cell that made it), raises ``TimeoutError`` without
  interrupting the kernel or granting a grace period, does not notice a kernel that died
  (it waits for the whole timeout) and knows no cancel event.

What it does use: ``KernelManager`` to launch, interrupt, shut down and clean up, and
``BlockingKernelClient`` for its channels, ``kernel_info`` and ``execute`` requests.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from . import forks, launch, procs, reaper, zygote
from .messages import CellRun, Collector
from .model import Job

POLL = 0.05
"""Seconds between checks for kernel death and cancellation while waiting for messages."""
LOG_LINES = 12

_NOISE = ("running over TCP without encryption", "JUPYTER_PLATFORM_DIRS",
          "Debugger warning", "frozen modules", "PYDEVD_DISABLE_FILE_VALIDATION",
          "-Xfrozen_modules", "Note: Debugging will proceed")

# every live kernel session of this process, for Ctrl-C cleanup from the main thread
_LIVE: dict[int, KernelSession] = {}
_LIVE_LOCK = threading.Lock()


@dataclass(frozen=True)
class Timeouts:
    """A session's time limits, in seconds (the defaults are in :mod:`.kernel`)."""

    start: float
    """For the kernel to answer after launch."""
    send: float
    """For a request to be sent (see ``kernel.SEND_TIMEOUT``)."""
    interrupt_grace: float
    """After a timeout's interrupt, for the cell to stop."""
    iopub_grace: float
    """After the execute reply, for the outputs' end (a lost ``idle``)."""


class Cancelled(Exception):
    """The caller's cancel event was set."""


class KernelExited(RuntimeError):
    """The kernel process ended before it answered."""


class StartError(Exception):
    """The kernel did not start; ``log`` is the end of what it wrote."""

    def __init__(self, cause: BaseException, log: str, forked: bool = False) -> None:
        super().__init__(str(cause) or type(cause).__name__)
        self.cause = cause
        self.log = log
        self.forked = forked
        """The kernel was forked from a fork server (:mod:`.zygote`)."""


def kill_all_kernels() -> None:
    """Kill every kernel started by this process, with all its processes (any thread)."""
    with _LIVE_LOCK:
        sessions = list(_LIVE.values())
    for session in sessions:
        session.kill()
    procs.kill_owned()


def _zmq_context(send_timeout: float) -> Any:
    """A context for one client; its sockets retry connecting every 10 ms (not 100 ms):
    the client connects before the kernel listens, so this shortens the start-up."""
    import zmq

    ctx = zmq.Context()
    ctx.setsockopt(zmq.RECONNECT_IVL, 10)
    ctx.setsockopt(zmq.SNDTIMEO, int(send_timeout * 1000))
    return ctx


def _kernel_env(job: Job, gpu_ids: Sequence[str], token: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    env.update(dict(job.env))
    env["CUDA_VISIBLE_DEVICES"] = ",".join(gpu_ids)
    env[procs.TOKEN_VAR] = token
    return env


class KernelSession:
    """A started kernel, its process group and a client; always :meth:`close` it, in the
    thread that made it (the kernel is killed when that thread ends, see :mod:`.launch`).
    If this process dies without closing it, its watchdog kills it (:mod:`.reaper`).

    Raises :class:`StartError` when the kernel does not start, :class:`Cancelled` when
    ``cancel`` is set meanwhile; either way everything started is cleaned up."""

    def __init__(self, job: Job, gpu_ids: Sequence[str], timeouts: Timeouts, *,
                 cancel: threading.Event | None = None, allow_fork: bool = True) -> None:
        self.job = job
        self.allow_fork = allow_fork
        """False: launch the kernel even while a fork server is active."""
        self.timeouts = timeouts
        self.cancel = cancel
        self.token = procs.new_token()
        self.pgid: int | None = None
        self.process: Any = None
        self.km: Any = None
        self.kc: Any = None
        self.ctx: Any = None
        self.closed = False
        self.log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        with _LIVE_LOCK:
            _LIVE[id(self)] = self
        try:
            self._start(gpu_ids)
        except Cancelled:
            self.close()
            raise
        except Exception as err:
            tail = self.log_tail()
            forked = self.forked
            pid = getattr(self.process, "pid", None)
            if pid and isinstance(err, TimeoutError):  # (what it was doing)
                tail = "\n".join(filter(None, [tail, procs.describe_stuck(
                    pid, "forked kernel" if forked else "kernel", self._ports())]))
            self.close()
            if self.cancel is not None and self.cancel.is_set():
                raise Cancelled from err
            raise StartError(err, tail, forked) from err
        except BaseException:  # KeyboardInterrupt
            self.close()
            raise

    def _ports(self) -> list[int]:
        """The ports of the kernel's connection (none before it has one)."""
        info = getattr(self.km, "get_connection_info", None)
        with contextlib.suppress(Exception):
            return [int(v) for k, v in (info() if info else {}).items()
                    if k.endswith("_port") and v]
        return []

    def _start(self, gpu_ids: Sequence[str]) -> None:
        """Launch the kernel (watched by the reaper), connect a client, wait for it."""
        kwargs: dict[str, Any] = {"env": _kernel_env(self.job, gpu_ids, self.token),
                                  "stdout": self.log, "stderr": self.log}
        if self.job.cwd:
            kwargs["cwd"] = self.job.cwd
        reaper.ensure()
        self.km = launch.manager_class()(kernel_name=self.job.kernel)
        # (the zygotes of this thread's run, known here: jupyter-client may start the
        # kernel from another thread)
        self.km.d2l_forks = forks.current() if self.allow_fork else None
        self.km.d2l_setup = (self.job.setup_code, self.job.extra_key)
        self.km.start_kernel(extra_arguments=launch.extra_arguments(self.km), **kwargs)
        self.process = getattr(self.km.provisioner, "process", None)
        self.pgid = self._find_pgid()
        reaper.watch_group(self.pgid)
        self._check_cancel()
        self.ctx = _zmq_context(self.timeouts.send)
        self.kc = self.km.client(context=self.ctx)
        self.kc.start_channels(shell=True, iopub=True, stdin=False, hb=False, control=False)
        self._wait_for_ready(self.timeouts.start)

    # ------------------------------------------------------------------ state
    def _find_pgid(self) -> int | None:
        pgid = getattr(self.km.provisioner, "pgid", None)
        if not pgid and self.process is not None:
            with contextlib.suppress(OSError):
                pgid = os.getpgid(self.process.pid)
        # never our own group: killing it would kill this process
        if not pgid or pgid == os.getpgrp():
            return None
        return int(pgid)

    @property
    def forked(self) -> bool:
        """Whether the kernel was forked from a fork server (:mod:`.zygote`)."""
        return isinstance(self.process, zygote.ForkedProcess)

    def alive(self) -> bool:
        if self.process is not None:
            return bool(self.process.poll() is None)
        try:
            return bool(self.km.is_alive())
        except Exception:
            return False

    def exit_description(self) -> str:
        code = None if self.process is None else self.process.poll()
        if code is None:
            return ""
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"killed by {signal.Signals(-code).name}"
            return f"killed by signal {-code}"
        return f"exit status {code}"

    def log_tail(self, lines: int = LOG_LINES) -> str:
        """The last lines the kernel wrote on stdout/stderr, without known noise."""
        try:
            self.log.flush()
            self.log.seek(0, os.SEEK_END)
            size = self.log.tell()
            self.log.seek(max(0, size - 65536))
            text = self.log.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""
        kept = [ln for ln in text.splitlines()
                if ln.strip() and not any(n in ln for n in _NOISE)]
        return "\n".join(kept[-lines:])

    def _check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled

    def _poller(self) -> Any:
        """A poller of the shell and IOPub sockets."""
        import zmq

        poller = zmq.Poller()
        poller.register(self.kc.shell_channel.socket, zmq.POLLIN)
        poller.register(self.kc.iopub_channel.socket, zmq.POLLIN)
        return poller

    # ------------------------------------------------------------------ start
    def _wait_for_ready(self, timeout: float) -> None:
        """kernel_info until the shell answers and IOPub delivers (the subscription is
        connected); fail fast when the kernel process exits."""
        shell, iopub = self.kc.shell_channel, self.kc.iopub_channel
        poller = self._poller()
        deadline = time.monotonic() + timeout
        resend = 0.0
        replied_at: float | None = None
        iopub_ok = False
        while True:
            now = time.monotonic()
            self._check_cancel()  # first: a kernel killed by a cancelling caller
            if not self.alive():
                raise KernelExited(f"the kernel exited during start-up "
                                   f"({self.exit_description()})")
            if now > deadline:
                raise TimeoutError(f"the kernel did not answer within {timeout:g} s")
            if replied_at is not None and now > replied_at + 0.2:
                replied_at = None  # IOPub silent: ask again, its status messages will come
                resend = 0.0
            if now >= resend:
                self.kc.kernel_info()
                resend = now + 1.0
            events = dict(poller.poll(int(POLL * 1000)))
            if shell.socket in events:
                while shell.msg_ready():
                    if shell.get_msg(timeout=0)["msg_type"] == "kernel_info_reply":
                        replied_at = replied_at or time.monotonic()
            if iopub.socket in events:
                while iopub.msg_ready():  # start-up messages: dropped
                    iopub.get_msg(timeout=0)
                    iopub_ok = True
            if iopub_ok and replied_at is not None:
                return

    # ------------------------------------------------------------------ cells
    def run_cell(self, code: str, timeout: float, collector: Collector | None) -> CellRun:
        """Execute ``code`` and wait for its end; its outputs go to ``collector`` (None:
        not kept, and not in the kernel's history: the setup code)."""
        sink = collector if collector is not None else Collector()
        run = CellRun()
        msg_id = self.kc.execute(code, silent=False, store_history=collector is not None,
                                 allow_stdin=False, stop_on_error=False)
        sink.cells[msg_id] = run
        try:
            self._wait_for_end(msg_id, run, sink, timeout)
        finally:
            sink.flush()
        return run

    def _wait_for_end(self, msg_id: str, run: CellRun, sink: Collector,
                      timeout: float) -> None:
        """Read replies and IOPub messages until the cell's ``idle``; on a timeout,
        interrupt the kernel and wait a grace period; notice a dead kernel."""
        shell, iopub = self.kc.shell_channel, self.kc.iopub_channel
        poller = self._poller()
        deadline = time.monotonic() + timeout
        interrupted_at: float | None = None
        replied_at: float | None = None
        while True:
            events = dict(poller.poll(int(POLL * 1000)))
            if shell.socket in events and self._read_replies(msg_id, run):
                replied_at = time.monotonic()
            if iopub.socket in events and self._read_iopub(sink, until=run):
                return
            self._check_cancel()
            now = time.monotonic()
            if not events and not self.alive():
                self._read_iopub(sink)  # what the kernel sent before it died
                run.died = True
                return
            if replied_at is not None and now > replied_at + self.timeouts.iopub_grace:
                return  # the reply came, the end of the outputs was lost
            if interrupted_at is None and now > deadline:
                run.timed_out = True
                with contextlib.suppress(Exception):
                    self.km.interrupt_kernel()
                interrupted_at = now
            elif (interrupted_at is not None
                  and now > interrupted_at + self.timeouts.interrupt_grace):
                return

    def _read_replies(self, msg_id: str, run: CellRun) -> bool:
        """Read the shell's waiting replies; True if the cell's execute reply was one."""
        shell = self.kc.shell_channel
        replied = False
        while shell.msg_ready():
            reply = shell.get_msg(timeout=0)
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                replied = True
                run.reply = reply.get("content", {})
        return replied

    def _read_iopub(self, sink: Collector, until: CellRun | None = None) -> bool:
        """Pass IOPub's waiting messages to ``sink``; stop (True) once ``until`` is idle."""
        iopub = self.kc.iopub_channel
        while iopub.msg_ready():
            sink.add(iopub.get_msg(timeout=0))
            if until is not None and until.idle:
                return True
        return False

    # ------------------------------------------------------------------ end
    def kill(self) -> None:
        """SIGKILL the kernel and every process it started (thread-safe, idempotent)."""
        procs.kill_tree(self.pgid, self.token)

    def close(self) -> None:
        """Kill the kernel and its processes, release sockets, files and ports."""
        if self.closed:
            return
        self.closed = True
        try:
            self.kill()
            reaper.forget_group(self.pgid)
            if self.process is not None:
                with contextlib.suppress(Exception):
                    self.process.wait(timeout=5)
            if self.kc is not None:
                with contextlib.suppress(Exception):
                    self.kc.stop_channels()
            if self.ctx is not None:
                with contextlib.suppress(Exception):
                    self.ctx.destroy(linger=0)
            if self.km is not None:
                with contextlib.suppress(Exception):
                    self._release_manager()
        finally:
            with _LIVE_LOCK:
                _LIVE.pop(id(self), None)
            with contextlib.suppress(Exception):
                self.log.close()

    def _release_manager(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            # dead and reaped: only the connection file, ports and sockets are left
            # (shutdown_kernel would take ~10 ms more)
            self.km.cleanup_resources()
        else:
            self.km.shutdown_kernel(now=True)
