"""A slides notebook (:mod:`.slides`) as a reveal.js deck: one HTML file.

One ``<section>`` per slide (:func:`.slides.slides_of`); in it, in order, the markdown
cells (markdown-it, CommonMark with tables and ``$...$`` / ``$$...$$`` math written for
MathJax as ``\\(...\\)`` / ``\\[...\\]``), the code (highlighted by Pygments) and its
outputs as the notebook has them: text, errors (without ANSI colours), images (embedded
as ``data:`` URIs: a deck needs no file of its own), HTML, markdown, LaTeX. The deck links
the reveal.js files and the stylesheet shared by all decks (:func:`deck_css`), and loads
MathJax (the book's) only when it shows math.
"""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass, field
from typing import Any

from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin
from nbformat import NotebookNode
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from .outputs.text import clean_text, join_text, strip_ansi, truncated
from .slides import slides_of

REVEAL_FILES = ("reveal.css", "simple.css", "reveal.js")
"""The reveal.js files a deck links, in ``<static>/reveal/`` (vendored: its README)."""
#: as :data:`.outputs.select.HTML_PRIORITY`
PRIORITY = ("text/html", "image/svg+xml", "image/png", "image/jpeg", "image/gif",
            "text/markdown", "text/latex", "text/plain")
IMAGE_MIMES = frozenset(("image/png", "image/jpeg", "image/gif"))
BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]*$")
REVEAL_CONFIG = {"hash": True, "center": False, "width": 1280, "height": 760,
                 "margin": 0.04, "slideNumber": "c/t", "transition": "none"}
"""reveal.js's options (16:9.5, no animation: slides of code are read, not watched)."""
CSS = """/* sphinx_d2ltabs: reveal.js decks of the book's slide marks (slides_render.py) */
.reveal { font-size: 30px; }
.reveal .slides { text-align: left; }
.reveal .slides > section { height: 100%; overflow-y: auto; }
.reveal h1, .reveal h2, .reveal h3 { text-transform: none; }
.reveal h1 { font-size: 1.9em; text-align: center; margin-top: 1.5em; }
.reveal p { margin: 0.5em 0; }
.reveal pre { width: 100%; margin: 0.4em 0; font-size: 0.6em; box-shadow: none; }
.reveal pre code { max-height: none; padding: 0.4em 0.6em; }
.reveal pre.d2l-code code { background: #f5f5f5; border-left: 3px solid #4a8bc2; }
.reveal pre.d2l-output code { background: #fff; color: #333; }
.reveal pre.d2l-stderr code { background: #fff3f3; }
.reveal div.d2l-output { font-size: 0.6em; margin: 0.4em 0; overflow-x: auto; }
.reveal div.d2l-output img { margin: 0; max-height: 480px; }
"""


def deck_css(style: str = "default") -> str:
    """The stylesheet shared by the decks: layout, and Pygments' colours."""
    return CSS + str(HtmlFormatter(style=style).get_style_defs(".reveal pre.d2l-code"))


@dataclass
class DeckOptions:
    """Where a deck finds what it links, and what the book configured."""

    title: str
    static: str
    """The URL of the folder holding ``reveal/`` and the decks' stylesheet."""
    css: str
    """The URL of the stylesheet of :func:`deck_css`."""
    mathjax: str = ""
    """MathJax's URL ('' : no math)."""
    mathjax_config: dict[str, Any] = field(default_factory=dict)
    max_output_chars: int = 20000
    lang: str = "en"


