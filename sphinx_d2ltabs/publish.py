"""Sphinx glue: notebooks, zips, and the download / Colab / Studio Lab links of each page.

HTML builds (``html``, ``dirhtml``) only:

* ``env-updated``: forget the last build's frameworks of each page with code
  (:func:`collect_pages`); a page's are read from the pages index when it is written
  (:func:`page_frameworks`: a no-op rebuild writes none);
* ``html-page-context``: a box of links per framework (download the notebook, the zip,
  Colab, Studio Lab) before the page's body; ``d2ltabs-notebooks.js`` shows the box of the
  selected framework tab (sphinx-design's synced, remembered tab state);
* while the pages are written (:mod:`.after_write`), else at ``build-finished``:
  ``<outdir>/_notebooks/<framework>/<docname>.ipynb`` for every
  (page, framework) (:mod:`.notebooks`, references resolved by :mod:`.notebook_refs`),
  the local images they show next to them, and ``<outdir>/_notebooks/<book>-<framework>
  .zip`` (:mod:`.notebook_files`). A manifest in the doctree folder skips the pages whose
  source, results and references did not change.
"""

from __future__ import annotations

import html
import os
import re
import time
from dataclasses import dataclass
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

from .state import get_state
from .warnings_ import D2lWarning, warn

logger = logging.getLogger(__name__)

NOTEBOOK_DIR = "_notebooks"
HTML_BUILDERS = ("html", "dirhtml")
ASSETS = ("d2ltabs-notebooks.css", "d2ltabs-notebooks.js")
REPOSITORY = re.compile(r"^(?P<repo>[^@\s]+)(?:@(?P<branch>\S+))?$")
COLAB_URL = "https://colab.research.google.com/github/{repo}/blob/{branch}/{path}"
STUDIOLAB_URL = "https://studiolab.sagemaker.aws/import/github/{repo}/blob/{branch}/{path}"


def book_name(project: str) -> str:
    """The zips' base name: the project, lower case, words (any script) joined by ``-``."""
    return re.sub(r"[\W_]+", "-", project.lower()).strip("-") or "book"


def hosted_url(template: str, repository: str, default_branch: str, docname: str) -> str:
    """A notebook's URL on a hosted service (``owner/repo[@branch]``): d2lbook's Colab
    rule, ``.../github/<repo>/blob/master/<docname>.ipynb``."""
    m = REPOSITORY.match(repository.strip())
    repo, branch = (m.group("repo"), m.group("branch")) if m else (repository, None)
    return template.format(repo=repo, branch=branch or default_branch,
                           path=f"{docname}.ipynb")


@dataclass(frozen=True)
class FrameworkLinks:
    """The links of a page in one framework (empty: none)."""

    framework: str
    label: str
    notebook: str = ""
    zip: str = ""
    colab: str = ""
    studiolab: str = ""
    slides: str = ""


def links_html(items: list[FrameworkLinks], default: str) -> str:
    """The box of links of a page: one group per framework (``data-d2l-framework``),
    all shown without JavaScript; the script shows the selected framework's."""
    groups = []
    for item in items:
        links = []
        for kind, url, text, title in (
            ("download", item.notebook, "Notebook", "Download this page as a Jupyter "
                                                    "notebook"),
            ("zip", item.zip, "All notebooks", "Download every notebook of the book, "
                                               "zipped"),
            ("colab", item.colab, "Colab", "Open the notebook in Colab"),
            ("studiolab", item.studiolab, "Studio Lab",
             "Open the notebook in SageMaker Studio Lab"),
            ("slides", item.slides, "Slides", "Open the slides of this page"),
        ):
            if not url:
                continue
            extra = (' download' if kind in ("download", "zip")
                     else ' target="_blank" rel="noopener"')
            links.append(f'<a class="d2l-nb-link d2l-nb-{kind}" href="{html.escape(url)}"'
                         f'{extra} title="{html.escape(f"{title} ({item.label})")}">'
                         f'{html.escape(text)}</a>')
        if links:
            groups.append(f'<span class="d2l-nb-group" data-d2l-framework="'
                          f'{html.escape(item.framework)}"><span class="d2l-nb-label">'
                          f'{html.escape(item.label)}</span>{"".join(links)}</span>')
    if not groups:
        return ""
    return (f'<div class="d2l-notebook-links" data-d2l-default="{html.escape(default)}">'
            + "".join(groups) + "</div>\n")


