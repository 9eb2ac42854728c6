"""Read the cells and toc of many pages quickly, build after build (Sphinx-free).

Every build plans the execution of every page and the ``#@save`` library from the
cells of every page. Parsing all pages each time would make a no-op rebuild slow, so
:class:`PageReader` keeps what it read in a small JSON index keyed by the file's path,
size and modification time (and the framework list): unchanged pages are not parsed again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from markdown_it import MarkdownIt

from .cells import Cell, FenceAttributes
from .dialect import Diagnostic, read_document
from .fileio import atomic_write
from .mdit_d2l import dialect_md_parser
from .warnings_ import D2lWarning

INDEX_VERSION = "2"


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
        frameworks=tuple(str(f) for f in data["frameworks"]),
        language=str(data["language"]),
        unknown=tuple(str(u) for u in data["unknown"]),
        hide_code=bool(data["hide_code"]),
        hide_output=bool(data["hide_output"]),
        setup_only=bool(data["setup_only"]),
        attributes=FenceAttributes(
            classes=tuple(str(c) for c in attrs["classes"]),
            identifier=str(attrs["identifier"]),
            keyvals=tuple((str(k), str(v)) for k, v in attrs["keyvals"]),
            plain=str(attrs["plain"]),
        ),
        empty_marker=bool(data["empty_marker"]),
    )


class PageReader:
    """Parse pages once; reuse the result while the file is unchanged.

    The index is loaded from the first usable of ``index_paths`` (tried first: e.g. the
    fallback folder of a read-only cache) and ``index_path``; a corrupt one is reported
    through ``on_problem`` and ignored. :meth:`save` writes ``index_path``.
    """

    def __init__(self, tabs: Sequence[str], index_path: str | None = None, *,
                 index_paths: Sequence[str] = (),
                 on_problem: Callable[[str], None] | None = None) -> None:
        self.tabs = list(tabs)
        self.index_path = index_path
        self.on_problem = on_problem or (lambda message: None)
        self._md: MarkdownIt | None = None
        self._index: dict[str, Any] = {}
        self._dirty = False
        self._memo: dict[str, PageInfo | None] = {}
        for path in [*index_paths, *([index_path] if index_path else [])]:
            if self._load(path):
                break

    def _load(self, path: str) -> bool:
        try:
            with open(path, "rb") as fh:
                data = json.loads(fh.read().decode("utf-8"))
        except FileNotFoundError:
            return False
        except OSError as err:
            self.on_problem(f"the pages index {path} cannot be read ({err.strerror or err}); "
                            "pages are parsed again")
            return False
        except (ValueError, RecursionError, MemoryError) as err:
            self.on_problem(f"the pages index {path} is corrupt ({type(err).__name__}); "
                            "pages are parsed again")
            return False
        if not (isinstance(data, dict) and isinstance(data.get("pages"), dict)):
            self.on_problem(f"the pages index {path} is corrupt (wrong shape); pages are "
                            "parsed again")
            return False
        if data.get("version") == INDEX_VERSION and data.get("tabs") == self.tabs:
            self._index = data["pages"]
        return True

    @property
    def md(self) -> MarkdownIt:
        if self._md is None:
            self._md = dialect_md_parser()
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
        if isinstance(entry, dict) and entry.get("stamp") == stamp:
            try:
                return PageInfo(
                    cells=[_cell_from_json(dict(c)) for c in entry["cells"]],
                    toc=[str(t) for t in entry["toc"]],
                    diagnostics=[Diagnostic(int(d["line"]), str(d["message"]),
                                            D2lWarning(d.get("subtype", D2lWarning.SYNTAX)))
                                 for d in entry["diagnostics"]],
                )
            except (KeyError, TypeError, ValueError, AttributeError):
                pass  # an entry of the wrong shape: parse the page again
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

    def dump(self) -> str | None:
        """The index as JSON text if anything new was parsed since it was loaded."""
        if not self._dirty:
            return None
        return json.dumps({"version": INDEX_VERSION, "tabs": self.tabs, "pages": self._index})

    def save(self) -> None:
        """Write the index atomically to ``index_path`` (if anything new was parsed);
        raises ``OSError`` when it can't be written."""
        text = self.dump()
        if self.index_path and text is not None:
            atomic_write(self.index_path, text)
            self._dirty = False
