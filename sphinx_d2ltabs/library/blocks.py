"""Extraction of the ``#@save`` blocks of a page's cells, and the AST helpers of the library.

* a cell whose first line is ``#@save`` is saved whole (d2lbook kept only its first
  definition), without the demo code after d2lbook's block; imports keep the author's order;
* ``def f():  #@save``, ``class C:  #@save``, ``X = 1  #@save``, ``@deco  #@save`` save
  that top-level statement, found with :mod:`ast` (decorators and multi-line statements
  included); a lone ``#@save`` line further down a cell saves the statement after it;
* ``#@save_all`` / ``#@saved`` are not save marks, nor is ``#@save`` inside a string;
* ``#@save`` on a line that does not start a top-level statement is reported, not saved;
* a block with a syntax error is written commented out and reported.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass

from ..cells import HIDE_MARK, Cell

SAVE = re.compile(r"#[ \t]*@save(?!\w)")
"""A save mark (``#@save``, ``# @save``); ``#@save_all``, ``#@saved`` are not."""
LONE_SAVE = re.compile(r"[ \t]*#[ \t]*@save(?!\w)[ \t]*")
"""A line that is only a save mark (matched with ``fullmatch``)."""
MAGIC_LINE = re.compile(r"^([ \t]*)[%!]")
OPENERS = ("@",)
CLOSERS = (")", "]", "}")
NOT_A_STATEMENT = "#@save on a line that does not start a top-level definition (ignored)"


@dataclass(frozen=True)
class SavedBlock:
    code: str
    docpath: str
    """Source path relative to the book root (``chapter_1/intro.md``)."""
    line: int
    """1-based source line of the first saved line."""
    framework: str
    names: tuple[str, ...] = ()
    """Top-level def/class/assignment names the block defines."""
    broken: bool = False
    """The block has a syntax error and is written commented out."""


@dataclass
class LibraryIssue:
    docpath: str
    line: int
    message: str


def _target_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for elt in target.elts for n in _target_names(elt)]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return []


def _names(tree: ast.Module) -> tuple[str, ...]:
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if not _add_to_class(node):
                names.append(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.extend(_target_names(target))
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            names.extend(_target_names(node.target))
    return tuple(dict.fromkeys(names))


def _add_to_class_decorator(node: ast.AST) -> ast.expr | None:
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    for deco in node.decorator_list:
        if (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute)
                and deco.func.attr == "add_to_class" and deco.args
                and isinstance(deco.args[0], (ast.Name, ast.Attribute))):
            return deco
    return None


def _add_to_class(node: ast.AST) -> str | None:
    """The class name of an ``@X.add_to_class(C)`` decorated function, else None.

    ``add_to_class(d2l.Trainer)`` names ``Trainer``, as d2lbook reads it (d2l-en).
    """
    deco = _add_to_class_decorator(node)
    if isinstance(deco, ast.Call) and isinstance(deco.args[0], ast.Name):
        return deco.args[0].id
    if isinstance(deco, ast.Call) and isinstance(deco.args[0], ast.Attribute):
        return deco.args[0].attr
    return None


def _start(node: ast.stmt) -> int:
    decos: list[ast.expr] = getattr(node, "decorator_list", [])
    return min([node.lineno] + [d.lineno for d in decos])


def _cut_mark(line: str, col: int | None = None) -> str:
    """``line`` without its save mark (and whatever follows the mark)."""
    if col is None:
        m = SAVE.search(line)
        if m is None:
            return line
        col = m.start()
    return line[:col].rstrip()


def _line_map(cell: Cell, lines: list[str]) -> list[int]:
    """The 1-based file line of each line of ``cell.code_for(...)`` (best effort)."""
    src = [HIDE_MARK.sub("", ln).strip() for ln in cell.source.split("\n")]
    out: list[int] = []
    j = 0
    for text in lines:
        key = text.strip()
        if key:
            k = j
            while k < len(src) and src[k] != key:
                k += 1
            if k < len(src):
                j = k + 1
                out.append(cell.line + 1 + k)
                continue
        out.append(cell.line + 1 + min(j, max(len(src) - 1, 0)))
    return out


