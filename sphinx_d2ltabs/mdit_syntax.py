"""The block and inline rules of the d2lbook dialect, and its slide marks (Sphinx-free).

Block rules
    ``:begin_tab:`X``` ... ``:end_tab:`` → ``d2l_tab_prose_open``/``_close`` around the
    nested (normally parsed) markdown (:func:`tab_prose_rule`); ``:label:``, ``:eqlabel:``,
    ``:width:``, ``:height:``, ``:bibliography:`` lines → ``d2l_mark`` tokens
    (:func:`mark_line_rule`), attached later by :mod:`.mdit_structure`.
Inline rule
    ``:numref:`x```, ``:ref:``, ``:eqref:``, ``:cite:``, ``:citet:``, ``:citep:`` and any
    other ``:name:`text``` → ``d2l_role`` tokens (:func:`role_rule`).
Slide marks
    ``[**text**]`` / ``(**text**)`` show ``text``; ``[~~text~~]`` / ``(~~text~~)`` show
    nothing (:func:`slide_marks_rule`, a core rule run before the inline rules).

Problems found in the source are :class:`Diagnostic` objects in ``env["d2l_diagnostics"]``
(:func:`diagnose`); the caller reports them with the file name.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass

from markdown_it.rules_block import StateBlock
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token

from .warnings_ import D2lWarning

BLOCK_MARK_KEYS = ("label", "eqlabel", "width", "height", "bibliography")
BEGIN_TAB = re.compile(r"^:begin_tab:`([^`]*)`[ \t]*$")
END_TAB = re.compile(r"^:end_tab:[ \t]*$")
MARK = re.compile(r":([-/\\.\w]+):`([^`]*)`")
MARK_LINE = re.compile(r"^(?:[ \t]*:(?:" + "|".join(BLOCK_MARK_KEYS) + r"):`[^`]*`)+[ \t]*$")
FENCE_START = re.compile(r"^[ ]{0,3}(`{3,}|~{3,})")
ROLE = re.compile(r":([-/\\.\w]+):(`+)")
COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
SLIDE_OPEN = re.compile(r"\[\*\*|\(\*\*")

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


@dataclass
class Diagnostic:
    """A problem found in the source, reported by the caller with file:line."""

    line: int
    message: str
    subtype: D2lWarning = D2lWarning.SYNTAX


def diagnose(state: StateBlock | StateCore, line: int, message: str,
             subtype: D2lWarning) -> None:
    """Note a problem at 1-based ``line`` in the parse's ``env["d2l_diagnostics"]``."""
    state.env.setdefault("d2l_diagnostics", []).append(Diagnostic(line, message, subtype))


def _line_text(state: StateBlock, line: int) -> str:
    """The line without its indentation."""
    return state.src[state.bMarks[line] + state.tShift[line] : state.eMarks[line]]


def _raw_line(state: StateBlock, line: int) -> str:
    """The line as written (indentation included)."""
    return state.src[state.bMarks[line] : state.eMarks[line]]


def _framework_names(value: str) -> list[str]:
    """``pytorch, JAX`` → ``["pytorch", "jax"]`` (lower case, each once, in order)."""
    return list(dict.fromkeys(t.strip().lower() for t in value.strip("`").split(",") if t.strip()))


# --------------------------------------------------------------------------- block rules


