"""The originals of reStructuredText pages (d2lbook's pandoc output of a translation).

There an original is a ``.. raw:: html`` block holding one HTML comment, before its
translation::

    .. raw:: html

       <!--
       The *original* paragraph, in markdown, with $x$ math.
       -->

    The translated paragraph.

:class:`RstOriginals`, a transform run on every page after it is parsed, renders each
original's markdown with the d2l dialect (:func:`.originals.render_original`, through a
:class:`~.renderer.D2lRenderer` set up on the page) and places it as a markdown page's:
after its translation (after the title of a section), beside it, or in place of a
placeholder paragraph. Comments that are no originals (banners) are left as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from docutils import nodes
from sphinx.transforms import SphinxTransform

from .originals import (
    book_language,
    fill_caption,
    fill_title,
    is_active,
    is_placeholder,
    original_node,
    pair,
    render_original,
    text_line,
    untranslated_node,
)
from .state import get_state

if TYPE_CHECKING:
    from .config import D2lConfig
    from .renderer import D2lRenderer

#: what may stand between an original and its translation (a label, an rst comment)
_SKIPPED = (nodes.target, nodes.comment, nodes.substitution_definition, nodes.system_message)


def _comment(node: nodes.Node) -> str | None:
    """The text of a raw HTML node made of one comment, else None."""
    from .bilingual import comment_text

    if not isinstance(node, nodes.raw) or "html" not in node.get("format", "").split():
        return None
    return comment_text(node.astext())


def _next_block(raw: nodes.raw, language: str | None) -> nodes.Element | None:
    """The block after an original: its translation (a section: its title), or None
    where another original, a banner or the end comes first."""
    from .bilingual import classify_comment

    node: nodes.Node = raw
    while True:
        found = node.next_node(descend=False, siblings=True, ascend=True)
        if found is None:
            return None
        text = _comment(found)
        if text is not None and classify_comment(text, language) != "note":
            return None
        if text is None and not isinstance(found, _SKIPPED):
            break
        node = found
    if isinstance(found, nodes.section):
        return found.next_node(nodes.title)
    return found if isinstance(found, nodes.Element) else None


def _renderer(document: nodes.document) -> D2lRenderer:
    """A :class:`~.renderer.D2lRenderer` rendering into ``document`` (no page context
    beyond the config: an original has no executed cells)."""
    from myst_parser.parsers.mdit import create_md_parser

    from .cell_renderer import PageContext
    from .dialect import d2l_plugin, dialect_config
    from .renderer import D2lRenderer

    env = document.settings.env
    md = create_md_parser(dialect_config(env.myst_config), D2lRenderer)
    md.use(d2l_plugin)
    md.options["document"] = document
    md.options["d2l_ctx"] = PageContext(config=get_state(env).cfg, cells={}, results={},
                                        tabs_ui=False)
    renderer = md.renderer
    assert isinstance(renderer, D2lRenderer)
    renderer.setup_render(dict(md.options), {})
    return renderer


class RstOriginals(SphinxTransform):
    """Render and place the originals of a page read by another parser than the d2l
    markdown one (a markdown page's comments leave no raw node: they are done already)."""

    default_priority = 200  # before Sphinx numbers figures (210) and targets move (260)

    def apply(self, **kwargs: Any) -> None:
        from .bilingual import classify_comment

        cfg = get_state(self.env).config
        if cfg is None or not is_active(cfg):
            return
        language = book_language(self.env)
        originals = [(raw, text) for raw in self.document.findall(nodes.raw)
                     if (text := _comment(raw)) is not None
                     and classify_comment(text, language) == "original"]
        if not originals:
            return
        renderer = _renderer(self.document)
        for raw, text in originals:
            # the comment's first line follows the directive's line and a blank line
            line = text_line(raw.astext(), (raw.line or 0) + 2)
            self._place(raw, _next_block(raw, language), render_original(renderer, text, line))

    def _place(self, raw: nodes.raw, block: nodes.Element | None,
               rendered: list[nodes.Node]) -> None:
        cfg = get_state(self.env).cfg
        if block is not None and _in_place(_placeholder(block, cfg), block, rendered):
            raw.parent.remove(raw)
            return
        if not cfg.show_original:
            return
        orig = original_node(rendered, cfg)
        if block is None:
            raw.replace_self(orig)
            return
        raw.parent.remove(raw)
        parent = block.parent
        at = parent.index(block)
        if isinstance(block, nodes.title):
            parent.insert(at + 1, orig)
            return
        parent.remove(block)
        for offset, node in enumerate(pair([block], orig)):
            parent.insert(at + offset, node)


def _in_place(kind: str | None, block: nodes.Element, rendered: list[nodes.Node]) -> bool:
    """Show an original in place of its placeholder ``block``; False where it is none
    (or the original does not fit: a title's original is no heading...)."""
    if kind == "paragraph":
        block.replace_self(untranslated_node(rendered))
        return True
    if kind == "heading":
        return fill_title(block, rendered)
    return kind == "caption" and fill_caption(block, rendered)


def _placeholder(block: nodes.Element | None, cfg: D2lConfig) -> str | None:
    """``paragraph``, ``heading`` (a title) or ``caption`` (a figure's) where ``block``
    is an untranslated placeholder to show the original in place of, else None."""
    if block is None or cfg.untranslated != "original":
        return None
    if isinstance(block, nodes.figure):
        caption = next((c for c in block.children if isinstance(c, nodes.caption)), None)
        kind, text = "caption", caption.rawsource if caption is not None else ""
    elif isinstance(block, (nodes.paragraph, nodes.title)):
        kind = "heading" if isinstance(block, nodes.title) else "paragraph"
        text = block.rawsource or block.astext()
    else:
        return None
    return kind if text and is_placeholder(text, cfg) else None
