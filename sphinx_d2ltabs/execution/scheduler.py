"""Run many jobs in parallel, with exclusive GPU slots."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import FrameType
from typing import Any

from .executor import estimate_eta, order_jobs
from .gpus import detect_gpus
from .kernel import kill_all_kernels, run_job
from .model import Job, JobResult, Progress

WAIT_POLL = 0.1
CLEANUP_TIMEOUT = 15.0

JobRunner = Callable[..., JobResult]
"""``runner(job, gpu_ids, cancel=event) -> JobResult``: runs one job (default:
:func:`.kernel.run_job`); it must not raise, and should return soon after ``cancel`` is
set."""


class Scheduler:
    """A pool of worker threads, each driving one kernel process at a time.

    A job with ``gpus = k`` takes ``k`` ids from the GPU pool for its whole run and sees
    them in ``CUDA_VISIBLE_DEVICES``; CPU jobs see it empty. Without any GPU, GPU jobs run
    on the CPU (one notice per run) or, with ``strict_gpu``, fail. Ctrl-C or SIGTERM stops
    the run: every kernel is killed with its processes, then ``KeyboardInterrupt`` is
    raised.

    Callbacks run in worker threads, one at a time: ``on_progress`` after each job's start
    and end, ``on_notice`` with messages for the user, ``on_result(job, result)`` as soon
    as a job ends (e.g. to cache it before a later Ctrl-C). The first exception raised by
    a callback stops the run and is re-raised by :meth:`run`.

    ``run_job`` replaces the function that runs one job in a kernel (:data:`JobRunner`;
    default :func:`.kernel.run_job`): a seam to test the GPU slots, the order and the
    reports without starting kernels.
    """

    def __init__(self, workers: int | None = None, gpu_ids: Sequence[str] | None = None, *,
                 strict_gpu: bool = False,
                 on_progress: Callable[[Progress], None] | None = None,
                 on_notice: Callable[[str], None] | None = None,
                 on_result: Callable[[Job, JobResult], None] | None = None,
                 run_job: JobRunner | None = None) -> None:
        self.workers = max(1, int(workers or os.cpu_count() or 1))
        self.gpu_ids = [str(g) for g in (detect_gpus() if gpu_ids is None else gpu_ids)]
        self.strict_gpu = strict_gpu
        self.on_progress = on_progress
        self.on_notice = on_notice
        self.on_result = on_result
        self.run_job = run_job
        """The job runner; None: :func:`.kernel.run_job` (looked up at each job)."""

    def order(self, jobs: Sequence[Job],
              expected_seconds: Mapping[tuple[str, str], float] | None = None) -> list[Job]:
        """GPU jobs first (most GPUs first), then the longest expected, then input order
        (:func:`.executor.order_jobs`)."""
        return order_jobs(jobs, len(self.gpu_ids), expected_seconds)

    def run(self, jobs: Sequence[Job],
            expected_seconds: Mapping[tuple[str, str], float] | None = None,
            ) -> dict[tuple[str, str], JobResult]:
        """Run ``jobs``; results by (docname, framework).

        ``expected_seconds``: optional duration hints by (docname, framework) (e.g. from
        the last build): longer jobs start first.
        """
        if not jobs:
            return {}
        run = _Run(self, self.order(jobs, expected_seconds))
        threads = [threading.Thread(target=run.worker, name=f"d2l-exec-{n}", daemon=True)
                   for n in range(min(self.workers, len(jobs)))]
        # waiting on an Event, not Thread.join: a KeyboardInterrupt that interrupts
        # join() can make CPython (< 3.12) take a running thread for ended
        with sigterm_as_interrupt():
            try:
                run.active = len(threads)
                for thread in threads:
                    thread.start()
                while not run.finished.wait(WAIT_POLL):
                    pass
            except KeyboardInterrupt:
                with sigint_ignored():
                    with run.cond:  # workers that never started never end
                        run.active -= sum(t.ident is None for t in threads)
                        if run.active <= 0:
                            run.finished.set()
                    run.stop()
                    kill_all_kernels()
                    # the workers see the stop within a poll, kill their kernel with its
                    # processes and release it (connection file, sockets)
                    run.finished.wait(CLEANUP_TIMEOUT)
                    kill_all_kernels()
                raise
        if run.callback_error is not None:
            raise run.callback_error
        return run.results


class _Run:
    """The shared state of one :meth:`Scheduler.run` (guarded by ``cond``)."""

    def __init__(self, scheduler: Scheduler, ordered: list[Job]) -> None:
        self.s = scheduler
        self.pending = ordered
        self.total = len(ordered)
        self.free = list(scheduler.gpu_ids)
        self.cond = threading.Condition()
        self.cancel = threading.Event()
        self.results: dict[tuple[str, str], JobResult] = {}
        self.running: dict[str, float] = {}
        self.failed = 0
        self.durations: list[float] = []
        self.start = time.monotonic()
        self.fallback_noticed = False
        self.callback_error: BaseException | None = None
        self.active = 0
        """Started workers that have not ended."""
        self.finished = threading.Event()
        """Set when the last worker ends."""

    # ----------------------------------------------------------- (lock held)
    def stop(self) -> None:
        with self.cond:
            self.cancel.set()
            self.pending.clear()
            self.cond.notify_all()

    def _call(self, callback: Callable[..., None] | None, *args: Any) -> None:
        """Run a user callback; its first exception stops the run and is re-raised."""
        if callback is None or self.callback_error is not None:
            return
        try:
            callback(*args)
        except Exception as err:
            self.callback_error = err
            self.cancel.set()
            self.pending.clear()
            self.cond.notify_all()

    def _report(self) -> None:
        if self.s.on_progress is None:
            return
        now = time.monotonic()
        eta = estimate_eta(self.durations, len(self.pending), list(self.running.values()),
                           self.s.workers, now)
        running = sorted(self.running, key=self.running.__getitem__)
        self._call(self.s.on_progress, Progress(len(self.results), self.total, running,
                                                self.failed, now - self.start, eta))

    def _take(self) -> tuple[Job, list[str], bool] | None:
        """The next job that can start now with its GPU ids and whether it falls back to
        the CPU; waits while only GPU jobs are left and their GPUs are busy."""
        pool = len(self.s.gpu_ids)
        while True:
            if self.cancel.is_set() or not self.pending:
                return None
            for index, job in enumerate(self.pending):
                if job.gpus > 0 and pool == 0:
                    self.pending.pop(index)
                    self._notice_fallback()
                    return job, [], True
                want = min(job.gpus, pool)
                if want <= len(self.free):
                    self.pending.pop(index)
                    if job.gpus > pool:
                        self._call(self.s.on_notice,
                                   f"{job.label} wants {job.gpus} GPUs but only {pool} "
                                   f"exist: it gets {pool}")
                    return job, [self.free.pop(0) for _ in range(want)], False
            self.cond.wait(1.0)

    def _notice_fallback(self) -> None:
        if self.fallback_noticed:
            return
        self.fallback_noticed = True
        if self.s.strict_gpu:
            text = ("no GPU found: the jobs that need a GPU fail (strict GPU mode is on)")
        else:
            text = ("no GPU found: the jobs that need a GPU run on the CPU "
                    "(CUDA_VISIBLE_DEVICES is empty for them)")
        self._call(self.s.on_notice, text)

    # ----------------------------------------------------------- (any thread)
    def worker(self) -> None:
        try:
            self._work()
        finally:
            close_thread_loop()
            with self.cond:
                self.active -= 1
                if self.active <= 0:
                    self.finished.set()

    def _work(self) -> None:
        while True:
            with self.cond:
                taken = self._take()
                if taken is None:
                    return
                job, ids, fallback = taken
                self.running[job.label] = time.monotonic()
                self._report()
            try:
                if fallback and self.s.strict_gpu:
                    result = JobResult(job.docname, job.framework, "start_failed",
                                       cell_ids=[cid for cid, _ in job.cells], error={
                        "cell": 0, "ename": "NoGPU", "evalue": "", "traceback": [],
                        "message": f"needs {job.gpus} GPU(s), but no GPU exists "
                                   "(strict GPU mode: it does not run on the CPU)",
                        "source": job.source_path})
                else:
                    runner = self.s.run_job or run_job
                    result = runner(job, ids, cancel=self.cancel)
                    result.gpu_fallback = fallback
            except Exception as err:  # run_job does not raise: a bug
                result = JobResult(job.docname, job.framework, "error",
                                   cell_ids=[cid for cid, _ in job.cells], error={
                    "cell": 0, "ename": type(err).__name__, "evalue": str(err),
                    "traceback": [], "message": f"execution failed: {err}",
                    "source": job.source_path})
            if self.cancel.is_set() and not result.ok:
                result.status = "interrupted"  # its kernel was killed by the stop
            with self.cond:
                self.results[(job.docname, job.framework)] = result
                self._call(self.s.on_result, job, result)
                self.durations.append(result.seconds)
                self.failed += int(not result.ok)
                self.running.pop(job.label, None)
                self.free.extend(ids)
                self.cond.notify_all()
                self._report()


def close_thread_loop() -> None:
    """Close the asyncio loop jupyter-client's sync wrappers made for this thread (else
    it lingers until garbage collection, with its file descriptors)."""
    with contextlib.suppress(Exception):
        from jupyter_core.utils import _loop

        loop = _loop.get()
        if loop is not None and not loop.is_running() and not loop.is_closed():
            loop.close()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """In the main thread, SIGTERM stops the run like Ctrl-C (kernels are cleaned up)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """No second Ctrl-C/SIGTERM while the kernels are being cleaned up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN)
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
