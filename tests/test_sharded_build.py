"""The sharded build, end to end (docs/sharded-build.md): one build per framework, each on
its own "machine" (its own process, source folder at another path and local cache), all
pushing to one shared ``file://`` tier; then a final ``cache-only`` build on a fourth
"machine" that executes nothing, shows every output, and writes the same pages as a build
of the whole book on one machine."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parent / "roots" / "test-shard"
TABS = ("alpha", "beta")


@dataclass
class Machine:
    """One build: its own source copy, local cache and output folder."""

    src: Path
    out: Path
    cache: Path
    warnings: list[str]
    report: dict[str, object]


def build(home: Path, *options: str) -> Machine:
    src, out, cache = home / "book", home / "html", home / "cache"
    if not src.exists():
        shutil.copytree(ROOT, src)
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-q", "-b", "html", str(src), str(out),
         "-D", f"d2l_cache_dir={cache}", *options],
        capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if "WARNING" in ln or "ERROR" in ln]
    report = json.loads((out / ".doctrees" / "d2l_execution_report.json").read_text("utf-8"))
    return Machine(src, out, cache, warnings, report)


def pages(machine: Machine) -> dict[str, str]:
    """The book's pages, with what differs between two builds of the same outputs on
    different machines taken out: the source folder's absolute path (nowhere, we check)."""
    found = {}
    for path in sorted(machine.out.rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        assert str(machine.src) not in text, f"{path.name} names the build machine's path"
        found[str(path.relative_to(machine.out))] = text
    return found


@pytest.fixture(scope="module")
def sharded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Machine]:
    base = tmp_path_factory.mktemp("sharded")
    shared = f"file://{base / 'shared-tier'}"
    machines = {"reference": build(base / "one-machine")}
    for tab in TABS:
        machines[tab] = build(base / f"gpu-{tab}", "-D", f"d2l_execute_tabs={tab}",
                              "-D", f"d2l_cache_remote={shared}", "-D", "d2l_cache_push=1")
    machines["final"] = build(base / "final", "-D", "d2l_execute=cache-only",
                              "-D", f"d2l_cache_remote={shared}")
    return machines


def test_each_shard_runs_its_framework_only(sharded: dict[str, Machine]) -> None:
    for tab in TABS:
        shard = sharded[tab]
        assert shard.warnings == []
        entries = shard.report["pages"]
        assert isinstance(entries, list) and entries
        assert {e["framework"] for e in entries} == {tab}
        assert shard.report["executed"] == len(entries) and shard.report["failed"] == 0


def test_final_build_executes_nothing_and_shows_every_output(
        sharded: dict[str, Machine]) -> None:
    final, reference = sharded["final"], sharded["reference"]
    assert final.warnings == []
    assert final.report["executed"] == 0 and final.report["failed"] == 0
    assert final.report["cached"] == reference.report["executed"] == 4
    one = (final.out / "chapter" / "one.html").read_text(encoding="utf-8")
    two = (final.out / "chapter" / "two.html").read_text(encoding="utf-8")
    assert "area 12" in one and "<b>bold-output</b>" in one
    assert "from the library 6" in two and "beta-only 3" in two


def test_final_pages_equal_a_one_machine_build(sharded: dict[str, Machine]) -> None:
    final, reference = pages(sharded["final"]), pages(sharded["reference"])
    assert final.keys() == reference.keys()
    for name in final:
        assert final[name] == reference[name], name


def test_the_shared_tier_holds_content_addressed_entries(sharded: dict[str, Machine],
                                                         ) -> None:
    tier = Path(str(sharded["final"].src).rsplit("final", 1)[0]) / "shared-tier"
    files = [p for p in tier.rglob("*") if p.is_file()]
    assert files, "nothing was pushed"
    assert not any(re.search(r"\.tmp|\.part", p.name) for p in files)
