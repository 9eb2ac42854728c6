"""Bilingual books: originals kept in HTML comments next to their translation (Sphinx-free).

The Vietnamese, Chinese and Portuguese editions of d2l keep the English original of each
block in an HTML comment right before its translation::

    <!--
    The original paragraph.
    -->

    The translated paragraph (or a placeholder such as *dịch đoạn phía trên*).

The counting rule (one rule for the status report, the ``po`` bridge and the rendering of
originals; ``docs/bilingual.md``):

* a comment is an *original* unless it is a banner (one line framed by ``=``, such as
  ``<!-- ===== Bắt đầu dịch Phần 1 ===== -->``, or empty) or a *note* written in the
  page's own language (:func:`in_language`: the contributors note at the end of every
  d2l-vn page, translators' remarks);
* when a page has begin/end banners (``Bắt đầu`` / ``Kết thúc``, ``begin`` / ``end``),
  only the originals between the first begin and the last end banner count;
* a pair is *translated* only when the block right after its original (labels and notes
  skipped) is a translation: not a placeholder (``d2l_translation_placeholder``), not
  code, not the next original or a banner; prose blocks after no original count as
  *original missing*.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

#: d2l-vn's placeholders (a paragraph, a heading's text, an image's caption): never a
#: translation, whatever ``d2l_translation_placeholder`` says (:func:`is_placeholder`)
DEFAULT_PLACEHOLDER = r"^\*dịch (đoạn|tiêu đề|chú thích ảnh) phía trên\*$"
KNOWN_PLACEHOLDER = re.compile(DEFAULT_PLACEHOLDER, re.MULTILINE)
COMMENT = re.compile(r"<!--(.*?)-->", re.DOTALL)
BANNER = re.compile(r"^\s*=+[^\n]*=+\s*$")
BEGIN = re.compile(r"bắt đầu|\b(begin|start)", re.IGNORECASE)
END = re.compile(r"kết thúc|\b(end|finish)", re.IGNORECASE)
PROSE = ("paragraph", "heading", "bullet_list", "ordered_list", "blockquote", "table")
#: letters of Vietnamese that English does not use (tone marks and ă â đ ê ô ơ ư)
VI_LETTERS = frozenset("ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ")
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
WORD = re.compile(r"[^\W\d_]+")
URL = re.compile(r"\bhttps?://\S+")
#: comments that are never originals: a work marker, or nothing but a link
MARKER = re.compile(r"^(TODO|FIXME|XXX)\b")
HEADING_MARK = re.compile(r"^#{1,6}[ \t]+")
IMAGE_ONLY = re.compile(r"^!\[(.*)\]\([^)]*\)$", re.DOTALL)
#: a comment is in a language when at least this share of its words is
LANGUAGE_SHARE = 0.4


@dataclass
class Block:
    kind: str
    """``original`` (a comment holding original text), ``banner``, ``note`` (a comment in
    the page's language), ``label``, ``prose``, ``code`` (cells, fences) or ``other``
    (math, figures, raw HTML)."""
    line: int
    text: str
    end: int = 0
    """The last line (1-based, inclusive; 0: :attr:`line`)."""
    node: str = ""
    """The markdown-it token type (``heading``, ``paragraph``...) or the rst construct."""

    @property
    def last(self) -> int:
        return self.end or self.line


@dataclass
class Pair:
    original_line: int
    original: str
    blocks: list[Block] = field(default_factory=list)
    status: str = "untranslated"
    counted: bool = True
    """False for an original outside the page's begin/end banners."""
    original_end: int = 0
    """The comment's last line."""
    translation: list[Block] = field(default_factory=list)
    """The blocks that translate the original: the block right after it and the prose
    paragraphs that continue it (a translator may split a paragraph); empty when
    untranslated."""


@dataclass
class PageStatus:
    path: str
    translated: int = 0
    untranslated: int = 0
    missing_original: int = 0
    pairs: list[Pair] = field(default_factory=list)
    orphans: list[Block] = field(default_factory=list)
    non_originals: list[Block] = field(default_factory=list)
    """The banner and note comments."""

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
                                   if p.counted and p.status == "untranslated"],
            "missing_original_lines": [b.line for b in self.orphans],
        }


