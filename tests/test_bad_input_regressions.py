"""Bad input that crashed a build (found by hand or by tests/test_fuzz.py), and the dialect's
worst cases for time (long runs of unclosed openers), which must read correctly."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import warnings_of
from sphinx_d2ltabs.cells import HIDE_MARK, flatten_tab_branches
from sphinx_d2ltabs.dialect import read_document, strip_slide_marks
from sphinx_d2ltabs.mdit_d2l import dialect_md_parser
from sphinx_d2ltabs.mdit_syntax import CODE_MASK, mask_code_spans

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5E"
    "rkJggg==")


def make_book(tmp_path: Path, pages: dict[str, str], conf: str = "") -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text("extensions = ['sphinx_d2ltabs']\nproject = 'book'\n"
                                 "d2l_execute = 'off'\nd2l_tabs = ['alpha', 'beta']\n" + conf)
    toc = "\n".join(pages)
    (src / "index.md").write_text(f"# Book\n\n```toc\n{toc}\n```\n")
    for name, text in pages.items():
        (src / f"{name}.md").write_text(text, encoding="utf-8")
    (src / "img.png").write_bytes(PNG)
    return src


def build(make_app: Any, src: Path, builder: str, **conf: Any) -> Any:
    app = make_app(builder, srcdir=src, confoverrides=conf)
    app.build()
    assert "Traceback" not in app.warning.getvalue()
    return app


# ----------------------------------------------------------------------------- figures

FIGURES = """# Figures

![bad width](img.png)
:width:`abc`

![negative](img.png)
:width:`-5px`
:height:`10 20`

![good](img.png)
:width:`50 %`
:height:`2.5em`

after-figures
"""


@pytest.mark.parametrize("builder", ["html", "latex", "text"])
def test_invalid_figure_length_is_a_warning(make_app: Any, tmp_path: Path, builder: str) -> None:
    """A ValueError without location ended the HTML build; LaTeX warned without a line."""
    app = build(make_app, make_book(tmp_path, {"fig": FIGURES}), builder)
    warnings = warnings_of(app)
    assert warnings == [
        "fig.md:4: WARNING: ':width:`abc`' is not a length (such as 400px or 50%); the figure "
        "is shown without a width [d2l.figure]",
        "fig.md:7: WARNING: ':width:`-5px`' is not a length (such as 400px or 50%); the figure "
        "is shown without a width [d2l.figure]",
        "fig.md:8: WARNING: ':height:`10 20`' is not a length (such as 400px or 50%); the "
        "figure is shown without a height [d2l.figure]",
    ]
    if builder == "html":
        page = (Path(app.outdir) / "fig.html").read_text(encoding="utf-8")
        imgs = re.findall(r"<img [^>]*>", page)
        assert len(imgs) == 3
        assert "style" not in imgs[0] and "style" not in imgs[1]
        assert "width: 50%" in imgs[2] and "height: 2.5em" in imgs[2]
        assert "after-figures" in page


# ----------------------------------------------------------------------------- tabs

EMPTY_DEFAULT = """# Empty default

:begin_tab:`alpha`
:end_tab:

:begin_tab:`beta`
only-beta
:end_tab:

```{.python .input}
#@tab beta
x = 1
```

between

```{.python .input}
#@tab alpha
#@hide_all
y = 2
```

```{.python .input}
#@tab beta
z = 3
```

