"""Cache keys, results as JSON, and the file cache: atomic writes, corrupt entries,
concurrent writers, pruning."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import pytest
from exec_helpers import HANG_GUARD

from sphinx_d2ltabs.execution import CACHE_VERSION, Cache, FileCache, Job, JobResult, cache_key

CELLS = ((10, "a = 1"), (20, "print(a)"))


def key_of(**fields: Any) -> str:
    return cache_key(Job(fields.pop("docname", "page"), fields.pop("framework", "fw"),
                         fields.pop("cells", CELLS), **fields))


def sample(status: str = "ok", **fields: Any) -> JobResult:
    return JobResult("page", "fw", status, outputs={10: [], 20: [
        {"output_type": "stream", "name": "stdout", "text": "1\nü\n"},
        {"output_type": "display_data", "data": {"image/png": "iVBOR", "text/plain": "<x>"},
         "metadata": {"width": 3}}]},
        execution_counts={10: 1, 20: None}, seconds=1.25, kernel_start_seconds=0.5,
        cuda_visible_devices="0", gpu_fallback=True, cell_ids=[10, 20], **fields)


def tmp_files(root: Path) -> list[str]:
    return [p.name for p in root.rglob("*") if p.name.startswith(".tmp")]


def test_cache_key_parts() -> None:
    base = key_of(env=(("A", "1"), ("B", "2")))
    assert len(base) == 64 and int(base, 16) >= 0
    variants = {
        "code": key_of(cells=((10, "a = 2"), (20, "print(a)")), env=(("A", "1"), ("B", "2"))),
        "order": key_of(cells=((10, "print(a)"), (20, "a = 1")), env=(("A", "1"), ("B", "2"))),
        "extra cell": key_of(cells=(*CELLS, (30, "")), env=(("A", "1"), ("B", "2"))),
        "kernel": key_of(kernel="conda-env", env=(("A", "1"), ("B", "2"))),
        "env value": key_of(env=(("A", "1"), ("B", "3"))),
        "env name": key_of(env=(("A", "1"),)),
        "setup": key_of(setup_code="import x", env=(("A", "1"), ("B", "2"))),
        "extra_key": key_of(extra_key="lib-v2", env=(("A", "1"), ("B", "2"))),
        "framework": key_of(framework="mxnet", env=(("A", "1"), ("B", "2"))),
        "allow_errors": key_of(allow_errors=True, env=(("A", "1"), ("B", "2"))),
        "allowed cell 1": key_of(allow_error_cells=frozenset({10}), env=(("A", "1"), ("B", "2"))),
        "allowed cell 2": key_of(allow_error_cells=frozenset({20}), env=(("A", "1"), ("B", "2"))),
    }
    keys = list(variants.values())
    assert base not in keys and len(set(keys)) == len(keys), variants
    # not in the key: cell lines, env order, timeout, GPUs, cwd, docname, source path
    same = [
        key_of(cells=((13, "a = 1"), (41, "print(a)")), env=(("A", "1"), ("B", "2"))),
        key_of(env=(("B", "2"), ("A", "1"))),
        key_of(timeout=5.0, gpus=2, cwd="/somewhere/else", env=(("A", "1"), ("B", "2"))),
        key_of(docname="other", source_path="x/y.md", env=(("A", "1"), ("B", "2"))),
    ]
    assert set(same) == {base}
    # an allowed-error cell counts by position: moved lines, same key
    assert key_of(cells=((13, "a = 1"), (41, "print(a)")), allow_error_cells=frozenset({41}),
                  env=(("A", "1"), ("B", "2"))) == variants["allowed cell 2"]
    assert CACHE_VERSION


def test_result_json_roundtrip() -> None:
    result = sample("error", error={"cell": 20, "ename": "E", "evalue": "v",
                                    "traceback": ["t"], "message": "m"}, key="k" * 64)
    data = json.loads(json.dumps(result.to_json()))
    again = JobResult.from_json(data)
    assert again == result
    assert not again.ok and sample().ok
    with pytest.raises((KeyError, TypeError, ValueError)):
        JobResult.from_json({"docname": "d", "framework": "f", "status": "weird"})
    with pytest.raises((KeyError, TypeError, ValueError)):
        JobResult.from_json([])  # type: ignore[arg-type]


def test_file_cache_roundtrip(tmp_path: Path) -> None:
    cache: Cache = FileCache(tmp_path / "cache")  # created on the first write
    key = "ab" * 32
    assert cache.get(key) is None
    cache.put(key, sample())
    again = cache.get(key)
    assert again is not None and again.key == key and not again.cached
    assert again.outputs == sample().outputs and again.execution_counts == {10: 1, 20: None}
    failed = sample("timeout", error={"cell": 20, "message": "timed out"})
    cache.put(key, failed)  # failed results are cached too; the last write wins
    again = cache.get(key)
    assert again is not None and again.status == "timeout" and again.error == failed.error
    assert (tmp_path / "cache" / "ab" / f"{key}.json").is_file()
    assert tmp_files(tmp_path) == []
    with pytest.raises(ValueError):
        FileCache(tmp_path).put("../escape", sample())


@pytest.mark.parametrize("content", [
    b'{"docname": "page", "framework": "fw", "stat',  # truncated
    b"",
    b"\xff\xfe\x00garbage",
    b"[1, 2, 3]",
    b'{"docname": "page"}',
    b'{"docname": "p", "framework": "f", "status": "ok", "outputs": {"x": []}}',
])
def test_corrupt_entries_are_misses(tmp_path: Path, content: bytes) -> None:
    cache = FileCache(tmp_path)
    key = "cd" * 32
    cache.put(key, sample())
    path = Path(cache.path(key))
    path.write_bytes(content)
    assert cache.get(key) is None
    assert not path.exists()
    cache.put(key, sample())
    assert cache.get(key) is not None


def test_entry_under_the_wrong_key_is_a_miss(tmp_path: Path) -> None:
    cache = FileCache(tmp_path)
    cache.put("ef" * 32, sample())
    os.rename(cache.path("ef" * 32), os.path.join(tmp_path, "ef", "ef" * 31 + "00.json"))
    assert cache.get("ef" * 31 + "00") is None


def test_put_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = FileCache(tmp_path)
    key = "12" * 32
    cache.put(key, sample())

    def crash(src: str, dst: str) -> None:
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        cache.put(key, sample("error"))
    monkeypatch.undo()
    assert tmp_files(tmp_path) == []
    old = cache.get(key)
    assert old is not None and old.status == "ok"
    # a result that cannot be written (not JSON) leaves nothing either
    bad = sample(error={"cell": 0, "message": object()})
    with pytest.raises(TypeError):
        cache.put(key, bad)
    assert tmp_files(tmp_path) == []
    old = cache.get(key)
    assert old is not None and old.status == "ok"


def _writer(directory: str, writer: int, start: Any) -> None:
    cache = FileCache(directory)
    start.wait(HANG_GUARD)  # both writers are up: they write at the same time
    for i in range(50):
        result = sample()
        result.outputs[20] = [{"output_type": "stream", "name": "stdout",
                               "text": f"{writer}:{i}:" + "x" * 20000}]
        cache.put("aa" * 32, result)
        got = cache.get("aa" * 32)
        assert got is not None  # a reader never sees a torn entry


def test_concurrent_writers(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), n, start)) for n in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(HANG_GUARD)
    assert [p.exitcode for p in procs] == [0, 0]
    entry = FileCache(tmp_path).get("aa" * 32)
    assert entry is not None
    text = entry.outputs[20][0]["text"]
    assert text.split(":")[1] == "49" and text.endswith("x" * 20000)
    assert tmp_files(tmp_path) == []


def test_keys_and_prune(tmp_path: Path) -> None:
    cache = FileCache(tmp_path)
    assert cache.keys() == set() and cache.prune(set()) == 0
    keys = [f"{i:02d}" * 32 for i in range(4)]
    for key in keys:
        cache.put(key, sample())
    stale = tmp_path / "00" / ".tmp-left-by-a-killed-build.json"
    stale.write_text("{")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    fresh = tmp_path / "01" / ".tmp-being-written.json"
    fresh.write_text("{")
    assert cache.keys() == set(keys)
    assert cache.prune({keys[0], keys[2]}) == 2
    assert cache.keys() == {keys[0], keys[2]}
    assert not stale.exists() and fresh.exists()
