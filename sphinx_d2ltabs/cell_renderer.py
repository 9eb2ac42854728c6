"""The renderer's cells and tabs: executable cells with their outputs, framework tab sets.

:class:`CellRenderer` is myst-parser's Sphinx renderer plus the render methods for the
d2l groups (consecutive cells and ``:begin_tab:`` blocks of different frameworks, one tab
set), the cells themselves (code, then outputs from :mod:`.outputs`) and the
```` ```toc ```` block. :class:`.renderer.D2lRenderer` adds the marks, figures, tables and
comments on top of it. :class:`PageContext` is what they know of the page.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from docutils import nodes
from markdown_it.tree import SyntaxTreeNode
from myst_parser.mdit_to_docutils.base import token_line
from myst_parser.mdit_to_docutils.sphinx_ import SphinxRenderer
from myst_parser.warnings_ import MystWarnings
from sphinx.util import logging

from .cells import ALL, Cell, parse_fence_info
from .config import D2lConfig
from .dialect import toc_entries
from .state import get_state
from .tabs import tab_set
from .warnings_ import D2lWarning, warn

logger = logging.getLogger(__name__)

#: the (item, frameworks it is shown for) of a group waiting for its tab set
Pending = list[tuple[SyntaxTreeNode, list[str]]]


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
        outputs: list[dict[str, Any]] | None = result.outputs.get(line)
        return outputs


class CellRenderer(SphinxRenderer):
    """myst-parser's Sphinx renderer plus d2l groups, tab blocks, cells and tocs."""

    @property
    def d2l(self) -> PageContext:
        ctx: PageContext = self.md_options["d2l_ctx"]
        return ctx

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
    def _collect(self) -> Iterator[nodes.container]:
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
            warn(logger, f"unknown framework {name!r} in ':begin_tab:' (configured: "
                 f"{', '.join(tabs)}); its text is shown under its own tab", D2lWarning.TAB,
                 location=self._loc(item))
        return known + unknown

    def _flush_group(self, pending: Pending) -> None:
        """The pending items of a group: one tab set (or, without tab bars, in a row)."""
        if not pending:
            return
        ctx = self.d2l
        tabs = ctx.config.tab_names
        order = list(dict.fromkeys(f for _, fws in pending for f in fws))
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

    def render_d2l_group(self, token: SyntaxTreeNode) -> None:
        pending: Pending = []
        for item in token.children:
            if item.type == "html_block":
                continue
            fws = self._item_frameworks(item)
            if fws is None:
                self._flush_group(pending)
                if item.type == "fence":
                    self._render_cell_variant(item, self.d2l.config.default_tab, common=True)
                else:
                    self.render_children(item)
            elif fws:
                pending.append((item, fws))
        self._flush_group(pending)

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
        container = nodes.container(
            classes=["cell", "d2l-cell", f"d2l-framework-{'all' if common else framework}"],
        )
        container["d2l_framework"] = "all" if common else framework
        self.add_line_and_source_path(container, token)
        if "@save" in cell.source:
            self._add_api_ids(container, cell, framework, common)
        if not cell.hide_code:
            source = nodes.container(classes=["cell_input", "d2l-cell-input"])
            source += self.create_highlighted_code_block(
                code, _lexer(code, cell.language), source=self.document["source"], line=line
            )
            container += source
        outputs = ctx.outputs(framework, line)
        if outputs and not cell.hide_output:
            container.extend(self._output_nodes(outputs, line))
        if len(container.children):
            self.current_node.append(container)

    def _output_nodes(self, outputs: list[dict[str, Any]], line: int) -> list[nodes.Element]:
        """A cell's output container (none when nothing in ``outputs`` can be shown)."""
        from .outputs import OutputContext, render_outputs

        ctx = self.d2l
        out_ctx = OutputContext(
            write_image=ctx.write_image or _no_images,
            max_chars=ctx.config.max_output_chars,
            docname=self.sphinx_env.docname if self.sphinx_env else "",
            source=self.document["source"],
            line=line,
            stderr=ctx.config.output_stderr,
            merge_streams=ctx.config.merge_streams,
        )
        rendered = render_outputs(outputs, out_ctx)
        if not rendered:
            return []
        out = nodes.container(classes=["cell_output", "d2l-cell-output"])
        out.extend(rendered)
        return [out]

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
        """A ```` ```toc ```` block: Sphinx's toctree directive with its entries.

        (No ``block_text=``: run_directive has that keyword from myst-parser 5.2 on
        only; the directive's block text is then its content, the entries.)
        """
        options, entries = toc_entries(token.content)
        self.current_node += self.run_directive(
            "toctree", "", "\n".join(entries), token_line(token, 0),
            additional_options=dict(options),
        )


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
    return hashlib.sha256(json.dumps(outputs, sort_keys=True).encode()).hexdigest()