# --------------------------------------------------------------------------- comments


def comments_in(html: str) -> list[str] | None:
    """The texts of the comments of an HTML block made only of comments, else None."""
    texts = [m.group(1) for m in COMMENT.finditer(html)]
    if not texts or COMMENT.sub("", html).strip():
        return None
    return texts


def comment_text(html: str) -> str | None:
    """The text inside an HTML block made of one comment, else None."""
    texts = comments_in(html)
    return texts[0].strip("\n") if texts is not None and len(texts) == 1 else None


def _vi_share(text: str) -> float:
    words = WORD.findall(text)
    return sum(1 for w in words if VI_LETTERS & set(w.lower())) / len(words) if words else 0.0


def _cjk_share(text: str) -> float:
    cjk = len(CJK.findall(text))
    words = len(WORD.findall(CJK.sub(" ", text)))
    return cjk / (cjk + words) if cjk else 0.0


_DETECTORS = {"vi": _vi_share, "zh": _cjk_share, "ja": _cjk_share, "ko": _cjk_share}


def in_language(text: str, language: str | None = None) -> bool:
    """Is ``text`` written in the book's language rather than in English? At least
    :data:`LANGUAGE_SHARE` of its words carry Vietnamese letters (``vi``), or of its
    characters are CJK (``zh``, ``ja``, ``ko``). Another or no ``language``: any of them.
    An English original quoting a name such as *résumé* stays well below the share."""
    lang = re.split(r"[-_]", (language or "").lower())[0]
    detectors = [_DETECTORS[lang]] if lang in _DETECTORS else list(_DETECTORS.values())
    return any(detect(text) >= LANGUAGE_SHARE for detect in detectors)


def classify_comment(text: str, language: str | None = None) -> str:
    """``banner`` (empty, or one line framed by ``=``), ``note`` (written in the page's
    ``language``: :func:`in_language`; a ``TODO``; only a link) or ``original``."""
    stripped = text.strip()
    if not stripped:
        return "banner"
    if "\n" not in stripped and BANNER.match(stripped):
        return "banner"
    if (in_language(stripped, language) or MARKER.match(stripped)
            or not WORD.search(URL.sub("", stripped))):
        return "note"
    return "original"


def is_placeholder(block: Block, pattern: re.Pattern[str]) -> bool:
    """Is a prose block an untranslated placeholder: ``pattern`` (the configured one) or
    d2l-vn's (:data:`KNOWN_PLACEHOLDER`), matched against a paragraph, a heading's text,
    an image's caption (``## *dịch tiêu đề phía trên*``)?"""
    text = block.text.strip()
    if block.node == "heading":
        text = HEADING_MARK.sub("", text)
    elif block.node == "rst" and "\n" in text and RST_UNDERLINE.fullmatch(
            text.rsplit("\n", 1)[1]):
        text = text.rsplit("\n", 1)[0].strip()  # (a title's text)
    image = IMAGE_ONLY.match(text)
    return is_placeholder_text(image.group(1) if image else text, pattern)


def is_placeholder_text(text: str, pattern: re.Pattern[str]) -> bool:
    """The one placeholder rule of the status report and the rendered page: ``pattern``
    (``d2l_translation_placeholder``, compiled ``re.MULTILINE``) or d2l-vn's
    (:data:`KNOWN_PLACEHOLDER`) in ``text``."""
    return pattern.search(text) is not None or KNOWN_PLACEHOLDER.search(text) is not None


def banner_side(text: str) -> str:
    """``begin``, ``end`` or ``""`` for a banner's text."""
    if BEGIN.search(text):
        return "begin"
    return "end" if END.search(text) else ""


