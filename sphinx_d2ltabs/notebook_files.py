"""Writing the notebooks, their images and the zips of an HTML build (``build-finished``).

For every page (``.md``) and each framework of :func:`.notebooks.notebook_frameworks`:
``<root>/<framework>/<docname>.ipynb``, with the local images its prose shows copied to
``<root>/<framework>/<their path in the source folder>`` (the folder of a framework is
self-contained: it is what a zip holds, and what a Colab repository would hold); then
``<root>/<book>-<framework>.zip`` (``<book>-<framework>/...`` inside) for each framework
whose files changed. Outputs come from this build's results, else the cache's
(``d2l_execute = 'cache-only'`` builds them from the cache alone).

A manifest (``d2l_notebooks.json`` in the doctree folder) records, per page, a
fingerprint of what its notebooks depend on (the source, the configuration, the cache
keys of its results, the references of the book) and the files written: a page whose
fingerprint is unchanged is not read again. It also records the fingerprint of the whole
book (the configuration, the references and :func:`.phase.book_fingerprint`: every
page's size and time, the library, the ``d2l_dependencies``): when that is unchanged and
every file is still there, no page is read at all (a no-op rebuild). Every file is written with
:func:`.fileio.atomic_write`, and only when its bytes change; files of pages or
frameworks that went away are removed.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import os
import posixpath
import re
import zipfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sphinx.application import Sphinx
from sphinx.util import logging

from .fileio import atomic_write, write_unless_same
from .phase import md_pages, open_cache
from .state import D2lState, get_state
from .warnings_ import D2lWarning, warn

if TYPE_CHECKING:
    from .execution.cache import TieredCache
    from .execution.model import JobResult
    from .notebooks import Part
    from .pages import PageReader
    from .runner import PagePlan

logger = logging.getLogger(__name__)

MANIFEST = "d2l_notebooks.json"
FORMAT = "1"
"""Part of every fingerprint: bump it when the notebooks' content rules change."""
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
"""Every zip member's date: the same files give the same zip."""
IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?(?P<md>[^)\s>]+)|<img\b[^>]*?\bsrc=[\"'](?P<html>[^\"']+)")


@dataclass
class WriteSummary:
    written: int = 0
    """Notebooks written (new or changed)."""
    unchanged: int = 0
    zips: list[str] = field(default_factory=list)
    """The zips written."""


def page_reader(state: D2lState) -> PageReader:
    """The pages' cells: the execution phase's reader, else one of the pages index (made
    once per build: the index is loaded once, each page read once)."""
    if state.page_reader is None:
        from .pages import PageReader
        from .phase import INDEX_FILE

        state.page_reader = PageReader(state.cfg.tab_names,
                                       os.path.join(state.cache_dir, INDEX_FILE))
    return state.page_reader


def local_images(parts: Iterable[Part], framework: str, docname: str,
                 exists: Any = os.path.isfile, srcdir: str = "") -> list[str]:
    """The source-relative paths of the local images the framework's prose shows."""
    from .notebooks import Prose

    found: dict[str, None] = {}
    for part in parts:
        if not isinstance(part, Prose) or not part.shown_in(framework):
            continue
        for m in IMAGE.finditer(part.text):
            url = (m.group("md") or m.group("html")).split("#")[0].split("?")[0]
            if not url or ":" in url or url.startswith("/"):
                continue  # a URL, a data: URI or a root-relative path: left as it is
            rel = posixpath.normpath(posixpath.join(posixpath.dirname(docname), url))
            if rel.startswith("../") or rel == "..":
                continue
            if exists(os.path.join(srcdir, *rel.split("/"))):
                found[rel] = None
    return list(found)


class PageResults:
    """The results the notebooks and the slides show: this build's, else the cache's (opened
    when first needed; no warning: the execution phase reported what is missing)."""

    def __init__(self, state: D2lState) -> None:
        self.state = state
        self._cache: TieredCache | None = None

    def get(self, plan: PagePlan, fw: str) -> JobResult | None:
        """The result of (page, framework) for the page's job in ``fw`` (None: no job)."""
        job = plan.jobs.get(fw)
        if job is None:
            return None
        key = plan.keys[fw]
        result = self.state.results.get((plan.docname, fw))
        if result is None or result.key != key:
            if self._cache is None:
                self._cache = open_cache(self.state)
            result = self._cache.load(key, remove_corrupt=False).result
        return result.for_job(job) if result is not None else None


