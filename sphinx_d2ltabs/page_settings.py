"""A page's own execution settings, and the pages left out of execution (Sphinx-free).

d2lbook pages have no front matter; a page may start with one, read by myst-parser's
front matter support (it renders nothing). Its ``d2l`` key holds the page's settings::

    ---
    d2l:
      execute: off          # no kernel for this page: shown without outputs
      timeout: 60           # seconds per cell (-1: none), instead of d2l_timeout
      allow_errors: true    # instead of d2l_allow_errors
      gpus: {pytorch: 1}    # or a number for every framework
    ---

:func:`page_settings` reads them for planning (an unknown key or a bad value is left
out); :func:`front_matter_problems` says what was left out, with the file line, for the
caller to report once per page (``d2l.frontmatter``). :func:`excluded` matches a page
against ``d2l_execute_exclude`` (glob patterns as Sphinx's ``exclude_patterns``).
"""

from __future__ import annotations

import difflib
import math
import os
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .mdit_syntax import Diagnostic
from .warnings_ import D2lWarning

KEY = "d2l"
"""The front matter key of the settings."""
SETTINGS = ("execute", "timeout", "allow_errors", "gpus")
_EXECUTE = {"off": False, "false": False, "no": False, "auto": True, "on": True,
            "true": True, "yes": True}


@dataclass(frozen=True)
class PageSettings:
    """What a page's front matter says; None: the configuration decides."""

    execute: bool = True
    timeout: float | None = None
    """Seconds per cell (``math.inf``: no timeout)."""
    allow_errors: bool | None = None
    gpus: tuple[tuple[str, int], ...] = ()
    """(framework or ``*``, GPUs), as written."""

    def gpus_for(self, framework: str) -> int | None:
        found = dict(self.gpus)
        return found.get(framework, found.get("*"))


DEFAULT = PageSettings()


# ------------------------------------------------------------------ the front matter


def front_matter(text: str) -> tuple[str, int] | None:
    """The YAML text of the page's front matter and the file line of its first line; None
    without one. The rule of myst-parser's ``read_topmatter``: a first line starting with
    ``---``, up to a line starting with ``---`` or ``...``."""
    if not text.startswith("---"):
        return None
    lines = text.splitlines()
    for end in range(1, len(lines)):
        if lines[end].startswith(("---", "...")):
            return "\n".join(lines[1:end]) + "\n", 2
    return None


