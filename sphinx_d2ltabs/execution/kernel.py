"""Run one job in one fresh Jupyter kernel (jupyter-client)."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import Job, JobResult

POLL = 0.05
START_TIMEOUT = 60.0
INTERRUPT_GRACE = 5.0

# every kernel process group alive in this process, for Ctrl-C cleanup
_LIVE: dict[int, int] = {}
_LIVE_LOCK = threading.Lock()


def kill_all_kernels() -> None:
    """SIGKILL the process group of every kernel started here and still running."""
    with _LIVE_LOCK:
        groups = list(_LIVE.values())
        _LIVE.clear()
    for pgid in groups:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)


class KernelSession:
    """A started kernel and its client; always :meth:`close` it."""

    def __init__(self, job: Job, gpu_ids: Sequence[str]) -> None:
        from jupyter_client.manager import KernelManager

        self.job = job
        env = dict(os.environ)
        env.update(dict(job.env))
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpu_ids)
        env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        self.log = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115 (closed in _close)
        self.km = KernelManager(kernel_name=job.kernel)
        self.pgid: int | None = None
        kwargs: dict[str, Any] = {"env": env, "stdout": self.log, "stderr": self.log}
        if job.cwd:
            kwargs["cwd"] = job.cwd
        self.kc: Any = None
        self.km.start_kernel(**kwargs)
        try:
            self.pgid = self._pgid()
            if self.pgid is not None:
                with _LIVE_LOCK:
                    _LIVE[id(self)] = self.pgid
            self.kc = self.km.blocking_client()
            self.kc.start_channels()
            self.kc.wait_for_ready(timeout=START_TIMEOUT)
        except BaseException:
            _close(self)
            raise

    def _pgid(self) -> int | None:
        provisioner = getattr(self.km, "provisioner", None)
        pgid = getattr(provisioner, "pgid", None)
        if pgid:
            return int(pgid)
        process = getattr(provisioner, "process", None)
        if process is not None:
            with contextlib.suppress(OSError):
                return os.getpgid(process.pid)
        return None

    def log_tail(self, lines: int = 8) -> str:
        with contextlib.suppress(OSError, ValueError):
            self.log.flush()
            self.log.seek(0)
            text = self.log.read().decode("utf-8", "replace")
            kept = [ln for ln in text.splitlines()
                    if ln.strip() and "running over TCP without encryption" not in ln]
            return "\n".join(kept[-lines:])
        return ""

    def alive(self) -> bool:
        try:
            return bool(self.km.is_alive())
        except Exception:
            return False

    def run_cell(self, code: str, timeout: float, record: bool = True) -> CellRun:
        run = CellRun()
        msg_id = self.kc.execute(code, store_history=record, allow_stdin=False,
                                 stop_on_error=False)
        deadline = time.monotonic() + timeout
        interrupted_at: float | None = None
        while True:
            now = time.monotonic()
            if interrupted_at is None and now > deadline:
                run.timed_out = True
                with contextlib.suppress(Exception):
                    self.km.interrupt_kernel()
                interrupted_at = now
            if interrupted_at is not None and now > interrupted_at + INTERRUPT_GRACE:
                return run
            try:
                msg = self.kc.get_iopub_msg(timeout=POLL)
            except queue.Empty:
                if not self.alive():
                    run.died = True
                    return run
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            msg_type = msg["header"]["msg_type"]
            content = msg["content"]
            if msg_type == "status":
                if content.get("execution_state") == "idle":
                    return run
            elif msg_type == "execute_input":
                run.execution_count = content.get("execution_count")
            elif record or msg_type == "error":
                run.add(msg)


class CellRun:
    """The outputs of one cell, collected from iopub messages."""

    def __init__(self) -> None:
        self.outputs: list[dict[str, Any]] = []
        self.execution_count: int | None = None
        self.error: dict[str, Any] | None = None
        self.timed_out = False
        self.died = False
        self._clear_pending = False
        self._displays: dict[str, list[int]] = {}

    def add(self, msg: dict[str, Any]) -> None:
        from nbformat.v4 import output_from_msg

        msg_type = msg["header"]["msg_type"]
        content = msg["content"]
        if msg_type == "clear_output":
            if content.get("wait"):
                self._clear_pending = True
            else:
                self.outputs.clear()
                self._displays.clear()
            return
        if msg_type == "update_display_data":
            display_id = content.get("transient", {}).get("display_id")
            for index in self._displays.get(display_id or "", []):
                if index < len(self.outputs):
                    self.outputs[index]["data"] = content.get("data", {})
                    self.outputs[index]["metadata"] = content.get("metadata", {})
            return
        if msg_type not in ("stream", "display_data", "execute_result", "error"):
            return
        if self._clear_pending:
            self.outputs.clear()
            self._displays.clear()
            self._clear_pending = False
        try:
            output = output_from_msg(msg)
        except (KeyError, ValueError):
            return
        out: dict[str, Any] = dict(output)
        if msg_type == "stream":
            last = self.outputs[-1] if self.outputs else None
            if last is not None and last.get("output_type") == "stream" and (
                    last.get("name") == out.get("name")):
                last["text"] += out.get("text", "")
                return
        if msg_type == "error":
            self.error = {"ename": out.get("ename", ""), "evalue": out.get("evalue", ""),
                          "traceback": list(out.get("traceback", []))}
        display_id = content.get("transient", {}).get("display_id")
        if display_id:
            self._displays.setdefault(display_id, []).append(len(self.outputs))
        if msg_type == "execute_result":
            self.execution_count = content.get("execution_count", self.execution_count)
        self.outputs.append(_plain(out))


def _plain(node: Any) -> Any:
    """nbformat NotebookNode → plain dicts and lists (JSON-ready)."""
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _close(session: KernelSession | None, km: Any = None) -> None:
    if session is not None:
        if session.kc is not None:
            with contextlib.suppress(Exception):
                session.kc.stop_channels()
        km = session.km
    if km is not None:
        with contextlib.suppress(Exception):
            km.shutdown_kernel(now=True)
    if session is not None:
        if session.pgid is not None:
            # the kernel's whole process group: children a cell started go too
            with contextlib.suppress(OSError):
                os.killpg(session.pgid, signal.SIGKILL)
        with _LIVE_LOCK:
            _LIVE.pop(id(session), None)
        with contextlib.suppress(Exception):
            session.log.close()


def _message(job: Job, cell: int, text: str) -> str:
    return f"cell at line {cell}: {text}" if cell else text


def run_job(job: Job, gpu_ids: Sequence[str] = (), *,
            on_kernel_started: Callable[[], None] | None = None) -> JobResult:
    """Run a job's cells in a fresh kernel; never raises (except KeyboardInterrupt)."""
    start = time.monotonic()
    result = JobResult(job.docname, job.framework, "ok",
                       cuda_visible_devices=",".join(gpu_ids))
    session: KernelSession | None = None
    try:
        try:
            session = KernelSession(job, gpu_ids)
        except KeyboardInterrupt:
            raise
        except Exception as err:
            result.status = "start_failed"
            reason = f"{type(err).__name__}: {err}".strip()
            result.error = {"cell": 0, "ename": type(err).__name__, "evalue": str(err),
                            "traceback": [],
                            "message": f"kernel '{job.kernel}' did not start: {reason}"}
            return result
        result.kernel_start_seconds = time.monotonic() - start
        if on_kernel_started is not None:
            on_kernel_started()
        if job.setup_code.strip():
            run = session.run_cell(job.setup_code, job.timeout, record=False)
            if run.error or run.timed_out or run.died:
                result.status = "dead" if run.died else "timeout" if run.timed_out else "error"
                failure = run.error or {}
                result.error = {"cell": 0, **failure,
                                "message": "the setup code (d2l_setup_code) failed: "
                                f"{failure.get('ename', result.status)}: "
                                f"{failure.get('evalue', '')}".rstrip(": ")}
                return result
        for cell, code in job.cells:
            if not code.strip():
                continue
            run = session.run_cell(code, job.timeout)
            result.outputs[cell] = run.outputs
            result.execution_counts[cell] = run.execution_count
            if run.died:
                result.status = "dead"
                tail = session.log_tail()
                result.error = {"cell": cell, "ename": "DeadKernel", "evalue": "",
                                "traceback": [tail] if tail else [],
                                "message": _message(job, cell, "the kernel died while running "
                                                    "this cell")}
                return result
            if run.timed_out:
                result.status = "timeout"
                result.error = {"cell": cell, "ename": "Timeout", "evalue": "",
                                "traceback": [],
                                "message": _message(job, cell, f"timed out after "
                                                    f"{job.timeout:g} s (d2l_timeout)")}
                return result
            if run.error is not None:
                allowed = job.allow_errors or cell in job.allow_error_cells
                if result.error is None and cell not in job.allow_error_cells:
                    result.error = {"cell": cell, **run.error,
                                    "message": _message(job, cell, f"{run.error['ename']}: "
                                                        f"{run.error['evalue']}")}
                    result.status = "error"
                if not allowed:
                    return result
        return result
    except KeyboardInterrupt:
        result.status = "interrupted"
        raise
    except Exception as err:  # a bug or an unexpected jupyter-client failure
        result.status = "error"
        result.error = {"cell": 0, "ename": type(err).__name__, "evalue": str(err),
                        "traceback": [], "message": f"execution failed: {err}"}
        return result
    finally:
        _close(session)
        result.seconds = time.monotonic() - start
