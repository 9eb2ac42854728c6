"""A circular toc is a d2l.toc warning, not Sphinx's RecursionError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers import warnings_of
from sphinx_d2ltabs.toc import cycle_edges


def test_cycle_edges() -> None:
    includes = {"index": ["a"], "a": ["b"], "b": ["a", "c"], "c": ["c"], "d": ["e"], "e": ["d"]}
    assert cycle_edges(includes, ["index", *sorted(includes)]) == [
        ("b", "a"), ("c", "c"), ("e", "d")]
    assert cycle_edges({"index": ["a", "a"], "a": []}, ["index"]) == []
    chain = {str(i): [str(i + 1)] for i in range(5000)} | {"5000": ["0"]}
    assert cycle_edges(chain, ["0"]) == [("5000", "0")]


def test_circular_toc_builds(make_app: Any, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text('extensions = ["sphinx_d2ltabs"]\nd2l_tabs = ["alpha"]\n'
                                 'd2l_execute = "off"\n')
    toc = "# {}\n\n```toc\n{}\n```\n"
    (src / "index.md").write_text(toc.format("Index", "a"))
    (src / "a.md").write_text(toc.format("A", "b"))
    (src / "b.md").write_text(toc.format("B", "a"))
    app = make_app("html", srcdir=src)
    app.build()
    ours = [w for w in warnings_of(app) if "[d2l.toc]" in w]
    assert len(ours) == 1 and ours[0].startswith("b.md: WARNING: circular toc: 'a'")
    assert (Path(app.outdir) / "b.html").is_file()
