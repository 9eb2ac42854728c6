"""Read a d2lbook ``config.ini`` into Sphinx/``d2l_*`` configuration (Sphinx-free).

In conf.py::

    from sphinx_d2ltabs.migrate import config_from_ini
    globals().update(config_from_ini("config.ini"))

or write such a conf.py with ``python -m sphinx_d2ltabs migrate config.ini``. Keys that
d2lbook does not know are reported as unknown; d2lbook keys that have no equivalent here
are reported as ignored. Nothing is dropped silently.
"""

from __future__ import annotations

import configparser
import fnmatch
import glob
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: d2lbook 1.0.3's keys per section (config_default.ini + code), for "unknown key" reports.
KNOWN: dict[str, set[str]] = {
    "project": {"name", "title", "author", "release", "copyright", "lang"},
    "build": {"index", "notebooks", "rsts", "non-notebooks", "exclusions", "dependencies",
              "resources", "eval_notebook", "source_dir", "output_dir", "html_dir",
              "warning_is_error", "sphinx_extensions", "sphinx_configs", "tabs",
              "origin_repo"},
    "library": {"version_file", "save_filename", "save_mark", "save_patterns", "version",
                "root_dir"},
    "library-*": {"lib_file", "lib_name", "simple_alias", "fluent_alias", "args_alias",
                  "alias", "reverse_alias"},
    "html": {"header_links", "favicon", "html_logo", "include_css", "include_js"},
    "pdf": {"main_font", "sans_font", "mono_font", "post_latex", "latex_logo", "bibfile",
            "latex_url", "style"},
    "deploy": {"google_analytics_tracking_id", "github_repo", "s3_bucket",
               "other_file_s3urls"},
    "colab": {"github_repo", "exclusions", "libs", "libs_header", "gpu_pattern",
              "replace_svg_url"},
    "sagemaker": {"github_repo", "kernel", "libs", "libs_header"},
    "slides": {"top_left", "top_right", "github_repo"},
    "translation": {"origin_repo", "origin_lang", "translator", "terminology"},
}

#: Known keys with no equivalent in a Sphinx build (reported as ignored).
NOT_USED = {
    ("project", "name"): "used by d2lbook for zip/pdf file names",
    ("build", "resources"): "Sphinx reads images from the source folder",
    ("build", "source_dir"): "run sphinx-build on that folder",
    ("build", "output_dir"): "the sphinx-build output argument",
    ("build", "html_dir"): "the sphinx-build output argument",
    ("build", "warning_is_error"): "pass -W to sphinx-build",
    ("build", "origin_repo"): "not used by sphinx_d2ltabs",
    ("library", "version_file"): "not written by sphinx_d2ltabs",
    ("library", "version"): "not written by sphinx_d2ltabs",
    ("library", "save_filename"): "deprecated in d2lbook",
    ("library", "save_mark"): "deprecated in d2lbook",
    ("library", "save_patterns"): "deprecated in d2lbook",
    ("library", "root_dir"): "deprecated in d2lbook",
    ("html", "header_links"): "use the theme's options (e.g. icon_links)",
    ("html", "include_css"): "use html_css_files",
    ("html", "include_js"): "use html_js_files",
    ("pdf", "main_font"): "use latex_elements['fontpkg']",
    ("pdf", "sans_font"): "use latex_elements['fontpkg']",
    ("pdf", "mono_font"): "use latex_elements['fontpkg']",
    ("pdf", "post_latex"): "not supported",
    ("pdf", "latex_logo"): "use latex_logo",
    ("pdf", "latex_url"): "not supported",
    ("pdf", "style"): "not supported",
}
IGNORED_SECTIONS = {"deploy", "colab", "sagemaker", "slides", "translation"}
ALIAS_KEYS = {"lib_name", "simple_alias", "fluent_alias", "args_alias", "alias", "reverse_alias"}


@dataclass
class Migration:
    values: dict[str, Any] = field(default_factory=dict)
    sphinx_configs: str = ""
    unknown: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def _words(value: str) -> list[str]:
    return [w for w in value.replace("\n", " ").split() if w]


BIBLIOGRAPHY = re.compile(r":bibliography:`([^`]+)`")


def _bibliography_files(root: str, includes: list[str], excludes: list[str]) -> list[str]:
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


