"""A page's slides in one framework: d2lbook's slide rules (Sphinx-free).

d2lbook's ``slides.py`` (``d2lbook build slides``), on the cells of the framework's
notebook (:mod:`.notebooks`):

* marks in prose: ``[**text**]`` starts a slide, ``(**text**)`` continues it,
  ``[~~text~~]`` / ``(~~text~~)`` is slide-only text (the book drops it);
  ``[**text**](url)`` is a link, not a mark. Marks are paired as the book pairs them
  (:func:`.mdit_syntax.strip_slide_marks`: ``~~`` spans first, then ``**`` spans in what
  is left), within the prose between two code cells, never in code, fenced blocks or
  HTML comments;
* each prose chunk of the notebook (the text between two code cells, or a
  ``:begin_tab:`` block) with marks gives one markdown cell: its marked texts joined by
  new lines, every sentence capitalised, the trailing ``,.:`` dropped; it starts a new
  slide when one of its marks is a ``[`` mark, else it continues the current one. A
  chunk's level-1 heading (``# Title``) leads its text (the title slide); a chunk with
  neither is left out;
* every code cell of the framework stays, without its ``# comment`` lines and ``#@save``
  marks; consecutive code cells without outputs are merged into the next one with
  outputs (one block, one output).

:func:`mark_page` puts the marks of a page's text into private characters before
:func:`.notebooks.split_page` (which unwraps the marks it finds: the book's rule) cuts it
into parts; :func:`slides_notebook` makes the slides notebook of a framework from them
(cells with ``slideshow.slide_type`` metadata, as d2lbook's RISE notebooks), or None
when none of the framework's prose has a mark.
"""

from __future__ import annotations

import io
import itertools
import re
import tokenize
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Any

import nbformat
from markdown_it import MarkdownIt
from markdown_it.token import Token
from nbformat import NotebookNode

from .cells import Cell
from .execution.model import JobResult
from .mdit_syntax import FENCE_START, mark_pairs
from .notebooks import NBFORMAT_MINOR, Code, Part, framework_notebook

#: The marks in a page's text after :func:`mark_page` (Unicode private use characters).
OPEN = {("[", "*"): "\ue000", ("(", "*"): "\ue001", ("[", "~"): "\ue002", ("(", "~"): "\ue003"}
CLOSE = {"*": "\ue004", "~": "\ue005"}
STARTS_SLIDE = frozenset((OPEN["[", "*"], OPEN["[", "~"]))
SLIDE_ONLY = frozenset((OPEN["[", "~"], OPEN["(", "~"]))
OPENERS = frozenset(OPEN.values())
CLOSERS = frozenset(CLOSE.values())
SENTINELS = OPENERS | CLOSERS
SENTINEL = re.compile("[" + "".join(sorted(SENTINELS)) + "]")
ANY_MARK = re.compile("[" + "".join(sorted(OPENERS)) + "]")
ANY_OPENER = re.compile(r"[(\[](\*\*|~~)")
NOT_PROSE = frozenset(("fence", "code_block", "html_block"))
"""Block tokens whose lines hold no marks (the book's renderer strips marks from inline
text only)."""
COMMENT = re.compile(r"\#\ .*")
"""d2lbook's comment of a code line (a ``# `` to the end of the line)."""
TRAILING = ",. \n:，。："


# ---------------------------------------------------------------------- marks


def mark_text(text: str) -> str:
    """``text`` with its marks' delimiters replaced by :data:`OPEN` / :data:`CLOSE`
    characters: the ``~~`` marks, then the ``**`` marks of the text without them."""
    tilde = mark_pairs(text, "~")
    pieces: list[tuple[int, int]] = []  # the text outside the ~~ marks
    pos = 0
    for opener, closer in tilde:
        pieces.append((pos, opener))
        pos = closer + 3
    pieces.append((pos, len(text)))
    starts = list(itertools.accumulate((b - a for a, b in pieces[:-1]), initial=0))
    rest = "".join(text[a:b] for a, b in pieces)

    def original(i: int) -> int | None:
        """The position in ``text`` of the 3 characters at ``rest[i]`` (None: split)."""
        j = bisect_right(starts, i) - 1
        a, b = pieces[j]
        return a + i - starts[j] if a + i - starts[j] + 3 <= b else None

    edits = [(o, OPEN[text[o], "~"]) for o, _ in tilde] + [(c, CLOSE["~"]) for _, c in tilde]
    for opener, closer in mark_pairs(rest, "*"):
        o, c = original(opener), original(closer)
        if o is not None and c is not None:
            edits += [(o, OPEN[text[o], "*"]), (c, CLOSE["*"])]
    out: list[str] = []
    done = 0
    for at, char in sorted(edits):
        out += [text[done:at], char]
        done = at + 3
    out.append(text[done:])
    return "".join(out)


