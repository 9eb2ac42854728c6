"""The Jupyter notebook of a page in one framework (Sphinx-free).

d2lbook's ``build ipynb`` rules, from the page's source and its execution result:

* code: the framework's cells only (an unmarked cell is the default framework's, ``#@tab
  all`` cells are everybody's), as run (:meth:`.config.D2lConfig.code`: tab markers and
  ``#@hide*`` marks removed, ``if tab.selected(...)`` branches flattened, aliases
  applied); ``%load_ext d2lbook.tab`` set-up cells dropped. Hidden cells (``#@hide``,
  ``#@hide_code``, ``#@hide_output``, ``#@hide_all``) stay, with their outputs: d2lbook
  hides them in the HTML only, and later cells need what they define.
* prose: untagged prose, and ``:begin_tab:`` blocks of the framework (or ``all``) without
  their ``:begin_tab:``/``:end_tab:`` lines; consecutive prose is one markdown cell.
* where d2lbook leaves the dialect's marks raw (``:numref:`x``` shown to readers, d2l-en
  #1561), they are resolved through a :class:`References` (the Sphinx glue resolves them
  as the HTML does: ``Section 2.1``, ``(3.1)``, ``(Smith and Doe, 2020)``; links to the
  HTML page when ``html_baseurl`` is set, else to the other notebook): ``:label:``,
  ``:width:``, ``:height:`` lines are dropped, ``:eqlabel:`` becomes the equation's
  ``\\tag{N}``, ``:bibliography:`` the list of the cited entries, ```` ```toc ```` blocks
  a list of links to the notebooks (d2lbook's ``update_ipynb_toc``), slide marks are
  unwrapped.
* outputs: those of the framework's execution result (cell ids are source lines), or
  none (``d2l_notebook_outputs = False``, ``d2l_execute = 'off'``); d2lbook drops tqdm's
  ``HBox`` widget outputs, and so do we.

:func:`split_page` cuts a page into :class:`Prose` and :class:`Code` parts once;
:func:`framework_notebook` selects a framework's parts into an nbformat v4 notebook.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from markdown_it import MarkdownIt
from markdown_it.token import Token

from .cells import ALL, Cell, parse_fence_info
from .dialect import cells_from_tokens, frameworks_of, toc_entries
from .execution.model import JobResult
from .mdit_d2l import dialect_md_parser
from .mdit_syntax import END_TAB, MARK, MARK_LINE, strip_slide_marks

if TYPE_CHECKING:
    from nbformat import NotebookNode

    NBFORMAT_MINOR: int

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
"""Every notebook's kernel (d2lbook's Colab notebooks: ``python3``): the build's
kernelspec names (``d2l_kernels``) mean nothing on a reader's machine."""
DROPPED_MARKS = ("label", "width", "height", "eqlabel")
#: A role, or an inline code span (left as it is: ````:numref:`x` ```` shows the syntax).
INLINE = re.compile(r"(?P<code>(?P<ticks>`+)[^`].*?(?<!`)(?P=ticks)(?!`))"
                    r"|(?<![\w:`]):(?P<name>[-/\\.\w]+):`(?P<target>[^`]*)`")
TOC_TITLED = re.compile(r"^(?P<title>.+?)\s*<(?P<target>[^<>]+)>$")
EQUATION_END = re.compile(r"\$\$\s*$")


@dataclass(frozen=True)
class Link:
    """A resolved reference: its text and, when it can be followed, its URL."""

    text: str
    url: str = ""

    def markdown(self) -> str:
        text = self.text.replace("[", "\\[").replace("]", "\\]")
        return f"[{text}]({self.url})" if self.url else self.text


class References(Protocol):
    """Resolves the dialect's references for the notebook of one page."""

    def role(self, name: str, target: str) -> Link | None:
        """``:name:`target``` (``numref``, ``ref``, ``eqref``, ``cite``, ``citet``,
        ``citep``...); None: the plain fallback (:func:`fallback_text`)."""

    def equation_number(self, label: str) -> str | None:
        """The number of the equation labelled ``label`` (``2.3``), if it has one."""

    def toc(self, entry: str) -> Link | None:
        """A ```` ```toc ```` entry as a link to its notebook (text: its title)."""

    def bibliography(self, value: str) -> str:
        """The markdown of ``:bibliography:`value```: the entries cited in the book."""


class PlainReferences:
    """References without a build: fallback texts, toc entries link to ``<entry>.ipynb``."""

    def role(self, name: str, target: str) -> Link | None:
        return None

    def equation_number(self, label: str) -> str | None:
        return None

    def toc(self, entry: str) -> Link | None:
        return Link(entry, entry + ".ipynb")

    def bibliography(self, value: str) -> str:
        return ""


def fallback_text(name: str, target: str) -> str:
    """Readable text of a role that could not be resolved."""
    if name in ("numref", "ref"):
        return target
    if name == "eqref":
        return f"({target})"
    if name in ("cite", "citet", "citep"):
        return f"[{target}]"
    if name in ("class", "func", "mod", "meth", "attr", "data", "obj"):
        return f"`{target}`"
    if name in DROPPED_MARKS:
        return ""
    return f":{name}:`{target}`"


