"""Run one job in one fresh Jupyter kernel (jupyter-client, no nbclient)."""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

from . import launch, procs, reaper
from .model import Job, JobResult

POLL = 0.05
"""Seconds between checks for kernel death and cancellation while waiting for messages."""
START_TIMEOUT = 60.0
INTERRUPT_GRACE = 5.0
"""After a timeout's interrupt, how long to wait for the cell to stop."""
IOPUB_GRACE = 3.0
"""After the execute reply, how long to wait for the outputs' end (a lost ``idle``)."""
SEND_TIMEOUT = 10.0
"""A request that cannot be sent within this time raises instead of blocking forever (a
client socket left without a connection: seen once in 1,500 kernel starts on a busy
machine, when the shell socket never connected and ``kernel_info`` blocked the build)."""
LOG_LINES = 12

_NOISE = ("running over TCP without encryption", "JUPYTER_PLATFORM_DIRS",
          "Debugger warning", "frozen modules", "PYDEVD_DISABLE_FILE_VALIDATION",
          "-Xfrozen_modules", "Note: Debugging will proceed")

# every live kernel session of this process, for Ctrl-C cleanup from the main thread
_LIVE: dict[int, KernelSession] = {}
_LIVE_LOCK = threading.Lock()


class Cancelled(Exception):
    """The caller's cancel event was set."""


class KernelExited(RuntimeError):
    """The kernel process ended before it answered."""


class StartError(Exception):
    """The kernel did not start; ``log`` is the end of what it wrote."""

    def __init__(self, cause: BaseException, log: str) -> None:
        super().__init__(str(cause) or type(cause).__name__)
        self.cause = cause
        self.log = log


def kill_all_kernels() -> None:
    """Kill every kernel started by this process, with all its processes (any thread)."""
    with _LIVE_LOCK:
        sessions = list(_LIVE.values())
    for session in sessions:
        session.kill()
    procs.kill_owned()


def _zmq_context() -> Any:
    """A context for one client; its sockets retry connecting every 10 ms (not 100 ms):
    the client connects before the kernel listens, so this shortens the start-up."""
    import zmq

    ctx = zmq.Context()
    ctx.setsockopt(zmq.RECONNECT_IVL, 10)
    ctx.setsockopt(zmq.SNDTIMEO, int(SEND_TIMEOUT * 1000))
    return ctx


