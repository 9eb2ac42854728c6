"""The builder of this build, recorded on the build state at ``builder-inited``.

The post-transforms that pick a cell's output (:class:`.outputs.SelectMimeType`) and the
tabs kept outside HTML (:class:`.tabs.NonHtmlTabs`) depend on the builder, but a
transform has no public way to it: ``SphinxTransform.app`` is deprecated since Sphinx 9.0
and ``env._builder_cls`` is private (and missing before 9.0). So the builder's name,
format and usable image types are written on :class:`~.state.D2lState` when the app is
at hand, and the transforms read them with :func:`~.state.get_state`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sphinx.transforms.post_transforms.images import ImageConverter

from .state import get_state

if TYPE_CHECKING:
    from sphinx.application import Sphinx

#: after the extension's own ``builder-inited`` handler (priority 500), which resets the
#: state of the previous build
PRIORITY = 600


def usable_image_types(app: Sphinx) -> frozenset[str] | None:
    """Image types the builder can use, directly or through a registered converter.

    None where the builder does not say (keep every image): an SVG-only figure must not
    become ``\\includegraphics{x.svg}`` in LaTeX without a converter.
    """
    supported = set(getattr(app.builder, "supported_image_types", None) or [])
    if not supported:
        return None
    for transform in app.registry.get_post_transforms():
        if isinstance(transform, type) and issubclass(transform, ImageConverter):
            for source, dest in getattr(transform, "conversion_rules", []):
                if dest in supported:
                    supported.add(source)
    return frozenset(supported)


def record_builder(app: Sphinx) -> None:
    """``builder-inited``: note the builder on the build state."""
    state = get_state(app.env)
    state.builder_name = app.builder.name
    state.builder_format = app.builder.format
    state.image_types = usable_image_types(app)


def connect_record_builder(app: Sphinx) -> None:
    """Connect :func:`record_builder` once (outputs and tabs both need it)."""
    listeners = app.events.listeners.get("builder-inited", [])
    if not any(listener.handler is record_builder for listener in listeners):
        app.connect("builder-inited", record_builder, priority=PRIORITY)
