"""The notebooks and slide decks, written while Sphinx writes the pages.

Both are made from what reading left (the pages, their references, the cached results)
and write only their own files (``_notebooks/``, ``_slides/``, their manifests in the
doctree folder): nothing in them waits for the HTML, and the HTML does not wait for them.
So at ``write-started`` of a build that read pages, they run in a process forked from
this one with Sphinx's :class:`~sphinx.util.parallel.ParallelTasks`, as ``-j`` writes
pages: their warnings and lines are collected there and emitted here, counted as any
other (``-W``), when ``build-finished`` waits for it. A real-pages build (16 pages) spent
0.9 s on them after the HTML; that now overlaps the HTML's 2 s (``bench/README.md``).

They run at ``build-finished`` in this process, as before, where forking is not available
(not POSIX) and in a build that read no page (a no-op: the checks that find nothing to
write cost less than a fork). A build that failed writes neither: a process already
started is stopped.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.parallel import ParallelTasks, parallel_available

from .state import get_state

logger = logging.getLogger(__name__)

STEPS = (("publish", "notebooks_wanted", "write_notebooks_step"),
         ("slides_build", "slides_wanted", "write_slides_step"))
"""(module, whether the build wants it, the step), in the order they run."""


def _steps(app: Sphinx) -> list[Callable[[Sphinx], None]]:
    """The steps this build wants (their modules imported only by builds that do)."""
    found = []
    for module_name, wanted, step in STEPS:
        module = importlib.import_module(f".{module_name}", __package__)
        if getattr(module, wanted)(app):
            found.append(getattr(module, step))
    return found


def _run(app: Sphinx, steps: list[Callable[[Sphinx], None]]) -> None:
    for step in steps:
        step(app)


def on_env_before_read_docs(app: Sphinx, env: Any, docnames: list[str]) -> None:
    get_state(env).pages_read = bool(docnames)


def on_write_started(app: Sphinx, builder: Any) -> None:
    state = get_state(app.env)
    if not (parallel_available and state.pages_read):
        return
    steps = _steps(app)
    if not steps:
        return
    tasks = ParallelTasks(1)
    tasks.add_task(lambda: _run(app, steps))  # (forked now: no pickling)
    state.after_write = tasks


def on_build_finished(app: Sphinx, exception: BaseException | None) -> None:
    state = get_state(app.env)
    tasks, state.after_write = state.after_write, None
    if exception is not None:
        if tasks is not None:
            tasks.terminate()
        return
    if tasks is not None:
        tasks.join()  # (its lines and warnings, emitted here)
    else:
        _run(app, _steps(app))


def setup_after_write(app: Sphinx) -> None:
    app.connect("env-before-read-docs", on_env_before_read_docs)
    app.connect("write-started", on_write_started)
    app.connect("build-finished", on_build_finished)
