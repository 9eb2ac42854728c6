"""What runs on a Dask worker (see :mod:`.dask_executor` for the build machine's side).

* :func:`inventory` and :func:`put_blobs` (through ``Client.run``, before the jobs):
  which of a manifest's files this worker's :class:`~.workspace.BlobStore` lacks, and
  storing them;
* :func:`run_task`, one task per job: find the book's files (a folder the worker sees
  with exactly these files, else the workspace of the manifest), take GPU ids, run the
  job with :func:`.kernel.run_job` (the worker's own kernelspecs) and return the result
  as JSON. A thread stops the kernel when the build cancels (its ``distributed.Event``)
  or drops the task (a cancelled future, a build that went away).

GPUs: a job with ``gpus = k`` was submitted with ``resources={"GPU": k}``; it takes ``k``
ids from this worker's ``CUDA_VISIBLE_DEVICES`` (:class:`GpuSlots`: two tasks never hold
one id); CPU jobs see ``CUDA_VISIBLE_DEVICES`` empty.

Kernels: forked as on the build machine (:mod:`.zygote`, ``d2l_fork_kernels`` and
``d2l_fork_setup_imports``, sent in the :class:`TaskSpec`), from fork servers that each
worker process keeps for one build (:class:`.forks.BuildForks`): started by the build's first
task there, ended when the build ends (:func:`end_forks`, through ``Client.run``), once
no task of that build has run for :data:`FORKS_IDLE` seconds (a build that died), or with
the worker.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .forks import BuildForks
from .kernel import run_job
from .model import Job, JobResult
from .workspace import BlobStore, MissingBlobs, tree_matches, with_library

CANCEL_POLL = 1.0
"""Seconds between two looks at the build's cancel event."""

_lock = threading.Lock()
_roots: dict[tuple[str, str], str] = {}
"""(manifest digest, shared candidate) → the folder found for it (memo of this process)."""


@dataclass(frozen=True)
class TaskSpec:
    """What every task of one build shares (sent with each task)."""

    build: str
    """The build's id; ``d2l-cancel-<id>`` names its cancel event, ``d2l-<id>`` its
    topic of start and end events."""
    files: dict[str, str]
    """The manifest (relative path → sha256)."""
    manifest: str
    """Its digest: the workspace's name."""
    shared: str | None = None
    """A folder to use as it is if this worker sees exactly the manifest's files there."""
    lib_dir: str | None = None
    """The package's folder relative to the source folder (None: no library)."""
    fork_kernels: bool = True
    """``d2l_fork_kernels``."""
    fork_setup_imports: bool = True
    """``d2l_fork_setup_imports``."""

    @property
    def topic(self) -> str:
        return f"d2l-{self.build}"

    @property
    def event(self) -> str:
        return f"d2l-cancel-{self.build}"


class GpuSlots:
    """A worker's GPU ids (its ``CUDA_VISIBLE_DEVICES``), each held by one task at a time."""

    def __init__(self, ids: Sequence[str]) -> None:
        self.free = list(ids)
        self.lock = threading.Lock()

    def take(self, count: int) -> list[str]:
        """Up to ``count`` free ids (fewer only when the worker announces more GPUs in
        its resources than it has ids)."""
        with self.lock:
            taken, self.free = self.free[:count], self.free[count:]
            return taken

    def give_back(self, ids: Sequence[str]) -> None:
        with self.lock:
            self.free.extend(i for i in ids if i not in self.free)


_slots: dict[str, GpuSlots] = {}


def gpu_slots(worker: str) -> GpuSlots:
    """The slots of the worker ``worker`` (by address: one process may hold several)."""
    from .gpus import detect_gpus

    with _lock:
        if worker not in _slots:
            _slots[worker] = GpuSlots(detect_gpus())
        return _slots[worker]


# ------------------------------------------------------------------ Client.run


async def inventory(files: Mapping[str, str], manifest: str,
                    shared: str | None) -> dict[str, Any]:
    """This worker's store, whether it uses ``shared`` as it is, and the digests its
    store lacks (none when ``shared`` or the workspace serves). (Out of the worker's
    event loop: hashing a shared folder takes a while.)"""
    return await asyncio.to_thread(_inventory, files, manifest, shared)


async def put_blobs(blobs: Mapping[str, bytes]) -> int:
    """Store file contents by digest; return how many."""
    return await asyncio.to_thread(_put_blobs, blobs)


async def end_forks(build: str) -> int:
    """End the kernel fork servers this worker process keeps for ``build`` (at the end
    of the build)."""
    return await asyncio.to_thread(BuildForks.end, build)


def _inventory(files: Mapping[str, str], manifest: str, shared: str | None) -> dict[str, Any]:
    store = BlobStore()
    root = _known_root(manifest, files, shared, store)
    return {"store": store.identity(), "shared": root is not None and root == shared,
            "missing": [] if root is not None else store.missing(files.values())}


def _put_blobs(blobs: Mapping[str, bytes]) -> int:
    store = BlobStore()
    for digest, data in blobs.items():
        store.put(digest, data)
    return len(blobs)


def _known_root(manifest: str, files: Mapping[str, str], shared: str | None,
                store: BlobStore) -> str | None:
    """The folder already holding the manifest's files: ``shared`` if it matches, else
    an existing workspace; None when the workspace is still to be made."""
    with _lock:
        known = _roots.get((manifest, shared or ""))
    if known is not None:
        return known
    root = None
    if shared and tree_matches(shared, files):
        root = shared
    else:
        candidate = os.path.join(store.root, "workspaces", manifest)
        if os.path.isdir(candidate):
            root = candidate
    if root is not None:
        with _lock:
            _roots[(manifest, shared or "")] = root
    return root


