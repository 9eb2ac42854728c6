"""The d2lbook dialect as a markdown-it plugin on top of myst-parser (Sphinx-free).

:func:`d2l_plugin` adds the rules of :mod:`.mdit_syntax` (tab prose blocks, mark lines,
roles, slide marks) and :mod:`.mdit_structure` (marks attached, cells grouped) to a
MarkdownIt instance; :func:`dialect_config` is the myst-parser configuration they need, and
:func:`dialect_md_parser` builds the MarkdownIt instance that reads pages without Sphinx.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from markdown_it import MarkdownIt

from .mdit_structure import attach_marks_rule, group_cells_rule
from .mdit_syntax import mark_line_rule, role_rule, slide_marks_rule, tab_prose_rule

#: The block rules a tab prose block or a mark line may interrupt.
_INTERRUPTS = ["paragraph", "reference", "blockquote", "list"]


def d2l_plugin(md: MarkdownIt) -> None:
    """Add the d2lbook dialect to a (myst-parser) MarkdownIt instance."""
    try:
        from markdown_it.rules_block.fence import make_fence_rule
    except ImportError:  # markdown-it-py < 4.1: CommonMark's "at least as long" closing
        pass
    else:
        # as d2lbook (notedown): a fence is closed by the identical fence string only, so
        # ````` ```bash ````` may hold a ```````` ```` ```````` line
        md.block.ruler.at("fence", make_fence_rule(exact_match=True), {"alt": _INTERRUPTS})
    md.block.ruler.before("fence", "d2l_tab_prose", tab_prose_rule, {"alt": _INTERRUPTS})
    md.block.ruler.before("fence", "d2l_mark", mark_line_rule, {"alt": _INTERRUPTS})
    md.inline.ruler.before("backticks", "d2l_role", role_rule)
    md.core.ruler.before("inline", "d2l_slide_marks", slide_marks_rule)
    md.core.ruler.after("inline", "d2l_structure", attach_marks_rule)
    md.core.ruler.after("d2l_structure", "d2l_group", group_cells_rule)


def dialect_config(config: Any) -> Any:
    """The myst config with the extensions the dialect needs (``$$`` math).

    ``$$...$$`` inside a paragraph is display math, as pandoc reads it (d2l-en writes
    "in expanded form as\\n$$...$$\\n:eqlabel:`eq_ftc`").
    """
    extensions = set(config.enable_extensions) | {"dollarmath"}
    return replace(config, enable_extensions=extensions, dmath_double_inline=True)


def dialect_md_parser(config: Any = None) -> MarkdownIt:
    """A myst-parser MarkdownIt instance with the d2l dialect (HTML renderer; for reading).

    ``config``: a myst-parser ``MdParserConfig`` (default: myst-parser's defaults).
    """
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser

    md = create_md_parser(dialect_config(config or MdParserConfig()), RendererHTML)
    md.use(d2l_plugin)
    return md
