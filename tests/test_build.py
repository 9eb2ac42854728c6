"""Sphinx builds of the dialect: tabs, structure, references, builders, themes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sphinx.errors import ConfigError

from helpers import body, html, warnings_of
from test_dialect import NOTEBOOK_SRC

ROOTS = Path(__file__).parent / "roots"


def make_book(tmp_path: Path, files: dict[str, str], conf: str) -> Path:
    src = tmp_path / "src"
    src.mkdir(parents=True, exist_ok=True)
    (src / "conf.py").write_text("extensions = ['sphinx_d2ltabs']\nproject = 'book'\n"
                                 "d2l_execute = 'off'\n" + conf)
    for name, text in files.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return src


def build(make_app: Any, src: Path, buildername: str = "html", **kwargs: Any) -> Any:
    app = make_app(buildername, srcdir=src, **kwargs)
    app.build()
    return app


def tab_sets(soup: Any) -> list[list[tuple[str, str]]]:
    """[(sync id, label text)] of every tab set."""
    return [
        [(lab["data-sync-id"], lab.get_text(strip=True)) for lab in ts.find_all(
            "label", class_="sd-tab-label", recursive=False)]
        for ts in soup.find_all("div", class_="sd-tab-set")
    ]


@pytest.mark.sphinx("html", testroot="dialect")
def test_dialect_page(app: Any) -> None:
    app.build()
    assert warnings_of(app) == []
    page = body(app, "chapter.html")
    sets = page.find_all("div", class_="sd-tab-set")
    assert tab_sets(page) == [
        [("pytorch", "PyTorch"), ("jax", "JAX"), ("tensorflow", "TF")],
        [("pytorch", "PyTorch"), ("jax", "JAX")],
    ]
    # every label is in the one framework sync group; the first tab is checked
    for label in page.find_all("label", class_="sd-tab-label"):
        assert label["data-sync-group"] == "framework"
    assert sets[0].find("input")["checked"] == "checked"
    # the prose and the cell of a framework share its panel
    first_panels = sets[0].find_all("div", class_="sd-tab-content", recursive=False)
    assert "PyTorch prose." in first_panels[0].get_text()
    assert "import torch" in first_panels[0].get_text()
    assert "import jax" in first_panels[1].get_text()
    assert "tensorflow" in first_panels[2].get_text()
    assert "%%tab" not in page.get_text() and "#@tab" not in page.get_text()
    # the #@tab all cell renders once, outside any tab set, with MyST-NB classes
    common = page.find("div", class_="d2l-framework-all")
    assert common is not None and "cell" in common["class"]
    assert common.find("div", class_="cell_input") is not None
    assert common.find_parent("div", class_="sd-tab-set") is None
    # structure and references resolve
    text = page.get_text(" ", strip=True)
    assert "Section 1" in text and "Fig. 1.1" in text and "Table 1.1" in text
    assert "(1.1)" in text
    fig = page.find("figure", id="fig-cat")
    assert fig.find("img")["style"] == "width: 200px;"
    assert page.find("table", id="tab-x").find("caption") is not None
    # the original text in HTML comments leaves nothing behind
    assert "original heading" not in str(page)
    # the hidden-output marker line is not shown
    assert "#@hide_output" not in page.get_text()


@pytest.mark.sphinx("html", testroot="dialect")
def test_storage_prefix_and_sync_script(app: Any) -> None:
    app.build()
    soup = html(app, "chapter.html")
    script = soup.find("script", attrs={"data-sd-tabs-storage-prefix": True})
    assert script is not None
    assert script["data-sd-tabs-storage-prefix"] == "d2ltabs-dialect-"
    js = Path(app.outdir, "_static", "design-tabs.js").read_text()
    assert "localStorage" in js


def test_d2lbook_notebook_groups(make_app: Any, tmp_path: Path) -> None:
    """d2lbook's N4a: the tab groups of notebook_test's `_markdown_src`."""
    src = make_book(tmp_path, {"index.md": NOTEBOOK_SRC}, "d2l_tabs = ['python3', 'python2']\n")
    app = build(make_app, src)
    # the fixture refers to an equation it does not define: reported, with its line
    assert warnings_of(app) == ["index.md:11: WARNING: equation not found: sec_1 [ref.eq]"]
    page = body(app, "index.html")
    assert tab_sets(page) == [
        [("python2", "python2")],
        [("python3", "python3"), ("python2", "python2")],
    ]
    second = page.find_all("div", class_="sd-tab-set")[1]
    panels = second.find_all("div", class_="sd-tab-content", recursive=False)
    assert "python3 is better" in panels[0].get_text()
    assert panels[0].find("div", class_="cell") is not None
    assert "1+2+3" in panels[1].find("pre").get_text()  # the ```python2 block inside the tab
    assert len(panels[1].find_all("div", class_="cell")) == 1
    # the plain ```bash block is a literal block outside every tab set
    after = page.find_all("div", class_="sd-tab-set")[-1].find_next_sibling("div")
    assert after.find("pre").get_text().startswith("````\naa")


def test_d2lbook_all_tab_cell(make_app: Any, tmp_path: Path) -> None:
    """d2lbook's N4b/N4c: an `#@tab all` cell outside groups; missing tabs left out."""
    text = ("# Test\n\n```{.python .input}\n#@tab all\n1+2\n```\n\nSplit\n\n"
            "```{.python .input}\n#@tab python2,python4\n1122\n```\n\n"
            ":begin_tab:`python2,python3`\nHere\n:end_tab:\n")
    src = make_book(tmp_path, {"index.md": text}, "d2l_tabs = ['python3', 'python2', 'python4']\n")
    app = build(make_app, src)
    assert warnings_of(app) == []
    page = body(app, "index.html")
    assert tab_sets(page) == [[("python3", "python3"), ("python2", "python2"),
                               ("python4", "python4")]]
    panels = page.find("div", class_="sd-tab-set").find_all("div", class_="sd-tab-content",
                                                             recursive=False)
    assert [p.get_text(" ", strip=True) for p in panels] == ["Here", "1122 Here", "1122"]
    common = page.find("div", class_="d2l-framework-all")
    assert common.find_parent("div", class_="sd-tab-set") is None