class NotebookWriter:
    """Writes the notebooks of one build's pages."""

    def __init__(self, app: Sphinx, root: str, manifest: dict[str, Any]) -> None:
        from .notebook_refs import Resolutions, references_fingerprint

        self.app = app
        self.state = get_state(app.env)
        self.cfg = self.state.cfg
        self.root = root
        self.old = _valid_pages(manifest)
        self.resolutions = Resolutions(app)
        self.base = digest(FORMAT, json.dumps(dataclasses.asdict(self.cfg), sort_keys=True,
                                               default=str), references_fingerprint(app),
                            str(app.srcdir))
        self.summary = WriteSummary()
        self.changed: set[str] = set()
        """Frameworks whose files were written or removed."""
        self.results = PageResults(self.state)
        self._md: Any = None

    @functools.cached_property
    def reader(self) -> PageReader:
        """The pages' cells (loaded when a page is read: not on a no-op rebuild)."""
        return page_reader(self.state)

    @property
    def with_outputs(self) -> bool:
        return self.cfg.notebook_outputs and self.cfg.execute != "off"

    def page(self, docname: str, path: str) -> dict[str, Any] | None:
        """Write a page's notebooks (unless unchanged); its manifest entry."""
        from .notebooks import Code, notebook_frameworks, split_page
        from .runner import plan_page

        with open(path, "rb") as fh:
            raw = fh.read()
        # beyond the book's part (self.base): the page's bytes and the per-framework part
        # of the cache keys (library, dependencies): the frameworks and keys of the page
        # follow from these and the configuration, so an unchanged page is not parsed
        extras = self.state.extras if self.with_outputs else {}
        fingerprint = digest(self.base, hashlib.sha256(raw).hexdigest(),
                              json.dumps(extras, sort_keys=True))
        old = self.old.get(docname)
        if old is not None and old.get("fp") == fingerprint and self._still_there(old):
            self.summary.unchanged += len(old["files"])
            return dict(old)
        info = self.reader.read(path)
        if info is None:
            return None
        tabs = self.cfg.tab_names
        frameworks = notebook_frameworks(info.cells, tabs)
        from .notebook_refs import SphinxReferences

        if self._md is None:
            from .mdit_d2l import dialect_md_parser

            self._md = dialect_md_parser()
        text = raw.decode("utf-8", errors="replace")
        parts = split_page(text, tabs, SphinxReferences(self.resolutions, docname), self._md)
        cells = [p.cell for p in parts if isinstance(p, Code)]
        plan = plan_page(docname, path, cells, self.cfg, self.state.extras, self.state.lib_path)
        files: dict[str, list[str]] = {}
        images: dict[str, list[int]] = {}
        for fw in frameworks:
            files[fw] = self._framework(docname, fw, parts, plan, images)
        return {"fp": fingerprint, "files": files, "images": images}

    def _framework(self, docname: str, fw: str, parts: list[Part], plan: PagePlan,
                   images: dict[str, list[int]]) -> list[str]:
        """Write one notebook and its images; their paths under ``<root>/<fw>``."""
        from .gpu_need import page_gpus
        from .notebooks import Code, framework_notebook, notebook_bytes

        cells = [p.cell for p in parts if isinstance(p, Code)]
        result = self.results.get(plan, fw) if self.with_outputs else None
        nb = framework_notebook(parts, fw, lambda c: str(self.cfg.code(c, fw)), result,
                                gpus=page_gpus(cells, fw, self.cfg),
                                metadata={"d2l": {"framework": fw, "page": docname}})
        rel = docname + ".ipynb"
        if self._put(fw, rel, notebook_bytes(nb)):
            self.summary.written += 1
        else:
            self.summary.unchanged += 1
        srcdir = str(self.app.srcdir)
        out = [rel]
        for image in local_images(parts, fw, docname, srcdir=srcdir):
            source = os.path.join(srcdir, *image.split("/"))
            try:
                st = os.stat(source)
                with open(source, "rb") as fh:
                    self._put(fw, image, fh.read())
            except OSError as err:
                warn(logger, f"notebook image {image} cannot be copied: {err.strerror or err}",
                     D2lWarning.OUTPUT, location=docname)
                continue
            images[image] = [st.st_size, st.st_mtime_ns]
            out.append(image)
        return out

    def _put(self, fw: str, rel: str, data: bytes) -> bool:
        """Write ``<root>/<fw>/<rel>`` unless it holds ``data``; True if written."""
        if not write_unless_same(os.path.join(self.root, fw, *rel.split("/")), data):
            return False
        self.changed.add(fw)
        return True

    def _still_there(self, entry: dict[str, Any]) -> bool:
        """The files of a manifest entry exist and its images are unchanged."""
        for fw, rels in entry.get("files", {}).items():
            for rel in rels:
                if not os.path.isfile(os.path.join(self.root, fw, *rel.split("/"))):
                    return False
        srcdir = str(self.app.srcdir)
        for image, stamp in entry.get("images", {}).items():
            try:
                st = os.stat(os.path.join(srcdir, *image.split("/")))
            except OSError:
                return False
            if [st.st_size, st.st_mtime_ns] != stamp:
                return False
        return True

    def all_there(self, manifest: dict[str, Any], root: str, book: str) -> bool:
        """Every page of the manifest (of this format) is valid and its files are still
        there, and so are its zips."""
        pages, zips = manifest.get("pages"), manifest.get("zips")
        if not (isinstance(pages, dict) and isinstance(zips, dict)
                and len(self.old) == len(pages)):
            return False
        if not all(isinstance(fw, str) and fw in self.cfg.tab_names for fw in zips):
            return False
        return all(os.path.isfile(os.path.join(root, f"{book}-{fw}.zip")) for fw in zips) and (
            all(self._still_there(entry) for entry in self.old.values()))

    def remove_stale(self, pages: dict[str, dict[str, Any]]) -> None:
        """Remove the files of the last build that no page has now."""
        now = {(fw, rel) for entry in pages.values()
               for fw, rels in entry["files"].items() for rel in rels}
        for entry in self.old.values():
            for fw, rels in entry.get("files", {}).items():
                for rel in rels:
                    if (fw, rel) not in now:
                        try:
                            os.remove(os.path.join(self.root, fw, *rel.split("/")))
                        except OSError:
                            continue
                        self.changed.add(fw)


