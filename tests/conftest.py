"""Shared fixtures: sphinx.testing roots under tests/roots/test-<name>."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOTS = Path(__file__).parent / "roots"

# kernels started by tests must not pick up a user's IPython profile or config
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
# sphinx-build subprocesses print plain text: Sphinx colours its output when CI=true (as CI
# sets it) even into a pipe, and tests read that output
os.environ["NO_COLOR"] = "1"


@pytest.fixture(scope="session")
def rootdir() -> Path:
    return ROOTS


@pytest.fixture(scope="session")
def prime_cache(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., None]:
    """``prime_cache(src, **confoverrides)``: fill ``src/_build/.d2l_cache`` with the
    execution results of the book ``src`` as it is now, so that its first build (with
    these ``confoverrides``) starts no kernel (``book`` fixtures do it for tests marked
    ``primed``).

    For tests whose first build only prepares what they test (a second build): the
    results are computed once per book content in the session (a build of a copy of the
    book), then copied. Only the entries are copied (no pages index), so the first build
    finds them as it would a cache left by another build. Never for a test of the first
    build itself."""
    computed: dict[str, Path] = {}

    def digest(src: Path, conf: dict[str, Any]) -> str:
        h = hashlib.sha256(repr(sorted(conf.items())).encode())
        for path in sorted(src.rglob("*")):
            if path.is_file() and "_build" not in path.relative_to(src).parts:
                h.update(str(path.relative_to(src)).encode() + b"\0" + path.read_bytes())
        return h.hexdigest()

    def prime(src: Path, **conf: Any) -> None:
        from sphinx.testing.util import SphinxTestApp

        key = digest(src, conf)
        if key not in computed:
            copy = tmp_path_factory.mktemp("primed") / "src"
            shutil.copytree(src, copy, ignore=shutil.ignore_patterns("_build"))
            app = SphinxTestApp("html", srcdir=copy, confoverrides=conf,
                                status=io.StringIO(), warning=io.StringIO())
            try:
                app.build()
            finally:
                app.cleanup()
            computed[key] = copy / "_build" / ".d2l_cache"
        target = src / "_build" / ".d2l_cache"
        for entry in computed[key].glob("??/*.json"):
            (target / entry.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copy2(entry, target / entry.parent.name / entry.name)

    return prime


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--regen-fixtures", action="store_true", default=False,
                     help="write the expected output of tests/fixtures/dialect/*.md anew "
                          "(see tests/test_dialect_fixtures.py)")

