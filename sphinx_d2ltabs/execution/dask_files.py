"""The book's files for Dask workers, from the build machine's side (:mod:`.workspace`
holds the manifest, the store and the workspaces; :mod:`.dask_worker` their worker side).

:meth:`FileShipper.prepare`, once per build, before any task: the manifest of the
generated package, the ``d2l_dependencies`` and the ``d2l_executor_files`` files; each
worker says (``Client.run``) whether it sees the shared folder with exactly these files
and which contents its store lacks; the missing contents go once to each store (worker
processes of one machine share one). A worker that joins later asks when its first job
starts (:meth:`FileShipper.ship`).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..config import D2lConfig
from . import dask_worker
from .dask_worker import TaskSpec
from .workspace import Manifest, build_manifest, read_file

SHIP_CHUNK = 16 << 20
"""Bytes of file contents sent to a worker in one message."""


class FileShipper:
    """Gets a build's files to the workers of ``client``."""

    def __init__(self, client: Any, cfg: D2lConfig, srcdir: str,
                 notice: Callable[[str], None]) -> None:
        self.client = client
        self.cfg = cfg
        self.srcdir = srcdir
        self.notice = notice
        self.manifest = Manifest()
        self.stats: dict[str, Any] = {}
        """What :meth:`prepare` found and sent (files, bytes, seconds; for benchmarks)."""

    def build_manifest(self) -> Manifest:
        cfg = self.cfg
        patterns = []
        if cfg.lib_enable:
            patterns.append(os.path.join(cfg.lib_dir, cfg.lib_package, "**"))
        return build_manifest(self.srcdir, [*patterns, *cfg.dependencies,
                                            *cfg.executor_files])

    def shared_candidate(self) -> str | None:
        """The folder workers may use as it is (``d2l_executor_workspace``)."""
        mode = self.cfg.executor_workspace
        if mode == "ship":
            return None
        return self.srcdir if mode == "auto" else mode

    def prepare(self) -> TaskSpec:
        """Every connected worker ready to run this build's jobs; the tasks' spec."""
        start = time.monotonic()
        self.manifest = manifest = self.build_manifest()
        shared = self.shared_candidate()
        answers = self.client.run(dask_worker.inventory, manifest.files, manifest.digest,
                                  shared, on_error="return")
        stores: dict[str, tuple[str, list[str]]] = {}
        in_place = 0
        for address, answer in sorted(answers.items()):
            if not isinstance(answer, dict):
                self.notice(f"Dask worker {address} can't prepare the book's files "
                            f"({type(answer).__name__}: {answer}); its jobs will fail")
                continue
            in_place += bool(answer.get("shared"))
            if answer.get("missing"):
                stores.setdefault(str(answer.get("store")), (address, answer["missing"]))
        sent = [self.ship(address, missing) for address, missing in stores.values()]
        files, size = sum(n for n, _ in sent), sum(b for _, b in sent)
        self.stats = {"files": len(manifest.files), "bytes": manifest.total_bytes,
                      "sent_files": files, "sent_bytes": size, "stores": len(stores),
                      "in_place": in_place, "seconds": time.monotonic() - start}
        parts = [f"{in_place} worker(s) use {shared} as it is" if in_place else "",
                 f"sent {files} file(s), {size / 1e6:.1f} MB, to {len(stores)} store(s)"
                 if files else ""]
        if any(parts):
            self.notice("Dask: the book's files: " + "; ".join(p for p in parts if p))
        lib_dir = self.cfg.lib_dir.replace(os.sep, "/") if self.cfg.lib_enable else None
        return TaskSpec(uuid.uuid4().hex, dict(manifest.files), manifest.digest, shared,
                        lib_dir, self.cfg.fork_kernels, self.cfg.fork_setup_imports)

    def ship(self, address: str, digests: Sequence[str]) -> tuple[int, int]:
        """Send the contents ``digests`` to the store of the worker ``address``; return
        (files, bytes) sent. Problems are notices (its jobs ask again, then fail)."""
        chunk: dict[str, bytes] = {}
        count = size = pending = 0
        for digest, rel in self.manifest.paths_of(digests).items():
            try:
                chunk[digest] = read_file(self.srcdir, rel)
            except OSError as err:
                self.notice(f"Dask: cannot read {rel} to send it: {err.strerror or err}")
                continue
            count, size, pending = count + 1, size + len(chunk[digest]), pending + len(
                chunk[digest])
            if pending >= SHIP_CHUNK:
                self._put(address, chunk)
                chunk, pending = {}, 0
        if chunk:
            self._put(address, chunk)
        return count, size

    def _put(self, address: str, blobs: Mapping[str, bytes]) -> None:
        try:
            answer = self.client.run(dask_worker.put_blobs, dict(blobs), workers=[address],
                                     on_error="return").get(address)
        except Exception as err:  # (the worker went away)
            answer = err
        if not isinstance(answer, int):
            self.notice(f"Dask worker {address} did not store the book's files: {answer}")
