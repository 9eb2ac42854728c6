"""``@d2l.add_to_class(C)`` methods: folded into their class, or reported when no class
``C`` is saved before them (Sphinx-free)."""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .blocks import SavedBlock, _add_to_class, _add_to_class_decorator, _names, _parse, _start


def _method_lines(node: ast.stmt, lines: list[str]) -> list[str]:
    """The function's lines without its ``add_to_class`` decorator, indented one level."""
    deco = _add_to_class_decorator(node)
    assert deco is not None
    drop = set(range(deco.lineno - 1, (deco.end_lineno or deco.lineno)))
    body = [lines[k] for k in range(_start(node) - 1, node.end_lineno or node.lineno)
            if k not in drop]
    return [("    " + ln) if ln.strip() else "" for ln in body]


def _insert_method(host: SavedBlock, cls: str, method: list[str]) -> SavedBlock:
    lines = host.code.split("\n")
    tree = ast.parse(host.code)
    node = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls][-1]
    end = node.end_lineno or node.lineno
    return replace(host, code="\n".join([*lines[:end], "", *method, *lines[end:]]))


def fold_add_to_class(blocks: Sequence[SavedBlock]) -> list[SavedBlock]:
    """Move ``@d2l.add_to_class(C)`` methods into the most recent saved ``class C``.

    A method whose class was not saved before (or is defined in the same block) stays
    where it is: it then needs ``add_to_class`` at import time, as d2l-en defines it.
    """
    out: list[SavedBlock] = []
    latest: dict[str, int | None] = {}
    for block in blocks:
        tree = None if block.broken else _parse(block.code)
        if tree is None:
            out.append(block)
            continue
        lines = block.code.split("\n")
        removed: set[int] = set()
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                latest[node.name] = None  # defined here: later methods of it stay here
                continue
            target = _add_to_class(node)
            index = latest.get(target) if target else None
            if target is None or index is None:
                continue
            out[index] = _insert_method(out[index], target, _method_lines(node, lines))
            removed.update(range(_start(node) - 1, node.end_lineno or node.lineno))
        if removed:
            keep = [k for k in range(len(lines)) if k not in removed]
            rest = [lines[k] for k in keep]
            first = next((k for k in keep if lines[k].strip()), None)
            if first is None:
                continue  # every statement was folded
            code = re.sub(r"\n{3,}", "\n\n", "\n".join(rest)).strip("\n")
            new_tree = ast.parse(code)
            block = replace(block, code=code, line=block.line + first, names=_names(new_tree))
        for name, value in list(latest.items()):
            if value is None:
                latest[name] = len(out)
        out.append(block)
    return out


def _bound(node: ast.AST) -> set[str]:
    """The module-level names a statement binds (an ``add_to_class`` method binds none)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return set() if _add_to_class(node) else {node.name}
    if isinstance(node, ast.ClassDef):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {a.asname or a.name.split(".")[0] for a in node.names}  # ("*": anything)
    if isinstance(node, ast.Name):
        return {node.id} if isinstance(node.ctx, ast.Store) else set()
    if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        return set()
    names = {node.name} if isinstance(node, ast.ExceptHandler) and node.name else set()
    for child in ast.iter_child_nodes(node):
        names |= _bound(child)
    return names


@dataclass(frozen=True)
class UnplacedMethod:
    """An ``add_to_class`` method saved where its class is not defined yet."""

    docpath: str
    line: int
    decorator: str
    """``d2l.add_to_class(d2l.Trainer)``"""
    cls: str
    later: str = ""
    """``page.md:12`` where the class is saved after the method; empty: saved nowhere."""


def unplaced_methods(blocks: Sequence[SavedBlock], header: str = "",
                     package: str = "d2l") -> list[UnplacedMethod]:
    """The ``add_to_class(C)`` / ``add_to_class(d2l.C)`` methods that no ``C`` precedes.

    ``blocks`` in module order, before :func:`fold_add_to_class`; the header's names count.
    Importing such a module fails (``d2l.C`` of a partially initialised module, or a
    NameError). ``add_to_class(nn.Module)`` and other modules' classes are not checked.
    """
    tree = _parse(header) if header.strip() else None
    bound = set().union(*(_bound(n) for n in tree.body)) if tree is not None else set()
    out: list[UnplacedMethod] = []
    pending: dict[str, list[int]] = {}
    for block in blocks:
        tree = None if block.broken else _parse(block.code)
        for node in tree.body if tree is not None else []:
            line = block.line + _start(node) - 1
            deco = _add_to_class_decorator(node)
            arg = deco.args[0] if isinstance(deco, ast.Call) else None
            cls = arg.id if isinstance(arg, ast.Name) else (
                arg.attr if isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name)
                and arg.value.id in ("d2l", package) else None)
            if deco is not None and cls and cls not in bound and "*" not in bound:
                pending.setdefault(cls, []).append(len(out))
                out.append(UnplacedMethod(block.docpath, line, ast.unparse(deco), cls))
            names = _bound(node)
            for name in names & pending.keys():
                for k in pending.pop(name):
                    out[k] = replace(out[k], later=f"{block.docpath}:{line}")
            bound |= names
    return out


def unplaced_message(method: UnplacedMethod, frameworks: Sequence[str], package: str) -> str:
    where = ", ".join(frameworks)
    if method.later:
        return (f"@{method.decorator}: class {method.cls} is saved only after this method "
                f"({method.later}; {where}), so importing the {package} package fails; save "
                "the class on an earlier page, or this method on a later one")
    return (f"@{method.decorator}: class {method.cls} is not saved (#@save) before this method "
            f"({where}), so importing the {package} package fails; save the class on this or "
            "an earlier page, or do not save this method")
