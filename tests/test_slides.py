"""Slides of the slide marks: d2lbook's rules (Sphinx-free) and the reveal.js decks of an
HTML build.

The unit tests port d2lbook's ``slides_test.py`` (S1-S3, on its fixture: the example of
its docs, ``docs/user/slides.md``) and the rules of its ``slides.py``; the build tests use
``tests/roots/test-slides`` (two cheap "frameworks" run by the python3 kernel, slides of
``alpha``) built from a primed cache.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from bs4 import BeautifulSoup
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import body, build_once, warnings_of
from sphinx_d2ltabs.config import ConfigError, from_mapping
from sphinx_d2ltabs.execution.model import JobResult
from sphinx_d2ltabs.mdit_d2l import dialect_md_parser
from sphinx_d2ltabs.mdit_syntax import strip_slide_marks
from sphinx_d2ltabs.notebooks import framework_notebook, split_page
from sphinx_d2ltabs.slides import (
    SENTINEL,
    capitalise,
    has_marks,
    mark_page,
    marked_spans,
    slides_notebook,
    slides_of,
    strip_comments,
    unmark,
)
from sphinx_d2ltabs.slides_render import DeckOptions, DeckRenderer

ROOTS = Path(__file__).parent / "roots"
MD = dialect_md_parser()

# d2lbook's slides_test.py fixture ``_md`` (the example of docs/user/slides.md)
D2LBOOK_MD = """# Data Manipulation

## Getting Started

To start, we can use `arange` to create a row vector `x`
containing the first 12 integers starting with 0,
though they are created as floats by default.