class KernelSession:
    """A started kernel, its process group and a client; always :meth:`close` it, in the
    thread that made it (the kernel is killed when that thread ends, see :mod:`.launch`).
    If this process dies without closing it, its watchdog kills it (:mod:`.reaper`)."""

    def __init__(self, job: Job, gpu_ids: Sequence[str], *,
                 start_timeout: float = START_TIMEOUT,
                 cancel: threading.Event | None = None) -> None:
        self.job = job
        self.cancel = cancel
        self.token = procs.new_token()
        self.pgid: int | None = None
        self.process: Any = None
        self.kc: Any = None
        self.ctx: Any = None
        self.closed = False
        self.log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        env = dict(os.environ)
        env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        env.update(dict(job.env))
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpu_ids)
        env[procs.TOKEN_VAR] = self.token
        kwargs: dict[str, Any] = {"env": env, "stdout": self.log, "stderr": self.log}
        if job.cwd:
            kwargs["cwd"] = job.cwd
        with _LIVE_LOCK:
            _LIVE[id(self)] = self
        try:
            reaper.ensure()
            self.km = launch.manager_class()(kernel_name=job.kernel)
            self.km.start_kernel(**kwargs)
            self.process = getattr(self.km.provisioner, "process", None)
            self.pgid = self._find_pgid()
            reaper.watch_group(self.pgid)
            self._check_cancel()
            self.ctx = _zmq_context()
            self.kc = self.km.client(context=self.ctx)
            self.kc.start_channels(shell=True, iopub=True, stdin=False, hb=False,
                                   control=False)
            self._wait_for_ready(start_timeout)
        except Cancelled:
            self.close()
            raise
        except Exception as err:
            tail = self.log_tail()
            self.close()
            if self.cancel is not None and self.cancel.is_set():
                raise Cancelled from err
            raise StartError(err, tail) from err
        except BaseException:  # KeyboardInterrupt
            self.close()
            raise

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

    # ------------------------------------------------------------------ start
    def _wait_for_ready(self, timeout: float) -> None:
        """kernel_info until the shell answers and IOPub delivers (the subscription is
        connected); fail fast when the kernel process exits."""
        import zmq

        shell, iopub = self.kc.shell_channel, self.kc.iopub_channel
        poller = zmq.Poller()
        poller.register(shell.socket, zmq.POLLIN)
        poller.register(iopub.socket, zmq.POLLIN)
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
        """Execute ``code``; its outputs go to ``collector`` (None: dropped)."""
        try:
            return self._run_cell(code, timeout, collector)
        finally:
            if collector is not None:
                collector.flush()

    def _run_cell(self, code: str, timeout: float, collector: Collector | None) -> CellRun:
        import zmq

        run = CellRun()
        shell, iopub = self.kc.shell_channel, self.kc.iopub_channel
        msg_id = self.kc.execute(code, silent=False, store_history=collector is not None,
                                 allow_stdin=False, stop_on_error=False)
        if collector is not None:
            collector.cells[msg_id] = run
        poller = zmq.Poller()
        poller.register(shell.socket, zmq.POLLIN)
        poller.register(iopub.socket, zmq.POLLIN)
        deadline = time.monotonic() + timeout
        interrupted_at: float | None = None
        replied_at: float | None = None
        while True:
            events = dict(poller.poll(int(POLL * 1000)))
            if shell.socket in events:
                while shell.msg_ready():
                    reply = shell.get_msg(timeout=0)
                    if reply.get("parent_header", {}).get("msg_id") == msg_id:
                        replied_at = time.monotonic()
                        run.reply = reply.get("content", {})
            if iopub.socket in events:
                while iopub.msg_ready():
                    msg = iopub.get_msg(timeout=0)
                    if collector is not None:
                        collector.add(msg)
                    elif msg.get("parent_header", {}).get("msg_id") == msg_id:
                        _track(run, msg)
                    if run.idle:
                        return run
            self._check_cancel()
            now = time.monotonic()
            if not events and not self.alive():
                # what the kernel sent before it died
                while iopub.msg_ready():
                    msg = iopub.get_msg(timeout=0)
                    if collector is not None:
                        collector.add(msg)
                run.died = True
                return run
            if replied_at is not None and now > replied_at + IOPUB_GRACE:
                return run  # the reply came, the end of the outputs was lost
            if interrupted_at is None and now > deadline:
                run.timed_out = True
                with contextlib.suppress(Exception):
                    self.km.interrupt_kernel()
                interrupted_at = now
            elif interrupted_at is not None and now > interrupted_at + INTERRUPT_GRACE:
                return run

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
            km = getattr(self, "km", None)
            if km is not None:
                with contextlib.suppress(Exception):
                    if self.process is not None and self.process.poll() is not None:
                        # dead and reaped: only the connection file, ports and sockets
                        # are left (shutdown_kernel would take ~10 ms more)
                        km.cleanup_resources()
                    else:
                        km.shutdown_kernel(now=True)
        finally:
            with _LIVE_LOCK:
                _LIVE.pop(id(self), None)
            with contextlib.suppress(Exception):
                self.log.close()


class CellRun:
    """One cell's execution: outputs, count, error, how it ended."""

    def __init__(self) -> None:
        self.outputs: list[dict[str, Any]] = []
        self.execution_count: int | None = None
        self.error: dict[str, Any] | None = None
        self.reply: dict[str, Any] | None = None
        self.idle = False
        self.timed_out = False
        self.died = False
        self.clear_pending = False

    def failure(self) -> dict[str, Any] | None:
        """The cell's error (from IOPub, else from the execute reply)."""
        if self.error is not None:
            return self.error
        reply = self.reply or {}
        if reply.get("status") == "error":
            return {"ename": reply.get("ename", ""), "evalue": reply.get("evalue", ""),
                    "traceback": list(reply.get("traceback", []))}
        return None


def _track(run: CellRun, msg: dict[str, Any]) -> None:
    """Follow a message of an unrecorded execution (setup code): its error and end."""
    msg_type = msg["header"]["msg_type"]
    content = msg["content"]
    if msg_type == "status" and content.get("execution_state") == "idle":
        run.idle = True
    elif msg_type == "error":
        run.error = _error(content)


def _error(content: dict[str, Any]) -> dict[str, Any]:
    return {"ename": str(content.get("ename", "")), "evalue": str(content.get("evalue", "")),
            "traceback": [str(t) for t in content.get("traceback", [])]}


