"""How many GPUs a page's kernel needs, per framework (Sphinx-free).

Three sources, the first that says something wins:

1. the page's ``#@gpus N`` mark: a line of its own in a code cell, in d2lbook's style of
   ``#@`` marks (d2lbook's ``resource.py`` has it as a to-do: "support a special mark in
   notebook to hint the #gpus"). It applies to the frameworks of its cell (``#@tab all``:
   every framework); several marks: the largest. ``#@gpus 0`` runs the page on the CPU.
2. with ``d2l_gpus_detect = True``, d2lbook's resource.py rule on the code the framework
   runs (tabs selected, aliases applied): 1 if a cell contains ``gpu()``, ``try_gpu()``,
   ``device('cuda')``..., :data:`RULE_MAX` (2) if one contains ``try_all_gpus``,
   ``gpu(1)``, ``gpus=2``...; nothing found: no answer (the next source decides);
3. ``d2l_gpus[framework]`` (else ``d2l_gpus['*']``, else 0).

:func:`page_gpus` gives the count; :func:`mark_problems` the page's bad marks as
diagnostics (file line, ``d2l.mark``), for the caller to report once per page. The marks
are comments, so a kernel ignores them; :data:`MARK_LINE` matches a whole mark line for the
code shown to readers to leave it out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from .cells import GPU_MARK_LINE
from .mdit_syntax import Diagnostic
from .warnings_ import D2lWarning

if TYPE_CHECKING:
    from .cells import Cell
    from .config import D2lConfig

#: A whole line that is a GPU mark, whatever its value (bad values are reported)
MARK_LINE = GPU_MARK_LINE
#: The value of a valid mark: a non-negative integer, nothing else.
_VALUE = re.compile(r"^[ \t]*#[ \t]*@gpus[ \t]+(\d{1,6})[ \t]*$", re.IGNORECASE)
#: Any mention of a mark (a cell without one has no line to look at).
_ANY = re.compile(r"@gpus", re.IGNORECASE)
#: A mark that is not alone on its line (``x = 1  #@gpus 2``): ignored, and reported.
_TRAILING = re.compile(r"\S[ \t]*#[ \t]*@gpus(?![a-z_])", re.IGNORECASE)

MAX_MARK = 1024
"""The largest count a mark may ask for (larger: a bad value)."""

#: d2lbook's ``get_notebook_gpus``: substrings of a code cell that need one GPU...
RULE_ONE = ("gpu()", "gpu(0)", "device('cuda')", "device('/GPU:0')", "try_gpu()",
            "try_gpu(0)", "gpus=1")
#: ... and those that need :data:`RULE_MAX` (as d2lbook, case-sensitive).
RULE_ALL = ("gpu(1)", "device('cuda:1')", "device('/GPU:1')", "try_all_gpus", "try_gpu(1)",
            "gpus=2", "gpus=3", "gpus=4")
RULE_MAX = 2
"""What d2lbook gives a page that uses several GPUs (its ``max_gpus``)."""


def _mark_lines(cell: Cell) -> Iterator[tuple[int, str]]:
    """``(file line, text)`` of each line of the cell that mentions ``@gpus``."""
    if not _ANY.search(cell.source):  # (most cells: no line to look at)
        return
    for offset, text in enumerate(cell.source.split("\n")):
        if "@gpus" in text.lower():
            yield cell.line + 1 + offset, text


def _mark_value(text: str) -> int | None:
    """The count of a valid whole-line mark; None otherwise."""
    m = _VALUE.match(text)
    if m is None or int(m.group(1)) > MAX_MARK:
        return None
    return int(m.group(1))


def mark_problems(cells: Sequence[Cell]) -> list[Diagnostic]:
    """A ``d2l.mark`` diagnostic for each GPU mark of the page that is ignored."""
    found: list[Diagnostic] = []
    for cell in cells:
        for line, text in _mark_lines(cell):
            if MARK_LINE.match(text):
                if _mark_value(text) is None:
                    value = text.strip()
                    found.append(Diagnostic(
                        line, f"bad GPU mark {value!r}: write '#@gpus N' with N a whole "
                        f"number from 0 to {MAX_MARK}; the mark is ignored", D2lWarning.MARK))
            elif _TRAILING.search(text):
                found.append(Diagnostic(
                    line, "a '#@gpus' mark must be on a line of its own; it is ignored",
                    D2lWarning.MARK))
    return found


def marked_gpus(cells: Iterable[Cell]) -> int | None:
    """The largest valid ``#@gpus`` mark of ``cells``; None without one."""
    values = [v for cell in cells for _, text in _mark_lines(cell)
              if (v := _mark_value(text)) is not None]
    return max(values) if values else None


def rule_gpus(codes: Iterable[str]) -> int | None:
    """d2lbook's resource.py rule on the code of a page's cells; None: nothing found.

    Mark lines are left out first, so ``#@gpus`` never reads as ``gpus=``.
    """
    need = 0
    for code in codes:
        text = "\n".join(ln for ln in code.split("\n") if not MARK_LINE.match(ln))
        if any(p in text for p in RULE_ALL):
            return RULE_MAX
        if any(p in text for p in RULE_ONE):
            need = 1
    return need or None


def page_gpus(cells: Sequence[Cell], framework: str, cfg: D2lConfig) -> int:
    """GPUs the kernel of ``framework`` needs for a page: mark, rule, then ``d2l_gpus``.

    ``cells`` are the page's cells; those of ``framework`` (``Cell.belongs_to``, set-up
    cells left out) are the ones that count, with their code as the framework runs it.
    """
    mine = [c for c in cells if c.belongs_to(framework) and not c.setup_only]
    marked = marked_gpus(mine)
    if marked is not None:
        return marked
    if cfg.gpus_detect:
        detected = rule_gpus(cfg.code(c, framework) for c in mine)
        if detected is not None:
            return detected
    return cfg.gpus.get(framework, cfg.gpus.get("*", 0))