# --------------------------------------------------------------------------- blocks


def comment_blocks(html: str, line: int, end: int, language: str | None) -> list[Block]:
    """The blocks of an HTML block: one per comment when it is only comments."""
    texts = comments_in(html)
    if texts is None:
        return [Block("other", line, html, end, "html_block")]
    if len(texts) == 1:
        inner = texts[0].strip("\n")
        return [Block(classify_comment(inner, language), line, inner, end, "comment")]
    blocks = []
    for m in COMMENT.finditer(html):  # (several comments in one HTML block: one each)
        first = line + html[:m.start()].count("\n")
        inner = m.group(1).strip("\n")
        blocks.append(Block(classify_comment(inner, language), first, inner,
                            first + m.group(0).count("\n"), "comment"))
    return blocks


def _token_block(token: Token, source: str, start: int, end: int) -> Block:
    kind = token.type.removesuffix("_open")
    if kind == "d2l_group":  # code cells, or :begin_tab: prose first (a translation
        # when right after an original, as d2lbook counts it not as prose of its own)
        first = "other" if source.lstrip().startswith(":begin_tab:") else "code"
        return Block(first, start, source, end, kind)
    if kind in ("fence", "code_block"):
        return Block("code", start, source, end, kind)
    return Block("prose" if kind in PROSE else "other", start, source, end, kind)


def markdown_blocks(text: str, md: MarkdownIt, language: str | None = None) -> list[Block]:
    """Top-level blocks of a markdown page (1-based lines)."""
    blocks: list[Block] = []
    lines = text.split("\n")
    for token in md.parse(text, {}):
        if token.level != 0 or token.nesting == -1 or not token.map or token.type in (
                "myst_target", "d2l_mark"):
            continue  # labels belong to the block before them
        start, end = token.map
        if token.type == "html_block":
            blocks += comment_blocks(token.content, start + 1, end, language)
            continue
        caption = token.meta.get("d2l_caption") if token.type == "table_open" else None
        if caption is not None and caption.map:  # a table's ":caption" paragraph
            c0, c1 = caption.map
            blocks.append(Block("prose", c0 + 1, "\n".join(lines[c0:c1]), c1, "caption"))
        blocks.append(_token_block(token, "\n".join(lines[start:end]), start + 1, end))
    return sorted(blocks, key=lambda b: b.line)


RST_UNDERLINE = re.compile(r"([=\-~^\"'`#*+])\1+\s*")


# --------------------------------------------------------------------------- pairing


def counted_region(blocks: Sequence[Block]) -> tuple[int, float]:
    """The lines whose originals count: from the first begin banner to the last end
    banner (the whole page when it has neither)."""
    sides = [(banner_side(b.text), b.line) for b in blocks if b.kind == "banner"]
    begins = [line for side, line in sides if side == "begin"]
    ends = [line for side, line in sides if side == "end"]
    start = min(begins) if begins else 0
    stop: float = max(ends) if ends else math.inf
    return start, (stop if stop > start else math.inf)


def _is_heading(block: Block) -> bool:
    return block.node == "heading" or (block.node == "rst" and "\n" in block.text.strip()
                                       and RST_UNDERLINE.fullmatch(block.text.split("\n")[-1])
                                       is not None)


def fits(original: str, block: Block) -> bool:
    """Can ``block`` be the translation of ``original`` (markdown)? A heading's is a heading,
    an image's an image or figure, anything else's no heading (the contributors heading
    after a page's last original translates nothing)."""
    start = original.lstrip()
    if start.startswith("#"):
        return _is_heading(block)
    if _is_heading(block):
        return False
    if start.startswith("!["):
        return block.text.lstrip().startswith(("![", ".. figure::", ".. image::"))
    return True


