"""``html_static_path`` the same at every build: no "The configuration has changed (1
option: 'html_static_path')" on each rebuild.

Sphinx compares the configuration with the one pickled with the environment when it
loads the environment, before ``builder-inited``. sphinx-design appends its static folder
at ``builder-inited``, so the pickled list always has one entry more than the new one.
Its folder joins the list at ``config-inited`` instead (as the extension's own static
folder does, :mod:`.outputs`), and the copy sphinx-design appends is dropped again right
after its handler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sphinx.application import Sphinx

#: after sphinx-design's ``builder-inited`` handler (the default priority, 500)
PRIORITY = 800


def design_static_dir() -> str | None:
    """sphinx-design's static folder, where its version says where it is."""
    try:
        from sphinx_design import extension
    except ImportError:
        return None
    path = getattr(extension, "STATIC_DIR", None)
    return str(path) if path is not None else None


def add_early(app: Sphinx, config: Any) -> None:
    """``config-inited``: sphinx-design's folder joins ``html_static_path`` now."""
    path = design_static_dir()
    paths = config.html_static_path
    if path is not None and isinstance(paths, list) and path not in paths:
        paths.append(path)


def drop_repeats(app: Sphinx) -> None:
    """``builder-inited``: each folder once, where it came first."""
    paths = app.config.html_static_path
    if isinstance(paths, list):
        unique = list(dict.fromkeys(paths))
        if len(unique) != len(paths):
            paths[:] = unique


def setup_static_paths(app: Sphinx) -> None:
    app.connect("config-inited", add_early)
    app.connect("builder-inited", drop_repeats, priority=PRIORITY)
