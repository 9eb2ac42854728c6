"""Sphinx glue: the dialect's references of a notebook, resolved as the HTML resolves them.

:class:`SphinxReferences` implements :class:`.notebooks.References` for one page at
``build-finished``: ``:numref:`` gives ``Section 2.1`` / ``Fig. 3.1`` / ``Table 1.2``
(``numfig_format``), ``:eqref:`` ``(2.3)`` (``math_eqref_format``), ``:ref:`` the
section's title, ``:cite:``/``:citet:``/``:citep:`` sphinxcontrib-bibtex's text
(``bibtex_reference_style``). A reference links to its HTML page when ``html_baseurl``
is set (a notebook opened anywhere, Colab included, can follow it), else to the other
page's notebook (next to it in the notebooks folder and in the zip); within the page,
to nothing. Lookups are memoised for the whole build (:class:`Resolutions`).

:func:`references_fingerprint` hashes everything these texts depend on, so that
notebooks are written again only when a page, a result or a number changed.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, cast

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.domains.std import StandardDomain
from sphinx.util import docname_join
from sphinx.util import logging as sphinx_logging

if TYPE_CHECKING:
    from .notebooks import Link

DOCTREES_KEPT = 16
"""Doctrees (of the pages that :numref: targets) kept unpickled at once."""


def _std(app: Sphinx) -> StandardDomain:
    return cast(StandardDomain, app.env.get_domain("std"))


class Resolutions:
    """The texts and targets of references, resolved once per build."""

    def __init__(self, app: Sphinx) -> None:
        self.app = app
        self.env = app.env
        self.builder = app.builder
        self.baseurl = str(app.config.html_baseurl or "")
        self.memo: dict[tuple[str, str], tuple[str, str, str] | None] = {}
        """(role, target) → (text, docname, anchor), None: not found."""
        self._doctrees: OrderedDict[str, nodes.document] = OrderedDict()
        self._uri_map: dict[str, str] | None = None

    def resolve(self, name: str, target: str) -> tuple[str, str, str] | None:
        key = (name, target)
        if key not in self.memo:
            with sphinx_logging.suppress_logging():  # (the HTML build warned already)
                try:
                    self.memo[key] = self._resolve(name, target)
                except Exception:  # a domain's error on an odd target: the fallback text
                    self.memo[key] = None
        return self.memo[key]

    def _resolve(self, name: str, target: str) -> tuple[str, str, str] | None:
        if name == "numref":
            return self._numref(target)
        if name == "ref":
            std = _std(self.app)
            found = std.labels.get(target.lower())
            return (found[2], found[0], found[1]) if found and found[2] else None
        if name == "eqref":
            return self._xref("math", "eq", target)
        if name in ("cite", "citep", "citet"):
            return self._xref("cite", "t" if name == "citet" else "p", target)
        return None

    def _xref(self, domain: str, typ: str, target: str) -> tuple[str, str, str] | None:
        """A domain's own resolution (the text); its page and anchor from the link."""
        node = addnodes.pending_xref("", refdomain=domain, reftype=typ, reftarget=target,
                                     refexplicit=False, refwarn=False, refdoc="")
        contnode = nodes.inline(target, target)
        node += contnode
        found = self.env.get_domain(domain).resolve_xref(
            self.env, self.app.config.root_doc, self.builder, typ, target, node, contnode)
        if found is None or not found.astext().strip():
            return None
        docname, anchor = self._target(found)
        return found.astext(), docname, anchor

    def _target(self, found: nodes.Node) -> tuple[str, str]:
        """The page and anchor a resolved reference (from the root page) points to."""
        refs = [found] if isinstance(found, nodes.reference) else list(
            found.findall(nodes.reference)) if isinstance(found, nodes.Element) else []
        if not refs:
            return "", ""
        ref = refs[0]
        if ref.get("refid"):
            return str(self.app.config.root_doc), str(ref["refid"])
        uri, _, anchor = str(ref.get("refuri", "")).partition("#")
        root_uri = self.builder.get_target_uri(self.app.config.root_doc)
        path = posixpath.normpath(posixpath.join(posixpath.dirname(root_uri), uri))
        return self._uri_docs().get(path, ""), anchor

    def _uri_docs(self) -> dict[str, str]:
        """Page URI → docname (built on first use)."""
        if self._uri_map is None:
            self._uri_map = {
                posixpath.normpath(self.builder.get_target_uri(d)): d
                for d in self.env.found_docs}
        return self._uri_map

    def _numref(self, target: str) -> tuple[str, str, str] | None:
        """Sphinx's numbering of a figure, table, listing or section (as
        ``StandardDomain._resolve_numref_xref``, with the target pages' doctrees kept)."""
        std = _std(self.app)
        label = target.lower()
        if label in std.labels:
            docname, labelid, figname = std.labels[label]
        elif label in std.anonlabels:
            (docname, labelid), figname = std.anonlabels[label], ""
        else:
            return None
        figtype, number = self._number(docname, labelid, figname)
        if figtype is None or not number:
            return None
        fmt = str(self.env.config.numfig_format.get(figtype, ""))
        fignum = ".".join(map(str, number))
        try:
            text = (fmt.format(name=figname or "", number=fignum)
                    if "{name}" in fmt or "number" in fmt else fmt % fignum)
        except (KeyError, TypeError, ValueError, IndexError):
            return None
        return text, docname, labelid

    def _number(self, docname: str, labelid: str, figname: str,
                ) -> tuple[str | None, tuple[int, ...] | None]:
        """The kind and number of a label's target. From the numbers Sphinx assigned
        where they tell (a figure, table, listing or equation; a subsection; the page's
        title), else from the target node in its page's doctree (Sphinx's way: the
        doctrees of a big book are slow to unpickle, one per page referenced)."""
        env = self.env
        for figtype, numbers in env.toc_fignumbers.get(docname, {}).items():
            if labelid in numbers:
                return (figtype, numbers[labelid]) if env.config.numfig else (None, None)
        sections = env.toc_secnumbers.get(docname, {})
        if f"#{labelid}" in sections:
            return "section", sections[f"#{labelid}"]
        title = env.titles.get(docname)
        if figname and title is not None and title.astext() == figname and "" in sections:
            return "section", sections[""]
        std = _std(self.app)
        target_node = self._doctree(docname).ids.get(labelid)
        kind = std.get_enumerable_node_type(target_node) if target_node else None
        if kind is None or (kind != "section" and not env.config.numfig):
            return None, None
        try:
            return kind, std.get_fignumber(env, self.builder, kind, docname, target_node)
        except ValueError:
            return None, None

    def _doctree(self, docname: str) -> nodes.document:
        if docname in self._doctrees:
            self._doctrees.move_to_end(docname)
        else:
            self._doctrees[docname] = self.env.get_doctree(docname)
            if len(self._doctrees) > DOCTREES_KEPT:
                self._doctrees.popitem(last=False)
        return self._doctrees[docname]

    def url(self, fromdoc: str, docname: str, anchor: str) -> str:
        """The link from ``fromdoc``'s notebook to ``docname`` (``anchor`` in its HTML)."""
        if not docname:
            return ""
        if self.baseurl:
            uri = self.builder.get_target_uri(docname)
            return self.baseurl.rstrip("/") + "/" + uri + (f"#{anchor}" if anchor else "")
        if docname == fromdoc:
            return ""
        return notebook_relpath(fromdoc, docname)


