"""MyST-NB alongside: which parser owns a page, whatever the order of ``extensions``.

MyST-NB (``myst_nb``) maps ``.md`` and ``.ipynb`` to its own file type (``myst-nb``). Left
alone, loaded before this extension it makes myst-parser's own setup fail (``.md`` is
already registered), and loaded after it it takes every ``.md`` page away from the
dialect. The rule, in either order:

* MyST-NB is set up first (:func:`setup_markdown`), so both orders are one;
* ``.md`` is read by :class:`~.parser.D2lParser` (:func:`claim_markdown`, at
  ``config-inited``, once every extension is set up);
* a page MyST-NB reads as a notebook, by its own test (``create_nb_reader``: a MyST
  text notebook's ``jupytext``/``file_format: mystnb`` front matter, or a suffix of
  ``nb_custom_formats``), is handed to MyST-NB's parser (:func:`notebook_parser`) and
  executed by MyST-NB as ``nb_execution_mode`` says; the execution phase leaves it out
  (:func:`is_notebook_page`);
* ``.ipynb`` stays MyST-NB's, untouched.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from sphinx.errors import ConfigError
from sphinx.util import logging

from .warnings_ import D2lWarning, warn

if TYPE_CHECKING:
    from docutils.parsers import Parser
    from sphinx.application import Sphinx
    from sphinx.config import Config
    from sphinx.environment import BuildEnvironment

logger = logging.getLogger(__name__)

MYST_NB = "myst_nb"
MYST_PARSER = "myst_parser"
NB_FILETYPE = "myst-nb"
MD_FILETYPE = "markdown"


def setup_markdown(app: Sphinx) -> None:
    """Set up myst-parser for the dialect; MyST-NB first when the book lists it.

    MyST-NB sets up myst-parser's configuration and transforms itself (without its
    parser) and maps ``.md`` to its own parser: the ``myst_parser`` extension set up
    after it fails ("source_suffix '.md' is already registered"), and before it (up to
    myst-parser 5.1) MyST-NB's own set-up fails. So a book that lists ``myst_nb``, in
    any place, has it set up here, first, and ``myst_parser`` not at all: one order
    for either list. :func:`claim_markdown` then gives ``.md`` back to the dialect
    once every extension is set up.
    """
    listed = app.config.extensions
    if MYST_NB in listed:
        if MYST_PARSER in listed:
            raise ConfigError("extensions: list 'myst_nb' without 'myst_parser' (MyST-NB "
                              "sets myst-parser up itself and fails next to it)")
        app.setup_extension(MYST_NB)
    if MYST_NB not in app.extensions:
        app.setup_extension(MYST_PARSER)
    app.connect("config-inited", own_source_suffix, priority=700)  # before Sphinx's merge
    app.connect("config-inited", claim_markdown, priority=900)  # after Sphinx's merge (800)


def own_source_suffix(app: Sphinx, config: Config) -> None:
    """Give this build its own ``source_suffix`` dict.

    A conf.py that does not set ``source_suffix`` gets Sphinx's default, one dict shared by
    every Sphinx application of the process, and Sphinx's ``merge_source_suffix`` writes the
    extensions' suffixes into it: after a build with MyST-NB, the next book built in the
    same process (tests, a watcher that builds in-process) would map ``.ipynb`` to a
    parser it does not have.
    """
    if isinstance(config.source_suffix, dict):
        config.source_suffix = dict(config.source_suffix)


def claim_markdown(app: Sphinx, config: Config) -> None:
    """``.md`` pages go to :class:`~.parser.D2lParser` (which hands MyST-NB its
    notebooks); a ``.md`` owned by another parser is one ``d2l.config`` warning."""
    from .parser import D2lParser

    suffixes: dict[str, Any] = config.source_suffix
    filetype = suffixes.get(".md")
    if filetype == NB_FILETYPE:
        suffixes[".md"] = MD_FILETYPE
        app.registry.source_suffix[".md"] = MD_FILETYPE  # (the same dict since Sphinx 1.8)
        return
    parser = app.registry.get_source_parsers().get(str(filetype))
    if parser is not None and not issubclass(parser, D2lParser):
        warn(logger, f"'.md' pages are read by {parser.__module__}.{parser.__name__} "
             f"(source_suffix '.md': {filetype!r}), not by sphinx_d2ltabs: the d2l dialect "
             "is not parsed", D2lWarning.CONFIG)


def _nb_configs(env: BuildEnvironment) -> tuple[Any, Any] | None:
    """MyST-NB's and myst-parser's configs of this build; None when MyST-NB is not set
    up in it (``env.mystnb_config`` alone may be left from a build that had it)."""
    if "nb_custom_formats" not in env.config:
        return None
    nb_config = getattr(env, "mystnb_config", None)
    md_config = getattr(env, "myst_config", None)
    if nb_config is None or md_config is None:
        return None
    return nb_config, md_config


def _reader(env: BuildEnvironment, path: str, content: Any) -> bool:
    """Whether MyST-NB reads ``path`` (with ``content``: text or lines) as a notebook."""
    configs = _nb_configs(env)
    if configs is None:
        return False
    nb_config, md_config = configs
    from myst_nb.core.read import create_nb_reader

    try:
        return create_nb_reader(path, md_config, nb_config, content) is not None
    except Exception:
        # only a nb_custom_formats reader that cannot be imported: the suffix matched,
        # so the page is MyST-NB's (which reports the problem when it reads it)
        return True


def is_notebook_page(env: BuildEnvironment, path: str) -> bool:
    """Whether MyST-NB owns the ``.md`` page at ``path`` (read lazily: the front matter
    only). False when MyST-NB is not loaded or the file cannot be read; a byte that is
    not UTF-8 is read as U+FFFD, as :mod:`.encoding` reads the page."""
    if _nb_configs(env) is None:
        return False
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return _reader(env, os.fspath(path), fh)
    except OSError:
        return False


def notebook_parser(parser: Parser, env: BuildEnvironment, text: str) -> Parser | None:
    """MyST-NB's parser, set up as ``parser`` is, for a page MyST-NB reads as a
    notebook; None for a d2l page (or when MyST-NB is not loaded)."""
    if not _reader(env, str(env.doc2path(env.docname)), text):
        return None
    from myst_nb.sphinx_ import Parser as NbParser

    delegate = NbParser()
    # the attributes Sphinx gave ``parser`` (its config and environment: ``_config``
    # and ``_env`` since Sphinx 9, ``_app``, ``config``, ``env`` before)
    delegate.__dict__.update(parser.__dict__)
    return delegate
