"""Circular tocs: a warning, not a crashed build.

Sphinx 9.0 recurses without end (``RecursionError`` in ``_traverse_toctree`` while it
collects the pages' relations) when a page is listed, directly or not, below itself: a
``toc`` typo in a book would kill the build. At ``env-updated``, before Sphinx walks the
tree, each entry that closes a cycle is removed from the navigation tree
(``env.toctree_includes``) with a ``d2l.toc`` warning at the page that lists it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging

from .warnings_ import D2lWarning, warn

logger = logging.getLogger(__name__)


def cycle_edges(includes: dict[str, list[str]], roots: Iterable[str]) -> list[tuple[str, str]]:
    """The (parent, child) entries that close a cycle, found by a depth-first walk from
    each root in turn (iterative: a deep toc does not exhaust the stack)."""
    done: set[str] = set()
    found: list[tuple[str, str]] = []
    for root in roots:
        if root in done:
            continue
        on_path = {root}
        stack = [(root, iter(list(includes.get(root, ()))))]
        while stack:
            parent, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                on_path.discard(parent)
                done.add(parent)
            elif child in on_path:
                found.append((parent, child))
            elif child not in done:
                on_path.add(child)
                stack.append((child, iter(list(includes.get(child, ())))))
    return found


def break_toc_cycles(app: Sphinx, env: BuildEnvironment) -> list[str]:
    includes = env.toctree_includes
    roots = [app.config.root_doc, *sorted(includes)]
    for parent, child in cycle_edges(includes, roots):
        includes[parent] = [c for c in includes.get(parent, []) if c != child]
        warn(logger, f"circular toc: '{child}' is listed below '{parent}', which is itself "
             f"below '{child}'; the entry is left out of the navigation", D2lWarning.TOC,
             location=parent)
    return []


def setup_toc(app: Sphinx) -> None:
    # before the handlers that walk the tree (sphinxcontrib-bibtex's runs at 500)
    app.connect("env-updated", break_toc_cycles, priority=400)
