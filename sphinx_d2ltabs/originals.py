"""The originals of a bilingual book, rendered: toggles, side-by-side columns, untranslated text.

A translated page keeps the English original of each block in an HTML comment before its
translation (:mod:`.bilingual` decides which comments are originals:
:func:`~.bilingual.classify_comment`). Here the original's markdown goes through the
page's own parser (the d2l dialect on top of myst-parser: math, emphasis, roles, tables,
images) into docutils nodes, so that it works in every builder:

* :class:`original` (``d2l_show_original``): after its translation, as a collapsible
  element (``d2l_original_layout = "toggle"``) or as the second of two columns
  (``"side-by-side"``: :func:`pair`); left out of the search index (Sphinx's
  ``no-search`` class, Sphinx >= 8.2) and of non-HTML output.
* :class:`untranslated` (``d2l_untranslated = "original"``): in place of a placeholder
  paragraph (``d2l_translation_placeholder``), the original with a note in the book's
  language (:mod:`.i18n`); in every builder. A placeholder title or figure caption takes
  its original's text in place (:func:`fill_title`, :func:`fill_caption`).

An original renders as text, never as structure: its headings become rubrics, its labels
are dropped (the translation has them), its figures and tables get no number and its code
cells are plain code blocks. Markdown pages pair originals while they render
(:class:`MarkdownPairing`, used by :class:`.renderer.D2lRenderer`); reStructuredText pages
after they are parsed (:mod:`.originals_rst`).
"""

from __future__ import annotations

import re
from html import escape
from typing import TYPE_CHECKING, Any

from docutils import nodes
from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode
from myst_parser.warnings_ import MystWarnings
from sphinx.transforms.post_transforms import SphinxPostTransform

from .i18n import original_label, untranslated_note
from .state import get_state

if TYPE_CHECKING:
    from myst_parser.mdit_to_docutils.base import DocutilsRenderer
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment
    from sphinx.writers.html5 import HTML5Translator

    from .config import D2lConfig

#: the language of the originals (every d2l translation is made from the English book)
ORIGINAL_LANG = "en"
#: a paragraph that is one image (a figure): its caption, as :mod:`.bilingual` reads it
IMAGE_ONLY = re.compile(r"^!\[(.*)\]\([^)]*\)$", re.DOTALL)


class original(nodes.container):  # (docutils node classes are lower case)
    """An original text, rendered; ``label`` and ``layout`` are attributes. Builders
    without visitors of their own treat it as a container (Sphinx looks visitors up along
    the class's MRO), but outside HTML it is removed (:class:`OriginalsOutsideHtml`)."""


class untranslated(nodes.container):
    """An original shown in place of its missing translation; ``note`` is an attribute."""


def is_active(cfg: D2lConfig) -> bool:
    """Does a page's rendering look at its originals at all?"""
    return cfg.show_original or cfg.untranslated == "original"


def book_language(env: BuildEnvironment | None) -> str | None:
    """Sphinx's ``language``: comments written in it are notes, not originals."""
    return env.config.language if env is not None else None


def is_placeholder(text: str, cfg: D2lConfig) -> bool:
    """Is a paragraph's source an untranslated placeholder (the status report's rule)?"""
    from .bilingual import is_placeholder_text

    return is_placeholder_text(text.strip(), re.compile(cfg.translation_placeholder,
                                                        re.MULTILINE))


def fill_title(title: nodes.Element, rendered: list[nodes.Node]) -> bool:
    """A placeholder title takes the text of its original, a heading (False: it is not)."""
    if len(rendered) != 1 or not isinstance(rendered[0], nodes.rubric):
        return False
    title[:] = list(rendered[0].children)
    title["classes"].append("d2l-untranslated-title")
    return True


def fill_caption(figure: nodes.Element | None, rendered: list[nodes.Node]) -> bool:
    """A figure whose caption is a placeholder takes its original's caption (False: the
    original is no captioned figure). The figure keeps its label and number."""
    if not isinstance(figure, nodes.figure):
        return False
    legend = next((n for node in rendered if isinstance(node, nodes.Element)
                   for n in node.findall(nodes.legend)), None)
    caption = next((c for c in figure.children if isinstance(c, nodes.caption)), None)
    if legend is None or caption is None or not legend.children:
        return False
    caption[:] = list(legend[0].children)
    figure["classes"].append("d2l-untranslated-caption")
    image = next(figure.findall(nodes.image), None)
    if image is not None:
        image["alt"] = legend.astext()
    return True


def original_node(children: list[nodes.Node], cfg: D2lConfig) -> original:
    node = original("", *children, classes=["d2l-original", "no-search"])
    node["label"] = original_label(cfg.original_label)
    node["layout"] = cfg.original_layout
    return node


