"""The ``#@save`` library: saved blocks → one module per framework (Sphinx-free).

As d2lbook's ``d2lbook build lib``, fixing its known bugs:

* a cell whose first line is ``#@save`` is saved whole (d2lbook kept only its first
  definition);
* ``def f():  #@save``, ``class C:  #@save``, ``X = 1  #@save`` save that statement, found
  with :mod:`ast` (decorators and multi-line statements included);
* ``#@save_all`` / ``#@saved`` are not save marks;
* ``@d2l.add_to_class(C)`` methods are folded into the saved ``class C``;
* a block with a syntax error is written commented out (the package stays importable) and
  reported; a name saved twice is reported with both places.

Modules are assembled in table-of-contents order, written only when their content
changes (atomically), and are byte-identical for the same sources.
"""

from __future__ import annotations

import ast
import glob
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from .cells import Cell
from .pages import PageReader

SAVE = re.compile(r"#\s*@save\b(?![_\w])")
BANNER = (
    "#################   WARNING   ################\n"
    "# The below part is generated automatically through:\n"
    "#    sphinx_d2ltabs (the #@save blocks of the book)\n"
    "# Don't edit it directly\n"
)
BANNER_FIRST = BANNER.split("\n", 1)[0]


@dataclass(frozen=True)
class SavedBlock:
    code: str
    docpath: str
    line: int
    framework: str
    names: tuple[str, ...] = ()
    broken: bool = False


@dataclass
class LibraryIssue:
    docpath: str
    line: int
    message: str


@dataclass
class LibraryConfig:
    package: str = "d2l"
    directory: str = "."
    modules: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    """framework → alias definitions appended to its module."""

    def module(self, framework: str) -> str:
        return self.modules.get(framework, framework)


@dataclass
class LibraryResult:
    files: dict[str, str] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    issues: list[LibraryIssue] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    seconds: float = 0.0


