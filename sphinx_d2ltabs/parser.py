"""Sphinx glue: the ``.md`` source parser (myst-parser + the d2l dialect).

:class:`D2lParser` parses a page with myst-parser's markdown-it setup plus
:func:`.dialect.d2l_plugin`, reports the dialect's diagnostics, takes the page's
execution results (:func:`.phase.page_results`) and renders with
:class:`.renderer.D2lRenderer`. With MyST-NB loaded, a page MyST-NB reads as a notebook
(a MyST text notebook) is handed to MyST-NB's parser (:mod:`.mystnb_compat`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from myst_parser.parsers.sphinx_ import MystParser
from sphinx.util import logging

from .warnings_ import D2lWarning, warn

if TYPE_CHECKING:
    from docutils import nodes
    from markdown_it.token import Token
    from myst_parser.config.main import MdParserConfig

    from .cells import Cell
    from .mdit_syntax import Diagnostic

# The dialect, the renderer and the phase's results are imported by the first page parsed:
# a build that reads no page (nothing changed) never loads them.

__all__ = ["D2lParser", "named_frameworks"]

logger = logging.getLogger(__name__)


def named_frameworks(tokens: Sequence[Token], cells: Sequence[Cell]) -> set[str]:
    """The frameworks a page names explicitly: its cells' tab markers and its
    ``:begin_tab:`` blocks (``all`` left out; unknown names kept). Not
    :func:`.dialect.frameworks_of`, the frameworks whose kernels run the page."""
    from .cells import ALL

    found: set[str] = set()
    for cell in cells:
        if cell.setup_only:
            continue
        if ALL not in cell.frameworks:
            found.update(cell.frameworks)
            found.update(cell.unknown)
    for token in tokens:
        if token.type == "d2l_tab_prose_open":
            found.update(t for t in token.meta.get("tabs", []) if t != ALL)
    return found


def _subtype(diag: Diagnostic) -> D2lWarning:
    try:
        return D2lWarning(diag.subtype)
    except ValueError:
        return D2lWarning.SYNTAX


class D2lParser(MystParser):
    """Parse ``.md`` pages: MyST markdown plus the d2lbook dialect (MyST-NB's notebooks
    go to MyST-NB's parser)."""

    def parse(self, inputstring: str, document: nodes.document) -> None:
        from myst_parser.config.main import merge_file_level, read_topmatter
        from myst_parser.parsers.mdit import create_md_parser

        from .cells import ALL
        from .dialect import cells_from_tokens, d2l_plugin, dialect_config, unterminated_fences
        from .mystnb_compat import notebook_parser
        from .phase import page_results
        from .renderer import D2lRenderer, PageContext
        from .state import get_state

        env = document.settings.env
        delegate = notebook_parser(self, env, inputstring)
        if delegate is not None:
            delegate.parse(inputstring, document)
            return
        config: MdParserConfig = env.myst_config
        try:
            topmatter = read_topmatter(inputstring)
        except Exception:
            topmatter = None
        if topmatter:
            config = merge_file_level(config, topmatter, lambda wtype, msg: None)
        md = create_md_parser(dialect_config(config), D2lRenderer)
        md.use(d2l_plugin)
        md.options["document"] = document
        mdenv: dict[str, Any] = {}
        tokens = md.parse(inputstring, mdenv)
        cfg = get_state(env).cfg
        diagnostics: list[Diagnostic] = list(mdenv.get("d2l_diagnostics", []))
        cells = cells_from_tokens(tokens, cfg.tab_names, diagnostics)
        diagnostics.extend(unterminated_fences(tokens, inputstring))
        for diag in sorted(diagnostics, key=lambda d: d.line):
            warn(logger, diag.message, _subtype(diag), location=(env.docname, diag.line))
        ctx = PageContext(
            config=cfg,
            cells={c.line: c for c in cells},
            results=page_results(env, env.docname, cells),
            tabs_ui=False,
            write_image=image_writer(env),
        )
        # tab bars only where the page has more than one framework to show (as d2lbook)
        ctx.tabs_ui = len(named_frameworks(tokens, cells)) > 1 or any(
            ALL in c.frameworks and not c.setup_only and ctx.differs(c) for c in cells)
        md.options["d2l_ctx"] = ctx
        md.renderer.render(tokens, md.options, mdenv)


def image_writer(env: Any) -> Callable[[bytes, str], str]:
    """Write output images once by content hash; return a source-relative URI. A folder
    that can't be written is one ``d2l.output`` warning per build (the image is then
    missing from the page)."""
    from .fileio import atomic_write
    from .state import get_state

    state = get_state(env)
    directory = state.image_dir
    srcdir = str(env.srcdir)

    def write(data: bytes, ext: str) -> str:
        name = hashlib.sha256(data).hexdigest()[:32] + ext
        path = os.path.join(directory, name)
        if not os.path.exists(path):
            try:
                atomic_write(path, data)
            except OSError as err:
                if directory not in state.warned:
                    state.warned.add(directory)
                    warn(logger, f"cannot write output images to {directory}: "
                         f"{err.strerror or err}", D2lWarning.OUTPUT)
        return "/" + os.path.relpath(path, srcdir).replace(os.sep, "/")

    return write