def tab_prose_rule(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """``:begin_tab:`X``` ... ``:end_tab:``: a block of prose shown in the tab of ``X``."""
    if state.sCount[start] - state.blkIndent >= 4:
        return False
    text = _line_text(state, start)
    begin = BEGIN_TAB.match(text)
    if begin is None and not END_TAB.match(text):
        return False
    if silent:
        return True
    if begin is None:  # an :end_tab: line
        # (not when it closes a block that was reported as not closed before a nested one)
        if start not in state.env.get("d2l_tab_outer_close", ()):
            diagnose(state, start + 1, "':end_tab:' without a matching ':begin_tab:' (ignored)",
                     D2lWarning.TAB)
        state.line = start + 1
        return True
    tabs = _framework_names(begin.group(1))
    if not tabs:
        diagnose(state, start + 1, "':begin_tab:' without a framework name", D2lWarning.TAB)
    stop, closed = _tab_block_end(state, start + 1, end)
    if closed:
        _note_outer_close(state, stop, end)
    else:
        _report_unclosed(state, begin.group(1), start, stop, end)
    _push_tab_prose(state, start, stop, tabs, closed)
    return True


def _tab_block_end(state: StateBlock, first: int, end: int) -> tuple[int, bool]:
    """Where a tab block that starts at ``first`` ends: ``(line, closed)``.

    The line is its ``:end_tab:`` (closed), the next ``:begin_tab:`` or ``end`` (not
    closed); the lines of a code fence in the block are not looked at.
    """
    fence: str | None = None  # the opening of the code fence we are in
    for line in range(first, end):
        raw = _raw_line(state, line)
        if fence is not None:
            if _closes_fence(fence, raw):
                fence = None
            continue
        text = _line_text(state, line)
        fence_start = FENCE_START.match(raw)
        if fence_start:
            fence = fence_start.group(1)
        elif END_TAB.match(text):
            return line, True
        elif BEGIN_TAB.match(text):
            return line, False
    return end, False


def _closes_fence(fence: str, raw: str) -> bool:
    """Whether the line ``raw`` closes the code fence opened by ``fence`` (backticks or tildes)."""
    m = FENCE_START.match(raw)
    if m is None or m.group(1)[0] != fence[0] or len(m.group(1)) < len(fence):
        return False
    rest = raw.strip()
    return rest == m.group(1) or set(rest) == {fence[0]}


def _note_outer_close(state: StateBlock, stop: int, end: int) -> None:
    """A nested block closed at ``stop``: the next ``:end_tab:`` closes the outer one."""
    if state.env.pop("d2l_tab_open_outer", None) is None:
        return
    k = stop + 1
    while k < end and not _line_text(state, k).strip():
        k += 1
    if k < end and END_TAB.match(_line_text(state, k)):
        state.env.setdefault("d2l_tab_outer_close", set()).add(k)


def _report_unclosed(state: StateBlock, name: str, start: int, stop: int, end: int) -> None:
    """The block at ``start`` ends at ``stop`` without ``:end_tab:``."""
    state.env.pop("d2l_tab_open_outer", None)
    nested = stop < end and BEGIN_TAB.match(_line_text(state, stop)) is not None
    where = (f"before the ':begin_tab:' at line {stop + 1} (tab blocks do not nest)"
             if nested else f"(the tab block ends at line {stop})")
    diagnose(state, start + 1, f"':begin_tab:`{name}`' is not closed by ':end_tab:' {where}",
             D2lWarning.TAB)
    if nested:
        state.env["d2l_tab_open_outer"] = start


def _push_tab_prose(state: StateBlock, start: int, stop: int, tabs: list[str],
                    closed: bool) -> None:
    """The block's tokens: open, its lines parsed as markdown, close."""
    after = stop + (1 if closed else 0)
    token = state.push("d2l_tab_prose_open", "div", 1)
    token.map = [start, after]
    token.meta = {"tabs": tabs, "closed": closed}
    old_parent, old_max = state.parentType, state.lineMax
    state.parentType = "d2l_tab_prose"
    state.lineMax = stop
    state.md.block.tokenize(state, start + 1, stop)
    state.parentType, state.lineMax = old_parent, old_max
    state.push("d2l_tab_prose_close", "div", -1)
    state.line = after


def mark_line_rule(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """A line of block marks (``:label:`x```, ``:width:`400px```...) → ``d2l_mark`` tokens."""
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


def role_rule(state: StateInline, silent: bool) -> bool:
    """``:name:`text``` → a ``d2l_role`` token (``meta["name"]``, ``content`` = text)."""
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
        token.meta = {"name": m.group(1), "line_offset": _newlines_before(state, pos)}
        token.content = state.src[start:close].replace("\n", " ")
    state.pos = close + len(ticks)
    return True


def _newlines_before(state: StateInline, pos: int) -> int:
    """The number of newlines before ``pos`` (counted on from the last call's position)."""
    last: int
    count: int
    last, count = state.__dict__.get("d2l_newlines", (0, 0))
    if pos < last:
        last, count = 0, 0
    count += state.src.count("\n", last, pos)
    state.__dict__["d2l_newlines"] = (pos, count)
    return count


# --------------------------------------------------------------------------- slide marks


CODE_MASK = "\ue000"
"""What :func:`mask_code_spans` puts in place of each character of a code span."""
_BACKTICKS = re.compile(r"(?<!\\)`+")


def mask_code_spans(text: str) -> str:
    """``text`` with each character of its code spans (CommonMark: a run of backticks up
    to the next run of the same length, backticks included) replaced by
    :data:`CODE_MASK`: the same length, no mark inside. A run without a closer is text."""
    runs: dict[int, list[int]] = {}
    found = [(m.start(), m.end()) for m in _BACKTICKS.finditer(text)]
    for start, end in found:
        runs.setdefault(end - start, []).append(start)
    pieces: list[str] = []
    done = 0
    for start, end in found:
        if start < done:
            continue
        same = runs[end - start]
        k = bisect_left(same, end)
        if k == len(same):
            continue
        close = same[k] + (end - start)
        pieces += [text[done:start], CODE_MASK * (close - start)]
        done = close
    return "".join(pieces) + text[done:] if pieces else text


def mark_pairs(text: str, mark: str) -> list[tuple[int, int]]:
    r"""The slide marks ``(MMtextMM)`` / ``[MMtextMM]`` (``MM`` = ``mark`` twice) of
    ``text`` as ``(opener, closer)`` positions: an opener with the first closer of its
    kind after a non-empty text; ``[MMtextMM](url)`` is a link; nothing inside a code span
    is a mark (d2lbook's regex takes those too: its bug; a page that shows ``[**x**]``
    as code keeps it).

    Pairs as ``re.sub`` of ``\(MM(.+?)MM\)|\[MM(.+?)MM\](?!\()`` (DOTALL) does, in linear
    time: that regex scans to the end of the text from every opener that is never closed.
    """
    if mark * 2 not in text:
        return []
    if "`" in text:
        text = mask_code_spans(text)
    pair = re.escape(mark * 2)
    closers = {
        "(": [m.start() for m in re.finditer(f"(?={pair}\\))", text)],
        "[": [m.start() for m in re.finditer(f"(?={pair}\\](?!\\())", text)],
    }
    pairs: list[tuple[int, int]] = []
    done = 0  # text[:done] is handled
    for m in re.finditer(f"(?=[(\\[]{pair})", text):
        start = m.start()
        if start < done:
            continue
        ends = closers[text[start]]
        k = bisect_left(ends, start + 4)  # the text between the marks is not empty
        if k == len(ends):
            continue
        pairs.append((start, ends[k]))
        done = ends[k] + 3
    return pairs


def strip_slide_marks(text: str, mark: str, keep: bool) -> str:
    """Remove the slide marks of ``text`` (:func:`mark_pairs`), keeping their text or not."""
    out: list[str] = []
    done = 0
    for start, end in mark_pairs(text, mark):
        out.append(text[done:start])
        if keep:
            out.append(text[start + 3 : end])
        done = end + 3
    out.append(text[done:])
    return "".join(out)


def slide_marks_rule(state: StateCore) -> None:
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
