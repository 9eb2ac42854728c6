"""Cell outputs (nbformat v4 output dicts) → docutils nodes, per builder.

All renderable mime types of a display are kept in the (builder-agnostic, pickled)
doctree inside a ``mime_bundle`` container, one child container per mime type (attribute
``mime_type``); the post-transform :class:`SelectMimeType` keeps the best one for the
builder at hand. Classes follow MyST-NB (``output``, ``stream``, ``stderr``,
``text_plain``, ``traceback``...), so sphinx-book-theme and pydata-sphinx-theme style them.

ANSI escape sequences stay in the doctree of stream and ``text/plain`` outputs (literal
blocks in the ``d2l-ansi`` language): the :class:`AnsiLexer` turns them into coloured
spans in HTML, and the post-transform strips them for every other builder.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from docutils import nodes
from pygments.lexer import Lexer
from pygments.token import Text, Token, _TokenType
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.transforms.post_transforms.images import ImageConverter

if TYPE_CHECKING:
    from sphinx.application import Sphinx

__all__ = [
    "AnsiLexer",
    "OutputContext",
    "SelectMimeType",
    "clean_text",
    "render_outputs",
    "setup_outputs",
    "strip_ansi",
]

#: at most this many outputs (after merging streams) are shown per cell
MAX_ITEMS = 1000
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
ANSI_LANGUAGE = "d2l-ansi"
TRACEBACK_LANGUAGE = "ipythontb"

#: mime priority per builder family (first = best)
HTML_PRIORITY = ("text/html", "image/svg+xml", "image/png", "image/jpeg", "image/gif",
                 "text/markdown", "text/latex", "text/plain")
LATEX_PRIORITY = ("application/pdf", "image/png", "image/jpeg", "image/svg+xml", "text/latex",
                  "text/markdown", "text/plain")
TEXT_PRIORITY = ("text/plain", "image/png", "image/jpeg", "image/gif", "image/svg+xml",
                 "text/markdown", "text/latex")
HTML_BUILDERS = frozenset({"html", "dirhtml", "singlehtml", "epub"})
KNOWN_MIMES = frozenset(HTML_PRIORITY + LATEX_PRIORITY + TEXT_PRIORITY)

IMAGE_EXT = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif",
             "application/pdf": ".pdf"}
#: leading bytes of a valid file of each binary type (garbage must not reach LaTeX)
MAGIC = {"image/png": (b"\x89PNG",), "image/jpeg": (b"\xff\xd8",),
         "image/gif": (b"GIF87a", b"GIF89a"), "application/pdf": (b"%PDF",)}

#: any escape sequence (CSI, OSC, two-char) – or a lone ESC, so none is ever left behind
ANSI_ANY = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b\n]{0,512}(?:\x07|\x1b\\)?|[ -/]*[0-~]?)")
SGR = re.compile(r"\x1b\[([0-9;:]*)m")
#: C0 controls but \t \n ESC, DEL, C1 controls, lone surrogates, XML non-characters
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f\ufffe\uffff]")
SURROGATE = re.compile(r"[\ud800-\udfff]")
LENGTH = re.compile(r"^\d+(\.\d+)?(px|%|em|ex|pt|cm|mm|in|pc)?$")
#: amsmath environments that are displays on their own (``nowrap`` math)
DISPLAY_ENVS = frozenset({
    "equation", "equation*", "align", "align*", "gather", "gather*", "multline",
    "multline*", "flalign", "flalign*", "alignat", "alignat*", "eqnarray", "eqnarray*",
    "displaymath", "math"})
LATEX_BEGIN = re.compile(r"^\\begin\{([^}]*)\}.*\\end\{\1\}$", re.DOTALL)
COLORS = ("Black", "Red", "Green", "Yellow", "Blue", "Magenta", "Cyan", "White")


@dataclass
class OutputContext:
    """What rendering needs from the caller."""

    #: (raw bytes, extension like ".png") -> URI for ``nodes.image['uri']``
    write_image: Callable[[bytes, str], str]
    #: text outputs longer than this are truncated with a visible note
    max_chars: int = 20000
    docname: str = ""
    #: source path and line stamped on the nodes (for warnings)
    source: str = ""
    line: int | None = None


# ------------------------------------------------------------------------- text helpers


def _join(text: Any) -> str:
    if isinstance(text, list):
        return "".join(t if isinstance(t, str) else str(t) for t in text)
    return text if isinstance(text, str) else str(text)


def _overwrite(line: str) -> str:
    """What a terminal shows of a line with carriage returns (progress bars)."""
    if "\r" not in line:
        return line
    parts = [p for p in line.split("\r") if p]
    return parts[-1] if parts else ""


def clean_text(text: Any, terminal: bool = False) -> str:
    """Text from a str or list of str, without lone surrogates or stray control chars.

    ESC is kept (see :func:`strip_ansi`). With ``terminal``, a carriage return rewrites
    its line as in a terminal; otherwise it is a line break.
    """
    text = SURROGATE.sub("\ufffd", _join(text)).replace("\r\n", "\n")
    if terminal:
        text = "\n".join(_overwrite(line) for line in text.split("\n"))
    else:
        text = text.replace("\r", "\n")
    return CONTROL.sub("", text)


def strip_ansi(text: str) -> str:
    """``text`` without any escape sequence (nor lone ESC)."""
    return ANSI_ANY.sub("", text)


def _truncated(text: str, limit: int) -> tuple[str, int]:
    limit = max(limit, 0)
    if len(text) <= limit:
        return text, 0
    return text[:limit], len(text) - limit


def _note(message: str, ctx: OutputContext) -> nodes.paragraph:
    return _stamp(nodes.paragraph("", message, classes=["output", "d2l-truncated"]), ctx)


def _stamp(node: nodes.Element, ctx: OutputContext) -> Any:
    if ctx.source:
        node.source = ctx.source
    if ctx.line is not None:
        node.line = ctx.line
    return node


# ---------------------------------------------------------------------------- the lexer


@dataclass
class _SgrState:
    bold: bool = False
    faint: bool = False
    italic: bool = False
    underline: bool = False
    fg: str | None = None
    bg: str | None = None

    def token(self) -> _TokenType:
        parts = [name for name, on in (("Bold", self.bold), ("Faint", self.faint),
                                       ("Italic", self.italic),
                                       ("Underline", self.underline)) if on]
        if self.fg:
            parts.append(self.fg)
        if self.bg:
            parts.append("BG" + self.bg)
        if not parts:
            return Text
        token: _TokenType = Token.Color
        for part in parts:
            token = getattr(token, part)
        return token

    def reset(self) -> None:
        self.bold = self.faint = self.italic = self.underline = False
        self.fg = self.bg = None

    def apply(self, params: str) -> None:
        codes = [int(p) if p.isdigit() else 0 for p in re.split(r"[;:]", params)[:64]] or [0]
        i = 0
        while i < len(codes):
            n = codes[i]
            if n == 0:
                self.reset()
            elif n in (1, 2, 3, 4):
                setattr(self, ("bold", "faint", "italic", "underline")[n - 1], True)
            elif n == 22:
                self.bold = self.faint = False
            elif n == 23:
                self.italic = False
            elif n == 24:
                self.underline = False
            elif 30 <= n <= 37 or 90 <= n <= 97:
                self.fg = ("Bright" if n >= 90 else "") + COLORS[n % 10]
            elif 40 <= n <= 47 or 100 <= n <= 107:
                self.bg = ("Bright" if n >= 100 else "") + COLORS[n % 10]
            elif n == 39:
                self.fg = None
            elif n == 49:
                self.bg = None
            elif n in (38, 48):  # 256 colours (5;n) or true colour (2;r;g;b)
                kind = codes[i + 1] if i + 1 < len(codes) else None
                color = None
                if kind == 5 and i + 2 < len(codes):
                    idx = codes[i + 2]
                    if idx < 16:
                        color = ("Bright" if idx >= 8 else "") + COLORS[idx % 8]
                    i += 2
                elif kind == 2:
                    i += 4
                if n == 38:
                    self.fg = color
                else:
                    self.bg = color
            i += 1


class AnsiLexer(Lexer):
    """Text with ANSI SGR sequences → coloured tokens (``Token.Color.Bold.Red``...).

    Every other escape sequence (and any garbage starting with ESC) is dropped. The
    lexer keeps no state between calls: Sphinx caches lexer instances.
    """

    name = "ANSI colour (d2l)"
    aliases = [ANSI_LANGUAGE]
    filenames: list[str] = []

    def get_tokens_unprocessed(self, text: str) -> Iterator[tuple[int, _TokenType, str]]:
        state = _SgrState()
        pos = 0
        for m in ANSI_ANY.finditer(text):
            if m.start() > pos:
                yield pos, state.token(), text[pos:m.start()]
            sgr = SGR.fullmatch(m.group(0))
            if sgr:
                state.apply(sgr.group(1))
            pos = m.end()
        if pos < len(text):
            yield pos, state.token(), text[pos:]


@functools.cache
def _traceback_lexer() -> type[Lexer] | None:
    """A lexer for ``ipythontb`` if pygments does not know one (IPython's)."""
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        get_lexer_by_name(TRACEBACK_LANGUAGE)
        return None
    except ClassNotFound:
        pass
    try:
        from ipython_pygments_lexers import IPythonTracebackLexer
    except ImportError:
        try:
            from IPython.lib.lexers import IPythonTracebackLexer
        except ImportError:
            return _PlainLexer
    lexer: type[Lexer] = IPythonTracebackLexer
    return lexer


class _PlainLexer(Lexer):
    name = "plain traceback (d2l)"
    aliases: list[str] = []

    def get_tokens_unprocessed(self, text: str) -> Iterator[tuple[int, _TokenType, str]]:
        yield 0, Text, text


# ------------------------------------------------------------------------- node makers


def _literal(text: str, classes: list[str], ctx: OutputContext,
             language: str = ANSI_LANGUAGE) -> list[nodes.Element]:
    """A literal block of (already cleaned) ``text``, truncated with a note."""
    text, cut = _truncated(text, ctx.max_chars)
    node = _stamp(nodes.literal_block(text, text, classes=classes, language=language), ctx)
    out: list[nodes.Element] = [node]
    if cut:
        out.append(_note(f"... [output truncated: {cut} more characters]", ctx))
    return out


def _length(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and value > 0:
        return f"{value:g}px"
    if isinstance(value, str) and LENGTH.match(value.strip()):
        value = value.strip()
        return value + "px" if value[-1].isdigit() else value
    return None


def _image(data: Any, mime: str, meta: dict[str, Any], ctx: OutputContext,
           ) -> list[nodes.Element]:
    if mime == "image/svg+xml":
        svg = strip_ansi(clean_text(data))
        if "<svg" not in svg:
            return []
        raw, ext = svg.encode("utf-8"), ".svg"
    else:
        try:
            raw = base64.b64decode(_join(data).encode("ascii", "ignore"))
        except (binascii.Error, ValueError):
            return []
        if not raw.startswith(MAGIC[mime]):
            return []
        ext = IMAGE_EXT[mime]
    uri = ctx.write_image(raw, ext)
    node = _stamp(nodes.image(uri=uri, classes=["output", "image_" + ext[1:]]), ctx)
    own = meta.get(mime)
    sizes = own if isinstance(own, dict) else {}
    for key in ("width", "height"):
        length = _length(sizes.get(key, meta.get(key)))
        if length:
            node[key] = length
    return [node]


def _markdown(text: str, ctx: OutputContext) -> list[nodes.Element]:
    """Markdown parsed with myst-parser (headings become rubrics); literal on failure."""
    text, cut = _truncated(text, ctx.max_chars)
    try:
        from myst_parser.config.main import MdParserConfig
        from myst_parser.mdit_to_docutils.base import DocutilsRenderer, make_document
        from myst_parser.parsers.docutils_ import Parser
        from myst_parser.parsers.mdit import create_md_parser

        doc = make_document(ctx.source or "<output>", parser_cls=Parser)
        doc.settings.report_level = 5
        doc.settings.halt_level = 5
        doc.reporter.report_level = 5
        doc.reporter.halt_level = 5
        md = create_md_parser(MdParserConfig(enable_extensions={"dollarmath"}),
                              DocutilsRenderer)
        # raw HTML comes from text/html outputs only: HTML in markdown is shown as text
        md.disable(["html_block", "html_inline"], ignoreInvalid=True)
        md.options["document"] = doc
        md.render(text)
        result = _flatten_sections(doc)
    except Exception:
        return _literal(text, ["output", "text_markdown"], ctx, "none")
    for node in result:
        for sub in list(node.findall(nodes.Element)):
            if isinstance(sub, nodes.system_message) and sub.parent is not None:
                sub.parent.remove(sub)
            sub["ids"], sub["names"] = [], []  # no clash with the page's ids
        _stamp(node, ctx)
    if cut:
        result.append(_note(f"... [output truncated: {cut} more characters]", ctx))
    return result


def _flatten_sections(parent: nodes.Element) -> list[nodes.Element]:
    out: list[nodes.Element] = []
    for child in parent.children:
        if isinstance(child, nodes.section):
            for sub in child.children:
                if isinstance(sub, nodes.title):
                    out.append(nodes.rubric(sub.rawsource, "", *sub.children))
            out.extend(_flatten_sections(child))
        elif isinstance(child, nodes.title):
            continue
        elif isinstance(child, nodes.Element) and not isinstance(child, nodes.system_message):
            out.append(child)
    return out


def _latex(text: str, ctx: OutputContext) -> tuple[list[nodes.Element], list[str] | None]:
    """Math for (display or whole-string inline) math, else raw latex for latex only."""
    body = text.strip()
    nowrap = False
    for left, right in (("$$", "$$"), ("\\[", "\\]"), ("$", "$"), ("\\(", "\\)")):
        if len(body) > len(left) + len(right) and body.startswith(left) \
                and body.endswith(right):
            body = body[len(left):-len(right)].strip()
            break
    else:
        env = LATEX_BEGIN.match(body)
        if env is None:
            raw = nodes.raw("", text, format="latex", classes=["output", "text_latex"])
            return [_stamp(raw, ctx)], ["latex"]
        nowrap = env.group(1) in DISPLAY_ENVS
    if not body:
        return [], None
    node = nodes.math_block(body, body, nowrap=nowrap, number=None,
                            classes=["output", "text_latex"])
    return [_stamp(node, ctx)], None


def _mime(mime: str, data: Any, meta: dict[str, Any], ctx: OutputContext,
          ) -> tuple[list[nodes.Element], list[str] | None]:
    """The nodes for one mime type, and the builder formats they are for (None: all)."""
    if mime.startswith("image/") or mime == "application/pdf":
        return _image(data, mime, meta, ctx), None
    if mime == "text/plain":
        text = clean_text(data, terminal=True)
        if not text.strip():
            return [], None
        return _literal(text, ["output", "text_plain"], ctx), None
    text = strip_ansi(clean_text(data))
    if not text.strip():
        return [], None
    if mime == "text/html":
        raw = nodes.raw("", text, format="html", classes=["output", "text_html"])
        return [_stamp(raw, ctx)], ["html"]
    if mime == "text/latex":
        return _latex(text, ctx)
    if mime == "text/markdown":
        return _markdown(text, ctx), None
    return [], None


def _bundle(out: dict[str, Any], ctx: OutputContext) -> nodes.container | None:
    data = out.get("data")
    if not isinstance(data, dict) or WIDGET_MIME in data:
        return None  # widgets (tqdm bars) are dropped, as d2lbook does
    if clean_text(data.get("text/plain", "")).lstrip().startswith("HBox("):
        return None
    meta = out.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    bundle = _stamp(nodes.container(classes=["output", "mime_bundle"]), ctx)
    for mime, value in data.items():
        if mime not in KNOWN_MIMES:
            continue
        children, formats = _mime(mime, value, meta, ctx)
        if not children:
            continue
        holder = nodes.container(classes=["d2l-mime"], mime_type=mime)
        if formats:
            holder["d2l_formats"] = formats
        holder.extend(children)
        bundle += _stamp(holder, ctx)
    return bundle if len(bundle.children) else None


def _merge_streams(outputs: list[Any]) -> list[dict[str, Any]]:
    merged: list[dict[str, Any]] = []
    for out in outputs:
        if not isinstance(out, dict):
            continue
        if out.get("output_type") == "stream":
            name = "stderr" if out.get("name") == "stderr" else "stdout"
            text = _join(out.get("text", ""))
            last = merged[-1] if merged else None
            if last is not None and last.get("output_type") == "stream" \
                    and last["name"] == name:
                last["text"] += text
            else:
                merged.append({"output_type": "stream", "name": name, "text": text})
        else:
            merged.append(out)
    return merged


def _traceback(out: dict[str, Any]) -> str:
    lines = out.get("traceback")
    if isinstance(lines, list) and lines:
        text = "\n".join(_join(t) for t in lines)
    else:
        text = f"{_join(out.get('ename', 'Error'))}: {_join(out.get('evalue', ''))}"
    return strip_ansi(clean_text(text))


def render_outputs(outputs: list[dict[str, Any]], ctx: OutputContext) -> list[nodes.Element]:
    """The nodes to put inside a cell's output container (never raises on odd data)."""
    result: list[nodes.Element] = []
    merged = _merge_streams(outputs if isinstance(outputs, list) else [])
    for count, out in enumerate(merged):
        if count >= MAX_ITEMS:
            result.append(_note(f"... [{len(merged) - MAX_ITEMS} more outputs not shown]",
                                ctx))
            break
        kind = out.get("output_type")
        if kind == "stream":
            text = clean_text(out["text"], terminal=True)
            if text:
                cls = "stderr" if out["name"] == "stderr" else "stream"
                result.extend(_literal(text, ["output", cls], ctx))
        elif kind == "error":
            result.extend(_literal(_traceback(out), ["output", "traceback"], ctx,
                                   TRACEBACK_LANGUAGE))
        elif kind in ("display_data", "execute_result"):
            bundle = _bundle(out, ctx)
            if bundle is not None:
                result.append(bundle)
    return result


# ----------------------------------------------------------------- per-builder selection


class SelectMimeType(SphinxPostTransform):
    """Keep, in each mime bundle, the best representation for the current builder.

    For builders other than HTML ones, ANSI sequences are stripped from ``d2l-ansi``
    literal blocks too.
    """

    default_priority = 4  # before image conversion (10) and reference resolution

    def _image_types(self) -> set[str] | None:
        """Image types the builder can use, directly or via a registered converter.

        None where the builder does not say (keep every image): an SVG-only figure
        must not become ``\\includegraphics{x.svg}`` in LaTeX without a converter.
        """
        supported = set(getattr(self.env._builder_cls, "supported_image_types", None) or [])
        if not supported:
            return None
        registry = getattr(self.env, "_registry", None)
        try:
            transforms = list(registry.get_post_transforms()) if registry else []
        except Exception:
            return None
        for transform in transforms:
            if isinstance(transform, type) and issubclass(transform, ImageConverter):
                for source, dest in getattr(transform, "conversion_rules", []):
                    if dest in supported:
                        supported.add(source)
        return supported

    def run(self, **kwargs: Any) -> None:
        name = self.env._builder_cls.name
        fmt = self.env._builder_cls.format
        html = name in HTML_BUILDERS or fmt == "html"
        priority = HTML_PRIORITY if html else LATEX_PRIORITY if fmt == "latex" \
            else TEXT_PRIORITY
        target = "html" if html else fmt
        usable = self._image_types()
        for bundle in list(self.document.findall(nodes.container)):
            if "mime_bundle" not in bundle["classes"]:
                continue
            choices: dict[str, nodes.container] = {}
            for child in bundle.children:
                if isinstance(child, nodes.container) and "mime_type" in child:
                    formats = child.get("d2l_formats")
                    mime = child["mime_type"]
                    if (not formats or target in formats) and (
                            usable is None or not mime.startswith("image/") or mime in usable):
                        choices.setdefault(mime, child)
            best = next((m for m in priority if m in choices), None)
            if best is None:
                bundle.parent.remove(bundle)
                continue
            chosen = choices[best].children
            bundle.children = []
            bundle.extend(chosen)
        if html:
            return
        for raw in list(self.document.findall(nodes.raw)):
            if raw.get("format") == "html" and "output" in raw["classes"]:
                raw.parent.remove(raw)
        for block in self.document.findall(nodes.literal_block):
            if block.get("language") == ANSI_LANGUAGE:
                plain = strip_ansi(block.astext())
                block.rawsource = plain
                block.children = []
                block += nodes.Text(plain)
                block["language"] = "none"


# ----------------------------------------------------------------------------- setup


STATIC = os.path.join(os.path.dirname(__file__), "static")


def _add_static_path(app: Sphinx, config: Any) -> None:
    # at config-inited, before Sphinx compares the configuration with the last build's
    # (appending later would make every rebuild report "the configuration has changed")
    if STATIC not in config.html_static_path:
        config.html_static_path.append(STATIC)


def setup_outputs(app: Sphinx) -> None:
    """Register the lexers and the post-transform (idempotent; the stylesheet is
    registered by :mod:`.sphinx_ext`)."""
    app.add_lexer(ANSI_LANGUAGE, AnsiLexer)
    traceback = _traceback_lexer()
    if traceback is not None:
        app.add_lexer(TRACEBACK_LANGUAGE, traceback)
    if SelectMimeType not in app.registry.post_transforms:
        app.add_post_transform(SelectMimeType)
    if not any(name == "d2ltabs.css" for name, _ in app.registry.css_files):
        app.add_css_file("d2ltabs.css")
        app.connect("config-inited", _add_static_path)
