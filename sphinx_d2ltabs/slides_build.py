"""Sphinx glue: the reveal.js slides of an HTML build (``d2l_slides``).

HTML builds (``html``, ``dirhtml``) with ``d2l_slides = [framework, ...]``:

* ``config-inited``: the vendored reveal.js (``slides_static/reveal/``) joins
  ``html_static_path``: Sphinx copies it once to ``<outdir>/_static/reveal/``;
* ``env-updated``: the pages that have slide marks (:func:`.slides.mark_page`), with the
  chosen frameworks they have a notebook in (``state.slide_pages``: the decks to write,
  and the "Slides" link of :mod:`.publish`); a page is read again only when its source
  changed (the manifest ``d2l_slides.json`` in the doctree folder keeps its hash);
* while the pages are written (:mod:`.after_write`), else at ``build-finished``: the
  decks (:mod:`.slides_files`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any

from sphinx.application import Sphinx
from sphinx.util import logging

from .state import get_state
from .warnings_ import D2lWarning, warn

logger = logging.getLogger(__name__)
# (notebook_files and slides_files are imported by builds that make slides)

STATIC = os.path.join(os.path.dirname(__file__), "slides_static")
"""Its ``reveal/`` folder is copied to ``<outdir>/_static/reveal/``."""
HTML_BUILDERS = ("html", "dirhtml")


def _enabled(app: Sphinx) -> bool:
    cfg = get_state(app.env).config
    return (app.builder is not None and app.builder.name in HTML_BUILDERS
            and cfg is not None and bool(cfg.slides))


def add_static_path(app: Sphinx, config: Any) -> None:
    """``config-inited``: reveal.js joins the static files when ``d2l_slides`` is set
    (before Sphinx compares the configuration with the last build's)."""
    value = config.d2l_slides
    if isinstance(value, (list, tuple)) and value and STATIC not in config.html_static_path:
        config.html_static_path.append(STATIC)


# ---------------------------------------------------------------------- env-updated


def collect_slide_pages(app: Sphinx, env: Any) -> list[str]:
    """``env-updated``: the pages with slide marks → the chosen frameworks they have a
    notebook in (``state.slide_pages``). A page is read again only when its source (or
    ``d2l_tabs``) changed: the manifest keeps, per page, its hash and the frameworks of
    its notebooks if it has marks."""
    state = get_state(env)
    state.slide_pages = {}
    if not _enabled(app):
        return []
    from .notebook_files import digest, read_json
    from .phase import md_pages
    from .slides_files import FORMAT, MANIFEST, write_json

    cfg = state.cfg
    path = os.path.join(str(app.doctreedir), MANIFEST)
    manifest = read_json(path)
    old = manifest.get("marked") if manifest.get("format") == FORMAT else None
    old = old if isinstance(old, dict) else {}
    marked: dict[str, list[Any]] = {}
    finder = _MarkFinder(state)
    for docname, source in md_pages(env):
        try:
            with open(source, "rb") as fh:
                raw = fh.read()
        except OSError:
            continue
        stamp = digest(hashlib.sha256(raw).hexdigest(), json.dumps(cfg.tab_names))
        entry = old.get(docname)
        if not (isinstance(entry, list) and len(entry) == 2 and entry[0] == stamp
                and isinstance(entry[1], list)):
            entry = [stamp, finder.frameworks(source, raw)]
        marked[docname] = entry
        chosen = [fw for fw in cfg.slides if fw in entry[1]]
        if chosen:
            state.slide_pages[docname] = chosen
    if marked != old:
        write_json(path, {**manifest, "format": FORMAT, "marked": marked,
                          "pages": manifest.get("pages", {})})
    return []


class _MarkFinder:
    """Whether a page has slide marks, and the frameworks of its notebooks."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self._md: Any = None

    def frameworks(self, source: str, raw: bytes) -> list[str]:
        """The frameworks of the page's notebooks if it has marks, else none."""
        from .mdit_d2l import dialect_md_parser
        from .notebook_files import page_reader
        from .notebooks import notebook_frameworks
        from .slides import has_marks, mark_page

        self._md = self._md or dialect_md_parser()
        if not has_marks(mark_page(raw.decode("utf-8", errors="replace"), self._md)):
            return []
        info = page_reader(self.state).read(source)
        return notebook_frameworks(info.cells, self.state.cfg.tab_names) if info else []


# ---------------------------------------------------------------------- the decks


def slides_wanted(app: Sphinx) -> bool:
    """Whether this build writes slide decks (an HTML build with ``d2l_slides``)."""
    return _enabled(app)


def write_slides_step(app: Sphinx) -> None:
    """The decks of the build, and a line that says what was written (run by
    :mod:`.after_write` while the pages are written, or at ``build-finished``)."""
    from .slides_files import SLIDES_DIR, write_slides

    start = time.monotonic()
    try:
        writer = write_slides(app)
    except OSError as err:  # (a full disk, a read-only folder: once, not per page)
        warn(logger, f"cannot write the slides into {SLIDES_DIR}/: {err.strerror or err}",
             D2lWarning.OUTPUT)
        return
    logger.info(f"[d2l] slides: {writer.written} written, {writer.unchanged} unchanged, "
                f"in {time.monotonic() - start:.1f} s ({SLIDES_DIR}/)")


def setup_slides(app: Sphinx) -> None:
    app.connect("config-inited", add_static_path)
    app.connect("env-updated", collect_slide_pages)
    # (the decks: .after_write)
