"""The warnings of this extension: type ``d2l``, one subtype per kind of problem.

Each is shown as ``... [d2l.<subtype>]`` and silenced with Sphinx's
``suppress_warnings = ["d2l.<subtype>"]`` (``"d2l"``: all of them). The docs' table of
subtypes is generated from :class:`D2lWarning` (``d2l-warnings-table``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

WARNING_TYPE = "d2l"


class D2lWarning(StrEnum):
    """A warning subtype, with a one-line description (:attr:`help`)."""

    help: str

    def __new__(cls, value: str, help: str = "") -> D2lWarning:
        member = str.__new__(cls, value)
        member._value_ = value
        member.help = help
        return member

    EXECUTE = ("execute", "A cell raised an exception, timed out or killed its kernel, or the "
               "kernel did not start (at the cell's line, with the framework).")
    CACHE = ("cache", "An execution cache entry is corrupt, unreadable or missing "
             "(``cache-only``), or the cache cannot be written.")
    LIBRARY = ("library", "The ``#@save`` package: a saved block with a syntax error or on no "
               "definition, a name saved twice, a module not written or left alone, "
               "``d2l_lib_api_page`` not written.")
    CONFIG = ("config", "A ``d2l_*`` name in conf.py that is no option (with the closest "
              "one). Invalid values are errors, not warnings.")
    OUTPUT = ("output", "A file the build writes (execution report, output images) cannot "
              "be written.")
    ENCODING = ("encoding", "A page is not valid UTF-8: it is read with U+FFFD in place of "
                "the bad bytes.")
    TAB = ("tab", "A tab marker with no or an unknown framework, a ``:begin_tab:`` not "
           "closed or an ``:end_tab:`` not opened.")
    SYNTAX = ("syntax", "A code fence is never closed (it runs to the end of the page).")
    LABEL = ("label", "A ``:label:`` that follows nothing it can label, or labels a figure "
             "or table without a caption (no number for ``:numref:``).")
    MARK = ("mark", "An unknown or misplaced mark (``:width:`` after no image, a duplicate "
            "figure option, an unknown role, a bad ``#@gpus`` value): kept as text or ignored.")
    CITE = ("cite", "A citation or ``:bibliography:`` that needs sphinxcontrib-bibtex, or a "
            "citation that cannot be rendered.")
    IMAGE = ("image", "An image the builder cannot show: SVG plots and figures in LaTeX/PDF "
             "with no SVG converter installed (once per build), or an SVG that fails to "
             "convert (left out).")
    FIGURE = ("figure", "A figure's ``:width:`` or ``:height:`` is not a length: the figure "
              "is shown without it.")
    TOC = ("toc", "A circular toc (a page listed, directly or not, below itself): the entry "
           "is left out of the navigation instead of crashing Sphinx.")
    FRONTMATTER = ("frontmatter", "A page's ``d2l:`` front matter with an unknown key or a "
                   "bad value (the setting is ignored).")
    STDERR = ("stderr", "A cell wrote to stderr, with ``d2l_output_stderr`` set to "
              "``warn``, ``remove-warn``, ``error`` or ``severe``.")


def warn(logger: Any, message: str, subtype: D2lWarning, *, location: Any = None) -> None:
    """Log a ``d2l.<subtype>`` warning with a Sphinx logger (``sphinx.util.logging``)."""
    logger.warning(message, location=location, type=WARNING_TYPE, subtype=subtype.value)