def test_single_framework_page_has_no_tab_bar(make_app: Any, tmp_path: Path) -> None:
    text = "# Only default\n\n```{.python .input}\nx = 1\n```\n\n```{.python .input}\ny = 2\n```\n"
    src = make_book(tmp_path, {"index.md": text}, "d2l_tabs = ['pytorch', 'jax']\n")
    app = build(make_app, src)
    page = body(app, "index.html")
    assert page.find("div", class_="sd-tab-set") is None
    assert len(page.find_all("div", class_="cell")) == 2


def test_warnings_name_file_and_line(make_app: Any, tmp_path: Path) -> None:
    text = ("# Bad\n\n```{.python .input}\n#@tab nope\nx = 1\n```\n\n:begin_tab:`pytorch`\n"
            "never closed\n\nSee :frobnicate:`x`.\n")
    src = make_book(tmp_path, {"index.md": text}, "d2l_tabs = ['pytorch', 'jax']\n")
    app = build(make_app, src)
    warnings = warnings_of(app)
    assert any(w.startswith("index.md:3: WARNING: unknown framework 'nope'") and "[d2l.tab]" in w
               for w in warnings), warnings
    assert any(w.startswith("index.md:8: WARNING: ':begin_tab:`pytorch`' is not closed")
               for w in warnings), warnings
    assert any(w.startswith("index.md:11: WARNING: unknown mark ':frobnicate:`x`'")
               and "[d2l.mark]" in w for w in warnings), warnings
    # nothing is lost: the unknown cell and mark text are still on the page
    page = body(app, "index.html")
    assert "x = 1" in page.get_text() and ":frobnicate:`x`" in page.get_text()


def test_warnings_can_be_silenced(make_app: Any, tmp_path: Path) -> None:
    text = "# Bad\n\n```{.python .input}\n#@tab nope\nx = 1\n```\n"
    src = make_book(tmp_path, {"index.md": text},
                    "d2l_tabs = ['pytorch']\nsuppress_warnings = ['d2l.tab']\n")
    app = build(make_app, src)
    assert warnings_of(app) == []


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ("d2l_tabs = 'pytorch'\n", "d2l_tabs: must be a non-empty list"),
        ("d2l_tabs = ['pytorch', 'PyTorch']\n", "d2l_tabs: framework 'pytorch' is listed twice"),
        ("d2l_tabs = ['all']\n", "d2l_tabs: 'all' is reserved"),
        ("d2l_tabs = ['py-torch']\n", "must be a Python identifier"),
        ("d2l_execute = 'sometimes'\n", "d2l_execute: 'sometimes' is not one of"),
        ("d2l_kernels = {'jax': 'python3'}\n", "d2l_kernels: 'jax' is not a configured framework"),
        ("d2l_timeout = -2\n", "d2l_timeout: -2 must be a positive number, or -1 for no timeout"),
    ],
)
def test_config_errors(make_app: Any, tmp_path: Path, conf: str, message: str) -> None:
    src = make_book(tmp_path, {"index.md": "# x\n"}, conf.replace("d2l_execute = 'off'", ""))
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_app("html", srcdir=src)


@pytest.mark.parametrize("buildername", ["text", "latex"])
def test_non_html_shows_every_tab(make_app: Any, tmp_path: Path, buildername: str) -> None:
    src = tmp_path / "src"
    shutil.copytree(ROOTS / "test-dialect", src)
    app = build(make_app, src, buildername)
    assert warnings_of(app) == []
    if buildername == "text":
        out = Path(app.outdir, "chapter.txt").read_text()
        assert "import torch" in out and "import jax" in out and "import tensorflow" in out
        assert "PyTorch" in out and "JAX" in out


