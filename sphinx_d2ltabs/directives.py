"""Directives for the documentation pages of a book.

``d2l-execution-report``
    A table of the last execution phase: per page and framework, status, seconds and
    whether the result came from the cache. The page holding it is re-read on every
    build that executed something.
``d2l-config-table``
    The configuration reference, generated from :class:`~.config.D2lConfig`.
``d2l-warnings-table``
    The warning subtypes, generated from :class:`~.warnings_.D2lWarning`.
``d2l-translation-status``
    The translation status of every page of a bilingual book (:mod:`.bilingual`).
``d2l-library-api``
    The ``#@save``-d names per framework, each linked to the cell defining it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.errors import NoUri
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import make_refnode

from .bilingual_build import setup_bilingual_build
from .config import D2lConfig
from .state import get_state
from .warnings_ import WARNING_TYPE, D2lWarning


def _table(header: Sequence[str], rows: Sequence[Sequence[nodes.Node | str]],
           classes: Sequence[str] = ()) -> nodes.table:
    table = nodes.table(classes=["colwidths-auto", *classes])
    tgroup = nodes.tgroup(cols=len(header))
    table += tgroup
    for _ in header:
        tgroup += nodes.colspec(colwidth=1)
    thead = nodes.thead()
    tgroup += thead
    row = nodes.row()
    for cell in header:
        row += nodes.entry("", nodes.paragraph(text=cell))
    thead += row
    tbody = nodes.tbody()
    tgroup += tbody
    for values in rows:
        row = nodes.row()
        for value in values:
            para = value if isinstance(value, nodes.Node) else nodes.paragraph(text=str(value))
            if not isinstance(para, (nodes.paragraph, nodes.literal_block)):
                para = nodes.paragraph("", "", para)
            row += nodes.entry("", para)
        tbody += row
    return table


class ExecutionReport(SphinxDirective):
    """Render the execution report of the current build."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(__file__)
        self.env.metadata[self.env.docname]["d2l_report_page"] = True
        from .overlap import complete

        state = get_state(self.env)
        complete(state)  # (the jobs that run while pages are read: ended first)
        report: dict[str, Any] = state.report
        entries = report.get("pages", [])
        if not entries:
            return [nodes.paragraph(text="No code was executed in this build "
                                    "(execution is off, or the book has no code cells).")]
        summary = nodes.paragraph(text=(
            f"{len(entries)} (page, framework) jobs: {report.get('executed', 0)} executed, "
            f"{report.get('cached', 0)} from the cache, {report.get('failed', 0)} failed; "
            f"execution phase {report.get('seconds', 0):.1f} s."
        ))
        rows = []
        for e in entries:
            status = "✅ ok" if e["status"] == "ok" else f"❌ {e['status']}"
            rows.append([e["docname"], e["framework"], status, f"{e['seconds']:.2f}",
                         "yes" if e["cached"] else "no", e.get("error", "")])
        return [summary, _table(["page", "framework", "status", "seconds", "cached", "error"],
                                rows, ["d2l-execution-report"])]


class ConfigTable(SphinxDirective):
    """Render the ``d2l_*`` configuration reference."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        rows = []
        for f in dataclasses.fields(D2lConfig):
            default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
            rows.append([
                nodes.paragraph("", "", nodes.literal(text=f"d2l_{f.name}")),
                nodes.paragraph("", "", nodes.literal(text=repr(default))),
                f.metadata["help"].replace("``", ""),
            ])
        return [_table(["option", "default", "meaning"], rows, ["d2l-config-table"])]


class WarningsTable(SphinxDirective):
    """Render the ``d2l.*`` warning subtypes."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        rows = [[nodes.paragraph("", "", nodes.literal(text=f"{WARNING_TYPE}.{w.value}")),
                 w.help.replace("``", "")] for w in D2lWarning]
        return [_table(["warning", "meaning"], rows, ["d2l-warnings-table"])]


