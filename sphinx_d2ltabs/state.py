"""The extension's build state, behind one typed accessor.

Everything the extension keeps on the Sphinx environment lives in one
:class:`D2lState` at ``env.d2l_state``, reached through :func:`get_state`. Two kinds of
fields:

* kept between builds (pickled with the environment): the cache keys each document was
  rendered with (:attr:`D2lState.doc_keys`, per document, kept right under ``-j`` by
  :class:`D2lCollector`), the record of the last full execution phase for the no-op
  path (:attr:`D2lState.last_run`) and the library's API list;
* this build only (set at ``builder-inited``, never pickled): the validated config, the
  folders, the execution results verified in this build, the report.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sphinx.environment.collectors import EnvironmentCollector

if TYPE_CHECKING:
    from docutils import nodes
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment

    from .config import D2lConfig
    from .execution.model import JobResult
    from .pages import PageReader

ATTRIBUTE = "d2l_state"


@dataclass
class LastRun:
    """What the last full execution phase left, for the no-op path of the next build."""

    fingerprint: str
    """:func:`~.phase.book_fingerprint` of the book as that phase left it."""
    extras: dict[str, str]
    """The per-framework part of the cache keys (library and dependency hashes)."""
    lib_path: str | None
    keys: dict[str, dict[str, str]]
    """docname → framework → cache key of every planned job."""
    report: dict[str, Any]
    stamps: dict[str, tuple[str, int, int, int, int]] = field(default_factory=dict)
    """cache key → the stamp of the entry that phase used (:mod:`.execution.stamps`)."""


@dataclass
class D2lState:
    """The extension's state on one Sphinx environment."""

    # ------------------------------------------------------------ kept between builds
    doc_keys: dict[str, dict[str, str]] = field(default_factory=dict)
    """docname → framework → the cache key whose outputs its doctree shows (a framework
    whose outputs were missing is left out, so the page is read again)."""
    last_run: LastRun | None = None
    api: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """framework → saved names of the library (the API page)."""
    status_stamp: str = ""
    """What the translation status was last decided from, and the decision
    (:func:`.bilingual_build.write_status_json`)."""

    # ------------------------------------------------------------ this build only
    config: D2lConfig | None = None
    outdir: str = ""
    cache_dir: str = ""
    image_dir: str = ""
    bibtex: bool = False
    extras: dict[str, str] = field(default_factory=dict)
    lib_path: str | None = None
    report: dict[str, Any] = field(default_factory=dict)
    api_changed: bool = False
    results: dict[tuple[str, str], JobResult] = field(default_factory=dict)
    """(docname, framework) → the result read or run, and verified, in this build."""
    warned: set[str] = field(default_factory=set)
    """Problems already reported in this build (each once)."""
    builder_name: str = ""
    """The builder of this build (``html``, ``latex``...; recorded at ``builder-inited``
    by :func:`.builder.record_builder`: transforms have no public way to the builder)."""
    builder_format: str = ""
    """Its output format (``html``, ``latex``, ``text``...)."""
    image_types: frozenset[str] | None = None
    """The image mime types the builder can use, directly or through a registered image
    converter; None where the builder does not say (every image is kept)."""
    page_reader: PageReader | None = None
    """The pages' cells, read once per build (:func:`.notebook_files.page_reader`: the
    execution phase's, else made on first use)."""
    notebook_pages: dict[str, list[str]] | None = None
    """Pages with code → the frameworks of their notebooks (:mod:`.publish`; None: not
    read yet in this build)."""
    slide_pages: dict[str, list[str]] = field(default_factory=dict)
    """Pages with slide marks → the ``d2l_slides`` frameworks of their decks
    (:mod:`.slides_build`)."""
    overlap: Any = None
    """The jobs running while the pages are read (:class:`.overlap.Overlap`), None: none
    (they ran before, or there are none)."""
    pages_read: bool = False
    """Whether this build reads pages (``env-before-read-docs``)."""
    after_write: Any = None
    """The process writing the notebooks and decks while the pages are written
    (:mod:`.after_write`; a :class:`~sphinx.util.parallel.ParallelTasks`), None: none."""

    KEPT = ("doc_keys", "last_run", "api", "status_stamp")

    def __getstate__(self) -> dict[str, Any]:
        # only what later builds need goes into the pickled environment (and into the
        # environments that ``-j`` readers send back)
        return {name: getattr(self, name) for name in self.KEPT}

    def __setstate__(self, data: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]
        for name in self.KEPT:
            if name in data:
                setattr(self, name, data[name])

    @property
    def cfg(self) -> D2lConfig:
        """The validated config of this build (set at ``builder-inited``)."""
        if self.config is None:
            raise RuntimeError("sphinx_d2ltabs: the build state has no config yet")
        return self.config

    def start_build(self) -> None:
        """Forget what belongs to the previous build only."""
        kept = self.__getstate__()
        self.__setstate__(kept)


def get_state(env: BuildEnvironment) -> D2lState:
    """The extension's state on ``env`` (created on first use; a state of another
    shape, e.g. from an older version of the extension, is replaced)."""
    state = getattr(env, ATTRIBUTE, None)
    if not isinstance(state, D2lState):
        state = D2lState()
        setattr(env, ATTRIBUTE, state)
    return state


class D2lCollector(EnvironmentCollector):
    """Keeps the per-document part of the state right when documents are removed,
    re-read, or read in parallel (``-j``)."""

    def clear_doc(self, app: Sphinx, env: BuildEnvironment, docname: str) -> None:
        get_state(env).doc_keys.pop(docname, None)

    def merge_other(self, app: Sphinx, env: BuildEnvironment, docnames: AbstractSet[str],
                    other: BuildEnvironment) -> None:
        mine, theirs = get_state(env).doc_keys, get_state(other).doc_keys
        for docname in docnames:
            if docname in theirs:
                mine[docname] = theirs[docname]

    def process_doc(self, app: Sphinx, doctree: nodes.document) -> None:
        pass
