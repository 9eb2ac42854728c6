"""Cell outputs (nbformat v4 output dicts) → docutils nodes, per builder.

* :mod:`.text` – joining and cleaning output text, stripping ANSI sequences (Sphinx-free);
* :mod:`.ansi` – the Pygments lexers: ANSI colours (``d2l-ansi``), tracebacks;
* :mod:`.render` – outputs → nodes, every mime type of a display kept in a
  ``mime_bundle`` container (the doctree stays builder-agnostic);
* :mod:`.select` – the post-transform keeping the best mime type for the builder.

Classes follow MyST-NB (``output``, ``stream``, ``stderr``, ``text_plain``,
``traceback``...), so sphinx-book-theme and pydata-sphinx-theme style them.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from ..builder import connect_record_builder
from .ansi import ANSI_LANGUAGE, TRACEBACK_LANGUAGE, AnsiLexer, traceback_lexer
from .select import SelectMimeType
from .text import clean_text, strip_ansi

if TYPE_CHECKING:
    from sphinx.application import Sphinx

    from .render import MAX_ITEMS, OutputContext, render_outputs

_LAZY = {"MAX_ITEMS", "OutputContext", "render_outputs"}
"""From :mod:`.render`, imported by the first page rendered (not by a no-op rebuild)."""


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(".render", __name__), name)
    globals()[name] = value
    return value

__all__ = [
    "MAX_ITEMS",
    "AnsiLexer",
    "OutputContext",
    "SelectMimeType",
    "clean_text",
    "render_outputs",
    "setup_outputs",
    "strip_ansi",
]

STATIC = os.path.join(os.path.dirname(os.path.dirname(__file__)), "static")


def _add_static_path(app: Sphinx, config: Any) -> None:
    # at config-inited, before Sphinx compares the configuration with the last build's
    # (appending later would make every rebuild report "the configuration has changed")
    if STATIC not in config.html_static_path:
        config.html_static_path.append(STATIC)


def setup_outputs(app: Sphinx) -> None:
    """Register the lexers, the post-transform, the builder record (:mod:`..builder`)
    and the stylesheet; idempotent."""
    app.add_lexer(ANSI_LANGUAGE, AnsiLexer)
    traceback = traceback_lexer()
    if traceback is not None:
        app.add_lexer(TRACEBACK_LANGUAGE, traceback)
    if SelectMimeType not in app.registry.post_transforms:
        app.add_post_transform(SelectMimeType)
    connect_record_builder(app)
    if not any(name == "d2ltabs.css" for name, _ in app.registry.css_files):
        app.add_css_file("d2ltabs.css")
        app.connect("config-inited", _add_static_path)
