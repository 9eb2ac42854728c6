"""Sphinx glue: the ``.md`` source parser (myst-parser + the d2l dialect) and its renderer."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from docutils import nodes
from docutils.parsers.rst import roles
from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode
from myst_parser.config.main import MdParserConfig, merge_file_level, read_topmatter
from myst_parser.mdit_to_docutils.base import token_line
from myst_parser.mdit_to_docutils.sphinx_ import SphinxRenderer
from myst_parser.mocking import MockInliner
from myst_parser.parsers.mdit import create_md_parser
from myst_parser.parsers.sphinx_ import MystParser
from myst_parser.warnings_ import MystWarnings
from sphinx.util import logging

from .bilingual import classify_comment, comment_text, original_html
from .cells import ALL, Cell, parse_fence_info
from .config import D2lConfig
from .dialect import (
    COMMENT,
    ROLE_MAP,
    Diagnostic,
    cells_from_tokens,
    d2l_plugin,
    dialect_config,
    toc_entries,
    unterminated_fences,
)
from .phase import image_writer, page_results
from .state import get_state
from .tabs import tab_set

logger = logging.getLogger(__name__)


@dataclass
class PageContext:
    """What the renderer needs to know about the page being rendered."""

    config: D2lConfig
    cells: dict[int, Cell]
    results: dict[str, Any]
    """framework → execution result (``JobResult``) or None."""
    tabs_ui: bool
    """False when the page has at most one framework: no tab bars at all (as d2lbook)."""
    write_image: Callable[[bytes, str], str] | None = None
    panel: str | None = None
    """The framework whose tab panel is being rendered, if any."""
    unknown: set[str] = field(default_factory=set)

    def differs(self, cell: Cell) -> bool:
        """Does a cell of several frameworks show different code or outputs in them?"""
        variants = {
            (self.config.code(cell, f), _output_fingerprint(self.outputs(f, cell.line)))
            for f in cell.targets(self.config.tab_names)
        }
        return len(variants) > 1

    def outputs(self, framework: str, line: int) -> list[dict[str, Any]] | None:
        result = self.results.get(framework)
        if result is None:
            return None
        return result.outputs.get(line)


def warn(location: tuple[str, int] | nodes.Node | None, message: str, subtype: str) -> None:
    logger.warning(message, location=location, type="d2l", subtype=subtype)


class D2lRenderer(SphinxRenderer):
    """myst-parser's Sphinx renderer plus render methods for the d2l tokens."""

    @property
    def d2l(self) -> PageContext:
        return self.md_options["d2l_ctx"]

    @property
    def _bibtex(self) -> bool:
        return bool(self.sphinx_env is not None and get_state(self.sphinx_env).bibtex)

    def _loc(self, token: SyntaxTreeNode) -> tuple[str, int]:
        return (self.sphinx_env.docname, token_line(token, 0))

    def create_warning(self, message: str, subtype: Any, *, wtype: str | None = None,
                       line: int | None = None, append_to: nodes.Element | None = None,
                       ) -> nodes.system_message | None:
        # d2lbook pages may skip heading levels (`#` then `###`) or start at `##`: the
        # sections nest as written, as in d2lbook, so that is not worth a warning here
        if subtype == MystWarnings.MD_HEADING_NON_CONSECUTIVE:
            return None
        return super().create_warning(message, subtype, wtype=wtype, line=line,
                                      append_to=append_to)

    # ------------------------------------------------------------------ groups and tabs
    @contextmanager
    def _collect(self) -> Any:
        holder = nodes.container()
        with self.current_node_context(holder):
            yield holder

    def _panel_nodes(self, item: SyntaxTreeNode, framework: str) -> list[nodes.Node]:
        ctx = self.d2l
        previous, ctx.panel = ctx.panel, framework
        try:
            with self._collect() as holder:
                if item.type == "fence":
                    self._render_cell_variant(item, framework)
                else:
                    self.render_children(item)
        finally:
            ctx.panel = previous
        return list(holder.children)

    def _item_frameworks(self, item: SyntaxTreeNode) -> list[str] | None:
        """Frameworks an item is shown for; None = common to all (rendered once)."""
        ctx = self.d2l
        tabs = ctx.config.tab_names
        if item.type == "fence":
            cell = ctx.cells.get(token_line(item, 0))
            if cell is None or cell.setup_only:
                return []
            if ALL in cell.frameworks:
                if not ctx.differs(cell):
                    return None
                return list(tabs)
            return cell.targets(tabs) + list(cell.unknown)
        names = list(item.meta.get("tabs", []))
        if ALL in names:
            return None
        known = [t for t in tabs if t in names]
        unknown = [n for n in names if n not in tabs]
        for name in unknown:
            if name not in ctx.unknown:
                warn(self._loc(item),
                     f"unknown framework {name!r} in ':begin_tab:' (configured: "
                     f"{', '.join(tabs)}); its text is shown under its own tab", "tab")
        return known + unknown

    def render_d2l_group(self, token: SyntaxTreeNode) -> None:
        ctx = self.d2l
        pending: list[tuple[SyntaxTreeNode, list[str]]] = []

        def flush() -> None:
            if not pending:
                return
            order = list(dict.fromkeys(f for _, fws in pending for f in fws))
            tabs = ctx.config.tab_names
            order.sort(key=lambda f: tabs.index(f) if f in tabs else len(tabs))
            if not ctx.tabs_ui:
                for item, fws in pending:
                    for fw in fws:
                        self.current_node.extend(self._panel_nodes(item, fw))
            else:
                items: dict[str, list[SyntaxTreeNode]] = {fw: [] for fw in order}
                for item, fws in pending:
                    for fw in dict.fromkeys(fws):
                        items[fw].append(item)
                panels = []
                for fw in order:
                    content: list[nodes.Node] = []
                    for item in items[fw]:
                        content.extend(self._panel_nodes(item, fw))
                    panels.append((fw, ctx.config.label(fw), content))
                node = tab_set(panels, selected=order[0] if order else None)
                self.add_line_and_source_path(node, pending[0][0])
                self.current_node.append(node)
            pending.clear()

        for item in token.children:
            if item.type == "html_block":
                continue
            fws = self._item_frameworks(item)
            if fws is None:
                flush()
                if item.type == "fence":
                    self._render_cell_variant(item, ctx.config.default_tab, common=True)
                else:
                    self.render_children(item)
            elif fws:
                pending.append((item, fws))
        flush()

    def render_d2l_tab_prose(self, token: SyntaxTreeNode) -> None:
        """A tab block that is not part of a top-level group (e.g. inside a list)."""
        ctx = self.d2l
        fws = self._item_frameworks(token)
        if fws is None or not ctx.tabs_ui:
            self.render_children(token)
            return
        if ctx.panel is not None:
            if ctx.panel in fws:
                self.render_children(token)
            return
        panels = [(fw, ctx.config.label(fw), self._panel_nodes(token, fw)) for fw in fws]
        self.current_node.append(tab_set(panels, selected=fws[0] if fws else None))

    # ------------------------------------------------------------------ cells
    def _render_cell_variant(self, token: SyntaxTreeNode, framework: str,
                             common: bool = False) -> None:
        ctx = self.d2l
        line = token_line(token, 0)
        cell = ctx.cells.get(line)
        if cell is None or cell.setup_only:
            return
        code = ctx.config.code(cell, framework)
        outputs = ctx.outputs(framework, line)
        container = nodes.container(
            classes=["cell", "d2l-cell", f"d2l-framework-{'all' if common else framework}"],
        )
        container["d2l_framework"] = "all" if common else framework
        self.add_line_and_source_path(container, token)
        if "@save" in cell.source:
            self._add_api_ids(container, cell, framework, common)
        if not cell.hide_code:
            source = nodes.container(classes=["cell_input", "d2l-cell-input"])
            block = self.create_highlighted_code_block(
                code, _lexer(code, cell.language), source=self.document["source"], line=line
            )
            source += block
            container += source
        if outputs and not cell.hide_output:
            from .outputs import OutputContext, render_outputs

            out_ctx = OutputContext(
                write_image=ctx.write_image or _no_images,
                max_chars=ctx.config.max_output_chars,
                docname=self.sphinx_env.docname if self.sphinx_env else "",
                source=self.document["source"],
                line=line,
            )
            rendered = render_outputs(outputs, out_ctx)
            if rendered:
                out = nodes.container(classes=["cell_output", "d2l-cell-output"])
                out.extend(rendered)
                container += out
        if len(container.children):
            self.current_node.append(container)

    def _add_api_ids(self, container: nodes.Element, cell: Cell, framework: str,
                     common: bool) -> None:
        """Anchor the saved names of a cell, for the links of the API page."""
        from .library import api_anchor, api_entries, extract_saved_blocks

        ctx = self.d2l
        fws = list(cell.targets(ctx.config.tab_names)) if common else [framework]
        for fw in fws:
            blocks, _ = extract_saved_blocks([cell], fw, "")
            for entry in api_entries(blocks):
                anchor = api_anchor(fw, entry.name)
                if anchor not in self.document.ids:
                    container["ids"].append(anchor)
                    self.document.ids[anchor] = container

    def _render_cell(self, token: SyntaxTreeNode) -> None:
        """A cell outside a top-level group (nested in a list, a quote, a tab block)."""
        ctx = self.d2l
        cell = ctx.cells.get(token_line(token, 0))
        if cell is None or cell.setup_only:
            return
        if ctx.panel is not None:
            if cell.belongs_to(ctx.panel):
                self._render_cell_variant(token, ctx.panel)
            return
        fws = self._item_frameworks(token)
        if fws is None:
            self._render_cell_variant(token, ctx.config.default_tab, common=True)
        elif len(fws) == 1 or not ctx.tabs_ui:
            for fw in fws:
                self._render_cell_variant(token, fw)
        else:
            panels = [(fw, ctx.config.label(fw), self._panel_nodes(token, fw)) for fw in fws]
            self.current_node.append(tab_set(panels, selected=fws[0]))

    def render_fence(self, token: SyntaxTreeNode) -> None:
        info = (token.info or "").strip()
        attrs = parse_fence_info(info)
        if attrs.is_cell:
            return self._render_cell(token)
        if info == "toc":
            return self._render_toc(token)
        if info in ("eval_rst", "{eval_rst}"):
            return self.render_restructuredtext(token)
        if info.startswith(("{.", ".")) or (info.startswith("{") and "=" in info):
            # pandoc attributes of a plain (non-executed) block, e.g. ```{.json .output}
            node = self.create_highlighted_code_block(
                token.content, attrs.language if attrs.classes else "text",
                source=self.document["source"], line=token_line(token, 0) or None,
            )
            self.current_node.append(node)
            return
        super().render_fence(token)

    def _render_toc(self, token: SyntaxTreeNode) -> None:
        options, entries = toc_entries(token.content)
        opts = dict(options)
        nodes_list = self.run_directive(
            "toctree", "", "\n".join(entries), token_line(token, 0),
            additional_options=opts, block_text=token.content,
        )
        self.current_node += nodes_list

    # ------------------------------------------------------------------ marks and roles
    def render_d2l_role(self, token: SyntaxTreeNode) -> None:
        name = token.meta["name"]
        target = ROLE_MAP.get(name, name)
        lineno = (token_line(token) if token.map else 0) + token.meta.get("line_offset", 0)
        loc = (self.sphinx_env.docname if self.sphinx_env else "", lineno)
        if target.startswith("cite") and not self._bibtex:
            warn(loc, f"':{name}:`{token.content}`' needs sphinxcontrib-bibtex: add "
                 "'sphinxcontrib.bibtex' to extensions and set bibtex_bibfiles", "cite")
            self.current_node.append(nodes.literal(token.content, f"[{token.content}]"))
            return
        role_func, _ = roles.role(target, self.language_module_rst, lineno, self.reporter)
        if not role_func:
            warn(loc, f"unknown mark ':{name}:`{token.content}`' (kept as text)", "mark")
            self.current_node.append(nodes.Text(f":{name}:`{token.content}`"))
            return
        rawsource = f":{target}:`{token.content}`"
        inliner = MockInliner(self)
        try:
            _nodes, messages2 = role_func(target, rawsource, token.content, lineno, inliner)
        except Exception as err:  # e.g. sphinxcontrib-bibtex: "malformed citation target"
            warn(loc, f"':{name}:`{token.content}`' cannot be rendered ({err}); kept as text",
                 "cite" if target.startswith("cite") else "mark")
            self.current_node.append(nodes.Text(f":{name}:`{token.content}`"))
            return
        self.current_node += _nodes + messages2

    def render_d2l_mark(self, token: SyntaxTreeNode) -> None:
        key, value = token.meta["key"], token.meta["value"]
        if key == "bibliography":
            if not self._bibtex:
                warn(self._loc(token), f"':bibliography:`{value}`' needs sphinxcontrib-bibtex "
                     "(add 'sphinxcontrib.bibtex' to extensions)", "cite")
                return
            self.current_node += self.run_directive("bibliography", "", "", token_line(token, 0))
            return
        warn(self._loc(token), f"':{key}:`{value}`' has nothing to attach to (ignored)", "mark")

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
            caption = nodes.caption()
            self.add_line_and_source_path(caption, para)
            for child in image.walk():  # alt text tokens have no line (inline HTML needs one)
                if child.token is not None and child.token.map is None and para.map:
                    child.token.map = list(para.map)
            with self.current_node_context(caption):
                self.render_children(image)
            if caption.astext().strip():
                figure += caption
        label = meta.get("label")
        if label:
            if not any(isinstance(c, nodes.caption) for c in figure.children):
                warn(self._loc(para), f"figure ':label:`{label}`' has no caption, so it has "
                     "no number for :numref: (write the caption in the image's alt text)",
                     "label")
            figure["names"].append(nodes.fully_normalize_name(label))
            self.document.note_explicit_target(figure, figure)
        self.current_node.append(figure)

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
            table.insert(0, title)
        label = token.meta.get("d2l_label")
        if label:
            if caption_token is None:
                warn(self._loc(token), f"table ':label:`{label}`' has no ': caption' line, so it "
                     "has no number for :numref:", "label")
            table["names"].append(nodes.fully_normalize_name(label))
            self.document.note_explicit_target(table, table)

    # ------------------------------------------------------------------ HTML comments
    def _render_tokens(self, tokens: list[Token]) -> None:
        if not self.d2l.config.show_original:
            super()._render_tokens(tokens)
            return
        # as myst-parser's, plus: an original kept in a comment is shown after the block
        # that follows it (its translation)
        for token in tokens:
            if token.map:
                token.map = [token.map[0] + 1, token.map[1] + 1]
                for child in token.children or []:
                    child.map = token.map
        pending: str | None = None
        for node in SyntaxTreeNode(tokens).children:
            if node.type == "html_block":
                text = comment_text(node.content)
                if text is not None and classify_comment(text) == "original":
                    pending = text
                    continue
            self.rules[f"render_{node.type}"](node)
            if pending is not None and node.type != "myst_target":
                self.current_node.append(
                    nodes.raw("", original_html(pending), format="html",
                              classes=["d2l-original"])
                )
                pending = None

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