@dataclass(frozen=True)
class Prose:
    """Markdown shown in ``tabs`` (empty: every framework)."""

    text: str
    tabs: tuple[str, ...] = ()

    def shown_in(self, framework: str) -> bool:
        return not self.tabs or framework in self.tabs or ALL in self.tabs


@dataclass(frozen=True)
class Code:
    """A code cell of the page."""

    cell: Cell


Part = Prose | Code


def notebook_frameworks(cells: Sequence[Cell], tabs: Sequence[str]) -> list[str]:
    """The frameworks a page has a notebook in: those it is run in
    (:func:`.dialect.frameworks_of`, as d2lbook's ``get_tab_notebook``); a page without
    code, every framework."""
    if not any(not c.setup_only for c in cells):
        return list(tabs)
    return frameworks_of(cells, tabs)


def split_page(text: str, tabs: Sequence[str], refs: References | None = None,
               md: MarkdownIt | None = None) -> list[Part]:
    """Cut a page into prose (marks resolved) and code cells, in page order."""
    refs = refs or PlainReferences()
    md = md or dialect_md_parser()
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # (markdown-it's lines)
    tokens = md.parse(text, {})
    cells = {c.line: c for c in cells_from_tokens(tokens, tabs)}
    lines = text.split("\n")
    layout = _Layout(len(lines))
    for token in tokens:
        layout.add(token, cells)
    parts: list[Part] = []
    chunk: list[tuple[bool, str]] = []
    """(prose, line): prose lines have their marks resolved; fences and toc lists not."""
    scope: tuple[str, ...] = ()

    def flush() -> None:
        prose = _prose_text(chunk, refs)
        if prose:
            parts.append(Prose(prose, scope))
        chunk.clear()

    for i, line in enumerate(lines):
        cell = layout.cell_at.get(i)
        if cell is not None:
            flush()
            parts.append(Code(cell))
            continue
        if layout.kind[i] in ("cell", "drop"):
            continue
        if layout.scope[i] != scope:
            flush()
            scope = layout.scope[i]
        if layout.kind[i] == "toc":
            chunk.append((False, _toc_markdown(layout.toc_at[i], refs)))
        elif layout.kind[i] == "text" and END_TAB.match(line.strip()):
            continue  # an :end_tab: without :begin_tab: (reported when the page is read)
        else:
            chunk.append((layout.kind[i] == "text", line))
    flush()
    return parts


class _Layout:
    """What each source line is: ``text`` (prose), ``fence`` (a non-cell fence: kept
    verbatim), ``toc`` (the first line of a toc block), ``cell``, ``drop``; and the
    frameworks of the ``:begin_tab:`` block it is in."""

    def __init__(self, count: int) -> None:
        self.kind = ["text"] * count
        self.scope: list[tuple[str, ...]] = [()] * count
        self.cell_at: dict[int, Cell] = {}
        self.toc_at: dict[int, str] = {}

    def add(self, token: Token, cells: dict[int, Cell]) -> None:
        if not token.map:
            return
        start, end = token.map
        end = min(end, len(self.kind))
        if start >= end:
            return
        if token.type == "d2l_tab_prose_open":
            names = tuple(token.meta.get("tabs") or ("",))  # no name: shown nowhere
            self.kind[start] = "drop"
            if token.meta.get("closed"):
                self.kind[end - 1] = "drop"
            for i in range(start + 1, end):
                self.scope[i] = names
        elif token.type == "fence":
            info = token.info.strip()
            if parse_fence_info(token.info).is_cell and start + 1 in cells:
                self.kind[start:end] = ["cell"] * (end - start)
                self.cell_at[start] = cells[start + 1]
            elif info == "toc":
                self.kind[start:end] = ["drop"] * (end - start)
                self.kind[start] = "toc"
                self.toc_at[start] = token.content
            else:
                self.kind[start:end] = ["fence"] * (end - start)


def _toc_markdown(content: str, refs: References) -> str:
    """A toc block as a list of links (d2lbook: `` - [entry](entry.ipynb)``)."""
    items = []
    for entry in toc_entries(content)[1]:
        m = TOC_TITLED.match(entry)
        target = m.group("target") if m else entry
        link = refs.toc(target) or Link(target)
        if m:
            link = Link(m.group("title"), link.url)
        items.append(f"- {link.markdown()}")
    return "\n".join(items)


def _prose_text(chunk: Sequence[tuple[bool, str]], refs: References) -> str:
    """The markdown of consecutive lines: marks resolved in prose lines, fenced blocks
    and toc lists kept as they are."""
    out: list[str] = []
    for prose, line in chunk:
        if not prose:
            out.append(line)
            continue
        if MARK_LINE.match(line.strip()):
            out.extend(_mark_line(line, out, refs))
            continue
        out.append(INLINE.sub(lambda m: _inline(m, refs), line))
    text = "\n".join(out)
    return strip_slide_marks(strip_slide_marks(text, "~", keep=False), "*", keep=True).strip()


