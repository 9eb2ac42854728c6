"""Read the cells and toc of many pages quickly, build after build (Sphinx-free).

Every build plans the execution of every page and the ``#@save`` library from the
cells of every page. Parsing all pages each time would make a no-op rebuild slow, so
:class:`PageReader` keeps what it read in a small JSON index keyed by the file's path,
size and modification time (and the framework list): unchanged pages are not parsed again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from markdown_it import MarkdownIt

from .cells import Cell, FenceAttributes
from .dialect import Diagnostic, create_md_parser, read_document

INDEX_VERSION = "1"


@dataclass
class PageInfo:
    cells: list[Cell]
    toc: list[str]
    diagnostics: list[Diagnostic]


def _cell_to_json(cell: Cell) -> dict[str, Any]:
    return asdict(cell)


def _cell_from_json(data: dict[str, Any]) -> Cell:
    attrs = data["attributes"]
    return Cell(
        line=int(data["line"]),
        source=str(data["source"]),
        frameworks=tuple(data["frameworks"]),
        language=str(data["language"]),
        unknown=tuple(data["unknown"]),
        hide_code=bool(data["hide_code"]),
        hide_output=bool(data["hide_output"]),
        setup_only=bool(data["setup_only"]),
        attributes=FenceAttributes(
            classes=tuple(attrs["classes"]),
            identifier=attrs["identifier"],
            keyvals=tuple((str(k), str(v)) for k, v in attrs["keyvals"]),
            plain=attrs["plain"],
        ),
        empty_marker=bool(data["empty_marker"]),
    )


class PageReader:
    """Parse pages once; reuse the result while the file is unchanged."""

    def __init__(self, tabs: Sequence[str], index_path: str | None = None) -> None:
        self.tabs = list(tabs)
        self.index_path = index_path
        self._md: MarkdownIt | None = None
        self._index: dict[str, Any] = {}
        self._dirty = False
        self._memo: dict[str, PageInfo | None] = {}
        if index_path and os.path.exists(index_path):
            try:
                with open(index_path, encoding="utf-8") as fh:
                    data = json.load(fh)
                if data.get("version") == INDEX_VERSION and data.get("tabs") == self.tabs:
                    self._index = data.get("pages", {})
            except (OSError, ValueError):
                self._index = {}

    @property
    def md(self) -> MarkdownIt:
        if self._md is None:
            self._md = create_md_parser()
        return self._md

    def read(self, path: str) -> PageInfo | None:
        """The page's cells, toc and diagnostics; None if it can't be read as UTF-8."""
        path = os.path.abspath(path)
        if path in self._memo:
            return self._memo[path]
        info = self._read(path)
        self._memo[path] = info
        return info

    def _read(self, path: str) -> PageInfo | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        stamp = [st.st_size, st.st_mtime_ns]
        entry = self._index.get(path)
        if entry and entry.get("stamp") == stamp:
            try:
                return PageInfo(
                    cells=[_cell_from_json(dict(c)) for c in entry["cells"]],
                    toc=list(entry["toc"]),
                    diagnostics=[Diagnostic(**d) for d in entry["diagnostics"]],
                )
            except (KeyError, TypeError):
                pass
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError):
            return None
        doc = read_document(text, self.tabs, self.md)
        info = PageInfo(doc.cells, doc.toc, doc.diagnostics)
        if not self.index_path:
            return info  # nothing will be saved: skip serialising the page
        self._index[path] = {
            "stamp": stamp,
            "cells": [_cell_to_json(c) for c in doc.cells],
            "toc": doc.toc,
            "diagnostics": [asdict(d) for d in doc.diagnostics],
        }
        self._dirty = True
        return info

    def save(self) -> None:
        """Write the index atomically (if anything new was parsed)."""
        if not (self.index_path and self._dirty):
            return
        os.makedirs(os.path.dirname(self.index_path), exist_ok=True)
        tmp = f"{self.index_path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump({"version": INDEX_VERSION, "tabs": self.tabs, "pages": self._index},
                          fh)
            os.replace(tmp, self.index_path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        self._dirty = False
