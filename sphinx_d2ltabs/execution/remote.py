"""The shared remote tier of the execution cache (fsspec): read-through, optional push.

Layout under the URL, content-addressed as in Bazel's remote cache::

    blobs/<d[:2]>/<d>.json   an entry (the JSON a local folder holds), named by its sha256 d
    keys/<k[:2]>/<k>         the manifest of cache key k: {"sha256": d, "size": n}

A pusher writes the blob, then the manifest, and never replaces a manifest (first writer
wins); a reader fetches the manifest, then the blob, and checks its digest, its JSON and
its key. An HTTP(S) mirror of such a folder (any static file server) is read only.

Reading never raises. A missing manifest (404) is a miss; so is a manifest the remote
refuses (401, 403: S3 and GCS answer so for a missing object when listing is denied),
with one notice. A remote that can't be reached (refused, DNS, timeout, 5xx) is reported
once and not asked again in this build; an entry that can't be used (garbage, wrong
digest) is a miss, reported once per build.
The once-per-build memory is the ``memo`` set, shared by every tier a build opens.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..fileio import TMP_PREFIX, atomic_write, file_mode
from .model import JobResult

MANIFEST_LIMIT = 4096
"""A manifest longer than this is garbage (an HTML page, a wrong URL)."""
CHUNK = 64
"""Keys fetched in one concurrent batch."""
HTTP = ("http://", "https://")
UNREACHABLE_ERRNOS = (errno.ECONNREFUSED, errno.ECONNRESET, errno.EHOSTUNREACH,
                      errno.ENETUNREACH, errno.ETIMEDOUT, errno.ECONNABORTED)
_LOCK = threading.Lock()


class RemoteConfigError(ValueError):
    """The remote can't be opened at all (unknown protocol, missing library)."""


class RemoteTimeout(TimeoutError):
    """An operation did not end within its budget."""


class Unusable(ValueError):
    """The remote answered, with something that is no valid entry."""


@dataclass
class RemoteEntry:
    """A verified entry of the remote."""

    key: str
    text: str
    """The entry's JSON, as a local folder stores it."""
    result: JobResult


def is_http(url: str) -> bool:
    return url.lower().startswith(HTTP)


def shown_url(url: str) -> str:
    """``url`` without credentials (``https://user:token@host`` → ``https://***@host``)."""
    return re.sub(r"^([a-zA-Z][\w+.-]*://)[^/@]*@", r"\1***@", url)


def blob_text(key: str, result: JobResult) -> str:
    """The entry JSON of ``result`` under ``key`` (what local folders and blobs hold)."""
    data = result.to_json()
    data["key"] = key
    return json.dumps(data, ensure_ascii=False)


def verify(key: str, manifest: bytes, blob: bytes | None = None) -> tuple[str, RemoteEntry | None]:
    """The digest a manifest names, and with ``blob`` the verified entry; raises
    :class:`Unusable` naming what is wrong."""
    try:
        if len(manifest) > MANIFEST_LIMIT:
            raise ValueError(f"{len(manifest)} bytes")
        data = json.loads(manifest.decode("utf-8"))
        digest = data["sha256"]
        if not (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest)):
            raise ValueError("no sha256 digest")
    except (ValueError, TypeError, KeyError, RecursionError) as err:
        raise Unusable(f"the manifest is not one ({_reason(err)})") from None
    if blob is None:
        return digest, None
    if hashlib.sha256(blob).hexdigest() != digest:
        raise Unusable("the entry does not match its sha256 digest")
    try:
        text = blob.decode("utf-8")
        result = JobResult.from_json(json.loads(text))
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as err:
        raise Unusable(f"the entry is corrupt ({_reason(err)})") from None
    if result.key != key:
        raise Unusable("the entry is stored under another key")
    return digest, RemoteEntry(key, text, result)


def _reason(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:160] if text else type(err).__name__


def unreachable(err: BaseException) -> bool:
    """Whether ``err`` means the remote can't be talked to (as opposed to a bad answer)."""
    status = getattr(err, "status", None)
    if isinstance(status, int):  # an HTTP error status (aiohttp's ClientResponseError)
        return status >= 500
    if isinstance(err, (TimeoutError, ConnectionError)):
        return True
    if type(err).__module__.split(".")[0] == "aiohttp":  # connector, disconnects, ...
        return True
    return isinstance(err, OSError) and err.errno in UNREACHABLE_ERRNOS


def denied(err: BaseException) -> bool:
    """Whether ``err`` is an "access denied" answer (HTTP 401, 403; PermissionError)."""
    return isinstance(err, PermissionError) or getattr(err, "status", None) in (401, 403)


