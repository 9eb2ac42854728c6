"""The translation status in a build: the report of the book being built, the
``d2l_translation_status.json`` that HTML builds write whenever the book has originals,
the ``d2l-translation-status`` directive's tables.

Each page is paired once per content (a page's status is kept with the hash of its text,
for the directive and ``build-finished`` alike).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import TYPE_CHECKING, Any

from docutils import nodes
from sphinx import addnodes
from sphinx.util import logging

from .fileio import atomic_write
from .state import get_state
from .warnings_ import D2lWarning, warn

if TYPE_CHECKING:
    from sphinx.application import Sphinx
    from sphinx.config import Config
    from sphinx.environment import BuildEnvironment

    from .bilingual import PageStatus
    from .bilingual_report import BookReport

logger = logging.getLogger(__name__)
STATUS_FILE = "d2l_translation_status.json"

#: path → (digest of text, placeholder, language, status): each page paired once
_PAIRED: dict[str, tuple[str, str, str | None, PageStatus]] = {}


def _status(relpath: str, text: str, placeholder: str, language: str | None) -> PageStatus:
    from .bilingual import page_status

    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    known = _PAIRED.get(relpath)
    if known is not None and known[:3] == (digest, placeholder, language):
        return known[3]
    status = page_status(relpath, text, None, placeholder, language)
    _PAIRED[relpath] = (digest, placeholder, language, status)
    return status


def _sources(env: BuildEnvironment) -> list[tuple[str, str, str]]:
    """(docname, path relative to the book, text) of every page that can be read."""
    out = []
    for docname in sorted(env.found_docs):
        path = str(env.doc2path(docname))
        try:
            with open(path, encoding="utf-8") as fh:
                out.append((docname, os.path.relpath(path, env.srcdir), fh.read()))
        except (OSError, UnicodeDecodeError):
            continue  # (reading the page reports it)
    return out


def env_report(env: BuildEnvironment,
               sources: list[tuple[str, str, str]] | None = None) -> BookReport:
    """The status of every page of the book being built (in docname order)."""
    from .bilingual_report import book_report, page_title

    cfg = get_state(env).cfg
    language = env.config.language
    pages: list[tuple[str, PageStatus]] = []
    titles: dict[str, str] = {}
    for docname, relpath, text in _sources(env) if sources is None else sources:
        pages.append((docname, _status(relpath, text, cfg.translation_placeholder, language)))
        title = env.titles.get(docname)
        titles[docname] = title.astext() if title is not None and title.astext() else \
            page_title(text, relpath)
    return book_report(pages, titles, env.config.root_doc, language)


def source_template(config: Config) -> str | None:
    """The URL of a source line, when ``html_context`` or the theme names a repository."""
    from .bilingual_report import source_url_template

    return source_url_template(getattr(config, "html_context", None) or {},
                               getattr(config, "html_theme_options", None) or {})


def write_status_json(app: Sphinx, env: BuildEnvironment) -> list[str]:
    """HTML builds of a book with originals: ``<outdir>/d2l_translation_status.json``.

    At ``env-updated``: every page is read by then, and what is decided here is kept in
    the environment, which Sphinx saves next (before it writes the pages)."""
    builder = app.builder
    if builder.format == "html" and "epub" not in builder.name:
        _write_status_json(app)
    return []


def _write_status_json(app: Sphinx) -> None:
    state = get_state(app.env)
    path = os.path.join(str(app.outdir), STATUS_FILE)
    stamp = _status_stamp(app)
    # no page read again, nothing else changed: the last decision holds (no page is read)
    if state.status_stamp == f"{stamp}:none" or (
            state.status_stamp == f"{stamp}:written" and os.path.isfile(path)):
        return
    state.status_stamp = f"{stamp}:none"
    sources = _sources(app.env)
    if not any("<!--" in text for _doc, _rel, text in sources):
        return  # (no comment, no original: nothing to pair)
    report = env_report(app.env, sources)
    if not report.bilingual:
        return
    text = json.dumps(report.to_json(source_template(app.config)), indent=1,
                      ensure_ascii=False)
    try:
        atomic_write(path, text)
    except OSError as err:
        warn(logger, f"cannot write {path}: {err.strerror or err}", D2lWarning.OUTPUT)
        state.status_stamp = ""
        return
    state.status_stamp = f"{stamp}:written"


def _status_stamp(app: Sphinx) -> str:
    """The pages (each with the time Sphinx last read it) and the settings the status
    depends on: equal stamps, equal status."""
    env = app.env
    cfg = get_state(env).cfg
    # (the settings the source links are made of, not the links: that needs the report's
    # module, which an unchanged book does not import)
    parts = [sorted((d, str(env.all_docs.get(d))) for d in env.found_docs),
             cfg.translation_placeholder, env.config.language,
             getattr(app.config, "html_context", None),
             getattr(app.config, "html_theme_options", None), str(app.outdir)]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


# --------------------------------------------------------------------------- the tables


def doc_link(docname: str, fromdoc: str) -> addnodes.pending_xref:
    """A link to a page, with its title (resolved once every page is read)."""
    return addnodes.pending_xref("", nodes.inline("", docname), refdomain="std",
                                 reftype="doc", reftarget="/" + docname, refexplicit=False,
                                 refwarn=True, refdoc=fromdoc)


def line_links(status: PageStatus, template: str | None) -> nodes.paragraph:
    from .bilingual_report import line_url

    para = nodes.paragraph()
    for i, line in enumerate(status.to_json()["untranslated_lines"]):
        if i:
            para += nodes.Text(", ")
        if template:
            para += nodes.reference("", str(line),
                                    refuri=line_url(template, status.path, line))
        else:
            para += nodes.Text(str(line))
    return para


def report_rows(report: BookReport, fromdoc: str,
                template: str | None) -> tuple[list[list[Any]], list[list[Any]]]:
    """The rows of the chapters' table and of the pages' table."""
    from .bilingual_report import percent

    chapters: list[list[Any]] = []
    for ch in report.chapters:
        c = ch.totals
        name: Any = (nodes.paragraph("", "", doc_link(ch.docname, fromdoc)) if ch.docname
                     else ch.key or "(top level)")
        chapters.append([name, str(c.pages), str(c.translated), str(c.untranslated),
                         str(c.missing_original), c.done])
    pages: list[list[Any]] = []
    for p in report.pages:
        s = p.status
        page = nodes.paragraph("", "", doc_link(p.docname, fromdoc), nodes.Text(" "),
                               nodes.literal(text=s.path))
        pages.append([page, str(s.translated),
                      str(s.untranslated), str(s.missing_original),
                      percent(s.translated, s.total), line_links(s, template)])
    return chapters, pages


def summary(report: BookReport) -> str:
    t = report.totals
    return (f"The book: {t.translated} of {t.total} originals translated ({t.done}), "
            f"{t.untranslated} untranslated, {t.missing_original} prose blocks without an "
            f"original, in {t.pages} pages.")


def setup_bilingual_build(app: Sphinx) -> None:
    app.connect("env-updated", write_status_json)