after-tabs
"""


@pytest.mark.parametrize("builder", ["latex", "text"])
def test_nonhtml_default_tab_without_content(make_app: Any, tmp_path: Path,
                                             builder: str) -> None:
    """``d2l_nonhtml_tabs = "default"`` with an empty default tab: an AssertionError."""
    app = build(make_app, make_book(tmp_path, {"tabs": EMPTY_DEFAULT}), builder,
                d2l_nonhtml_tabs="default")
    assert warnings_of(app) == []
    if builder == "text":
        text = (Path(app.outdir) / "tabs.txt").read_text(encoding="utf-8")
        assert "between" in text and "after-tabs" in text
        assert "only-beta" not in text and "x = 1" not in text


# ----------------------------------------------------------------------------- found by fuzzing

def test_table_caption_with_inline_html(make_app: Any, tmp_path: Path) -> None:
    """``ValueError: token map not set: SyntaxTreeNode(html_inline)``."""
    page = "# T\n\n:Caption <b>bold</b>\n:label:`tab_x`\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n" \
           "See :numref:`tab_x`.\n"
    app = build(make_app, make_book(tmp_path, {"t": page}), "html")
    assert warnings_of(app) == []
    html = (Path(app.outdir) / "t.html").read_text(encoding="utf-8")
    assert "<b>bold</b>" in html and "Table 1" in html


def test_malformed_citation_target(make_app: Any, tmp_path: Path) -> None:
    """sphinxcontrib-bibtex raised ``ValueError: malformed citation target`` out of the build."""
    page = "# C\n\nSee :cite:`key1 :ref:` and :citet:`key1`.\n\nafter-cite\n\n" \
           ":bibliography:`refs.bib`\n"
    src = make_book(tmp_path, {"c": page}, "extensions.append('sphinxcontrib.bibtex')\n"
                    "bibtex_bibfiles = ['refs.bib']\n")
    (src / "refs.bib").write_text("@article{key1, title={T}, author={A}, journal={J}, "
                                  "year={2020}}\n")
    app = build(make_app, src, "html")
    warnings = warnings_of(app)
    assert warnings == ["c.md:3: WARNING: ':cite:`key1 :ref:`' cannot be rendered (malformed "
                        "citation target: key1 :ref:); kept as text [d2l.cite]"]
    html = (Path(app.outdir) / "c.html").read_text(encoding="utf-8")
    assert "after-cite" in html


def test_image_without_alt_text_keeps_its_line(make_app: Any, tmp_path: Path) -> None:
    """Sphinx set the line of an image without alt text to 0 (its warnings had no line)."""
    page = "# I\n\n![:numref:`i`](missing.png)\n\ntext ![](missing.png)\n"
    app = build(make_app, make_book(tmp_path, {"i": page}), "html")
    assert warnings_of(app) == [
        "i.md:3: WARNING: image file not readable: missing.png [image.not_readable]",
        "i.md:5: WARNING: image file not readable: missing.png [image.not_readable]",
        "i.md:3: WARNING: undefined label: 'i' [ref.numref]",
    ]


# ----------------------------------------------------------------------------- long runs

MD = dialect_md_parser()


@pytest.mark.parametrize("unit", ["(** ", "[** ", "(~~ ", "[~~ ", ":numref:`", ":cite:``",
                                  "<!-- ", ":begin_tab:`x`\n", ":end_tab:\n", "(**x ",
                                  ":bibliography:`b`\n", "<!-- c -->\n:width:`1px`\n"])
def test_unclosed_openers_read(unit: str) -> None:
    """64 KB of one opener, never closed (these took seconds to minutes: a scan to the end of
    the text from each opener); the page reads, its text kept."""
    text = unit * (65536 // len(unit))
    tokens = MD.parse(text, {})
    doc = read_document(text, ["alpha"], MD)
    assert doc.cells == []
    if unit.startswith(("(", "[")):
        inline = next(t for t in tokens if t.type == "inline")
        assert inline.content == text.strip()


def test_closed_slide_marks_in_a_long_text() -> None:
    text = "(**x**) [~~y~~] [**z**](u) " * 4000
    assert strip_slide_marks(strip_slide_marks(text, "~", False), "*", True) == (
        "x  [**z**](u) " * 4000)


@pytest.mark.parametrize(("text", "kept"), [
    ("(**a**)", "a"), ("[**a**]", "a"), ("[**a**](u)", "[**a**](u)"), ("(****)", "(****)"),
    ("(**a**) (**b", "a (**b"), ("(** [**a**] **)", " [**a**] "), ("(**a\n\nb**)", "a\n\nb"),
    ("[**a**](u) [**b**]", "a**](u) [**b"),
])
def test_slide_marks_as_the_regex(text: str, kept: str) -> None:
    """The linear scan gives what d2lbook's regex gives."""
    ref = re.sub(r"\(\*\*(.+?)\*\*\)|\[\*\*(.+?)\*\*\](?!\()",
                 lambda m: m.group(1) or m.group(2), text, flags=re.DOTALL)
    assert strip_slide_marks(text, "*", True) == ref == kept


def test_long_lines_in_cells() -> None:
    line = "x =" + " " * 65536 + "1"
    assert HIDE_MARK.sub("", line) == line
    assert HIDE_MARK.sub("", line + "  #@hide") == line
    branch = "if " + "tab.selected(" * 5000
    assert flatten_tab_branches([branch, "    y = 1"], "alpha") == [branch, "    y = 1"]
    assert flatten_tab_branches(["if tab.selected('alpha'):", "    y = 1"], "alpha") == ["y = 1"]


@pytest.mark.parametrize(("text", "kept"), [
    ("`[**a**]`", "`[**a**]`"),                       # a code span shows the mark as written
    ("``(**a**) ` b``", "``(**a**) ` b``"),           # a longer run with a backtick inside
    ("[**a `x` b**]", "a `x` b"),                     # a mark around a code span
    ("`open (**a**)", "`open a"),                     # a run without a closer is text
    ("\\`(**a**)\\`", "\\`a\\`"),                      # escaped backticks are text
])
def test_slide_marks_in_code_spans(text: str, kept: str) -> None:
    """Nothing inside a code span is a mark (d2lbook's regex strips those too: its bug)."""
    assert strip_slide_marks(text, "*", True) == kept


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.text(alphabet="`\\ab(*[~])", max_size=40))
def test_code_span_mask_keeps_the_length(text: str) -> None:
    masked = mask_code_spans(text)
    assert len(masked) == len(text)
    assert all(a in (b, CODE_MASK) for a, b in zip(masked, text, strict=True))
