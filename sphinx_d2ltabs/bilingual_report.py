"""The translation status report of a bilingual book: per page, per chapter, the book
(Sphinx-free; the directive and ``build-finished`` glue: :mod:`.bilingual_build`).

A *chapter* is a top-level folder of the book (d2l's ``chapter_*/``); the pages at the
top level form one group of their own. Each untranslated original is listed by its line,
linked to the source where the configuration names a repository
(:func:`source_url_template`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .bilingual import COMMENT, PageStatus, is_bilingual

#: the group of the pages at the book's top level
ROOT_CHAPTER = ""
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
RST_TITLE = re.compile(r"^(\S[^\n]*)\n([=\-~^\"'`#*+])\2+[ \t]*$", re.MULTILINE)


@dataclass
class PageReport:
    docname: str
    title: str
    status: PageStatus

    @property
    def chapter(self) -> str:
        return chapter_of(self.docname)

    def to_json(self, url: str | None = None) -> dict[str, Any]:
        data = self.status.to_json()
        data.update(docname=self.docname, title=self.title, chapter=self.chapter)
        if url:
            data["untranslated_urls"] = [line_url(url, self.status.path, n)
                                         for n in data["untranslated_lines"]]
        return data


@dataclass
class Totals:
    translated: int = 0
    untranslated: int = 0
    missing_original: int = 0
    pages: int = 0

    @property
    def total(self) -> int:
        return self.translated + self.untranslated

    @property
    def done(self) -> str:
        return percent(self.translated, self.total)

    def add(self, st: PageStatus) -> None:
        self.translated += st.translated
        self.untranslated += st.untranslated
        self.missing_original += st.missing_original
        self.pages += 1

    @classmethod
    def of(cls, pages: Iterable[PageReport]) -> Totals:
        """The totals of ``pages``."""
        totals = cls()
        for page in pages:
            totals.add(page.status)
        return totals


@dataclass
class ChapterReport:
    key: str
    title: str
    docname: str | None
    """The chapter's index page (the first page of the folder named ``index*``)."""
    pages: list[PageReport] = field(default_factory=list)

    @property
    def totals(self) -> Totals:
        return Totals.of(self.pages)


@dataclass
class BookReport:
    pages: list[PageReport]
    chapters: list[ChapterReport]
    language: str | None = None

    @property
    def totals(self) -> Totals:
        return Totals.of(self.pages)

    @property
    def bilingual(self) -> bool:
        """Does the book keep originals in comments (:func:`~.bilingual.is_bilingual`)?"""
        return is_bilingual((p.status for p in self.pages), self.language)

    def to_json(self, url: str | None = None) -> list[dict[str, Any]]:
        """One object per page (``path``, counts, ``untranslated_lines``... ``chapter``,
        ``title``; ``untranslated_urls`` with a source URL)."""
        return [p.to_json(url) for p in self.pages]


def chapter_of(docname: str) -> str:
    return docname.split("/", 1)[0] if "/" in docname else ROOT_CHAPTER


def percent(part: int, total: int) -> str:
    return f"{100 * part / total:.0f}%" if total else "-"


def page_title(text: str, path: str) -> str:
    """A page's title as its source shows it: the first heading outside comments."""
    text = COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    m = (RST_TITLE if path.endswith(".rst") else HEADING).search(text)
    return m.group(1).strip() if m else os.path.splitext(os.path.basename(path))[0]


def book_report(pages: Iterable[tuple[str, PageStatus]], titles: Mapping[str, str],
                root_doc: str = "index", language: str | None = None) -> BookReport:
    """``pages``: (docname, status) in book order; ``titles``: docname → title."""
    reports = [PageReport(doc, titles.get(doc, doc), st) for doc, st in pages]
    chapters: dict[str, ChapterReport] = {}
    for page in reports:
        key = page.chapter
        if key not in chapters:
            index = _chapter_index(key, [p.docname for p in reports], root_doc)
            title = titles.get(index, key or "(top level)") if index else key
            chapters[key] = ChapterReport(key, title, index)
        chapters[key].pages.append(page)
    ordered = sorted(chapters.values(), key=lambda c: c.key != ROOT_CHAPTER)  # (stable)
    return BookReport(reports, ordered, language)


def _chapter_index(key: str, docnames: Sequence[str], root_doc: str) -> str | None:
    if key == ROOT_CHAPTER:
        return root_doc if root_doc in docnames else None
    inside = [d for d in docnames if chapter_of(d) == key]
    for doc in sorted(inside, key=lambda d: (d != f"{key}/index", d)):
        if os.path.basename(doc).startswith("index"):
            return doc
    return None


