"""The book's files where a remote kernel runs: a manifest, a blob store, workspaces
(Sphinx-free, Dask-free).

On the build machine, :func:`build_manifest` lists what a job may read besides its
cells: the generated ``#@save`` package, the ``d2l_dependencies`` files and the
``d2l_executor_files`` globs (``img/**``, ``data/**`` by default), as ``{path relative to
the source folder: sha256}``. Its own digest names the set.

On a worker machine, a :class:`BlobStore` keeps file contents by digest
(``blobs/<d[:2]>/<d>``, read-only, each written atomically: shared safely by every worker
process of the machine and kept across builds, so a file is sent once per machine) and
builds from them one *workspace* folder per manifest (``workspaces/<digest>/``: the
files hard-linked, or copied where links fail, at their relative paths). A workspace is
made in a temporary folder and renamed into place, so a job sees it whole or not at all.
A kernel then runs with its page's folder inside it as working directory and the
package's folder on its ``PYTHONPATH``: the same layout as the source folder, at a path
of the worker's own.

Alternatively a folder the worker sees already holding exactly these files (a shared
file system) is used as it is (:func:`tree_matches`).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import shutil
import stat
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..fileio import atomic_write

STORE_VAR = "D2L_WORKER_STORE"
"""On a worker: the folder of its blob store and workspaces (default: a folder of the
user's under the temporary folder)."""
WORKSPACE_MAX_AGE = 7 * 86400.0
"""A workspace no job used for this long is removed when another one is made."""
CHUNK = 1 << 20


class MissingBlobs(Exception):
    """The store lacks the contents of some files of a manifest."""

    def __init__(self, digests: Sequence[str]) -> None:
        super().__init__(f"{len(digests)} file(s) missing")
        self.digests = list(digests)


@dataclass(frozen=True)
class Manifest:
    """The files a job may read, by path relative to the source folder."""

    files: dict[str, str] = field(default_factory=dict)
    """Relative path (``/``-separated) → sha256 hex of its content."""
    sizes: dict[str, int] = field(default_factory=dict)
    """Relative path → size in bytes."""

    @property
    def digest(self) -> str:
        text = json.dumps(self.files, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes.values())

    def paths_of(self, digests: Iterable[str]) -> dict[str, str]:
        """digest → one relative path holding it, for ``digests``."""
        wanted = set(digests)
        out: dict[str, str] = {}
        for rel, digest in sorted(self.files.items()):
            if digest in wanted:
                out.setdefault(digest, rel)
        return out


def file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def build_manifest(srcdir: str, patterns: Iterable[str]) -> Manifest:
    """The files matched by ``patterns`` (globs relative to ``srcdir``, ``**``
    recursive); files outside ``srcdir`` and unreadable ones are left out."""
    root = os.path.abspath(srcdir)
    files: dict[str, str] = {}
    sizes: dict[str, int] = {}
    for pattern in dict.fromkeys(patterns):
        for path in sorted(glob.glob(os.path.join(root, pattern), recursive=True)):
            rel = os.path.relpath(path, root)
            if rel.startswith(os.pardir) or not os.path.isfile(path):
                continue
            key = rel.replace(os.sep, "/")
            if key in files:
                continue
            try:
                files[key] = file_digest(path)
                sizes[key] = os.path.getsize(path)
            except OSError:
                continue
    return Manifest(files, sizes)


def read_file(srcdir: str, rel: str) -> bytes:
    with open(os.path.join(srcdir, *rel.split("/")), "rb") as fh:
        return fh.read()


def tree_matches(root: str, files: Mapping[str, str]) -> bool:
    """Whether the folder ``root`` holds every file of ``files`` with that content."""
    if not os.path.isdir(root):
        return False
    for rel, digest in files.items():
        try:
            if file_digest(os.path.join(root, *rel.split("/"))) != digest:
                return False
        except OSError:
            return False
    return True


def with_library(env: Mapping[str, str], lib_path: str | None) -> dict[str, str]:
    """``env`` with ``lib_path`` first on ``PYTHONPATH`` (before the value ``env`` sets,
    else this process's)."""
    out = dict(env)
    if lib_path:
        existing = out.get("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
        out["PYTHONPATH"] = lib_path + (os.pathsep + existing if existing else "")
    return out


def default_store_dir() -> str:
    configured = os.environ.get(STORE_VAR, "")
    if configured:
        return configured
    user = os.getuid() if hasattr(os, "getuid") else "user"
    return os.path.join(tempfile.gettempdir(), f"sphinx_d2ltabs-worker-{user}")


class BlobStore:
    """A machine's content-addressed file store and the workspaces built from it."""

    def __init__(self, root: str | None = None) -> None:
        self.root = os.path.abspath(root or default_store_dir())

    def identity(self) -> str:
        """Tells stores apart: workers answering the same share one store (one machine's
        folder, or one shared folder)."""
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        st = os.stat(self.root)
        return f"{os.uname().nodename}:{st.st_dev}:{st.st_ino}:{self.root}"

    def blob_path(self, digest: str) -> str:
        return os.path.join(self.root, "blobs", digest[:2], digest)

    def missing(self, digests: Iterable[str]) -> list[str]:
        return sorted({d for d in digests if not os.path.isfile(self.blob_path(d))})

    def put(self, digest: str, data: bytes) -> None:
        """Store ``data`` under ``digest``; raises ``ValueError`` if they disagree."""
        if hashlib.sha256(data).hexdigest() != digest:
            raise ValueError(f"blob {digest[:12]}...: the content does not match its digest")
        path = self.blob_path(digest)
        if os.path.isfile(path):
            return
        atomic_write(path, data)
        with contextlib.suppress(OSError):
            os.chmod(path, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)

    def workspace(self, name: str, files: Mapping[str, str]) -> str:
        """The workspace ``name`` (a manifest digest) holding ``files``, made from the
        blobs if it does not exist; raises :class:`MissingBlobs`."""
        final = os.path.join(self.root, "workspaces", name)
        if os.path.isdir(final):
            with contextlib.suppress(OSError):
                os.utime(final)  # in use: not pruned
            return final
        missing = self.missing(files.values())
        if missing:
            raise MissingBlobs(missing)
        parent = os.path.dirname(final)
        os.makedirs(parent, exist_ok=True)
        tmp = os.path.join(parent, f".tmp-{name}-{uuid.uuid4().hex[:8]}")
        try:
            for rel, digest in sorted(files.items()):
                target = os.path.join(tmp, *rel.split("/"))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                _link_or_copy(self.blob_path(digest), target)
            os.makedirs(tmp, exist_ok=True)  # (an empty manifest)
            try:
                os.rename(tmp, final)
            except OSError:
                if not os.path.isdir(final):  # (else: another worker made it first)
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.prune(keep=name)
        return final

    def prune(self, keep: str = "", max_age: float = WORKSPACE_MAX_AGE) -> int:
        """Remove workspaces unused for ``max_age`` seconds (and temporary ones left by a
        killed worker); return how many."""
        folder = os.path.join(self.root, "workspaces")
        limit = time.time() - max_age
        removed = 0
        with contextlib.suppress(OSError):
            for name in os.listdir(folder):
                path = os.path.join(folder, name)
                with contextlib.suppress(OSError):
                    if name != keep and os.path.getmtime(path) < limit:
                        shutil.rmtree(path)
                        removed += 1
        return removed


def _link_or_copy(source: str, target: str) -> None:
    """A hard link (the blob is read-only: a kernel can't change the store through it),
    else a copy (another file system)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
