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

from . import forks as forking
from .executor import estimate_eta, order_jobs, worker_count
from .gpus import detect_gpus
from .kernel import kill_all_kernels, run_job
from .model import Job, JobResult, Progress
from .pool import RunSlots, Ticket
from .session import Cancelled

WAIT_POLL = 0.1
CLEANUP_TIMEOUT = 15.0

JobRunner = Callable[..., JobResult]
"""``runner(job, gpu_ids, cancel=event[, ready=callable]) -> JobResult``: runs one job
(default: :func:`.kernel.run_job`); it must not raise, should return soon after
``cancel`` is set, and, when given ``ready``, calls it before its cells (see
:func:`.kernel.run_job`)."""


class Scheduler:
    """Runs jobs in parallel, one fresh kernel each, with exclusive GPU slots.

    ``workers`` jobs run their cells at once; with a warm pool (:mod:`.pool`), the
    kernels of up to ``prestart`` further jobs start and run their set-up code
    meanwhile (default with the real job runner: as many as ``workers``, but no more
    than the CPUs the workers leave free, :func:`default_prestart`; none with another
    runner). Each job runs in a thread of its own, which starts, uses and kills its
    kernel (see :mod:`.launch`). A job with ``gpus = k`` takes ``k`` ids from the GPU pool
    from its kernel's start to its end and sees them in ``CUDA_VISIBLE_DEVICES``; CPU
    jobs see it empty. Without any GPU, GPU jobs run on the CPU (one notice per run) or,
    with ``strict_gpu``, fail. Ctrl-C or SIGTERM stops the run: every kernel, started
    ahead or running, is killed with its processes, then ``KeyboardInterrupt`` is raised.

    Callbacks run one at a time (under the run's lock, in the job threads or the
    thread that called :meth:`run`): ``on_progress`` after each job's start (of its
    cells) and end, ``on_notice`` with messages for the user,
    ``on_result(job, result)`` as soon as a job ends (e.g. to cache it before a later
    Ctrl-C). The first exception raised by a callback stops the run and is re-raised by
    :meth:`run`.

    ``run_job`` replaces the function that runs one job in a kernel (:data:`JobRunner`;
    default :func:`.kernel.run_job`): a seam to test the GPU slots, the order and the
    reports without starting kernels. Such a runner gets ``ready`` (see
    :func:`.kernel.run_job`) only when ``prestart`` is given.
    """

    def __init__(self, workers: int | None = None, gpu_ids: Sequence[str] | None = None, *,
                 strict_gpu: bool = False,
                 on_progress: Callable[[Progress], None] | None = None,
                 on_notice: Callable[[str], None] | None = None,
                 on_result: Callable[[Job, JobResult], None] | None = None,
                 run_job: JobRunner | None = None,
                 prestart: int | None = None,
                 fork_kernels: bool = True, fork_setup_imports: bool = True) -> None:
        self.workers = worker_count(workers)
        self.gpu_ids = [str(g) for g in (detect_gpus() if gpu_ids is None else gpu_ids)]
        self.strict_gpu = strict_gpu
        self.on_progress = on_progress
        self.on_notice = on_notice
        self.on_result = on_result
        self.run_job = run_job
        """The job runner; None: :func:`.kernel.run_job` (looked up at each job)."""
        default = default_prestart(self.workers) if run_job is None else 0
        self.prestart = max(0, int(default if prestart is None else prestart))
        """Jobs whose kernels may start ahead of a run slot (the warm pool's depth)."""
        self.fork_kernels = fork_kernels
        """Fork IPython kernels from a zygote (:mod:`.forks`) during a :meth:`run` of more
        jobs than workers."""
        self.fork_setup_imports = fork_setup_imports
        """... from a zygote that ran the imports of their set-up code, where it can."""

    def order(self, jobs: Sequence[Job],
              expected_seconds: Mapping[tuple[str, str], float] | None = None) -> list[Job]:
        """GPU jobs first (most GPUs first), then the longest expected, then input order
        (:func:`.executor.order_jobs`)."""
        return order_jobs(jobs, len(self.gpu_ids), expected_seconds)

    def run(self, jobs: Sequence[Job],
            expected_seconds: Mapping[tuple[str, str], float] | None = None,
            stop: threading.Event | None = None) -> dict[tuple[str, str], JobResult]:
        """Run ``jobs``; results by (docname, framework).

        ``expected_seconds``: optional duration hints by (docname, framework) (e.g. from
        the last build): longer jobs start first. ``stop``: set by another thread, it
        ends the run as Ctrl-C does (every kernel killed), then :class:`.Cancelled` is
        raised.
        """
        if not jobs:
            return {}
        run = _Run(self, self.order(jobs, expected_seconds))
        # the main thread waits on a Condition with a timeout, never in Thread.join: a
        # KeyboardInterrupt that interrupts join() can make CPython (< 3.12) take a
        # running thread for ended
        # a fork server pays off from the first kernel that waits for a worker (it costs
        # about one kernel's start; fewer jobs all start at once anyway)
        with sigterm_as_interrupt(), forking.forking(
                self.fork_kernels and len(jobs) > self.workers,
                self.fork_setup_imports) as forks:
            try:
                run.dispatch(stop)
            except (KeyboardInterrupt, Cancelled):
                with sigint_ignored():
                    run.stop()
                    kill_all_kernels()
                    # the job threads see the stop within a poll, kill their kernel with
                    # its processes and release it (connection file, sockets)
                    run.wait_ended(CLEANUP_TIMEOUT)
                    kill_all_kernels()
                raise
            for note in forks.notes if forks is not None else ():
                run.call(self.on_notice, f"kernels not forked as they could be: {note}")
        if run.callback_error is not None:
            raise run.callback_error
        return run.results


