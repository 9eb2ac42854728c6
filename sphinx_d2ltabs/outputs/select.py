"""Per-builder selection: the post-transform that keeps one mime type per bundle.

For builders other than HTML ones, raw HTML outputs are dropped and ANSI sequences are
stripped from ``d2l-ansi`` literal blocks. The builder is read from the build state
(recorded at ``builder-inited`` by :mod:`..builder`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

from ..state import get_state
from .ansi import ANSI_LANGUAGE
from .text import strip_ansi

#: mime priority per builder family (first = best)
HTML_PRIORITY = ("text/html", "image/svg+xml", "image/png", "image/jpeg", "image/gif",
                 "text/markdown", "text/latex", "text/plain")
LATEX_PRIORITY = ("application/pdf", "image/png", "image/jpeg", "image/svg+xml", "text/latex",
                  "text/markdown", "text/plain")
TEXT_PRIORITY = ("text/plain", "image/png", "image/jpeg", "image/gif", "image/svg+xml",
                 "text/markdown", "text/latex")
HTML_BUILDERS = frozenset({"html", "dirhtml", "singlehtml", "epub"})
KNOWN_MIMES = frozenset(HTML_PRIORITY + LATEX_PRIORITY + TEXT_PRIORITY)


def priority_for(base: tuple[str, ...], builder: str,
                 overrides: Sequence[Sequence[Any]] = ()) -> tuple[str, ...]:
    """``base`` (numbered 10, 20, ...) with ``d2l_mime_priority_overrides`` applied for
    ``builder``: ``(builder or '*', mime, priority)``, lower first, None removes the type
    (the rule of MyST-NB's ``nb_mime_priority_overrides``)."""
    numbers: dict[str, int | None] = {mime: 10 * (i + 1) for i, mime in enumerate(base)}
    for name, mime, number in overrides:
        if name in ("*", builder):
            numbers[mime] = number
    ranked = sorted((n, i, m) for i, (m, n) in enumerate(numbers.items()) if n is not None)
    return tuple(mime for _, _, mime in ranked)


def _best(bundle: nodes.container, priority: tuple[str, ...], target: str,
          usable: frozenset[str] | None) -> nodes.container | None:
    """The child of ``bundle`` to keep for this builder, if any."""
    choices: dict[str, nodes.container] = {}
    for child in bundle.children:
        if isinstance(child, nodes.container) and "mime_type" in child:
            formats = child.get("d2l_formats")
            mime = child["mime_type"]
            if (not formats or target in formats) and (
                    usable is None or not mime.startswith("image/") or mime in usable):
                choices.setdefault(mime, child)
    best = next((m for m in priority if m in choices), None)
    return None if best is None else choices[best]


class SelectMimeType(SphinxPostTransform):
    """Keep, in each mime bundle, the best representation for the current builder.

    For builders other than HTML ones, ANSI sequences are stripped from ``d2l-ansi``
    literal blocks too.
    """

    default_priority = 4  # before image conversion (10) and reference resolution

    def run(self, **kwargs: Any) -> None:
        state = get_state(self.env)
        fmt = state.builder_format
        html = state.builder_name in HTML_BUILDERS or fmt == "html"
        priority = priority_for(
            HTML_PRIORITY if html else LATEX_PRIORITY if fmt == "latex" else TEXT_PRIORITY,
            state.builder_name or "",
            state.config.mime_priority_overrides if state.config is not None else ())
        target = "html" if html else fmt
        for bundle in list(self.document.findall(nodes.container)):
            if "mime_bundle" not in bundle["classes"]:
                continue
            best = _best(bundle, priority, target, state.image_types)
            if best is None:
                bundle.parent.remove(bundle)
                continue
            chosen = best.children
            bundle.children = []
            bundle.extend(chosen)
        if not html:
            self._strip_html_and_ansi()

    def _strip_html_and_ansi(self) -> None:
        for raw in list(self.document.findall(nodes.raw)):
            if raw.get("format") == "html" and "output" in raw["classes"]:
                raw.parent.remove(raw)
        for block in self.document.findall(nodes.literal_block):
            if block.get("language") == ANSI_LANGUAGE:
                plain = strip_ansi(block.astext())
                block.rawsource = plain
                block.children = []
                block += nodes.Text(plain)
                block["language"] = "none"