# --------------------------------------------------------------------------- links


def source_url_template(context: Mapping[str, Any],
                        theme_options: Mapping[str, Any]) -> str | None:
    """``https://.../{path}#L{line}`` for the book's repository, from ``html_context``
    (``github_user``/``_repo``/``_version``, the same for ``gitlab``, ``doc_path``: the
    keys of the PyData and Furo-style themes' edit buttons) or ``html_theme_options``
    (``repository_url``, ``repository_branch``, ``path_to_docs``: sphinx-book-theme);
    None when neither names one."""
    doc_path = str(context.get("doc_path", "")).strip("/")
    for host, default, blob in (("github", "https://github.com", "blob"),
                                ("gitlab", "https://gitlab.com", "-/blob")):
        user, repo = context.get(f"{host}_user"), context.get(f"{host}_repo")
        if user and repo:
            server = str(context.get(f"{host}_url", default)).rstrip("/")
            version = context.get(f"{host}_version", "main")
            base = "/".join(x for x in (f"{server}/{user}/{repo}/{blob}/{version}", doc_path)
                            if x)
            return base + "/{path}#L{line}"
    repo_url = theme_options.get("repository_url")
    if repo_url:
        branch = theme_options.get("repository_branch") or "main"
        docs = str(theme_options.get("path_to_docs", "")).strip("/")
        base = "/".join(x for x in (f"{str(repo_url).rstrip('/')}/blob/{branch}", docs) if x)
        return base + "/{path}#L{line}"
    return None


def line_url(template: str, path: str, line: int) -> str:
    return template.replace("{path}", path.replace(os.sep, "/")).replace("{line}", str(line))


# --------------------------------------------------------------------------- text


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                      for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
            for r in rows]


def report_table(report: BookReport) -> str:
    """The plain-text report (the CLI's): the book, its chapters, its pages."""
    t = report.totals
    lines = [f"book: {t.translated} translated, {t.untranslated} untranslated ({t.done} "
             f"done), {t.missing_original} prose blocks without an original, {t.pages} pages",
             ""]
    rows = [("chapter", "pages", "translated", "untranslated", "missing original", "done")]
    for ch in report.chapters:
        c = ch.totals
        rows.append((ch.key or "(top level)", str(c.pages), str(c.translated),
                     str(c.untranslated), str(c.missing_original), c.done))
    lines += [*_table(rows), ""]
    rows = [("page", "translated", "untranslated", "missing original", "done",
             "untranslated lines")]
    for p in report.pages:
        s = p.status
        todo = ",".join(str(n) for n in s.to_json()["untranslated_lines"])
        rows.append((s.path, str(s.translated), str(s.untranslated), str(s.missing_original),
                     percent(s.translated, s.total), todo))
    return "\n".join(lines + _table(rows))


# --------------------------------------------------------------------------- a book on disk


def discover_pages(srcdir: str, namespace: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(docname, path relative to srcdir)`` of the markdown and reStructuredText pages
    of a book, found as Sphinx finds them: conf.py's ``exclude_patterns``,
    ``include_patterns`` and ``templates_path`` (``namespace``: the names conf.py set)."""
    from sphinx.project import Project

    project = Project(srcdir, (".md", ".rst"))
    exclude = [*namespace.get("exclude_patterns", ()), *namespace.get("templates_path", ())]
    project.discover(exclude, namespace.get("include_patterns", ("**",)))
    return sorted((doc, str(project.doc2path(doc, absolute=False)))
                  for doc in project.docnames)


def read_book(srcdir: str, namespace: Mapping[str, Any], placeholder: str
              ) -> tuple[BookReport, list[str]]:
    """The report of the book in ``srcdir`` (no build), and the pages it could not read."""
    from .bilingual import book_status

    found, texts, skipped = [], [], []
    for docname, rel in discover_pages(srcdir, namespace):
        try:
            with open(os.path.join(srcdir, rel), encoding="utf-8") as fh:
                texts.append((rel, fh.read()))
            found.append(docname)
        except (OSError, UnicodeDecodeError) as err:
            skipped.append(f"{os.path.join(srcdir, rel)}: skipped: {err}")
    statuses = book_status(texts, placeholder, namespace.get("language"))
    titles = {doc: page_title(text, rel) for doc, (rel, text) in zip(found, texts, strict=True)}
    report = book_report(zip(found, statuses, strict=True), titles,
                         str(namespace.get("root_doc", "index")), namespace.get("language"))
    return report, skipped