def default_prestart(workers: int, cpus: int | None = None) -> int:
    """Kernels started ahead by default: one per worker, within the CPUs the workers
    leave free. Kernel start-up and set-up code (imports) are CPU work: where they would
    compete with the workers' cells for the same cores, starting them ahead only adds
    contention (measured: bench/README.md)."""
    if cpus is None:
        cpus = os.cpu_count() or 1
    return max(0, min(workers, cpus - workers))


class _Run:
    """The shared state of one :meth:`Scheduler.run` (guarded by ``cond``)."""

    def __init__(self, scheduler: Scheduler, ordered: list[Job]) -> None:
        self.s = scheduler
        self.pending = ordered
        self.total = len(ordered)
        self.free = list(scheduler.gpu_ids)
        self.cond = threading.Condition()
        self.cancel = threading.Event()
        self.slots = RunSlots(scheduler.workers, scheduler.prestart, self.cond, self.cancel)
        self.results: dict[tuple[str, str], JobResult] = {}
        self.running: dict[str, float] = {}
        self.failed = 0
        self.durations: list[float] = []
        self.start = time.monotonic()
        self.fallback_noticed = False
        self.callback_error: BaseException | None = None
        self.threads: list[threading.Thread] = []
        self.ended: set[threading.Thread] = set()
        """Job threads whose job has ended."""

    # ----------------------------------------------------------- main thread
    def dispatch(self, stop: threading.Event | None = None) -> None:
        """Begin jobs while the pool has room, until every job has ended; raises
        :class:`.Cancelled` once ``stop`` is set."""
        with self.cond:
            while True:
                if stop is not None and stop.is_set():
                    raise Cancelled
                while self.slots.can_begin():
                    taken = self._take()
                    if taken is None:
                        break
                    self._begin(*taken)
                if self.slots.begun == 0 and (self.cancel.is_set() or not self.pending):
                    return
                self.cond.wait(WAIT_POLL)

    def _begin(self, job: Job, ids: list[str], fallback: bool) -> None:
        ticket = self.slots.begin()
        if ticket.holds:
            self._mark_running(job)
        thread = threading.Thread(target=self._job_thread, args=(job, ids, fallback, ticket),
                                  name=f"d2l-exec-{ticket.number}", daemon=True)
        self.threads.append(thread)
        thread.start()

    def wait_ended(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) until every started job thread has ended."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while any(t.ident is not None and t not in self.ended for t in self.threads):
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self.cond.wait(min(left, WAIT_POLL))

    # ----------------------------------------------------------- (lock held)
    def stop(self) -> None:
        with self.cond:
            self.cancel.set()
            self.pending.clear()
            self.cond.notify_all()

    def call(self, callback: Callable[..., None] | None, *args: Any) -> None:
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
        self.call(self.s.on_progress, Progress(len(self.results), self.total, running,
                                               self.failed, now - self.start, eta))

    def _mark_running(self, job: Job) -> None:
        self.running[job.label] = time.monotonic()
        self._report()

    def _take(self) -> tuple[Job, list[str], bool] | None:
        """The first pending job that can begin now with its GPU ids and whether it
        falls back to the CPU; None if none can (GPU jobs whose GPUs are busy wait)."""
        pool = len(self.s.gpu_ids)
        if self.cancel.is_set():
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
                    self.call(self.s.on_notice,
                              f"{job.label} wants {job.gpus} GPUs but only {pool} "
                              f"exist: it gets {pool}")
                return job, [self.free.pop(0) for _ in range(want)], False
        return None

    def _notice_fallback(self) -> None:
        if self.fallback_noticed:
            return
        self.fallback_noticed = True
        if self.s.strict_gpu:
            text = ("no GPU found: the jobs that need a GPU fail (strict GPU mode is on)")
        else:
            text = ("no GPU found: the jobs that need a GPU run on the CPU "
                    "(CUDA_VISIBLE_DEVICES is empty for them)")
        self.call(self.s.on_notice, text)

    # ----------------------------------------------------------- job threads
    def _job_thread(self, job: Job, ids: list[str], fallback: bool, ticket: Ticket) -> None:
        result: JobResult | None = None
        try:
            result = self._execute(job, ids, fallback, ticket)
        finally:
            close_thread_loop()
            with self.cond:
                if result is not None:
                    self._record(job, result)
                self.free.extend(ids)
                self.slots.end(ticket)
                self.ended.add(threading.current_thread())
                self.cond.notify_all()

    def _execute(self, job: Job, ids: list[str], fallback: bool, ticket: Ticket) -> JobResult:
        """The job's result; never raises."""
        try:
            if fallback and self.s.strict_gpu:
                return _no_gpu(job)
            if self.cancel.is_set():
                raise Cancelled
            runner = self.s.run_job or run_job
            if self.s.run_job is None or self.s.prestart:
                result = runner(job, ids, cancel=self.cancel,
                                ready=lambda: self._ready(job, ticket))
            else:
                result = runner(job, ids, cancel=self.cancel)
            result.gpu_fallback = fallback
        except Cancelled:
            result = JobResult(job.docname, job.framework, "interrupted",
                               cell_ids=[cid for cid, _ in job.cells])
        except Exception as err:  # run_job does not raise: a bug
            result = JobResult(job.docname, job.framework, "error",
                               cell_ids=[cid for cid, _ in job.cells], error={
                "cell": 0, "ename": type(err).__name__, "evalue": str(err),
                "traceback": [], "message": f"execution failed: {err}",
                "source": job.source_path})
        if self.cancel.is_set() and not result.ok:
            result.status = "interrupted"  # its kernel was killed by the stop
        return result

    def _ready(self, job: Job, ticket: Ticket) -> None:
        """A warm job's kernel is up and set up: wait for a run slot (raises
        :class:`.Cancelled` when the run stops meanwhile)."""
        if self.slots.wait_turn(ticket):
            with self.cond:
                self._mark_running(job)

    def _record(self, job: Job, result: JobResult) -> None:
        self.results[(job.docname, job.framework)] = result
        self.call(self.s.on_result, job, result)
        self.durations.append(result.seconds)
        self.failed += int(not result.ok)
        self.running.pop(job.label, None)
        self._report()


def _no_gpu(job: Job) -> JobResult:
    """The result of a GPU job in strict GPU mode on a machine without GPUs."""
    return JobResult(job.docname, job.framework, "start_failed",
                     cell_ids=[cid for cid, _ in job.cells], error={
        "cell": 0, "ename": "NoGPU", "evalue": "", "traceback": [],
        "message": f"needs {job.gpus} GPU(s), but no GPU exists "
                   "(strict GPU mode: it does not run on the CPU)",
        "source": job.source_path})


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