def untranslated_node(children: list[nodes.Node]) -> untranslated:
    node = untranslated("", *children, classes=["d2l-untranslated"])
    node["note"] = untranslated_note()
    return node


def pair(blocks: list[nodes.Node], orig: original) -> list[nodes.Node]:
    """What replaces a translated block (not a title) followed by its original: both, in
    two columns (a ``d2l-bilingual`` container) for the side-by-side layout."""
    if orig["layout"] != "side-by-side":
        return [*blocks, orig]
    translation = nodes.container("", *blocks, classes=["d2l-translation"])
    return [nodes.container("", translation, orig, classes=["d2l-bilingual"])]


def text_line(comment: str, line: int) -> int:
    """The line of the text of a comment that starts at ``line`` (1-based)."""
    inner = comment.split("<!--", 1)[-1]
    return line + inner[:len(inner) - len(inner.lstrip())].count("\n")


# --------------------------------------------------------------------------- rendering


_DROPPED = {"myst_target", "d2l_mark", "d2l_group_open", "d2l_group_close", "front_matter"}


def _as_text(tokens: list[Token]) -> list[Token]:
    """An original's tokens without what would give it structure: labels (the translation
    has them), marks, toc blocks, cells (plain code blocks instead)."""
    from .cells import parse_fence_info

    out: list[Token] = []
    for token in tokens:
        if token.type in _DROPPED or (token.type == "fence" and token.info.strip() == "toc"):
            continue
        if token.type == "fence" and parse_fence_info(token.info).is_cell:
            token.info = parse_fence_info(token.info).language
        if token.type == "math_block_label":
            token.type, token.info = "math_block", ""
        for child in token.children or []:
            if child.type == "math_block_label":
                child.type = "math_inline_double"
        token.meta.pop("d2l_label", None)
        token.meta.pop("d2l_table_label", None)
        token.meta.get("d2l_figure", {}).pop("label", None)
        out.append(token)
    return out


def render_original(renderer: DocutilsRenderer, text: str, line: int) -> list[nodes.Node]:
    """The nodes of an original's markdown (``line``: where the text starts, 1-based),
    parsed with the renderer's own parser (the page's dialect) and rendered by it."""
    tokens = _as_text(renderer.md.parse(text, {}))  # (its own env: no diagnostics kept)
    for token in tokens:
        if token.map:
            token.map = [token.map[0] + line, token.map[1] + line]
            for child in token.children or []:
                child.map = token.map
    holder = nodes.container()
    with renderer.current_node_context(holder):
        for block in SyntaxTreeNode(tokens).children:
            if block.type == "heading":
                rubric = nodes.rubric("", "", classes=["d2l-original-heading"])
                renderer.add_line_and_source_path(rubric, block)
                with renderer.current_node_context(rubric, append=True):
                    renderer.render_children(block)
            else:
                render_node(renderer, block)
    _without_numbers(holder)
    return list(holder.children)


def render_node(renderer: DocutilsRenderer, node: SyntaxTreeNode) -> None:
    """Render one block as myst-parser's ``_render_tokens`` does."""
    rule = renderer.rules.get(f"render_{node.type}")
    if rule is None:
        renderer.create_warning(f"No render method for: {node.type}",
                                MystWarnings.RENDER_METHOD, line=(node.map or [0])[0],
                                append_to=renderer.current_node)
        return
    rule(node)


def _without_numbers(holder: nodes.Element) -> None:
    """Figures and tables of an original take no number (Sphinx numbers those with a
    caption): a figure's caption becomes its legend, a table's title a paragraph."""
    for figure in list(holder.findall(nodes.figure)):
        for caption in [c for c in figure.children if isinstance(c, nodes.caption)]:
            legend = nodes.legend("", nodes.paragraph("", "", *caption.children))
            figure.replace(caption, legend)
    for table in list(holder.findall(nodes.table)):
        for title in [c for c in table.children if isinstance(c, nodes.title)]:
            table.remove(title)
            caption = nodes.paragraph("", "", *title.children,
                                      classes=["d2l-original-caption"])
            table.parent.insert(table.parent.index(table), caption)


# --------------------------------------------------------------------------- markdown pages


