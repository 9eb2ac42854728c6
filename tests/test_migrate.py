"""d2lbook config.ini → conf.py."""

from __future__ import annotations

import sys
from collections.abc import Iterator
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


# ------------------------------------------------- what d2lbook always has (issue #15)
def test_what_d2lbook_always_has(tmp_path: Path) -> None:
    (tmp_path / "config.ini").write_text(CONFIG_INI)
    (tmp_path / "d2l").mkdir()
    (tmp_path / "d2l" / "torch.py").write_text(
        "import os, no_such_fw_d2ltest.sub as x  # the framework\n"
        "from no_such_other_d2ltest.nn import y\nfrom . import z\nimport d2l\n")
    mig = read_config_ini(str(tmp_path / "config.ini"))
    values = mig.conf_values()
    # the file's own extensions first, then d2lbook's (autodoc for d2l-en's API page)
    assert values["extensions"][:2] == ["sphinx_d2ltabs", "sphinxcontrib.bibtex"]
    assert {"sphinx.ext.autodoc", "sphinx.ext.viewcode"} <= set(values["extensions"])
    assert values["autodoc_default_options"] == {"undoc-members": True,
                                                 "show-inheritance": True}
    # what the package imports and is not installed here is mocked for autodoc
    mocks = values["autodoc_mock_imports"]
    assert {"no_such_fw_d2ltest", "no_such_other_d2ltest"} <= set(mocks)
    assert not {"os", "d2l", "z", "sphinx"} & set(mocks)
    # kernels run as d2lbook's eval runs them
    assert values["d2l_kernel_env"] == {"*": {"PYTHONWARNINGS": "ignore"}}
    # sphinx_configs runs last: the book can change any of them
    (tmp_path / "config.ini").write_text(CONFIG_INI.replace(
        "sphinx_configs = numfig_secnum_depth = 2",
        "sphinx_configs = d2l_kernel_env = {}\n    extensions.remove('sphinx.ext.viewcode')"))
    values = config_from_ini(str(tmp_path / "config.ini"), report=lambda msg: None)
    assert values["d2l_kernel_env"] == {} and "sphinx.ext.viewcode" not in values["extensions"]


def test_hidden_folders_are_not_pages(tmp_path: Path) -> None:
    # d2lbook's globs skip them: d2l-en's .github/PULL_REQUEST_TEMPLATE.md is no page
    (tmp_path / "config.ini").write_text("[build]\nnotebooks = *.md */*.md\n")
    excludes = read_config_ini(str(tmp_path / "config.ini")).values["exclude_patterns"]
    assert {".*", "**/.*"} <= set(excludes)


D2L_EN_REPOS = """\
[build]
tabs = pytorch, mxnet, jax

[colab]
github_repo = mxnet, d2l-ai/d2l-en-colab
              pytorch, d2l-ai/d2l-pytorch-colab
              jax, d2l-ai/d2l-jax-colab
libs = jax, flax, flax

[sagemaker]
github_repo = mxnet, d2l-ai/d2l-en-sagemaker
              pytorch, d2l-ai/d2l-pytorch-sagemaker
              tensorflow, d2l-ai/d2l-tensorflow-sagemaker
              jax
              jax, https://github.com/d2l-ai/d2l-jax-sagemaker
kernel = pytorch, conda_pytorch_p36
"""


def test_colab_and_sagemaker_repositories(tmp_path: Path) -> None:
    (tmp_path / "config.ini").write_text(D2L_EN_REPOS)
    mig = read_config_ini(str(tmp_path / "config.ini"))
    assert mig.values["d2l_colab"] == {"mxnet": "d2l-ai/d2l-en-colab",
                                       "pytorch": "d2l-ai/d2l-pytorch-colab",
                                       "jax": "d2l-ai/d2l-jax-colab"}
    assert mig.values["d2l_studiolab"] == {"mxnet": "d2l-ai/d2l-en-sagemaker",
                                           "pytorch": "d2l-ai/d2l-pytorch-sagemaker"}
    ignored = "\n".join(mig.ignored)
    # the lines that give no button are reported, not dropped
    assert "[sagemaker] github_repo: 'tensorflow' is not one of [build] tabs" in ignored
    assert "[sagemaker] github_repo: the line 'jax' is not 'framework, owner/repo'" in ignored
    assert ("[sagemaker] github_repo: 'https://github.com/d2l-ai/d2l-jax-sagemaker' is not a "
            "GitHub repository 'owner/repo'") in ignored
    for key in ("[colab] libs", "[sagemaker] kernel", "[colab] github_repo"):
        assert key in ignored, key
    # one repository: the default tab's (d2lbook's single-repository form)
    (tmp_path / "config.ini").write_text(
        "[build]\ntabs = jax, numpy\n\n[colab]\ngithub_repo = me/book-colab\n")
    assert read_config_ini(str(tmp_path / "config.ini")).values["d2l_colab"] == {
        "jax": "me/book-colab"}
    (tmp_path / "config.ini").write_text("[colab]\ngithub_repo = me/book-colab\n")
    assert read_config_ini(str(tmp_path / "config.ini")).values["d2l_colab"] == {
        "python": "me/book-colab"}
    (tmp_path / "config.ini").write_text("[colab]\ngithub_repo =\n")  # d2lbook's default
    assert "d2l_colab" not in read_config_ini(str(tmp_path / "config.ini")).values


