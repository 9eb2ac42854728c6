"""Run one job in one fresh Jupyter kernel (jupyter-client, no nbclient).

:func:`run_job` is the orchestration: start a :class:`~.session.KernelSession` (once
more if the start failed in a way worth retrying), run the setup code, then the cells,
turning every way a job can end into a :class:`~.model.JobResult`. The kernel session
lives in :mod:`.session`, the conversion of kernel messages into outputs in
:mod:`.messages`; their names are re-exported here.

The timing constants below are read at each call (tests and callers may change them).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from .messages import CellRun, Collector
from .model import Job, JobResult
from .session import (
    Cancelled,
    KernelExited,
    KernelSession,
    StartError,
    Timeouts,
    kill_all_kernels,
)

START_TIMEOUT = 60.0
"""Seconds for the kernel to answer after launch."""
INTERRUPT_GRACE = 5.0
"""After a timeout's interrupt, how long to wait for the cell to stop."""
IOPUB_GRACE = 3.0
"""After the execute reply, how long to wait for the outputs' end (a lost ``idle``)."""
SEND_TIMEOUT = 10.0
"""A request that cannot be sent within this time raises instead of blocking forever (a
client socket left without a connection: seen once in 1,500 kernel starts on a busy
machine, when the shell socket never connected and ``kernel_info`` blocked the build)."""

__all__ = [
    "INTERRUPT_GRACE",
    "IOPUB_GRACE",
    "SEND_TIMEOUT",
    "START_TIMEOUT",
    "Cancelled",
    "CellRun",
    "Collector",
    "KernelExited",
    "KernelSession",
    "StartError",
    "kill_all_kernels",
    "run_job",
]


def run_job(job: Job, gpu_ids: Sequence[str] = (), *,
            on_kernel_started: Callable[[], None] | None = None,
            cancel: threading.Event | None = None,
            start_timeout: float = START_TIMEOUT,
            ready: Callable[[], None] | None = None) -> JobResult:
    """Run a job's setup code and cells in a fresh kernel, which is then killed with
    every process it started.

    Never raises, except ``KeyboardInterrupt`` (after cleaning up); failures are
    results. ``cancel``: when set (from another thread), the job stops with status
    ``interrupted``. ``start_timeout``: seconds for the kernel to answer after launch.
    ``ready``: called once the kernel answers and the setup code succeeded, before the
    first cell; it blocks until the job may run its cells (a run slot of the warm pool,
    :mod:`.pool`) or raises :class:`Cancelled`. The time it blocks is not part of the
    result's ``seconds``.
    """
    start = time.monotonic()
    result = JobResult(job.docname, job.framework, "ok",
                       cuda_visible_devices=",".join(gpu_ids),
                       cell_ids=[cid for cid, _ in job.cells])
    session: KernelSession | None = None
    waited = [0.0]
    try:
        session = _start(job, gpu_ids, _timeouts(start_timeout), cancel)
        result.kernel_start_seconds = time.monotonic() - start
        if on_kernel_started is not None:
            on_kernel_started()
        setup_start = time.monotonic()
        set_up = _run_setup(job, session, result)
        result.setup_seconds = time.monotonic() - setup_start
        if set_up:
            _wait_turn(ready, waited)
            _run_cells(job, session, result)
    except StartError as err:
        result.status = "start_failed"
        result.error = _start_failure(job, err)
    except Cancelled:
        result.status = "interrupted"
        result.error = _failure(job, 0, "Interrupted", "", [], "interrupted")
    except KeyboardInterrupt:
        result.status = "interrupted"
        raise
    except Exception as err:  # a bug, or jupyter-client failing unexpectedly
        result.status = "error"
        result.error = _failure(job, 0, type(err).__name__, str(err), [],
                                f"execution failed: {type(err).__name__}: {err}")
    finally:
        if session is not None:
            session.close()
        result.seconds = time.monotonic() - start - waited[0]
    return result