class TranslationStatus(SphinxDirective):
    """Render the translation status of a bilingual book: the book's totals, a table per
    chapter and per page (titles linked to the pages, untranslated lines linked to the
    source where the configuration names a repository: :mod:`.bilingual_build`)."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from .bilingual_build import env_report, report_rows, source_template, summary
        from .i18n import _

        self.env.metadata[self.env.docname]["d2l_status_page"] = True
        report = env_report(self.env)
        if not report.bilingual:
            return [nodes.paragraph(text="No page of this book keeps an original in an "
                                    "HTML comment.")]
        chapters, pages = report_rows(report, self.env.docname,
                                      source_template(self.env.config))
        # (headings in the book's language: i18n.STATUS_HEADINGS)
        numbers = [_("translated"), _("untranslated"), _("original missing"), _("done")]
        out: list[nodes.Node] = [nodes.paragraph(text=summary(report))]
        if len(chapters) > 1:
            out.append(_table([_("chapter"), _("pages"), *numbers], chapters,
                              ["d2l-translation-status", "d2l-translation-chapters"]))
        out.append(_table([_("page"), *numbers, _("untranslated lines")], pages,
                          ["d2l-translation-status"]))
        return out


class api_ref(nodes.Inline, nodes.TextElement):
    """A link to a saved name's cell, resolved per builder once every page is known."""


class LibraryApi(SphinxDirective):
    """List every ``#@save``-d name per framework, each linked to the cell defining it.

    Options: ``:frameworks:`` (comma-separated; default: every framework with saved code).
    """

    has_content = False
    option_spec = {"frameworks": lambda arg: [x.strip() for x in (arg or "").split(",")
                                              if x.strip()]}

    def run(self) -> list[nodes.Node]:
        from .tabs import tab_set

        self.env.metadata[self.env.docname]["d2l_api_page"] = True
        state = get_state(self.env)
        cfg = state.cfg
        api = state.api
        wanted = self.options.get("frameworks") or [fw for fw in cfg.tab_names if api.get(fw)]
        panels = []
        for fw in wanted:
            entries = api.get(fw, [])
            if not entries:
                continue
            rows: list[list[nodes.Node | str]] = []
            for e in entries:
                name = nodes.literal(text=f"{cfg.lib_package}.{e['name']}{e['signature']}")
                ref = api_ref("", "", name, todoc=e["docname"], anchor=e["anchor"])
                where = api_ref("", f"{e['docpath']}:{e['line']}", todoc=e["docname"],
                                anchor=e["anchor"])
                rows.append([nodes.paragraph("", "", ref), e["kind"],
                             nodes.paragraph("", "", where), e["summary"]])
            table = _table(["name", "kind", "defined in", "summary"], rows,
                           ["d2l-library-api"])
            panels.append((fw, cfg.label(fw), [table]))
        if not panels:
            return [nodes.paragraph(text="No #@save block in this book yet.")]
        if len(panels) == 1:
            return panels[0][2]
        return [tab_set(panels, selected=panels[0][0])]


def _resolve_api_refs(app: Sphinx, doctree: nodes.document, fromdocname: str) -> None:
    """Each :class:`api_ref` becomes a link to its cell, or plain text where there is no
    page to link to (a page not in the book, a builder that does not link to it)."""
    for ref in list(doctree.findall(api_ref)):
        content = ref.children or [nodes.Text(ref.astext())]
        if ref["todoc"] not in app.env.found_docs:
            ref.replace_self(content)
            continue
        try:
            link = make_refnode(app.builder, fromdocname, ref["todoc"], ref["anchor"], content)
        except NoUri:
            ref.replace_self(content)
            continue
        ref.replace_self(link)


def _report_pages(app: Sphinx, env: BuildEnvironment, added: set[str], changed: set[str],
                  removed: set[str]) -> list[str]:
    """Re-read pages holding the execution report whenever something ran."""
    pages = []
    state = get_state(env)
    if state.api_changed:
        pages += [d for d, meta in env.metadata.items() if meta.get("d2l_api_page")]
    if state.report.get("executed") or state.overlap is not None:  # (jobs run now)
        pages += [d for d, meta in env.metadata.items() if meta.get("d2l_report_page")]
    if added or changed or removed:
        pages += [d for d, meta in env.metadata.items() if meta.get("d2l_status_page")]
    return pages


def setup_directives(app: Sphinx) -> None:
    app.add_directive("d2l-execution-report", ExecutionReport)
    app.add_directive("d2l-config-table", ConfigTable)
    app.add_directive("d2l-warnings-table", WarningsTable)
    app.add_directive("d2l-translation-status", TranslationStatus)
    setup_bilingual_build(app)  # (d2l_translation_status.json)
    app.add_directive("d2l-library-api", LibraryApi)
    app.add_node(api_ref)
    app.connect("doctree-resolved", _resolve_api_refs)
    # after the execution phase (priority 500), so the report is known
    app.connect("env-get-outdated", _report_pages, priority=900)
