"""What d2lbook's generated conf.py and its ``build eval`` always have, for a migrated book
(Sphinx-free): its extensions (autodoc with the frameworks that are not installed mocked,
viewcode), kernels run with ``PYTHONWARNINGS=ignore``, and the bibliography files its pages
name (``:bibliography:``).
"""

from __future__ import annotations

import fnmatch
import glob
import importlib.util
import os
import re
from typing import Any

#: The extensions d2lbook's generated conf.py always has (recommonmark aside: the pages
#: are read by this extension); ``sphinxcontrib.rsvgconverter`` (SVG figures in LaTeX)
#: only when installed, and ``sphinxcontrib.bibtex`` when the book has a bibliography.
#: :mod:`.autodoc_mocks` lets d2l's modules import with their frameworks mocked.
D2LBOOK_EXTENSIONS = ("sphinx.ext.autodoc", "sphinx_d2ltabs.autodoc_mocks",
                      "sphinx.ext.viewcode")
OPTIONAL_EXTENSIONS = ("sphinxcontrib.rsvgconverter",)
#: The frameworks of d2l's modules, mocked for autodoc when not installed (with whatever
#: else the book's modules import that is not installed).
FRAMEWORK_IMPORTS = ("torch", "torchvision", "mxnet", "tensorflow", "jax", "flax", "optax",
                     "paddle")
IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+(\w+)[\w.]*[ \t]+import\b|import[ \t]+([\w., \t]+))",
                    re.MULTILINE)
BIBLIOGRAPHY = re.compile(r":bibliography:`([^`]+)`")


def bibliography_files(root: str, includes: list[str], excludes: list[str]) -> list[str]:
    """The ``.bib`` files named by ``:bibliography:`` roles of the book's pages."""
    pages: set[str] = set()
    for pattern in includes or ["**/*.md"]:
        if pattern.endswith(".md"):
            pages.update(glob.glob(pattern, root_dir=root, recursive=True))
    found: list[str] = []
    for page in sorted(pages):
        page = page.replace(os.sep, "/")
        if any(page == ex or page.startswith(ex + "/") or fnmatch.fnmatch(page, ex)
               for ex in excludes):
            continue
        try:
            with open(os.path.join(root, page), encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError):
            continue
        for match in BIBLIOGRAPHY.finditer(text):
            for item in match.group(1).split(","):
                bib = os.path.normpath(os.path.join(os.path.dirname(page), item.strip()))
                bib = bib.replace(os.sep, "/")
                if (not bib.startswith("..") and bib not in found
                        and os.path.isfile(os.path.join(root, bib))):
                    found.append(bib)
    return found


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # (a parent that is not a package, a bad name)
        return False


def imported_modules(text: str) -> set[str]:
    """The top-level modules that Python code imports (absolute imports only)."""
    names: set[str] = set()
    for match in IMPORT.finditer(text):
        if match.group(1):
            names.add(match.group(1))
        else:
            for item in match.group(2).split(","):
                words = item.split()
                if words:
                    names.add(words[0].split(".")[0])
    return names


def _mock_imports(root: str, values: dict[str, Any]) -> list[str]:
    """The modules that autodoc mocks: what the package's modules on disk import (and d2l's
    frameworks) that is not installed here."""
    package = values.get("d2l_lib_package", "d2l")
    folder = os.path.join(root, values.get("d2l_lib_dir", "."), package)
    names = set(FRAMEWORK_IMPORTS)
    for module in values.get("d2l_lib_modules", {}).values():
        try:
            with open(os.path.join(folder, module + ".py"), encoding="utf-8") as fh:
                names |= imported_modules(fh.read())
        except (OSError, UnicodeDecodeError):
            continue
    return sorted(n for n in names if n != package and not _installed(n))


def d2lbook_defaults(root: str, values: dict[str, Any]) -> dict[str, Any]:
    """What d2lbook's generated conf.py, and its ``build eval``, always have.

    The extensions (autodoc for d2l-en's "d2l API Document" page), autodoc's options, the
    modules autodoc mocks, and ``PYTHONWARNINGS=ignore`` in every kernel. ``values`` are
    the file's (the package's location); ``root`` is the book's folder.
    """
    extensions = list(D2LBOOK_EXTENSIONS) + [e for e in OPTIONAL_EXTENSIONS if _installed(e)]
    return {
        "extensions": extensions,
        "autodoc_default_options": {"undoc-members": True, "show-inheritance": True},
        "autodoc_mock_imports": _mock_imports(root, values),
        "d2l_kernel_env": {"*": {"PYTHONWARNINGS": "ignore"}},
    }
