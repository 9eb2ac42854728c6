"""Notebooks per framework, their zips, and the download / Colab / Studio Lab links.

The unit tests port d2lbook's ``notebook_test.py`` cases of ``get_tab_notebook`` (N2a-d)
and its ``build ipynb`` rules; the build tests use ``tests/roots/test-notebooks`` (two
cheap "frameworks" run by the python3 kernel) built from a primed cache.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from helpers import build_once, html, warnings_of
from sphinx_d2ltabs.cells import Cell
from sphinx_d2ltabs.config import ConfigError, D2lConfig, from_mapping
from sphinx_d2ltabs.execution.model import JobResult
from sphinx_d2ltabs.notebook_files import local_images, zip_bytes
from sphinx_d2ltabs.notebooks import (
    Link,
    Prose,
    framework_notebook,
    notebook_bytes,
    notebook_frameworks,
    split_page,
)
from sphinx_d2ltabs.publish import FrameworkLinks, book_name, hosted_url, links_html

ROOTS = Path(__file__).parent / "roots"

# ------------------------------------------------------------------ helpers (no Sphinx)


def notebook(text: str, framework: str, tabs: list[str], cfg: D2lConfig | None = None,
             refs: Any = None, result: JobResult | None = None) -> Any:
    cfg = cfg or from_mapping({"tabs": tabs})
    parts = split_page(text, tabs, refs)
    nb = framework_notebook(parts, framework, lambda c: cfg.code(c, framework), result)
    nbformat.validate(nb)
    return nb


def sources(nb: Any, kind: str | None = None) -> list[str]:
    return [c.source for c in nb.cells if kind is None or c.cell_type == kind]


def text_of(nb: Any) -> str:
    return "\n".join(sources(nb))


# d2lbook's notebook_test.py fixture ``_markdown_src`` (8 blocks)
D2LBOOK_SRC = """# Test

first para

:begin_tab:`python2`
python is good
:end_tab:

another para

This is :eqref:`sec_1`

:begin_tab:`python2`
```python2
1+2+3
```
:end_tab:

:begin_tab:`python3`
python3 is better

- here
- haha
:end_tab:

```{.input .python}
1+2+3
```

```{.input .python}
#@tab python2
1+2+3
```

```bash
````
aa
````
```
"""


def test_d2lbook_tab_notebook_of_another_tab() -> None:
    """N2a: ``get_tab_notebook(nb, 'python2', 'python3')``: the python2 prose and code, the
    untagged prose; not the python3 prose, nor the untagged (default) code cell."""
    nb = notebook(D2LBOOK_SRC, "python2", ["python3", "python2"])
    assert sources(nb, "code") == ["1+2+3"]  # the #@tab line removed
    prose = text_of(nb)
    for kept in ("# Test", "first para", "python is good", "another para", "```python2",
                 "```bash"):
        assert kept in prose
    assert "python3 is better" not in prose and ":begin_tab:" not in prose
    assert ":end_tab:" not in prose
    # prose, code, prose (consecutive prose is one markdown cell)
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "markdown"]


def test_d2lbook_tab_notebook_of_the_default_tab() -> None:
    """N2b: the default tab keeps the untagged code cell and its own prose."""
    nb = notebook(D2LBOOK_SRC, "python3", ["python3", "python2"])
    assert sources(nb, "code") == ["1+2+3"]
    prose = text_of(nb)
    assert "python3 is better" in prose and "- haha" in prose
    assert "python is good" not in prose and "```python2" not in prose


@pytest.mark.parametrize("framework", ["python2", "python3"])
def test_d2lbook_multi_tab_cell(framework: str) -> None:
    """N2c/N2d: a cell marked ``python2, python3`` is in both, without its marker."""
    src = "# Title\n\n```{.python .input}\n#@tab python2, python3\n1+2\n```\n\nThe end\n"
    nb = notebook(src, framework, ["python3", "python2"])
    assert sources(nb) == ["# Title", "1+2", "The end"]


def test_untagged_is_the_default_tab_and_all_is_every_tab() -> None:
    src = ("```{.python .input}\nuntagged = 1\n```\n\n```{.python .input}\n#@tab all\n"
           "shared = 2\n```\n\n```{.python .input}\n%%tab beta\nbeta = 3\n```\n")
    assert sources(notebook(src, "alpha", ["alpha", "beta"])) == ["untagged = 1", "shared = 2"]
    assert sources(notebook(src, "beta", ["alpha", "beta"])) == ["shared = 2", "beta = 3"]


def test_which_frameworks_have_a_notebook() -> None:
    def cells(*frameworks: tuple[str, ...]) -> list[Cell]:
        return [Cell(line=i, source="x", frameworks=f) for i, f in enumerate(frameworks)]

    tabs = ["alpha", "beta", "gamma"]
    assert notebook_frameworks([], tabs) == tabs  # prose only: every framework (d2lbook)
    assert notebook_frameworks(cells(("beta",)), tabs) == ["beta"]
    # shared cells do not bring the other frameworks (d2lbook's get_tab_notebook)
    assert notebook_frameworks(cells(("all",), ("beta",)), tabs) == ["alpha", "beta"]
    assert notebook_frameworks(cells(("all",)), tabs) == tabs


def test_set_up_cells_branches_aliases_and_hide_marks() -> None:
    src = """```{.python .input}
%load_ext d2lbook.tab
tab.interact_select(['alpha', 'beta'])
```

