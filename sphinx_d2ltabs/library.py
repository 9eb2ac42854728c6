"""The ``#@save`` library: saved blocks → one module per framework (Sphinx-free).

As d2lbook's ``d2lbook build lib``, fixing its known bugs:

* a cell whose first line is ``#@save`` is saved whole (d2lbook kept only its first
  definition); imports keep the author's order (no isort);
* ``def f():  #@save``, ``class C:  #@save``, ``X = 1  #@save``, ``@deco  #@save`` save
  that top-level statement, found with :mod:`ast` (decorators and multi-line statements
  included); a lone ``#@save`` line further down a cell saves the statement after it;
* ``#@save_all`` / ``#@saved`` are not save marks, nor is ``#@save`` inside a string;
* ``@d2l.add_to_class(C)`` methods are folded into the most recent saved ``class C``;
* ``#@save`` on a line that does not start a top-level statement is reported, not saved;
* a block with a syntax error is written commented out (the package stays importable) and
  reported; a name saved twice is reported with both places.

Modules are assembled in table-of-contents order, written only when their content
changes (atomically), and are byte-identical for the same sources.
"""

from __future__ import annotations

import ast
import glob
import hashlib
import io
import os
import re
import tempfile
import time
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from .cells import HIDE_MARK, Cell
from .pages import PageReader

SAVE = re.compile(r"#[ \t]*@save(?!\w)")
"""A save mark (``#@save``, ``# @save``); ``#@save_all``, ``#@saved`` are not."""
LONE_SAVE = re.compile(r"[ \t]*#[ \t]*@save(?!\w)[ \t]*")
"""A line that is only a save mark (matched with ``fullmatch``)."""
MAGIC_LINE = re.compile(r"^([ \t]*)[%!]")
OPENERS = ("@",)
CLOSERS = (")", "]", "}")
BANNER = (
    "#################   WARNING   ################\n"
    "# The below part is generated automatically through:\n"
    "#    sphinx_d2ltabs (the #@save blocks of the book)\n"
    "# Don't edit it directly\n"
)
BANNER_FIRST = BANNER.split("\n", 1)[0]
ALIAS_TITLE = "# Alias defined in config"
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


@dataclass
class LibraryConfig:
    package: str = "d2l"
    directory: str = "."
    """Relative to the book root; the package folder is ``directory/package``."""
    modules: dict[str, str] = field(default_factory=dict)
    """framework → module file stem (default: the framework name)."""
    headers: dict[str, str] = field(default_factory=dict)
    """framework → text kept verbatim at the top of its module."""
    aliases: dict[str, str] = field(default_factory=dict)
    """framework → alias definitions appended to its module."""

    def module(self, framework: str) -> str:
        return self.modules.get(framework, framework)


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


@dataclass
class LibraryResult:
    files: dict[str, str] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    issues: list[LibraryIssue] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    api: dict[str, list[ApiEntry]] = field(default_factory=dict)
    """framework → saved names in library order."""
    seconds: float = 0.0


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


def library_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- blocks
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
                and isinstance(deco.args[0], ast.Name)):
            return deco
    return None


def _add_to_class(node: ast.AST) -> str | None:
    """The class name of an ``@X.add_to_class(C)`` decorated function, else None."""
    deco = _add_to_class_decorator(node)
    if isinstance(deco, ast.Call) and isinstance(deco.args[0], ast.Name):
        return deco.args[0].id
    return None


def _start(node: ast.stmt) -> int:
    decos = getattr(node, "decorator_list", [])
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
            start = next((i for i, ln in kept if ln.strip()), first)
            block = _make_block([ln for _, ln in kept], where[start], framework, docpath, issues)
            if block is not None:
                blocks.append(block)
            continue
        blocks.extend(_line_level(lines, where, framework, docpath, issues))
    return blocks, issues


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
    out: list[SavedBlock] = []
    covered = -1
    for i in sorted(marks):
        if i <= covered:
            continue  # inside a statement already saved
        target = i
        if _is_lone(lines[i], marks[i]):  # a lone mark saves the statement after it
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


# ----------------------------------------------------------------------- add_to_class
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


# --------------------------------------------------------------------------- module
def _collect(docs: Sequence[tuple[str, Sequence[Cell]]], framework: str,
             api: list[ApiEntry] | None = None,
             ) -> tuple[list[SavedBlock], list[LibraryIssue]]:
    blocks: list[SavedBlock] = []
    issues: list[LibraryIssue] = []
    for docpath, cells in docs:
        found, problems = extract_saved_blocks(cells, framework, docpath)
        blocks.extend(found)
        issues.extend(problems)
    if api is not None:
        api.extend(api_entries(blocks))
    blocks = fold_add_to_class(blocks)
    defined: dict[str, SavedBlock] = {}
    for block in blocks:
        for name in block.names:
            first = defined.get(name)
            if first is not None and first is not block:
                issues.append(LibraryIssue(
                    block.docpath, block.line,
                    f"'{name}' is saved again (first saved in {first.docpath}:{first.line}); "
                    "the later definition wins"))
            defined[name] = block
    return blocks, issues


