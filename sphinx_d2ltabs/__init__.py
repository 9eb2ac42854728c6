"""Build executable multi-framework books in the d2lbook markdown dialect with Sphinx.

Add ``"sphinx_d2ltabs"`` to ``extensions`` in conf.py and set ``d2l_tabs``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from sphinx.application import Sphinx


def setup(app: Sphinx) -> dict[str, Any]:
    from .sphinx_ext import setup as _setup

    return _setup(app)