def write_notebooks(app: Sphinx, root: str, book: str) -> WriteSummary:
    """Write the notebooks and zips of the build (see the module's docstring)."""
    from .phase import book_fingerprint

    manifest_path = os.path.join(str(app.doctreedir), MANIFEST)
    manifest = read_json(manifest_path)
    writer = NotebookWriter(app, root, manifest)
    book_fp = digest(writer.base, book_fingerprint(app, app.env))
    if manifest.get("book") == book_fp and writer.all_there(manifest, root, book):
        # (one notebook per framework of a page; its images are not counted)
        writer.summary.unchanged = sum(len(entry["files"]) for entry in writer.old.values())
        return writer.summary
    pages: dict[str, dict[str, Any]] = {}
    for docname, path in md_pages(app.env):
        try:
            entry = writer.page(docname, path)
        except OSError as err:  # (a full disk, a read-only folder: once, not per page)
            warn(logger, f"the notebooks of this page cannot be written "
                 f"({err.strerror or err}): notebooks and zips are not written",
                 D2lWarning.OUTPUT, location=docname)
            return writer.summary
        except Exception as err:  # a page the converter can't handle: not a failed build
            warn(logger, f"the notebooks of this page cannot be made ({type(err).__name__}: "
                 f"{err})", D2lWarning.OUTPUT, location=docname)
            continue
        if entry is not None:
            pages[docname] = entry
    writer.remove_stale(pages)
    old_zips = manifest.get("zips") if manifest.get("format") == FORMAT else None
    zips = _write_zips(writer, root, book, pages, old_zips if isinstance(old_zips, dict) else {})
    new = {"format": FORMAT, "pages": pages, "zips": zips, "book": book_fp}
    if manifest != new:
        atomic_write(manifest_path, json.dumps(new))
    return writer.summary