def notebook_relpath(fromdoc: str, docname: str) -> str:
    """The relative path from ``fromdoc``'s notebook to ``docname``'s."""
    return posixpath.relpath(docname + ".ipynb", posixpath.dirname(fromdoc) or ".")


class SphinxReferences:
    """:class:`.notebooks.References` of one page, from the build's environment."""

    def __init__(self, resolutions: Resolutions, docname: str) -> None:
        self.res = resolutions
        self.docname = docname

    def role(self, name: str, target: str) -> Link | None:
        found = self.res.resolve(name, target)
        if found is None:
            return None
        text, docname, anchor = found
        from .notebooks import Link

        return Link(text, self.res.url(self.docname, docname, anchor))

    def equation_number(self, label: str) -> str | None:
        found = self.res.resolve("eqref", label)
        if found is None:
            return None
        return found[0].strip().strip("()") or None

    def toc(self, entry: str) -> Link | None:
        env = self.res.env
        docname = docname_join(self.docname, entry.strip())
        if docname.startswith("/"):
            docname = docname[1:]
        if docname not in env.found_docs:
            return None
        title = env.titles[docname].astext() if docname in env.titles else entry
        from .notebooks import Link

        return Link(title, notebook_relpath(self.docname, docname))

    def bibliography(self, value: str) -> str:
        """The entries of this page's bibliographies, as sphinxcontrib-bibtex lists them."""
        try:
            domain: Any = self.res.env.get_domain("cite")
            import pybtex.plugin

            plain = pybtex.plugin.find_plugin("pybtex.backends", "plaintext")()
            lines = [f"- {c.formatted_entry.text.render(plain)}" for c in domain.citations
                     if c.bibliography_key.docname == self.docname]
        except Exception:  # (no sphinxcontrib-bibtex, or another version's data)
            return ""
        return "\n".join(lines)


def references_fingerprint(app: Sphinx) -> str:
    """A hash of what resolved references depend on: labels, numbers, titles,
    equations, citations, and the options that format them."""
    env = app.env
    config = app.config
    std = _std(app)
    data: dict[str, Any] = {
        "labels": std.labels, "anonlabels": std.anonlabels,
        "secnumbers": env.toc_secnumbers, "fignumbers": env.toc_fignumbers,
        "titles": {d: t.astext() for d, t in env.titles.items()},
        "math": env.get_domain("math").data.get("objects", {}),
        "config": [config.numfig, config.numfig_format, config.math_numfig,
                   getattr(config, "math_eqref_format", None), config.html_baseurl,
                   getattr(config, "bibtex_reference_style", None), config.root_doc,
                   app.builder.name],
    }
    try:
        domain: Any = env.get_domain("cite")
        data["cite"] = [[c.key, c.citation_id, c.bibliography_key.docname,
                         c.formatted_entry.label] for c in domain.citations]
        data["bibfiles"] = {str(k): str(v) for k, v in domain.bibdata.bibfiles.items()}
    except Exception:  # no sphinxcontrib-bibtex
        pass
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
