"""MathJax typesets the dialect's ``$...$`` and ``$$...$$``.

The dialect always parses dollar math (:func:`.mdit_d2l.dialect_config` adds
myst-parser's ``dollarmath``), so myst-parser marks each page's top section
``tex2jax_ignore mathjax_ignore`` and counts on MathJax to process only the elements of
the math classes (``myst_mathjax_classes``). myst-parser sets that in the MathJax
configuration only when ``dollarmath`` is in conf.py's ``myst_enable_extensions``; without
it, MathJax ignored every formula of a book. The classes are set here, at
``config-inited`` (so the configuration a rebuild compares is the same), unless the book
set ``processHtmlClass`` itself, turned ``myst_update_mathjax`` off, or lists
``dollarmath`` (myst-parser then does it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sphinx.application import Sphinx


def _config_name(config: Any) -> str:
    """The MathJax configuration Sphinx writes into pages, chosen as myst-parser does."""
    has_v4 = "mathjax4_config" in config
    if has_v4 and config.mathjax4_config:
        return "mathjax4_config"
    if config.mathjax3_config or not has_v4:
        return "mathjax3_config"
    return "mathjax4_config"


def process_math_classes(app: Sphinx, config: Any) -> None:
    """``config-inited``: MathJax processes the elements of the math classes."""
    if "mathjax3_config" not in config or "myst_update_mathjax" not in config:
        return
    if not config.myst_update_mathjax or "dollarmath" in (config.myst_enable_extensions or ()):
        return
    name = _config_name(config)
    current = dict(config[name] or {})
    options = dict(current.get("options") or {})
    if "processHtmlClass" in options:
        return
    options["processHtmlClass"] = config.myst_mathjax_classes
    current["options"] = options
    config[name] = current


def setup_mathjax_classes(app: Sphinx) -> None:
    app.connect("config-inited", process_math_classes)
