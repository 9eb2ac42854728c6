"""Helpers of the execution-core tests (imported by the tests and their conftest)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from helpers import wait_until  # noqa: F401 (re-exported: the one polling helper)
from sphinx_d2ltabs.execution import Job, JobResult, Scheduler

T = TypeVar("T")

MARK_VAR = "D2L_EXEC_TEST_MARK"
"""Every kernel started by these tests holds ``MARK_VAR=<the test's marker>``."""

MakeJob = Callable[..., Job]

HANG_GUARD = 300.0
"""Seconds a test waits for an event (a file, a process, a result) before it fails: only a
hang reaches it, never a healthy but slow machine. Pass/fail never depends on time."""


def processes_with(value: str, var: str = MARK_VAR) -> list[int]:
    """Live (not zombie) processes whose environment holds ``var=value``."""
    needle = f"{var}={value}".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as fh:
                if needle not in fh.read().split(b"\0"):
                    continue
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        if stat[stat.rfind(b")") + 2:].split()[0] not in (b"Z", b"X"):
            found.append(int(name))
    return found




def guarded(call: Callable[[], T]) -> T:
    """``call()`` in a thread; the test fails if it has not returned after
    :data:`HANG_GUARD` seconds. The tests that use it block a cell (or a kernel) for far
    longer than that, so only the behaviour under test (a timeout, a kill, a cancel) lets
    it return in time: pass/fail never depends on how fast the machine is."""
    out: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            out.append(call())
        except BaseException as err:  # re-raised in the test's thread
            errors.append(err)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HANG_GUARD)
    assert not thread.is_alive(), f"no result after {HANG_GUARD:.0f} s: it hangs"
    if errors:
        raise errors[0]
    return out[0]


def fake_job(docname: str, gpus: int = 0, **fields: Any) -> Job:
    """A job of one cell (line 10) for the fake runners: no kernel runs it."""
    return Job(docname, "fw", ((10, "print(1)"),), gpus=gpus, **fields)


def run_in_thread(scheduler: Scheduler, jobs: Sequence[Job], **kwargs: Any,
                  ) -> tuple[threading.Thread, dict[str, Any]]:
    """``scheduler.run(jobs, **kwargs)`` in a thread; :func:`joined` gives its results."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["results"] = scheduler.run(jobs, **kwargs)
        except BaseException as err:  # re-raised by the test
            out["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


def joined(thread: threading.Thread, out: dict[str, Any]) -> dict[tuple[str, str], JobResult]:
    """The results of :func:`run_in_thread` (its exception re-raised)."""
    thread.join(HANG_GUARD)
    assert not thread.is_alive(), "the scheduler did not end"
    if "error" in out:
        raise out["error"]
    results: dict[tuple[str, str], JobResult] = out["results"]
    return results