def mark_page(text: str, md: MarkdownIt) -> str:
    """The page with the delimiters of its slide marks replaced (:func:`mark_text`) in
    each run of prose lines (not in code cells, fenced blocks, HTML comments, nor across
    a ``:begin_tab:`` / ``:end_tab:`` line); line breaks as they were."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # (split_page's lines)
    text = text.translate({ord(c): "\ufffd" for c in SENTINELS})
    if not ANY_OPENER.search(text):
        return text
    lines = text.split("\n")
    prose = [True] * len(lines)
    tokens: list[Token] = []
    md.block.parse(text, md, {}, tokens)  # (the blocks are enough: not inline text)
    for token in tokens:
        if not token.map:
            continue
        start, end = token.map
        if token.type in NOT_PROSE:
            prose[start:end] = [False] * (end - start)
        elif token.type == "d2l_tab_prose_open":
            prose[start] = False
            if token.meta.get("closed") and end - 1 < len(lines):
                prose[end - 1] = False
    out: list[str] = []
    for is_prose, group in itertools.groupby(zip(prose, lines, strict=True),
                                             key=lambda x: x[0]):
        chunk = "\n".join(line for _, line in group)
        out.append(mark_text(chunk) if is_prose else chunk)
    return "\n".join(out)


def has_marks(marked: str) -> bool:
    """Whether a text of :func:`mark_page` has a slide mark."""
    return ANY_MARK.search(marked) is not None


def marked_spans(text: str) -> list[tuple[str, str]]:
    """The outermost marks of a marked text, in order: ``(opener, text)``, the text
    without the delimiters of marks inside it; a delimiter without its pair is dropped."""
    spans: list[tuple[str, str]] = []
    depth = 0
    opener = ""
    buf: list[str] = []
    pos = 0  # text[:pos] is handled
    for m in SENTINEL.finditer(text):
        char = m.group()
        if depth:
            buf.append(text[pos:m.start()])
        pos = m.end()
        if char in OPENERS:
            if depth == 0:
                opener, buf = char, []
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                spans.append((opener, "".join(buf)))
    return spans


def unmark(text: str) -> str:
    """A marked text as the book shows it: slide-only marks dropped, others unwrapped."""
    out: list[str] = []
    dropping = 0
    for char in text:
        if char in SLIDE_ONLY or (dropping and char in OPENERS):
            dropping += 1
        elif char in CLOSERS and dropping:
            dropping -= 1
        elif char not in SENTINELS and not dropping:
            out.append(char)
    return "".join(out)


# ---------------------------------------------------------------------- one framework


def capitalise(text: str) -> str:
    """d2lbook's slide text: every sentence capitalised (a ``. `` or ``.\\n`` ends one:
    not ``a.text()``), no ``.``/``,`` before a closing ``$$``, no trailing ``,.:``."""
    for end in (".\n", ". "):
        text = end.join(s[:1].upper() + s[1:] for s in (x.strip() for x in text.split(end)))
    text = text.replace(".$$", "$$").replace(",$$", "$$")
    return text.rstrip(TRAILING)


def level1_heading(text: str) -> str | None:
    """The first ``# Title`` line of a markdown text (not in a fenced block)."""
    fence = ""
    for line in text.split("\n"):
        m = FENCE_START.match(line)
        if fence:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) \
                    and not line.strip().strip(fence[0]):
                fence = ""
        elif m:
            fence = m.group(1)
        elif line.strip().startswith("# "):
            return line
    return None


def slide_markdown(text: str) -> tuple[str, str]:
    """The slide text of a marked prose chunk, and its slide type (``slide``: it starts
    a slide, ``-``: it continues one); ``""`` when it has no mark and no title."""
    spans = marked_spans(text)
    source = capitalise("\n".join(t for _, t in spans)) if spans else ""
    heading = level1_heading(text)
    if heading is not None:
        source = unmark(heading) + ("\n\n" + source if source else "")
    starts = any(opener in STARTS_SLIDE for opener, _ in spans)
    return source, "slide" if starts else "-"


