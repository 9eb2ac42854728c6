"""Writing the reveal.js decks of an HTML build (``build-finished``, :mod:`.slides_build`).

For every page of ``state.slide_pages`` and each of its frameworks:
``<outdir>/_slides/<framework>/<docname>.html`` (:func:`.slides.slides_notebook` rendered
by :mod:`.slides_render`), the local images its slides show next to it, at their paths
in the source folder; and ``<outdir>/_slides/d2l-slides.css``, shared by the decks.

Code and outputs are the notebooks' (:mod:`.notebooks`: this build's results, else the
cache's; none with ``d2l_execute = 'off'``); references are resolved as in the notebooks
(:mod:`.notebook_refs`) and link to the book's pages. The manifest (``d2l_slides.json``
in the doctree folder) records a fingerprint of what each page's decks depend on (the
source, the configuration, the cache keys of its results, the references of the book,
MathJax): an unchanged page is not read again. Files are written only when their bytes
change; the files of pages that lost their marks are removed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import TYPE_CHECKING, Any

from sphinx.application import Sphinx
from sphinx.util import docname_join, logging

from .fileio import atomic_write, write_unless_same
from .notebook_files import (
    PageResults,
    digest,
    local_images,
    page_reader,
    read_json,
    relative_inside,
)
from .notebook_refs import Resolutions, SphinxReferences
from .notebooks import Code, Link, Prose
from .state import get_state
from .warnings_ import D2lWarning, warn

if TYPE_CHECKING:
    from .runner import PagePlan
    from .slides_render import DeckRenderer

logger = logging.getLogger(__name__)

SLIDES_DIR = "_slides"
CSS_FILE = "d2l-slides.css"
MANIFEST = "d2l_slides.json"
FORMAT = "1"
"""Part of every fingerprint: bump it when the decks' rules change."""


class SlideReferences(SphinxReferences):
    """References of a deck: the notebooks' texts, linked to the book's HTML pages."""

    def __init__(self, resolutions: Resolutions, docname: str, app: Sphinx) -> None:
        super().__init__(resolutions, docname)
        self.app = app
        self.root = "../" * (2 + docname.count("/"))  # _slides/<fw>/<docname>.html

    def page_url(self, docname: str, anchor: str = "") -> str:
        if not docname:
            return ""
        if self.res.baseurl:
            return self.res.url(self.docname, docname, anchor)
        uri = self.app.builder.get_target_uri(docname)
        return self.root + uri + (f"#{anchor}" if anchor else "")

    def role(self, name: str, target: str) -> Link | None:
        found = self.res.resolve(name, target)
        if found is None:
            return None
        text, docname, anchor = found
        return Link(text, self.page_url(docname, anchor))

    def toc(self, entry: str) -> Link | None:
        docname = docname_join(self.docname, entry.strip()).lstrip("/")
        link = super().toc(entry)
        return Link(link.text, self.page_url(docname)) if link is not None else None


