"""One run of the Dask executor on the build machine (:class:`DaskRun`): submit a task
per job, collect the results as they come, retry a job whose worker died, stop on Ctrl-C
(see :mod:`.dask_executor` for the whole picture).

Everything here runs in the build's thread, but for the Dask callbacks, which only put
what happened (a task done, a worker's start or end event) on a queue.
"""

from __future__ import annotations

import contextlib
import queue
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import distributed
from distributed.client import FutureCancelledError
from distributed.comm.core import CommClosedError
from distributed.scheduler import KilledWorker

from . import dask_worker
from .dask_worker import TaskSpec
from .executor import estimate_eta
from .model import Job, JobResult, Progress
from .scheduler import sigint_ignored, sigterm_as_interrupt

if TYPE_CHECKING:
    from .dask_executor import DaskExecutor

WAIT_POLL = 0.1
CLEANUP_TIMEOUT = 15.0
SYNC_ROUNDS = 3
"""Times a job may come back asking for files before it fails."""
LOST_GRACE = 5.0
"""Seconds, besides the connect timeout, a client may reconnect before the build gives up
on its scheduler."""
MOVES = 5
"""Times a job may be lost with a worker on whose queue it waited (it did not start)."""
RETRYABLE = (KilledWorker, CommClosedError, FutureCancelledError)
"""A job that ends with one of these lost its worker: it runs once more. (The task
itself never raises: its failures are results.)"""


@dataclass
class Submitted:
    """A job's task in flight."""

    job: Job
    task: Job
    """The portable job sent."""
    fallback: bool
    """A GPU job run on the CPU."""
    attempt: int = 0
    """0, or 1 after the worker running it died."""
    rounds: int = 0
    """Times it came back asking for files."""
    moves: int = 0
    """Times it was lost with a worker before it started (queued there)."""
    started: bool = False
    """Its worker said it started."""
    future: Any = None


