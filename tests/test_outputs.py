"""Cell outputs → docutils nodes (sphinx_d2ltabs.outputs), and their selection per builder."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from docutils import nodes
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.token import Text, Token

from sphinx_d2ltabs import outputs as out_mod
from sphinx_d2ltabs.outputs import (
    AnsiLexer,
    OutputContext,
    SelectMimeType,
    clean_text,
    render_outputs,
    setup_outputs,
    strip_ansi,
)

#: a valid 1x1 PNG
PNG_B64 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
           "AAAABJRU5ErkJggg==")
SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4"/></svg>'


class Images:
    """A write_image that records what it was given."""

    def __init__(self) -> None:
        self.written: list[tuple[bytes, str]] = []

    def __call__(self, data: bytes, ext: str) -> str:
        self.written.append((data, ext))
        return f"/imgs/{len(self.written)}{ext}"


def render(outputs: list[Any], **kwargs: Any) -> tuple[list[nodes.Element], Images]:
    images = Images()
    ctx = OutputContext(write_image=images, source="page.md", line=7, **kwargs)
    return render_outputs(outputs, ctx), images


def stream(text: Any, name: str = "stdout") -> dict[str, Any]:
    return {"output_type": "stream", "name": name, "text": text}


def display(data: dict[str, Any], metadata: dict[str, Any] | None = None,
            kind: str = "display_data") -> dict[str, Any]:
    return {"output_type": kind, "data": data, "metadata": metadata or {}}


def holders(bundle: nodes.Element) -> dict[str, nodes.Element]:
    assert "mime_bundle" in bundle["classes"]
    assert "output" in bundle["classes"]
    return {h["mime_type"]: h for h in bundle.children if isinstance(h, nodes.Element)}


# --------------------------------------------------------------------------- streams


def test_streams_classes_language_and_merging() -> None:
    result, _ = render([stream("a\n"), stream(["b", "\n"]), stream("err\n", "stderr"),
                        stream("c\n")])
    assert [type(n) for n in result] == [nodes.literal_block] * 3
    first, err, last = result
    assert first["classes"] == ["output", "stream"]
    assert first.astext() == "a\nb\n"
    assert first["language"] == "d2l-ansi"
    assert err["classes"] == ["output", "stderr"]
    assert last.astext() == "c\n"
    assert first.source == "page.md"
    assert first.line == 7


def test_stream_carriage_returns_across_chunks() -> None:
    result, _ = render([stream("10%\r"), stream("\r50%\r100%\ndone\n")])
    assert len(result) == 1
    assert result[0].astext() == "100%\ndone\n"


def test_stream_keeps_ansi_in_doctree_but_strips_other_controls() -> None:
    text = "\x1b[31mred\x1b[0m\x00\x07\x08 \ud800 ok\x9b\n"
    (block,), _ = render([stream(text)])
    assert block.astext() == "\x1b[31mred\x1b[0m \ufffd ok\n"


def test_text_is_escaped_nodes_not_raw() -> None:
    (block,), _ = render([stream("<script>alert(1)</script>\n")])
    assert isinstance(block, nodes.literal_block)
    assert not list(block.findall(nodes.raw))


def test_truncation_note() -> None:
    result, _ = render([stream("x" * 150)], max_chars=100)
    block, note = result
    assert block.astext() == "x" * 100
    assert isinstance(note, nodes.paragraph)
    assert note.astext() == "... [output truncated: 50 more characters]"


def test_too_many_outputs_are_capped() -> None:
    many = [stream(f"{i}\n", "stderr" if i % 2 else "stdout") for i in range(1005)]
    result, _ = render(many)
    assert len(result) == out_mod.MAX_ITEMS + 1
    assert result[-1].astext() == "... [5 more outputs not shown]"


# ---------------------------------------------------------------------------- errors


def test_error_traceback_without_ansi() -> None:
    err = {"output_type": "error", "ename": "ValueError", "evalue": "bad",
           "traceback": ["\x1b[0;31m---------\x1b[0m", "\x1b[0;31mValueError\x1b[0m: bad"]}
    (block,), _ = render([err])
    assert block["classes"] == ["output", "traceback"]
    assert block["language"] == "ipythontb"
    assert block.astext() == "---------\nValueError: bad"
    (block,), _ = render([{"output_type": "error", "ename": "E", "evalue": "v"}])
    assert block.astext() == "E: v"


# ------------------------------------------------------------------------ mime bundles


def test_bundle_keeps_every_renderable_mime_type() -> None:
    data = {"text/html": "<b>x</b>", "image/png": PNG_B64, "text/plain": "<Figure>",
            "application/json": {"a": 1}}
    meta = {"image/png": {"width": 30, "height": "20"}}
    (bundle,), images = render([display(data, meta, kind="execute_result")])
    found = holders(bundle)
    assert set(found) == {"text/html", "image/png", "text/plain"}
    (raw,) = found["text/html"].children
    assert isinstance(raw, nodes.raw)
    assert raw["format"] == "html"
    assert raw["classes"] == ["output", "text_html"]
    assert raw.astext() == "<b>x</b>"
    (image,) = found["image/png"].children
    assert isinstance(image, nodes.image)
    assert image["classes"] == ["output", "image_png"]
    assert image["uri"] == "/imgs/1.png"
    assert (image["width"], image["height"]) == ("30px", "20px")
    assert images.written[0][0].startswith(b"\x89PNG")
    (plain,) = found["text/plain"].children
    assert plain["classes"] == ["output", "text_plain"]
    assert plain["language"] == "d2l-ansi"


@pytest.mark.parametrize("svg", [SVG, [SVG[:20], SVG[20:]]])
def test_svg_str_or_list(svg: Any) -> None:
    (bundle,), images = render([display({"image/svg+xml": svg})])
    (image,) = holders(bundle)["image/svg+xml"].children
    assert image["classes"] == ["output", "image_svg"]
    assert images.written == [(SVG.encode(), ".svg")]


def test_invalid_images_are_skipped() -> None:
    data = {"image/png": "not base64 at all!!", "image/jpeg": PNG_B64, "image/gif": 5,
            "text/plain": "fallback"}
    (bundle,), images = render([display(data)])
    assert set(holders(bundle)) == {"text/plain"}
    assert images.written == []
    assert render([display({"image/png": "@@@"})])[0] == []


def test_latex_math_and_raw() -> None:
    (bundle,), _ = render([display({"text/latex": "$$x^2$$"})])
    (math,) = holders(bundle)["text/latex"].children
    assert isinstance(math, nodes.math_block)
    assert math.astext() == "x^2"
    assert not math["nowrap"]
    (bundle,), _ = render([display({"text/latex": "$\\displaystyle y$"})])
    assert holders(bundle)["text/latex"].children[0].astext() == "\\displaystyle y"
    env = "\\begin{equation}a=b\\end{equation}"
    (bundle,), _ = render([display({"text/latex": env})])
    (math,) = holders(bundle)["text/latex"].children
    assert math["nowrap"]
    assert math.astext() == env
    (bundle,), _ = render([display({"text/latex": "\\textbf{hi}", "text/plain": "hi"})])
    holder = holders(bundle)["text/latex"]
    assert holder["d2l_formats"] == ["latex"]
    (raw,) = holder.children
    assert isinstance(raw, nodes.raw)
    assert raw["format"] == "latex"


def test_markdown_parsed() -> None:
    md = "### Title\n\nSome *em* and `code` and $x$\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    (bundle,), _ = render([display({"text/markdown": md, "text/plain": "md"})])
    children = holders(bundle)["text/markdown"].children
    assert isinstance(children[0], nodes.rubric)
    assert children[0].astext() == "Title"
    para = children[1]
    assert isinstance(para, nodes.paragraph)
    assert list(para.findall(nodes.emphasis))
    assert list(para.findall(nodes.math))
    assert list(bundle.findall(nodes.table))
    assert not list(bundle.findall(nodes.section))
    assert all(not n["ids"] for n in bundle.findall(nodes.Element))


def test_markdown_falls_back_to_literal(monkeypatch: pytest.MonkeyPatch) -> None:
    import myst_parser.parsers.mdit

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(myst_parser.parsers.mdit, "create_md_parser", boom)
    (bundle,), _ = render([display({"text/markdown": "*x*"})])
    (block,) = holders(bundle)["text/markdown"].children
    assert isinstance(block, nodes.literal_block)
    assert block.astext() == "*x*"


def test_widgets_dropped() -> None:
    widget = {"application/vnd.jupyter.widget-view+json": {"model_id": "abc"},
              "text/plain": "FloatProgress(value=0.0)"}
    tqdm = {"text/plain": "HBox(children=(FloatProgress(value=0.0),))"}
    result, _ = render([display(widget), display(tqdm), stream("after\n")])
    assert [n.astext() for n in result] == ["after\n"]


def test_garbage_never_crashes() -> None:
    garbage: list[Any] = [
        None, 3, "x", {}, {"output_type": "stream"}, {"output_type": "stream", "text": 5},
        {"output_type": "display_data"}, {"output_type": "display_data", "data": []},
        {"output_type": "display_data", "data": {"text/plain": None}, "metadata": 3},
        {"output_type": "execute_result", "data": {"image/png": PNG_B64},
         "metadata": {"image/png": {"width": "1;DROP", "height": True}}},
        {"output_type": "error", "traceback": "not a list"},
        {"output_type": "weird"},
    ]
    result, _ = render(garbage)
    image = next(result[-2].findall(nodes.image))
    assert "width" not in image
    assert "height" not in image
    assert render("not a list")[0] == []  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- ANSI


def test_ansi_lexer_tokens() -> None:
    text = "a\x1b[31mred\x1b[1mbold\x1b[0m \x1b[38;5;12mbright\x1b[39;44mbg\x1b[m z"
    tokens = [(t, v) for t, v in AnsiLexer().get_tokens(text) if v]
    assert tokens == [
        (Text, "a"), (Token.Color.Red, "red"), (Token.Color.Bold.Red, "bold"),
        (Text, " "), (Token.Color.BrightBlue, "bright"), (Token.Color.BGBlue, "bg"),
        (Text, " z\n"),
    ]


@pytest.mark.parametrize("text", [
    "\x1b", "x\x1b", "\x1b[", "\x1b[31", "\x1b[999999999999999999m", "\x1b[;;;;;m",
    "\x1b[38;5m", "\x1b[38;2;1m", "\x1b]0;title", "\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\",
    "\x1b[?25l\x1b[2K\x1bM\x1b(B", "\x1b\x1b\x1b[[[m", "\x1b[1;31;" * 500,
])
def test_ansi_garbage(text: str) -> None:
    rendered = highlight(text, AnsiLexer(), HtmlFormatter())
    assert "\x1b" not in rendered
    assert "\x1b" not in strip_ansi(text)


def test_clean_text() -> None:
    assert clean_text(["a\r\n", "b\rc"]) == "a\nb\nc"
    assert clean_text("50%\r100%\r\n", terminal=True) == "100%\n"
    assert clean_text("\t\x1b\x0c\x7f\ufffe") == "\t\x1b"


# ------------------------------------------------------------------------ Sphinx build


EXTENSION = '''
import hashlib
import json
from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

from sphinx_d2ltabs.outputs import OutputContext, render_outputs, setup_outputs


class Outputs(SphinxDirective):
    required_arguments = 1

    def run(self):
        srcdir = Path(self.env.srcdir)
        path = srcdir / self.arguments[0]
        self.env.note_dependency(str(path))

        def write_image(data, ext):
            name = hashlib.sha256(data).hexdigest()[:16] + ext
            (srcdir / "_out_images").mkdir(exist_ok=True)
            (srcdir / "_out_images" / name).write_bytes(data)
            return "/_out_images/" + name

        ctx = OutputContext(write_image=write_image, docname=self.env.docname,
                            source=str(path), line=self.lineno)
        container = nodes.container(classes=["cell_output", "docutils"])
        container.extend(render_outputs(json.loads(path.read_text()), ctx))
        return [container]


def setup(app):
    setup_outputs(app)
    setup_outputs(app)  # idempotent
    app.add_directive("test-outputs", Outputs)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
'''

CONF = '''
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
extensions = ["d2l_outputs_testext"]
project = "outputs"
latex_documents = [("index", "outputs.tex", "Outputs", "me", "manual")]
'''

BUILD_OUTPUTS: list[dict[str, Any]] = [
    stream("<script>alert(1)</script>\n"),
    stream("\x1b[31mred text\x1b[0m and \x1b[1;32mbold green\x1b[0m\n"),
    stream("warn \x1b[?25l\x1b]0;title\x07 garbage \x1b[ \x1b\n", "stderr"),
    display({"image/png": PNG_B64, "text/plain": "<Figure size 1x1>"},
            {"image/png": {"width": 40}}),
    display({"image/svg+xml": SVG, "text/plain": "<SVG figure>"}),
    display({"text/html": "<table class='df'><tr><td>HTMLCELL</td></tr></table>",
             "text/plain": "PLAIN-DF \x1b[31mcoloured\x1b[0m"}, kind="execute_result"),
    display({"text/latex": "$$x^2 + LATEXMATH$$", "text/plain": "LATEX-PLAIN"}),
    display({"text/markdown": "## MDHEAD\n\n**MDBOLD** [link](https://example.com)\n\n"
                              "| a | b |\n|---|---|\n| 1 | 2 |\n", "text/plain": "MD-PLAIN"}),
    display({"application/vnd.jupyter.widget-view+json": {"model_id": "1"},
             "text/plain": "WIDGET"}),
    {"output_type": "error", "ename": "ValueError", "evalue": "bad",
     "traceback": ["\x1b[0;31mValueError\x1b[0m: TRACEBACK-TEXT"]},
]


@pytest.fixture
def out_src(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(CONF)
    (src / "d2l_outputs_testext.py").write_text(EXTENSION)
    (src / "outputs.json").write_text(json.dumps(BUILD_OUTPUTS))
    (src / "index.rst").write_text("Outputs\n=======\n\n.. test-outputs:: outputs.json\n")
    return src


def built_files(outdir: Path) -> dict[str, str]:
    return {str(p.relative_to(outdir)): p.read_text(encoding="utf-8")
            for p in outdir.rglob("*") if p.suffix in {".html", ".tex", ".txt", ".css"}}


def test_build_html_latex_text(make_app: Any, out_src: Path) -> None:
    # one source tree and one pickled environment for all builders: the doctree is
    # builder-agnostic, the selection happens at write time
    html_app = make_app("html", srcdir=out_src)
    html_app.build()
    assert html_app.registry.post_transforms.count(SelectMimeType) == 1
    outdir = Path(html_app.outdir)
    page = (outdir / "index.html").read_text(encoding="utf-8")
    # the png is written once and referenced, with its width
    pngs = list((outdir / "_images").glob("*.png"))
    assert len(pngs) == 1
    assert pngs[0].read_bytes().startswith(b"\x89PNG")
    assert re.search(rf'<img[^>]*src="_images/{pngs[0].name}"[^>]*width: 40px', page)
    svgs = list((outdir / "_images").glob("*.svg"))
    assert len(svgs) == 1
    assert f'src="_images/{svgs[0].name}"' in page
    # text/html kept raw; its text/plain alternative dropped; images over text/plain
    assert "<td>HTMLCELL</td>" in page
    assert "PLAIN-DF" not in page
    assert "&lt;Figure size 1x1&gt;" not in page
    # text/latex as math over text/plain
    assert "LATEXMATH" in page
    assert "LATEX-PLAIN" not in page
    # stdout is escaped, ANSI turned into spans, widgets dropped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page
    assert re.search(r'<span class="[^"]*-Color-Red[^"]*">red text</span>', page)
    assert re.search(r'<span class="[^"]*-Color-Bold-Green[^"]*">bold green</span>', page)
    assert "WIDGET" not in page
    assert "TRACEBACK-TEXT" in page
    # markdown parsed, its heading a rubric (no section, no toc entry)
    assert re.search(r'<p class="rubric">MDHEAD</p>', page)
    assert "<strong>MDBOLD</strong>" in page
    assert '<a class="reference external" href="https://example.com">link</a>' in page
    assert "MD-PLAIN" not in page
    assert re.search(r'<div class="output traceback highlight-ipythontb[^"]*"><div '
                     r'class="highlight"><pre><span></span><span class="ne">ValueError', page)
    assert page.count("_static/d2ltabs.css") == 1
    assert (outdir / "_static" / "d2ltabs.css").exists()

    latex_app = make_app("latex", srcdir=out_src)
    latex_app.build()
    tex = (Path(latex_app.outdir) / "outputs.tex").read_text(encoding="utf-8")
    assert "HTMLCELL" not in tex
    assert "PLAIN\\PYGZhy{}DF coloured" in tex  # no text/html in LaTeX; ANSI stripped
    assert "red text" in tex
    assert ".png}" in tex
    # no SVG converter: the svg figure falls back to its text/plain
    assert ".svg}" not in tex
    assert "\\PYGZlt{}SVG figure\\PYGZgt{}" in tex
    assert "LATEXMATH" in tex

    text_app = make_app("text", srcdir=out_src)
    text_app.build()
    txt = (Path(text_app.outdir) / "index.txt").read_text(encoding="utf-8")
    assert "PLAIN-DF coloured" in txt
    assert "HTMLCELL" not in txt
    assert "<Figure size 1x1>" in txt
    assert "<SVG figure>" in txt
    assert "LATEX-PLAIN" in txt
    assert "<script>alert(1)</script>" in txt
    assert "red text and bold green" in txt
    assert "WIDGET" not in txt

    for app in (html_app, latex_app, text_app):
        for name, content in built_files(Path(app.outdir)).items():
            assert "\x1b" not in content, name
        warnings = [w for w in strip_ansi(app._warning.getvalue()).splitlines()
                    if w.strip() and "is already registered" not in w]
        assert warnings == []


def test_setup_outputs_idempotent(make_app: Any, out_src: Path) -> None:
    app = make_app("dummy", srcdir=out_src)
    before = list(app.registry.post_transforms)
    listeners = len(app.events.listeners["builder-inited"])
    setup_outputs(app)
    assert list(app.registry.post_transforms) == before
    assert len(app.events.listeners["builder-inited"]) == listeners
    app.build()
