"""``python -m sphinx_d2ltabs po SRC OUT``: a comment-pair book → the English book and
Sphinx's ``.po`` catalogs of its translation (``docs/bilingual.md``).

1. OUT gets a copy of the book in which every markdown page with originals is its English
   page (:func:`.po.english_page`); reStructuredText pages are kept as they are.
2. Sphinx's gettext builder reads OUT (in this process, execution off): the ``.pot``
   catalogs, and the messages of every page in order with their lines, taken with
   Sphinx's own ``extract_messages`` (the same segmentation as the catalogs).
3. The messages inside each original's lines get its translation
   (:func:`.po.match_messages`); ``OUT/<locale_dirs[0]>/<language>/LC_MESSAGES/*.po`` are
   the ``.pot`` catalogs with these ``msgstr`` (empty for placeholders, ``fuzzy`` where
   the structure differs).

``sphinx-build -D language=<language> OUT OUT/_build/html`` then builds the translated
book from the English pages and the catalogs (Sphinx's ``locale_dirs``).
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .bilingual import page_status
from .bilingual_report import discover_pages
from .confpy import load_conf
from .po import (
    Entry,
    caption_lines,
    english_page,
    match_messages,
    page_segments,
    pair_pieces,
)

if TYPE_CHECKING:
    from docutils import nodes
    from sphinx.application import Sphinx


class PoError(Exception):
    """A problem with the command's input (a message for the user)."""


@dataclass
class PoResult:
    catalogs: list[str] = field(default_factory=list)
    pages: int = 0
    """Markdown pages made English."""
    kept: list[str] = field(default_factory=list)
    """reStructuredText pages with originals, kept as they are."""
    translated: int = 0
    fuzzy: int = 0
    untranslated: int = 0
    """Messages of originals with no translation (placeholders)."""
    other: int = 0
    """Messages of no original (text the page has in its own language only: the
    contributors, links...): left untranslated, they show as they are."""


def _ignore(out: str) -> Any:
    def ignore(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if n.startswith(".") or n == "_build"
                or os.path.abspath(os.path.join(folder, n)) == out]
    return ignore


def _node_line(node: nodes.Node) -> int:
    current: nodes.Node | None = node
    while current is not None:
        if current.line:
            return int(current.line)
        current = current.parent
    return 0


#: per docname, its messages in order: (line, msgid, is a table's caption)
Messages = dict[str, list[tuple[int, str, bool]]]


def extract_page_messages(srcdir: str, workdir: str) -> Messages:
    """Build ``srcdir`` with Sphinx's gettext builder into ``workdir``: the ``.pot``
    catalogs there, and per docname its messages in order."""
    from docutils import nodes
    from sphinx.application import Sphinx
    from sphinx.errors import SphinxError
    from sphinx.util.docutils import docutils_namespace, patch_docutils
    from sphinx.util.nodes import LITERAL_TYPE_NODES, extract_messages

    messages: Messages = defaultdict(list)

    def collect(app: Sphinx, doctree: nodes.document, docname: str) -> None:
        for node, msg in extract_messages(doctree):
            if not isinstance(node, LITERAL_TYPE_NODES):
                # (equations, code: a markdown msgstr of theirs would not render)
                caption = isinstance(node, nodes.title) and isinstance(node.parent,
                                                                       nodes.table)
                messages[docname].append((_node_line(node), msg, caption))

    with patch_docutils(srcdir), docutils_namespace():
        try:
            app = Sphinx(srcdir, srcdir, os.path.join(workdir, "gettext"),
                         os.path.join(workdir, "doctrees"), "gettext",
                         confoverrides={"d2l_execute": "off", "d2l_lib_enable": False},
                         status=None, warning=io.StringIO(), freshenv=True)
            app.connect("doctree-resolved", collect)
            app.build(force_all=True)
        except SphinxError as err:
            raise PoError(f"Sphinx's gettext build of {srcdir} failed: {err}") from err
    return messages


@dataclass
class PageWanted:
    pairs: list[tuple[int, int, list[str]]]
    """Each pair's lines in the English page and its translation's pieces."""
    captions: dict[int, int]
    """:func:`.po.caption_lines` of the English page."""


Wanted = dict[str, PageWanted]