def test_non_html_default_only(make_app: Any, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(ROOTS / "test-dialect", src)
    app = make_app("text", srcdir=src, confoverrides={"d2l_nonhtml_tabs": "default"})
    app.build()
    out = Path(app.outdir, "chapter.txt").read_text()
    assert "import torch" in out and "import jax" not in out and "import tensorflow" not in out
    assert "hello" in out  # common cells stay


def _pages(outdir: Path) -> dict[str, str]:
    out = {}
    for path in sorted(outdir.glob("*.html")):
        if path.name in ("search.html", "genindex.html"):
            continue
        text = path.read_text(encoding="utf-8")
        out[path.name] = re.sub(r"\?v=[0-9a-f]+", "", text)
    return out


def build_in_subprocess(src: Path, *options: str) -> Path:
    """``sphinx-build OPTIONS -b html SRC SRC/_build/html`` in a process of its own.

    For ``-j``: Sphinx's parallel build forks (multiprocessing's fork context), and this
    pytest worker may already hold threads that earlier test modules left (the daemon
    threads of dask's and fsspec's event loops), where Python 3.12+ warns that fork() may
    deadlock the child. A fresh process forks single-threaded, as a real sphinx-build does.
    """
    outdir = src / "_build" / "html"
    done = subprocess.run([sys.executable, "-m", "sphinx", *options, "-q", "-b", "html",
                           str(src), str(outdir)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return outdir


@pytest.mark.parametrize("root", ["test-dialect", "test-seeds"])
def test_parallel_build_gives_same_html(tmp_path: Path, root: str) -> None:
    serial_src, parallel_src = tmp_path / "a" / "src", tmp_path / "b" / "src"
    shutil.copytree(ROOTS / root, serial_src)
    shutil.copytree(ROOTS / root, parallel_src)
    a = _pages(build_in_subprocess(serial_src))
    b = _pages(build_in_subprocess(parallel_src, "-j", "2"))
    assert a.keys() == b.keys() and len(a) >= 2
    for name in a:
        assert a[name] == b[name], name


def test_book_theme(make_app: Any, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(ROOTS / "test-dialect", src)
    app = make_app("html", srcdir=src, confoverrides={"html_theme": "sphinx_book_theme"})
    app.build()
    assert warnings_of(app) == []
    page = html(app, "chapter.html")
    assert page.find("div", class_="sd-tab-set") is not None
    assert page.find("div", class_="cell_input") is not None


SEED_WARNINGS = [
    # three translations of one chapter define the same label: genuinely duplicate
    "duplicate label chap_computation",
    # images referenced by the seeds are not part of them
    "image file not readable: ../img/forward.svg",
    "image file not readable: ../img/book-org.svg",
    # their toc blocks name chapter pages that are not part of the seeds
    "toctree contains reference to nonexisting document",
    # references to chapters that are not part of the seeds
    "undefined label:",
]


@pytest.mark.sphinx("html", testroot="seeds")
def test_seeds_build(app: Any) -> None:
    app.build()
    warnings = warnings_of(app)
    unexplained = [w for w in warnings if not any(s in w for s in SEED_WARNINGS)]
    assert unexplained == []
    # every seed page is rendered, the reST one too, and citations resolve
    for name in ("seed_000_91ca416a476e5127", "seed_003_c73f9b20be4bbae6",
                 "seed_004_c4b9cbd258fa05c2"):
        assert Path(app.outdir, f"{name}.html").exists()
    seed4 = body(app, "seed_004_c4b9cbd258fa05c2.html")
    assert "Goodfellow" in seed4.get_text()
    assert seed4.find("div", class_="sd-tab-set") is not None
    # comments with the English original produce nothing
    seed1 = body(app, "seed_001_e810a1fd05e895f6.html")
    assert "Alongside giant datasets" not in seed1.get_text()
    assert "Ngoài các tập dữ liệu" in seed1.get_text()
    # missing pieces are reported with file and line
    assert any(w.startswith("seed_004_c4b9cbd258fa05c2.md:45: WARNING: image file not readable")
               for w in warnings), warnings


@pytest.mark.sphinx("html", testroot="dialect")
def test_dialect_doctree_regression(app: Any, file_regression: Any) -> None:
    """The whole doctree of the dialect page, as Sphinx pickles it (before HTML transforms)."""
    app.build()
    doctree = app.env.get_doctree("chapter")
    text = doctree.pformat().replace(str(app.srcdir), "<srcdir>")
    file_regression.check(text, extension=".xml")


def test_docs_build_without_warnings(make_app: Any, tmp_path: Path) -> None:
    """docs/ is built with the extension itself, warnings as errors (as in CI)."""
    src = tmp_path / "docs"
    shutil.copytree(Path(__file__).parent.parent / "docs", src,
                    ignore=shutil.ignore_patterns("_build"))
    app = make_app("html", srcdir=src, warningiserror=True)
    app.build()
    assert warnings_of(app) == []
    dialect = body(app, "dialect.html")
    assert dialect.find("div", class_="sd-tab-set") is not None
    config = body(app, "configuration.html")
    assert "d2l_tabs" in config.get_text()