def _key_lines(yaml_text: str, first_line: int) -> tuple[int, dict[str, int]]:
    """The file line of the ``d2l`` key, and of each key under it."""
    import yaml

    root = yaml.compose(yaml_text, Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        return first_line, {}
    for key, value in root.value:
        if getattr(key, "value", None) == KEY:
            inner = value.value if isinstance(value, yaml.MappingNode) else []
            return first_line + key.start_mark.line, {
                str(k.value): first_line + k.start_mark.line for k, _ in inner}
    return first_line, {}


def parse(text: str, tabs: Sequence[str]) -> tuple[PageSettings, list[Diagnostic]]:
    """The settings of a page's text and the problems of its ``d2l`` front matter key (a
    front matter that is no YAML mapping is myst-parser's to report)."""
    import yaml

    found = front_matter(text)
    if found is None:
        return DEFAULT, []
    yaml_text, first = found
    try:
        data = yaml.safe_load(yaml_text)
        where, lines = _key_lines(yaml_text, first)
    except (yaml.YAMLError, RecursionError, ValueError):
        return DEFAULT, []
    if not isinstance(data, dict) or data.get(KEY) is None:
        return DEFAULT, []
    values = data[KEY]
    if not isinstance(values, dict):
        return DEFAULT, [Diagnostic(where, f"the front matter's '{KEY}' must be a mapping of "
                                    f"settings ({', '.join(SETTINGS)}); it is ignored",
                                    D2lWarning.FRONTMATTER)]
    settings: dict[str, Any] = {}
    problems: list[Diagnostic] = []
    for name, value in values.items():
        line = lines.get(str(name), where)
        problem = _setting(str(name), value, tabs, settings)
        if problem:
            problems.append(Diagnostic(line, problem, D2lWarning.FRONTMATTER))
    return PageSettings(**settings), problems


def _setting(name: str, value: Any, tabs: Sequence[str], out: dict[str, Any]) -> str | None:
    """Put one setting into ``out``; a problem's message (the setting is left out)."""
    where = f"front matter '{KEY}.{name}'"
    if name == "execute":
        flag = value if isinstance(value, bool) else _EXECUTE.get(str(value).lower())
        if flag is None:
            return f"{where}: {value!r} is not 'off' or 'auto' (true/false); it is ignored"
        out["execute"] = flag
    elif name == "timeout":
        if not _number(value) or not (value > 0 or value == -1):
            return (f"{where}: {value!r} is not a positive number of seconds, or -1 for no "
                    "timeout; d2l_timeout applies")
        out["timeout"] = math.inf if value == -1 else float(value)
    elif name == "allow_errors":
        if not isinstance(value, bool):
            return f"{where}: {value!r} is not true or false; d2l_allow_errors applies"
        out["allow_errors"] = value
    elif name == "gpus":
        gpus, problem = _gpus(value, tabs, where)
        out["gpus"] = gpus
        return problem
    else:
        close = difflib.get_close_matches(name, SETTINGS, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(SETTINGS)}"
        return f"unknown key '{KEY}.{name}' in the front matter ({hint}); it is ignored"
    return None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and (
        not math.isnan(value))


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _gpus(value: Any, tabs: Sequence[str], where: str,
          ) -> tuple[tuple[tuple[str, int], ...], str | None]:
    """``N`` (every framework) or ``{framework: N}``; bad entries are left out."""
    if _count(value):
        return (("*", value),), None
    if not isinstance(value, Mapping):
        return (), (f"{where}: {value!r} is not a number of GPUs or a mapping "
                    "{framework: number}; it is ignored")
    good = tuple((str(k), v) for k, v in value.items() if _count(v) and (
        k == "*" or k in tabs))
    bad = [f"{k}: {v!r}" for k, v in value.items() if (str(k), v) not in good]
    if not bad:
        return good, None
    return good, (f"{where}: {', '.join(bad)} left out (a configured framework, or '*', "
                  f"and a whole number >= 0; d2l_tabs = {list(tabs)})")


# ------------------------------------------------------------------ reading pages

_MEMO: dict[tuple[str, tuple[str, ...]], tuple[tuple[int, int], PageSettings]] = {}
_LOCK = threading.Lock()


def page_settings(path: str, tabs: Sequence[str]) -> PageSettings:
    """The settings of the page at ``path`` (read again only when its size or
    modification time change); the defaults when it has none or can't be read."""
    try:
        st = os.stat(path)
    except OSError:
        return DEFAULT
    key, stamp = (os.path.abspath(path), tuple(tabs)), (st.st_size, st.st_mtime_ns)
    with _LOCK:
        known = _MEMO.get(key)
    if known is not None and known[0] == stamp:
        return known[1]
    settings = DEFAULT
    try:
        with open(path, encoding="utf-8") as fh:
            head = fh.read(3)
            if head == "---":
                settings = parse(head + fh.read(), tabs)[0]
    except (OSError, UnicodeDecodeError):
        return DEFAULT
    with _LOCK:
        _MEMO[key] = (stamp, settings)
    return settings


def front_matter_problems(text: str, tabs: Sequence[str]) -> list[Diagnostic]:
    """The problems of a page's ``d2l`` front matter (see :func:`parse`)."""
    return parse(text, tabs)[1] if text.startswith("---") else []


# ------------------------------------------------------------------ d2l_execute_exclude


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob pattern as Sphinx's ``exclude_patterns`` reads it: ``*`` and ``?`` stay
    within a folder, ``**`` crosses folders (``**/x`` matches ``x`` at the top too),
    ``[...]`` is a class (``[!...]``: negated)."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] in "*?":
            out.append("[^/]*" if pattern[i] == "*" else "[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2:]:
            end = pattern.index("]", i + 2)
            inner = pattern[i + 1:end]
            inner = "^" + inner[1:] if inner.startswith("!") else inner
            out.append("[" + inner.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def excluded(docname: str, path: str, patterns: Sequence[str]) -> str | None:
    """The first ``d2l_execute_exclude`` pattern that matches the page (its docname, or
    its file relative to the source folder: the docname with the file's suffix)."""
    names = (docname, docname + os.path.splitext(path)[1])
    for pattern in patterns:
        regex = glob_regex(pattern.strip().removeprefix("./"))
        if any(regex.match(name) for name in names):
            return pattern
    return None


# ------------------------------------------------------------------ Sphinx


def on_source_read(app: Any, docname: str, source: list[str]) -> None:
    """Report the problems of a d2l page's front matter when Sphinx reads it (each once
    per read, as the dialect's own problems)."""
    from sphinx.util import logging

    from .mystnb_compat import is_notebook_page
    from .state import get_state
    from .warnings_ import warn

    text = source[0] if source else ""
    if not text.startswith("---"):
        return
    path = str(app.env.doc2path(docname))
    if not path.endswith(".md") or is_notebook_page(app.env, path):
        return
    logger = logging.getLogger(__name__)
    for problem in front_matter_problems(text, get_state(app.env).cfg.tab_names):
        warn(logger, problem.message, problem.subtype, location=(docname, problem.line))