def strip_comments(source: str) -> str:
    """d2lbook: a code cell without its ``# comments`` (a line that was only a comment
    is dropped). Comments are found by Python's tokenizer (a ``#`` in a string stays),
    else by d2lbook's pattern."""
    lines = source.split("\n")
    cut: dict[int, int] = {}  # line index → column of its comment
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT and tok.string.startswith("# "):
                cut[tok.start[0] - 1] = tok.start[1]
    except (tokenize.TokenError, SyntaxError):
        cut = {i: m.start() for i, line in enumerate(lines) if (m := COMMENT.search(line))}
    out = []
    for i, line in enumerate(lines):
        new = line[:cut[i]] if i in cut else line
        if i in cut and not new.strip():
            continue
        out.append(new.rstrip())
    return "\n".join(out)


def _merged_code(group: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive code cells: each run of cells without outputs joined to the next cell
    (the last of the run keeps its own outputs)."""
    merged = []
    sources: list[str] = []
    for i, cell in enumerate(group):
        sources.append(cell["source"])
        if cell.get("outputs") or i == len(group) - 1:
            merged.append({**cell, "source": "\n\n".join(sources)})
            sources = []
    return merged


def _code_cells(part: Code, framework: str, code: Callable[[Cell], str],
                result: JobResult | None) -> list[dict[str, Any]]:
    """The framework's notebook cell of a code part (none if not the framework's)."""
    nb = framework_notebook([part], framework, code, result)
    return [dict(cell) for cell in nb.cells]


def slides_notebook(parts: Sequence[Part], framework: str, code: Callable[[Cell], str],
                    result: JobResult | None = None, *, require_marks: bool = True,
                    metadata: dict[str, Any] | None = None) -> NotebookNode | None:
    """The slides of ``framework`` from the parts of a page with its marks
    (:func:`mark_page` then :func:`.notebooks.split_page`): markdown cells with
    ``metadata.slideshow.slide_type``, and code cells with their outputs (``result``).
    None when no prose of the framework has a mark (unless not ``require_marks``)."""
    cells: list[dict[str, Any]] = []
    marked = False
    for part in parts:
        if isinstance(part, Code):
            for cell in _code_cells(part, framework, code, result):
                cells.append({**cell, "source": strip_comments(cell["source"])})
            continue
        if not part.shown_in(framework):
            continue
        marked = marked or has_marks(part.text)
        source, slide_type = slide_markdown(part.text)
        if source:
            cells.append({"cell_type": "markdown", "source": source,
                          "metadata": {"slideshow": {"slide_type": slide_type}}})
    if require_marks and not marked:
        return None
    out: list[dict[str, Any]] = []
    for is_code, group in itertools.groupby(cells, key=lambda c: c["cell_type"] == "code"):
        run = list(group)
        out.extend(_merged_code(run) if is_code else run)
    for i, cell in enumerate(out):
        if cell["cell_type"] == "code":
            source = cell["source"].replace("\n#@save\n", "\n").replace("#@save", "")
            cell["source"] = "\n".join(line.rstrip() for line in source.split("\n")).strip()
        elif NBFORMAT_MINOR >= 5:
            cell["id"] = f"slide-md-{i}"
    meta: dict[str, Any] = {"language_info": {"name": "python"}, "celltoolbar": "Slideshow"}
    meta.update(metadata or {})
    nb: NotebookNode = nbformat.from_dict(  # type: ignore[no-untyped-call,unused-ignore]
        {"nbformat": 4, "nbformat_minor": NBFORMAT_MINOR, "metadata": meta, "cells": out})
    return nb


def slides_of(nb: NotebookNode) -> list[list[NotebookNode]]:
    """The cells of a slides notebook, slide by slide (a ``slide`` cell starts one)."""
    slides: list[list[NotebookNode]] = []
    for cell in nb.cells:
        kind = cell.get("metadata", {}).get("slideshow", {}).get("slide_type")
        if not slides or (kind == "slide" and slides[-1]):
            slides.append([])
        slides[-1].append(cell)
    return slides