(**A tensor represents a (possibly multi-dimensional) array of numerical values. We can access a tensor's *shape*.**)


```{.python .input}
import numpy as np

x = np.arange(12)
x
```

[**Many**] more (**operations can be applied elementwise,**)
including unary operators like exponentiation.
(~~e.g. `exp`~~)

```{.python .input}
np.exp(x)
```

(**Even when shapes differ, we can still perform elementwise operations**)
by invoking the *broadcasting mechanism*.


```{.python .input}
a = np.arange(3).reshape(3, 1)
b = np.arange(2).reshape(1, 2)
a, b
```
"""  # noqa: E501


def slides(text: str, framework: str = "python", tabs: tuple[str, ...] = ("python",),
           result: JobResult | None = None, **kw: Any) -> Any:
    cfg = from_mapping({"tabs": list(tabs)})
    parts = split_page(mark_page(text, MD), list(tabs), md=MD)
    nb = slides_notebook(parts, framework, lambda c: cfg.code(c, framework), result, **kw)
    if nb is not None:
        nbformat.validate(nb)
    return nb


def cells(nb: Any) -> list[tuple[str, str, str]]:
    """(cell type, slide type, source) of each cell."""
    return [(c.cell_type, c.metadata.get("slideshow", {}).get("slide_type", ""), c.source)
            for c in nb.cells]


# ------------------------------------------------------------------ d2lbook's cases


def test_d2lbook_match_pairs() -> None:
    """S1: the 5 marked spans of the fixture, in document order."""
    spans = marked_spans(mark_page(D2LBOOK_MD, MD))
    assert [text[:14] for _, text in spans] == [
        "A tensor repre", "Many", "operations can", "e.g. `exp`", "Even when shap"]
    assert spans[2][1] == "operations can be applied elementwise,"


def test_d2lbook_generate_slides() -> None:
    """S2: 6 cells (d2lbook's observed output), 2 slides (its docs)."""
    nb = slides(D2LBOOK_MD)
    assert cells(nb) == [
        ("markdown", "-", "# Data Manipulation\n\nA tensor represents a (possibly "
         "multi-dimensional) array of numerical values. We can access a tensor's *shape*"),
        ("code", "", "import numpy as np\n\nx = np.arange(12)\nx"),
        ("markdown", "slide", "Many\noperations can be applied elementwise,\ne.g. `exp`"),
        ("code", "", "np.exp(x)"),
        ("markdown", "-", "Even when shapes differ, we can still perform elementwise "
         "operations"),
        ("code", "", "a = np.arange(3).reshape(3, 1)\nb = np.arange(2).reshape(1, 2)\na, b"),
    ]
    assert [len(s) for s in slides_of(nb)] == [2, 4]


def test_d2lbook_remove_slide_marks() -> None:
    """S3: the book (and its notebooks) unwrap ``**`` marks and drop ``~~`` ones."""
    cfg = from_mapping({"tabs": ["python"]})
    nb = framework_notebook(split_page(D2LBOOK_MD, ["python"], md=MD), "python",
                            lambda c: cfg.code(c, "python"))
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "Many more operations can be applied elementwise,\nincluding" in prose
    assert "e.g." not in prose and "(**" not in prose and "**]" not in prose
    # the marks of the slides are the book's: unwrapping them gives the book's text
    for text in (D2LBOOK_MD, "a (**b (~~c~~) d**) e", "[**x**](url) (~~y~~) [**z**]"):
        book = strip_slide_marks(strip_slide_marks(text, "~", keep=False), "*", keep=True)
        assert unmark(mark_page(text, MD)) == book


# ------------------------------------------------------------------ the rules


def test_what_is_a_mark() -> None:
    page = """A [**link**](https://x.org), (**kept**), (~~ ~~) and (****).

```{.python .input}
f(**kwargs)  # (**not a mark**)
```

<!-- (**an original in a comment**) -->

```python
[**in a fence**]
```

:begin_tab:`python`
(**opened in a tab block
:end_tab:

closed outside**)

[**never closed
"""
    marked = mark_page(page, MD)
    assert [t for _, t in marked_spans(marked)] == ["kept", " "]
    assert "f(**kwargs)" in marked and "[**link**](https://x.org)" in marked
    assert not has_marks(mark_page("[**a link**](u), `(**x)`, (~~\n\n~~]\n", MD))


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(st.text(alphabet="([*~])\n `#ab:.", max_size=60))
def test_any_text_gives_slides(text: str) -> None:
    """Whatever the marks, nothing raises, and the slide text has no private character."""
    page = f"# T\n\n{text}\n\n```{{.python .input}}\nx = 1\n```\n\n{text}\n"
    nb = slides(page, require_marks=False)
    marked = mark_page(page, MD)
    assert marked.count("\n") == page.count("\n")
    assert not SENTINEL.search(unmark(marked))
    assert not any(SENTINEL.search(c.source) for c in nb.cells)


def test_capitalise() -> None:
    assert capitalise("first. second.\nthird, a.text() too,") == \
        "First. Second.\nThird, a.text() too"
    assert capitalise("sum $$x = 1.$$") == "Sum $$x = 1$$"
    assert capitalise("中文，") == "中文"
    assert capitalise("end. ") == "End"  # (d2lbook fails on an empty sentence)


def test_code_on_slides() -> None:
    assert strip_comments("x = 1  # one\n    # only a comment\nprint('# kept')\n#@save\n"
                          "y = 2 #no space: kept") == \
        "x = 1\nprint('# kept')\n#@save\ny = 2 #no space: kept"
    # code the tokenizer rejects: d2lbook's pattern
    assert strip_comments("def f(:\n    g()  # c\n'''# open") == "def f(:\n    g()\n'''"
    page = """# T

(**Start**)

```{.python .input}
# a comment line
def f():  #@save
    return 1
```

```{.python .input}
x = f()
```

```{.python .input}
x
```

(**No output after**)

```{.python .input}
y = 1
```

```{.python .input}
z = 2
```
"""
    result = JobResult("page", "python", "ok", outputs={15: [
        {"output_type": "execute_result", "data": {"text/plain": "1"}, "metadata": {},
         "execution_count": 1}]})
    nb = slides(page, result=result)
    code = [(c.source, len(c.outputs)) for c in nb.cells if c.cell_type == "code"]
    # cells without outputs join the next one with outputs; a run without outputs, its last
    assert code == [("def f():\n    return 1\n\nx = f()\n\nx", 1), ("y = 1\n\nz = 2", 0)]


def test_titles_tabs_and_frameworks() -> None:
    page = """```{.python .input}
%load_ext d2lbook.tab
tab.interact_select(["alpha", "beta"])
```

# Title [**marked**](u)
```python
# not a title
```

Unmarked prose with code.

```{.python .input}
print("alpha")
```

:begin_tab:`beta`
[**Beta's slide**]
:end_tab:

```{.python .input}
#@tab beta
print("beta")
```

No mark here.
"""
    tabs = ("alpha", "beta")
    beta = slides(page, "beta", tabs)
    assert cells(beta) == [("markdown", "-", "# Title [**marked**](u)"),
                           ("markdown", "slide", "Beta's slide"),
                           ("code", "", 'print("beta")')]
    assert [len(s) for s in slides_of(beta)] == [1, 2]
    assert slides(page, "alpha", tabs) is None  # no mark in alpha's prose (d2lbook)
    alpha = slides(page, "alpha", tabs, require_marks=False)
    assert cells(alpha) == [("markdown", "-", "# Title [**marked**](u)"),
                            ("code", "", 'print("alpha")')]


def test_deck_html() -> None:
    nb = slides(D2LBOOK_MD + "\n[**Math $x^2$ and $$y$$**]\n")
    result = {"outputs": [
        {"output_type": "stream", "name": "stdout", "text": "\x1b[31mred\x1b[0m <b>\n"},
        {"output_type": "error", "ename": "E", "evalue": "", "traceback": ["\x1b[1mTrace"]},
        {"output_type": "display_data", "metadata": {},
         "data": {"image/png": "iVBORw0KGgo=\n", "text/plain": "<Figure>"}},
        {"output_type": "execute_result", "metadata": {}, "execution_count": 1,
         "data": {"text/plain": "x" * 50}},
    ]}
    nb.cells[1].update(result)
    options = DeckOptions(title="T <1>", static="../_static", css="../d2l-slides.css",
                          mathjax="https://cdn/mathjax.js", max_output_chars=20)
    deck = DeckRenderer().deck(nb, options)
    soup = BeautifulSoup(deck, "html.parser")
    sections = soup.select("div.reveal > div.slides > section")
    assert len(sections) == 3 and soup.title.string == "T <1>"
    first = sections[0]
    assert first.h1.string == "Data Manipulation"
    outputs = [p.get_text() for p in first.select("pre.d2l-output, pre.d2l-stderr")]
    assert outputs == ["red <b>", "Trace", "x" * 20 + "\n... (30 more characters)"]
    assert first.img["src"] == "data:image/png;base64,iVBORw0KGgo="
    assert '<p>Math <span class="math inline">\\(x^2\\)</span> and <div class="math ' \
        'inline">\\[y\\]</div></p>' in deck  # (MathJax's delimiters)
    scripts = [s.get("src") for s in soup.find_all("script") if s.get("src")]
    assert scripts == ["../_static/reveal/reveal.js", "https://cdn/mathjax.js"]
    assert [link["href"] for link in soup.find_all("link")] == [
        "../_static/reveal/reveal.css", "../_static/reveal/simple.css", "../d2l-slides.css"]
    no_math = DeckRenderer().deck(slides(D2LBOOK_MD), options)
    assert "mathjax" not in no_math.lower()


def test_slides_option_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"d2l_slides: 'gamma' is not a configured"):
        from_mapping({"tabs": ["alpha"], "slides": ["gamma"]})
    with pytest.raises(ConfigError, match=r"d2l_slides: must be a list of framework names"):
        from_mapping({"tabs": ["alpha"], "slides": "alpha"})
    assert from_mapping({"tabs": ["alpha"]}).slides == []


# ------------------------------------------------------------------ builds


def build(src: Path, **conf: Any) -> Any:
    return build_once(src, confoverrides=conf)


def copy_book(tmp_path: Path, prime_cache: Callable[..., None]) -> Path:
    src = tmp_path / "src"
    shutil.copytree(ROOTS / "test-slides", src)
    prime_cache(src)
    return src


def slide_files(app: Any) -> list[str]:
    root = Path(app.outdir, "_slides")
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def deck(app: Any, framework: str = "alpha", docname: str = "deck") -> BeautifulSoup:
    path = Path(app.outdir, "_slides", framework, docname + ".html")
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def sections(app: Any) -> list[str]:
    return [" ".join(s.get_text(" ").split()) for s in deck(app).select("div.slides > section")]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory,
          prime_cache: Callable[..., None]) -> Iterator[Any]:
    """The book built from its cache alone (``cache-only``: no kernel)."""
    yield build(copy_book(tmp_path_factory.mktemp("slides"), prime_cache),
                d2l_execute="cache-only")