# ---------------------------------------------------------------------- events


def _enabled(app: Sphinx) -> bool:
    cfg = get_state(app.env).config
    return (app.builder is not None and app.builder.name in HTML_BUILDERS and cfg is not None
            and bool(cfg.notebooks or cfg.colab or cfg.studiolab))


def on_builder_inited(app: Sphinx) -> None:
    if _enabled(app):
        app.add_css_file(ASSETS[0])
        app.add_js_file(ASSETS[1])


def collect_pages(app: Sphinx, env: Any) -> list[str]:
    """``env-updated``: the frameworks of each page with code (the links' frameworks)
    are to be found again (:func:`page_frameworks`)."""
    get_state(env).notebook_pages = None
    return []


def page_frameworks(app: Sphinx, docname: str) -> list[str]:
    """The frameworks of the notebooks of a page with code (none: no code); each page is
    read once per build, when it is written, from the pages index."""
    state = get_state(app.env)
    if state.notebook_pages is None:
        state.notebook_pages = {}
    if docname in state.notebook_pages:
        return state.notebook_pages[docname]
    found: list[str] = []
    path = str(app.env.doc2path(docname))
    if _enabled(app) and path.endswith(".md"):
        from .mystnb_compat import is_notebook_page
        from .notebook_files import page_reader
        from .notebooks import notebook_frameworks

        info = None if is_notebook_page(app.env, path) else page_reader(state).read(path)
        if info is not None and any(not c.setup_only for c in info.cells):
            found = notebook_frameworks(info.cells, state.cfg.tab_names)
    state.notebook_pages[docname] = found
    return found


def on_html_page_context(app: Sphinx, pagename: str, templatename: str,
                         context: dict[str, Any], doctree: nodes.document | None) -> None:
    state = get_state(app.env)
    if doctree is None or "body" not in context:
        return
    frameworks = page_frameworks(app, pagename)
    if not frameworks:
        return
    cfg = state.cfg
    zip_base = book_name(str(app.config.project))
    pathto = context["pathto"]
    items = []
    for fw in frameworks:
        local = cfg.notebooks
        items.append(FrameworkLinks(
            framework=fw, label=cfg.label(fw),
            notebook=pathto(f"{NOTEBOOK_DIR}/{fw}/{pagename}.ipynb", 1) if local else "",
            zip=pathto(f"{NOTEBOOK_DIR}/{zip_base}-{fw}.zip", 1) if local else "",
            colab=(hosted_url(COLAB_URL, cfg.colab[fw], "master", pagename)
                   if fw in cfg.colab else ""),
            studiolab=(hosted_url(STUDIOLAB_URL, cfg.studiolab[fw], "main", pagename)
                       if fw in cfg.studiolab else ""),
            slides=(pathto(f"_slides/{fw}/{pagename}.html", 1)
                    if fw in state.slide_pages.get(pagename, ()) else ""),
        ))
    default = cfg.default_tab if cfg.default_tab in frameworks else frameworks[0]
    context["body"] = links_html(items, default) + context["body"]


def notebooks_wanted(app: Sphinx) -> bool:
    """Whether this build writes notebooks (an HTML build with ``d2l_notebooks``)."""
    return _enabled(app) and get_state(app.env).cfg.notebooks


def write_notebooks_step(app: Sphinx) -> None:
    """The notebooks and zips of the build, and a line that says what was written (run
    by :mod:`.after_write` while the pages are written, or at ``build-finished``)."""
    from .notebook_files import write_notebooks

    start = time.monotonic()
    try:
        summary = write_notebooks(app, os.path.join(str(app.outdir), NOTEBOOK_DIR),
                                  book_name(str(app.config.project)))
    except OSError as err:
        warn(logger, f"cannot write the notebooks into {NOTEBOOK_DIR}/: "
             f"{err.strerror or err}", D2lWarning.OUTPUT)
        return
    logger.info(f"[d2l] notebooks: {summary.written} written, {summary.unchanged} "
                f"unchanged, {len(summary.zips)} zip(s) written, in "
                f"{time.monotonic() - start:.1f} s ({NOTEBOOK_DIR}/)")


def setup_publish(app: Sphinx) -> None:
    app.connect("builder-inited", on_builder_inited, priority=600)  # (after the config)
    app.connect("env-updated", collect_pages)
    app.connect("html-page-context", on_html_page_context)
    # (the notebooks: .after_write)
