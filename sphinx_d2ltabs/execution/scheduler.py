"""Run many jobs in parallel, with exclusive GPU slots."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import FrameType

from . import Job, JobResult, Progress
from .gpus import detect_gpus
from .kernel import kill_all_kernels, run_job


class Scheduler:
    """A pool of worker threads, each driving one kernel process at a time.

    A job of a GPU framework takes ``job.gpus`` ids from the pool for its whole run and
    sees them in ``CUDA_VISIBLE_DEVICES``; CPU jobs see it empty. Without GPUs, GPU jobs
    run on the CPU (one notice) or, with ``strict_gpu``, fail.
    """

    def __init__(self, workers: int | None = None, gpu_ids: Sequence[str] | None = None, *,
                 strict_gpu: bool = False,
                 on_progress: Callable[[Progress], None] | None = None,
                 on_notice: Callable[[str], None] | None = None) -> None:
        self.workers = max(1, int(workers or os.cpu_count() or 1))
        self.gpu_ids = list(detect_gpus() if gpu_ids is None else gpu_ids)
        self.strict_gpu = strict_gpu
        self.on_progress = on_progress
        self.on_notice = on_notice

    def run(self, jobs: Sequence[Job],
            expected_seconds: Mapping[tuple[str, str], float] | None = None,
            ) -> dict[tuple[str, str], JobResult]:
        results: dict[tuple[str, str], JobResult] = {}
        if not jobs:
            return results
        hints = expected_seconds or {}
        order = sorted(range(len(jobs)), key=lambda i: (
            -min(jobs[i].gpus, len(self.gpu_ids)),
            -hints.get((jobs[i].docname, jobs[i].framework), 0.0),
            i,
        ))
        pending = [jobs[i] for i in order]
        free = list(self.gpu_ids)
        running: dict[str, float] = {}
        lock = threading.Condition()
        state = {"stop": False, "failed": 0, "noticed": False}
        start = time.monotonic()
        durations: list[float] = []

        def notice(message: str) -> None:
            if self.on_notice is not None:
                self.on_notice(message)

        def report() -> None:
            if self.on_progress is None:
                return
            done = len(results)
            elapsed = time.monotonic() - start
            eta = None
            if durations:
                left = len(jobs) - done
                eta = sum(durations) / len(durations) * left / min(self.workers, max(left, 1))
            self.on_progress(Progress(done, len(jobs), sorted(running), state["failed"],
                                      elapsed, eta))

        def take() -> tuple[Job, list[str], bool] | None:
            """The next job that can start now, with its GPU ids (lock held)."""
            while True:
                if state["stop"] or not pending:
                    return None
                for index, job in enumerate(pending):
                    want = job.gpus
                    if want and not self.gpu_ids:
                        pending.pop(index)
                        return job, [], True
                    want = min(want, len(self.gpu_ids))
                    if want <= len(free):
                        pending.pop(index)
                        ids = [free.pop(0) for _ in range(want)]
                        return job, ids, False
                lock.wait(0.5)

        def worker() -> None:
            while True:
                with lock:
                    taken = take()
                    if taken is None:
                        return
                    job, ids, fallback = taken
                    running[job.label] = time.monotonic()
                    if fallback and not state["noticed"]:
                        state["noticed"] = True
                        notice("no GPU found: GPU frameworks run on the CPU"
                               + (" (d2l_strict_gpu: they fail instead)"
                                  if self.strict_gpu else ""))
                    if job.gpus > len(self.gpu_ids) > 0:
                        notice(f"{job.label} wants {job.gpus} GPUs, {len(self.gpu_ids)} exist")
                    report()
                try:
                    if fallback and self.strict_gpu:
                        result = JobResult(job.docname, job.framework, "start_failed", error={
                            "cell": 0, "ename": "NoGPU", "evalue": "", "traceback": [],
                            "message": f"needs {job.gpus} GPU(s), but no GPU exists "
                                       "(d2l_strict_gpu = True)"})
                    else:
                        result = run_job(job, ids)
                        result.gpu_fallback = fallback
                except BaseException:  # interrupted: the main thread cleans up
                    with lock:
                        running.pop(job.label, None)
                        free.extend(ids)
                        lock.notify_all()
                    return
                with lock:
                    results[(job.docname, job.framework)] = result
                    durations.append(result.seconds)
                    state["failed"] += int(not result.ok)
                    running.pop(job.label, None)
                    free.extend(ids)
                    lock.notify_all()
                    report()

        threads = [threading.Thread(target=worker, name=f"d2l-worker-{n}", daemon=True)
                   for n in range(min(self.workers, len(jobs)))]
        with _sigterm_as_interrupt():
            try:
                for thread in threads:
                    thread.start()
                for thread in threads:
                    while thread.is_alive():
                        thread.join(0.2)
            except KeyboardInterrupt:
                with lock:
                    state["stop"] = True
                    lock.notify_all()
                kill_all_kernels()
                for thread in threads:
                    thread.join(10)
                kill_all_kernels()
                raise
        return results


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
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