class DaskRun:
    """The state of one :meth:`DaskExecutor.run` (in the calling thread, but for the
    queue the Dask threads feed)."""

    def __init__(self, ex: DaskExecutor, spec: TaskSpec, capacity: int, threads: int) -> None:
        self.ex = ex
        self.client = ex.client
        self.spec = spec
        self.capacity = capacity
        self.threads = threads
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.futures: dict[str, Submitted] = {}
        self.submitted = 0
        self.priority: dict[tuple[str, str], int] = {}
        self.results: dict[tuple[str, str], JobResult] = {}
        self.running: dict[str, float] = {}
        self.durations: list[float] = []
        self.failed = 0
        self.total = 0
        self.start = time.monotonic()
        self.fallback_noticed = False
        self.callback_error: BaseException | None = None
        self.lost_since: float | None = None
        """Since when the client has been without its scheduler."""
        self.cancel = distributed.Event(spec.event, client=self.client)  # type: ignore[no-untyped-call,unused-ignore]

    def execute(self, ordered: Sequence[Job]) -> dict[tuple[str, str], JobResult]:
        self.total = len(ordered)
        self.client.subscribe_topic(self.spec.topic, lambda event: self.events.put(
            ("event", event)))
        try:
            with sigterm_as_interrupt():
                try:
                    for rank, job in enumerate(ordered):
                        self.priority[(job.docname, job.framework)] = len(ordered) - rank
                        self._start(job)
                    self._collect()
                except KeyboardInterrupt:
                    with sigint_ignored():
                        self._stop()
                    raise
        finally:
            with contextlib.suppress(Exception):
                self.client.unsubscribe_topic(self.spec.topic)
            self._end_forks()
        if self.callback_error is not None:
            raise self.callback_error
        return self.results

    def _collect(self) -> None:
        while self.futures and self.callback_error is None:
            if self._scheduler_lost():
                self._fail_all(f"execution failed: the Dask scheduler at {self.ex.address} "
                               "went away")
                return
            try:
                kind, payload = self.events.get(timeout=WAIT_POLL)
            except queue.Empty:
                continue
            if kind == "done":
                self._finished(payload)
            else:
                self._event(payload)
        if self.callback_error is not None:
            self._stop()

    def _scheduler_lost(self) -> bool:
        """Whether the client lost its scheduler for good: closed, or reconnecting for
        longer than ``d2l_executor_connect_timeout`` (and a grace period)."""
        status = str(getattr(self.client, "status", "running"))
        if status == "running":
            self.lost_since = None
            return False
        now = time.monotonic()
        self.lost_since = self.lost_since or now
        return status in ("closing", "closed") or (
            now - self.lost_since > self.ex.cfg.executor_connect_timeout + LOST_GRACE)

    def _fail_all(self, message: str) -> None:
        """Every job still in flight ends with ``message`` (a machinery failure)."""
        pending, self.futures = list(self.futures.values()), {}
        for sub in pending:
            self._deliver(sub.job, _failure(sub.job, "error", "SchedulerLost", "", message))

    # ------------------------------------------------------------------ submit
    def _start(self, job: Job) -> None:
        """Submit ``job`` (or, for a GPU job without any GPU worker, fall back to the
        CPU or fail, as the local scheduler does)."""
        gpus, fallback = job.gpus, False
        if gpus > 0 and self.capacity == 0:
            self._notice_fallback()
            if self.ex.cfg.strict_gpu:
                self._deliver(job, _failure(job, "start_failed", "NoGPU", "",
                              f"needs {job.gpus} GPU(s), but no Dask worker has a GPU "
                              "(strict GPU mode: it does not run on the CPU)"))
                return
            gpus, fallback = 0, True
        elif gpus > self.capacity:
            self._notice(f"{job.label} wants {job.gpus} GPUs but the largest Dask worker "
                         f"has {self.capacity}: it gets {self.capacity}")
            gpus = self.capacity
        self._submit(Submitted(job, self.ex.portable(job, gpus), fallback))

    def _submit(self, sub: Submitted) -> None:
        """Submit a task for ``sub`` (a fresh key per submission)."""
        job, task = sub.job, sub.task
        self.submitted += 1
        if self._scheduler_lost():
            self._deliver(job, _failure(job, "error", "SchedulerLost", "",
                                        f"execution failed: the Dask scheduler at "
                                        f"{self.ex.address} went away"))
            return
        key = f"d2l-{job.docname}-{job.framework}-{self.spec.build[:12]}-{self.submitted}"
        try:
            sub.future = self.client.submit(
                dask_worker.run_task, task, self.spec, sub.fallback, key=key, pure=False,
                priority=self.priority[(job.docname, job.framework)],
                resources={"GPU": task.gpus} if task.gpus > 0 else None)
        except Exception as err:  # (the client closed: the scheduler went away)
            self._deliver(job, _failure(job, "error", type(err).__name__, str(err),
                                        "execution failed: cannot submit it to the Dask "
                                        f"scheduler: {type(err).__name__}: {err}"))
            return
        self.futures[sub.future.key] = sub
        sub.future.add_done_callback(lambda f: self.events.put(("done", f.key)))

    # ------------------------------------------------------------------ collect
    def _finished(self, key: str) -> None:
        sub = self.futures.pop(key, None)
        if sub is None:
            return
        job = sub.job
        try:
            data = sub.future.result()
        except RETRYABLE as err:
            if not sub.started and sub.moves < MOVES:
                # queued on a worker that died (Dask counts it too): not an attempt
                self._resubmit(replace(sub, moves=sub.moves + 1))
                return
            if sub.attempt == 0:
                self._notice(f"{job.label}: its Dask worker was lost ({type(err).__name__}):"
                             " it runs once more")
                self._resubmit(replace(sub, attempt=1))
                return
            result = _failure(job, "dead", "KilledWorker",
                              f"the Dask worker was lost twice ({type(err).__name__})",
                              f"its Dask worker died while running it, twice ({err})")
        except Exception as err:
            result = _failure(job, "error", type(err).__name__, str(err),
                              f"execution failed: on the Dask worker: "
                              f"{type(err).__name__}: {err}")
        else:
            if isinstance(data, dict) and "missing" in data:
                self._send_files(sub, data)
                return
            result = _parse(job, data)
        self._deliver(job, result)

    def _send_files(self, sub: Submitted, data: Mapping[str, Any]) -> None:
        """A worker lacked files (it joined after the start, or lost its store)."""
        if sub.rounds + 1 >= SYNC_ROUNDS:
            self._deliver(sub.job, _failure(sub.job, "start_failed", "MissingFiles", "",
                                            "the Dask worker did not get the book's files"))
            return
        if self.ex.files is not None:
            self.ex.files.ship(str(data.get("worker")), list(data.get("missing", [])))
        self._resubmit(replace(sub, rounds=sub.rounds + 1))

    def _resubmit(self, sub: Submitted) -> None:
        self.running.pop(sub.job.label, None)
        self._submit(replace(sub, started=False, future=None))

    def _event(self, event: Any) -> None:
        """A worker's start/end event (``(timestamp, message)``)."""
        msg = event[1] if isinstance(event, tuple) and len(event) == 2 else event
        if not isinstance(msg, dict):
            return
        label = f"{msg.get('docname')} [{msg.get('framework')}]"
        sub = self.futures.get(str(msg.get("key")))
        if sub is not None and msg.get("what") == "start":
            sub.started = True
        if msg.get("what") == "start" and (msg.get("docname"), msg.get("framework")) \
                not in self.results:
            self.running[label] = time.monotonic()
            self._report()
        elif msg.get("what") == "end":
            self.running.pop(label, None)

    def _deliver(self, job: Job, result: JobResult) -> None:
        if result.error is not None:
            result.error["source"] = job.source_path
        self.results[(job.docname, job.framework)] = result
        self.running.pop(job.label, None)
        self.durations.append(result.seconds)
        self.failed += int(not result.ok)
        self._call(self.ex.callbacks.on_result, job, result)
        self._report()

    # ------------------------------------------------------------------ stop
    def _stop(self) -> None:
        """Stop every kernel: set the build's event, cancel every future, wait for the
        running tasks to end."""
        futures = [sub.future for sub in self.futures.values()]
        self.futures.clear()
        if str(getattr(self.client, "status", "running")) != "running":
            return  # (no scheduler to tell: its workers drop the tasks of a lost client)
        with contextlib.suppress(Exception):
            self.cancel.set()  # type: ignore[no-untyped-call,unused-ignore]
        with contextlib.suppress(Exception):
            self.client.cancel(futures)
        deadline = time.monotonic() + CLEANUP_TIMEOUT
        while self.running and time.monotonic() < deadline:
            try:
                kind, payload = self.events.get(timeout=WAIT_POLL)
            except queue.Empty:
                continue
            if kind == "event":
                self._event(payload)
        with contextlib.suppress(Exception):
            # (every task that saw it has ended: free it)
            self.cancel.clear()  # type: ignore[no-untyped-call,unused-ignore]

    def _end_forks(self) -> None:
        """Tell the workers to end this build's kernel fork servers (best effort: those
        of a worker that does not hear it end when idle, see :mod:`.dask_worker`)."""
        if not self.spec.fork_kernels or str(getattr(self.client, "status", "")) != "running":
            return
        from .dask_worker import end_forks

        with contextlib.suppress(Exception):
            self.client.run(end_forks, self.spec.build)

    # ------------------------------------------------------------------ reports
    def _call(self, callback: Any, *args: Any) -> None:
        if callback is None or self.callback_error is not None:
            return
        try:
            callback(*args)
        except Exception as err:
            self.callback_error = err

    def _notice(self, text: str) -> None:
        self._call(self.ex.callbacks.on_notice, text)

    def _notice_fallback(self) -> None:
        if self.fallback_noticed:
            return
        self.fallback_noticed = True
        if self.ex.cfg.strict_gpu:
            self._notice("no Dask worker has a GPU (resources GPU=...): the jobs that need "
                         "a GPU fail (strict GPU mode is on)")
        else:
            self._notice("no Dask worker has a GPU (resources GPU=...): the jobs that need "
                         "a GPU run on the CPU (CUDA_VISIBLE_DEVICES is empty for them)")

    def _report(self) -> None:
        if self.ex.callbacks.on_progress is None:
            return
        now = time.monotonic()
        pending = self.total - len(self.results) - len(self.running)
        eta = estimate_eta(self.durations, max(0, pending), list(self.running.values()),
                           self.threads, now)
        running = sorted(self.running, key=self.running.__getitem__)
        self._call(self.ex.callbacks.on_progress, Progress(
            len(self.results), self.total, running, self.failed, now - self.start, eta))


def _parse(job: Job, data: Any) -> JobResult:
    try:
        return JobResult.from_json(data)
    except (TypeError, ValueError) as err:
        return _failure(job, "error", type(err).__name__, str(err),
                        f"execution failed: the Dask worker sent a malformed result ({err})")


def _failure(job: Job, status: str, ename: str, evalue: str, message: str) -> JobResult:
    return JobResult(job.docname, job.framework, status,
                     cell_ids=[cid for cid, _ in job.cells],
                     error={"cell": 0, "ename": ename, "evalue": evalue, "traceback": [],
                            "message": message, "source": job.source_path})
