"""Property-based fuzzing of the dialect: random pages never crash a build.

Each example is a small book of random pages composed from every construct of the d2lbook
dialect (code cells with tab markers and odd fences, ``:begin_tab:`` blocks, marks and roles,
figures, tables, equations, tocs, slide marks, HTML comments, CRLF, a BOM, NUL bytes, bad
UTF-8, huge lines...), built with execution off by the html, latex and text builders (one
shared doctree folder: the pages are read once). The properties:

* the build raises nothing and logs no traceback;
* every warning of ours (``[d2l.<subtype>]``) names its page and line (``page.md:N:``).

The run is deterministic (``derandomize``; no example database) and bounded for CI
(``D2L_FUZZ_EXAMPLES`` examples, 20 by default: well under a minute on 2 cores). A longer run::

    D2L_FUZZ_EXAMPLES=2000 python -m pytest tests/test_fuzz.py -q

``D2L_FUZZ_SEED=<int>`` runs other (still reproducible) examples than the default ones.
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EXAMPLES = int(os.environ.get("D2L_FUZZ_EXAMPLES", "20"))
SEED = int(os.environ.get("D2L_FUZZ_SEED", "0"))
BUILDERS = ("html", "latex", "text")
PAGES = ("p0", "p1", "sub/p2")
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5E"
    "rkJggg==")
BIB = "@article{key1, title={T}, author={A. Author}, journal={J}, year={2020}}\n"

Draw = Callable[[st.SearchStrategy[Any]], Any]

# ----------------------------------------------------------------------------- pieces

TAB_NAMES = st.sampled_from([
    "alpha", "beta", "gamma", "all", "ALPHA", "Beta", "alpha, beta", "alpha,gamma", "beta, all",
    "unknown", "é", "naïve_fw", "<b>", '"q"', "a b", "alpha, alpha", "", " ", "x" * 40,
])
LABELS = st.sampled_from(["lab", "sec_x", "fig_x", "tab_x", "eq_x", "dup", "é_label", "a b",
                          "<b>", "", "x" * 30])
LENGTHS = st.sampled_from(["200px", "50%", "10em", "3.5in", "0", "120", ".5cm", "abc", "-5px",
                           "10 20", "", "1e5", "px", "5 px", "1.2.3", "%", "9" * 30])
WORDS = st.sampled_from([
    "text", "word", "é", "<b>bold</b>", "<i>", "&amp;", "**", "*", "~~", "`code`", "``", "`",
    "$x$", "$$y$$", "[link](http://x)", "[**b**](url)", "![inline](img.png)", "\\", "|", ":",
    "::", "<!-- c -->", "<!--", "-->", "{", "}", "[", "]", "(", ")", "#", "@", "%%tab",
])


@st.composite
def role(draw: Draw) -> str:
    name = draw(st.sampled_from(["numref", "ref", "eqref", "cite", "citet", "citep", "label",
                                 "eqlabel", "func", "class", "unknownrole", "numref", "width"]))
    ticks = draw(st.sampled_from(["`", "`", "``"]))
    target = draw(LABELS | st.sampled_from(["key1", "nokey", "p1", "a`b"]))
    closer = draw(st.sampled_from([ticks, ticks, "", "`" * 3]))
    return f":{name}:{ticks}{target}{closer}"


@st.composite
def slide_mark(draw: Draw) -> str:
    inner = draw(st.lists(WORDS | role(), max_size=3).map(" ".join))
    opener = draw(st.sampled_from(["(**", "[**", "(~~", "[~~"]))
    closer = {"(": ")", "[": "]"}[opener[0]]
    end = draw(st.sampled_from([opener[1:] + closer, "", "**)", "~~]", opener[1:] + "](url)"]))
    return opener + inner + end


def inline_piece() -> st.SearchStrategy[str]:
    return WORDS | role() | slide_mark() | st.text(
        alphabet="ab :`*[]()~$<>!-\\\x00\t\u2028\ufeffé", max_size=12)


@st.composite
def paragraph(draw: Draw) -> str:
    lines = draw(st.lists(st.lists(inline_piece(), min_size=1, max_size=6).map(" ".join),
                          min_size=1, max_size=3))
    return "\n".join(lines)


@st.composite
def heading(draw: Draw) -> str:
    text = f"{'#' * draw(st.integers(1, 4))} {(draw(paragraph()).splitlines() or [''])[0]}"
    if draw(st.booleans()):
        text += f"\n:label:`{draw(LABELS)}`"
    return text


@st.composite
def marks(draw: Draw) -> str:
    keys = st.sampled_from(["label", "eqlabel", "width", "height", "bibliography"])
    out = []
    for key in draw(st.lists(keys, max_size=3)):
        value = draw(LENGTHS) if key in ("width", "height") else draw(LABELS)
        out.append(f":{key}:`{value}`")
    return "\n".join(out)


@st.composite
def figure(draw: Draw) -> str:
    caption = draw(st.sampled_from(["", "cap", "A <b>bold</b> caption", "**x**", "$x$",
                                    ":numref:`fig_x`", "[**s**]"]))
    target = draw(st.sampled_from(["img.png", "missing.png", "sub/../img.png", "/img.png"]))
    return f"![{caption}]({target})\n{draw(marks())}".rstrip()


@st.composite
def table(draw: Draw) -> str:
    rows = draw(st.sampled_from(["| a | b |\n|---|---|\n| 1 | 2 |",
                                 "| :numref:`tab_x` | <b> |\n|:--|--:|\n| [**s**] | $x$ |",
                                 "| a |\n|---|\n| 1 | 2 | 3 |", "| a | b |\n|---|"]))
    caption = draw(st.sampled_from(["", ": Caption", ":Caption <b>x</b>", ": $x$", ":",
                                    ": :numref:`tab_x`"]))
    label = f"\n:label:`{draw(LABELS)}`" if draw(st.booleans()) else ""
    if draw(st.booleans()):
        return f"{caption}{label}\n\n{rows}" if caption else rows + label
    return f"{rows}\n\n{caption}{label}" if caption else rows + label


@st.composite
def math(draw: Draw) -> str:
    body = draw(st.sampled_from(["x^2", "\\begin{aligned}a\\end{aligned}", "", "$", "\\"]))
    form = draw(st.integers(0, 2))
    if form == 0:
        return f"$$\n{body}\n$$\n{draw(marks())}".rstrip()
    if form == 1:
        return f"text\n$${body}$$ :eqlabel:`{draw(LABELS)}`"
    return f"$${body}$$\n:eqlabel:`{draw(LABELS)}`"


CODE_LINES = st.sampled_from([
    "x = 1", "print('out')", "#@tab {t}", "# @tab {t}", "%%tab {t}", "# %%tab {t}", "#@tab",
    "#@tab all", "#@save", "x = 1  #@save", "def f():  #@save", "class C:  #@save",
    "    return 1  #@save", "#@hide", "#@hide_code", "#@hide_output", "#@hide_all",
    "# hide outputs", "# hide code", "#@allow_error", "if tab.selected('alpha'):",
    "if tab.selected('beta', 'gamma'):", "    y = 2", "%load_ext d2lbook.tab", "!ls",
    "%matplotlib inline", "```", "````", "~~~", "```python", "\t", "", "é = '<b>'", "x = 1 " * 50,
])


@st.composite
def code_cell(draw: Draw) -> str:
    fence = draw(st.sampled_from(["```", "```", "````", "~~~", "`````"]))
    info = draw(st.sampled_from(["{.python .input}", "{.python .input}", ".python .input",
                                 "{.input .python n=3}", "{.python .input #id}", "python",
                                 "{.python .output}", "", "{.input}", "{python .input}",
                                 "toc", "eval_rst", "{.json .output}", "{.python .input"]))
    lines = [ln.replace("{t}", draw(TAB_NAMES)) for ln in draw(st.lists(CODE_LINES, max_size=6))]
    closer = draw(st.sampled_from([fence, fence, fence + "`", fence[:-1], "", "~~~", "```  "]))
    body = "\n".join([fence + info, *lines])
    return body + ("\n" + closer if closer else "")


@st.composite
def toc(draw: Draw, index: int) -> str:
    """A toc of page ``PAGES[index]``: later pages only (Sphinx 9.0 itself crashes on a
    circular toctree, with a RecursionError), itself, missing pages and options."""
    here = PAGES[index]
    later = ["/" + name for name in PAGES[index + 1:]]
    entries = draw(st.lists(st.sampled_from([*later, "/" + here, here.rsplit("/")[-1], "missing",
                                             ":maxdepth: 2", ":numbered:", ":bad option"]),
                            max_size=4))
    return "```toc\n" + "\n".join(entries) + "\n```"


@st.composite
def tab_block(draw: Draw) -> str:
    inner = draw(st.lists(simple_block(), max_size=3))
    parts = [f":begin_tab:`{draw(TAB_NAMES)}`", *inner]
    if draw(st.integers(0, 3)):
        parts.append(":end_tab:")
    return "\n".join(parts)


@st.composite
def comment(draw: Draw) -> str:
    text = draw(st.sampled_from(["<!-- original -->", "<!--\n# Original heading\n\ntext\n-->",
                                 "<!--", "<!-- a --> <!-- b -->", "<!-- x -->\n:label:`dup`",
                                 "<div>html</div>", "<b>"]))
    return text


@st.composite
def nested(draw: Draw) -> str:
    """A cell or tab block inside a list item or a quote."""
    inner = draw(code_cell() | tab_block() | paragraph())
    if draw(st.booleans()):
        return "- item\n\n" + "\n".join("  " + ln for ln in inner.split("\n"))
    return "\n".join("> " + ln for ln in inner.split("\n"))


def simple_block() -> st.SearchStrategy[str]:
    return paragraph() | code_cell() | marks() | figure() | comment() | math() | heading()


MYST = st.sampled_from([
    "```{note}\nA note with :numref:`lab` and (**x**)\n```", "(myst_target)=\n## Target",
    "{ref}`myst_target` and {numref}`lab`", "```{toctree}\nmissing\n```",
    "```{eval-rst}\n.. note:: rst\n```", "```{unknown-directive}\nx\n```",
    "```{math}\n:label: eq_x\nx\n```", "[^1]\n\n[^1]: a footnote",
])
FRONTMATTER = st.sampled_from(["", "---\ntitle: T\n---\n", "---\ntitle: [unclosed\n---\n",
                               "---\nmyst:\n  enable_extensions: [colon_fence]\n---\n"])


@st.composite
def huge(draw: Draw) -> str:
    unit = draw(st.sampled_from(["(** ", "[** ", "(~~ ", ":numref:`", "<!-- ", "x", " ",
                                 ":begin_tab:`a`\n", "`", "$$", "| a "]))
    return unit * (4000 // len(unit))


def block(index: int) -> st.SearchStrategy[str]:
    return (paragraph() | heading() | code_cell() | code_cell() | tab_block() | tab_block()
            | marks() | figure() | table() | math() | toc(index) | comment() | nested()
            | slide_mark() | st.just(":end_tab:") | huge() | MYST)


@st.composite
def page(draw: Draw, index: int) -> str | bytes:
    blocks = draw(st.lists(block(index), min_size=1, max_size=10))
    seps = draw(st.lists(st.sampled_from(["\n\n", "\n", "\n\n\n"]), min_size=len(blocks),
                         max_size=len(blocks)))
    text = draw(FRONTMATTER) + "# Page\n\n" + "".join(
        b + s for b, s in zip(blocks, seps, strict=True))
    if draw(st.booleans()):
        text = text.replace("\n", draw(st.sampled_from(["\r\n", "\r\n", "\r"])))
    if draw(st.booleans()):
        text = "\ufeff" + text
    if draw(st.booleans()):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + "\x00" + text[at:]
    if draw(st.integers(0, 9)) == 0:
        data = text.encode("utf-8")
        at = draw(st.integers(0, len(data)))
        return data[:at] + b"\xe9\xff" + data[at:]
    return text


@st.composite
def book(draw: Draw) -> dict[str, Any]:
    tabs = draw(st.sampled_from([
        ["alpha", "beta", "gamma"], ["alpha"], [("alpha", 'Al<b>"é"</b>'), ("beta", "B&amp;")],
    ]))
    return {
        "pages": {name: draw(page(i)) for i, name in enumerate(PAGES)},
        "conf": {
            "d2l_tabs": tabs,
            "d2l_nonhtml_tabs": draw(st.sampled_from(["all", "default"])),
            "d2l_show_original": draw(st.booleans()),
            "d2l_lib_enable": draw(st.booleans()),
        },
        "bibtex": draw(st.booleans()),
    }


# ----------------------------------------------------------------------------- building

def write_book(src: Path, example: dict[str, Any]) -> None:
    conf = ["extensions = ['sphinx_d2ltabs'" + (", 'sphinxcontrib.bibtex'"
                                                if example["bibtex"] else "") + "]",
            "project = 'fuzz'", "d2l_execute = 'off'", "bibtex_bibfiles = ['refs.bib']"]
    conf += [f"{key} = {value!r}" for key, value in example["conf"].items()]
    (src / "conf.py").write_text("\n".join(conf) + "\n", encoding="utf-8")
    (src / "refs.bib").write_text(BIB, encoding="utf-8")
    (src / "img.png").write_bytes(PNG)
    toc = "\n".join(PAGES)
    (src / "index.md").write_text(f"# Fuzz\n\n```toc\n:maxdepth: 2\n\n{toc}\n```\n",
                                  encoding="utf-8")
    for name, text in example["pages"].items():
        path = src / f"{name}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))


def warning_records(text: str, srcdir: Path) -> list[str]:
    """Warnings, continuation lines joined, with the source folder made relative."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text).replace(str(srcdir) + os.sep, "")
    records: list[str] = []
    for line in text.splitlines():
        if re.search(r"\b(WARNING|ERROR|CRITICAL):", line) or not records:
            records.append(line)
        else:
            records[-1] += "\n" + line
    return records


def build_all(example: dict[str, Any]) -> None:
    from sphinx.testing.util import SphinxTestApp

    root = Path(tempfile.mkdtemp(prefix="d2lfuzz-"))
    try:
        src = root / "src"
        src.mkdir()
        write_book(src, example)
        for builder in BUILDERS:
            warning = io.StringIO()
            app = SphinxTestApp(builder, srcdir=src, builddir=root / "_build",
                                status=io.StringIO(), warning=warning)
            try:
                app.build()
            finally:
                app.cleanup()
            check_warnings(warning.getvalue(), src, builder)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def check_warnings(text: str, src: Path, builder: str) -> None:
    for record in warning_records(text, src):
        assert "Traceback" not in record, f"{builder}: {record}"
        if "[d2l." in record:
            assert re.match(r"[^\n]+\.md:\d+: (WARNING|ERROR)", record), f"{builder}: {record}"


# ----------------------------------------------------------------------------- the tests

@seed(SEED)
@settings(max_examples=EXAMPLES, deadline=None, derandomize=SEED == 0, database=None,
          suppress_health_check=list(HealthCheck), print_blob=True)
@given(book())
def test_random_books_build(example: dict[str, Any]) -> None:
    build_all(example)