_MAGIC_LINE = re.compile(r"^[ \t]*[!%]", re.MULTILINE)


def _lexer(code: str, language: str) -> str:
    """``ipython3`` for Python cells with ``!shell`` / ``%magic`` lines (d2l-en's
    ``!ls -lh my_mlp*``), which the Python lexer reports as errors; when IPython's
    lexer is installed."""
    if language in ("python", "python3", "ipython") and _MAGIC_LINE.search(code):
        try:
            from pygments.lexers import get_lexer_by_name

            get_lexer_by_name("ipython3")
        except Exception:
            return language
        return "ipython3"
    return language


def _no_images(data: bytes, ext: str) -> str:
    raise RuntimeError("no image writer")


def _output_fingerprint(outputs: list[dict[str, Any]] | None) -> str:
    if not outputs:
        return ""
    import json

    return hashlib.sha256(json.dumps(outputs, sort_keys=True).encode()).hexdigest()


def page_frameworks(tokens: Sequence[Token], cells: Sequence[Cell],
                    tabs: Sequence[str]) -> set[str]:
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


class D2lParser(MystParser):
    """Parse ``.md`` pages: MyST markdown plus the d2lbook dialect."""

    def parse(self, inputstring: str, document: nodes.document) -> None:
        env = document.settings.env
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
        tabs = cfg.tab_names
        diagnostics: list[Diagnostic] = list(mdenv.get("d2l_diagnostics", []))
        cells = cells_from_tokens(tokens, tabs, diagnostics)
        diagnostics.extend(unterminated_fences(tokens, inputstring))
        for diag in sorted(diagnostics, key=lambda d: d.line):
            warn((env.docname, diag.line), diag.message, diag.subtype)
        results = page_results(env, env.docname, cells)
        ctx = PageContext(
            config=cfg,
            cells={c.line: c for c in cells},
            results=results,
            tabs_ui=False,
            write_image=image_writer(env),
        )
        # tab bars only where the page has more than one framework to show (as d2lbook)
        ctx.tabs_ui = len(page_frameworks(tokens, cells, tabs)) > 1 or any(
            ALL in c.frameworks and not c.setup_only and ctx.differs(c) for c in cells)
        md.options["d2l_ctx"] = ctx
        md.renderer.render(tokens, md.options, mdenv)

