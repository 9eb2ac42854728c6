"""The gettext bridge, page by page: a comment-pair page → its English page, and each
original's translation as message strings (Sphinx-free; the command: :mod:`.po_build`).

* :func:`english_page`: every original (:mod:`.bilingual`'s rule) takes the place of its
  translation (or of its placeholder, or of its comment when nothing translates it);
  banners and notes go; code, labels, math and everything no original covers stay.
* :func:`translation_segments`: the translation of a pair cut the way Sphinx's gettext
  builder cuts text into messages (a heading, a paragraph, a list item's paragraph, a
  table cell, a figure's caption), as markdown source: the ``msgstr`` of each message.
  Equations and code are no messages here: Sphinx would render a markdown ``msgstr`` of
  theirs as a literal ``::`` (they stay as the English page has them).
* :func:`match_messages`: the English page's messages inside an original's lines (from
  Sphinx's own extraction, :mod:`.po_build`) paired with those segments in order; where
  the counts differ (a list of four items translated as three) the pair's messages are
  ``fuzzy``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token

from .bilingual import IMAGE_ONLY, PageStatus, Pair, is_placeholder

MARK_LINE = re.compile(r"^:\w+:`[^`]*`\s*$")


@dataclass
class Converted:
    """A page made English: its text and, per pair, the lines (1-based, inclusive) its
    original occupies there."""

    text: str
    ranges: list[tuple[Pair, int, int]] = field(default_factory=list)


@dataclass
class Entry:
    msgid: str
    msgstr: str = ""
    fuzzy: bool = False


def _replaced(pair: Pair, pattern: re.Pattern[str]) -> tuple[int, int] | None:
    """The lines the original replaces: its translation, else its placeholder."""
    if pair.translation:
        return pair.translation[0].line, pair.translation[-1].last
    for block in pair.blocks:
        if block.kind in ("note", "label"):
            continue
        if block.kind == "prose" and is_placeholder(block, pattern):
            return block.line, block.last
        break
    return None


def _original_lines(pair: Pair, after: Sequence[str]) -> list[str]:
    """The original's lines, without the trailing marks (``:label:``...) that the page
    keeps after the block anyway."""
    lines = pair.original.strip("\n").split("\n")
    following = [line.strip() for line in after[:4]]
    while len(lines) > 1 and MARK_LINE.match(lines[-1]) and lines[-1].strip() in following:
        lines.pop()
    return lines


def english_page(text: str, status: PageStatus, placeholder: str) -> Converted:
    """``text`` with each original in place of its translation (``status``: the page's
    pairing, :func:`~.bilingual.page_status` of this text)."""
    pattern = re.compile(placeholder, re.MULTILINE)
    lines = text.split("\n")
    edits: list[tuple[int, int, list[str], Pair | None]] = []  # 1-based, inclusive
    for pair in status.pairs:
        target = _replaced(pair, pattern)
        at = target or (pair.original_line, pair.original_end)
        new = _original_lines(pair, lines[at[1]:])
        if target is None:
            edits.append((pair.original_line, pair.original_end, new, pair))
            continue
        edits.append((pair.original_line, pair.original_end, [], None))
        edits.append((target[0], target[1], new, pair))
    for block in status.non_originals:
        edits.append((block.line, block.last, [], None))
    out: list[str] = []
    converted = Converted("")
    pos = 1
    for start, end, new, owner in sorted(edits, key=lambda e: e[0]):
        if start < pos:
            continue  # (overlapping edits cannot happen with one pairing; kept safe)
        out += lines[pos - 1:start - 1]
        if owner is not None:
            converted.ranges.append((owner, len(out) + 1, len(out) + len(new)))
        out += new
        pos = end + 1
    out += lines[pos - 1:]
    converted.text = "\n".join(out)
    return converted


# --------------------------------------------------------------------------- messages


def _inline_texts(token: Token) -> list[str]:
    """A paragraph's message; an image's caption twice (Sphinx's messages of a figure:
    the image's ``alt``, then the caption)."""
    image = IMAGE_ONLY.match(token.content.strip())
    return [image.group(1)] * 2 if image else [token.content]


def _segments(tokens: Sequence[Token]) -> list[tuple[int, str]]:
    """(line, markdown source) of every message-like piece of ``tokens``, in order."""
    out: list[tuple[int, str]] = []
    line = 0
    for token in tokens:
        if token.map:
            line = token.map[0] + 1
        caption = token.meta.get("d2l_caption") if token.type == "table_open" else None
        if caption is not None and caption.map:
            out.append((caption.map[0] + 1, caption.content.lstrip(":").strip()))
        if token.type == "inline":
            out += [(line, text) for text in _inline_texts(token)]
    return [(n, s) for n, s in out if s.strip()]


def page_segments(text: str, md: MarkdownIt) -> list[tuple[int, str]]:
    return _segments(md.parse(text, {}))


def caption_lines(text: str, md: MarkdownIt) -> dict[int, int]:
    """Table line → the line of its ``:caption`` paragraph (Sphinx locates a table's
    caption message at the table)."""
    return {token.map[0] + 1: token.meta["d2l_caption"].map[0] + 1
            for token in md.parse(text, {})
            if token.type == "table_open" and token.map
            and getattr(token.meta.get("d2l_caption"), "map", None)}


def translation_segments(pair: Pair, segments: Sequence[tuple[int, str]]) -> list[str]:
    """The msgstr pieces of a pair's translation (``segments``: :func:`page_segments`)."""
    out = []
    for block in pair.translation:
        out += [s for line, s in segments if block.line <= line <= block.last]
    return out


def pair_pieces(pairs: Sequence[Pair], segments: Sequence[tuple[int, str]]
                ) -> list[list[str]]:
    """:func:`translation_segments` of each pair, with one of d2l-vn's layouts undone: a
    caption's original and its table's stacked before both translations (the caption's
    translation then opens the table's; it goes back to the caption's pair)."""
    pieces = [translation_segments(pair, segments) for pair in pairs]
    for i in range(1, len(pairs)):
        pair, before = pairs[i], pairs[i - 1]
        if (pair.translation and pair.translation[0].node == "caption" and pieces[i]
                and not pair.original.lstrip().startswith(":")
                and before.original.lstrip().startswith(":") and not pieces[i - 1]):
            pieces[i - 1] = [pieces[i].pop(0)]
    return pieces


def match_messages(msgids: Sequence[str], translation: Sequence[str]) -> list[Entry]:
    """A pair's English messages with its translation's pieces, in order. Equal counts:
    one to one; one message: the pieces joined (a paragraph translated as two); else the
    pieces one to one as far as they go, all ``fuzzy`` (for a translator to check)."""
    if not translation:
        return [Entry(m) for m in msgids]
    if len(msgids) == len(translation):
        return [Entry(m, t) for m, t in zip(msgids, translation, strict=True)]
    if len(msgids) == 1:
        return [Entry(msgids[0], "\n".join(translation))]
    return [Entry(m, translation[i] if i < len(translation) else "", True)
            for i, m in enumerate(msgids)]
