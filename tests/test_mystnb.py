"""MyST-NB alongside: either order of ``extensions``, each page read by its owner.

The book (tests/roots/test-mystnb): d2l pages (``chapter/d2l``: cells, tabs, references;
``chapter/front``: front matter without a notebook header), a ``.ipynb`` with stored
outputs and a glued value, and a MyST text notebook (jupytext front matter,
``code-cell``). The d2l pages go through the dialect and our kernels; the notebooks
through MyST-NB, executed as ``nb_execution_mode`` says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helpers import body, build_once, copy_root, warnings_of

ORDERS = {
    "d2l-first": ["sphinx_d2ltabs", "myst_nb"],
    "mystnb-first": ["myst_nb", "sphinx_d2ltabs"],
}
PAGES = ["index", "chapter/d2l", "chapter/front", "chapter/stored", "chapter/textnb"]
D2L_JOBS = [("chapter/d2l", "alpha"), ("chapter/d2l", "beta")]


def _build(src: Path, **conf: Any) -> Any:
    """A built app (cleaned up at once: its outdir and env stay readable)."""
    return build_once(src, confoverrides=conf)


def report(app: Any) -> dict[str, Any]:
    return json.loads(Path(app.doctreedir, "d2l_execution_report.json").read_text())


def jobs(app: Any) -> list[tuple[str, str]]:
    return sorted((e["docname"], e["framework"]) for e in report(app)["pages"])


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One d2l cache for the module's builds: the first runs the d2l page's two jobs,
    the others take them from it."""
    return str(tmp_path_factory.mktemp("d2l_cache"))


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory, cache_dir: str) -> dict[str, Any]:
    """The book built in each order (MyST-NB's execution off: stored outputs)."""
    apps: dict[str, Any] = {}
    for name, extensions in ORDERS.items():
        src = copy_root(tmp_path_factory.mktemp(name), "mystnb")
        apps[name] = _build(src, extensions=extensions, d2l_cache_dir=cache_dir)
    return apps


@pytest.mark.parametrize("order", ORDERS)
def test_builds_in_either_order_without_warnings(books: dict[str, Any], order: str) -> None:
    app = books[order]
    assert warnings_of(app) == []
    assert app.config.source_suffix[".md"] == "markdown"
    assert app.config.source_suffix[".ipynb"] == "myst-nb"


@pytest.mark.parametrize("order", ORDERS)
def test_only_d2l_pages_run_in_our_kernels(books: dict[str, Any], order: str) -> None:
    # no job for the notebook pages: MyST-NB owns them
    assert jobs(books[order]) == D2L_JOBS
    assert report(books[order])["failed"] == 0
    # nor a notebook per framework, nor download links
    root = Path(books[order].outdir, "_notebooks")
    written = sorted(str(p.relative_to(root)) for p in root.rglob("*.ipynb"))
    assert written == ["alpha/chapter/d2l.ipynb", "alpha/chapter/front.ipynb",
                       "alpha/index.ipynb", "beta/chapter/d2l.ipynb",
                       "beta/chapter/front.ipynb", "beta/index.ipynb"]
    assert body(books[order], "chapter/textnb.html").select(".d2l-notebook-links") == []


@pytest.mark.parametrize("order", ORDERS)
def test_d2l_page_has_its_tabs_outputs_and_references(books: dict[str, Any],
                                                      order: str) -> None:
    page = body(books[order], "chapter/d2l.html")
    labels = [lab["data-sync-id"] for lab in page.select("label.sd-tab-label")]
    assert labels == ["alpha", "beta"]  # the three cells: one tab set
    alpha = " ".join(p.get_text(" ") for p in page.select("div.d2l-framework-alpha"))
    beta = " ".join(p.get_text(" ") for p in page.select("div.d2l-framework-beta"))
    assert "alpha-out 42" in alpha and "both alpha" in alpha and "beta-out" not in alpha
    assert "beta-out 42" in beta and "both beta" in beta
    text = page.get_text(" ", strip=True)
    assert "#@tab" not in text and "{.python" not in text
    # :numref: to the notebook's MyST label, a value glued in the notebook
    link = page.find("a", href="stored.html#sec-stored")
    assert link is not None and link.get_text(strip=True) == "Section 3"
    assert "and glued 42 ;" in text
    front = body(books[order], "chapter/front.html")
    assert "keeps a page in the dialect: forty-two." in front.get_text(" ", strip=True)
    assert [lab.get_text(strip=True) for lab in front.select("label.sd-tab-label")] == [
        "alpha", "beta"]