class DeckRenderer:
    """Renders slides notebooks (one markdown-it and Pygments set-up for all decks)."""

    def __init__(self) -> None:
        self.md = MarkdownIt("commonmark", {"html": True}).enable("table")
        self.md.use(dollarmath_plugin, double_inline=True, renderer=_math)
        self.lexer = PythonLexer()
        self.formatter = HtmlFormatter(nowrap=True)
        self._code: dict[str, str] = {}
        """source → its HTML (a ``#@tab all`` cell is in every framework's deck)."""

    def deck(self, nb: NotebookNode, options: DeckOptions) -> str:
        """The HTML file of a slides notebook."""
        sections = []
        for cells in slides_of(nb):
            body = "".join(self.cell(cell, options) for cell in cells)
            sections.append(f"<section>\n{body}</section>\n")
        return _page("".join(sections), options)

    def cell(self, cell: NotebookNode, options: DeckOptions) -> str:
        if cell.get("cell_type") == "markdown":
            return self.markdown(join_text(cell.get("source", "")))
        parts = []
        source = join_text(cell.get("source", ""))
        if source.strip():
            if source not in self._code:
                code = highlight(source, self.lexer, self.formatter)
                self._code[source] = f'<pre class="d2l-code"><code>{code}</code></pre>\n'
            parts.append(self._code[source])
        parts.extend(self.output(out, options) for out in cell.get("outputs", []))
        return "".join(parts)

    def markdown(self, text: str) -> str:
        return str(self.md.render(text))

    def output(self, output: dict[str, Any], options: DeckOptions) -> str:
        """One output of a code cell ('' : nothing to show)."""
        kind = output.get("output_type")
        if kind == "stream":
            text = strip_ansi(clean_text(output.get("text", ""), terminal=True))
            css = "d2l-stderr" if output.get("name") == "stderr" else "d2l-output"
            return _pre(text, css, options.max_output_chars)
        if kind == "error":
            text = strip_ansi(clean_text("\n".join(join_text(t) for t in
                                                   output.get("traceback", []))))
            return _pre(text, "d2l-stderr", options.max_output_chars)
        data = output.get("data") or {}
        mime = next((m for m in PRIORITY if m in data), None)
        if mime is None:
            return ""
        value = join_text(data[mime])
        if mime == "text/plain":
            return _pre(clean_text(value), "d2l-output", options.max_output_chars)
        if mime == "text/html":
            return f'<div class="d2l-output">{value}</div>\n'
        if mime == "text/markdown":
            return f'<div class="d2l-output">{self.markdown(value)}</div>\n'
        if mime == "text/latex":
            return f'<div class="d2l-output math">{html.escape(value)}</div>\n'
        return _image(mime, value)


def _math(content: str, options: dict[str, Any]) -> str:
    """``$...$`` → ``\\(...\\)``, ``$$...$$`` → ``\\[...\\]`` (MathJax's delimiters), in
    the plugin's ``<span class="math inline">`` / ``<div class="math block">``."""
    text = html.escape(content)
    return f"\\[{text}\\]" if options.get("display_mode") else f"\\({text}\\)"


def _pre(text: str, css: str, limit: int) -> str:
    text, cut = truncated(text.rstrip("\n"), limit)
    if cut:
        text += f"\n... ({cut} more characters)"
    if not text.strip():
        return ""
    return f'<pre class="{css}"><code>{html.escape(text)}</code></pre>\n'


def _image(mime: str, value: str) -> str:
    if mime == "image/svg+xml":
        data = base64.b64encode(value.encode("utf-8")).decode("ascii")
    elif mime in IMAGE_MIMES and BASE64.match(value):
        data = "".join(value.split())
    else:
        return ""
    return f'<div class="d2l-output"><img src="data:{mime};base64,{data}" alt=""></div>\n'


def has_math(body: str) -> bool:
    """Whether a deck's sections show math (MathJax is loaded only then)."""
    return 'class="math' in body or 'class="d2l-output math' in body


def _page(sections: str, options: DeckOptions) -> str:
    """The HTML file: reveal.js's files, the sections, MathJax where needed."""
    esc = html.escape
    reveal = options.static.rstrip("/") + "/reveal/"
    head = [f'<link rel="stylesheet" href="{esc(reveal + REVEAL_FILES[0])}">',
            f'<link rel="stylesheet" href="{esc(reveal + REVEAL_FILES[1])}">',
            f'<link rel="stylesheet" href="{esc(options.css)}">']
    scripts = [f'<script src="{esc(reveal + REVEAL_FILES[2])}"></script>',
               f"<script>Reveal.initialize({json.dumps(REVEAL_CONFIG)});</script>"]
    if options.mathjax and has_math(sections):
        config = dict(options.mathjax_config)
        config.setdefault("startup", {"pageReady": "__LAYOUT__"})
        script = json.dumps(config).replace(
            '"__LAYOUT__"', "function () { return MathJax.startup.defaultPageReady()"
            ".then(function () { Reveal.layout(); }); }")
        script = script.replace("</", "<\\/")  # (a string of the config ending the script)
        scripts += [f"<script>window.MathJax = {script};</script>",
                    f'<script defer src="{esc(options.mathjax)}"></script>']
    return (f'<!DOCTYPE html>\n<html lang="{esc(options.lang)}">\n<head>\n'
            f'<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1.0">\n'
            f"<title>{esc(options.title)}</title>\n" + "\n".join(head) + "\n</head>\n"
            f'<body>\n<div class="reveal"><div class="slides">\n{sections}</div></div>\n'
            + "\n".join(scripts) + "\n</body>\n</html>\n")
