"""``python -m sphinx_d2ltabs cache info|verify|prune`` and the cache's housekeeping."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from sphinx_d2ltabs.cli import main
from sphinx_d2ltabs.execution.cache import USAGE_FILE, FileCache, TieredCache, write_usage
from sphinx_d2ltabs.execution.model import JobResult
from sphinx_d2ltabs.fileio import TMP_PREFIX

DAY = 86400


def fill(folder: Path, n: int) -> list[str]:
    cache = FileCache(folder)
    keys = [f"{i:02x}" * 32 for i in range(n)]
    for i, key in enumerate(keys):
        cache.put(key, JobResult(f"page{i}", "fw", "ok", outputs={1: [
            {"output_type": "stream", "name": "stdout", "text": f"out {i}\n"}]}, cell_ids=[1]))
    return keys


def age(folder: Path, key: str, days: float) -> None:
    path = FileCache(folder).path(key)
    when = time.time() - days * DAY
    os.utime(path, (when, when))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["cache", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_info_counts_entries_and_last_build(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    keys = fill(tmp_path, 4)
    write_usage(TieredCache([FileCache(tmp_path)]), set(keys[:3]) | {"ff" * 32}, "book")
    (tmp_path / keys[0][:2] / (TMP_PREFIX + "x.part")).write_text("half")
    code, out, _ = run(capsys, "info", str(tmp_path))
    assert code == 0
    assert "entries: 4," in out
    assert "used 4 entries, 1 of them missing now" in out
    assert "entries the last build did not use: 1" in out
    assert "temporary files: 1" in out


def test_verify_finds_bad_entries_and_deletes_only_corrupt_ones(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = fill(tmp_path, 3)
    cache = FileCache(tmp_path)
    Path(cache.path(keys[1])).write_text("{not json")
    code, out, _ = run(capsys, "verify", str(tmp_path))
    assert code == 1
    assert "3 entries, 2 load, 1 bad" in out and "is corrupt" in out
    assert Path(cache.path(keys[1])).exists()  # verify alone removes nothing
    code, out, _ = run(capsys, "verify", "--delete", str(tmp_path))
    assert "(removed)" in out and not Path(cache.path(keys[1])).exists()
    code, out, _ = run(capsys, "verify", str(tmp_path))
    assert code == 0 and "2 entries, 2 load, 0 bad" in out


def test_prune_unused_and_by_age(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = fill(tmp_path, 4)
    write_usage(TieredCache([FileCache(tmp_path)]), set(keys[:2]), "book")
    age(tmp_path, keys[0], 40)  # used by the last build, old
    age(tmp_path, keys[2], 40)  # unused, old
    code, out, _ = run(capsys, "prune", "--unused", "--older-than", "30", "--dry-run",
                       str(tmp_path))
    assert code == 0 and "would remove 1 entries" in out
    assert FileCache(tmp_path).keys() == set(keys)
    run(capsys, "prune", "--unused", "--older-than", "30", str(tmp_path))
    assert FileCache(tmp_path).keys() == {keys[0], keys[1], keys[3]}
    run(capsys, "prune", "--older-than", "30", str(tmp_path))
    assert FileCache(tmp_path).keys() == {keys[1], keys[3]}
    run(capsys, "prune", "--unused", str(tmp_path))
    assert FileCache(tmp_path).keys() == {keys[1]}


def test_prune_needs_a_criterion_and_a_folder(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    fill(tmp_path, 1)
    code, _, err = run(capsys, "prune", str(tmp_path))
    assert code == 2 and "--unused and/or --older-than" in err
    code, _, err = run(capsys, "info", str(tmp_path / "nowhere"))
    assert code == 1 and "no such cache folder" in err


def test_prune_removes_stale_temporaries(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    keys = fill(tmp_path, 1)
    shard = tmp_path / keys[0][:2]
    old, new = shard / (TMP_PREFIX + "old.part"), shard / (TMP_PREFIX + "new.part")
    old.write_text("left by a killed build")
    new.write_text("being written now")
    os.utime(old, (time.time() - 2 * 3600,) * 2)
    run(capsys, "prune", "--older-than", "1", str(tmp_path))
    assert not old.exists() and new.exists()


def test_book_folder_finds_its_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "conf.py").write_text("d2l_cache_dir = 'my-cache'\n")
    fill(tmp_path / "my-cache", 2)
    code, out, _ = run(capsys, "info", str(tmp_path))
    assert code == 0 and "my-cache" in out and "entries: 2," in out


def test_build_records_usage_and_prunes_old_entries(make_app: Any, tmp_path: Path) -> None:
    from helpers import copy_root

    src = copy_root(tmp_path, "exec")
    cache_dir = src / "_build" / ".d2l_cache"
    stray = fill(cache_dir, 2)
    age(cache_dir, stray[0], 31)  # unused for longer than d2l_cache_max_age: removed
    app = make_app("html", srcdir=src)
    app.build()
    usage = json.loads((cache_dir / USAGE_FILE).read_text())
    assert len(usage["keys"]) == 3
    assert FileCache(cache_dir).keys() == set(usage["keys"]) | {stray[1]}


def test_using_an_entry_marks_it(tmp_path: Path) -> None:
    """A build that reads an entry keeps it from age-based pruning (marked at most once a
    day, so a no-op build writes nothing)."""
    keys = fill(tmp_path, 2)
    age(tmp_path, keys[0], 10)
    age(tmp_path, keys[1], 10)
    cache = TieredCache([FileCache(tmp_path)])
    assert cache.get(keys[0]) is not None
    assert FileCache(tmp_path).prune(older_than=5 * DAY) == 1
    assert FileCache(tmp_path).keys() == {keys[0]}
    before = os.stat(FileCache(tmp_path).path(keys[0])).st_mtime_ns
    assert cache.get(keys[0]) is not None
    assert os.stat(FileCache(tmp_path).path(keys[0])).st_mtime_ns == before


def test_pruning_by_age_is_done_once_an_hour(tmp_path: Path) -> None:
    """Each build prunes by age, but stats every entry only when no build did within the
    hour (a stamp file): an entry aged meanwhile waits for the next pruning."""
    keys = fill(tmp_path, 3)
    cache = FileCache(tmp_path)
    age(tmp_path, keys[0], 31)
    assert cache.prune_aged(30 * 86400) == 1
    age(tmp_path, keys[1], 31)
    assert cache.prune_aged(30 * 86400) == 0  # pruned within the hour
    os.utime(tmp_path / ".last-prune", (time.time() - 2 * 3600,) * 2)
    assert cache.prune_aged(30 * 86400) == 1
    assert cache.keys() == {keys[2]}


def test_a_new_build_folder_orders_jobs_by_the_caches_record(
        make_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache keeps each job's seconds of the last build (its usage record): a build
    whose folder is new (no report of the last build) still starts the longest first."""
    import shutil

    from helpers import copy_root, durations_seen
    from sphinx_d2ltabs import runner

    src = copy_root(tmp_path, "exec")
    app = make_app("html", srcdir=src)
    app.build()
    usage = json.loads((src / "_build" / ".d2l_cache" / USAGE_FILE).read_text())
    durations = runner.expected_seconds(usage)
    assert durations and durations == runner.expected_seconds(
        json.loads((Path(app.doctreedir) / "d2l_execution_report.json").read_text()))
    seen = durations_seen(monkeypatch)
    shutil.rmtree(app.outdir)
    shutil.rmtree(app.doctreedir, ignore_errors=True)
    make_app("html", srcdir=src, freshenv=True).build()
    assert seen == [durations]