def _convert_pages(src: str, out: str, pages: list[tuple[str, str]], placeholder: str,
                   language: str, result: PoResult) -> Wanted:
    """Write the English page of every markdown page with originals into ``out``."""
    from .mdit_d2l import dialect_md_parser

    md = dialect_md_parser()
    wanted: Wanted = {}
    for docname, rel in pages:
        with open(os.path.join(src, rel), encoding="utf-8") as fh:
            text = fh.read()
        status = page_status(rel, text, md, placeholder, language)
        if not status.pairs:
            continue
        if rel.endswith(".rst"):
            result.kept.append(rel)
            continue
        converted = english_page(text, status, placeholder)
        with open(os.path.join(out, rel), "w", encoding="utf-8") as fh:
            fh.write(converted.text)
        segments = page_segments(text, md)
        pieces = dict(zip((id(p) for p in status.pairs),
                          pair_pieces(status.pairs, segments), strict=True))
        wanted[docname] = PageWanted([(a, b, pieces[id(pair)])
                                      for pair, a, b in converted.ranges],
                                     caption_lines(converted.text, md))
        result.pages += 1
    return wanted


def _match(messages: Messages, wanted: Wanted,
           compact: bool | str) -> dict[str, dict[str, Entry]]:
    """Per catalog (domain), msgid → its translation: each pair's English messages (those
    within its lines) with its translation's pieces. A msgid met twice keeps its first
    translation."""
    from sphinx.util.i18n import docname_to_domain

    by_domain: dict[str, dict[str, Entry]] = defaultdict(dict)
    for docname, page in wanted.items():
        domain = by_domain[docname_to_domain(docname, compact)]
        located = [(page.captions.get(line, line) if caption else line, msg)
                   for line, msg, caption in messages.get(docname, [])]
        for a, b, pieces in page.pairs:
            msgids = [m for line, m in located if a <= line <= b]
            for entry in match_messages(msgids, pieces):
                known = domain.get(entry.msgid)
                if known is None or (not known.msgstr and entry.msgstr):
                    domain[entry.msgid] = entry
    return by_domain


def _check_folders(src: str, out: str) -> None:
    if not os.path.isdir(src):
        raise PoError(f"{src}: no such folder")
    if out == src or (out.startswith(src + os.sep)
                      and not out.startswith(os.path.join(src, "_build") + os.sep)):
        raise PoError(f"{out}: the output folder must be outside the book (or in its "
                      "_build folder)")
    if os.path.isdir(out) and os.listdir(out):
        raise PoError(f"{out}: not empty")


def export_po(src: str, out: str, language: str | None = None) -> PoResult:
    """The English book and its catalogs in ``out`` (which must not exist or be empty)."""
    src, out = os.path.abspath(src), os.path.abspath(out)
    _check_folders(src, out)
    cfg, ns = load_conf(src)
    language = language or ns.get("language")
    if not language or language == "en":
        raise PoError("the book's conf.py sets no language: give --language (e.g. vi)")
    pages = discover_pages(src, ns)
    if not pages:
        raise PoError(f"{src}: no pages (.md or .rst) in this book")
    shutil.copytree(src, out, ignore=_ignore(out), dirs_exist_ok=True)
    result = PoResult()
    wanted = _convert_pages(src, out, pages, cfg.translation_placeholder, language, result)
    locale_dir = (list(ns.get("locale_dirs") or []) or ["locales"])[0]
    with tempfile.TemporaryDirectory() as work:
        messages = extract_page_messages(out, work)
        by_domain = _match(messages, wanted, ns.get("gettext_compact", True))
        _write_catalogs(os.path.join(work, "gettext"),
                        os.path.join(out, locale_dir, language, "LC_MESSAGES"), language,
                        by_domain, result)
    return result


def _write_catalogs(potdir: str, target: str, language: str,
                    by_domain: dict[str, dict[str, Entry]], result: PoResult) -> None:
    from babel.messages.pofile import read_po, write_po

    for root, _dirs, files in os.walk(potdir):
        for name in sorted(files):
            if not name.endswith(".pot"):
                continue
            pot = os.path.join(root, name)
            domain = os.path.relpath(pot, potdir)[:-4].replace(os.sep, "/")
            with open(pot, "rb") as fh:
                catalog = read_po(fh, locale=language)
            catalog.fuzzy = False
            entries = by_domain.get(domain, {})
            path = os.path.join(target, domain + ".po")
            for message in catalog:
                if not message.id:
                    continue
                message.locations = [  # (relative to the .po file, not to a temporary)
                    (os.path.relpath(os.path.normpath(os.path.join(potdir, file)),
                                     os.path.dirname(path)).replace(os.sep, "/"), line)
                    for file, line in message.locations]
                entry = entries.get(str(message.id))
                if entry is None:
                    result.other += 1
                elif not entry.msgstr:
                    result.untranslated += 1
                else:
                    message.string = entry.msgstr
                    if entry.fuzzy:
                        message.flags.add("fuzzy")
                    result.fuzzy += entry.fuzzy
                    result.translated += not entry.fuzzy
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as fh:
                write_po(fh, catalog, width=0)
            result.catalogs.append(path)