@pytest.mark.parametrize("order", ORDERS)
def test_ipynb_page_shows_its_stored_outputs(books: dict[str, Any], order: str) -> None:
    page = body(books[order], "chapter/stored.html")
    outputs = [o.get_text(strip=True) for o in page.select("div.cell_output")]
    assert outputs == ["stored-out 42"]  # (the glue cell shows nothing: display=False)
    assert page.select(".sd-tab-set, .d2l-cell") == []
    ref = page.find("a", href="d2l.html#sec-d2l")
    assert ref is not None and ref.get_text(strip=True) == "A d2l page"


@pytest.mark.parametrize("order", ORDERS)
def test_text_notebook_is_read_by_mystnb(books: dict[str, Any], order: str) -> None:
    app = books[order]
    page = body(app, "chapter/textnb.html")
    cells = page.select("div.cell")
    assert len(cells) == 1 and "d2l-cell" not in cells[0]["class"]
    assert 'print("textnb-out", 6 * 7)' in cells[0].select_one("div.cell_input").get_text()
    assert cells[0].select("div.cell_output") == []  # nb_execution_mode = "off"
    text = page.get_text(" ", strip=True)
    assert "jupytext" not in text and "kernelspec" not in text
    assert page.find("a", href="d2l.html#sec-d2l") is not None
    # MyST-NB wrote its notebook (it read the page), ours left it alone
    assert Path(app.outdir).parent.joinpath("jupyter_execute", "chapter",
                                            "textnb.ipynb").is_file()
    assert "chapter/textnb" not in app.env.d2l_state.doc_keys


def test_which_md_page_mystnb_owns(books: dict[str, Any], tmp_path: Path) -> None:
    from sphinx_d2ltabs.mystnb_compat import is_notebook_page

    env = books["d2l-first"].env
    assert is_notebook_page(env, str(env.doc2path("chapter/textnb")))
    assert not is_notebook_page(env, str(env.doc2path("chapter/d2l")))
    assert not is_notebook_page(env, str(env.doc2path("chapter/front")))
    header = b"---\nfile_format: mystnb\nkernelspec:\n  name: python3\n---\n"
    (tmp_path / "latin1.md").write_bytes(b"---\ntitle: caf\xe9\n---\n# T\n")
    (tmp_path / "mystnb.md").write_bytes(header + b"caf\xe9\n")
    assert not is_notebook_page(env, str(tmp_path / "latin1.md"))  # a d2l page
    assert is_notebook_page(env, str(tmp_path / "mystnb.md"))
    assert not is_notebook_page(env, str(tmp_path / "missing.md"))


def test_identical_html_in_both_orders(books: dict[str, Any]) -> None:
    first, second = books["d2l-first"], books["mystnb-first"]
    for page in PAGES:
        html = Path(first.outdir, page + ".html").read_text(encoding="utf-8")
        assert html == Path(second.outdir, page + ".html").read_text(encoding="utf-8"), page
    # (the same extensions, set up in the same order: MyST-NB first)
    assert list(first.extensions) == list(second.extensions)
    assert "myst_parser" not in first.extensions


