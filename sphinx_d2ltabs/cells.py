"""The d2lbook code-cell model (Sphinx-free).

A *cell* is a fenced block whose pandoc attributes contain the class ``input``
(```` ```{.python .input} ````, ```` ~~~{.input .python n=3} ````...). This module
parses the fence attributes and the in-cell markers of the dialect:

* tab markers ``#@tab X``, ``# @tab a, b``, ``#@tab all`` and ``%%tab X`` (matched
  case-insensitively, unlike d2lbook; an unmarked cell belongs to the first tab);
* display markers ``#@hide``, ``#@hide_code``, ``#@hide_output``, ``#@hide_all``,
  ``# hide code``, ``# hide outputs``;
* ``%load_ext d2lbook.tab`` set-up cells (dropped: they only select a tab in Jupyter);
* ``if tab.selected('a', 'b'):`` branches, flattened per framework.

The rules follow d2lbook 1.0.3 (see docs/migrating.md for where we deliberately differ).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

ALL = "all"
"""Pseudo framework name: the cell belongs to every framework."""

#: d2lbook's ``source_tab_pattern`` / ``source_tab_pattern_2`` (searched, first match wins).
TAB_PATTERN = re.compile(r"#[ \t]*@tab[ \t]+([\w, ]+)|%%tab[ \t]+([\w, ]+)", re.IGNORECASE)
#: A whole line that is a tab marker (removed from the shown and executed code).
TAB_LINE = re.compile(r"^[ \t]*(?:#\s*@tab\b|(?:#[ \t]*)?%%tab\b).*$", re.IGNORECASE)
"""(``# %%tab jax``, a commented cell magic, is a marker too: d2lbook searches the line.)"""
#: ``#@tab`` with no name: d2lbook treats it as unmarked; we warn.
EMPTY_TAB_LINE = re.compile(r"^[ \t]*(?:#\s*@tab|%%tab)[ \t]*$", re.IGNORECASE)
#: Display markers; a whole-line marker is removed, a trailing one is cut off.
#: (A match starts where a run of blanks starts: linear time on a line of many blanks.)
HIDE_MARK = re.compile(
    r"(?<![ \t])[ \t]*#@(?:hide_all|hide_code|hide_output|hide|allow_error)\b[ \t]*$",
    re.IGNORECASE,
)
HIDE_LINE = re.compile(
    r"^[ \t]*(?:#@(?:hide_all|hide_code|hide_output|hide|allow_error)"
    r"|#[ \t]*hide[ \t]+(?:code|outputs?))"
    r"[ \t]*$",
    re.IGNORECASE,
)
#: A whole line that is a GPU mark (``#@gpus 2``, ``# @GPUS 1``; also ``#@gpus=2``, a mark
#: with a bad value): not shown, not run (gpu_need.py reads and checks it)
GPU_MARK_LINE = re.compile(r"^[ \t]*#[ \t]*@gpus(?![a-z_]).*$", re.IGNORECASE)
LOAD_EXT_TAB = "%load_ext d2lbook.tab"
#: ``if ... tab.selected(...)`` (the two parts: one regex backtracks on a long line)
SELECTED_IF = re.compile(r"^(?P<indent>[ ]*)if\b")
SELECTED_CALL = re.compile(r"\btab\.selected\(")
_ATTR_TOKEN = re.compile(
    r"""\.([^\s{}=.]+)|#([^\s{}=]+)|([\w-]+)=("[^"]*"|'[^']*'|[^\s{}]+)|(\S+)"""
)


@dataclass(frozen=True)
class FenceAttributes:
    """Pandoc-style attributes of a fence info string."""

    classes: tuple[str, ...] = ()
    identifier: str = ""
    keyvals: tuple[tuple[str, str], ...] = ()
    plain: str = ""
    """The first word of a plain info string (```` ```python ```` → ``python``)."""

    @property
    def is_cell(self) -> bool:
        return "input" in self.classes

    @property
    def is_output(self) -> bool:
        return "output" in self.classes and "input" not in self.classes

    @property
    def language(self) -> str:
        for cls in self.classes:
            if cls not in ("input", "output"):
                return cls
        return self.plain or "python"

    def get(self, key: str, default: str = "") -> str:
        for k, v in self.keyvals:
            if k == key:
                return v
        return default


def parse_fence_info(info: str) -> FenceAttributes:
    """Parse ``{.python .input n=3}`` / ``.python .input`` / ``python`` info strings."""
    text = info.strip()
    if not text:
        return FenceAttributes()
    braced = text.startswith("{") and text.endswith("}")
    if not braced and not text.startswith("."):
        return FenceAttributes(plain=text.split()[0])
    if braced:
        text = text[1:-1]
    classes: list[str] = []
    keyvals: list[tuple[str, str]] = []
    identifier = ""
    for m in _ATTR_TOKEN.finditer(text):
        cls, ident, key, value, bare = m.groups()
        if cls:
            classes.append(cls)
        elif ident:
            identifier = ident
        elif key:
            keyvals.append((key, value.strip("\"'")))
        elif bare and not classes and not keyvals:
            # ``{python .input}``: a bare first word is the language
            classes.append(bare)
    return FenceAttributes(tuple(classes), identifier, tuple(keyvals))


@dataclass(frozen=True)
class Cell:
    """One executable code cell of a document."""

    line: int
    """1-based line of the opening fence in the source file (the cell's identity)."""
    source: str
    """The cell body as written (markers included)."""
    frameworks: tuple[str, ...]
    """Framework names (lower case) the cell belongs to, or ``("all",)``."""
    language: str = "python"
    unknown: tuple[str, ...] = ()
    """Tab names in the marker that are not configured (reported by the caller)."""
    hide_code: bool = False
    hide_output: bool = False
    setup_only: bool = False
    """A ``%load_ext d2lbook.tab`` cell: neither shown nor executed."""
    attributes: FenceAttributes = field(default_factory=FenceAttributes)
    empty_marker: bool = False
    """The cell had a ``#@tab`` marker with no framework name."""

    def belongs_to(self, framework: str) -> bool:
        return ALL in self.frameworks or framework in self.frameworks

    def targets(self, tabs: list[str] | tuple[str, ...]) -> list[str]:
        """The configured frameworks this cell runs in, in configuration order."""
        if ALL in self.frameworks:
            return list(tabs)
        return [t for t in tabs if t in self.frameworks]

    def code_for(self, framework: str) -> str:
        """The code shown and executed in ``framework``: markers removed, branches flattened."""
        lines = [ln for ln in self.source.split("\n") if not TAB_LINE.match(ln)]
        lines = flatten_tab_branches(lines, framework)
        out: list[str] = []
        for ln in lines:
            if HIDE_LINE.match(ln) or GPU_MARK_LINE.match(ln):
                continue
            out.append(HIDE_MARK.sub("", ln))
        return "\n".join(out).strip("\n")


class _Branch(Enum):
    """Where a line is in :func:`flatten_tab_branches`."""

    OUTSIDE = "outside"
    """Not in an ``if tab.selected(...)`` branch: kept as it is."""
    KEPT = "kept"
    """In a branch of the framework: kept, dedented."""
    DROPPED = "dropped"
    """In a branch of other frameworks: dropped."""


def flatten_tab_branches(lines: list[str], framework: str) -> list[str]:
    """d2lbook's ``_clean_if_branches``: keep ``if tab.selected(...)`` bodies of ``framework``.

    The ``if`` line is dropped; the body of a matching branch is kept, dedented by
    4 spaces; a non-matching body is dropped. A branch ends at the first non-blank
    line indented no deeper than the ``if``. As in d2lbook, branches do not nest: an
    ``if tab.selected`` line inside a branch starts a new branch at its own indent
    (d2l-en's ``Module`` relies on it: ``self.training = None`` of the inner
    ``if tab.selected('tensorflow'):`` lands in ``__init__``).
    """
    out: list[str] = []
    quoted = (f'"{framework}"', f"'{framework}'")
    where = _Branch.OUTSIDE
    indent = 0
    for ln in lines:
        m = SELECTED_IF.match(ln)
        call = SELECTED_CALL.search(ln, m.end()) if m else None
        if m and call and ln.find(")", call.end()) >= 0:
            # the framework quoted anywhere on the line matches, so
            # ``if tab.selected('mxnet') or tab.selected('pytorch'):`` matches both
            where = _Branch.KEPT if any(q in ln.lower() for q in quoted) else _Branch.DROPPED
            indent = len(m.group("indent"))
            continue
        in_branch = where is not _Branch.OUTSIDE
        if in_branch and ln.strip() and len(ln) - len(ln.lstrip(" ")) <= indent:
            where = _Branch.OUTSIDE  # no deeper than the ``if``: the branch is over
        if where is _Branch.OUTSIDE:
            out.append(ln)
        elif where is _Branch.KEPT:
            out.append(ln[4:] if ln.strip() else "")
    return out


def parse_cell(
    source: str,
    line: int,
    tabs: list[str] | tuple[str, ...],
    attributes: FenceAttributes | None = None,
) -> Cell:
    """Build a :class:`Cell` from a fence body.

    ``tabs`` is the configured, ordered framework list (lower case); its first
    entry is the default tab of unmarked cells.
    """
    attrs = attributes or FenceAttributes(classes=("python", "input"))
    setup_only = LOAD_EXT_TAB in source
    frameworks: tuple[str, ...]
    unknown: tuple[str, ...] = ()
    empty_marker = any(EMPTY_TAB_LINE.match(ln) for ln in source.split("\n"))
    m = TAB_PATTERN.search(source)
    if m:
        names = [n.strip().lower() for n in (m.group(1) or m.group(2)).split(",") if n.strip()]
        if ALL in names:
            frameworks = (ALL,)
        else:
            known = tuple(n for n in names if n in tabs)
            unknown = tuple(n for n in names if n not in tabs)
            frameworks = known
    else:
        frameworks = (tabs[0],) if tabs else (ALL,)
    hide_code, hide_output = _hidden(source.lower())
    return Cell(
        line=line,
        source=source,
        frameworks=frameworks,
        language=attrs.language,
        unknown=unknown,
        hide_code=hide_code,
        hide_output=hide_output,
        setup_only=setup_only,
        attributes=attrs,
        empty_marker=empty_marker,
    )


def _hidden(lowered: str) -> tuple[bool, bool]:
    """``(hide_code, hide_output)`` of a cell's source (in lower case) by its display markers."""
    hide_all = "#@hide_all" in lowered
    hide = "#@hide" in lowered.replace("#@hide_all", "").replace("#@hide_code", "").replace(
        "#@hide_output", ""
    )
    hide_output = (
        hide_all
        or "# hide outputs" in lowered
        or "#@hide_output" in lowered
        or (hide and "#@hide_code" not in lowered)
    )
    hide_code = (
        hide_all
        or "# hide code" in lowered
        or "#@hide_code" in lowered
        or (hide and "#@hide_output" not in lowered)
    )
    return hide_code, hide_output
