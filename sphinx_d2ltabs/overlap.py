"""Pages read while the book's jobs run.

When it can, the execution phase (:mod:`.phase`, ``env-get-outdated``) hands the stale
jobs to a :class:`~.book_run.BackgroundRun` and returns at once; Sphinx then reads
the pages while the jobs run:

* ``env-before-read-docs``: the pages that wait for no job first, then the others in the
  order their jobs are expected to end (:func:`.book_run.read_order`, with the last
  build's durations), the pages that show the execution report last;
* while a page is read, :func:`.phase.page_results` waits for the jobs of that page
  (:func:`wait_page`), and the report directive for all of them (:func:`complete`);
* ``env-updated`` (first of its handlers): the end of the run, then what the phase does
  after the jobs (the report, the failures' warnings, the record of the no-op path);
* ``build-finished`` after an error, and the process's exit (Ctrl-C while a page is
  read): the run is stopped, its kernels killed. Until the run ends, Ctrl-C and SIGTERM
  stop it first, then raise ``KeyboardInterrupt``, as while the phase runs the jobs itself.

Used with the local executor and a serial read. Sphinx's ``-j`` reads in forked
processes, where no thread runs the jobs, and a Dask run is left as it was: there the
phase runs the jobs before it returns. A page whose jobs run is read again as before
(the phase returns it), and sees the same results: the overlap changes when pages are
read, not what they show.
"""

from __future__ import annotations

import atexit
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any

from sphinx.application import Sphinx
from sphinx.util import logging

from .state import D2lState, get_state

if TYPE_CHECKING:
    from .book_run import BackgroundRun
    from .config import D2lConfig
    from .execution.model import JobResult
    from .runner import RunReport

logger = logging.getLogger(__name__)

CLEANUP_TIMEOUT = 20.0
"""Seconds to wait for a stopped run (its kernels are killed within the scheduler's 15)."""

Finish = Callable[[dict[tuple[str, str], "JobResult"], "RunReport"], None]


@dataclass
class Overlap:
    """A run going on while the pages are read, and what to do at its end."""

    run: BackgroundRun
    finish: Finish
    """What the phase does after the jobs (called once, with the results and report)."""
    workers: int
    expected: Mapping[tuple[str, str], float] = field(default_factory=dict)
    signals: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    """Ctrl-C and SIGTERM stop the run until it ends (:func:`_interrupts_stop`)."""


_LIVE: dict[int, Overlap] = {}
"""The runs of this process not yet completed or stopped (for the exit)."""
_AT_EXIT: list[bool] = []
"""Whether :func:`_stop_all` is registered to run at the process's exit."""


def allowed(app: Sphinx, cfg: D2lConfig) -> bool:
    """Whether this build's jobs may run while its pages are read."""
    from .execution.executor import parse_executor

    return app.parallel <= 1 and parse_executor(cfg.executor).kind == "local"


def start(state: D2lState, run: BackgroundRun, finish: Finish, workers: int,
          expected: Mapping[tuple[str, str], float]) -> None:
    """Keep ``run`` on the build state until the pages are read."""
    overlap = Overlap(run, finish, workers, dict(expected))
    state.overlap = overlap
    overlap.signals.enter_context(_interrupts_stop(state))
    state.results = run.results  # (filled as the jobs end)
    if not _AT_EXIT:
        _AT_EXIT.append(True)
        atexit.register(_stop_all)
    _LIVE[id(overlap)] = overlap


def wait_page(state: D2lState, docname: str) -> None:
    """Return once the jobs of ``docname`` have ended (at once without a run)."""
    overlap = state.overlap
    if overlap is None:
        return
    try:
        overlap.run.wait_page(docname)
    except KeyboardInterrupt:
        _stop(state)
        raise


def complete(state: D2lState) -> None:
    """Wait for the end of the run and do what the phase does after the jobs (once)."""
    overlap = state.overlap
    if overlap is None:
        return
    try:
        results, report = overlap.run.join()
    except KeyboardInterrupt:
        _stop(state)
        raise
    except BaseException:
        _forget(state)
        raise
    _forget(state)
    overlap.finish(results, report)


@contextlib.contextmanager
def _interrupts_stop(state: D2lState) -> Iterator[None]:
    """In the main thread: Ctrl-C (where Python's own handler is set) and SIGTERM stop
    the run, its kernels killed, then raise ``KeyboardInterrupt``, wherever the build
    is (reading a page, in Sphinx or another extension)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        for sig in previous:  # (no second signal while the kernels are killed)
            signal.signal(sig, signal.SIG_IGN)
        _stop(state)  # (which gives the handlers back, below)
        raise KeyboardInterrupt

    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, handler)}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _stop(state: D2lState) -> None:
    overlap = state.overlap
    if overlap is not None:
        overlap.run.stop(CLEANUP_TIMEOUT)
        _forget(state)


def _forget(state: D2lState) -> None:
    overlap, state.overlap = state.overlap, None
    if overlap is not None:
        _LIVE.pop(id(overlap), None)
        overlap.signals.close()


def _stop_all() -> None:
    for overlap in list(_LIVE.values()):
        overlap.run.stop(CLEANUP_TIMEOUT)
    _LIVE.clear()


# ---------------------------------------------------------------------- events


def on_env_before_read_docs(app: Sphinx, env: Any, docnames: list[str]) -> None:
    state = get_state(env)
    overlap = state.overlap
    if overlap is None:
        return
    from .book_run import read_order

    report_pages = {d for d, meta in env.metadata.items() if meta.get("d2l_report_page")}
    order = read_order([d for d in docnames if d not in report_pages], overlap.run.todo,
                       overlap.workers, overlap.expected)
    docnames[:] = order + [d for d in docnames if d in report_pages]


def on_env_updated(app: Sphinx, env: Any) -> list[str]:
    from sphinx.errors import ConfigError

    from .execution.executor import ExecutorError

    try:
        complete(get_state(env))
    except ExecutorError as err:
        raise ConfigError(str(err)) from None
    return []


def on_build_finished(app: Sphinx, exception: BaseException | None) -> None:
    if app.env is not None:
        _stop(get_state(app.env))


def setup_overlap(app: Sphinx) -> None:
    # after the other handlers (another extension's order of the pages stays, then the
    # pages that wait are moved behind); before any other env-updated handler
    app.connect("env-before-read-docs", on_env_before_read_docs, priority=900)
    app.connect("env-updated", on_env_updated, priority=1)
    app.connect("build-finished", on_build_finished, priority=1)