def _guarded(fn: Callable[[], Any], budget: float) -> Any:
    """``fn()`` in a daemon thread, given up after ``budget`` seconds (a hung mount or a
    backend without its own timeout never blocks the build, nor its exit)."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as err:  # handed to the caller
            box["error"] = err
        finally:
            done.set()

    threading.Thread(target=target, name="d2l-remote", daemon=True).start()
    if not done.wait(budget):
        raise RemoteTimeout(f"no answer within {budget:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def open_filesystem(url: str, timeout: float, options: dict[str, Any]) -> tuple[Any, str]:
    """(fsspec filesystem, root path) of ``url``; raises :class:`RemoteConfigError`."""
    try:
        import fsspec
    except ImportError:
        raise RemoteConfigError("a remote cache needs fsspec: pip install "
                                "'sphinx_d2ltabs[distributed]'") from None
    kwargs = dict(options)
    if is_http(url):
        import aiohttp

        client = dict(kwargs.pop("client_kwargs", {}))
        client.setdefault("timeout", aiohttp.ClientTimeout(total=timeout))
        kwargs["client_kwargs"] = client
    try:
        fs, root = fsspec.core.url_to_fs(url, **kwargs)
    except (ImportError, ValueError, TypeError) as err:
        raise RemoteConfigError(f"{shown_url(url)} can't be opened: {_reason(err)}") from None
    return fs, str(root).rstrip("/")


class RemoteTier:
    """One remote cache, for one build's tiers.

    ``memo`` holds what this build already knows of the remote (down, problems
    reported); ``on_problem`` gets each warning, ``on_notice`` each notice, at most once
    per kind and build.
    """

    def __init__(self, url: str, *, timeout: float = 10.0, push: bool = False,
                 options: dict[str, Any] | None = None, memo: set[str] | None = None,
                 on_problem: Callable[[str], None] | None = None,
                 on_notice: Callable[[str], None] | None = None) -> None:
        if push and is_http(url):
            raise RemoteConfigError(f"{shown_url(url)} is an HTTP mirror, which is read "
                                    "only: push to the storage it mirrors (file://, s3://...)")
        self.url = url
        self.timeout = float(timeout)
        self.push_enabled = push
        self.memo = memo if memo is not None else set()
        self.on_problem = on_problem or (lambda message: None)
        self.on_notice = on_notice or (lambda message: None)
        self.fs, self.root = open_filesystem(url, self.timeout, options or {})
        self.local = type(self.fs).__name__ == "LocalFileSystem"

    # ------------------------------------------------------------------ layout
    def manifest_path(self, key: str) -> str:
        if not re.fullmatch(r"[0-9A-Za-z_-]+", key):
            raise ValueError(f"invalid cache key {key!r}")
        return f"{self.root}/keys/{key[:2]}/{key}"

    def blob_path(self, digest: str) -> str:
        return f"{self.root}/blobs/{digest[:2]}/{digest}.json"

    def where(self, key: str) -> str:
        return shown_url(f"{self.url.rstrip('/')}/keys/{key[:2]}/{key}")

    # ------------------------------------------------------------------ state
    @property
    def down(self) -> bool:
        return f"remote-down:{self.url}" in self.memo

    def _once(self, kind: str, message: str, notice: bool = False) -> None:
        with _LOCK:
            mark = f"remote-{kind}:{self.url}"
            if mark in self.memo:
                return
            self.memo.add(mark)
        (self.on_notice if notice else self.on_problem)(message)

    def _failed(self, err: BaseException, key: str = "") -> None:
        """Report a failure: the remote is down (not asked again), or gave garbage."""
        url = shown_url(self.url)
        if unreachable(err):
            self._once("down", f"the remote cache {url} can't be reached ({_reason(err)}): "
                       "it is not used for the rest of this build (what it would have "
                       "given runs here)")
        else:
            self._once("unusable", f"the remote cache {url} gave an unusable entry for "
                       f"key {key[:16]}... ({_reason(err)}): it runs here (other such "
                       "entries of this build are not reported)")

    def _call(self, fn: Callable[[], Any], budget: float | None = None) -> Any:
        return _guarded(fn, budget if budget is not None else 2 * self.timeout + 1)

    # ------------------------------------------------------------------ reading
    def load(self, key: str) -> RemoteEntry | None:
        """The verified entry of ``key``; None for a miss or a problem (reported)."""
        return self.fetch_many([key]).get(key)

    def fetch_many(self, keys: Iterable[str]) -> dict[str, RemoteEntry]:
        """The verified entries of ``keys`` found on the remote, fetched concurrently
        (manifests, then blobs: two round trips per batch, not two per key)."""
        found: dict[str, RemoteEntry] = {}
        wanted = list(dict.fromkeys(keys))
        for start in range(0, len(wanted), CHUNK):
            if self.down:
                break
            found.update(self._fetch_chunk(wanted[start:start + CHUNK]))
        return found

    def _fetch_chunk(self, keys: Sequence[str]) -> dict[str, RemoteEntry]:
        manifests = self._cat({k: self.manifest_path(k) for k in keys})
        digests: dict[str, str] = {}
        for key, data in manifests.items():
            try:
                digests[key] = verify(key, data)[0]
            except Unusable as err:
                self._failed(err, key)
        blobs = self._cat({k: self.blob_path(d) for k, d in digests.items()}, missing=True)
        found: dict[str, RemoteEntry] = {}
        for key, data in blobs.items():
            try:
                entry = verify(key, manifests[key], data)[1]
            except Unusable as err:
                self._failed(err, key)
            else:
                if entry is not None:
                    found[key] = entry
        return found

    def _cat(self, paths: dict[str, str], missing: bool = False) -> dict[str, bytes]:
        """``{name: bytes}`` of the files that exist; problems reported (``missing``: a
        file that does not exist is one too: a manifest names a blob that is not there)."""
        if not paths or self.down:
            return {}
        try:
            if self.fs.async_impl and len(paths) > 1:
                got = self._call(lambda: self.fs.cat(list(paths.values()), on_error="return"))
                strip = type(self.fs)._strip_protocol
                raw = {name: got.get(p, got.get(strip(p))) for name, p in paths.items()}
            else:
                raw = {name: self._cat_one(p) for name, p in paths.items()}
        except Exception as err:  # the whole batch failed: the remote is down
            self._failed(err)
            return {}
        out: dict[str, bytes] = {}
        for name, value in raw.items():
            if isinstance(value, bytes):
                out[name] = value
            elif isinstance(value, FileNotFoundError) or value is None:
                if missing:
                    self._failed(Unusable("the manifest names a blob that is missing"), name)
            elif isinstance(value, BaseException) and denied(value) and not missing:
                self._once("denied", f"the remote cache {shown_url(self.url)} refuses to "
                           f"give some keys ({_reason(value)}): taken as missing (object "
                           "stores answer so for a missing object when listing is denied)",
                           notice=True)
            elif isinstance(value, BaseException):
                self._failed(value, name)
                if self.down:
                    break
        return out

    def _cat_one(self, path: str) -> bytes | BaseException:
        try:
            return bytes(self._call(lambda: self.fs.cat_file(path)))
        except FileNotFoundError as err:
            return err
        except Exception as err:
            if unreachable(err):
                raise
            return err

    # ------------------------------------------------------------------ pushing
    def push(self, key: str, text: str) -> str:
        """Upload an entry: ``pushed``, ``exists`` (first writer wins: an entry already
        there is never replaced) or ``failed`` (reported once per build)."""
        if not self.push_enabled or self.down or f"remote-nopush:{self.url}" in self.memo:
            return "failed"
        data = text.encode("utf-8")
        digest = hashlib.sha256(data).hexdigest()
        manifest = json.dumps({"sha256": digest, "size": len(data)}).encode()
        budget = 2 * self.timeout + 1 + len(data) / 1e6  # (and at least 1 MB/s)
        try:
            return str(self._call(lambda: self._push(key, digest, data, manifest), budget))
        except Exception as err:
            if unreachable(err):
                self._failed(err)
            else:
                self._once("nopush", f"can't push results to the remote cache "
                           f"{shown_url(self.url)} ({_reason(err)}): this build's results "
                           "are kept locally only")
            return "failed"

    def _push(self, key: str, digest: str, data: bytes, manifest: bytes) -> str:
        path = self.manifest_path(key)
        if self.fs.exists(path):
            return "exists"
        blob = self.blob_path(digest)
        if self.local:
            atomic_write(blob, data)  # (the same bytes whoever writes them)
            return "pushed" if _link_new(path, manifest) else "exists"
        self.fs.makedirs(blob.rsplit("/", 1)[0], exist_ok=True)
        self.fs.pipe_file(blob, data)
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        try:
            self.fs.pipe_file(path, manifest, mode="create")
        except FileExistsError:
            return "exists"
        except TypeError:  # a backend without create mode: check, then write
            if self.fs.exists(path):
                return "exists"
            self.fs.pipe_file(path, manifest)
        return "pushed"


def _link_new(path: str, data: bytes) -> bool:
    """Create ``path`` with ``data``, complete, unless it exists (False): a temporary file,
    then a hard link, which fails on an existing name."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            with contextlib.suppress(OSError):
                os.fchmod(fh.fileno(), file_mode())
            fh.write(data)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError as err:  # a file system without hard links
            if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            if os.path.exists(path):
                return False
            os.replace(tmp, path)
        return True
    finally:
        with contextlib.suppress(OSError):
            os.remove(tmp)