def test_a_deck_per_page_with_marks(built: Any) -> None:
    assert warnings_of(built) == []
    # deck.md only: plain.md and index.md have no mark; beta is not in d2l_slides
    assert slide_files(built) == ["alpha/deck.html", "alpha/img/net.svg", "d2l-slides.css"]
    assert "[d2l] slides: 1 written, 0 unchanged" in built.status.getvalue()


def test_slide_boundaries_and_text(built: Any) -> None:
    title, second, third = sections(built)
    # the title slide: the level-1 heading, the continued mark, the cells before [**
    assert title.startswith("Deck The title slide goes on import sys def show")
    assert "Prose that no slide shows" not in title and "the docs" not in title
    assert "set-up" not in title and "#@save" not in title  # comments and marks gone
    # [** starts the second slide, (** continues it, (~~ adds slide-only text
    assert second.startswith("Second slide starts here continues here, as in Section 2 .")
    assert "With the model \\(y = \\mathbf{w}^\\top \\mathbf{x}\\) . Slide-only words" \
        in second
    assert "Book text between marks" not in second
    assert "Alpha prose on the slide" in second
    # [~~ starts a slide with slide-only text
    assert third.startswith("A slide-only slide from IPython.display import display")
    link = deck(built).find("a", string="Section 2")
    assert link["href"] == "../../plain.html#sec-plain"  # to the book's page


