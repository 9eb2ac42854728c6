"""Where a build's jobs run: one small interface, two executors (Sphinx-free).

``d2l_executor = "local"`` (the default) runs them in this process with the
:class:`~.scheduler.Scheduler` (threads, one kernel each, GPU slots).
``"dask:tcp://HOST:PORT"`` hands each job to a running ``dask.distributed`` scheduler as
one task, whose worker runs the kernel (:mod:`.dask_executor` on the build machine,
:mod:`.dask_worker` on the workers, the book's files shipped by :mod:`.workspace`).

Both follow the same contract (:class:`Executor`): ``run(jobs, expected_seconds)``
returns the results by (docname, framework); ``on_result(job, result)`` is called as soon
as each job ends (a later Ctrl-C keeps what finished), ``on_progress`` after each start
and end, ``on_notice`` with messages for the user; the first exception of a callback
stops the run and is re-raised; Ctrl-C or SIGTERM stops every kernel, then raises
``KeyboardInterrupt``. Jobs start in the order of :func:`order_jobs`. Dask is imported
only by a build that names it.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .model import Job, JobResult, Progress

if TYPE_CHECKING:
    from ..config import D2lConfig

DASK_PREFIX = "dask:"
_ADDRESS = re.compile(r"^(tcp|tls|ucx|ws|wss)://[^\s/:]+(:\d+)?$|^inproc://\S+$")
INSTALL_HINT = "pip install 'sphinx_d2ltabs[distributed]'"

ExpectedSeconds = Mapping[tuple[str, str], float]
"""Duration hints by (docname, framework), e.g. from the last build."""


class ExecutorError(RuntimeError):
    """The executor can't be used (Dask missing, the scheduler unreachable); the message
    is one line that names ``d2l_executor``."""


class Executor(Protocol):
    """Runs jobs; see the module docstring for the contract."""

    def run(self, jobs: Sequence[Job], expected_seconds: ExpectedSeconds | None = None,
            ) -> dict[tuple[str, str], JobResult]: ...


@dataclass(frozen=True)
class ExecutorSpec:
    """A parsed ``d2l_executor`` value."""

    kind: str
    """``local`` or ``dask``."""
    address: str = ""
    """The Dask scheduler's address (``tcp://host:port``)."""


@dataclass(frozen=True)
class Callbacks:
    """What an executor tells its caller (each optional)."""

    on_progress: Callable[[Progress], None] | None = None
    on_notice: Callable[[str], None] | None = None
    on_result: Callable[[Job, JobResult], None] | None = None


def parse_executor(value: str) -> ExecutorSpec:
    """``"local"`` or ``"dask:<address>"``; raises :class:`ExecutorError` otherwise
    (the config's validator of ``d2l_executor`` applies the same rule)."""
    text = value.strip() if isinstance(value, str) else ""
    if text == "local":
        return ExecutorSpec("local")
    if text.startswith(DASK_PREFIX) and _ADDRESS.match(text[len(DASK_PREFIX):]):
        return ExecutorSpec("dask", text[len(DASK_PREFIX):])
    raise ExecutorError(f"d2l_executor = {value!r}: expected 'local' or "
                        "'dask:tcp://HOST:PORT' (the address of a running Dask scheduler)")


@contextlib.contextmanager
def open_executor(cfg: D2lConfig, srcdir: str | None, callbacks: Callbacks,
                  ) -> Iterator[Executor]:
    """The executor ``cfg.executor`` names, ready to run (for Dask: connected, closed on
    exit). ``srcdir``: the source folder (Dask ships files from it). Raises
    :class:`ExecutorError`."""
    spec = parse_executor(cfg.executor)
    if spec.kind == "local":
        from .scheduler import Scheduler

        yield Scheduler(
            cfg.workers,
            [str(g) for g in cfg.gpu_ids] if cfg.gpu_ids is not None else None,
            strict_gpu=cfg.strict_gpu,
            on_progress=callbacks.on_progress,
            on_notice=callbacks.on_notice,
            on_result=callbacks.on_result,
            prestart=None if cfg.prestart is None else int(cfg.prestart),
            fork_kernels=cfg.fork_kernels,
            fork_setup_imports=cfg.fork_setup_imports,
        )
        return
    if srcdir is None:
        raise ExecutorError(f"d2l_executor = {cfg.executor!r}: the Dask executor needs the "
                            "book's source folder")
    try:
        from .dask_executor import DaskExecutor
    except ImportError as err:
        raise ExecutorError(f"d2l_executor = {cfg.executor!r} needs Dask ({err}): "
                            f"{INSTALL_HINT}") from None
    with DaskExecutor(cfg, srcdir, spec.address, callbacks) as executor:
        yield executor


def worker_count(workers: int | None) -> int:
    """The local executor's kernels at once for ``d2l_workers`` (None: the CPUs)."""
    return max(1, int(workers or os.cpu_count() or 1))


def order_jobs(jobs: Sequence[Job], gpu_capacity: int,
               expected_seconds: ExpectedSeconds | None = None) -> list[Job]:
    """GPU jobs first (most GPUs first, counting at most ``gpu_capacity``), then the
    longest expected, then input order."""
    hints = expected_seconds or {}
    return [jobs[i] for i in sorted(range(len(jobs)), key=lambda i: (
        -min(jobs[i].gpus, gpu_capacity),
        -hints.get((jobs[i].docname, jobs[i].framework), 0.0),
        i,
    ))]


def estimate_eta(durations: Sequence[float], pending: int, running_since: Sequence[float],
                 parallel: int, now: float) -> float | None:
    """Seconds left: the mean duration so far for each pending job, the rest of it for
    each running one, spread over ``parallel`` slots; None before any job ended."""
    if not durations:
        return None
    mean = sum(durations) / len(durations)
    left = mean * pending + sum(max(mean - (now - t), 0.0) for t in running_since)
    return left / min(max(1, parallel), max(1, pending + len(running_since)))