def book_root(spec: TaskSpec) -> str:
    """The folder of the book's files for this task; raises
    :class:`~.workspace.MissingBlobs`."""
    store = BlobStore()
    root = _known_root(spec.manifest, spec.files, spec.shared, store)
    if root is None or root != spec.shared:
        root = store.workspace(spec.manifest, spec.files)  # (touched: in use)
        with _lock:
            _roots[(spec.manifest, spec.shared or "")] = root
    return root


def localize(job: Job, root: str, lib_dir: str | None) -> Job:
    """``job`` (portable: relative ``cwd``, the user's variables) at ``root``: its page's
    folder as working directory, the package's folder first on ``PYTHONPATH``."""
    cwd = os.path.normpath(os.path.join(root, job.cwd or "."))
    os.makedirs(cwd, exist_ok=True)
    lib = os.path.normpath(os.path.join(root, lib_dir)) if lib_dir is not None else None
    env = with_library(dict(job.env), lib)
    return replace(job, cwd=cwd, env=tuple(sorted(env.items())))


# ------------------------------------------------------------------ the task


def run_task(job: Job, spec: TaskSpec, fallback: bool = False) -> dict[str, Any]:
    """Run one portable job on this worker; the result as JSON (``to_json``), or
    ``{"missing": [digests], "worker": address}`` when files must be sent first.
    ``fallback``: a GPU job run on the CPU (no worker has a GPU)."""
    worker = _worker()
    address = getattr(worker, "address", "") or "local"
    key = _current_key()
    _publish(worker, spec, "start", job, key)
    try:
        try:
            root = book_root(spec)
        except MissingBlobs as err:
            return {"missing": err.digests, "worker": address}
        local = localize(job, root, spec.lib_dir)
        # (the worker, its client and the task's key are known in this thread only)
        stop = _Stop(worker, key, _cancel_event(spec))
        return _run(local, fallback, gpu_slots(address), stop, spec).to_json()
    except Exception as err:  # the workspace can't be made (disk full...), or a bug
        return _failure(job, address, err).to_json()
    finally:
        _publish(worker, spec, "end", job, key)
        from .scheduler import close_thread_loop

        close_thread_loop()


def _failure(job: Job, address: str, err: Exception) -> JobResult:
    """A machinery failure (``execution failed: ...``: not cached)."""
    return JobResult(job.docname, job.framework, "error",
                     cell_ids=[cid for cid, _ in job.cells],
                     error={"cell": 0, "ename": type(err).__name__, "evalue": str(err),
                            "traceback": [], "source": job.source_path,
                            "message": f"execution failed: on the Dask worker {address}: "
                                       f"{type(err).__name__}: {err}"})


@dataclass
class _Stop:
    """What tells a running task to stop: its build's cancel event, or the worker
    dropping the task."""

    worker: Any
    key: Any
    event: Any

    def watch(self, cancel: threading.Event, done: threading.Event) -> None:
        """Set ``cancel`` when the build sets its event or the task is dropped; return
        once ``done`` is set (a thread's body)."""
        while not done.is_set():
            if _task_dropped(self.worker, self.key):
                cancel.set()
                return
            try:
                if self.event is not None and self.event.wait(timeout=CANCEL_POLL):
                    cancel.set()
                    return
                if self.event is None and done.wait(CANCEL_POLL):
                    return
            except Exception:  # the scheduler is unreachable: look again later
                if done.wait(CANCEL_POLL):
                    return


def _run(job: Job, fallback: bool, slots: GpuSlots, stop: _Stop, spec: TaskSpec) -> JobResult:
    ids = slots.take(job.gpus) if job.gpus > 0 and not fallback else []
    cancel = threading.Event()
    done = threading.Event()
    watcher = threading.Thread(target=stop.watch, args=(cancel, done),
                               name="d2l-cancel-watch", daemon=True)
    watcher.start()
    try:
        with BuildForks.of(spec.build if spec.fork_kernels else None, spec.fork_setup_imports):
            result = run_job(job, ids, cancel=cancel)
        result.gpu_fallback = fallback or (job.gpus > 0 and not ids)
        return result
    finally:
        done.set()
        slots.give_back(ids)


atexit.register(BuildForks.end)


def _worker() -> Any:
    with contextlib.suppress(Exception):
        from distributed import get_worker

        return get_worker()
    return None


def _current_key() -> Any:
    with contextlib.suppress(Exception):
        from distributed.worker import thread_state  # type: ignore[attr-defined,unused-ignore]

        return thread_state.key
    return None


def _cancel_event(spec: TaskSpec) -> Any:
    """The build's cancel event, bound to this worker's client."""
    with contextlib.suppress(Exception):
        from distributed import Event, get_client

        return Event(spec.event, client=get_client())  # type: ignore[no-untyped-call,unused-ignore]
    return None


def _task_dropped(worker: Any, key: Any) -> bool:
    """Whether the worker no longer wants the task's result (its future was cancelled or
    its client went away): the scheduler released it."""
    if worker is None or key is None:
        return False
    with contextlib.suppress(Exception):
        task = worker.state.tasks.get(key)
        return task is None or task.state in ("cancelled", "released", "forgotten")
    return False


def _publish(worker: Any, spec: TaskSpec, what: str, job: Job, key: Any) -> None:
    """Tell the build a job started or ended (its progress lines; a job lost with its
    worker before it started is no attempt)."""
    if worker is None:
        return
    with contextlib.suppress(Exception):
        worker.log_event(spec.topic, {"what": what, "docname": job.docname,
                                      "framework": job.framework, "key": str(key)})