def library_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _names(tree: ast.Module) -> tuple[str, ...]:
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if not _add_to_class(node):
                names.append(node.name)
        elif isinstance(node, ast.Assign):
            names.extend(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(
                node.target, ast.Name):
            names.append(node.target.id)
    return tuple(names)


def _add_to_class(node: ast.AST) -> str | None:
    """The class name of an ``@X.add_to_class(C)`` decorated function, else None."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    for deco in node.decorator_list:
        if (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute)
                and deco.func.attr == "add_to_class" and deco.args
                and isinstance(deco.args[0], ast.Name)):
            return deco.args[0].id
    return None


def _source_line(cell: Cell, text: str, fallback: int) -> int:
    """1-based file line of a line of the cell's code (best effort)."""
    for i, line in enumerate(cell.source.split("\n")):
        if text.strip() and line.strip() == text.strip():
            return cell.line + 1 + i
    return cell.line + 1 + fallback


def _block(code: str, cell: Cell, framework: str, docpath: str, first: str, offset: int,
           issues: list[LibraryIssue]) -> SavedBlock:
    line = _source_line(cell, first, offset)
    code = code.strip("\n")
    try:
        tree = ast.parse(code)
    except SyntaxError as err:
        where = line + (err.lineno or 1) - 1
        issues.append(LibraryIssue(docpath, where, f"#@save block has a syntax error: {err.msg} "
                                   "(written commented out)"))
        commented = "\n".join("# " + ln if ln else "#" for ln in code.split("\n"))
        return SavedBlock(commented, docpath, line, framework, (), broken=True)
    return SavedBlock(code, docpath, line, framework, _names(tree))


def extract_saved_blocks(cells: Sequence[Cell], framework: str, docpath: str,
                         ) -> tuple[list[SavedBlock], list[LibraryIssue]]:
    """The ``#@save`` blocks of a page's cells for ``framework``, in order."""
    blocks: list[SavedBlock] = []
    issues: list[LibraryIssue] = []
    for cell in cells:
        if cell.setup_only or not cell.belongs_to(framework) or not SAVE.search(cell.source):
            continue
        code = cell.code_for(framework)
        lines = code.split("\n")
        nonblank = [ln for ln in lines if ln.strip()]
        if nonblank and SAVE.fullmatch(nonblank[0].strip()):
            kept = [ln for ln in lines if not SAVE.fullmatch(ln.strip())]
            first = next((ln for ln in kept if ln.strip()), "")
            blocks.append(_block("\n".join(kept), cell, framework, docpath, first,
                                 lines.index(nonblank[0]) + 1, issues))
            continue
        try:
            tree = ast.parse(code)
        except SyntaxError as err:
            issues.append(LibraryIssue(docpath, _source_line(cell, "", (err.lineno or 1) - 1),
                                       f"cell with #@save does not parse: {err.msg}"))
            continue
        starts: dict[int, ast.stmt] = {}
        for node in tree.body:
            decos = getattr(node, "decorator_list", [])
            start = min([node.lineno] + [d.lineno for d in decos])
            starts[start] = node
        for index, text in enumerate(lines):
            m = SAVE.search(text)
            if not m:
                continue
            found = starts.get(index + 1)
            if found is None:
                issues.append(LibraryIssue(
                    docpath, _source_line(cell, text, index),
                    "#@save on a line that does not start a top-level definition (ignored)"))
                continue
            end = found.end_lineno or found.lineno
            segment = lines[index:end]
            segment[0] = SAVE.sub("", segment[0]).rstrip()
            blocks.append(_block("\n".join(segment), cell, framework, docpath, text, index,
                                 issues))
    return blocks, issues


def fold_add_to_class(blocks: Sequence[SavedBlock]) -> list[SavedBlock]:
    """Move ``@d2l.add_to_class(C)`` methods into the most recent saved ``class C``."""
    out: list[SavedBlock] = []
    latest: dict[str, int] = {}
    for block in blocks:
        tree = None if block.broken else ast.parse(block.code)
        target = None
        if tree is not None and len(tree.body) == 1:
            target = _add_to_class(tree.body[0])
        if target is not None and target in latest:
            node = tree.body[0]  # type: ignore[union-attr]
            lines = block.code.split("\n")
            body = lines[node.lineno - 1:]  # drop the decorator line(s)
            method = "\n".join(("    " + ln) if ln else "" for ln in body)
            host = out[latest[target]]
            out[latest[target]] = replace(host, code=host.code + "\n\n" + method)
            continue
        if tree is not None:
            for node in tree.body:
                if isinstance(node, ast.ClassDef):
                    latest[node.name] = len(out)
        out.append(block)
    return out


def build_library(docs: Sequence[tuple[str, Sequence[Cell]]], framework: str, *,
                  header: str = "", aliases: str = "",
                  ) -> tuple[str, list[LibraryIssue]]:
    """The module text of ``framework`` for pages given in toc order."""
    blocks: list[SavedBlock] = []
    issues: list[LibraryIssue] = []
    for docpath, cells in docs:
        found, problems = extract_saved_blocks(cells, framework, docpath)
        blocks.extend(found)
        issues.extend(problems)
    blocks = fold_add_to_class(blocks)
    defined: dict[str, SavedBlock] = {}
    for block in blocks:
        for name in block.names:
            if name in defined:
                first = defined[name]
                issues.append(LibraryIssue(
                    block.docpath, block.line,
                    f"'{name}' is saved again (first saved in {first.docpath}:{first.line}); "
                    "the later definition wins"))
            defined[name] = block
    parts = []
    if header.strip():
        parts.append(header.rstrip("\n") + "\n\n")
    parts.append(BANNER + "\n")
    body = "\n\n".join(f"# Defined in file: ./{b.docpath}\n{b.code}" for b in blocks)
    if body:
        parts.append(body + "\n")
    if aliases.strip():
        parts.append("\n\n# Alias defined in config\n" + aliases.strip("\n") + "\n")
    return "".join(parts).rstrip("\n") + "\n", issues


def write_if_changed(path: str | os.PathLike[str], text: str) -> bool:
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as fh:
            if fh.read() == text:
                return False
    except (OSError, UnicodeDecodeError):
        pass
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    init = os.path.join(folder, "__init__.py")
    if not os.path.exists(init) and os.path.basename(path) != "__init__.py":
        with open(init, "w", encoding="utf-8"):
            pass
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".py", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return True


def toc_order(root: str | os.PathLike[str], index: str = "index", suffix: str = ".md",
              tabs: Sequence[str] = ("python",), reader: PageReader | None = None) -> list[str]:
    """Pages reachable from the index through ```` ```toc ```` blocks, depth first."""
    root = os.fspath(root)
    reader = reader or PageReader(tabs)
    order: list[str] = []
    seen: set[str] = set()

    def visit(docpath: str) -> None:
        if docpath in seen:
            return
        seen.add(docpath)
        path = os.path.join(root, docpath)
        info = reader.read(path)
        if info is None:
            return
        order.append(docpath)
        folder = os.path.dirname(docpath)
        for entry in info.toc:
            target = os.path.normpath(os.path.join(folder, entry)).replace(os.sep, "/")
            if any(ch in entry for ch in "*?["):
                matches = sorted(glob.glob(os.path.join(root, target + suffix)))
                for match in matches:
                    visit(os.path.relpath(match, root).replace(os.sep, "/"))
                continue
            if not target.endswith(suffix):
                target += suffix
            if os.path.exists(os.path.join(root, target)):
                visit(target)

    visit(index if index.endswith(suffix) else index + suffix)
    return order


def module_path(root: str, config: LibraryConfig, framework: str) -> str:
    return os.path.normpath(os.path.join(root, config.directory, config.package,
                                         config.module(framework) + ".py"))


def generate_library(root: str | os.PathLike[str], tabs: Sequence[str], config: LibraryConfig,
                     *, index: str = "index", suffix: str = ".md",
                     docs: Sequence[str] | None = None,
                     reader: PageReader | None = None) -> LibraryResult:
    """Write the package of a book; one module per framework with saved code or a header."""
    start = time.monotonic()
    root = os.fspath(root)
    reader = reader or PageReader(tabs)
    result = LibraryResult()
    pages = list(docs) if docs is not None else toc_order(root, index, suffix, tabs, reader)
    loaded: list[tuple[str, Sequence[Cell]]] = []
    for docpath in pages:
        info = reader.read(os.path.join(root, docpath))
        if info is not None:
            loaded.append((docpath, info.cells))
    for framework in tabs:
        header = config.headers.get(framework, "")
        aliases = config.aliases.get(framework, "")
        has_saves = any(SAVE.search(c.source) and c.belongs_to(framework)
                        for _, cells in loaded for c in cells)
        if not (has_saves or header.strip() or aliases.strip()):
            continue
        text, issues = build_library(loaded, framework, header=header, aliases=aliases)
        result.issues.extend(issues)
        path = module_path(root, config, framework)
        if write_if_changed(path, text):
            result.written.append(path)
        result.files[framework] = path
        result.hashes[framework] = library_hash(text)
    result.seconds = time.monotonic() - start
    return result