def _make_block(lines: list[str], line: int, framework: str, docpath: str,
                issues: list[LibraryIssue]) -> SavedBlock | None:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    if not lines:
        return None
    code = "\n".join(lines)
    try:
        tree = ast.parse(code)
    except SyntaxError as err:
        where = line + max((err.lineno or 1) - 1, 0)
        issues.append(LibraryIssue(docpath, where, f"#@save block has a syntax error: {err.msg} "
                                   "(written commented out)"))
        commented = "\n".join("# " + ln if ln else "#" for ln in lines)
        return SavedBlock(commented, docpath, line, framework, (), broken=True)
    return SavedBlock(code, docpath, line, framework, _names(tree))


def _parse(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):
        return None


def _mask_magics(lines: list[str]) -> list[str]:
    """IPython ``%magic`` / ``!shell`` lines replaced by ``pass`` (same line numbers)."""
    return [MAGIC_LINE.sub(r"\1pass  # ", ln) if MAGIC_LINE.match(ln) else ln for ln in lines]


def _comment_marks(code: str) -> dict[int, int] | None:
    """0-based line → column of each save-mark comment (None if the code can't be tokenized)."""
    marks: dict[int, int] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.COMMENT:
                m = SAVE.search(tok.string)
                if m:
                    marks[tok.start[0] - 1] = tok.start[1] + m.start()
    except (tokenize.TokenError, SyntaxError):
        return None
    return marks


def _is_lone(line: str, col: int) -> bool:
    return not line[:col].strip()


def _statement_heads(tree: ast.Module) -> dict[int, tuple[int, int]]:
    """0-based header line → 0-based (first, last) line of its top-level statement.

    The header lines of a definition are its decorator lines and its def/class line.
    """
    heads: dict[int, tuple[int, int]] = {}
    for node in tree.body:
        rng = (_start(node) - 1, (node.end_lineno or node.lineno) - 1)
        for i in range(rng[0], node.lineno):
            heads[i] = rng
    return heads


def _indent_range(lines: list[str], i: int) -> tuple[int, int]:
    """Fallback when the cell doesn't parse: a statement by indentation (as d2lbook)."""
    end = i
    while end + 1 < len(lines) and lines[end].lstrip().startswith(OPENERS):
        end += 1  # decorators down to the def/class line
    while end + 1 < len(lines):
        nxt = lines[end + 1]
        if nxt.strip() and not nxt[:1].isspace() and not nxt.startswith(CLOSERS):
            break
        end += 1
    while end > i and not lines[end].strip():
        end -= 1
    return i, end


def extract_saved_blocks(cells: Sequence[Cell], framework: str, docpath: str,
                         ) -> tuple[list[SavedBlock], list[LibraryIssue]]:
    """The ``#@save`` blocks of a page's cells for ``framework``, in order."""
    blocks: list[SavedBlock] = []
    issues: list[LibraryIssue] = []
    for cell in cells:
        if cell.setup_only or not cell.belongs_to(framework) or not SAVE.search(cell.source):
            continue
        lines = cell.code_for(framework).split("\n")
        where = _line_map(cell, lines)
        first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
        if first is None:
            continue
        if LONE_SAVE.fullmatch(lines[first]):
            kept = [(i, _cut_mark(ln)) for i, ln in enumerate(lines)
                    if not LONE_SAVE.fullmatch(ln)]
            marked = {i + 1 for i, ln in enumerate(lines) if LONE_SAVE.fullmatch(ln)}
            kept = _drop_demo_statements(kept, marked)
            start = next((i for i, ln in kept if ln.strip()), first)
            block = _make_block([ln for _, ln in kept], where[start], framework, docpath, issues)
            if block is not None:
                blocks.append(block)
            continue
        blocks.extend(_line_level(lines, where, framework, docpath, issues))
    return blocks, issues


DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)