def _assemble(blocks: Sequence[SavedBlock], header: str, aliases: str) -> str:
    head = header.rstrip("\n") + "\n\n" if header.strip() else ""
    chunks = [f"# Defined in file: ./{b.docpath}\n{b.code}" for b in blocks]
    if aliases.strip():
        chunks.append(f"{ALIAS_TITLE}\n{aliases.strip(chr(10))}")
    return (head + BANNER + "\n" + "\n\n\n".join(chunks)).rstrip("\n") + "\n"


def build_library(docs: Sequence[tuple[str, Sequence[Cell]]], framework: str, *,
                  header: str = "", aliases: str = "",
                  ) -> tuple[str, list[LibraryIssue]]:
    """The module text of ``framework`` for pages ``(docpath, cells)`` given in toc order."""
    blocks, issues = _collect(docs, framework)
    return _assemble(blocks, header, aliases), issues


def write_if_changed(path: str | os.PathLike[str], text: str) -> bool:
    """Write ``text`` atomically unless the file already holds it; True if written.

    Creates the folder and an empty ``__init__.py`` in it when absent.
    """
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    init = os.path.join(folder, "__init__.py")
    if os.path.basename(path) != "__init__.py" and not os.path.exists(init):
        os.makedirs(folder, exist_ok=True)
        with open(init, "w", encoding="utf-8"):
            pass
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            if fh.read() == text:
                return False
    except (OSError, UnicodeDecodeError):
        pass
    os.makedirs(folder, exist_ok=True)
    try:
        mode = os.stat(path).st_mode & 0o777
    except OSError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return True


def toc_order(root: str | os.PathLike[str], index: str = "index", suffix: str = ".md",
              tabs: Sequence[str] = ("python",), reader: PageReader | None = None) -> list[str]:
    """Pages reachable from the index through ```` ```toc ```` blocks, depth first.

    Entries are relative to the page's folder; glob entries expand in sorted order;
    missing files and entries outside ``root`` are skipped; each page appears once.
    """
    root = os.fspath(root)
    reader = reader or PageReader(tabs)
    order: list[str] = []
    seen: set[str] = set()

    def visit(docpath: str) -> None:
        if docpath in seen or docpath.startswith("../"):
            return
        seen.add(docpath)
        info = reader.read(os.path.join(root, docpath))
        if info is None:
            return
        order.append(docpath)
        folder = os.path.dirname(docpath)
        for entry in info.toc:
            target = os.path.normpath(os.path.join(folder, entry)).replace(os.sep, "/")
            if not target.endswith(suffix):
                target += suffix
            if any(ch in entry for ch in "*?["):
                for match in sorted(glob.glob(target, root_dir=root)):
                    visit(match.replace(os.sep, "/"))
            elif os.path.isfile(os.path.join(root, target)):
                visit(target)

    visit(index if index.endswith(suffix) else index + suffix)
    return order


def module_path(root: str | os.PathLike[str], config: LibraryConfig, framework: str) -> str:
    return os.path.normpath(os.path.join(root, config.directory, config.package,
                                         config.module(framework) + ".py"))


def generate_library(root: str | os.PathLike[str], tabs: Sequence[str], config: LibraryConfig,
                     *, index: str = "index", suffix: str = ".md",
                     docs: Sequence[str] | None = None,
                     reader: PageReader | None = None) -> LibraryResult:
    """Write the package of a book: one module per framework with saved code or a header.

    ``docs`` (paths relative to ``root``, in order) default to :func:`toc_order`; each page
    is read once (``reader`` can be shared with the caller to reuse its parses).
    """
    start = time.perf_counter()
    root = os.fspath(root)
    reader = reader or PageReader(tabs)
    result = LibraryResult()
    pages = list(docs) if docs is not None else toc_order(root, index, suffix, tabs, reader)
    loaded: list[tuple[str, Sequence[Cell]]] = []
    for docpath in pages:
        info = reader.read(os.path.join(root, docpath))
        if info is not None:
            loaded.append((docpath.replace(os.sep, "/"), info.cells))
    seen: set[tuple[str, int, str]] = set()
    for framework in tabs:
        header = config.headers.get(framework, "")
        aliases = config.aliases.get(framework, "")
        api: list[ApiEntry] = []
        blocks, issues = _collect(loaded, framework, api)
        if api:
            result.api[framework] = api
        for issue in issues:  # a `#@tab all` cell reports once, not once per framework
            key = (issue.docpath, issue.line, issue.message)
            if key not in seen:
                seen.add(key)
                result.issues.append(issue)
        if not (blocks or header.strip() or aliases.strip()):
            continue
        text = _assemble(blocks, header, aliases)
        path = module_path(root, config, framework)
        if write_if_changed(path, text):
            result.written.append(path)
        result.files[framework] = path
        result.hashes[framework] = library_hash(text)
    result.seconds = time.perf_counter() - start
    return result
