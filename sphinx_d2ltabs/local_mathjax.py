"""MathJax served with the book instead of from a CDN (an opt-in Sphinx extension).

``extensions = ["sphinx_d2ltabs", "sphinx_d2ltabs.local_mathjax"]`` makes Sphinx's
``sphinx.ext.mathjax`` load MathJax 3 from the book's own ``_static/mathjax/``: math is
typeset offline, behind a firewall, and on sites that allow no third-party scripts.
MathJax comes from the ``django-static-mathjax`` package (MathJax's own distribution,
Apache-2.0; nothing of Django is needed: ``pip install "sphinx_d2ltabs[mathjax]"``). HTML
builds copy ``tex-chtml-full.js`` (every TeX extension built in, so nothing is loaded
later) and its CHTML fonts, about 1.7 MB. ``mathjax_path`` points there unless conf.py
sets it. Books without this extension keep Sphinx's default, MathJax from a CDN.
"""

from __future__ import annotations

import filecmp
import os
import shutil
from typing import TYPE_CHECKING, Any

from .config_error import D2lConfigError

if TYPE_CHECKING:
    from sphinx.application import Sphinx

SCRIPT = "tex-chtml-full.js"
FONTS = os.path.join("output", "chtml", "fonts", "woff-v2")
#: where the files go, under the output folder's ``_static``
TARGET = "mathjax"
#: the HTML builders that load MathJax (EPUB readers do not run it)
BUILDERS = frozenset({"html", "dirhtml", "singlehtml"})
MISSING = ("sphinx_d2ltabs.local_mathjax: MathJax is not installed (pip install "
           "'sphinx_d2ltabs[mathjax]', i.e. django-static-mathjax)")


def mathjax_dir() -> str | None:
    """The ``es5`` folder of the installed MathJax (its browser files), if any."""
    try:
        import mathjax  # django-static-mathjax
    except ImportError:
        return None
    for base in getattr(mathjax, "__path__", []):
        folder = os.path.join(base, "static", "mathjax", "es5")
        if os.path.isfile(os.path.join(folder, SCRIPT)):
            return folder
    return None


def on_config_inited(app: Sphinx, config: Any) -> None:
    if mathjax_dir() is None:
        raise D2lConfigError(MISSING)
    if "mathjax_path" not in config._raw_config:
        config.mathjax_path = f"{TARGET}/{SCRIPT}"


def _copy(source: str, target: str) -> None:
    """Copy a file unless the same one is there (every build would rewrite 1.7 MB)."""
    if os.path.isfile(target) and filecmp.cmp(source, target, shallow=False):
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copyfile(source, target)


def copy_mathjax(app: Sphinx, exception: BaseException | None) -> None:
    """``build-finished``: the script and its fonts into ``_static/mathjax/``."""
    folder = mathjax_dir()
    if exception is not None or folder is None or app.builder.name not in BUILDERS:
        return
    target = os.path.join(str(app.outdir), "_static", TARGET)
    _copy(os.path.join(folder, SCRIPT), os.path.join(target, SCRIPT))
    fonts = os.path.join(folder, FONTS)
    for name in sorted(os.listdir(fonts)):
        _copy(os.path.join(fonts, name), os.path.join(target, FONTS, name))


def setup(app: Sphinx) -> dict[str, Any]:
    from . import __version__

    app.setup_extension("sphinx.ext.mathjax")
    app.connect("config-inited", on_config_inited)
    app.connect("build-finished", copy_mathjax)
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}