def translation_of(pair: Pair, placeholder: re.Pattern[str]) -> list[Block]:
    """The blocks that translate ``pair``'s original (empty: untranslated): the block
    right after it when that is a translation (:func:`fits`, not a placeholder, not
    code), and the prose paragraphs that continue it."""
    run: list[Block] = []
    heading_only = pair.original.lstrip().startswith("#") and "\n" not in pair.original.strip()
    for block in pair.blocks:
        if block.kind in ("note", "label"):
            continue
        if not run:
            if (block.kind == "other" or (block.kind == "prose" and not is_placeholder(
                    block, placeholder))) and fits(pair.original, block):
                run.append(block)
                continue
            return []
        if heading_only or block.kind != "prose" or block.node == "caption" or _is_heading(
                block):
            break
        run.append(block)
    return run


def pair_blocks(blocks: Sequence[Block], path: str = "",
                placeholder: str = DEFAULT_PLACEHOLDER) -> PageStatus:
    """Pair originals with the blocks after them and count the page."""
    pattern = re.compile(placeholder, re.MULTILINE)
    status = PageStatus(path)
    start, stop = counted_region(blocks)
    current: Pair | None = None
    for block in blocks:
        if block.kind == "original":
            current = Pair(block.line, block.text, counted=start <= block.line <= stop,
                           original_end=block.last)
            status.pairs.append(current)
        elif block.kind == "banner":
            current = None
        elif current is not None:
            current.blocks.append(block)
        elif block.kind == "prose" and start <= block.line <= stop:
            status.orphans.append(block)
        if block.kind in ("banner", "note"):
            status.non_originals.append(block)
    for pair in status.pairs:
        pair.translation = translation_of(pair, pattern)
        pair.status = "translated" if pair.translation else "untranslated"
        if pair.counted and pair.translation:
            status.translated += 1
        elif pair.counted:
            status.untranslated += 1
    status.missing_original = len(status.orphans)
    return status


@functools.cache
def status_parser() -> MarkdownIt:
    """The dialect's parser without inline parsing: the blocks are all pairing needs
    (the same pairs on every page of d2l-vn and of the test books; a quarter faster)."""
    from .mdit_d2l import dialect_md_parser

    md = dialect_md_parser()
    md.disable("inline")
    return md


def page_status(path: str, text: str, md: MarkdownIt | None = None,
                placeholder: str = DEFAULT_PLACEHOLDER,
                language: str | None = None) -> PageStatus:
    if path.endswith(".rst"):
        from .bilingual_rst import rst_blocks

        return pair_blocks(rst_blocks(text, language), path, placeholder)
    blocks = markdown_blocks(text, md or status_parser(), language)
    return pair_blocks(blocks, path, placeholder)


def book_status(pages: Iterable[tuple[str, str]], placeholder: str = DEFAULT_PLACEHOLDER,
                language: str | None = None) -> list[PageStatus]:
    """``pages`` = (path relative to the book, text)."""
    return [page_status(path, text, None, placeholder, language) for path, text in pages]


def is_bilingual(statuses: Iterable[PageStatus], language: str | None = None) -> bool:
    """Does the book keep originals next to their translations? It has originals, and
    its ``language`` is not English, or the block after some original is written in
    another language (:func:`in_language`) or is a placeholder: an English book's own
    comments are the original of nothing."""
    pairs = [p for s in statuses for p in s.pairs]
    if not pairs:
        return False
    if language and not language.lower().startswith("en"):
        return True
    for pair in pairs:
        first = next((b for b in pair.blocks if b.kind not in ("note", "label")), None)
        if first is not None and (in_language(first.text)
                                  or KNOWN_PLACEHOLDER.search(first.text.strip())):
            return True
    return False


def to_json(statuses: Sequence[PageStatus]) -> list[dict[str, Any]]:
    return [s.to_json() for s in statuses]


def original_html(text: str, label: str = "Original") -> str:
    """A collapsible element holding an original text (escaped), for HTML output."""
    from html import escape

    return (f'<details class="d2l-original"><summary>{escape(label)}</summary>'
            f'<div class="d2l-original-text">{escape(text.strip())}</div></details>')
