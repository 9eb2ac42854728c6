"""The blocks of a reStructuredText page of a bilingual book, the way d2lbook's pandoc
output looks: originals in ``.. raw:: html`` comments (Sphinx-free; :mod:`.bilingual`
pairs them)."""

from __future__ import annotations

import re

from .bilingual import Block, comment_blocks, comments_in

RST_RAW_HTML = re.compile(r"^\.\. raw:: html\s*$")
RST_CODE = re.compile(r"^\.\. (code|code-block|sourcecode|literalinclude)::")


def _rst_kind(first: str) -> str:
    if first.startswith(".. _") and first.rstrip().endswith(":"):
        return "label"
    if RST_CODE.match(first):
        return "code"
    # a directive or an indented block is not prose; a paragraph or a title is
    return "other" if first.startswith((".. ", " ", "\t")) else "prose"


def rst_blocks(text: str, language: str | None = None) -> list[Block]:
    """Top-level blocks of a reStructuredText page, the way d2lbook's pandoc output looks."""
    lines = text.split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        start = i
        while i < len(lines) and lines[i].strip():
            i += 1
        if lines[start].startswith(".. "):  # a directive: its indented body too
            while i < len(lines) and (not lines[i].strip() or lines[i][:1] in (" ", "\t")):
                i += 1
        last = start + max(k for k in range(i - start) if lines[start + k].strip())
        if RST_RAW_HTML.match(lines[start]):
            raw = "\n".join(b.strip() for b in lines[start + 1:last + 1]).strip()
            if comments_in(raw) is not None:
                for b in comment_blocks(raw, start + 1, last + 1, language):
                    b.line, b.end = start + 1, last + 1  # (the directive's lines)
                    blocks.append(b)
                continue
        blocks.append(Block(_rst_kind(lines[start]), start + 1,
                            "\n".join(lines[start:last + 1]), last + 1, "rst"))
    return blocks
