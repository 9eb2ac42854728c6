"""Bilingual books: originals kept in HTML comments next to their translation (Sphinx-free).

The Vietnamese, Chinese and Portuguese editions of d2l keep the English original of each
block in an HTML comment right before its translation::

    <!--
    The original paragraph.
    -->

    The translated paragraph (or a placeholder such as *dịch đoạn phía trên*).

:func:`pair_markdown` / :func:`pair_rst` pair every *original* comment with the blocks that
follow it, up to the next original or banner; :func:`page_status` counts, per page, the
originals whose translation is done, those still untranslated (no block, or placeholders
only) and the prose blocks that have no original. One-line banner comments such as
``<!-- ===== Bắt đầu dịch ===== -->`` separate sections and are not originals.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from markdown_it import MarkdownIt

DEFAULT_PLACEHOLDER = r"^\*dịch đoạn phía trên\*$"
COMMENT_BODY = re.compile(r"^\s*<!--(.*?)-->\s*$", re.DOTALL)
BANNER = re.compile(r"^\s*=+[^\n]*=+\s*$")
PROSE = ("paragraph", "heading", "bullet_list", "ordered_list", "blockquote", "table")


@dataclass
class Block:
    kind: str
    """``original`` (a comment holding original text), ``banner``, ``prose`` or ``other``."""
    line: int
    text: str


@dataclass
class Pair:
    original_line: int
    original: str
    blocks: list[Block] = field(default_factory=list)
    status: str = "untranslated"


@dataclass
class PageStatus:
    path: str
    translated: int = 0
    untranslated: int = 0
    missing_original: int = 0
    pairs: list[Pair] = field(default_factory=list)
    orphans: list[Block] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.translated + self.untranslated

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "translated": self.translated,
            "untranslated": self.untranslated,
            "missing_original": self.missing_original,
            "untranslated_lines": [p.original_line for p in self.pairs
                                   if p.status == "untranslated"],
            "missing_original_lines": [b.line for b in self.orphans],
        }


def comment_text(html: str) -> str | None:
    """The text inside an HTML block made of one comment, else None."""
    m = COMMENT_BODY.match(html)
    return m.group(1).strip("\n") if m else None


def classify_comment(text: str) -> str:
    stripped = text.strip()
    if not stripped:
        return "banner"
    if "\n" not in stripped and BANNER.match(stripped):
        return "banner"
    return "original"


def markdown_blocks(text: str, md: MarkdownIt) -> list[Block]:
    """Top-level blocks of a markdown page (1-based lines)."""
    blocks: list[Block] = []
    lines = text.split("\n")
    for token in md.parse(text, {}):
        if token.level != 0 or token.nesting == -1 or not token.map or token.type in (
                "myst_target", "d2l_mark"):
            continue  # labels belong to the block before them
        start, end = token.map
        source = "\n".join(lines[start:end])
        if token.type == "html_block":
            inner = comment_text(token.content)
            kind = classify_comment(inner) if inner is not None else "other"
            blocks.append(Block(kind, start + 1, inner if inner is not None else source))
        else:
            kind = token.type.removesuffix("_open")
            blocks.append(Block("prose" if kind in PROSE else "other", start + 1, source))
    return blocks


RST_RAW_HTML = re.compile(r"^\.\. raw:: html\s*$")


def rst_blocks(text: str) -> list[Block]:
    """Top-level blocks of a reStructuredText page, the way d2lbook's pandoc output looks."""
    lines = text.split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        start = i
        if RST_RAW_HTML.match(line):
            i += 1
            body: list[str] = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith((" ", "\t"))):
                body.append(lines[i])
                i += 1
            raw = "\n".join(b.strip() for b in body).strip()
            inner = comment_text(raw)
            kind = classify_comment(inner) if inner is not None else "other"
            blocks.append(Block(kind, start + 1, inner if inner is not None else raw))
            continue
        para = []
        while i < len(lines) and lines[i].strip():
            para.append(lines[i])
            i += 1
        # a directive or an indented block is not prose; a paragraph or a title is
        kind = "other" if para[0].startswith((".. ", " ", "\t")) else "prose"
        blocks.append(Block(kind, start + 1, "\n".join(para)))
    return blocks


def pair_blocks(blocks: Sequence[Block], path: str = "",
                placeholder: str = DEFAULT_PLACEHOLDER) -> PageStatus:
    """Pair originals with the blocks after them and count the page."""
    pattern = re.compile(placeholder, re.MULTILINE)
    status = PageStatus(path)
    current: Pair | None = None
    for block in blocks:
        if block.kind == "original":
            current = Pair(block.line, block.text)
            status.pairs.append(current)
        elif block.kind == "banner":
            current = None
        elif current is not None:
            current.blocks.append(block)
        elif block.kind == "prose":
            status.orphans.append(block)
    for pair in status.pairs:
        prose = [b for b in pair.blocks if b.kind == "prose"]
        if prose:
            # translated unless every prose block is a placeholder
            translated = any(not pattern.search(b.text.strip()) for b in prose)
        else:
            # e.g. an image whose translation is a figure directive
            translated = bool(pair.blocks)
        pair.status = "translated" if translated else "untranslated"
        if translated:
            status.translated += 1
        else:
            status.untranslated += 1
    status.missing_original = len(status.orphans)
    return status


def page_status(path: str, text: str, md: MarkdownIt | None = None,
                placeholder: str = DEFAULT_PLACEHOLDER) -> PageStatus:
    if path.endswith(".rst"):
        return pair_blocks(rst_blocks(text), path, placeholder)
    if md is None:
        from .mdit_d2l import dialect_md_parser

        md = dialect_md_parser()
    return pair_blocks(markdown_blocks(text, md), path, placeholder)


def book_status(pages: Iterable[tuple[str, str]],
                placeholder: str = DEFAULT_PLACEHOLDER) -> list[PageStatus]:
    """``pages`` = (path relative to the book, text)."""
    from .mdit_d2l import dialect_md_parser

    md = dialect_md_parser()
    return [page_status(path, text, md, placeholder) for path, text in pages]


def status_table(statuses: Sequence[PageStatus]) -> str:
    """A plain-text table (the CLI's output)."""
    rows = [("page", "translated", "untranslated", "missing original", "done")]
    for s in statuses:
        done = f"{100 * s.translated / s.total:.0f}%" if s.total else "-"
        rows.append((s.path, str(s.translated), str(s.untranslated), str(s.missing_original),
                     done))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True)))
                     for r in rows)


def to_json(statuses: Sequence[PageStatus]) -> list[dict[str, Any]]:
    return [s.to_json() for s in statuses]


def original_html(text: str, label: str = "Original") -> str:
    """A collapsible element holding an original text (escaped), for HTML output."""
    from html import escape

    return (f'<details class="d2l-original"><summary>{escape(label)}</summary>'
            f'<div class="d2l-original-text">{escape(text.strip())}</div></details>')