class SlideWriter:
    """Writes the decks of one build's pages."""

    def __init__(self, app: Sphinx, manifest: dict[str, Any]) -> None:
        from .notebook_refs import references_fingerprint
        from .slides_render import DeckRenderer

        self.app = app
        self.state = get_state(app.env)
        self.cfg = self.state.cfg
        self.root = os.path.join(str(app.outdir), SLIDES_DIR)
        pages = manifest.get("pages") if manifest.get("format") == FORMAT else None
        self.old: dict[str, Any] = pages if isinstance(pages, dict) else {}
        self.resolutions = Resolutions(app)
        self.mathjax, self.mathjax_config = _mathjax(app)
        self.base = digest(FORMAT, json.dumps(dataclasses.asdict(self.cfg), sort_keys=True,
                                              default=str), references_fingerprint(app),
                           str(app.srcdir), self.mathjax,
                           json.dumps(self.mathjax_config, sort_keys=True, default=str),
                           str(app.config.language or "en"))
        self.renderer: DeckRenderer = DeckRenderer()
        self.written = 0
        self.unchanged = 0
        self._md: Any = None
        self.results = PageResults(self.state)

    def page(self, docname: str, path: str, frameworks: list[str]) -> dict[str, Any]:
        """Write a page's decks (unless unchanged); its manifest entry."""
        from .notebooks import split_page
        from .runner import plan_page
        from .slides import mark_page

        with open(path, "rb") as fh:
            raw = fh.read()
        keys: dict[str, str] = {}
        if self.with_outputs:  # (the execution phase left the pages index: cheap)
            info = page_reader(self.state).read(path)
            keys = plan_page(docname, path, info.cells if info is not None else [],
                             self.cfg, self.state.extras, self.state.lib_path).keys
        title = self.app.env.titles.get(docname)
        title_text = title.astext() if title is not None else docname
        fingerprint = digest(self.base, hashlib.sha256(raw).hexdigest(), title_text,
                             json.dumps([frameworks, keys], sort_keys=True))
        old = self.old.get(docname)
        if isinstance(old, dict) and old.get("fp") == fingerprint and self._still_there(old):
            self.unchanged += sum(rel.endswith(".html") for rel in old["files"])
            return dict(old)
        if self._md is None:
            from .mdit_d2l import dialect_md_parser

            self._md = dialect_md_parser()
        text = mark_page(raw.decode("utf-8", errors="replace"), self._md)
        refs = SlideReferences(self.resolutions, docname, self.app)
        parts = split_page(text, self.cfg.tab_names, refs, self._md)
        plan = plan_page(docname, path, [p.cell for p in parts if isinstance(p, Code)],
                         self.cfg, self.state.extras, self.state.lib_path) \
            if self.with_outputs else None
        files: list[str] = []
        for fw in frameworks:
            files += self._deck(docname, fw, parts, plan, title_text)
        return {"fp": fingerprint, "files": files}

    @property
    def with_outputs(self) -> bool:
        return self.cfg.execute != "off"

    def _deck(self, docname: str, fw: str, parts: list[Any], plan: PagePlan | None,
              title: str) -> list[str]:
        """Write one deck and its images; their paths under ``_slides/``."""
        from .slides import slides_notebook
        from .slides_render import DeckOptions

        result = self.results.get(plan, fw) if plan is not None else None
        nb = slides_notebook(parts, fw, lambda c: str(self.cfg.code(c, fw)), result,
                             require_marks=False)
        if nb is None:  # (not with require_marks=False)
            return []
        up = "../" * (1 + docname.count("/"))  # to _slides/
        options = DeckOptions(title=title, static=up + "../_static", css=up + CSS_FILE,
                              mathjax=_relative(self.mathjax, up + "../_static/"),
                              mathjax_config=self.mathjax_config,
                              max_output_chars=self.cfg.max_output_chars,
                              lang=str(self.app.config.language or "en"))
        rel = f"{fw}/{docname}.html"
        self.put(rel, self.renderer.deck(nb, options).encode("utf-8"))
        out = [rel]
        srcdir = str(self.app.srcdir)
        shown = [Prose(c.source) for c in nb.cells if c.cell_type == "markdown"]
        for image in local_images(shown, fw, docname, srcdir=srcdir):
            try:
                with open(os.path.join(srcdir, *image.split("/")), "rb") as fh:
                    self.put(f"{fw}/{image}", fh.read())
            except OSError as err:
                warn(logger, f"slides image {image} cannot be copied: "
                     f"{err.strerror or err}", D2lWarning.OUTPUT, location=docname)
                continue
            out.append(f"{fw}/{image}")
        return out

    def put(self, rel: str, data: bytes) -> None:
        """Write ``_slides/<rel>`` unless it holds ``data`` (decks are counted)."""
        written = write_unless_same(os.path.join(self.root, *rel.split("/")), data)
        if rel.endswith(".html"):
            if written:
                self.written += 1
            else:
                self.unchanged += 1

    def _still_there(self, entry: dict[str, Any]) -> bool:
        files = entry.get("files")
        return isinstance(files, list) and all(
            relative_inside(rel) and os.path.isfile(os.path.join(self.root, *rel.split("/")))
            for rel in files)

    def remove_stale(self, pages: dict[str, dict[str, Any]]) -> None:
        """Remove the files of the last build that no page has now."""
        now = {rel for entry in pages.values() for rel in entry["files"]}
        for entry in self.old.values():
            for rel in entry.get("files", []) if isinstance(entry, dict) else []:
                if relative_inside(rel) and rel not in now:
                    try:
                        os.remove(os.path.join(self.root, *rel.split("/")))
                    except OSError:
                        continue


def write_slides(app: Sphinx) -> SlideWriter:
    """Write the decks of the build (see the module's docstring)."""
    from .phase import md_pages
    from .slides_render import deck_css

    manifest_path = os.path.join(str(app.doctreedir), MANIFEST)
    manifest = read_json(manifest_path)
    writer = SlideWriter(app, manifest)
    slide_pages = get_state(app.env).slide_pages
    pages: dict[str, dict[str, Any]] = {}
    for docname, path in md_pages(app.env):
        if docname not in slide_pages:
            continue
        try:
            pages[docname] = writer.page(docname, path, slide_pages[docname])
        except OSError:  # (a full disk, a read-only folder: once, by the caller)
            raise
        except Exception as err:  # a page the converter can't handle: not a failed build
            warn(logger, f"the slides of this page cannot be made ({type(err).__name__}: "
                 f"{err})", D2lWarning.OUTPUT, location=docname)
    writer.remove_stale(pages)
    writer.put(CSS_FILE, deck_css().encode("utf-8"))
    new = {**manifest, "format": FORMAT, "pages": pages}
    new.setdefault("marked", {})
    if new != manifest:
        write_json(manifest_path, new)
    return writer


# ---------------------------------------------------------------------- helpers


def _mathjax(app: Sphinx) -> tuple[str, dict[str, Any]]:
    """The book's MathJax: its URL and configuration (Sphinx's ``mathjax_path``,
    ``mathjax4_config`` / ``mathjax3_config``)."""
    config = app.config
    url = str(getattr(config, "mathjax_path", "") or "")
    conf = (getattr(config, "mathjax4_config", None) or getattr(config, "mathjax3_config",
                                                                 None) or {})
    return url, dict(conf) if isinstance(conf, dict) else {}


def _relative(url: str, static: str) -> str:
    """Sphinx's rule: a relative ``mathjax_path`` is relative to ``_static/``."""
    if not url or "://" in url or url.startswith(("/", "data:")):
        return url
    return static + url


def write_json(path: str, data: dict[str, Any]) -> None:
    try:
        atomic_write(path, json.dumps(data, sort_keys=True))
    except OSError as err:
        warn(logger, f"cannot write {MANIFEST}: {err.strerror or err}", D2lWarning.OUTPUT)