def test_mystnb_executes_its_notebooks(tmp_path: Path, cache_dir: str,
                                       books: dict[str, Any]) -> None:  # (cache filled)
    """nb_execution_mode = "auto": MyST-NB runs the text notebook (no outputs) in a real
    kernel and keeps the stored outputs; our phase runs nothing new."""
    src = copy_root(tmp_path, "mystnb")
    app = _build(src, extensions=ORDERS["mystnb-first"], d2l_cache_dir=cache_dir,
                 nb_execution_mode="auto")
    assert warnings_of(app) == []
    textnb = body(app, "chapter/textnb.html")
    assert [o.get_text(strip=True) for o in textnb.select("div.cell_output")] == [
        "textnb-out 42"]
    exec_data = {d: m.get("exec_data") for d, m in app.env.nb_metadata.items()}
    assert exec_data["chapter/textnb"]["succeeded"] is True
    assert exec_data.get("chapter/stored") is None  # all outputs present: not run
    assert exec_data.get("chapter/d2l") is None  # never run by MyST-NB
    assert jobs(app) == D2L_JOBS and report(app)["executed"] == 0
    assert "alpha-out 42" in body(app, "chapter/d2l.html").get_text(" ")


def test_another_parser_on_md_is_a_warning(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "plain_ext.py").write_text(
        "from docutils.parsers.rst import Parser\n\n"
        "class Plain(Parser):\n    supported = ('plain',)\n\n"
        "def setup(app):\n    app.add_source_parser(Plain)\n")
    (src / "conf.py").write_text(
        "import os, sys\nsys.path.insert(0, os.path.dirname(__file__))\n"
        "extensions = ['sphinx_d2ltabs', 'plain_ext']\nd2l_execute = 'off'\n"
        "source_suffix = {'.md': 'plain'}\n")
    (src / "index.md").write_text("Index\n=====\n")
    app = _build(src)
    assert [w.split("WARNING: ", 1)[1] for w in warnings_of(app)] == [
        "'.md' pages are read by plain_ext.Plain (source_suffix '.md': 'plain'), not by "
        "sphinx_d2ltabs: the d2l dialect is not parsed [d2l.config]"]


def test_myst_parser_listed_too_is_a_config_error(tmp_path: Path) -> None:
    from sphinx.errors import ConfigError

    src = copy_root(tmp_path, "mystnb")
    with pytest.raises(ConfigError, match="list 'myst_nb' without 'myst_parser'"):
        _build(src, extensions=["myst_nb", "sphinx_d2ltabs", "myst_parser"])


def test_without_mystnb_nothing_changes(tmp_path: Path) -> None:
    """Without MyST-NB a page with a notebook header is a d2l page like any other."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text("extensions = ['sphinx_d2ltabs']\nd2l_execute = 'off'\n"
                                 "d2l_tabs = ['alpha', 'beta']\n")
    (src / "index.md").write_text("# Index\n\n```toc\nnb\n```\n")
    (src / "nb.md").write_text(
        "---\njupytext:\n  text_representation:\n    format_name: myst\n---\n\n# Header\n\n"
        ":begin_tab:`alpha`\nAlpha prose.\n:end_tab:\n\n:begin_tab:`beta`\nBeta prose.\n"
        ":end_tab:\n")
    app = _build(src)
    assert warnings_of(app) == []
    assert app.config.source_suffix[".md"] == "markdown"
    assert "myst_parser" in app.extensions and "myst_nb" not in app.extensions
    page = body(app, "nb.html")
    assert [lab.get_text(strip=True) for lab in page.select("label.sd-tab-label")] == [
        "alpha", "beta"]


def test_a_later_book_without_mystnb_keeps_its_suffixes(
        books: dict[str, Any], tmp_path: Path, cache_dir: str) -> None:
    """Sphinx's default ``source_suffix`` is one dict per process; MyST-NB's ``.ipynb``
    must not leak from the builds above into a book that does not load it."""
    src = copy_root(tmp_path, "mystnb")
    app = _build(src, extensions=["sphinx_d2ltabs"], d2l_cache_dir=cache_dir,
                 exclude_patterns=["chapter/stored.ipynb", "chapter/textnb.md", "_build"])
    assert ".ipynb" not in app.config.source_suffix
    from sphinx.config import Config

    assert Config.config_values["source_suffix"].default == {".rst": "restructuredtext"}
