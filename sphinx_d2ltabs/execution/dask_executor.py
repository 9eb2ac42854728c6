"""The Dask executor, on the build machine: ``d2l_executor = "dask:tcp://HOST:PORT"``.

The build plans, collects, caches and renders; a running ``dask.distributed`` cluster
runs the kernels. For one build:

1. connect (``d2l_executor_connect_timeout``; an unreachable scheduler is one
   :class:`~.executor.ExecutorError` line naming ``d2l_executor`` and the address);
2. ship the book's files (:mod:`.dask_files`, :mod:`.workspace`): the manifest of the
   library, dependency and ``d2l_executor_files`` files; each worker's store says which
   contents it lacks (``Client.run``), each missing content is sent once per store; a
   worker that sees the source folder with exactly these files uses it as it is
   (``d2l_executor_workspace``);
3. submit one task per job (:func:`.dask_worker.run_task`, :class:`.dask_run.DaskRun`):
   ``pure=False``, a key per submission, ``priority`` in
   :func:`~.executor.order_jobs`'s order, ``resources={"GPU": k}`` for a job of ``k``
   GPUs; the job is portable (its working directory relative to the source folder, the
   user's variables only: no path of this machine);
4. collect the results (JSON, checked by :meth:`~.model.JobResult.from_json`) as they
   come: ``on_result`` at once, progress lines from the workers' start/end events. A job
   whose worker died is submitted once more; a second death is a failed result (a
   machinery failure: not cached). The scheduler's own
   ``distributed.scheduler.allowed-failures`` retries come first. A scheduler lost for
   good fails the jobs in flight (machinery failures) and the build goes on.

Ctrl-C or SIGTERM: the build's ``distributed.Event`` is set (each task's watcher stops
its kernel), every future is cancelled, and the build waits for the running tasks to
report their end before raising ``KeyboardInterrupt``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import distributed

from ..config import D2lConfig
from .dask_files import FileShipper
from .dask_run import CLEANUP_TIMEOUT, DaskRun
from .executor import Callbacks, ExecutorError, ExpectedSeconds, order_jobs
from .model import Job, JobResult


class DaskExecutor:
    """Runs jobs on a Dask cluster (a context manager: connected on entry)."""

    def __init__(self, cfg: D2lConfig, srcdir: str, address: str,
                 callbacks: Callbacks) -> None:
        self.cfg = cfg
        self.srcdir = os.path.abspath(srcdir)
        self.address = address
        self.callbacks = callbacks
        self.client: Any = None
        self.files: FileShipper | None = None
        """The shipper of the book's files (its ``stats``: what the last run sent)."""

    def __enter__(self) -> DaskExecutor:
        timeout = self.cfg.executor_connect_timeout
        try:
            self.client = distributed.Client(  # type: ignore[no-untyped-call,unused-ignore]
                self.address, timeout=timeout, set_as_default=False)
        except Exception as err:
            raise ExecutorError(
                f"d2l_executor = {self.cfg.executor!r}: cannot reach the Dask scheduler at "
                f"{self.address} within {timeout:g} s ({_one_line(err)})") from None
        self.files = FileShipper(self.client, self.cfg, self.srcdir, self._notice)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.close(timeout=CLEANUP_TIMEOUT)
            self.client = None

    # ------------------------------------------------------------------ one run
    def run(self, jobs: Sequence[Job], expected_seconds: ExpectedSeconds | None = None,
            ) -> dict[tuple[str, str], JobResult]:
        if not jobs:
            return {}
        assert self.files is not None, "use DaskExecutor as a context manager"
        try:
            workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
            spec = self.files.prepare()
        except Exception as err:  # (the scheduler went away since the connection)
            raise ExecutorError(f"d2l_executor = {self.cfg.executor!r}: the Dask scheduler "
                                f"at {self.address} failed: {_one_line(err)}") from None
        if not workers:
            self._notice(f"the Dask scheduler at {self.address} has no worker yet: the "
                         "jobs wait for one")
        capacity = max([int(w.get("resources", {}).get("GPU", 0)) for w in workers.values()]
                       or [0])
        threads = sum(int(w.get("nthreads", 1)) for w in workers.values()) or 1
        ordered = order_jobs(jobs, capacity, expected_seconds)
        return DaskRun(self, spec, capacity, threads).execute(ordered)

    def _notice(self, text: str) -> None:
        if self.callbacks.on_notice is not None:
            self.callbacks.on_notice(text)

    def portable(self, job: Job, gpus: int) -> Job:
        """``job`` without this machine's paths: its folder relative to the source
        folder, the user's variables only (the worker puts its own paths in)."""
        cwd = os.path.relpath(job.cwd or self.srcdir, self.srcdir)
        if cwd.startswith(os.pardir):
            cwd = "."
        source = os.path.basename(job.source_path)
        return replace(job, cwd=cwd.replace(os.sep, "/"), source_path=source, gpus=gpus,
                       env=tuple(sorted(self.cfg.env_for(job.framework).items())))


def _one_line(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__
