"""Cell outputs (nbformat v4 output dicts) → docutils nodes, per builder.

All renderable mime types of a display are kept in the (builder-agnostic, pickled)
doctree inside a ``mime_bundle`` container; :class:`SelectMimeType` keeps the best one
for the builder at hand. Classes follow MyST-NB (``output``, ``stream``, ``stderr``,
``text_plain``, ``traceback``...), so sphinx-book-theme and pydata-sphinx-theme style them.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from docutils import nodes
from pygments.lexer import Lexer
from pygments.token import Generic, Text, _TokenType
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform

MAX_ITEMS = 1000

#: mime priority per builder family (first = best)
HTML_PRIORITY = ("text/html", "image/svg+xml", "image/png", "image/jpeg", "image/gif",
                 "text/markdown", "text/latex", "text/plain")
LATEX_PRIORITY = ("application/pdf", "image/png", "image/jpeg", "image/svg+xml", "text/latex",
                  "text/markdown", "text/plain")
TEXT_PRIORITY = ("text/plain", "text/markdown", "text/latex", "image/png", "image/jpeg",
                 "image/svg+xml", "image/gif")
HTML_BUILDERS = ("html", "dirhtml", "singlehtml", "epub", "readthedocs", "readthedocsdirhtml")

ANSI = re.compile(r"\x1b\[([0-9;]*)([A-Za-z])")
ANSI_ANY = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_]?)")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]")
SURROGATE = re.compile(r"[\ud800-\udfff]")
COLORS = ["Black", "Red", "Green", "Yellow", "Blue", "Magenta", "Cyan", "White"]


@dataclass
class OutputContext:
    write_image: Callable[[bytes, str], str]
    max_chars: int = 20000
    docname: str = ""
    source: str = ""
    line: int | None = None


def clean_text(text: Any) -> str:
    """Text from a str or list of str, without lone surrogates or stray control chars."""
    if isinstance(text, list):
        text = "".join(str(t) for t in text)
    text = SURROGATE.sub("\ufffd", str(text))
    text = text.replace("\r\n", "\n")
    # a carriage return rewrites the line (progress bars): keep what is left visible
    text = "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))
    return CONTROL.sub("", text)


def strip_ansi(text: str) -> str:
    return ANSI_ANY.sub("", text)


def truncate(text: str, limit: int) -> tuple[str, int]:
    if len(text) <= limit:
        return text, 0
    return text[:limit], len(text) - limit


class AnsiLexer(Lexer):
    """ANSI SGR escape sequences → coloured tokens (``Token.Color.Red``, ...)."""

    name = "d2l-ansi"
    aliases = ["d2l-ansi"]

    def get_tokens_unprocessed(self, text: str) -> Iterator[tuple[int, _TokenType, str]]:
        fg: str | None = None
        bold = False
        pos = 0
        for m in ANSI_ANY.finditer(text):
            if m.start() > pos:
                yield pos, _token(fg, bold), text[pos:m.start()]
            sgr = ANSI.fullmatch(m.group(0))
            if sgr and sgr.group(2) == "m":
                for code in (sgr.group(1) or "0").split(";"):
                    n = int(code) if code.isdigit() else 0
                    if n == 0:
                        fg, bold = None, False
                    elif n == 1:
                        bold = True
                    elif n == 22:
                        bold = False
                    elif 30 <= n <= 37:
                        fg = COLORS[n - 30]
                    elif 90 <= n <= 97:
                        fg = COLORS[n - 90]
                    elif n == 39:
                        fg = None
            pos = m.end()
        if pos < len(text):
            yield pos, _token(fg, bold), text[pos:]


def _token(fg: str | None, bold: bool) -> _TokenType:
    from pygments.token import Token

    token: _TokenType = Text
    if fg:
        token = getattr(Token.Color, fg)
    if bold:
        token = Generic.Strong if token is Text else token.Bold
    return token


def _literal(text: str, classes: list[str], ctx: OutputContext,
             language: str = "d2l-ansi") -> list[nodes.Element]:
    text = clean_text(text)
    text, cut = truncate(text, ctx.max_chars)
    if not ANSI_ANY.search(text):
        language = "none"
    node = nodes.literal_block(text, text, classes=classes, language=language)
    node.source, node.line = ctx.source, ctx.line
    out: list[nodes.Element] = [node]
    if cut:
        out.append(nodes.paragraph(
            "", f"... [output truncated: {cut} more characters]",
            classes=["output", "d2l-truncated"]))
    return out


def _image(data: Any, mime: str, ctx: OutputContext, meta: dict[str, Any]) -> nodes.Element:
    ext = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif",
           "image/svg+xml": ".svg"}[mime]
    if mime == "image/svg+xml":
        raw = clean_text(data).encode("utf-8")
    else:
        try:
            raw = base64.b64decode("".join(data) if isinstance(data, list) else str(data))
        except (binascii.Error, ValueError):
            return nodes.paragraph("", "[invalid image data]", classes=["output"])
    uri = ctx.write_image(raw, ext)
    node = nodes.image(uri=uri, classes=["output", "image_" + ext[1:]], candidates={"*": uri})
    m = meta.get(mime, {}) if isinstance(meta.get(mime), dict) else {}
    for key in ("width", "height"):
        if key in m:
            node[key] = str(m[key])
    return node


def _markdown(text: str, ctx: OutputContext) -> list[nodes.Element]:
    try:
        from docutils.frontend import get_default_settings
        from docutils.utils import new_document
        from myst_parser.parsers.docutils_ import Parser

        settings = get_default_settings(Parser)
        settings.report_level = 5
        doc = new_document(ctx.source or "<output>", settings)
        Parser().parse(text, doc)
        return [c for c in doc.children if isinstance(c, nodes.Element)]
    except Exception:
        return _literal(text, ["output", "text_markdown"], ctx, "none")


def _mime_node(mime: str, data: Any, meta: dict[str, Any], ctx: OutputContext,
               ) -> list[nodes.Element]:
    if mime.startswith("image/"):
        return [_image(data, mime, ctx, meta)]
    if mime == "application/pdf":
        return []
    text = clean_text(data)
    if mime == "text/html":
        return [nodes.raw("", text, format="html", classes=["output", "text_html"])]
    if mime == "text/latex":
        stripped = text.strip()
        if stripped.startswith("$$") and stripped.endswith("$$"):
            body = stripped[2:-2].strip()
            return [nodes.math_block(body, body, nowrap=False, number=None,
                                     classes=["output", "text_latex"])]
        if stripped.startswith("\\begin"):
            return [nodes.math_block(stripped, stripped, nowrap=True, number=None,
                                     classes=["output", "text_latex"])]
        return [nodes.raw("", text, format="latex", classes=["output", "text_latex"])]
    if mime == "text/markdown":
        return _markdown(text, ctx)
    return _literal(text, ["output", "text_plain"], ctx)


def render_outputs(outputs: list[dict[str, Any]], ctx: OutputContext) -> list[nodes.Element]:
    """The nodes to put inside a cell's output container."""
    result: list[nodes.Element] = []
    items = [o for o in outputs if isinstance(o, dict)]
    merged: list[dict[str, Any]] = []
    for out in items:
        if (out.get("output_type") == "stream" and merged
                and merged[-1].get("output_type") == "stream"
                and merged[-1].get("name") == out.get("name")):
            merged[-1] = {**merged[-1], "text": clean_text(merged[-1].get("text", ""))
                          + clean_text(out.get("text", ""))}
        else:
            merged.append(out)
    for count, out in enumerate(merged):
        if count >= MAX_ITEMS:
            result.append(nodes.paragraph(
                "", f"... [{len(merged) - MAX_ITEMS} more outputs not shown]",
                classes=["output", "d2l-truncated"]))
            break
        kind = out.get("output_type")
        if kind == "stream":
            name = "stderr" if out.get("name") == "stderr" else "stream"
            result.extend(_literal(out.get("text", ""), ["output", name], ctx))
        elif kind == "error":
            tb = "\n".join(strip_ansi(clean_text(t)) for t in out.get("traceback") or [])
            if not tb:
                tb = f"{out.get('ename', '')}: {out.get('evalue', '')}"
            result.extend(_literal(tb, ["output", "traceback"], ctx, "ipythontb"))
        elif kind in ("display_data", "execute_result"):
            data = out.get("data") or {}
            if "application/vnd.jupyter.widget-view+json" in data and len(data) <= 2 and (
                    str(clean_text(data.get("text/plain", ""))).startswith(("HBox(", "VBox("))
                    or "text/plain" not in data):
                continue  # widgets (tqdm bars) are dropped, as d2lbook does
            if clean_text(data.get("text/plain", "")).startswith("HBox("):
                continue
            bundle = nodes.container(classes=["output", "mime_bundle"])
            bundle["d2l_mime_bundle"] = True
            meta = out.get("metadata") or {}
            for mime, value in data.items():
                if mime == "application/vnd.jupyter.widget-view+json":
                    continue
                if mime not in HTML_PRIORITY and mime not in LATEX_PRIORITY:
                    continue
                holder = nodes.container(classes=["d2l-mime"], mime_type=mime)
                holder.extend(_mime_node(mime, value, meta, ctx))
                bundle += holder
            if len(bundle.children):
                result.append(bundle)
    return result


