"""The options of what a build shows and writes: outputs, one framework in LaTeX, the
``#@save`` package, aliases, originals of bilingual books, notebooks, links and slides."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from myst_parser.config.dc_validators import deep_iterable
from sphinx.config import ENUM

from .config_validators import (
    BOOL,
    GENERIC_PLACEHOLDER,
    HOSTED_REPOS,
    IDENTIFIER,
    INSIDE,
    LIB_MODULES,
    MIME_OVERRIDES,
    ORIGINAL_LAYOUTS,
    POSITIVE,
    STDERR_MODES,
    STRING,
    UNTRANSLATED_MODES,
    alias_section,
    check,
    framework_map,
    is_list,
    meta,
    one_of,
    regex,
    rule,
)


@dataclass
class ShowOptions:
    """The output, library, bilingual and publishing options of :class:`~.config.D2lConfig`."""

    max_output_chars: int = field(
        default=20000,
        metadata=meta("Text outputs longer than this are truncated with a note.",
                      POSITIVE),
    )
    # how outputs are shown (outputs/render.py, outputs/select.py)
    output_stderr: str = field(
        default="show",
        metadata=meta("What becomes of a cell's stderr output: ``show``, ``remove``, "
                      "``remove-warn`` (removed, with a ``d2l.stderr`` warning), ``warn`` "
                      "(shown, with the warning), ``error`` or ``severe`` (shown, logged "
                      "as an error or a critical message); MyST-NB's ``nb_output_stderr``.",
                      one_of(STDERR_MODES), types=ENUM(*STDERR_MODES)),
    )
    merge_streams: bool = field(
        default=False,
        metadata=meta("Merge a cell's stream outputs that follow one another into one "
                      "stdout and one stderr block (their interleaving depends on timing); "
                      "consecutive outputs of one stream are always merged. MyST-NB's "
                      "``nb_merge_streams``.", BOOL),
    )
    mime_priority_overrides: list[Any] = field(
        default_factory=list,
        metadata=meta("``[(builder, mime type, priority)]``: change the order in which a "
                      "display's MIME types are chosen for a builder (``*``: every "
                      "builder); lower first, ``None`` never chooses the type. The built-in "
                      "orders are numbered 10, 20, ... (``docs/execution.md``); MyST-NB's "
                      "``nb_mime_priority_overrides``.", MIME_OVERRIDES),
    )
    # one framework in LaTeX / PDF and text (latex.py, docs/publishing.md)
    nonhtml_tabs: str = field(
        default="all",
        metadata=meta("Non-HTML builders (latex, text...): ``all`` shows every tab one after "
                      "the other, ``default`` only the default framework, a framework's "
                      "name only that framework (its code, outputs and ``:begin_tab:`` "
                      "text; the others' are left out): one PDF per framework with "
                      "``sphinx-build -b latex -D d2l_nonhtml_tabs=pytorch``.",
                      STRING),
    )
    storage_prefix: str = field(
        default="",
        metadata=meta("Browser localStorage prefix of the remembered tab (default: "
                      "``d2ltabs-<project>-``).", STRING),
    )
    lib_package: str = field(
        default="d2l",
        metadata=meta("Name of the generated ``#@save`` package.",
                      IDENTIFIER),
    )
    lib_dir: str = field(
        default=".",
        metadata=meta("Folder (relative to the source folder) holding the generated package.",
                      INSIDE),
    )
    lib_modules: dict[str, str] = field(
        default_factory=dict,
        metadata=meta("Module file stem per framework, e.g. ``{'pytorch': 'torch'}`` "
                      "(default: the framework name).", LIB_MODULES),
    )
    lib_headers: dict[str, str] = field(
        default_factory=dict,
        metadata=meta("Text kept verbatim at the top of each generated module.",
                      framework_map(STRING, "{framework: text}")),
    )
    aliases: dict[str, dict[str, str]] = field(
        default_factory=dict,
        metadata=meta("d2lbook's ``[library-<tab>]`` aliases per framework: ``lib_name``, "
                      "``simple_alias``, ``fluent_alias``, ``args_alias``, ``reverse_alias``, "
                      "``alias``; applied to the code shown and run in that framework.",
                      framework_map(alias_section, "{framework: {key: text}}")),
    )
    show_original: bool = field(
        default=False,
        metadata=meta("Bilingual books: show the original text kept in an HTML comment as a "
                      "collapsible element after its translation (HTML only).",
                      BOOL),
    )
    # originals rendered, untranslated text, the label (originals.py, docs/bilingual.md)
    original_layout: str = field(
        default="toggle",
        metadata=meta("With ``d2l_show_original``: ``toggle`` puts each original in a "
                      "collapsible element after its translation; ``side-by-side`` shows "
                      "translation and original in two columns on wide screens, one above "
                      "the other on narrow ones (HTML only).",
                      one_of(ORIGINAL_LAYOUTS), types=ENUM(*ORIGINAL_LAYOUTS)),
    )
    original_label: str = field(
        default="",
        metadata=meta("The label of the originals (default: \"Original\" in the book's "
                      "``language``; Vietnamese and Chinese are built in).", STRING),
    )
    untranslated: str = field(
        default="original",
        metadata=meta("Bilingual books: ``original`` shows, in place of a placeholder "
                      "(``d2l_translation_placeholder``: a paragraph, a heading's text, an "
                      "image's caption) after an original, that original, rendered and "
                      "marked as not translated yet (a paragraph: with a note in the book's "
                      "``language``); ``placeholder`` shows the placeholder as written.",
                      one_of(UNTRANSLATED_MODES), types=ENUM(*UNTRANSLATED_MODES)),
    )
    # notebooks, zips and the links of each page (notebooks.py, publish.py,
    # docs/publishing.md)
    notebooks: bool = field(
        default=True,
        metadata=meta("HTML builds: write a Jupyter notebook of every page in every "
                      "framework and a zip per framework into ``<outdir>/_notebooks/``, "
                      "and give each page with code a download button that follows the "
                      "selected tab.", BOOL, rebuild="html"),
    )
    notebook_outputs: bool = field(
        default=True,
        metadata=meta("Keep the executed outputs (this build's, else the cache's) in the "
                      "notebooks.", BOOL, rebuild=""),
    )
    colab: dict[str, str] = field(
        default_factory=dict,
        metadata=meta(
            "Open-in-Colab links per framework: ``{'pytorch': 'd2l-ai/d2l-pytorch-colab'}`` "
            "links a page to ``https://colab.research.google.com/github/<repo>/blob/master/"
            "<docname>.ipynb`` (as d2lbook); ``'owner/repo@branch'`` for another branch.",
            HOSTED_REPOS, rebuild="html"),
    )
    studiolab: dict[str, str] = field(
        default_factory=dict,
        metadata=meta(
            "Open-in-SageMaker-Studio-Lab links per framework, as ``d2l_colab`` (``https://"
            "studiolab.sagemaker.aws/import/github/<repo>/blob/main/<docname>.ipynb``; the "
            "branch defaults to ``main``).",
            HOSTED_REPOS, rebuild="html"),
    )
    slides: list[str] = field(
        default_factory=list,
        metadata=meta(
            "HTML builds: the frameworks whose slides are written, as d2lbook's ``slides``: "
            "a reveal.js deck ``<outdir>/_slides/<framework>/<docname>.html`` of every page "
            "with slide marks (``[**...**]``, ``(**...**)``, ``(~~...~~)``) that has a "
            "notebook in the framework, e.g. ``['pytorch']``. Empty: none.",
            deep_iterable(
                lambda inst, f, v, suffix="": check(
                    v in inst.tab_names, f.name,
                    f"{v!r} is not a configured framework (d2l_tabs = {inst.tab_names})"),
                rule(is_list, "must be a list of framework names, e.g. ['pytorch']",
                     False)),
            rebuild="html"),
    )
    translation_placeholder: str = field(
        default=GENERIC_PLACEHOLDER,
        metadata=meta("Regular expression of an untranslated placeholder paragraph, "
                      "heading text or image caption (translation status report). The "
                      "default matches one that is only a to-do marker (``TODO``, "
                      "``*TBD*``, ``[FIXME]``), in any language; ``migrate`` sets a "
                      "Vietnamese d2lbook book's own (``*dịch đoạn phía trên*``...).",
                      regex),
    )
    lib_enable: bool = field(
        default=True,
        metadata=meta("Generate the ``#@save`` package during the build.",
                      BOOL),
    )
    lib_api_page: str = field(
        default="",
        metadata=meta("Document name of a generated page listing every saved function, "
                      "class and variable per framework, each linked to the cell defining "
                      "it (e.g. ``'api'`` writes ``api.md``; add it to a toc). Empty: none. "
                      "The ``d2l-library-api`` directive renders the same list on any page.",
                      INSIDE),
    )
