"""The saved names of a module, for the API page (Sphinx-free)."""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .blocks import SavedBlock, _add_to_class, _parse, _start, _target_names


@dataclass(frozen=True)
class ApiEntry:
    """One saved name, for the API page: where it is defined and how it is called."""

    name: str
    """``synthetic_data``, ``Trainer``, or ``Trainer.fit`` for an ``add_to_class`` method."""
    kind: str
    """``function``, ``class``, ``method`` or ``variable``."""
    docpath: str
    line: int
    """1-based source line of the definition (its first decorator, if any)."""
    signature: str = ""
    summary: str = ""
    """The first line of the docstring."""


def _summary(node: ast.AST) -> str:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        doc = ast.get_docstring(node)
        if doc:
            return doc.strip().splitlines()[0]
    return ""


def api_anchor(framework: str, name: str) -> str:
    """The HTML id of the cell defining ``name`` in ``framework`` (``d2l-api-torch-f``)."""
    return "d2l-api-" + re.sub(r"[^a-z0-9]+", "-", f"{framework}-{name}".lower()).strip("-")


def api_entries(blocks: Sequence[SavedBlock]) -> list[ApiEntry]:
    """The names the blocks define, each with its kind, signature and source line.

    Give the blocks before :func:`fold_add_to_class`, so that a method added to a class
    on a later page points at that page.
    """
    entries: list[ApiEntry] = []
    for block in blocks:
        tree = None if block.broken else _parse(block.code)
        if tree is None:
            continue
        for node in tree.body:
            line = block.line + _start(node) - 1
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                owner = _add_to_class(node)
                args = ast.unparse(node.args)
                if owner is not None:
                    entries.append(ApiEntry(f"{owner}.{node.name}", "method", block.docpath,
                                            line, f"({args})", _summary(node)))
                else:
                    entries.append(ApiEntry(node.name, "function", block.docpath, line,
                                            f"({args})", _summary(node)))
            elif isinstance(node, ast.ClassDef):
                bases = ", ".join(ast.unparse(b) for b in node.bases)
                entries.append(ApiEntry(node.name, "class", block.docpath, line,
                                        f"({bases})" if bases else "", _summary(node)))
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for name in _target_names(target):
                        entries.append(ApiEntry(name, "variable", block.docpath, line))
    return entries