class SelectMimeType(SphinxPostTransform):
    """Keep, in each mime bundle, the best representation for the current builder."""

    default_priority = 4  # before image collection and HTML rendering

    def run(self, **kwargs: Any) -> None:
        name = self.env._builder_cls.name
        fmt = self.env._builder_cls.format
        priority: tuple[str, ...]
        if name in HTML_BUILDERS or fmt == "html":
            priority = HTML_PRIORITY
        elif fmt == "latex":
            priority = LATEX_PRIORITY
        else:
            priority = TEXT_PRIORITY
        for bundle in list(self.document.findall(nodes.container)):
            if not bundle.get("d2l_mime_bundle"):
                continue
            choices = {c["mime_type"]: c for c in bundle.children
                       if isinstance(c, nodes.container) and "mime_type" in c}
            best = next((m for m in priority if m in choices), None)
            if best is None:
                bundle.parent.remove(bundle)
                continue
            chosen = choices[best]
            if fmt != "html":
                for raw in list(chosen.findall(nodes.raw)):
                    if raw.get("format") == "html":
                        raw.parent.remove(raw)
            bundle.children = []
            bundle.extend(chosen.children)
            if fmt != "html":
                for block in bundle.findall(nodes.literal_block):
                    plain = strip_ansi(block.astext())
                    block.children = [nodes.Text(plain)]
                    block["language"] = "none"
        if fmt != "html":
            for block in self.document.findall(nodes.literal_block):
                if block.get("language") == "d2l-ansi":
                    plain = strip_ansi(block.astext())
                    block.children = [nodes.Text(plain)]
                    block["language"] = "none"


def setup_outputs(app: Sphinx) -> None:
    app.add_lexer("d2l-ansi", AnsiLexer)
    app.add_post_transform(SelectMimeType)
