"""Reading a d2lbook page without Sphinx: its cells, toc entries and diagnostics.

:func:`read_document` parses a page with :func:`~.mdit_d2l.dialect_md_parser` (the
markdown-it plugin of the dialect: :mod:`.mdit_d2l`, :mod:`.mdit_syntax`,
:mod:`.mdit_structure`) for execution and the ``#@save`` library; the Sphinx parser uses
:func:`cells_from_tokens`, :func:`toc_entries` and :func:`unterminated_fences` on its own
token stream. :func:`frameworks_of` says which frameworks a page is run in.

The names of the plugin that callers take from here are re-exported.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from .cells import ALL, Cell, parse_cell, parse_fence_info
from .gpu_need import mark_problems
from .mdit_d2l import d2l_plugin, dialect_config, dialect_md_parser
from .mdit_syntax import COMMENT, ROLE_MAP, Diagnostic, strip_slide_marks
from .warnings_ import D2lWarning

__all__ = [
    "COMMENT",
    "ROLE_MAP",
    "Diagnostic",
    "Document",
    "cells_from_tokens",
    "d2l_plugin",
    "dialect_config",
    "frameworks_of",
    "read_document",
    "strip_slide_marks",
    "toc_entries",
    "unterminated_fences",
]

TOC_OPTION = re.compile(r"^:([\w-]+):\s*(.*)$")
"""An option line of a ```` ```toc ```` block (``:maxdepth: 2``)."""


@dataclass
class Document:
    """What :func:`read_document` finds in a page."""

    cells: list[Cell] = field(default_factory=list)
    toc: list[str] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def toc_entries(content: str) -> tuple[dict[str, str], list[str]]:
    """Split a ```` ```toc ```` body into toctree options and entries."""
    options: dict[str, str] = {}
    entries: list[str] = []
    for raw in content.splitlines():
        line = raw.strip()
        if not line:
            continue
        m = TOC_OPTION.match(line)
        if m:
            options[m.group(1)] = m.group(2).strip()
        else:
            entries.append(line)
    return options, entries


def cells_from_tokens(
    tokens: Sequence[Token], tabs: Sequence[str], diagnostics: list[Diagnostic] | None = None
) -> list[Cell]:
    """Every code cell of a token stream, in document order (nested ones included).

    From the first cell with ``#@hide_all`` on, every cell's code and output are hidden.
    Problems of the cells' tab markers are added to ``diagnostics`` when given.
    """
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
            diagnostics.extend(_tab_marker_problems(cell, tabs))
            diagnostics.extend(mark_problems([cell]))
        cells.append(cell)
    return cells


def _tab_marker_problems(cell: Cell, tabs: list[str]) -> list[Diagnostic]:
    """An unknown framework, or no framework, in the cell's tab marker."""
    found: list[Diagnostic] = []
    if cell.unknown:
        names = ", ".join(repr(u) for u in cell.unknown)
        found.append(Diagnostic(
            cell.line, f"unknown framework {names} in a tab marker (configured: "
            f"{', '.join(tabs)}); the cell is shown but not run", D2lWarning.TAB))
    if cell.empty_marker:
        found.append(Diagnostic(
            cell.line, "'#@tab' marker without a framework name: the cell belongs to the "
            f"default tab '{tabs[0]}'", D2lWarning.TAB))
    return found


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
                           "it runs to the end of the file", D2lWarning.SYNTAX)
            )
    return found


def read_document(text: str, tabs: Sequence[str], md: MarkdownIt | None = None) -> Document:
    """Parse a d2lbook markdown page without Sphinx (``md``: a :func:`dialect_md_parser`)."""
    md = md or dialect_md_parser()
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