def read_config_ini(path: str) -> Migration:
    """Translate ``path`` (a d2lbook config.ini) into conf.py values."""
    parser = configparser.ConfigParser()
    with open(path, encoding="utf-8") as fh:
        parser.read_file(fh)
    mig = Migration()
    v = mig.values
    extensions = ["sphinx_d2ltabs"]
    excludes = ["_build", "**/.ipynb_checkpoints"]
    lib_modules: dict[str, str] = {}
    lib_dirs: set[str] = set()
    rsts: list[str] = []
    for section in parser.sections():
        generic = "library-*" if section.startswith("library-") else section
        known = KNOWN.get(generic)
        for key, value in parser.items(section, raw=True):
            try:  # as d2lbook's ConfigParser: '%%' is '%' (d2l-zh's numfig_format)
                value = parser.get(section, key)
            except (configparser.InterpolationError, ValueError):
                pass
            where = f"[{section}] {key}"
            if known is None or key not in known:
                mig.unknown.append(where)
                continue
            if section in IGNORED_SECTIONS:
                mig.ignored.append(f"{where}: d2lbook's {section} step is not part of a "
                                   "Sphinx build")
                continue
            if (section, key) in NOT_USED:
                mig.ignored.append(f"{where}: {NOT_USED[(section, key)]}")
                continue
            value = value.strip()
            if section == "project":
                target = {"title": "project", "author": "author", "release": "release",
                          "copyright": "copyright", "lang": "language"}[key]
                v[target] = value
            elif section == "build":
                if key == "index":
                    v["root_doc"] = value
                elif key == "tabs":
                    v["d2l_tabs"] = [t.strip().lower() for t in value.split(",") if t.strip()]
                elif key == "eval_notebook":
                    if value.lower() in ("false", "0", "no", "off"):
                        v["d2l_execute"] = "off"
                elif key == "notebooks":
                    # d2lbook evaluates only these (d2l-en: "*.md */*.md", so deeper
                    # pages such as contrib/chapter_x/y.md are not part of the book)
                    v["include_patterns"] = _words(value)
                elif key == "rsts":  # pages too: kept when notebooks limits the pages
                    rsts.extend(_words(value))
                elif key in ("exclusions", "non-notebooks"):
                    # d2lbook globs these; a folder ("tests/") excludes everything in it
                    excludes.extend(w.rstrip("/") or w for w in _words(value))
                elif key == "dependencies":
                    v["d2l_dependencies"] = _words(value)
                elif key == "sphinx_extensions":
                    extensions.extend(e.strip() for e in value.replace(",", " ").split()
                                      if e.strip())
                elif key == "sphinx_configs":
                    mig.sphinx_configs = value
            elif generic == "library-*":
                tab = section.split("-", 1)[1].lower()
                if key == "lib_file":
                    folder, name = os.path.split(value)
                    lib_modules[tab] = os.path.splitext(name)[0]
                    lib_dirs.add(folder)
                elif key in ALIAS_KEYS:
                    v.setdefault("d2l_aliases", {}).setdefault(tab, {})[key] = value
            elif section == "html":
                v["html_favicon" if key == "favicon" else "html_logo"] = value
            elif section == "pdf" and key == "bibfile":
                v["bibtex_bibfiles"] = [value]
                if "sphinxcontrib.bibtex" not in extensions:
                    extensions.append("sphinxcontrib.bibtex")
                v["bibtex_reference_style"] = "author_year"
    if lib_modules:
        v["d2l_lib_modules"] = lib_modules
        folder = sorted(lib_dirs)[0]
        parent, package = os.path.split(folder.rstrip("/"))
        v["d2l_lib_package"] = package or "d2l"
        v["d2l_lib_dir"] = parent or "."
        if len(lib_dirs) > 1:
            mig.ignored.append(f"[library-*] lib_file: several folders {sorted(lib_dirs)}; "
                               f"using {folder}")
    if "include_patterns" in v:
        v["include_patterns"] = v["include_patterns"] + rsts
    if "bibtex_bibfiles" not in v:
        # no [pdf] bibfile: d2lbook's old sphinxcontrib-bibtex took the file from the
        # `:bibliography:` role itself (d2l-vn); the current one needs bibtex_bibfiles
        bibs = _bibliography_files(os.path.dirname(os.path.abspath(path)),
                                   v.get("include_patterns", []), excludes)
        if bibs:
            v["bibtex_bibfiles"] = bibs
            extensions.append("sphinxcontrib.bibtex")
            v["bibtex_reference_style"] = "author_year"
    v["extensions"] = extensions
    v["exclude_patterns"] = excludes
    return mig


def config_from_ini(path: str = "config.ini",
                    report: Callable[[str], None] | None = None) -> dict[str, Any]:
    """conf.py values for a d2lbook book; unknown and ignored keys are reported."""
    base = os.path.dirname(os.path.abspath(sys._getframe(1).f_globals.get("__file__", path)))
    full = path if os.path.isabs(path) else os.path.join(base, path)
    mig = read_config_ini(full)
    say = report or (lambda msg: print(f"sphinx_d2ltabs: {msg}", file=sys.stderr))
    for item in mig.unknown:
        say(f"{path}: unknown key {item} (not a d2lbook option; ignored)")
    for item in mig.ignored:
        say(f"{path}: {item} (ignored)")
    values = dict(mig.values)
    if mig.sphinx_configs:
        exec(mig.sphinx_configs, values)  # the book's own conf.py code, as d2lbook pastes it
        values.pop("__builtins__", None)
    return values


def conf_py(config_ini: str = "config.ini") -> str:
    """The three-line conf.py that builds a d2lbook book from its config.ini."""
    return (
        "# Built with sphinx_d2ltabs from the d2lbook configuration.\n"
        "from sphinx_d2ltabs.migrate import config_from_ini\n"
        f"globals().update(config_from_ini({config_ini!r}))\n"
    )