def test_slides_repository_names_the_decks_frameworks(tmp_path: Path) -> None:
    """d2l-en's ``[slides] github_repo = pytorch, d2l-ai/d2l-pytorch-slides``: PyTorch
    decks (``d2l_slides``), and the repository reported as not used."""
    (tmp_path / "config.ini").write_text(
        "[build]\ntabs = mxnet, pytorch\n\n[slides]\ntop_right = <img src='x.png'/>\n"
        "github_repo = pytorch, d2l-ai/d2l-pytorch-slides\n")
    mig = read_config_ini(str(tmp_path / "config.ini"))
    assert mig.values["d2l_slides"] == ["pytorch"]
    ignored = "\n".join(mig.ignored)
    assert "[slides] github_repo: its frameworks read into d2l_slides" in ignored
    assert "[slides] top_right" in ignored
    (tmp_path / "config.ini").write_text("[slides]\ngithub_repo = jax, me/slides\n")
    mig = read_config_ini(str(tmp_path / "config.ini"))
    assert "d2l_slides" not in mig.values
    assert "'jax' is not one of [build] tabs" in "\n".join(mig.ignored)


@pytest.mark.parametrize(("text", "message"), [
    ("tabs = pytorch\n",
     "File contains no section headers. file: '{ini}', line: 1 'tabs = pytorch\\n'"),
    ("[build]\ntabs = a\ntabs = b\n",
     "While reading from '{ini}' [line 3]: option 'tabs' in section 'build' already exists"),
    ("[build]\ntabs = a\n[build]\n",
     "While reading from '{ini}' [line 3]: section 'build' already exists"),
])
def test_bad_config_ini_names_the_file_and_line(tmp_path: Path, text: str, message: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    ini = tmp_path / "config.ini"
    ini.write_text(text)
    assert main(["migrate", str(ini)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {message.format(ini=ini)}\n"
    assert not (tmp_path / "conf.py").exists()


def test_config_ini_errors_in_a_sphinx_build(tmp_path: Path) -> None:
    from sphinx.errors import ConfigError

    ini = tmp_path / "config.ini"
    ini.write_bytes(b"[project]\ntitle = caf\xe9\n")
    with pytest.raises(ConfigError, match=r"config\.ini: not UTF-8 \(invalid continuation"):
        config_from_ini(str(ini))
    with pytest.raises(ConfigError, match=r"config\.ini: No such file"):
        config_from_ini(str(tmp_path / "missing" / "config.ini"))
    ini.write_text("[build]\nsphinx_configs = x = 1\n    y = (\n")
    with pytest.raises(ConfigError) as err:
        config_from_ini(str(ini), report=lambda msg: None)
    assert str(err.value).startswith(f"{ini} [build] sphinx_configs, line 2: ")
    ini.write_text("[build]\nsphinx_configs = x = 1\n    y = x / 0\n")
    with pytest.raises(ConfigError) as err:
        config_from_ini(str(ini), report=lambda msg: None)
    assert str(err.value) == (f"{ini} [build] sphinx_configs, line 2: ZeroDivisionError: "
                              "division by zero")


# ----------------------------------------- a migrated book builds with no hand edits
API_PAGE = """\
# The `d2lmig` API Document

```eval_rst
.. currentmodule:: d2lmig.alpha
```

```eval_rst
.. autoclass:: Net
   :members:

.. autofunction:: twice
```
"""


@pytest.fixture
def migrated(tmp_path: Path) -> Iterator[Path]:
    """A d2l-en-like book: autodoc of its package (whose framework is not installed),
    a hand-written module header above d2lbook's banner, a hidden folder of markdown."""
    book = tmp_path / "book"
    (book / "chapter_a").mkdir(parents=True)
    (book / "config.ini").write_text(
        "[project]\ntitle = Mig\n\n[build]\nnotebooks = *.md */*.md\ntabs = alpha\n"
        "eval_notebook = False\n\n[library-alpha]\nlib_file = d2lmig/alpha.py\n\n"
        "[colab]\ngithub_repo = me/mig-colab\n")
    (book / "index.md").write_text("# Mig\n\n```toc\nchapter_a/save\nchapter_a/api\n```\n")
    (book / "chapter_a" / "save.md").write_text(
        "# Save\n\n```{.python .input}\n#@save\nclass Net(nsf.Module):\n"
        "    \"\"\"A network.\"\"\"\n\n    def forward(self, x):\n"
        "        \"\"\"Run it.\"\"\"\n        return x\n\n\ndef twice(x):\n"
        "    \"\"\"Twice x.\"\"\"\n    return 2 * x\n\n\n"
        "def train(net, devices=try_all_gpus()):  # (calls the framework at import time)\n"
        "    return devices\n```\n")
    (book / "chapter_a" / "api.md").write_text(API_PAGE)
    (book / ".github").mkdir()
    (book / ".github" / "PULL_REQUEST_TEMPLATE.md").write_text("# Template\n")
    (book / "d2lmig").mkdir()
    (book / "d2lmig" / "alpha.py").write_text(
        "import no_such_framework_d2ltest as nsf\n\n\ndef try_all_gpus():\n"
        "    return [nsf.gpu(i) for i in range(nsf.num_gpus())]\n\n\n"
        "#################   WARNING   ################\n"
        "# The below part is generated automatically through:\n#    d2lbook build lib\n"
        "# Don't edit it directly\n\nOLD = 1\n")
    saved_path = list(sys.path)
    yield book
    sys.path[:] = saved_path
    mine = ("d2lmig", "no_such_framework_d2ltest")
    for name in [n for n in sys.modules if n.split(".")[0] in mine]:
        del sys.modules[name]


def test_migrated_book_builds_with_no_hand_edits(make_app: Any, migrated: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", str(migrated / "config.ini")]) == 0
    out = capsys.readouterr().out
    assert "autodoc_mock_imports = [" in out and "'no_such_framework_d2ltest'" in out
    app = make_app("html", srcdir=migrated)
    app.build()
    assert warnings_of(app) == []
    assert app.config.d2l_colab == {"alpha": "me/mig-colab"}
    assert app.config.d2l_lib_headers == {}
    page = body(app, "chapter_a/api.html")
    names = [dt.get("id") for dt in page.select("dt[id]")]
    assert names == ["d2lmig.alpha.Net", "d2lmig.alpha.Net.forward", "d2lmig.alpha.twice"]
    assert "Twice x." in page.get_text() and "Run it." in page.get_text()
    assert Path(app.outdir, "_modules", "d2lmig", "alpha.html").exists()  # viewcode
    module = (migrated / "d2lmig" / "alpha.py").read_text()
    assert module.startswith("import no_such_framework_d2ltest as nsf\n\n\ndef try_all_gpus")
    assert "class Net(nsf.Module)" in module and "OLD" not in module
    assert "PULL_REQUEST_TEMPLATE" not in str(app.env.found_docs)
    # the next build changes nothing: no configuration change, no page read
    app = make_app("html", srcdir=migrated)
    app.build()
    assert "0 added, 0 changed, 0 removed" in app.status.getvalue()
    assert [w for w in warnings_of(app) if "already registered" not in w] == []


def test_kernels_ignore_warnings_as_d2lbook_eval(make_app: Any, tmp_path: Path) -> None:
    # d2lbook runs its kernels with PYTHONWARNINGS=ignore: no library warning in the book
    book = tmp_path / "book"
    book.mkdir()
    (book / "config.ini").write_text("[project]\ntitle = Warn\n")
    (book / "index.md").write_text(
        "# Warn\n\n```{.python .input}\nimport warnings\n"
        "warnings.warn('noisy')\nprint('after the warning')\n```\n")
    assert main(["migrate", str(book / "config.ini")]) == 0
    app = make_app("html", srcdir=book)
    app.build()
    text = body(app, "index.html").get_text()
    assert "after the warning" in text and "UserWarning" not in text
    # (without it, the warning is part of the page)
    app = make_app("html", srcdir=book, confoverrides={"d2l_kernel_env": {}})
    app.build()
    assert "UserWarning: noisy" in body(app, "index.html").get_text()
