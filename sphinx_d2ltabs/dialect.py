"""The d2lbook markdown dialect as markdown-it plugins on top of myst-parser (Sphinx-free).

Block level
    ``:begin_tab:`X``` ... ``:end_tab:``  → ``d2l_tab_prose_open``/``_close`` around the
    nested (normally parsed) markdown; ``:label:``, ``:eqlabel:``, ``:width:``,
    ``:height:``, ``:bibliography:`` lines → ``d2l_mark`` tokens, then attached by the
    ``d2l_structure`` core rule to the heading / figure / table / equation before them.
Inline
    ``:numref:`x```, ``:ref:``, ``:eqref:``, ``:cite:``, ``:citet:``, ``:citep:`` and any
    other ``:name:`text``` → ``d2l_role`` tokens.
Grouping
    The ``d2l_group`` core rule wraps each run of consecutive top-level code cells and
    tab prose blocks in ``d2l_group_open``/``_close``; the renderer turns a group into
    one synced tab set.

:func:`read_document` parses a page without Sphinx: its cells (for execution and the
``#@save`` library), toc entries and dialect diagnostics.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token

from .cells import ALL, Cell, parse_cell, parse_fence_info

BLOCK_MARK_KEYS = ("label", "eqlabel", "width", "height", "bibliography")
BEGIN_TAB = re.compile(r"^:begin_tab:`([^`]*)`[ \t]*$")
END_TAB = re.compile(r"^:end_tab:[ \t]*$")
MARK = re.compile(r":([-/\\.\w]+):`([^`]*)`")
MARK_LINE = re.compile(r"^(?:[ \t]*:(?:" + "|".join(BLOCK_MARK_KEYS) + r"):`[^`]*`)+[ \t]*$")
UNKNOWN_MARK_LINE = re.compile(r"^:([-/\\.\w]+):(?:`([^`]*)`)?[ \t]*$")
FENCE_START = re.compile(r"^[ ]{0,3}(`{3,}|~{3,})")
ROLE = re.compile(r":([-/\\.\w]+):(`+)")
COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)

#: d2l role name → Sphinx role name.
ROLE_MAP = {
    "numref": "numref",
    "ref": "ref",
    "eqref": "eq",
    "cite": "cite:p",
    "citet": "cite:t",
    "citep": "cite:p",
    "class": "py:class",
    "func": "py:func",
    "mod": "py:mod",
    "meth": "py:meth",
}

TOC_OPTIONS = ("maxdepth", "numbered", "titlesonly", "glob", "hidden", "caption", "name",
               "includehidden", "reversed")


@dataclass
class Diagnostic:
    """A problem found in the source, reported by the caller with file:line."""

    line: int
    message: str
    subtype: str = "syntax"


@dataclass
class Document:
    """What :func:`read_document` finds in a page."""

    cells: list[Cell] = field(default_factory=list)
    toc: list[str] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def _line_text(state: StateBlock, line: int) -> str:
    return state.src[state.bMarks[line] + state.tShift[line] : state.eMarks[line]]


def _diag(state: StateBlock | StateCore, line: int, message: str, subtype: str = "syntax") -> None:
    state.env.setdefault("d2l_diagnostics", []).append(Diagnostic(line, message, subtype))


def _split_tabs(value: str) -> list[str]:
    return list(dict.fromkeys(t.strip().lower() for t in value.strip("`").split(",") if t.strip()))


# --------------------------------------------------------------------------- block rules


def _tab_prose(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    if state.sCount[start] - state.blkIndent >= 4:
        return False
    text = _line_text(state, start)
    m = BEGIN_TAB.match(text)
    end_only = END_TAB.match(text)
    if not m and not end_only:
        return False
    if silent:
        return True
    if end_only:
        # (not when it closes a block that was reported as not closed before a nested one)
        if start not in state.env.get("d2l_tab_outer_close", ()):
            _diag(state, start + 1, "':end_tab:' without a matching ':begin_tab:' (ignored)",
                  "tab")
        state.line = start + 1
        return True
    tabs = _split_tabs(m.group(1)) if m else []
    if not tabs:
        _diag(state, start + 1, "':begin_tab:' without a framework name", "tab")
    nxt = start + 1
    closed = False
    fence: str | None = None
    while nxt < end:
        line = _line_text(state, nxt)
        fm = FENCE_START.match(state.src[state.bMarks[nxt] : state.eMarks[nxt]])
        if fence is not None:
            if fm and fm.group(1)[0] == fence[0] and len(fm.group(1)) >= len(fence):
                rest = state.src[state.bMarks[nxt] : state.eMarks[nxt]].strip()
                if rest == fm.group(1) or set(rest) == {fence[0]}:
                    fence = None
            nxt += 1
            continue
        if fm:
            fence = fm.group(1)
        elif END_TAB.match(line):
            closed = True
            break
        elif BEGIN_TAB.match(line):
            break
        nxt += 1
    outer = state.env.pop("d2l_tab_open_outer", None)
    if closed and outer is not None:  # a nested block: the next :end_tab: closes the outer
        k = nxt + 1
        while k < end and not _line_text(state, k).strip():
            k += 1
        if k < end and END_TAB.match(_line_text(state, k)):
            state.env.setdefault("d2l_tab_outer_close", set()).add(k)
    if not closed:
        nested = nxt < end and BEGIN_TAB.match(_line_text(state, nxt))
        where = (f"before the ':begin_tab:' at line {nxt + 1} (tab blocks do not nest)"
                 if nested else f"(the tab block ends at line {nxt})")
        _diag(state, start + 1,
              f"':begin_tab:`{m.group(1) if m else ''}`' is not closed by ':end_tab:' {where}",
              "tab")
        if nested:
            state.env["d2l_tab_open_outer"] = start
    token = state.push("d2l_tab_prose_open", "div", 1)
    token.map = [start, nxt + (1 if closed else 0)]
    token.meta = {"tabs": tabs, "closed": closed}
    old_parent, old_max = state.parentType, state.lineMax
    state.parentType = "d2l_tab_prose"
    state.lineMax = nxt
    state.md.block.tokenize(state, start + 1, nxt)
    state.parentType, state.lineMax = old_parent, old_max
    token = state.push("d2l_tab_prose_close", "div", -1)
    state.line = nxt + (1 if closed else 0)
    return True


def _mark_line(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    if state.sCount[start] - state.blkIndent >= 4:
        return False
    text = _line_text(state, start)
    if not MARK_LINE.match(text):
        return False
    if silent:
        return True
    for m in MARK.finditer(text):
        token = state.push("d2l_mark", "", 0)
        token.map = [start, start + 1]
        token.meta = {"key": m.group(1), "value": m.group(2).strip()}
        token.content = m.group(0)
    state.line = start + 1
    return True


# --------------------------------------------------------------------------- inline rule


def _role(state: StateInline, silent: bool) -> bool:
    pos = state.pos
    if state.src[pos] != ":":
        return False
    if pos > 0 and (state.src[pos - 1].isalnum() or state.src[pos - 1] in ":`"):
        return False
    m = ROLE.match(state.src, pos, state.posMax)
    if not m:
        return False
    ticks = m.group(2)
    start = m.end()
    # (a text with many unclosed roles: no search to the end of the text from each)
    unclosed: dict[tuple[str, int], int] = state.__dict__.setdefault("d2l_unclosed", {})
    if start >= unclosed.get((ticks, state.posMax), len(state.src) + 1):
        return False
    close = state.src.find(ticks, start, state.posMax)
    if close < 0:
        unclosed[(ticks, state.posMax)] = start
        return False
    if not silent:
        token = state.push("d2l_role", "", 0)
        # inline tokens inherit their paragraph's first line: keep the offset of this line
        token.meta = {"name": m.group(1), "line_offset": _line_offset(state, pos)}
        token.content = state.src[start:close].replace("\n", " ")
    state.pos = close + len(ticks)
    return True


def _line_offset(state: StateInline, pos: int) -> int:
    """The number of newlines before ``pos`` (counted on from the last call's position)."""
    last, count = state.__dict__.get("d2l_newlines", (0, 0))
    if pos < last:
        last, count = 0, 0
    count += state.src.count("\n", last, pos)
    state.__dict__["d2l_newlines"] = (pos, count)
    return count


SLIDE_OPEN = re.compile(r"\[\*\*|\(\*\*")


def strip_slide_marks(text: str, mark: str, keep: bool) -> str:
    r"""Remove the slide marks ``(MMtextMM)`` / ``[MMtextMM]`` (``MM`` = ``mark`` twice) from
    ``text``, keeping ``text`` or not; ``[MMtextMM](url)`` stays (a link).

    The same as ``re.sub`` of ``\(MM(.+?)MM\)|\[MM(.+?)MM\](?!\()`` (DOTALL), in linear time:
    that regex scans to the end of the text from every opener that is never closed.
    """
    pair = re.escape(mark * 2)
    if mark * 2 not in text:
        return text
    closers = {
        "(": [m.start() for m in re.finditer(f"(?={pair}\\))", text)],
        "[": [m.start() for m in re.finditer(f"(?={pair}\\](?!\\())", text)],
    }
    out: list[str] = []
    done = 0  # text[:done] is handled
    for m in re.finditer(f"(?=[(\\[]{pair})", text):
        start = m.start()
        if start < done:
            continue
        ends = closers[text[start]]
        k = bisect_left(ends, start + 4)  # the text between the marks is not empty
        if k == len(ends):
            continue
        out.append(text[done:start])
        if keep:
            out.append(text[start + 3 : ends[k]])
        done = ends[k] + 3
    out.append(text[done:])
    return "".join(out)


def _slide_marks(state: StateCore) -> None:
    """d2lbook slide marks in prose: ``[**text**]`` / ``(**text**)`` show ``text``;
    ``[~~text~~]`` / ``(~~text~~)`` (slide-only text) show nothing.
    ``[**text**](url)`` stays a link with bold text."""
    pending: tuple[Token, int, str] | None = None
    for token in state.tokens:
        if token.type != "inline":
            continue
        text = strip_slide_marks(token.content, "~", keep=False)
        token.content = strip_slide_marks(text, "*", keep=True)
        # a mark spanning paragraphs or an equation (d2l-en: "[**Given ...\n\n$$...$$\n**]"),
        # as d2lbook removes marks from the whole text between two code cells
        if pending is not None:
            opener, pos, close = pending
            stripped = token.content.lstrip()
            if stripped.startswith(close):
                opener.content = opener.content[:pos] + opener.content[pos + 3:]
                token.content = stripped[3:].lstrip()
            pending = None
        m = SLIDE_OPEN.search(token.content)
        if m and ((m.group(0)[0] == "[" and "**]" not in token.content[m.end():])
                  or (m.group(0)[0] == "(" and "**)" not in token.content[m.end():])):
            pending = (token, m.start(), "**]" if m.group(0)[0] == "[" else "**)")


# --------------------------------------------------------------------------- core rules


def _blank(token: Token) -> bool:
    return token.type in ("softbreak", "hardbreak") or (
        token.type == "text" and not token.content.strip())


def _is_image_paragraph(tokens: list[Token], i: int) -> bool:
    """tokens[i] is paragraph_open: is it a paragraph holding one image only?"""
    if i + 2 >= len(tokens) or tokens[i + 1].type != "inline":
        return False
    kids = (c for c in tokens[i + 1].children or [] if not _blank(c))
    first, second = next(kids, None), next(kids, None)
    return first is not None and second is None and first.type == "image"


def _is_caption_paragraph(tokens: list[Token], i: int) -> bool:
    return (
        0 <= i < len(tokens) - 2
        and tokens[i].type == "paragraph_open"
        and tokens[i + 1].type == "inline"
        and CAPTION_START.match(tokens[i + 1].content) is not None
        and tokens[i + 2].type == "paragraph_close"
    )


CAPTION_START = re.compile(r"^:(?:[ \t]|(?![-/\\.\w]+:`)\S)")
"""A table caption paragraph: ``: caption``, or pandoc's ``:caption`` (d2l-en), not a role."""
LENGTH = re.compile(
    r"(\d+(?:\.\d*)?|\.\d+) *(em|ex|ch|rem|vw|vh|vmin|vmax|cm|mm|Q|in|pt|pc|px|%)?")
"""A figure's ``:width:`` / ``:height:`` (a CSS length docutils and LaTeX accept)."""


def _display_math_child(inline: Token) -> Token | None:
    """The ``$$...$$`` that ends a paragraph's inline content (pandoc makes it a block)."""
    last = next((c for c in reversed(inline.children or []) if not _blank(c)), None)
    return last if last is not None and last.type == "math_inline_double" else None


def _inline_eqlabels(tokens: list[Token]) -> None:
    """``$$...$$ :eqlabel:`x``` on one line (d2l-en): the role labels that equation."""
    for token in tokens:
        if token.type != "inline" or not token.children:
            continue
        kids: list[Token] = []
        last: Token | None = None  # the last kid that is not blank text
        for child in token.children:
            if (child.type == "d2l_role" and child.meta.get("name") in ("eqlabel", "label")
                    and last is not None and last.type == "math_inline_double"):
                last.type = "math_block_label"
                last.info = child.content.strip()
                continue
            kids.append(child)
            if not (child.type == "text" and not child.content.strip()):
                last = child
        token.children = kids


def _open_of(tokens: list[Token], close_idx: int) -> int:
    """Index of the opening token matching the closing token at ``close_idx``."""
    depth = 0
    for j in range(close_idx, -1, -1):
        depth += tokens[j].nesting
        if depth == 0:
            return j
    return close_idx


def _openings(tokens: list[Token]) -> dict[int, Token]:
    """id(closing token) → its opening token."""
    stack: list[Token] = []
    found: dict[int, Token] = {}
    for token in tokens:
        if token.nesting == 1:
            stack.append(token)
        elif token.nesting == -1 and stack:
            found[id(token)] = stack.pop()
    return found


def _structure(state: StateCore) -> None:
    """Attach ``d2l_mark`` tokens to what precedes them; mark figures and table captions."""
    _inline_eqlabels(state.tokens)
    openings = _openings(state.tokens)
    out: list[Token] = []
    anchor = -1  # out[anchor]: the last token that is neither a mark nor an HTML comment
    for token in state.tokens:  # (comments: a bilingual page's original text)
        if token.type == "d2l_mark":
            anchor = _attach(state, out, anchor, token, openings)
            continue
        out.append(token)
        if not _is_comment_block(token):
            anchor = len(out) - 1
    state.tokens = _table_captions(out, openings)


def _attach(state: StateCore, out: list[Token], j: int, token: Token,
            openings: dict[int, Token]) -> int:
    """Attach a mark to ``out[j]``, the element before it; the new index of that element."""
    key, value = token.meta["key"], token.meta["value"]
    line = (token.map[0] if token.map else 0) + 1
    prev = out[j].type if j >= 0 else ""
    is_label = key in ("eqlabel", "label")
    if key == "bibliography":
        out.append(token)
    elif prev == "heading_close" and key == "label":
        k = _open_of(out, j)
        out.insert(k, Token("myst_target", "", 0, map=out[k].map, content=value))
        return j + 1
    elif prev == "paragraph_close" and _is_image_paragraph(out, _open_of(out, j)):
        _figure_mark(state, out[_open_of(out, j)], key, value, line)
    elif prev == "paragraph_close" and is_label and _display_math_child(out[j - 1]):
        math = _display_math_child(out[j - 1])  # "text\n$$...$$\n:eqlabel:`x`", "(**$$..$$**)"
        math.type, math.info = "math_block_label", value  # type: ignore[union-attr]
    elif prev in ("math_block", "math_block_label") and is_label:
        out[j].type, out[j].info = "math_block_label", value
    elif prev == "table_close" and key == "label":
        openings[id(out[j])].meta["d2l_label"] = value
    elif prev and _is_caption_paragraph(out, j - 2) and key == "label":
        # ": caption" / ":label:`x`" / table  (the table follows the label)
        out[j - 2].meta["d2l_table_label"] = value
    elif key == "label":
        _diag(state, line, f"':label:`{value}`' does not follow a heading, figure, table or "
              "equation; it labels this point of the page", "label")
        out.append(Token("myst_target", "", 0, map=token.map, content=value))
        return len(out) - 1
    else:
        _diag(state, line, f"':{key}:`{value}`' does not follow an image or equation (ignored)",
              "mark")
    return j


def _figure_mark(state: StateCore, para: Token, key: str, value: str, line: int) -> None:
    fig = para.meta.setdefault("d2l_figure", {})
    if key in ("width", "height"):
        m = LENGTH.fullmatch(value)
        if m is None:
            _diag(state, line, f"':{key}:`{value}`' is not a length (such as 400px or 50%); "
                  f"the figure is shown without a {key}", "figure")
            return
        value = m.group(1) + (m.group(2) or "")
    if key in fig:
        _diag(state, line, f"duplicate ':{key}:' for one figure", "mark")
    fig[key] = value


def _table_captions(out: list[Token], openings: dict[int, Token]) -> list[Token]:
    """A ": caption" paragraph right before or after a table is its caption; HTML comments
    between them (a bilingual page's original table) are skipped."""
    i = 0
    result: list[Token] = []
    while i < len(out):
        if not _is_caption_paragraph(out, i):
            result.append(out[i])
            i += 1
            continue
        nxt = i + 3
        while nxt < len(out) and _is_comment_block(out[nxt]):
            nxt += 1
        last = len(result) - 1
        while last >= 0 and _is_comment_block(result[last]):
            last -= 1
        table: Token | None = None
        if nxt < len(out) and out[nxt].type == "table_open":
            table = out[nxt]
        elif last >= 0 and result[last].type == "table_close":
            table = openings.get(id(result[last]))
        if table is None:
            result.append(out[i])
            i += 1
            continue
        table.meta["d2l_caption"] = out[i + 1]
        if "d2l_table_label" in out[i].meta:
            table.meta.setdefault("d2l_label", out[i].meta["d2l_table_label"])
        if nxt < len(out) and table is out[nxt]:  # (comments between the two stay)
            result.extend(out[i + 3:nxt])
            i = nxt
        else:
            i += 3
    return result


def _is_comment_block(token: Token) -> bool:
    return token.type == "html_block" and not COMMENT.sub("", token.content).strip()


def _is_item_start(token: Token) -> bool:
    if token.level != 0:
        return False
    if token.type == "fence":
        return parse_fence_info(token.info).is_cell
    return token.type == "d2l_tab_prose_open"


def _group(state: StateCore) -> None:
    """Wrap runs of consecutive top-level cells / tab prose blocks in d2l_group tokens."""
    tokens = state.tokens
    out: list[Token] = []
    i = 0
    n = len(tokens)
    while i < n:
        if not _is_item_start(tokens[i]):
            out.append(tokens[i])
            i += 1
            continue
        run: list[Token] = []
        trailing: list[Token] = []
        while i < n:
            tok = tokens[i]
            if _is_item_start(tok):
                run.extend(trailing)
                trailing = []
                if tok.type == "fence":
                    run.append(tok)
                    i += 1
                else:
                    j = _close_index(tokens, i)
                    run.extend(tokens[i : j + 1])
                    i = j + 1
            elif _is_comment_block(tok):
                trailing.append(tok)
                i += 1
            else:
                break
        for tok in run:
            tok.level += 1
        out.append(Token("d2l_group_open", "div", 1, map=run[0].map))
        out.extend(run)
        out.append(Token("d2l_group_close", "div", -1))
        out.extend(trailing)
    state.tokens = out


def _close_index(tokens: list[Token], i: int) -> int:
    depth = 0
    for j in range(i, len(tokens)):
        depth += tokens[j].nesting
        if depth == 0:
            return j
    return len(tokens) - 1


def d2l_plugin(md: MarkdownIt) -> None:
    """Add the d2lbook dialect to a (myst-parser) MarkdownIt instance."""
    alt = ["paragraph", "reference", "blockquote", "list"]
    try:
        from markdown_it.rules_block.fence import make_fence_rule
    except ImportError:  # markdown-it-py < 4.1: CommonMark's "at least as long" closing
        pass
    else:
        # as d2lbook (notedown): a fence is closed by the identical fence string only, so
        # ````` ```bash ````` may hold a ```````` ```` ```````` line
        md.block.ruler.at("fence", make_fence_rule(exact_match=True),
                          {"alt": ["paragraph", "reference", "blockquote", "list"]})
    md.block.ruler.before("fence", "d2l_tab_prose", _tab_prose, {"alt": alt})
    md.block.ruler.before("fence", "d2l_mark", _mark_line, {"alt": alt})
    md.inline.ruler.before("backticks", "d2l_role", _role)
    md.core.ruler.before("inline", "d2l_slide_marks", _slide_marks)
    md.core.ruler.after("inline", "d2l_structure", _structure)
    md.core.ruler.after("d2l_structure", "d2l_group", _group)


# --------------------------------------------------------------------------- Sphinx-free reading


def create_md_parser(config: Any = None) -> MarkdownIt:
    """A myst-parser MarkdownIt instance with the d2l dialect (HTML renderer; for reading)."""
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser as myst_create

    cfg = dialect_config(config or MdParserConfig())
    md = myst_create(cfg, RendererHTML)
    md.use(d2l_plugin)
    return md


def dialect_config(config: Any) -> Any:
    """The myst config with the extensions the dialect needs (``$$`` math).

    ``$$...$$`` inside a paragraph is display math, as pandoc reads it (d2l-en writes
    "in expanded form as\n$$...$$\n:eqlabel:`eq_ftc`").
    """
    extensions = set(config.enable_extensions) | {"dollarmath"}
    return replace(config, enable_extensions=extensions, dmath_double_inline=True)


def toc_entries(content: str) -> tuple[dict[str, str], list[str]]:
    """Split a ```` ```toc ```` body into toctree options and entries."""
    options: dict[str, str] = {}
    entries: list[str] = []
    for raw in content.splitlines():
        line = raw.strip()
        if not line:
            continue
        m = re.match(r"^:([\w-]+):\s*(.*)$", line)
        if (m and not entries) or m:
            options[m.group(1)] = m.group(2).strip()
        else:
            entries.append(line)
    return options, entries


def cells_from_tokens(
    tokens: Sequence[Token], tabs: Sequence[str], diagnostics: list[Diagnostic] | None = None
) -> list[Cell]:
    """Every code cell of a token stream, in document order (nested ones included)."""
    cells: list[Cell] = []
    tabs = list(tabs)
    hide_rest = False
    for token in tokens:
        if token.type != "fence":
            continue
        attrs = parse_fence_info(token.info)
        if not attrs.is_cell:
            continue
        line = (token.map[0] if token.map else 0) + 1
        cell = parse_cell(token.content.rstrip("\n"), line, tabs, attrs)
        if hide_rest or "#@hide_all" in cell.source.lower():
            hide_rest = True
            cell = replace(cell, hide_code=True, hide_output=True)
        if diagnostics is not None:
            if cell.unknown:
                diagnostics.append(
                    Diagnostic(
                        line,
                        f"unknown framework {', '.join(repr(u) for u in cell.unknown)} in a tab "
                        f"marker (configured: {', '.join(tabs)}); the cell is shown but not run",
                        "tab",
                    )
                )
            if cell.empty_marker:
                diagnostics.append(
                    Diagnostic(line, "'#@tab' marker without a framework name: the cell "
                               f"belongs to the default tab '{tabs[0]}'", "tab")
                )
        cells.append(cell)
    return cells


def unterminated_fences(tokens: Sequence[Token], text: str) -> list[Diagnostic]:
    """Fences that run to the end of the file because they were never closed."""
    lines = text.split("\n")
    total = len(lines) - (1 if text.endswith("\n") else 0)
    found: list[Diagnostic] = []
    for token in tokens:
        if token.type != "fence" or not token.map:
            continue
        start, end = token.map
        if end < total:
            continue
        last = lines[end - 1].strip() if end - 1 > start and end - 1 < len(lines) else ""
        marker = token.markup
        if not (last.startswith(marker) and set(last) == {marker[0]}):
            found.append(
                Diagnostic(start + 1, f"code fence '{marker}' opened here is never closed; "
                           "it runs to the end of the file", "syntax")
            )
    return found


def read_document(text: str, tabs: Sequence[str], md: MarkdownIt | None = None) -> Document:
    """Parse a d2lbook markdown page without Sphinx."""
    md = md or create_md_parser()
    env: dict[str, Any] = {}
    tokens = md.parse(text, env)
    diagnostics: list[Diagnostic] = list(env.get("d2l_diagnostics", []))
    cells = cells_from_tokens(tokens, tabs, diagnostics)
    toc: list[str] = []
    for token in tokens:
        if token.type == "fence" and token.info.strip() == "toc":
            toc.extend(toc_entries(token.content)[1])
    diagnostics.extend(unterminated_fences(tokens, text))
    return Document(cells=cells, toc=toc, diagnostics=diagnostics)


def frameworks_of(cells: Sequence[Cell], tabs: Sequence[str]) -> list[str]:
    """The configured frameworks a page has, in configuration order.

    A framework is on a page when a cell names it (an unmarked cell names the default, the
    first tab) or, with ``#@tab all`` cells, when it is the default. As in d2lbook, shared
    cells do not bring the other frameworks: a page with PyTorch and MXNet cells and
    ``#@tab all`` cells is not run (nor saved to the library) for JAX. A page of shared
    cells alone is every framework's.
    """
    seen = {f for c in cells if not c.setup_only for f in c.frameworks}
    if seen == {ALL}:
        return list(tabs)
    if ALL in seen and tabs:
        seen.add(tabs[0])  # the default framework is never left out (as d2lbook)
    return [t for t in tabs if t in seen]