```{.python .input}
#@tab all
if tab.selected('alpha'):
    x = 'a'
if tab.selected('beta'):
    x = d2l.sqrt(4)
```

```{.python .input}
#@tab all
#@hide
secret = 1
```

```{.python .input}
#@tab all
y = 2  #@hide_output
```

```{.python .input}
#@tab all
#@hide_code
print('shown')
```
"""
    cfg = from_mapping({"tabs": ["alpha", "beta"],
                        "aliases": {"beta": {"lib_name": "math", "simple_alias": "sqrt"}}})
    alpha = sources(notebook(src, "alpha", ["alpha", "beta"], cfg))
    beta = sources(notebook(src, "beta", ["alpha", "beta"], cfg))
    # the set-up cell is dropped; hidden cells stay (later cells need them), marks removed
    assert alpha == ["x = 'a'", "secret = 1", "y = 2", "print('shown')"]
    assert beta == ["x = math.sqrt(4)", "secret = 1", "y = 2", "print('shown')"]


MARKS_SRC = """# Title
:label:`sec_title`

[**Slide**] text (**kept**)(~~dropped~~) here.
See :numref:`sec_x`, :eqref:`eq_y`, :ref:`sec_z`, :cite:`Key.2020`, :citet:`Key.2020`
and :func:`f`; ``:numref:`sec_x` `` is literal.

$$
a = b
$$
:eqlabel:`eq_y`

![Cap](../img/a.svg)
:width:`300px`
:label:`fig_a`

```python
:numref:`in_a_fence`
```

:end_tab:

:bibliography:`refs.bib`

