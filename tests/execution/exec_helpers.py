"""Helpers of the execution-core tests (imported by the tests and their conftest)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from sphinx_d2ltabs.execution import Job

MARK_VAR = "D2L_EXEC_TEST_MARK"
"""Every kernel started by these tests holds ``MARK_VAR=<the test's marker>``."""

MakeJob = Callable[..., Job]


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


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
