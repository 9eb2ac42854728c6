"""The renderer of d2l pages: :class:`.cell_renderer.CellRenderer` plus the marks.

Roles (``:numref:``, ``:cite:``... through :data:`.dialect.ROLE_MAP`), the marks that
attach to nothing (``:bibliography:``), labelled equations inside paragraphs, figures
(an image alone in its paragraph, with ``:width:`` and ``:label:``), table captions and
labels, and HTML comments (the originals of a translation: :mod:`.originals`).
"""

from __future__ import annotations

from docutils import nodes
from docutils.parsers.rst import roles
from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode
from myst_parser.mdit_to_docutils.base import token_line
from myst_parser.mocking import MockInliner
from sphinx.util import logging

from .cell_renderer import CellRenderer, PageContext
from .dialect import COMMENT, ROLE_MAP
from .originals import MarkdownPairing, is_active
from .warnings_ import D2lWarning, warn

__all__ = ["D2lRenderer", "PageContext"]

logger = logging.getLogger(__name__)


class D2lRenderer(CellRenderer):
    """myst-parser's Sphinx renderer plus render methods for the d2l tokens."""

    # ------------------------------------------------------------------ marks and roles
    def render_d2l_role(self, token: SyntaxTreeNode) -> None:
        name = token.meta["name"]
        target = ROLE_MAP.get(name, name)
        lineno = (token_line(token) if token.map else 0) + token.meta.get("line_offset", 0)
        loc = (self.sphinx_env.docname if self.sphinx_env else "", lineno)
        kind = D2lWarning.CITE if target.startswith("cite") else D2lWarning.MARK
        if target.startswith("cite") and not self._bibtex:
            warn(logger, f"':{name}:`{token.content}`' needs sphinxcontrib-bibtex: add "
                 "'sphinxcontrib.bibtex' to extensions and set bibtex_bibfiles",
                 D2lWarning.CITE, location=loc)
            self.current_node.append(nodes.literal(token.content, f"[{token.content}]"))
            return
        role_func, _ = roles.role(target, self.language_module_rst, lineno, self.reporter)
        if not role_func:
            warn(logger, f"unknown mark ':{name}:`{token.content}`' (kept as text)",
                 D2lWarning.MARK, location=loc)
            self.current_node.append(nodes.Text(f":{name}:`{token.content}`"))
            return
        rawsource = f":{target}:`{token.content}`"
        inliner = MockInliner(self)
        try:
            _nodes, messages2 = role_func(target, rawsource, token.content, lineno, inliner)
        except Exception as err:  # e.g. sphinxcontrib-bibtex: "malformed citation target"
            warn(logger, f"':{name}:`{token.content}`' cannot be rendered ({err}); kept as "
                 "text", kind, location=loc)
            self.current_node.append(nodes.Text(f":{name}:`{token.content}`"))
            return
        self.current_node += _nodes + messages2

    def render_d2l_mark(self, token: SyntaxTreeNode) -> None:
        key, value = token.meta["key"], token.meta["value"]
        if key == "bibliography":
            if not self._bibtex:
                warn(logger, f"':bibliography:`{value}`' needs sphinxcontrib-bibtex "
                     "(add 'sphinxcontrib.bibtex' to extensions)", D2lWarning.CITE,
                     location=self._loc(token))
                return
            self.current_node += self.run_directive("bibliography", "", "", token_line(token, 0))
            return
        warn(logger, f"':{key}:`{value}`' has nothing to attach to (ignored)", D2lWarning.MARK,
             location=self._loc(token))

    def render_math_block_label(self, token: SyntaxTreeNode) -> None:
        """A labelled ``$$...$$`` inside a paragraph (d2l-en's "as\n$$...$$\n:eqlabel:`x`"):
        the equation takes the target's id itself (docutils moves ids only between blocks)."""
        if not isinstance(self.current_node, nodes.TextElement):
            return super().render_math_block_label(token)
        with self._collect() as holder:
            super().render_math_block_label(token)
        for child in list(holder.children):
            if isinstance(child, nodes.target):
                for node_id in child["ids"]:
                    math = next(iter(holder.findall(nodes.math_block)), None)
                    if math is not None:
                        math["ids"].append(node_id)
                        self.document.ids[node_id] = math
                continue
            self.current_node.append(child)

    # ------------------------------------------------------------------ figures and tables
    def render_paragraph(self, token: SyntaxTreeNode) -> None:
        children = []
        if token.children and token.children[0].type == "inline":
            children = [
                c for c in token.children[0].children or []
                if not (c.type in ("softbreak", "hardbreak")
                        or (c.type == "text" and not c.content.strip()))
            ]
        if len(children) == 1 and children[0].type == "image":
            return self._render_figure(token, children[0])
        super().render_paragraph(token)

    def _render_figure(self, para: SyntaxTreeNode, image: SyntaxTreeNode) -> None:
        meta = para.meta.get("d2l_figure", {})
        figure = nodes.figure(classes=["d2l-figure"], align="center")
        self.add_line_and_source_path(figure, para)
        with self.current_node_context(figure):
            self.render_image(image)
        img = figure.children[-1] if figure.children else None
        if isinstance(img, nodes.image):
            for key in ("width", "height"):
                if key in meta:
                    img[key] = meta[key]
        if image.children:
            self._add_figure_caption(figure, para, image)
        label = meta.get("label")
        if label:
            if not any(isinstance(c, nodes.caption) for c in figure.children):
                warn(logger, f"figure ':label:`{label}`' has no caption, so it has no number "
                     "for :numref: (write the caption in the image's alt text)",
                     D2lWarning.LABEL, location=self._loc(para))
            figure["names"].append(nodes.fully_normalize_name(label))
            self.document.note_explicit_target(figure, figure)
        self.current_node.append(figure)

    def _add_figure_caption(self, figure: nodes.figure, para: SyntaxTreeNode,
                            image: SyntaxTreeNode) -> None:
        """The image's alt text as the figure's caption (when it has any text)."""
        caption = nodes.caption()
        self.add_line_and_source_path(caption, para)
        for child in image.walk():  # alt text tokens have no line (inline HTML needs one)
            if child.token is not None and child.token.map is None and para.map:
                child.token.map = list(para.map)
        with self.current_node_context(caption):
            self.render_children(image)
        if caption.astext().strip():
            figure += caption

    def render_image(self, token: SyntaxTreeNode) -> None:
        super().render_image(token)
        img = self.current_node.children[-1] if self.current_node.children else None
        if isinstance(img, nodes.image) and not img.rawsource:
            # an image without alt text: Sphinx would set its line to 0 (ApplySourceWorkaround)
            img.rawsource = str(token.attrGet("src") or "image")

    def render_table(self, token: SyntaxTreeNode) -> None:
        super().render_table(token)
        table = self.current_node.children[-1]
        if not isinstance(table, nodes.table):
            return
        caption_token: Token | None = token.meta.get("d2l_caption")
        if caption_token is not None:
            table.insert(0, self._table_title(token, caption_token))
        label = token.meta.get("d2l_label")
        if label:
            if caption_token is None:
                warn(logger, f"table ':label:`{label}`' has no ': caption' line, so it has no "
                     "number for :numref:", D2lWarning.LABEL, location=self._loc(token))
            table["names"].append(nodes.fully_normalize_name(label))
            self.document.note_explicit_target(table, table)

    def _table_title(self, token: SyntaxTreeNode, caption_token: Token) -> nodes.title:
        """The title of a table from its ``: caption`` line."""
        inline = caption_token.copy()
        kids = [c.copy() for c in inline.children or []]
        if kids and kids[0].type == "text":
            kids[0].content = kids[0].content[2:] if kids[0].content.startswith(": ") else (
                kids[0].content.lstrip(": "))
        # (the caption paragraph left the token stream: its 0-based map was not shifted
        # and its children have none, which inline HTML needs)
        line_map = ([caption_token.map[0] + 1, caption_token.map[1] + 1]
                    if caption_token.map else list(token.map or [0, 0]))
        for kid in kids:
            kid.map = line_map
        inline.children = kids
        title = nodes.title()
        self.add_line_and_source_path(title, token)
        with self.current_node_context(title):
            self.render_children(SyntaxTreeNode([inline]).children[0])
        return title

    # ------------------------------------------------------------------ HTML comments
    def _render_tokens(self, tokens: list[Token]) -> None:
        cfg = self.d2l.config
        if not is_active(cfg):
            super()._render_tokens(tokens)
            return
        # as myst-parser's, plus: the originals kept in comments, rendered and paired with
        # their translations (originals.MarkdownPairing)
        for token in tokens:
            if token.map:
                token.map = [token.map[0] + 1, token.map[1] + 1]
                for child in token.children or []:
                    child.map = token.map
        pairing = MarkdownPairing(self, cfg)
        for node in SyntaxTreeNode(tokens).children:
            pairing.render(node)
        pairing.finish()

    def render_html_block(self, token: SyntaxTreeNode) -> None:
        rest = COMMENT.sub("", token.content)
        if not rest.strip():
            return  # comments (e.g. the original text of a translation) produce nothing
        token.token.content = rest  # type: ignore[union-attr]
        super().render_html_block(token)

    def render_html_inline(self, token: SyntaxTreeNode) -> None:
        if not COMMENT.sub("", token.content).strip():
            return
        super().render_html_inline(token)