def test_code_and_outputs_of_the_framework(built: Any) -> None:
    title, second, third = sections(built)
    assert "title-out ['a']" in title
    assert "x = 6 * 7 print ( \"merged-out\" , x ) merged-out 42" in second
    assert third.endswith("# not a comment")  # an output, and a string of the code
    text = " ".join((title, second, third))
    assert "beta-only-code" not in text and "Beta prose" not in text
    images = [img["src"] for img in deck(built).find_all("img")]
    assert images[0] == "img/net.svg" and images[1].startswith("data:image/svg+xml;base64,")
    assert Path(built.outdir, "_slides/alpha/img/net.svg").read_bytes() == \
        (ROOTS / "test-slides/img/net.svg").read_bytes()


def test_reveal_assets_once(built: Any) -> None:
    soup = deck(built)
    folder = Path(built.outdir, "_slides", "alpha")
    linked = [link["href"] for link in soup.find_all("link")] + [
        s["src"] for s in soup.find_all("script") if s.get("src")]
    local = [href for href in linked if "://" not in href]
    assert len(local) == 4 and all((folder / href).resolve().is_file() for href in local)
    assert sorted(p.name for p in Path(built.outdir, "_static", "reveal").iterdir()) == [
        "LICENSE", "README.txt", "reveal.css", "reveal.js", "simple.css"]
    assert list(Path(built.outdir).rglob("reveal.js")) == [
        Path(built.outdir, "_static", "reveal", "reveal.js")]
    assert "MathJax" in str(soup)  # the deck shows math


def test_book_pages_and_the_slides_link(built: Any, tmp_path: Path,
                                        prime_cache: Callable[..., None]) -> None:
    page = body(built, "deck.html")
    text = page.get_text(" ", strip=True)
    assert "Second slide starts here and continues here, as in" in text
    assert "slide-only" not in text and "(**" not in text and "[**" not in text
    assert page.find("strong", string="the docs").parent["href"] == "https://example.com"
    groups = {g["data-d2l-framework"]: g for g in page.select(".d2l-nb-group")}
    assert groups["alpha"].find("a", class_="d2l-nb-slides")["href"] == \
        "_slides/alpha/deck.html"
    assert groups["beta"].find("a", class_="d2l-nb-slides") is None
    assert body(built, "plain.html").find("a", class_="d2l-nb-slides") is None
    # without d2l_slides: the same pages but the link, and no slides
    off = build(copy_book(tmp_path, prime_cache), d2l_execute="cache-only", d2l_slides=[])
    for name in ("deck.html", "plain.html", "index.html"):
        with_slides = body(built, name)
        for link in with_slides.select("a.d2l-nb-slides"):
            link.decompose()
        assert str(with_slides) == str(body(off, name))
    assert not Path(off.outdir, "_slides").exists()
    assert not Path(off.outdir, "_static", "reveal").exists()


def test_rebuilds(tmp_path: Path, prime_cache: Callable[..., None]) -> None:
    src = copy_book(tmp_path, prime_cache)
    build(src, d2l_execute="cache-only")
    again = build(src, d2l_execute="cache-only")
    assert "[d2l] slides: 0 written, 1 unchanged" in again.status.getvalue()
    page = src / "deck.md"
    page.write_text(re.sub(r"\[~~A slide-only slide~~\]", "[**A new slide**]",
                           page.read_text(encoding="utf-8")), encoding="utf-8")
    changed = build(src, d2l_execute="cache-only")
    assert "[d2l] slides: 1 written, 0 unchanged" in changed.status.getvalue()
    assert sections(changed)[2].startswith("A new slide")
    page.write_text(re.sub(r"[\[(](\*\*|~~)|(\*\*|~~)[\])]", "",
                           page.read_text(encoding="utf-8")), encoding="utf-8")
    gone = build(src, d2l_execute="cache-only")
    assert slide_files(gone) == ["d2l-slides.css"]  # the page lost its marks
    assert body(gone, "deck.html").find("a", class_="d2l-nb-slides") is None