def _write_zips(writer: NotebookWriter, root: str, book: str,
                pages: dict[str, dict[str, Any]], old: dict[str, Any]) -> dict[str, str]:
    """Write each framework's zip whose notebooks changed, in threads (zlib compresses
    without the GIL: after a one-page edit of d2l-en, its four zips of 13 to 17 MB and the
    page's notebooks took 2.1 s one after the other, 0.8 s so on 2 cores, images stored);
    the zips' stamps by framework. Raises ``OSError``."""
    zips: dict[str, str] = {}
    todo: list[tuple[str, list[str], str]] = []
    for fw in writer.cfg.tab_names:
        rels = sorted({rel for entry in pages.values() for rel in entry["files"].get(fw, [])})
        name = f"{book}-{fw}.zip"
        if not rels:  # (no page has a notebook in this framework)
            continue
        zips[fw] = digest(name, json.dumps(rels))
        if (fw in writer.changed or old.get(fw) != zips[fw]
                or not os.path.isfile(os.path.join(root, name))):
            todo.append((fw, rels, name))

    def write(fw: str, rels: list[str], name: str) -> None:
        atomic_write(os.path.join(root, name),
                     zip_bytes(os.path.join(root, fw), rels, f"{book}-{fw}"))

    with ThreadPoolExecutor(max(1, min(len(todo), os.cpu_count() or 1))) as pool:
        for future in [pool.submit(write, *item) for item in todo]:
            future.result()
    writer.summary.zips.extend(name for _, _, name in todo)
    return zips


STORED = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".zip", ".gz", ".bz2", ".xz",
                    ".mp4", ".webm", ".mp3", ".pdf"})
"""Files already compressed: stored in the zips as they are (deflating them again took a
third of the time of a d2l zip, for 3 to 6 % of their size)."""


def zip_bytes(folder: str, rels: Iterable[str], top: str) -> bytes:
    """A zip of ``folder``'s files ``rels`` under ``top/`` (fixed dates: the same files
    give the same bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in rels:
            info = zipfile.ZipInfo(f"{top}/{rel}", date_time=ZIP_DATE)
            info.compress_type = (zipfile.ZIP_STORED if posixpath.splitext(rel)[1].lower()
                                  in STORED else zipfile.ZIP_DEFLATED)
            info.external_attr = 0o644 << 16
            with open(os.path.join(folder, *rel.split("/")), "rb") as fh:
                zf.writestr(info, fh.read())
    return buffer.getvalue()


def _valid_pages(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The page entries of a manifest of this format that have the right shape (the
    paths relative, inside their folder: they are removed when they go away)."""
    pages = manifest.get("pages") if manifest.get("format") == FORMAT else None
    valid: dict[str, dict[str, Any]] = {}
    for docname, entry in (pages if isinstance(pages, dict) else {}).items():
        try:
            ok = isinstance(entry["fp"], str) and all(
                isinstance(fw, str) and "/" not in fw and fw not in ("", ".", "..")
                and all(relative_inside(rel) for rel in rels) for fw, rels in entry["files"].items()
            ) and all(relative_inside(image) and len(stamp) == 2 and all(
                isinstance(n, int) for n in stamp) for image, stamp in entry["images"].items())
        except (KeyError, TypeError, AttributeError):
            ok = False
        if ok:
            valid[docname] = entry
    return valid


def relative_inside(rel: Any) -> bool:
    """A manifest's relative path (``a/b.ipynb``) that stays inside its folder."""
    return (isinstance(rel, str) and bool(rel) and not rel.startswith("/")
            and ".." not in rel.split("/") and "\\" not in rel)


def read_json(path: str) -> dict[str, Any]:
    """A manifest (a JSON object); ``{}`` when it is missing, unreadable or not one."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def digest(*parts: str) -> str:
    """The sha256 of ``parts``, each ended by a NUL (so that ``("ab", "c")`` differs from
    ``("a", "bc")``)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", errors="replace") + b"\0")
    return h.hexdigest()
