"""A book's run: its stale jobs, run at once or in a thread while the pages are read
(Sphinx-free).

:func:`start_run` looks the jobs up in the cache (:meth:`.BookRunner.lookup`) and runs
the others: before it returns (a :class:`FinishedRun`), or, with ``background``, in a
daemon thread (a :class:`BackgroundRun`). ``join`` gives the results and the report of
either, once the run has ended. In a background run each job's result joins ``results``
as the job ends; :meth:`~BackgroundRun.wait_page` returns once every job of a page has
ended (or the run has), and :meth:`~BackgroundRun.stop` ends the run as Ctrl-C does
(every kernel killed).
:func:`read_order` puts the pages whose jobs end first first, so that reading waits as
little as it can.
"""

from __future__ import annotations

import heapq
import statistics
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .execution.executor import order_jobs
from .execution.model import Job, JobResult
from .runner import BookRunner, Lookup, PagePlan, RunReport, Trust

POLL = 0.1
"""Seconds between checks while waiting (a wait with a timeout: Ctrl-C gets through)."""
UNKNOWN_SECONDS = 1.0
"""A job's expected seconds when no job has a duration from an earlier build."""


def start_run(runner: BookRunner, plans: Sequence[PagePlan], mode: str,
              expected: Mapping[tuple[str, str], float] | None = None, *,
              background: bool = False, trust: Trust | None = None,
              ) -> BackgroundRun | FinishedRun:
    """Run what ``mode`` asks for (``expected``: each job's seconds in an earlier build,
    :func:`.runner.expected_seconds`: the longest start first; ``trust``: the cached
    results not to read, :data:`.runner.Trust`). Raises
    :class:`~.execution.executor.ExecutorError` when the executor can't be used (not
    in the background: there, :meth:`BackgroundRun.join` raises it)."""
    start = time.monotonic()
    found = runner.lookup(plans, mode, trust)
    if found.todo and background:
        return BackgroundRun(runner, plans, found, expected)
    results = dict(found.results)
    if found.todo:
        results.update(runner.execute(found.todo, found.keys, expected))
    return FinishedRun(results, runner.report(plans, results, time.monotonic() - start,
                                              found.known), found.todo)


@dataclass
class FinishedRun:
    """A run that ended before :func:`start_run` returned."""

    results: dict[tuple[str, str], JobResult]
    report: RunReport
    todo: list[Job]
    """The jobs that ran."""

    def join(self) -> tuple[dict[tuple[str, str], JobResult], RunReport]:
        return self.results, self.report


class BackgroundRun:
    """The jobs ``todo`` of ``plans``, run by ``runner`` in a thread started at once."""

    def __init__(self, runner: BookRunner, plans: Sequence[PagePlan], found: Lookup,
                 expected: Mapping[tuple[str, str], float] | None = None) -> None:
        self.runner = runner
        self.plans = list(plans)
        self.todo = list(found.todo)
        self.known = found.known
        self.results: dict[tuple[str, str], JobResult] = dict(found.results)
        """(docname, framework) → result: the cached ones, then each job's as it ends."""
        self.waiting: dict[str, set[str]] = {}
        """docname → the frameworks whose jobs have not ended."""
        for job in self.todo:
            self.waiting.setdefault(job.docname, set()).add(job.framework)
        self.error: BaseException | None = None
        self.done = False
        self.cond = threading.Condition()
        self._stop = threading.Event()
        self._start = self._end = time.monotonic()
        self._thread = threading.Thread(target=self._main, args=(found.keys, expected),
                                        name="d2l-execution", daemon=True)
        self._thread.start()

    def _main(self, keys: Mapping[tuple[str, str], str],
              expected: Mapping[tuple[str, str], float] | None) -> None:
        try:
            self.runner.execute(self.todo, keys, expected, stop=self._stop,
                                on_result=self._ended)
        except BaseException as err:  # (raised again by join)
            self.error = err
        finally:
            with self.cond:
                self.done = True
                self._end = time.monotonic()
                self.cond.notify_all()

    def _ended(self, job: Job, result: JobResult) -> None:
        with self.cond:
            self.results[(job.docname, job.framework)] = result
            self.waiting.get(job.docname, set()).discard(job.framework)
            self.cond.notify_all()

    def wait_page(self, docname: str) -> None:
        """Return once every job of ``docname`` has ended, or the run has."""
        with self.cond:
            while self.waiting.get(docname) and not self.done:
                self.cond.wait(POLL)

    def join(self) -> tuple[dict[tuple[str, str], JobResult], RunReport]:
        """Wait for the end of the run; every result and the report. Raises what the run
        raised (:class:`~.execution.executor.ExecutorError`, ``Cancelled``...)."""
        with self.cond:
            while not self.done:
                self.cond.wait(POLL)
        while self._thread.is_alive():  # (its last lines: nothing left running after this)
            self._thread.join(POLL)
        if self.error is not None:
            raise self.error
        # (the run's own seconds: from its start to its last job's end, not to this call)
        return self.results, self.runner.report(self.plans, self.results,
                                                self._end - self._start, self.known)

    def stop(self, timeout: float) -> None:
        """End the run (its kernels killed, the results of the jobs that ended kept);
        wait at most ``timeout`` seconds for it."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        with self.cond:
            while not self.done and time.monotonic() < deadline:
                self.cond.wait(POLL)


def read_order(docnames: Iterable[str], jobs: Sequence[Job], workers: int,
               expected: Mapping[tuple[str, str], float] | None = None) -> list[str]:
    """``docnames`` in the order to read them: those without a job of ``jobs`` first (as
    given), then the others in the order their jobs are expected to end. The expected
    end of each job: the scheduler's order (:func:`.executor.order_jobs`) on ``workers``
    slots, each job taking its ``expected`` seconds (unknown: the median of the known
    ones)."""
    hints = dict(expected or {})
    known = [hints[(j.docname, j.framework)] for j in jobs if (j.docname, j.framework) in hints]
    default = statistics.median(known) if known else UNKNOWN_SECONDS
    free = [0.0] * max(1, workers)
    ends: dict[str, float] = {}
    for job in order_jobs(jobs, 0, hints):
        begin = heapq.heappop(free)
        end = begin + hints.get((job.docname, job.framework), default)
        heapq.heappush(free, end)
        ends[job.docname] = max(ends.get(job.docname, 0.0), end)
    names = list(docnames)
    ready = [d for d in names if d not in ends]
    later = sorted((d for d in names if d in ends), key=lambda d: (ends[d], names.index(d)))
    return ready + later
