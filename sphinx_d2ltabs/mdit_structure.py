"""The core rules of the d2lbook dialect: marks attached, cells grouped (Sphinx-free).

They run after the inline rules, on the whole token stream of a page.

Marks (:func:`attach_marks_rule`)
    Each ``d2l_mark`` token (a ``:label:``, ``:eqlabel:``, ``:width:``, ``:height:``,
    ``:bibliography:`` line) is attached to the heading, figure, table or equation before
    it; a ``: caption`` paragraph next to a table becomes its caption.
Groups (:func:`group_cells_rule`)
    Each run of consecutive top-level code cells and tab prose blocks is wrapped in
    ``d2l_group_open``/``_close``; the renderer turns a group into one synced tab set.
"""

from __future__ import annotations

import re

from markdown_it.rules_core import StateCore
from markdown_it.token import Token

from .cells import parse_fence_info
from .mdit_syntax import COMMENT, diagnose
from .warnings_ import D2lWarning

CAPTION_START = re.compile(r"^:(?:[ \t]|(?![-/\\.\w]+:`)\S)")
"""A table caption paragraph: ``: caption``, or pandoc's ``:caption`` (d2l-en), not a role."""
LENGTH = re.compile(
    r"(\d+(?:\.\d*)?|\.\d+) *(em|ex|ch|rem|vw|vh|vmin|vmax|cm|mm|Q|in|pt|pc|px|%)?")
"""A figure's ``:width:`` / ``:height:`` (a CSS length docutils and LaTeX accept)."""


def _is_blank(token: Token) -> bool:
    """An inline child that is only white space or a line break."""
    return token.type in ("softbreak", "hardbreak") or (
        token.type == "text" and not token.content.strip())


def _is_image_paragraph(tokens: list[Token], i: int) -> bool:
    """tokens[i] is paragraph_open: is it a paragraph holding one image only?"""
    if i + 2 >= len(tokens) or tokens[i + 1].type != "inline":
        return False
    kids = (c for c in tokens[i + 1].children or [] if not _is_blank(c))
    first, second = next(kids, None), next(kids, None)
    return first is not None and second is None and first.type == "image"


def _is_caption_paragraph(tokens: list[Token], i: int) -> bool:
    """tokens[i:i + 3] is a ``: caption`` paragraph."""
    return (
        0 <= i < len(tokens) - 2
        and tokens[i].type == "paragraph_open"
        and tokens[i + 1].type == "inline"
        and CAPTION_START.match(tokens[i + 1].content) is not None
        and tokens[i + 2].type == "paragraph_close"
    )


def is_comment_block(token: Token) -> bool:
    """An HTML block of comments only (on a bilingual page: the original text)."""
    return token.type == "html_block" and not COMMENT.sub("", token.content).strip()


def _display_math_child(inline: Token) -> Token | None:
    """The ``$$...$$`` that ends a paragraph's inline content (pandoc makes it a block)."""
    last = next((c for c in reversed(inline.children or []) if not _is_blank(c)), None)
    return last if last is not None and last.type == "math_inline_double" else None


def _label_inline_equations(tokens: list[Token]) -> None:
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


def _opening_index(tokens: list[Token], close_idx: int) -> int:
    """Index of the opening token matching the closing token at ``close_idx``."""
    depth = 0
    for j in range(close_idx, -1, -1):
        depth += tokens[j].nesting
        if depth == 0:
            return j
    return close_idx


def _closing_index(tokens: list[Token], open_idx: int) -> int:
    """Index of the closing token matching the opening token at ``open_idx``."""
    depth = 0
    for j in range(open_idx, len(tokens)):
        depth += tokens[j].nesting
        if depth == 0:
            return j
    return len(tokens) - 1


def _openings_by_closing(tokens: list[Token]) -> dict[int, Token]:
    """id(closing token) → its opening token."""
    stack: list[Token] = []
    found: dict[int, Token] = {}
    for token in tokens:
        if token.nesting == 1:
            stack.append(token)
        elif token.nesting == -1 and stack:
            found[id(token)] = stack.pop()
    return found


# --------------------------------------------------------------------------- marks


def attach_marks_rule(state: StateCore) -> None:
    """Attach ``d2l_mark`` tokens to what precedes them; mark figures and table captions."""
    _label_inline_equations(state.tokens)
    openings = _openings_by_closing(state.tokens)
    out: list[Token] = []
    anchor = -1  # out[anchor]: the last token that is neither a mark nor an HTML comment
    for token in state.tokens:  # (comments: a bilingual page's original text)
        if token.type == "d2l_mark":
            anchor = _attach_mark(state, out, anchor, token, openings)
            continue
        out.append(token)
        if not is_comment_block(token):
            anchor = len(out) - 1
    state.tokens = _attach_table_captions(out, openings)


