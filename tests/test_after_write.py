"""The notebooks (and decks) are written by a process forked at ``write-started``, while
the pages are written; its lines and warnings reach the build as any other."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from helpers import copy_root, warnings_of
from sphinx_d2ltabs import notebook_files, publish

OFF = {"d2l_execute": "off"}


@pytest.fixture(autouse=True)
def record_pids(monkeypatch: pytest.MonkeyPatch) -> None:
    """The notebooks step writes the id of the process it runs in to ``steps.txt`` in
    the doctree folder (a forked process can't tell this one otherwise)."""
    original = publish.write_notebooks_step

    def step(app: Any) -> None:
        with open(Path(app.doctreedir) / "steps.txt", "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()}\n")
        original(app)

    monkeypatch.setattr(publish, "write_notebooks_step", step)


def _pids(app: Any) -> list[int]:
    """The processes the step ran in since the last call."""
    path = Path(app.doctreedir) / "steps.txt"
    pids = [int(line) for line in path.read_text().split()]
    path.unlink()
    return pids


def test_written_by_a_forked_process_then_in_process_by_a_noop(make_app: Any,
                                                               tmp_path: Path) -> None:
    src = copy_root(tmp_path, "notebooks")
    app = make_app("html", srcdir=src, confoverrides=OFF)
    app.build()
    [pid] = _pids(app)
    assert pid != os.getpid()
    assert "[d2l] notebooks: " in app.status.getvalue()  # (its line, emitted here)
    assert (Path(app.outdir) / "_notebooks" / "alpha" / "prose.ipynb").is_file()
    again = make_app("html", srcdir=src, confoverrides=OFF)
    again.build()  # nothing read: the checks run here
    assert _pids(again) == [os.getpid()]
    assert "0 written" in again.status.getvalue()


def test_the_forked_process_warnings_are_the_builds(make_app: Any, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    original = notebook_files.NotebookWriter.page

    def page(self: Any, docname: str, path: str) -> Any:
        if docname == "prose":
            raise ValueError("no converter for this")
        return original(self, docname, path)

    monkeypatch.setattr(notebook_files.NotebookWriter, "page", page)
    src = copy_root(tmp_path, "notebooks")
    app = make_app("html", srcdir=src, confoverrides=OFF)
    app.build()
    assert [w for w in warnings_of(app) if "cannot be made" in w] == [
        "prose.md: WARNING: the notebooks of this page cannot be made (ValueError: no "
        "converter for this) [d2l.output]"]
    assert "[d2l] notebooks: " in app.status.getvalue()
    assert (Path(app.outdir) / "_notebooks" / "alpha" / "index.ipynb").is_file()
    assert not (Path(app.outdir) / "_notebooks" / "alpha" / "prose.ipynb").exists()


def test_a_failed_build_writes_no_notebooks(make_app: Any, tmp_path: Path) -> None:
    src = copy_root(tmp_path, "notebooks")
    app = make_app("html", srcdir=src, confoverrides=OFF)

    def fail(*args: Any) -> None:
        raise RuntimeError("the theme broke")

    app.connect("html-page-context", fail)
    with pytest.raises(Exception, match="the theme broke"):
        app.build()
    assert app.env.d2l_state.after_write is None  # (stopped, not left running)
