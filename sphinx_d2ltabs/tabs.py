"""Framework tab sets, built as sphinx-design components.

A tab set is sphinx-design's format-agnostic doctree (``container(design_component=
"tab-set")`` > ``tab-item`` > ``rubric`` label + ``tab-content``); sphinx-design's own
HTML post-transform turns it into radio inputs whose labels carry
``data-sync-group="framework"`` / ``data-sync-id="<name>"``, so one click switches
every set on the page and the choice is remembered in ``localStorage`` across pages.

For non-HTML builders :class:`NonHtmlTabs` keeps either every tab (sphinx-design's
fallback: each tab's label as a rubric, then its content) or only the default one (the
builder's format is read from the build state, see :mod:`.builder`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx_design.shared import create_component, is_component

from .builder import connect_record_builder
from .state import get_state

SYNC_GROUP = "framework"


def tab_set(items: Sequence[tuple[str, str, list[nodes.Node]]], selected: str | None = None,
            ) -> nodes.container:
    """A synced tab set from ``(framework name, label, content nodes)`` items."""
    tabset = create_component("tab-set", classes=["sd-tab-set", "d2l-tabs"])
    for name, label, content in items:
        item = create_component(
            "tab-item",
            classes=["sd-tab-item", f"d2l-tab-{name}"],
            selected=(name == selected),
        )
        rubric = nodes.rubric(label, label, classes=["sd-tab-label"])
        rubric["sync_id"] = name
        rubric["sync_group"] = SYNC_GROUP
        item += rubric
        body = create_component("tab-content", classes=["sd-tab-content"])
        body.extend(content)
        item += body
        item["d2l_framework"] = name
        tabset += item
    return tabset


class NonHtmlTabs(SphinxPostTransform):
    """Non-HTML output: show only the default framework's tab when configured so."""

    default_priority = 190  # before sphinx-design's HTML transform (200); we skip HTML anyway

    def run(self, **kwargs: Any) -> None:
        state = get_state(self.env)
        if state.builder_format == "html":
            return
        cfg = state.cfg
        if cfg.nonhtml_tabs != "default":
            return
        for tabset in list(self.document.findall(nodes.container)):
            if not (is_component(tabset, "tab-set") and "d2l-tabs" in tabset["classes"]):
                continue
            items = [c for c in tabset.children if is_component(c, "tab-item")]
            keep = next((i for i in items if i.get("d2l_framework") == cfg.default_tab), None)
            keep = keep or (items[0] if items else None)
            if keep is None:
                tabset.parent.remove(tabset)
                continue
            content = [c for c in keep.children if is_component(c, "tab-content")]
            # (not replace_self: it gives the tab set's classes to the first node kept and
            # fails when nothing is kept, a default tab with no content)
            tabset.parent.replace(tabset, list(content[0].children) if content else [])


def setup_tabs(app: Sphinx) -> None:
    app.add_post_transform(NonHtmlTabs)
    connect_record_builder(app)  # the builder's format, for NonHtmlTabs
