"""Cell outputs (nbformat v4 output dicts) → docutils nodes.

All renderable mime types of a display are kept in the (builder-agnostic, pickled)
doctree inside a ``mime_bundle`` container, one child container per mime type (attribute
``mime_type``); :class:`.select.SelectMimeType` keeps the best one for the builder at
hand. Never raises on odd data: what cannot be shown is left out.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from docutils import nodes

from .ansi import ANSI_LANGUAGE, TRACEBACK_LANGUAGE
from .select import KNOWN_MIMES
from .streams import arrange_streams
from .text import clean_text, join_text, strip_ansi, truncated

#: at most this many outputs (after merging streams) are shown per cell
MAX_ITEMS = 1000
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
IMAGE_EXT = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif",
             "application/pdf": ".pdf"}
#: leading bytes of a valid file of each binary type (garbage must not reach LaTeX)
MAGIC = {"image/png": (b"\x89PNG",), "image/jpeg": (b"\xff\xd8",),
         "image/gif": (b"GIF87a", b"GIF89a"), "application/pdf": (b"%PDF",)}
LENGTH = re.compile(r"^\d+(\.\d+)?(px|%|em|ex|pt|cm|mm|in|pc)?$")
#: amsmath environments that are displays on their own (``nowrap`` math)
DISPLAY_ENVS = frozenset({
    "equation", "equation*", "align", "align*", "gather", "gather*", "multline",
    "multline*", "flalign", "flalign*", "alignat", "alignat*", "eqnarray", "eqnarray*",
    "displaymath", "math"})
LATEX_BEGIN = re.compile(r"^\\begin\{([^}]*)\}.*\\end\{\1\}$", re.DOTALL)


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
    #: ``d2l_output_stderr`` and ``d2l_merge_streams`` (:mod:`.streams`)
    stderr: str = "show"
    merge_streams: bool = False


def _stamp(node: nodes.Element, ctx: OutputContext) -> Any:
    if ctx.source:
        node.source = ctx.source
    if ctx.line is not None:
        node.line = ctx.line
    return node


def _note(message: str, ctx: OutputContext) -> nodes.paragraph:
    return _stamp(nodes.paragraph("", message, classes=["output", "d2l-truncated"]), ctx)


def _literal(text: str, classes: list[str], ctx: OutputContext,
             language: str = ANSI_LANGUAGE) -> list[nodes.Element]:
    """A literal block of (already cleaned) ``text``, truncated with a note."""
    text, cut = truncated(text, ctx.max_chars)
    node = _stamp(nodes.literal_block(text, text, classes=classes, language=language), ctx)
    out: list[nodes.Element] = [node]
    if cut:
        out.append(_note(f"... [output truncated: {cut} more characters]", ctx))
    return out


# ---------------------------------------------------------------------------- images


def _length(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and value > 0:
        return f"{value:g}px"
    if isinstance(value, str) and LENGTH.match(value.strip()):
        text = str(value).strip()
        return text + "px" if text[-1].isdigit() else text
    return None


def _image_bytes(data: Any, mime: str) -> tuple[bytes, str] | None:
    """The file content and extension of an image output; None if it is not one."""
    if mime == "image/svg+xml":
        svg = strip_ansi(clean_text(data))
        return (svg.encode("utf-8"), ".svg") if "<svg" in svg else None
    try:
        raw = base64.b64decode(join_text(data).encode("ascii", "ignore"))
    except (binascii.Error, ValueError):
        return None
    return (raw, IMAGE_EXT[mime]) if raw.startswith(MAGIC[mime]) else None


def _image(data: Any, mime: str, meta: dict[str, Any], ctx: OutputContext,
           ) -> list[nodes.Element]:
    found = _image_bytes(data, mime)
    if found is None:
        return []
    raw, ext = found
    uri = ctx.write_image(raw, ext)
    node = _stamp(nodes.image(uri=uri, classes=["output", "image_" + ext[1:]]), ctx)
    own = meta.get(mime)
    sizes = own if isinstance(own, dict) else {}
    for key in ("width", "height"):
        length = _length(sizes.get(key, meta.get(key)))
        if length:
            node[key] = length
    return [node]


# ----------------------------------------------------------------- markdown and latex


def _parse_markdown(text: str, source: str) -> list[nodes.Element]:
    """``text`` parsed by myst-parser into a fresh document, sections flattened."""
    from myst_parser.config.main import MdParserConfig
    from myst_parser.mdit_to_docutils.base import DocutilsRenderer, make_document
    from myst_parser.parsers.docutils_ import Parser
    from myst_parser.parsers.mdit import create_md_parser

    doc = make_document(source or "<output>", parser_cls=Parser)
    doc.settings.report_level = 5
    doc.settings.halt_level = 5
    doc.reporter.report_level = 5
    doc.reporter.halt_level = 5
    md = create_md_parser(MdParserConfig(enable_extensions={"dollarmath"}), DocutilsRenderer)
    # raw HTML comes from text/html outputs only: HTML in markdown is shown as text
    md.disable(["html_block", "html_inline"], ignoreInvalid=True)
    md.options["document"] = doc
    md.render(text)
    return _flatten_sections(doc)


def _markdown(text: str, ctx: OutputContext) -> list[nodes.Element]:
    """Markdown parsed with myst-parser (headings become rubrics); literal on failure."""
    text, cut = truncated(text, ctx.max_chars)
    try:
        result = _parse_markdown(text, ctx.source)
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


# ------------------------------------------------------------------- bundles, streams


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
            text = join_text(out.get("text", ""))
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
        text = "\n".join(join_text(t) for t in lines)
    else:
        text = f"{join_text(out.get('ename', 'Error'))}: {join_text(out.get('evalue', ''))}"
    return strip_ansi(clean_text(text))


def _output(out: dict[str, Any], ctx: OutputContext) -> list[nodes.Element]:
    """The nodes of one (merged) output."""
    kind = out.get("output_type")
    if kind == "stream":
        text = clean_text(out["text"], terminal=True)
        if not text:
            return []
        cls = "stderr" if out["name"] == "stderr" else "stream"
        return _literal(text, ["output", cls], ctx)
    if kind == "error":
        return _literal(_traceback(out), ["output", "traceback"], ctx, TRACEBACK_LANGUAGE)
    if kind in ("display_data", "execute_result"):
        bundle = _bundle(out, ctx)
        return [bundle] if bundle is not None else []
    return []


def render_outputs(outputs: list[dict[str, Any]], ctx: OutputContext) -> list[nodes.Element]:
    """The nodes to put inside a cell's output container (never raises on odd data)."""
    result: list[nodes.Element] = []
    merged = arrange_streams(_merge_streams(outputs if isinstance(outputs, list) else []), ctx)
    for count, out in enumerate(merged):
        if count >= MAX_ITEMS:
            result.append(_note(f"... [{len(merged) - MAX_ITEMS} more outputs not shown]",
                                ctx))
            break
        result.extend(_output(out, ctx))
    return result