class Collector:
    """Turns IOPub messages into nbformat v4 outputs, per cell of a job.

    Messages go to the cell whose execution they answer (output from a thread started
    in an earlier cell goes to that cell, as in Jupyter); ``update_display_data``
    updates the displays with its id in every cell. Consecutive stream messages of one
    name make one output: their texts are kept in a list and joined by :meth:`flush`
    (joining each time would take quadratic time), so call it before reading outputs.
    """

    def __init__(self) -> None:
        self.cells: dict[str, CellRun] = {}
        self.displays: dict[str, list[dict[str, Any]]] = {}
        self.streams: dict[int, tuple[dict[str, Any], list[str]]] = {}
        """Stream outputs whose text is being joined: id → (output, texts)."""

    def flush(self) -> None:
        """Join the texts of the stream outputs into their ``text``."""
        for output, texts in self.streams.values():
            output["text"] = "".join(texts)
        self.streams.clear()

    def _join_stream(self, run: CellRun, output: dict[str, Any]) -> bool:
        """Add a stream output to the cell's last output if it is the same stream."""
        if not run.outputs:
            return False
        last = run.outputs[-1]
        if last["output_type"] != "stream" or last["name"] != output["name"]:
            return False
        joined = self.streams.get(id(last))
        if joined is None or joined[0] is not last:
            joined = self.streams[id(last)] = (last, [last["text"]])
        joined[1].append(output["text"])
        return True

    def add(self, msg: dict[str, Any]) -> None:
        run = self.cells.get(msg.get("parent_header", {}).get("msg_id", ""))
        msg_type = msg["header"]["msg_type"]
        content = msg["content"]
        if msg_type == "update_display_data":
            display_id = (content.get("transient") or {}).get("display_id")
            for output in self.displays.get(display_id or "", []):
                output["data"] = content.get("data", {})
                output["metadata"] = content.get("metadata", {})
            return
        if run is None:
            return
        if msg_type == "status":
            if content.get("execution_state") == "idle":
                run.idle = True
            return
        if msg_type == "execute_input":
            run.execution_count = content.get("execution_count")
            return
        if msg_type == "clear_output":
            if content.get("wait"):
                run.clear_pending = True
            else:
                run.outputs.clear()
                run.clear_pending = False
            return
        made = _output(msg_type, content)
        if made is None:
            return
        output = made
        if run.clear_pending:
            run.outputs.clear()
            run.clear_pending = False
        if msg_type == "stream" and self._join_stream(run, output):
            return
        if msg_type == "error" and run.error is None:
            run.error = _error(content)
        if msg_type == "execute_result":
            run.execution_count = output["execution_count"]
        display_id = (content.get("transient") or {}).get("display_id")
        if display_id and msg_type in ("display_data", "execute_result"):
            self.displays.setdefault(display_id, []).append(output)
        run.outputs.append(output)


def _output(msg_type: str, content: dict[str, Any]) -> dict[str, Any] | None:
    """The nbformat v4 output of an IOPub message (None: not an output)."""
    if msg_type == "stream":
        return {"output_type": "stream", "name": str(content.get("name", "stdout")),
                "text": str(content.get("text", ""))}
    if msg_type == "display_data":
        return {"output_type": "display_data", "data": dict(content.get("data", {})),
                "metadata": dict(content.get("metadata", {}))}
    if msg_type == "execute_result":
        return {"output_type": "execute_result",
                "execution_count": content.get("execution_count"),
                "data": dict(content.get("data", {})),
                "metadata": dict(content.get("metadata", {}))}
    if msg_type == "error":
        return {"output_type": "error", **_error(content)}
    return None


def _failure(job: Job, cell: int, ename: str, evalue: str, traceback: list[str],
             message: str) -> dict[str, Any]:
    """An error record; ``message`` is prefixed with the cell's line (0: no cell)."""
    return {"cell": cell, "ename": ename, "evalue": evalue, "traceback": traceback,
            "message": f"cell at line {cell}: {message}" if cell else message,
            "source": job.source_path}