def _attach_mark(state: StateCore, out: list[Token], j: int, token: Token,
                 openings: dict[int, Token]) -> int:
    """Attach a mark to ``out[j]``, the element before it; the new index of that element."""
    key, value = token.meta["key"], token.meta["value"]
    line = (token.map[0] if token.map else 0) + 1
    prev = out[j].type if j >= 0 else ""
    is_label = key in ("eqlabel", "label")
    if key == "bibliography":
        out.append(token)
    elif prev == "heading_close" and key == "label":
        k = _opening_index(out, j)
        out.insert(k, Token("myst_target", "", 0, map=out[k].map, content=value))
        return j + 1
    elif prev == "paragraph_close" and _is_image_paragraph(out, _opening_index(out, j)):
        _figure_option(state, out[_opening_index(out, j)], key, value, line)
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
        diagnose(state, line, f"':label:`{value}`' does not follow a heading, figure, table or "
                 "equation; it labels this point of the page", D2lWarning.LABEL)
        out.append(Token("myst_target", "", 0, map=token.map, content=value))
        return len(out) - 1
    else:
        diagnose(state, line, f"':{key}:`{value}`' does not follow an image or equation "
                 "(ignored)", D2lWarning.MARK)
    return j


def _figure_option(state: StateCore, para: Token, key: str, value: str, line: int) -> None:
    """A mark after an image paragraph: an option of that figure (``:width:`` ...)."""
    fig = para.meta.setdefault("d2l_figure", {})
    if key in ("width", "height"):
        m = LENGTH.fullmatch(value)
        if m is None:
            diagnose(state, line, f"':{key}:`{value}`' is not a length (such as 400px or 50%); "
                     f"the figure is shown without a {key}", D2lWarning.FIGURE)
            return
        value = m.group(1) + (m.group(2) or "")
    if key in fig:
        diagnose(state, line, f"duplicate ':{key}:' for one figure", D2lWarning.MARK)
    fig[key] = value


def _attach_table_captions(out: list[Token], openings: dict[int, Token]) -> list[Token]:
    """A ": caption" paragraph right before or after a table is its caption; HTML comments
    between them (a bilingual page's original table) are skipped."""
    i = 0
    result: list[Token] = []
    while i < len(out):
        table = _captioned_table(out, i, result, openings)
        if table is None:
            result.append(out[i])
            i += 1
            continue
        table.meta["d2l_caption"] = out[i + 1]
        if "d2l_table_label" in out[i].meta:
            table.meta.setdefault("d2l_label", out[i].meta["d2l_table_label"])
        nxt = _skip_comments(out, i + 3)
        if nxt < len(out) and table is out[nxt]:  # (comments between the two stay)
            result.extend(out[i + 3:nxt])
            i = nxt
        else:
            i += 3
    return result


def _skip_comments(tokens: list[Token], i: int) -> int:
    """The index of the first token from ``i`` on that is not an HTML comment block."""
    while i < len(tokens) and is_comment_block(tokens[i]):
        i += 1
    return i


def _captioned_table(out: list[Token], i: int, before: list[Token],
                     openings: dict[int, Token]) -> Token | None:
    """The ``table_open`` that the caption paragraph at ``out[i]`` captions, if it is one:
    the next table in ``out``, else the table that ends ``before`` (comments skipped)."""
    if not _is_caption_paragraph(out, i):
        return None
    nxt = _skip_comments(out, i + 3)
    if nxt < len(out) and out[nxt].type == "table_open":
        return out[nxt]
    last = len(before) - 1
    while last >= 0 and is_comment_block(before[last]):
        last -= 1
    if last >= 0 and before[last].type == "table_close":
        return openings.get(id(before[last]))
    return None


# --------------------------------------------------------------------------- groups


def _is_group_item(token: Token) -> bool:
    """A top-level code cell, or the opening of a top-level tab prose block."""
    if token.level != 0:
        return False
    if token.type == "fence":
        return parse_fence_info(token.info).is_cell
    return token.type == "d2l_tab_prose_open"


def group_cells_rule(state: StateCore) -> None:
    """Wrap runs of consecutive top-level cells / tab prose blocks in d2l_group tokens."""
    tokens = state.tokens
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        if not _is_group_item(tokens[i]):
            out.append(tokens[i])
            i += 1
            continue
        run, trailing, i = _group_run(tokens, i)
        for tok in run:
            tok.level += 1
        out.append(Token("d2l_group_open", "div", 1, map=run[0].map))
        out.extend(run)
        out.append(Token("d2l_group_close", "div", -1))
        out.extend(trailing)
    state.tokens = out


def _group_run(tokens: list[Token], i: int) -> tuple[list[Token], list[Token], int]:
    """The run of group items from ``tokens[i]`` on (HTML comments between them included):
    ``(run, comments after its last item, index after them)``."""
    run: list[Token] = []
    trailing: list[Token] = []
    while i < len(tokens):
        tok = tokens[i]
        if _is_group_item(tok):
            run.extend(trailing)
            trailing = []
            j = i if tok.type == "fence" else _closing_index(tokens, i)
            run.extend(tokens[i : j + 1])
            i = j + 1
        elif is_comment_block(tok):
            trailing.append(tok)
            i += 1
        else:
            break
    return run, trailing, i
