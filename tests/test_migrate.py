"""d2lbook config.ini → conf.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from helpers import body, warnings_of
from sphinx_d2ltabs.cli import main
from sphinx_d2ltabs.migrate import config_from_ini, read_config_ini

CONFIG_INI = """\
[project]
name = d2l-demo
title = Demo Book
author = A. Author
release = 1.0.0
copyright = 2026, A. Author
lang = en

[build]
index = index
notebooks = *.md */*.md
exclusions = README.md drafts/*
non-notebooks = notes.md
eval_notebook = False
tabs = PyTorch, jax
dependencies = data/*.csv
sphinx_configs = numfig_secnum_depth = 2
warning_is_error = True
colour = blue

[library]
version_file = d2l/__init__.py

[library-pytorch]
lib_file = d2l/torch.py
lib_name = torch
simple_alias = ones, zeros

[library-jax]
lib_file = d2l/jax.py

[html]
favicon = static/favicon.png

[pdf]
bibfile = d2l.bib

[colab]
github_repo = d2l-ai/d2l-pytorch-colab

[mysection]
x = 1
"""


def test_read_config_ini(tmp_path: Path) -> None:
    ini = tmp_path / "config.ini"
    ini.write_text(CONFIG_INI)
    mig = read_config_ini(str(ini))
    v = mig.values
    assert v["project"] == "Demo Book" and v["author"] == "A. Author"
    assert v["release"] == "1.0.0" and v["language"] == "en"
    assert v["root_doc"] == "index"
    assert v["d2l_tabs"] == ["pytorch", "jax"]
    assert v["d2l_execute"] == "off"
    assert v["d2l_dependencies"] == ["data/*.csv"]
    assert v["d2l_lib_modules"] == {"pytorch": "torch", "jax": "jax"}
    assert v["d2l_lib_package"] == "d2l" and v["d2l_lib_dir"] == "."
    assert v["bibtex_bibfiles"] == ["d2l.bib"]
    assert v["extensions"] == ["sphinx_d2ltabs", "sphinxcontrib.bibtex"]
    assert {"README.md", "drafts/*", "notes.md", "_build"} <= set(v["exclude_patterns"])
    assert v["html_favicon"] == "static/favicon.png"
    assert mig.sphinx_configs == "numfig_secnum_depth = 2"
    # nothing is dropped silently
    assert mig.unknown == ["[build] colour", "[mysection] x"]
    ignored = "\n".join(mig.ignored)
    assert v["d2l_aliases"] == {"pytorch": {"lib_name": "torch", "simple_alias": "ones, zeros"}}
    assert v["include_patterns"] == ["*.md", "*/*.md"]  # d2lbook's notebooks: the pages
    for key in ("[project] name", "[build] warning_is_error",
                "[library] version_file", "[colab] github_repo"):
        assert key in ignored, key


def test_config_from_ini_runs_sphinx_configs(tmp_path: Path) -> None:
    ini = tmp_path / "config.ini"
    ini.write_text(CONFIG_INI)
    said: list[str] = []
    values = config_from_ini(str(ini), report=said.append)
    assert values["numfig_secnum_depth"] == 2
    assert any("unknown key [build] colour" in s for s in said)


def test_migrate_command_and_build(make_app: Any, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    book = tmp_path / "book"
    book.mkdir()
    (book / "config.ini").write_text(
        "[project]\ntitle = Tiny\n\n[build]\ntabs = pytorch, jax\neval_notebook = False\n"
        "unknown_key = 1\n"
    )
    (book / "index.md").write_text(
        "# Tiny\n\n```{.python .input}\nx = 1\n```\n\n```{.python .input}\n#@tab jax\ny = 2\n```\n"
    )
    assert main(["migrate", str(book / "config.ini")]) == 0
    captured = capsys.readouterr()
    assert "unknown key [build] unknown_key" in captured.err
    conf = (book / "conf.py").read_text()
    assert len([line for line in conf.splitlines() if line.strip()]) == 3
    assert main(["migrate", str(book / "config.ini")]) == 1  # no silent overwrite
    app = make_app("html", srcdir=book)
    app.build()
    assert app.config.project == "Tiny"
    assert warnings_of(app) == []
    page = body(app, "index.html")
    labels = [lab.get_text(strip=True) for lab in page.select("label.sd-tab-label")]
    assert labels == ["PyTorch", "JAX"]


def test_folder_exclusions_and_bibliography_from_the_pages(tmp_path: Path) -> None:
    # d2l-vn: `exclusions = ... tests/ docs/`, no [pdf] bibfile, `:bibliography:` in a page
    (tmp_path / "config.ini").write_text(
        "[build]\nnotebooks = *.md */*.md\nexclusions = README.md tests/ docs/\n")
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "zreferences.md").write_text("# R\n\n:bibliography:`../d2l.bib`\n")
    (tmp_path / "d2l.bib").write_text("@book{a, title={A}}\n")
    (tmp_path / "tests").mkdir()  # excluded: its bibliography does not count
    (tmp_path / "tests" / "t.md").write_text(":bibliography:`../other.bib`\n")
    (tmp_path / "other.bib").write_text("")
    values = read_config_ini(str(tmp_path / "config.ini")).values
    assert values["exclude_patterns"][-3:] == ["README.md", "tests", "docs"]
    assert values["bibtex_bibfiles"] == ["d2l.bib"]
    assert "sphinxcontrib.bibtex" in values["extensions"]