def run_job(job: Job, gpu_ids: Sequence[str] = (), *,
            on_kernel_started: Callable[[], None] | None = None,
            cancel: threading.Event | None = None,
            start_timeout: float = START_TIMEOUT) -> JobResult:
    """Run a job's setup code and cells in a fresh kernel, which is then killed with
    every process it started.

    Never raises, except ``KeyboardInterrupt`` (after cleaning up); failures are
    results. ``cancel``: when set (from another thread), the job stops with status
    ``interrupted``. ``start_timeout``: seconds for the kernel to answer after launch.
    """
    start = time.monotonic()
    result = JobResult(job.docname, job.framework, "ok",
                       cuda_visible_devices=",".join(gpu_ids),
                       cell_ids=[cid for cid, _ in job.cells])
    session: KernelSession | None = None
    try:
        try:
            try:
                session = KernelSession(job, gpu_ids, start_timeout=start_timeout,
                                        cancel=cancel)
            except StartError as err:
                if not _retryable(err.cause) or (cancel is not None and cancel.is_set()):
                    raise
                # once more: a port taken by another process between its choice and
                # the kernel's bind makes the kernel exit at once (or leaves the client
                # unable to send)
                session = KernelSession(job, gpu_ids, start_timeout=start_timeout,
                                        cancel=cancel)
        except StartError as err:
            result.status = "start_failed"
            cause = err.cause
            reason = str(err)
            if type(cause).__name__ == "NoSuchKernel":
                reason = f"no kernelspec named {job.kernel!r} is installed"
            elif isinstance(cause, OSError) and job.cwd and not os.path.isdir(job.cwd):
                reason = f"its working directory {job.cwd} does not exist"
            result.error = _failure(
                job, 0, type(cause).__name__, str(cause), [err.log] if err.log else [],
                f"the kernel {job.kernel!r} did not start: {reason}"
                + (f"; it wrote:\n{err.log}" if err.log else ""))
            return result
        result.kernel_start_seconds = time.monotonic() - start
        if on_kernel_started is not None:
            on_kernel_started()
        if job.setup_code.strip():
            run = session.run_cell(job.setup_code, job.timeout, None)
            failure = _abnormal_end(job, session, run, 0, result)
            problem = run.failure()
            if failure is None and problem is not None:
                result.status = "error"
                failure = _failure(job, 0, problem["ename"], problem["evalue"],
                                   problem["traceback"], "the setup code failed: "
                                   f"{problem['ename']}: {problem['evalue']}")
            if failure is not None:
                result.error = failure
                return result
        collector = Collector()
        for cell, code in job.cells:
            if not code.strip():
                continue
            run = session.run_cell(code, job.timeout, collector)
            result.outputs[cell] = run.outputs
            result.execution_counts[cell] = run.execution_count
            failure = _abnormal_end(job, session, run, cell, result)
            if failure is not None:
                result.error = result.error or failure
                return result
            problem = run.failure()
            if problem is not None and cell not in job.allow_error_cells:
                if result.error is None:
                    result.status = "error"
                    result.error = _failure(job, cell, problem["ename"], problem["evalue"],
                                            problem["traceback"],
                                            f"{problem['ename']}: {problem['evalue']}")
                if not job.allow_errors:
                    return result
        return result
    except Cancelled:
        result.status = "interrupted"
        result.error = _failure(job, 0, "Interrupted", "", [], "interrupted")
        return result
    except KeyboardInterrupt:
        result.status = "interrupted"
        raise
    except Exception as err:  # a bug, or jupyter-client failing unexpectedly
        result.status = "error"
        result.error = _failure(job, 0, type(err).__name__, str(err), [],
                                f"execution failed: {type(err).__name__}: {err}")
        return result
    finally:
        if session is not None:
            session.close()
        result.seconds = time.monotonic() - start


def _retryable(cause: BaseException) -> bool:
    """A start failure worth one more try with new ports."""
    import zmq

    return isinstance(cause, (KernelExited, zmq.Again))


def _abnormal_end(job: Job, session: KernelSession, run: CellRun, cell: int,
                  result: JobResult) -> dict[str, Any] | None:
    """For a cell (0: the setup code) whose kernel died or that timed out: set the
    status and return the failure; else None."""
    if run.timed_out:  # (even if the kernel died of the interrupt)
        result.status = "timeout"
        what = "timed out" if cell else "the setup code timed out"
        return _failure(job, cell, "Timeout", f"{job.timeout:g} s", [],
                        f"{what} after {job.timeout:g} s (the per-cell timeout)")
    if run.died:
        result.status = "dead"
        how = session.exit_description()
        tail = session.log_tail()
        return _failure(job, cell, "DeadKernel", how, [tail] if tail else [],
                        f"the kernel died while running "
                        f"{'this cell' if cell else 'the setup code'}"
                        + (f" ({how})" if how else ""))
    return None
