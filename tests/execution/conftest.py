"""Fixtures of the execution-core tests: jobs whose kernels carry a marker variable, and a
check after every test that no process holding this test's marker is still alive."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from exec_helpers import HANG_GUARD, MARK_VAR, MakeJob, processes_with, wait_until

from sphinx_d2ltabs.execution import Job
from sphinx_d2ltabs.execution.forks import current


@pytest.fixture
def mark() -> str:
    """This test's marker value."""
    return uuid.uuid4().hex


@pytest.fixture(autouse=True)
def no_leftover_processes(mark: str) -> Iterator[None]:
    """Every process started by a test's kernels is gone when the test ends."""
    yield
    # SIGKILLed processes may take a moment to vanish from /proc (a while on a loaded
    # machine: the deadline is a hang guard)
    if not wait_until(lambda: not processes_with(mark), HANG_GUARD / 5):
        left = processes_with(mark)
        for pid in left:  # do not leave them running on this machine
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        pytest.fail(f"processes left behind: {left}")


@pytest.fixture
def make_job(mark: str) -> MakeJob:
    """``make_job(code, code, ..., **Job fields)``: cells at lines 10, 20, 30, ... whose
    kernel environment holds the marker."""

    def make(*codes: str, **fields: Any) -> Job:
        cells = tuple((10 * (i + 1), code) for i, code in enumerate(codes))
        env = ((MARK_VAR, mark), *fields.pop("env", ()))
        return Job(fields.pop("docname", "page"), fields.pop("framework", "fw"), cells,
                   env=env, **fields)

    return make


@pytest.fixture
def marked(mark: str) -> Callable[[], list[int]]:
    """The live processes holding this test's marker, but kernel fork servers (they hold
    the environment of the kernels they fork, and live until the run ends)."""
    def live() -> list[int]:
        forks = current()
        servers = {z.pid for z in forks.zygotes.values()} if forks is not None else set()
        return [pid for pid in processes_with(mark) if pid not in servers]

    return live


@pytest.fixture
def kernelspec_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """``make_spec(name, argv)``: install a kernelspec visible to this test only."""
    root = tmp_path / "jupyter"
    monkeypatch.setenv("JUPYTER_PATH", str(root))

    def make_spec(name: str, argv: list[str]) -> str:
        folder = root / "kernels" / name
        folder.mkdir(parents=True)
        (folder / "kernel.json").write_text(json.dumps(
            {"argv": argv, "display_name": name, "language": "python"}))
        return name

    return make_spec