def _wait_turn(ready: Callable[[], None] | None, waited: list[float]) -> None:
    """Call ``ready``; the seconds it blocked go to ``waited[0]`` (raised or not)."""
    if ready is None:
        return
    before = time.monotonic()
    try:
        ready()
    finally:
        waited[0] = time.monotonic() - before


def _timeouts(start_timeout: float) -> Timeouts:
    return Timeouts(start=start_timeout, send=SEND_TIMEOUT, interrupt_grace=INTERRUPT_GRACE,
                    iopub_grace=IOPUB_GRACE)


def _start(job: Job, gpu_ids: Sequence[str], timeouts: Timeouts,
           cancel: threading.Event | None) -> KernelSession:
    """A started kernel session, tried twice: when the first start fails in a way that a
    port taken by another process between its choice and the kernel's bind explains (the
    kernel exits at once, or the client cannot send), when the kernel did not answer
    within the start timeout (seen once in hundreds of loaded test runs, cause unknown:
    its failure says what the kernel was doing), and whenever a kernel forked from a fork
    server fails to start (the second is launched from nothing)."""
    try:
        return KernelSession(job, gpu_ids, timeouts, cancel=cancel)
    except StartError as err:
        if (not err.forked and not _retryable(err.cause)) or (
                cancel is not None and cancel.is_set()):
            raise
        allow_fork = not err.forked
    return KernelSession(job, gpu_ids, timeouts, cancel=cancel, allow_fork=allow_fork)


def _retryable(cause: BaseException) -> bool:
    """A start failure worth one more try with new ports."""
    import zmq

    return isinstance(cause, (KernelExited, zmq.Again, TimeoutError))


def _start_failure(job: Job, err: StartError) -> dict[str, Any]:
    cause = err.cause
    reason = str(err)
    if type(cause).__name__ == "NoSuchKernel":
        reason = f"no kernelspec named {job.kernel!r} is installed"
    elif isinstance(cause, OSError) and job.cwd and not os.path.isdir(job.cwd):
        reason = f"its working directory {job.cwd} does not exist"
    return _failure(job, 0, type(cause).__name__, str(cause), [err.log] if err.log else [],
                    f"the kernel {job.kernel!r} did not start: {reason}"
                    + (f"; it wrote:\n{err.log}" if err.log else ""))


def _run_setup(job: Job, session: KernelSession, result: JobResult) -> bool:
    """Run the job's setup code (if any); False, with the failure in ``result``, if it
    did not succeed."""
    if not job.setup_code.strip():
        return True
    run = session.run_cell(job.setup_code, job.timeout, None)
    failure = _abnormal_end(job, session, run, 0, result)
    problem = run.failure()
    if failure is None and problem is not None:
        result.status = "error"
        failure = _failure(job, 0, problem["ename"], problem["evalue"], problem["traceback"],
                           f"the setup code failed: {problem['ename']}: {problem['evalue']}")
    result.error = failure
    return failure is None


def _run_cells(job: Job, session: KernelSession, result: JobResult) -> None:
    """Run the job's cells in order into ``result``, until the end or the first failure
    (a cell's exception does not stop the job with ``allow_errors``, or when the cell
    may fail)."""
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
            return
        problem = run.failure()
        if problem is None or job.allow_errors or cell in job.allow_error_cells:
            continue  # (errors allowed: recorded in the outputs, no failure)
        if result.error is None:
            result.status = "error"
            result.error = _failure(job, cell, problem["ename"], problem["evalue"],
                                    problem["traceback"],
                                    f"{problem['ename']}: {problem['evalue']}")
        if not job.allow_errors:
            return


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


def _failure(job: Job, cell: int, ename: str, evalue: str, traceback: list[str],
             message: str) -> dict[str, Any]:
    """An error record; ``message`` is prefixed with the cell's line (0: no cell)."""
    return {"cell": cell, "ename": ename, "evalue": evalue, "traceback": traceback,
            "message": f"cell at line {cell}: {message}" if cell else message,
            "source": job.source_path}