```toc
:maxdepth: 2

one
sub/two
Explicit title <three>
```
"""


def test_marks_without_a_build() -> None:
    prose = text_of(notebook(MARKS_SRC, "alpha", ["alpha"]))
    assert "Slide text kept here." in prose and "dropped" not in prose
    assert "See sec_x, (eq_y), sec_z, [Key.2020], [Key.2020]\nand `f`;" in prose
    assert "``:numref:`sec_x` `` is literal" in prose
    assert ":numref:`in_a_fence`" in prose  # a fence keeps its text
    assert "$$\na = b\n$$" in prose  # no number known: no \tag
    for gone in (":label:", ":width:", ":eqlabel:", ":end_tab:", ":bibliography:", "```toc"):
        assert gone not in prose
    assert "- [one](one.ipynb)\n- [sub/two](sub/two.ipynb)\n- [Explicit title](three.ipynb)" \
        in prose  # d2lbook's update_ipynb_toc


class FakeRefs:
    def role(self, name: str, target: str) -> Link | None:
        if name == "numref":
            return Link("Section 1.2", "other.ipynb")
        if name == "cite":
            return Link("[Key et al., 2020]", "https://book/references.html#id1")
        return None

    def equation_number(self, label: str) -> str | None:
        return "3.1" if label == "eq_y" else None

    def toc(self, entry: str) -> Link | None:
        return Link(f"Title of {entry}", f"{entry}.ipynb") if entry == "one" else None

    def bibliography(self, value: str) -> str:
        return f"- the entries of {value}"


def test_marks_resolved_by_the_build() -> None:
    prose = text_of(notebook(MARKS_SRC, "alpha", ["alpha"], refs=FakeRefs()))
    assert "See [Section 1.2](other.ipynb), (eq_y), sec_z, " in prose
    assert "[\\[Key et al., 2020\\]](https://book/references.html#id1)" in prose
    assert "$$\na = b\n\\tag{3.1}$$" in prose
    assert "- the entries of refs.bib" in prose
    # a page the build does not know is named, not linked
    assert "- [Title of one](one.ipynb)\n- sub/two\n- Explicit title" in prose


def result_for(lines: dict[int, list[dict[str, Any]]]) -> JobResult:
    return JobResult("page", "alpha", "ok", outputs=lines,
                     execution_counts={line: n for n, line in enumerate(lines, 1)})


def test_outputs_of_the_result() -> None:
    src = "```{.python .input}\nprint(1)\n```\n\n```{.python .input}\nx = 2\nx\n```\n"
    result = result_for({
        1: [{"output_type": "stream", "name": "stdout", "text": "1\n", "extra": 1},
            {"output_type": "display_data", "data": {"text/plain": "HBox(children=())"},
             "metadata": {}}],
        5: [{"output_type": "execute_result", "data": {"text/plain": "2"}, "metadata": {},
             "execution_count": 2, "transient": {}}],
    })
    nb = notebook(src, "alpha", ["alpha"], result=result)
    first, second = nb.cells
    assert first.outputs == [{"output_type": "stream", "name": "stdout", "text": "1\n"}]
    assert first.execution_count == 1  # the tqdm widget left out (d2lbook)
    assert second.outputs[0]["data"] == {"text/plain": "2"} and second.execution_count == 2
    bare = notebook(src, "alpha", ["alpha"])
    assert all(c.outputs == [] and c.execution_count is None for c in bare.cells)


def test_notebook_bytes_are_stable() -> None:
    one = notebook_bytes(notebook(MARKS_SRC + D2LBOOK_SRC, "python2", ["python3", "python2"]))
    two = notebook_bytes(notebook(MARKS_SRC + D2LBOOK_SRC, "python2", ["python3", "python2"]))
    assert one == two
    assert nbformat.reads(one.decode(), as_version=4).metadata.kernelspec.name == "python3"


def test_local_images() -> None:
    parts = [Prose("![a](../img/a.svg) <img src='../img/b.png'> ![c](https://x/c.png)"),
             Prose("![d](../img/d.svg)", ("beta",)), Prose("![e](../../out.png)")]
    found = local_images(parts, "alpha", "chapter/page", exists=lambda path: True)
    assert found == ["img/a.svg", "img/b.png"]
    assert "img/d.svg" in local_images(parts, "beta", "chapter/page", exists=lambda p: True)


def test_zip_bytes_are_stable(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.ipynb").write_text("{}")
    one = zip_bytes(str(tmp_path), ["sub/a.ipynb"], "book-alpha")
    assert one == zip_bytes(str(tmp_path), ["sub/a.ipynb"], "book-alpha")
    assert zipfile.ZipFile(io.BytesIO(one)).namelist() == ["book-alpha/sub/a.ipynb"]


def test_hosted_urls_and_link_box() -> None:
    assert hosted_url("https://colab.research.google.com/github/{repo}/blob/{branch}/{path}",
                      "d2l-ai/d2l-pytorch-colab", "master", "chapter_x/page") == (
        "https://colab.research.google.com/github/d2l-ai/d2l-pytorch-colab/blob/master/"
        "chapter_x/page.ipynb")
    assert hosted_url("{repo}|{branch}|{path}", "o/r@dev", "main", "a") == "o/r|dev|a.ipynb"
    assert book_name("Dive into Deep Learning!") == "dive-into-deep-learning"
    # words of any script are kept (d2l-zh, d2l-vi): not "book", not "m-m-nh-v-o-h-c"
    assert book_name("动手学深度学习") == "动手学深度学习"
    assert book_name("Đắm mình vào Học Sâu") == "đắm-mình-vào-học-sâu"
    assert book_name("!!!") == "book"
    box = links_html([FrameworkLinks("alpha", "Alpha", notebook="a.ipynb"),
                      FrameworkLinks("beta", "Beta"),
                      FrameworkLinks("gamma", "G<&>", colab="https://c/x?a=1&b=2")], "alpha")
    assert 'data-d2l-default="alpha"' in box and 'data-d2l-framework="beta"' not in box
    assert 'href="https://c/x?a=1&amp;b=2"' in box and "G&lt;&amp;&gt;" in box
    assert links_html([FrameworkLinks("beta", "Beta")], "beta") == ""


@pytest.mark.parametrize(("option", "value", "message"), [
    ("colab", {"gamma": "o/r"}, "d2l_colab: 'gamma' is not a configured framework"),
    ("studiolab", {"alpha": "not a repo"}, "d2l_studiolab['alpha']: 'not a repo' must be"),
    ("colab", ["o/r"], "d2l_colab: must be a dict"),
])
def test_hosted_repository_options_are_checked(option: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        from_mapping({"tabs": ["alpha", "beta"], option: value})


# ------------------------------------------------------------------ builds


def build(src: Path, buildername: str = "html", **conf: Any) -> Any:
    return build_once(src, buildername, confoverrides=conf)


def copy_book(tmp_path: Path, prime_cache: Callable[..., None]) -> Path:
    src = tmp_path / "src"
    shutil.copytree(ROOTS / "test-notebooks", src)
    prime_cache(src)
    return src


def read_nb(app: Any, framework: str, docname: str) -> Any:
    path = Path(app.outdir, "_notebooks", framework, docname + ".ipynb")
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    return nb


def notebook_files(app: Any) -> list[str]:
    root = Path(app.outdir, "_notebooks")
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory,
          prime_cache: Callable[..., None]) -> Iterator[Any]:
    """The book built from its cache alone (``cache-only``: no kernel)."""
    src = copy_book(tmp_path_factory.mktemp("nb"), prime_cache)
    yield build(src, d2l_execute="cache-only")


def test_built_from_the_cache_alone(built: Any) -> None:
    assert warnings_of(built) == []
    report = json.loads(Path(built.doctreedir, "d2l_execution_report.json").read_text())
    assert report["executed"] == 0 and report["cached"] == 3
    assert "[d2l] notebooks: 9 written, 0 unchanged, 2 zip(s) written" in (
        built.status.getvalue())


def test_a_notebook_per_page_and_framework(built: Any) -> None:
    assert notebook_files(built) == [
        "alpha/chapter/one.ipynb", "alpha/chapter/two.ipynb", "alpha/img/net.svg",
        "alpha/index.ipynb", "alpha/prose.ipynb", "alpha/references.ipynb",
        "beta/chapter/one.ipynb", "beta/img/net.svg", "beta/index.ipynb",
        "beta/prose.ipynb", "beta/references.ipynb",  # page two has no beta cell
        "nb-book-alpha.zip", "nb-book-beta.zip"]


def test_built_notebooks_have_their_framework_and_outputs(built: Any) -> None:
    alpha, beta = read_nb(built, "alpha", "chapter/one"), read_nb(built, "beta", "chapter/one")
    outputs = [["".join(o.get("text", "")) or o.get("data", {}).get("text/plain")
                for o in c.outputs] for c in beta.cells if c.cell_type == "code"]
    assert outputs == [["beta-out 2.0\n"], ["both beta\n"], ["beta branch\n"],
                       ["hidden cell ran\n"], ["42"]]  # (the HBox display left out)
    assert sources(beta, "code")[0] == 'import math\nfw = "beta"\nprint("beta-out", math.sqrt(4))'
    assert sources(alpha, "code")[:2] == ['fw = "alpha"\nprint("alpha-out")', 'print("both", fw)']
    assert "Alpha prose." in text_of(alpha) and "Beta prose." not in text_of(alpha)
    assert "load_ext" not in text_of(alpha) + text_of(beta)
    assert [c.execution_count for c in alpha.cells if c.cell_type == "code"] == [1, 2, 3, 4, 5]
    two = read_nb(built, "alpha", "chapter/two")
    assert two.cells[1].outputs[0]["name"] == "stderr"
    assert alpha.metadata.kernelspec.name == "python3"
    assert alpha.metadata.d2l == {"framework": "alpha", "page": "chapter/one"}


def test_built_notebooks_resolve_references(built: Any) -> None:
    one = text_of(read_nb(built, "alpha", "chapter/one"))
    assert "Cited [\\[Smith and Doe, 2020\\]](../references.ipynb); more in " \
           "[Section 2](two.ipynb) and [Section 3](../prose.ipynb)." in one
    assert "$$a + b = c\\tag{1.1}$$" in one and "Fig. 1.1 shows it, and (1.1) adds." in one
    assert "Slides keep their text in notebooks." in one
    assert "- [One](chapter/one.ipynb)\n- [Two](chapter/two.ipynb)" in text_of(
        read_nb(built, "alpha", "index"))
    assert "Only the default framework runs this page; [(1.1)](one.ipynb) is on page one." \
        in text_of(read_nb(built, "alpha", "chapter/two"))
    refs = text_of(read_nb(built, "beta", "references"))
    assert "- Ann Smith and John Doe. A study of tabs. Journal of Books, 2020." in refs


def test_a_zip_per_framework(built: Any) -> None:
    root = Path(built.outdir, "_notebooks")
    with zipfile.ZipFile(root / "nb-book-beta.zip") as zf:
        assert sorted(zf.namelist()) == [
            "nb-book-beta/chapter/one.ipynb", "nb-book-beta/img/net.svg",
            "nb-book-beta/index.ipynb", "nb-book-beta/prose.ipynb",
            "nb-book-beta/references.ipynb"]
        data = zf.read("nb-book-beta/chapter/one.ipynb")
    assert data == (root / "beta" / "chapter" / "one.ipynb").read_bytes()


def link_groups(app: Any, page: str) -> dict[str, dict[str, str]]:
    box = html(app, page).select_one("div.d2l-notebook-links")
    if box is None:
        return {}
    return {g["data-d2l-framework"]: {a["class"][1]: a["href"] for a in g.select("a")}
            for g in box.select("[data-d2l-framework]")}


def test_download_and_hosted_links_per_framework(built: Any) -> None:
    assert link_groups(built, "chapter/one.html") == {
        "alpha": {"d2l-nb-download": "../_notebooks/alpha/chapter/one.ipynb",
                  "d2l-nb-zip": "../_notebooks/nb-book-alpha.zip",
                  "d2l-nb-colab": "https://colab.research.google.com/github/me/"
                                  "nb-alpha-colab/blob/master/chapter/one.ipynb"},
        "beta": {"d2l-nb-download": "../_notebooks/beta/chapter/one.ipynb",
                 "d2l-nb-zip": "../_notebooks/nb-book-beta.zip",
                 "d2l-nb-studiolab": "https://studiolab.sagemaker.aws/import/github/me/"
                                     "nb-beta-lab/blob/dev/chapter/one.ipynb"},
    }
    page = html(built, "chapter/one.html")
    assert page.select_one("div.d2l-notebook-links")["data-d2l-default"] == "alpha"
    assert page.select_one('script[src*="d2ltabs-notebooks.js"]') is not None
    assert list(link_groups(built, "chapter/two.html")) == ["alpha"]
    assert link_groups(built, "prose.html") == {}  # no code, no links


def test_switches_and_a_second_build(tmp_path: Path, prime_cache: Callable[..., None]) -> None:
    src = copy_book(tmp_path, prime_cache)
    app = build(src, d2l_notebook_outputs=False)
    assert all(c.outputs == [] for c in read_nb(app, "beta", "chapter/one").cells
               if c.cell_type == "code")
    page = src / "chapter" / "two.md"
    page.write_text(page.read_text() + "\nOne more line.\n")
    again = build(src)  # outputs back, one page changed: every notebook with outputs
    assert "[d2l] notebooks: 3 written, 6 unchanged, 2 zip(s) written" in (
        again.status.getvalue())
    assert read_nb(again, "beta", "chapter/one").cells[1].outputs != []
    stamp = os.stat(Path(again.outdir, "_notebooks", "nb-book-beta.zip")).st_mtime_ns
    page.write_text(page.read_text() + "\nAnd another.\n")
    third = build(src)
    assert "[d2l] notebooks: 1 written, 8 unchanged, 1 zip(s) written" in (
        third.status.getvalue())
    assert os.stat(Path(third.outdir, "_notebooks", "nb-book-beta.zip")).st_mtime_ns == stamp
    assert "And another." in text_of(read_nb(third, "alpha", "chapter/two"))
    assert warnings_of(third) == []
    fourth = build(src)  # nothing changed: the 9 notebooks (not their images) unchanged
    assert "[d2l] notebooks: 0 written, 9 unchanged, 0 zip(s) written" in (
        fourth.status.getvalue())


def test_execute_off_and_a_corrupt_manifest(tmp_path: Path,
                                            prime_cache: Callable[..., None]) -> None:
    src = copy_book(tmp_path, prime_cache)
    (src / "_build" / "doctrees").mkdir(parents=True)
    (src / "_build" / "doctrees" / "d2l_notebooks.json").write_text(
        '{"format": "1", "pages": {"index": {"fp": 1, "files": {"../x": ["/etc"]}}}}')
    app = build(src, d2l_execute="off")
    assert warnings_of(app) == []
    assert all(c.outputs == [] for c in read_nb(app, "alpha", "chapter/one").cells
               if c.cell_type == "code")


def test_notebooks_off_keeps_the_hosted_links(tmp_path: Path,
                                              prime_cache: Callable[..., None]) -> None:
    src = copy_book(tmp_path, prime_cache)
    app = build(src, d2l_notebooks=False, html_baseurl="https://nb.example/")
    assert not Path(app.outdir, "_notebooks").exists()
    assert link_groups(app, "chapter/one.html") == {
        "alpha": {"d2l-nb-colab": "https://colab.research.google.com/github/me/"
                                  "nb-alpha-colab/blob/master/chapter/one.ipynb"},
        "beta": {"d2l-nb-studiolab": "https://studiolab.sagemaker.aws/import/github/me/"
                                     "nb-beta-lab/blob/dev/chapter/one.ipynb"},
    }


def test_html_baseurl_links_to_the_pages(tmp_path: Path,
                                         prime_cache: Callable[..., None]) -> None:
    src = copy_book(tmp_path, prime_cache)
    app = build(src, html_baseurl="https://nb.example/book/")
    one = text_of(read_nb(app, "alpha", "chapter/one"))
    assert "[Section 2](https://nb.example/book/chapter/two.html#sec-two)" in one
    assert "[Fig. 1.1](https://nb.example/book/chapter/one.html#fig-net)" in one
    text = build(src, "text")
    assert not Path(text.outdir, "_notebooks").exists()  # HTML builds only


def test_an_output_folder_that_cannot_be_written(tmp_path: Path,
                                                 prime_cache: Callable[..., None]) -> None:
    src = copy_book(tmp_path, prime_cache)
    (src / "_build" / "html").mkdir(parents=True)
    (src / "_build" / "html" / "_notebooks").write_text("a file, not a folder")
    app = build(src)
    (warning,) = warnings_of(app)  # one warning, not one per page; the pages are built
    assert "WARNING: the notebooks of this page cannot be written" in warning
    assert warning.endswith("[d2l.output]")
    assert link_groups(app, "chapter/one.html")


def test_zips_store_what_is_already_compressed(tmp_path: Path) -> None:
    """Images already compressed are stored in a zip as they are; notebooks and SVGs are
    deflated. Either way the zip holds the files' bytes."""
    files = {"a.ipynb": b'{"cells": []}' * 100, "img/b.PNG": os.urandom(2000),
             "img/c.svg": b"<svg/>" * 100, "img/d.jpg": os.urandom(500)}
    for rel, data in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    with zipfile.ZipFile(io.BytesIO(zip_bytes(str(tmp_path), sorted(files), "top"))) as zf:
        kinds = {i.filename: i.compress_type for i in zf.infolist()}
        assert {name: zf.read(name) for name in kinds} == {f"top/{r}": d for r, d in files.items()}
    assert kinds == {"top/a.ipynb": zipfile.ZIP_DEFLATED, "top/img/b.PNG": zipfile.ZIP_STORED,
                     "top/img/c.svg": zipfile.ZIP_DEFLATED, "top/img/d.jpg": zipfile.ZIP_STORED}
