"""The shared remote tier of the cache (``d2l_cache_remote``): ``memory://`` and ``file://``
remotes, a read-only HTTP mirror on 127.0.0.1, garbage and silent servers, pushes, keys
that do not depend on the machine, and one real build reading from a mirror."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import json
import shutil
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from exec_helpers import HANG_GUARD

from helpers import body, copy_root, warnings_of
from sphinx_d2ltabs.cli import main
from sphinx_d2ltabs.config import ConfigError, D2lConfig, from_mapping
from sphinx_d2ltabs.execution.cache import FileCache, TieredCache
from sphinx_d2ltabs.execution.model import JobResult
from sphinx_d2ltabs.execution.remote import RemoteConfigError, RemoteTier, blob_text

# ---------------------------------------------------------------------- helpers


def result(i: int, text: str = "") -> JobResult:
    return JobResult(f"page{i}", "fw", "ok", outputs={1: [
        {"output_type": "stream", "name": "stdout", "text": text or f"out {i}\n"}]},
        cell_ids=[1])


def key(i: int) -> str:
    return hashlib.sha256(f"key {i}".encode()).hexdigest()


def tiers(folder: Path, remote: RemoteTier) -> tuple[TieredCache, list[str]]:
    problems: list[str] = []
    return TieredCache([FileCache(folder)], on_problem=problems.append, remote=remote), problems


def remote(url: str, **kwargs: Any) -> tuple[RemoteTier, list[str]]:
    problems: list[str] = []
    return RemoteTier(url, on_problem=problems.append, **kwargs), problems


def pushed_folder(folder: Path, n: int) -> list[str]:
    """A remote folder holding entries 0..n-1, pushed through ``file://``."""
    tier = RemoteTier(folder.as_uri(), push=True)
    for i in range(n):
        assert tier.push(key(i), blob_text(key(i), result(i))) == "pushed"
    return [key(i) for i in range(n)]


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128  # (the default 5 would drop concurrent connections)
    daemon_threads = True


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serving(handler: Callable[..., http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 (a free port) in a thread, stopped after."""
    server = Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(HANG_GUARD)


def mirror(folder: Path) -> contextlib.AbstractContextManager[str]:
    """A read-only static HTTP mirror of ``folder``."""
    return serving(functools.partial(QuietHandler, directory=str(folder)))


def answering(status: int, payload: bytes, kind: str = "text/html",
              seen: list[str] | None = None) -> contextlib.AbstractContextManager[str]:
    """A server giving the same answer to every GET (recorded in ``seen``)."""

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            if seen is not None:
                seen.append(self.path)
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return serving(Handler)


@pytest.fixture
def memory_url() -> Iterator[str]:
    url = f"memory://d2l-test-{uuid.uuid4().hex}"
    yield url
    import fsspec

    fs = fsspec.filesystem("memory")
    with contextlib.suppress(FileNotFoundError):
        fs.rm(url[len("memory:/"):], recursive=True)


# ---------------------------------------------------------------------- reading, pushing


def test_memory_remote_push_then_read_through(tmp_path: Path, memory_url: str) -> None:
    """A build that pushes; another machine (an empty local folder) reads the entry from
    the remote, copies it locally, and the next read is local."""
    writer, _ = tiers(tmp_path / "ci", RemoteTier(memory_url, push=True))
    writer.put(key(1), result(1))
    reader_remote, problems = remote(memory_url)
    reader, _ = tiers(tmp_path / "laptop", reader_remote)
    lookup = reader.load(key(1))
    assert lookup.result is not None and lookup.result.outputs == result(1).outputs
    assert lookup.path.startswith(memory_url)
    local = FileCache(tmp_path / "laptop").load(key(1))
    assert local.result is not None and local.result.key == key(1)
    assert reader.load(key(1)).path == local.path  # now a local hit
    assert reader.load(key(2)).result is None and not problems


def test_push_layout_is_content_addressed(tmp_path: Path) -> None:
    folder = tmp_path / "remote"
    [k] = pushed_folder(folder, 1)
    manifest = json.loads((folder / "keys" / k[:2] / k).read_text())
    blob = folder / "blobs" / manifest["sha256"][:2] / (manifest["sha256"] + ".json")
    data = blob.read_bytes()
    assert hashlib.sha256(data).hexdigest() == manifest["sha256"]
    assert manifest["size"] == len(data) and json.loads(data)["key"] == k
    assert not [p for p in folder.rglob("*") if p.name.startswith(".tmp")]


@pytest.mark.parametrize("kind", ["file", "memory"])
def test_push_first_writer_wins(tmp_path: Path, memory_url: str, kind: str) -> None:
    url = (tmp_path / "remote").as_uri() if kind == "file" else memory_url
    tier = RemoteTier(url, push=True)
    assert tier.push(key(1), blob_text(key(1), result(1, "first\n"))) == "pushed"
    assert tier.push(key(1), blob_text(key(1), result(1, "second\n"))) == "exists"
    entry = RemoteTier(url).load(key(1))
    assert entry is not None and entry.result.outputs[1][0]["text"] == "first\n"


def test_concurrent_pushes_of_one_key_one_wins(tmp_path: Path) -> None:
    url = (tmp_path / "remote").as_uri()
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def push(n: int) -> None:
        tier = RemoteTier(url, push=True)
        start.wait(HANG_GUARD)
        outcomes.append(tier.push(key(1), blob_text(key(1), result(1, f"writer {n}\n"))))

    threads = [threading.Thread(target=push, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HANG_GUARD)
    assert sorted(outcomes) == ["exists"] * 7 + ["pushed"]
    entry = RemoteTier(url).load(key(1))
    assert entry is not None and entry.result.outputs[1][0]["text"].startswith("writer ")


def test_http_mirror_of_a_pushed_folder(tmp_path: Path) -> None:
    keys = pushed_folder(tmp_path / "remote", 5)
    with mirror(tmp_path / "remote") as url:
        tier, problems = remote(url)
        cache, _ = tiers(tmp_path / "local", tier)
        assert all(cache.load(k).result is not None for k in keys[:2])
        assert cache.load(key(99)).result is None  # a 404: a plain miss
        assert cache.prefetch([*keys, key(99)]) == 3  # the 2 already local are not asked
    assert not problems and not tier.down
    # the mirror is gone: every entry is local now
    assert FileCache(tmp_path / "local").keys() == set(keys)


def test_prefetch_asks_concurrently(tmp_path: Path) -> None:
    """Every manifest request of a batch is in flight at once: the server answers only
    when all of them have arrived (a serial client would break the barrier)."""
    keys = pushed_folder(tmp_path / "remote", 6)
    arrived = threading.Barrier(6)

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            if "/keys/" in self.path:
                arrived.wait(HANG_GUARD)
            super().do_GET()

    with serving(functools.partial(Handler, directory=str(tmp_path / "remote"))) as url:
        tier, problems = remote(url, timeout=HANG_GUARD)
        cache, _ = tiers(tmp_path / "local", tier)
        assert cache.prefetch(keys) == 6
    assert not problems and FileCache(tmp_path / "local").keys() == set(keys)


def test_push_to_an_http_mirror_is_refused() -> None:
    with pytest.raises(RemoteConfigError, match="read only"):
        RemoteTier("https://mirror.example/cache", push=True)
    with pytest.raises(ConfigError, match=r"d2l_cache_push: .*read only"):
        from_mapping({"cache_remote": "https://mirror.example/cache", "cache_push": True})
    with pytest.raises(ConfigError, match="d2l_cache_push: needs d2l_cache_remote"):
        from_mapping({"cache_push": True})
    with pytest.raises(ConfigError, match="d2l_cache_remote: 'some/folder' must be a URL"):
        from_mapping({"cache_remote": "some/folder"})
    with pytest.raises(RemoteConfigError, match="can't be opened"):
        RemoteTier("nosuchprotocol://x")


# ---------------------------------------------------------------------- faults


def _tamper(folder: Path, k: str, how: str) -> None:
    manifest = folder / "keys" / k[:2] / k
    digest = json.loads(manifest.read_text())["sha256"]
    blob = folder / "blobs" / digest[:2] / (digest + ".json")
    if how == "html manifest":
        manifest.write_text("<html><body>502 Bad Gateway</body></html>")
    elif how == "truncated manifest":
        manifest.write_text(manifest.read_text()[:20])
    elif how == "wrong digest":
        blob.write_text(blob.read_text().replace("out ", "tampered "))
    elif how == "truncated blob":
        data = blob.read_bytes()[:40]
        blob.write_bytes(data)
        manifest.write_text(json.dumps({"sha256": hashlib.sha256(data).hexdigest(),
                                        "size": len(data)}))
        blob.rename(blob.with_name(hashlib.sha256(data).hexdigest() + ".json"))
    elif how == "missing blob":
        blob.unlink()
    elif how == "another key's blob":
        other = json.loads((folder / "keys" / key(0)[:2] / key(0)).read_text())
        manifest.write_text(json.dumps(other))


@pytest.mark.parametrize("how", ["html manifest", "truncated manifest", "wrong digest",
                                 "truncated blob", "missing blob", "another key's blob"])
def test_garbage_entries_are_misses_with_one_warning(tmp_path: Path, how: str) -> None:
    keys = pushed_folder(tmp_path / "remote", 6)
    for k in keys[1:]:
        _tamper(tmp_path / "remote", k, how)
    with mirror(tmp_path / "remote") as url:
        tier, problems = remote(url)
        cache, local_problems = tiers(tmp_path / "local", tier)
        assert cache.load(keys[0]).result is not None
        assert [cache.load(k).result for k in keys[1:3]] == [None, None]
        assert cache.prefetch(keys) == 0
    assert len(problems) == 1 and not local_problems, problems
    assert "gave an unusable entry" in problems[0] and "it runs here" in problems[0]
    assert not tier.down  # a bad entry is not a bad remote
    assert FileCache(tmp_path / "local").keys() == {keys[0]}


@pytest.mark.parametrize(("status", "payload", "down"), [
    (200, b"<!doctype html><title>Welcome</title><p>Sign in to the network", False),
    (200, b'{"sha256": "ab', False),
    (503, b"<html>Service Unavailable</html>", True),
])
def test_a_server_answering_garbage(tmp_path: Path, status: int, payload: bytes,
                                    down: bool) -> None:
    seen: list[str] = []
    with answering(status, payload, seen=seen) as url:
        tier, problems = remote(url)
        cache, _ = tiers(tmp_path / "local", tier)
        assert [cache.load(key(i)).result for i in range(4)] == [None] * 4
        assert cache.prefetch(key(i) for i in range(4, 10)) == 0
    assert len(problems) == 1, problems
    assert tier.down is down
    assert ("can't be reached" in problems[0]) is down
    if down:  # not asked again after the first failure
        assert len(seen) == 1


def test_access_denied_is_a_miss_with_a_notice(tmp_path: Path) -> None:
    """S3 and GCS answer 403 for a missing object when listing is denied."""
    notices: list[str] = []
    with answering(403, b"<Error><Code>AccessDenied</Code></Error>", "application/xml") as url:
        tier, problems = remote(url, on_notice=notices.append)
        cache, _ = tiers(tmp_path / "local", tier)
        assert [cache.load(key(i)).result for i in range(3)] == [None] * 3
        assert cache.prefetch(key(i) for i in range(3, 9)) == 0
    assert not problems and not tier.down
    assert len(notices) == 1 and "taken as missing" in notices[0]


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """A socket that takes connections (the kernel's backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@contextlib.contextmanager
def refusing_server() -> Iterator[str]:
    """A port bound but not listening: connections are refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@contextlib.contextmanager
def unknown_host() -> Iterator[str]:
    yield "http://d2l-cache.invalid/cache"  # (RFC 2606: never resolves)


@pytest.mark.parametrize("server", [silent_server, refusing_server, unknown_host])
def test_unreachable_remote_one_warning_then_not_asked(
        tmp_path: Path, server: Callable[[], contextlib.AbstractContextManager[str]]) -> None:
    with server() as url:
        tier, problems = remote(url, timeout=0.5, push=False)
        cache, _ = tiers(tmp_path / "local", tier)
        assert [cache.load(key(i)).result for i in range(5)] == [None] * 5
        assert cache.prefetch(key(i) for i in range(5, 100)) == 0
        cache.put(key(1), result(1))  # local writes go on
    assert tier.down and len(problems) == 1, problems
    assert "can't be reached" in problems[0] and "not used for the rest" in problems[0]
    assert FileCache(tmp_path / "local").keys() == {key(1)}


def test_one_warning_per_build_across_tiers(tmp_path: Path) -> None:
    """A build opens its tiers several times (once per page read): the memo it shares
    keeps the remote down, and the warning single."""
    memo: set[str] = set()
    problems: list[str] = []
    with refusing_server() as url:
        for i in range(4):
            tier = RemoteTier(url, timeout=0.5, memo=memo, on_problem=problems.append)
            assert TieredCache([FileCache(tmp_path)], remote=tier).load(key(i)).result is None
    assert len(problems) == 1 and tier.down


def test_push_failure_is_reported_once(tmp_path: Path) -> None:
    folder = tmp_path / "remote"
    folder.mkdir()
    for name in ("keys", "blobs"):  # files where the remote's folders should be
        (folder / name).write_text("")
    tier, problems = remote(folder.as_uri(), push=True)
    cache, _ = tiers(tmp_path / "local", tier)
    for i in range(3):
        cache.put(key(i), result(i))
    assert len(problems) == 1 and "can't push results" in problems[0], problems
    assert FileCache(tmp_path / "local").keys() == {key(0), key(1), key(2)}


# ---------------------------------------------------------------------- the command line


def test_cli_push_uploads_local_entries(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    local = FileCache(tmp_path / "local")
    for i in range(3):
        local.put(key(i), result(i))
    (tmp_path / "local" / key(9)[:2]).mkdir(exist_ok=True)
    Path(local.path(key(9))).write_text("{broken")
    url = (tmp_path / "remote").as_uri()
    assert main(["cache", "push", str(tmp_path / "local"), "--to", url]) == 0
    assert "3 pushed, 0 already there, 1 invalid" in capsys.readouterr().out
    assert main(["cache", "push", str(tmp_path / "local"), "--to", url]) == 0
    assert "0 pushed, 3 already there" in capsys.readouterr().out
    with mirror(tmp_path / "remote") as http_url:
        assert RemoteTier(http_url).fetch_many(key(i) for i in range(4)).keys() == {
            key(0), key(1), key(2)}
    assert main(["cache", "push", str(tmp_path / "local")]) == 2
    assert "--to URL" in capsys.readouterr().err
    assert main(["cache", "push", str(tmp_path / "local"), "--to", "https://x.example"]) == 2
    assert "read only" in capsys.readouterr().err


# ---------------------------------------------------------------------- keys


def _book_keys(src: Path, cfg: D2lConfig) -> dict[str, dict[str, str]]:
    """Every page's cache keys, as a build computes them (library included)."""
    from sphinx_d2ltabs.library import LibraryConfig, generate_library
    from sphinx_d2ltabs.pages import PageReader
    from sphinx_d2ltabs.runner import dependency_hash, framework_extra, plan_page

    reader = PageReader(cfg.tab_names)
    lib = generate_library(str(src), cfg.tab_names, LibraryConfig(), reader=reader)
    dep = dependency_hash(str(src), cfg.dependencies)
    extras = {fw: framework_extra(cfg, fw, lib.hashes, dep) for fw in cfg.tab_names}
    assert not any(str(src) in extra for extra in extras.values())
    keys = {}
    for page in sorted(src.rglob("*.md")):
        info = reader.read(str(page))
        assert info is not None
        docname = page.relative_to(src).with_suffix("").as_posix()
        keys[docname] = plan_page(docname, str(page), info.cells, cfg, extras,
                                  str(src)).keys
    return keys


def _two_trees(tmp_path: Path) -> tuple[Path, Path]:
    trees = []
    for where in ("machine-a/home/alice/book", "b/src"):
        src = tmp_path / where
        shutil.copytree(copy_root(tmp_path / where.replace("/", "-"), "api"), src)
        (src / "data").mkdir()
        (src / "data" / "table.csv").write_text("x,y\n1,2\n")
        trees.append(src)
    return trees[0], trees[1]


def test_keys_do_not_depend_on_where_the_book_is(tmp_path: Path) -> None:
    cfg = from_mapping({"tabs": ["alpha", "beta"], "kernel_env": {"*": {"SEED": "1"}},
                        "setup_code": {"alpha": "import os"}, "dependencies": ["data/*"]})
    a, b = _two_trees(tmp_path)
    keys_a, keys_b = _book_keys(a, cfg), _book_keys(b, cfg)
    assert keys_a == keys_b and sum(len(k) for k in keys_a.values()) >= 3


def test_env_fingerprint_separates_environments(tmp_path: Path) -> None:
    base = {"tabs": ["alpha", "beta"]}
    a, _ = _two_trees(tmp_path)
    plain = _book_keys(a, from_mapping(base))
    assert plain == _book_keys(a, from_mapping({**base, "env_fingerprint": ""}))
    torch = _book_keys(a, from_mapping({**base, "env_fingerprint": "torch-2.13-cu12"}))
    other = _book_keys(a, from_mapping({**base, "env_fingerprint": "torch-2.13-cpu"}))
    flat = [{v for page in k.values() for v in page.values()} for k in (plain, torch, other)]
    assert all(not (x & y) for x, y in [(flat[0], flat[1]), (flat[1], flat[2])])


# ---------------------------------------------------------------------- a real build


def d2l_warnings(app: Any) -> list[str]:
    return [w for w in warnings_of(app) if "[d2l." in w]


def _build(make_app: Any, src: Path, **conf: Any) -> tuple[Any, dict[str, Any]]:
    app = make_app("html", srcdir=src, confoverrides=conf, freshenv=True)
    app.build()
    return app, json.loads(Path(app.doctreedir, "d2l_execution_report.json").read_text())


def test_build_reads_outputs_from_an_http_mirror(make_app: Any, tmp_path: Path) -> None:
    """CI builds and pushes to a folder; another checkout (another path, an empty cache)
    builds from an HTTP mirror of that folder and runs nothing; then from its own cache
    with the mirror gone, without a warning."""
    store = tmp_path / "store"
    ci = copy_root(tmp_path / "ci", "exec")
    _, report = _build(make_app, ci, d2l_cache_remote=store.as_uri(), d2l_cache_push=True)
    assert report["executed"] > 0 and not report["failed"]
    assert len(list(store.glob("keys/??/*"))) == report["executed"]
    laptop = copy_root(tmp_path / "laptop", "exec")
    with mirror(store) as url:
        app, report = _build(make_app, laptop, d2l_cache_remote=url)
    assert report["executed"] == 0 and report["cached"] == len(report["pages"]) > 0
    assert not d2l_warnings(app)
    assert "alpha-out" in body(app, "chapter/one.html").get_text()
    assert len(list((laptop / "_build" / ".d2l_cache").glob("??/*.json"))) == report["cached"]
    app, report = _build(make_app, laptop, d2l_cache_remote=url)  # (the mirror is down)
    assert report["executed"] == 0 and not d2l_warnings(app)


def test_build_with_an_unreachable_remote_warns_once(make_app: Any, tmp_path: Path) -> None:
    src = copy_root(tmp_path, "exec")
    with refusing_server() as url:
        app, report = _build(make_app, src, d2l_cache_remote=url, d2l_execute="cache-only",
                             d2l_cache_remote_timeout=2)
    remote_warnings = [w for w in d2l_warnings(app) if "remote cache" in w]
    assert len(remote_warnings) == 1 and "[d2l.cache]" in remote_warnings[0]
    assert report["executed"] == 0