def _mark_line(line: str, out: list[str], refs: References) -> list[str]:
    """A line of block marks: dropped, an equation's number, or a bibliography."""
    added: list[str] = []
    for m in MARK.finditer(line):
        key, value = m.group(1), m.group(2).strip()
        if key == "bibliography":
            added.append(refs.bibliography(value))
        elif key in ("eqlabel", "label"):
            _tag_equation(out, value, refs)
    return added


def _tag_equation(out: list[str], label: str, refs: References) -> None:
    """Number the ``$$`` equation right above a label with ``\\tag{N}``."""
    k = len(out) - 1
    while k >= 0 and not out[k].strip():
        k -= 1
    if k < 0 or not EQUATION_END.search(out[k]):
        return
    number = refs.equation_number(label)
    if number and "\\tag{" not in out[k]:
        out[k] = EQUATION_END.sub(f"\\\\tag{{{number}}}$$", out[k])


def _inline(m: re.Match[str], refs: References) -> str:
    if m.group("code"):
        return m.group("code")
    name, target = m.group("name"), m.group("target").strip()
    if name in DROPPED_MARKS:
        return ""
    link = refs.role(name, target)
    return link.markdown() if link is not None else fallback_text(name, target)


# ---------------------------------------------------------------------- one framework


def framework_notebook(parts: Sequence[Part], framework: str, code: Callable[[Cell], str],
                       result: JobResult | None = None, *, gpus: int = 0,
                       metadata: dict[str, Any] | None = None) -> NotebookNode:
    """The notebook of ``framework``: its prose and cells (``code(cell)``: the code as
    run), with the outputs of ``result`` (None: none).

    The cells are built as the nbformat v4 schema has them (nbformat's ``new_*_cell``
    validate every cell: a third of the time of a book's notebooks); the tests validate
    the notebooks."""
    meta: dict[str, Any] = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    if gpus:
        meta["accelerator"] = "GPU"  # Colab's (d2lbook: any code with "gpu")
    meta.update(metadata or {})
    cells: list[dict[str, Any]] = []
    prose: list[str] = []

    def flush() -> None:
        if prose:
            cells.append(_cell(f"md-{len(cells)}", cell_type="markdown", metadata={},
                               source="\n\n".join(prose)))
            prose.clear()

    for part in parts:
        if isinstance(part, Prose):
            if part.shown_in(framework):
                prose.append(part.text)
            continue
        cell = part.cell
        if cell.setup_only or not cell.belongs_to(framework):
            continue
        source = code(cell)
        if not source.strip():
            continue
        flush()
        outputs = _outputs(result, cell.line) if result is not None else []
        count = result.execution_counts.get(cell.line) if result is not None else None
        cells.append(_cell(f"cell-{cell.line}", cell_type="code", execution_count=count,
                           metadata={}, outputs=outputs, source=source))
    flush()
    import nbformat

    nb: NotebookNode = nbformat.from_dict(  # type: ignore[no-untyped-call,unused-ignore]
        {"nbformat": 4, "nbformat_minor": nbformat_minor(), "metadata": meta, "cells": cells})
    return nb


def _cell(cell_id: str, **fields: Any) -> dict[str, Any]:
    """A cell with a stable id (nbformat >= 4.5): the same page gives the same bytes,
    build after build."""
    if nbformat_minor() >= 5:
        fields["id"] = cell_id
    return fields


_OUTPUT_KEYS = {
    "stream": ("output_type", "name", "text"),
    "display_data": ("output_type", "data", "metadata"),
    "execute_result": ("output_type", "data", "metadata", "execution_count"),
    "error": ("output_type", "ename", "evalue", "traceback"),
}


def _outputs(result: JobResult, line: int) -> list[dict[str, Any]]:
    """The outputs of the cell at ``line``, with the fields of the nbformat schema only;
    tqdm's ``HBox`` widgets left out (d2lbook)."""
    out = []
    for output in result.outputs.get(line, []):
        keys = _OUTPUT_KEYS.get(str(output.get("output_type")))
        if keys is None:
            continue
        data = output.get("data") or {}
        plain = data.get("text/plain", "")
        if "".join(plain).startswith("HBox"):
            continue
        clean = {k: output[k] for k in keys if k in output}
        if "metadata" in keys:
            clean.setdefault("metadata", {})
        if "execution_count" in keys:
            clean.setdefault("execution_count", None)
        out.append(clean)
    return out


def notebook_bytes(nb: NotebookNode) -> bytes:
    """The file content of a notebook, as nbformat writes it (without validating it
    again: see :func:`framework_notebook`)."""
    import nbformat

    text: str = nbformat.v4.nbjson.writes(nb)  # type: ignore[no-untyped-call,unused-ignore]
    return (text + "\n").encode("utf-8")


@functools.cache
def nbformat_minor() -> int:
    """The notebooks' minor version: nbformat's own (4.5 and up have cell ids). nbformat
    (and its JSON-schema stack) is imported when a notebook is made, not with this
    module: a build that writes no notebook (a no-op rebuild) never pays for it."""
    import nbformat

    return int(nbformat.v4.nbformat_minor)


def __getattr__(name: str) -> Any:
    if name == "NBFORMAT_MINOR":  # (the constant of earlier versions, made lazy)
        return nbformat_minor()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