def _drop_demo_statements(kept: list[tuple[int, str]],
                          marked: set[int]) -> list[tuple[int, str]]:
    """A whole-cell save: every definition, but not the demo code after d2lbook's block.

    d2lbook saves the first top-level lines and the blank or indented lines after them;
    past that block, statements that are not def/class/import and that call something or
    follow a blank line, and the statements after them up to the next definition, are
    left out here too: d2l-en's ``data_dir =
    d2l.download_extract(...)`` under a saved ``DATA_HUB`` entry would download when the
    package is imported, and its ``demo = True`` is a setting of the page.
    """
    lines = [ln for _, ln in kept]
    tree = _parse("\n".join(lines))
    if tree is None:
        return kept
    k = next((i for i, ln in enumerate(lines) if ln.strip()), len(lines))
    while k < len(lines) and lines[k].strip() and not lines[k][:1].isspace():
        k += 1  # d2lbook's phase A: top-level lines
    while k < len(lines) and (not lines[k].strip() or lines[k][:1].isspace()
                              or lines[k].startswith(CLOSERS)):
        k += 1  # phase B: blank or indented lines
    drop: set[int] = set()
    demo = False  # inside demo code: the statements up to the next definition go too
    for node in tree.body:
        first = _start(node) - 1
        if first < k or isinstance(node, DEFINITIONS) or kept[first][0] in marked:
            demo = False
            continue  # (a statement after its own "#@save" line is saved)
        above = first - 1
        while above >= 0 and lines[above].lstrip().startswith("#"):
            above -= 1  # comments about the statement
        if demo or (above >= 0 and not lines[above].strip()) or any(
                isinstance(n, ast.Call) for n in ast.walk(node)):
            demo = True  # (d2l-en's dcgan: `data_dir = ...` then `batch_size = 256`)
            drop.update(range(above + 1, node.end_lineno or node.lineno))  # and its comments
    return [item for n, item in enumerate(kept) if n not in drop]


def _line_level(lines: list[str], where: list[int], framework: str, docpath: str,
                issues: list[LibraryIssue]) -> list[SavedBlock]:
    code = "\n".join(lines)
    tree = _parse(code)
    if tree is None:
        masked = _mask_magics(lines)
        tree = _parse("\n".join(masked))
        if tree is not None:
            code = "\n".join(masked)
    marks = _comment_marks(code) if tree is not None else None
    if marks is None:
        marks = {i: m.start() for i, ln in enumerate(lines) if (m := SAVE.search(ln))}
    heads = _statement_heads(tree) if tree is not None else {}
    nodes_at = {_start(node) - 1: node for node in tree.body} if tree is not None else {}
    out: list[SavedBlock] = []
    covered = -1
    for i in sorted(marks):
        if i <= covered:
            continue  # inside a statement already saved
        target = i
        lone = _is_lone(lines[i], marks[i])
        if lone:  # a lone mark saves the statement after it
            target = next((k for k in range(i + 1, len(lines))
                           if lines[k].strip() and not lines[k].lstrip().startswith("#")),
                          len(lines))
        rng: tuple[int, int] | None
        if tree is not None:
            rng = heads.get(target)
        elif target < len(lines) and not lines[target][:1].isspace():
            rng = _indent_range(lines, target)
        else:
            rng = None
        if rng is None:
            issues.append(LibraryIssue(docpath, where[i], NOT_A_STATEMENT))
            continue
        start, end = rng
        # a lone mark saves a block, as d2lbook: one-line statements right below (no blank
        # line) go with it, so "#@save" / "DATA_HUB = dict()" / "DATA_URL = '...'" saves
        # both (d2l-zh); a bare expression such as "print(x)" is not saved
        while (lone and tree is not None and heads.get(end) == (end, end)
               and heads.get(end + 1, (-1, -1))[0] == end + 1
               and not isinstance(nodes_at.get(end + 1), ast.Expr)):
            end = heads[end + 1][1]
        segment = []
        for k in range(start, end + 1):
            if k in marks:
                if _is_lone(lines[k], marks[k]):
                    continue
                segment.append(_cut_mark(lines[k], marks[k]))
            else:
                segment.append(lines[k])
        covered = end
        block = _make_block(segment, where[start], framework, docpath, issues)
        if block is not None:
            out.append(block)
    return out