class MarkdownPairing:
    """Pairs the originals of a markdown page with their translations while it renders:
    :meth:`render` each top-level block in turn, then :meth:`finish`."""

    def __init__(self, renderer: DocutilsRenderer, cfg: D2lConfig) -> None:
        self.renderer = renderer
        self.cfg = cfg
        self.language = book_language(renderer.sphinx_env)
        self.pending: tuple[str, int] | None = None
        """The original waiting for its translation: (text, line of the text)."""

    def render(self, node: SyntaxTreeNode) -> None:
        from .bilingual import classify_comment, comment_text

        r = self.renderer
        if node.type == "html_block":
            comment = comment_text(node.content)
            if comment is not None:  # a comment renders nothing; an original waits
                role = classify_comment(comment, self.language)
                if role != "note":  # (a note in the book's language is skipped over)
                    self.finish()
                if role == "original":
                    self.pending = (comment, text_line(node.content, (node.map or [1])[0]))
                return
        if self.pending is None or node.type == "myst_target":
            render_node(r, node)
            return
        text, line = self.pending
        self.pending = None
        kind = self._placeholder(node)
        if kind is None and not self.cfg.show_original:
            render_node(r, node)
            return
        rendered = render_original(r, text, line)
        if kind == "paragraph":
            r.current_node.append(untranslated_node(rendered))
            return
        if node.type == "heading":  # the heading opens a section: the original follows
            render_node(r, node)    # its title in it
            section = r.current_node
            if not (kind and fill_title(section[0], rendered)) and self.cfg.show_original:
                section.append(original_node(rendered, self.cfg))
            return
        holder = nodes.container()
        with r.current_node_context(holder):
            render_node(r, node)
        blocks = list(holder.children)
        filled = kind == "caption" and fill_caption(blocks[0] if blocks else None, rendered)
        if filled or not self.cfg.show_original:
            r.current_node.extend(blocks)
            return
        r.current_node.extend(pair(blocks, original_node(rendered, self.cfg)))

    def _placeholder(self, node: SyntaxTreeNode) -> str | None:
        """``paragraph``, ``heading`` or ``caption`` (an image's) where ``node`` is an
        untranslated placeholder to show the original in place of, else None."""
        if self.cfg.untranslated != "original" or node.type not in ("paragraph", "heading"):
            return None
        inline = node.children[0] if node.children else None
        content = inline.content.strip() if inline is not None and inline.type == "inline" else ""
        image = IMAGE_ONLY.match(content) if node.type == "paragraph" else None
        kind = "caption" if image else "heading" if node.type == "heading" else "paragraph"
        return kind if is_placeholder(image.group(1) if image else content, self.cfg) else None

    def finish(self) -> None:
        """An original followed by no block (another comment, the end): shown where it
        is, with ``d2l_show_original``."""
        if self.pending is not None and self.cfg.show_original:
            text, line = self.pending
            self.renderer.current_node.append(
                original_node(render_original(self.renderer, text, line), self.cfg))
        self.pending = None


# --------------------------------------------------------------------------- output


def visit_original_html(self: HTML5Translator, node: original) -> None:
    label = escape(node["label"])
    if node["layout"] == "side-by-side":
        self.body.append(self.starttag(node, "div", CLASS="d2l-original-side",
                                       lang=ORIGINAL_LANG))
        # (a line break between label and text: a search snippet keeps them apart)
        self.body.append(f'<p class="d2l-original-label">{label}</p>\n')
    else:
        self.body.append(self.starttag(node, "details"))
        self.body.append(f"<summary>{label}</summary>\n")
        self.body.append(f'<div class="d2l-original-text" lang="{ORIGINAL_LANG}">\n')


def depart_original_html(self: HTML5Translator, node: original) -> None:
    self.body.append("</div>\n" if node["layout"] == "side-by-side" else "</div></details>\n")


def visit_untranslated_html(self: HTML5Translator, node: untranslated) -> None:
    self.body.append(self.starttag(node, "div"))
    self.body.append(f'<p class="d2l-untranslated-note">{escape(node["note"])}</p>\n')
    self.body.append(f'<div class="d2l-untranslated-text" lang="{ORIGINAL_LANG}">\n')


def depart_untranslated_html(self: HTML5Translator, node: untranslated) -> None:
    self.body.append("</div></div>\n")


class OriginalsOutsideHtml(SphinxPostTransform):
    """Outside HTML (LaTeX, text...) the page is the translation: originals are left out;
    an untranslated original stays, under its note."""

    default_priority = 195

    def run(self, **kwargs: Any) -> None:
        if get_state(self.env).builder_format == "html":
            return
        for node in list(self.document.findall(original)):
            node.parent.remove(node)
        for node in self.document.findall(untranslated):
            note = nodes.paragraph("", "", nodes.emphasis("", node["note"]),
                                   classes=["d2l-untranslated-note"])
            node.insert(0, note)


def setup_originals(app: Sphinx) -> None:
    from .builder import connect_record_builder
    from .i18n import setup_i18n
    from .originals_rst import RstOriginals

    setup_i18n(app)
    app.add_node(original, html=(visit_original_html, depart_original_html))
    app.add_node(untranslated, html=(visit_untranslated_html, depart_untranslated_html))
    app.add_transform(RstOriginals)
    app.add_post_transform(OriginalsOutsideHtml)
    connect_record_builder(app)  # the builder's format, for OriginalsOutsideHtml
