"""Shared fixtures: sphinx.testing roots under tests/roots/test-<name>."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOTS = Path(__file__).parent / "roots"

# kernels started by tests must not pick up a user's IPython profile or config
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")


@pytest.fixture(scope="session")
def rootdir() -> Path:
    return ROOTS


