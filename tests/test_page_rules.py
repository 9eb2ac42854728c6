"""Rules added for the real books: which frameworks a page has, ``d2l_execute_tabs``,
headings that skip a level, and where the API page may be written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helpers import body, copy_root, warnings_of
from sphinx_d2ltabs.cells import Cell
from sphinx_d2ltabs.config import ConfigError, from_mapping
from sphinx_d2ltabs.dialect import frameworks_of

TABS = ["pytorch", "mxnet", "jax"]


def cell(*frameworks: str) -> Cell:
    return Cell(line=1, source="x = 1", frameworks=frameworks)


def test_frameworks_of_a_page() -> None:
    # shared cells alone: every framework
    assert frameworks_of([cell("all"), cell("all")], TABS) == TABS
    # shared cells go with the frameworks the page names, and the default
    assert frameworks_of([cell("all"), cell("mxnet")], TABS) == ["pytorch", "mxnet"]
    assert frameworks_of([cell("all"), cell("pytorch"), cell("mxnet")], TABS) == [
        "pytorch", "mxnet"]
    # no shared cell: only what is named
    assert frameworks_of([cell("jax")], TABS) == ["jax"]
    assert frameworks_of([], TABS) == []


def test_shared_cells_do_not_run_in_frameworks_the_page_lacks(make_app: Any,
                                                               tmp_path: Path) -> None:
    src = copy_root(tmp_path, "exec")
    (src / "chapter" / "two.md").write_text(
        "# Two\n\n```{.python .input}\n#@tab beta\nprint('b')\n```\n\n"
        "```{.python .input}\n#@tab all\nprint('shared')\n```\n")
    app = make_app("html", srcdir=src, confoverrides={"d2l_tabs": ["alpha", "beta", "gamma"]})
    app.build()
    report = json.loads(Path(app.doctreedir, "d2l_execution_report.json").read_text())
    two = sorted(e["framework"] for e in report["pages"] if e["docname"] == "chapter/two")
    assert two == ["alpha", "beta"]  # the default and the named one, not gamma


def test_execute_tabs_runs_only_those_frameworks(make_app: Any, tmp_path: Path) -> None:
    src = copy_root(tmp_path, "exec")
    app = make_app("html", srcdir=src, confoverrides={"d2l_execute_tabs": ["beta"]})
    app.build()
    report = json.loads(Path(app.doctreedir, "d2l_execution_report.json").read_text())
    assert {e["framework"] for e in report["pages"]} == {"beta"}
    assert report["executed"] == 1 and report["failed"] == 0
    page = body(app, "chapter/one.html")
    outputs = " ".join(o.get_text(" ", strip=True) for o in page.select("div.cell_output"))
    assert "beta-out" in outputs
    assert "alpha-out" not in outputs and "alpha-out" in page.get_text()  # shown, not run


def test_execute_tabs_must_be_configured_frameworks() -> None:
    with pytest.raises(ConfigError, match="'gamma' is not a configured framework"):
        from_mapping({"tabs": ["alpha", "beta"], "execute_tabs": ["gamma"]})


@pytest.mark.parametrize("value", ["../api", "/tmp/api", "sub/../../api"])
def test_api_page_stays_inside_the_book(value: str) -> None:
    with pytest.raises(ConfigError, match="lib_api_page"):
        from_mapping({"lib_api_page": value})


def test_headings_may_skip_levels(make_app: Any, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text('extensions = ["sphinx_d2ltabs"]\nd2l_execute = "off"\n')
    (src / "index.md").write_text("# Book\n\n```toc\npage\n```\n")
    (src / "page.md").write_text("## Starts at two\n\ntext\n\n#### Then four\n\nmore\n")
    app = make_app("html", srcdir=src)
    app.build()
    assert warnings_of(app) == []
    html = Path(app.outdir, "page.html").read_text()
    assert "Then four" in html and "Starts at two" in html
