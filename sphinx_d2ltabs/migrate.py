"""Read a d2lbook ``config.ini`` into Sphinx/``d2l_*`` configuration (Sphinx-free).

In conf.py::

    from sphinx_d2ltabs.migrate import config_from_ini
    globals().update(config_from_ini("config.ini"))

or write such a conf.py with ``python -m sphinx_d2ltabs migrate config.ini``. Keys that
d2lbook does not know are reported as unknown; d2lbook keys that have no equivalent here
are reported as ignored. Nothing is dropped silently.

Besides the keys of the file, the values hold what d2lbook's generated conf.py and its
``build eval`` always have (:func:`d2lbook_defaults`): ``sphinx.ext.autodoc`` with the
frameworks that are not installed mocked, ``sphinx.ext.viewcode``, and kernels run with
``PYTHONWARNINGS=ignore``; ``[build] sphinx_configs`` runs last and can change any of them.
"""

from __future__ import annotations

import configparser
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .migrate_defaults import bibliography_files, d2lbook_defaults

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
#: ``[section] github_repo`` → the option of its buttons (d2lbook's colab/sagemaker steps).
REPO_OPTIONS = {"colab": ("d2l_colab", "Colab"), "sagemaker": ("d2l_studiolab", "SageMaker")}
PROJECT_KEYS = {"title": "project", "author": "author", "release": "release",
                "copyright": "copyright", "lang": "language"}

#: The untranslated placeholders of d2lbook translations, by ``[project] lang``: a book
#: with a ``[translation]`` section gets its language's as d2l_translation_placeholder
#: (d2l-vi: ``*dịch đoạn phía trên*``; its config.ini names none).
PLACEHOLDERS = {"vi": r"^\*dịch (đoạn|tiêu đề|chú thích ảnh) phía trên\*$"}
#: A GitHub repository as d2l_colab/d2l_studiolab take it (config.py checks it too).
REPO = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?")


class ConfigIniError(ValueError):
    """A config.ini that cannot be read; the message names the file (and the line)."""


@dataclass
class Migration:
    values: dict[str, Any] = field(default_factory=dict)
    """The keys of the file as conf.py values."""
    d2lbook: dict[str, Any] = field(default_factory=dict)
    """What d2lbook's conf.py and eval always have (:func:`d2lbook_defaults`)."""
    sphinx_configs: str = ""
    unknown: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def conf_values(self) -> dict[str, Any]:
        """The conf.py values: d2lbook's defaults, then the file's keys (the extensions of
        both); ``sphinx_configs`` is not run."""
        values = {**self.d2lbook, **self.values}
        extensions = list(self.values.get("extensions", []))
        extensions += [e for e in self.d2lbook.get("extensions", []) if e not in extensions]
        values["extensions"] = extensions
        return values


def _words(value: str) -> list[str]:
    return [w for w in value.replace("\n", " ").split() if w]


def _repos(value: str, tabs: list[str], where: str, ignored: list[str]) -> dict[str, str]:
    """``github_repo``: one repository (the default tab's), or lines ``tab, owner/repo``."""
    rows = [[t.strip() for t in line.split(",") if t.strip()] for line in value.splitlines()]
    rows = [row for row in rows if row]
    if len(rows) == 1 and len(rows[0]) == 1:
        rows = [[tabs[0], rows[0][0]]]
    repos: dict[str, str] = {}
    for row in rows:
        if len(row) != 2:
            ignored.append(f"{where}: the line {', '.join(row)!r} is not 'framework, "
                           "owner/repo'")
        elif row[0].lower() not in tabs:
            ignored.append(f"{where}: {row[0]!r} is not one of [build] tabs {tabs}")
        elif not REPO.fullmatch(row[1]):
            ignored.append(f"{where}: {row[1]!r} is not a GitHub repository 'owner/repo'")
        else:
            repos[row[0].lower()] = row[1]
    return repos


class _Reader:
    """Reads the keys of a config.ini, one section's rules per method."""

    def __init__(self) -> None:
        self.mig = Migration()
        self.extensions = ["sphinx_d2ltabs"]
        # d2lbook's globs skip hidden files and folders (d2l-en's .github/*.md)
        self.excludes = ["_build", "**/.ipynb_checkpoints", ".*", "**/.*"]
        self.lib_modules: dict[str, str] = {}
        self.lib_dirs: set[str] = set()
        self.rsts: list[str] = []
        self.repos: dict[str, str] = {}
        self.translation = False
        """The book is a translation (a ``[translation]`` section)."""

    def key(self, section: str, key: str, value: str) -> None:
        generic = "library-*" if section.startswith("library-") else section
        self.translation = self.translation or section == "translation"
        known = KNOWN.get(generic)
        where = f"[{section}] {key}"
        if known is None or key not in known:
            self.mig.unknown.append(where)
        elif section in (*REPO_OPTIONS, "slides") and key == "github_repo":
            self.repos[section] = value
        elif section in IGNORED_SECTIONS:
            self.mig.ignored.append(f"{where}: d2lbook's {section} step is not part of a "
                                    "Sphinx build")
        elif (section, key) in NOT_USED:
            self.mig.ignored.append(f"{where}: {NOT_USED[(section, key)]}")
        elif generic == "library-*":
            self.library(section.split("-", 1)[1].lower(), key, value.strip())
        else:
            sections = {"project": self.project, "build": self.build, "html": self.html,
                        "pdf": self.pdf}  # (every key of [library] is NOT_USED)
            sections[section](key, value.strip())

    def project(self, key: str, value: str) -> None:
        self.mig.values[PROJECT_KEYS[key]] = value

    def build(self, key: str, value: str) -> None:
        v = self.mig.values
        if key == "index":
            v["root_doc"] = value
        elif key == "tabs":
            v["d2l_tabs"] = [t.strip().lower() for t in value.split(",") if t.strip()]
        elif key == "eval_notebook":
            if value.lower() in ("false", "0", "no", "off"):
                v["d2l_execute"] = "off"
        elif key == "notebooks":
            # d2lbook evaluates only these (d2l-en: "*.md */*.md", so deeper pages such
            # as contrib/chapter_x/y.md are not part of the book)
            v["include_patterns"] = _words(value)
        elif key == "rsts":  # pages too: kept when notebooks limits the pages
            self.rsts.extend(_words(value))
        elif key in ("exclusions", "non-notebooks"):
            # d2lbook globs these; a folder ("tests/") excludes everything in it
            self.excludes.extend(w.rstrip("/") or w for w in _words(value))
        elif key == "dependencies":
            v["d2l_dependencies"] = _words(value)
        elif key == "sphinx_extensions":
            self.extensions.extend(e for e in value.replace(",", " ").split() if e)
        elif key == "sphinx_configs":
            self.mig.sphinx_configs = value

    def library(self, tab: str, key: str, value: str) -> None:
        if key == "lib_file":
            folder, name = os.path.split(value)
            self.lib_modules[tab] = os.path.splitext(name)[0]
            self.lib_dirs.add(folder)
        elif key in ALIAS_KEYS:
            self.mig.values.setdefault("d2l_aliases", {}).setdefault(tab, {})[key] = value

    def html(self, key: str, value: str) -> None:
        self.mig.values["html_favicon" if key == "favicon" else "html_logo"] = value

    def pdf(self, key: str, value: str) -> None:  # (bibfile: the others are NOT_USED)
        if value:
            self.bibliography([value])

    def bibliography(self, files: list[str]) -> None:
        self.mig.values["bibtex_bibfiles"] = files
        if "sphinxcontrib.bibtex" not in self.extensions:
            self.extensions.append("sphinxcontrib.bibtex")
        self.mig.values["bibtex_reference_style"] = "author_year"

    def finish(self, root: str) -> Migration:
        """The values that depend on several keys; d2lbook's defaults."""
        v = self.mig.values
        if self.lib_modules:
            self.package()
        if "include_patterns" in v:
            v["include_patterns"] = v["include_patterns"] + self.rsts
        if "bibtex_bibfiles" not in v:
            # no [pdf] bibfile: d2lbook's old sphinxcontrib-bibtex took the file from the
            # `:bibliography:` role itself (d2l-vn); the current one needs bibtex_bibfiles
            bibs = bibliography_files(root, v.get("include_patterns", []), self.excludes)
            if bibs:
                self.bibliography(bibs)
        self.buttons()
        placeholder = PLACEHOLDERS.get(str(v.get("language", "")).lower())
        if self.translation and placeholder:
            v["d2l_translation_placeholder"] = placeholder
        v["extensions"] = self.extensions
        v["exclude_patterns"] = self.excludes
        self.mig.d2lbook = d2lbook_defaults(root, v)
        return self.mig

    def package(self) -> None:
        v = self.mig.values
        v["d2l_lib_modules"] = self.lib_modules
        folder = sorted(self.lib_dirs)[0]
        parent, package = os.path.split(folder.rstrip("/"))
        v["d2l_lib_package"] = package or "d2l"
        v["d2l_lib_dir"] = parent or "."
        if len(self.lib_dirs) > 1:
            self.mig.ignored.append(f"[library-*] lib_file: several folders "
                                    f"{sorted(self.lib_dirs)}; using {folder}")

    def buttons(self) -> None:
        """``[colab]``/``[sagemaker] github_repo`` → ``d2l_colab``/``d2l_studiolab``."""
        tabs = self.mig.values.get("d2l_tabs") or ["python"]
        for section, value in self.repos.items():
            where = f"[{section}] github_repo"
            repos = _repos(value, tabs, where, self.mig.ignored)
            if section == "slides":  # its frameworks: the decks to write (d2l_slides)
                if repos:
                    self.mig.values["d2l_slides"] = list(repos)
                self.mig.ignored.append(
                    f"{where}: its frameworks read into d2l_slides (reveal.js decks under "
                    "_slides/); the slide notebooks d2lbook pushes there are not part of a "
                    "Sphinx build")
                continue
            option, name = REPO_OPTIONS[section]
            if repos:
                self.mig.values[option] = repos
            self.mig.ignored.append(
                f"{where}: read into {option} (the {name} buttons); the notebooks that "
                f"d2lbook's {section} step generates and pushes there are not part of a "
                "Sphinx build")


def _parse(path: str) -> configparser.ConfigParser:
    """The file, or :class:`ConfigIniError` naming it (and the line, for syntax errors)."""
    parser = configparser.ConfigParser()
    try:
        with open(path, encoding="utf-8") as fh:
            parser.read_file(fh)
    except configparser.Error as err:  # (their messages name the file and the line)
        raise ConfigIniError(" ".join(str(err).split())) from None
    except UnicodeDecodeError as err:
        raise ConfigIniError(f"{path}: not UTF-8 ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise ConfigIniError(f"{path}: {err.strerror or err}") from None
    return parser


def read_config_ini(path: str) -> Migration:
    """Translate ``path`` (a d2lbook config.ini) into conf.py values.

    Raises :class:`ConfigIniError` when the file cannot be read or parsed.
    """
    parser = _parse(path)
    reader = _Reader()
    for section in parser.sections():
        for key, value in parser.items(section, raw=True):
            try:  # as d2lbook's ConfigParser: '%%' is '%' (d2l-zh's numfig_format)
                value = parser.get(section, key)
            except (configparser.InterpolationError, ValueError):
                pass
            reader.key(section, key, value)
    return reader.finish(os.path.dirname(os.path.abspath(path)))


def _run_sphinx_configs(code: str, values: dict[str, Any], path: str) -> None:
    """Run ``[build] sphinx_configs`` (d2lbook pastes it into its conf.py) on ``values``;
    an error is a :class:`ConfigIniError` naming the file and the line of the code."""
    name = f"{path} [build] sphinx_configs"
    try:
        exec(compile(code, name, "exec"), values)
    except SyntaxError as err:
        raise ConfigIniError(f"{name}, line {err.lineno}: {err.msg}") from None
    except Exception as err:  # (the book's own code: anything it raises)
        lines = [f.lineno for f in traceback.extract_tb(err.__traceback__) if f.filename == name]
        at = f", line {lines[-1]}" if lines else ""
        raise ConfigIniError(f"{name}{at}: {type(err).__name__}: {err}") from None
    finally:
        values.pop("__builtins__", None)


def _import_path(values: dict[str, Any], base: str) -> None:
    """Put the package's folder first on ``sys.path`` (as d2lbook's conf.py does), so
    that autodoc imports the book's own ``d2l``."""
    folder = os.path.normpath(os.path.join(base, values.get("d2l_lib_dir", ".")))
    if folder not in sys.path:
        sys.path.insert(0, folder)


def config_from_ini(path: str = "config.ini",
                    report: Callable[[str], None] | None = None) -> dict[str, Any]:
    """conf.py values for a d2lbook book; unknown and ignored keys are reported.

    A file that cannot be read, or ``sphinx_configs`` code that fails, raises Sphinx's
    ``ConfigError`` (one line naming the file, no traceback) when Sphinx is there.
    """
    base = os.path.dirname(os.path.abspath(sys._getframe(1).f_globals.get("__file__", path)))
    full = path if os.path.isabs(path) else os.path.join(base, path)
    try:
        return _config_values(full, path, base, report)
    except ConfigIniError as err:
        try:
            from sphinx.errors import ConfigError
        except ImportError:  # pragma: no cover (Sphinx-free use)
            raise err from None
        raise ConfigError(str(err)) from None


def _config_values(full: str, shown: str, base: str,
                   report: Callable[[str], None] | None) -> dict[str, Any]:
    mig = read_config_ini(full)
    say = report or (lambda msg: print(f"sphinx_d2ltabs: {msg}", file=sys.stderr))
    for line in report_lines(mig, shown):
        say(line)
    values = mig.conf_values()
    _import_path(values, base)
    if mig.sphinx_configs:  # the book's own conf.py code, as d2lbook pastes it
        _run_sphinx_configs(mig.sphinx_configs, values, full)
    return values


def report_lines(mig: Migration, shown: str) -> Iterable[str]:
    """One line per unknown and per ignored key, naming the file."""
    for item in mig.unknown:
        yield f"{shown}: unknown key {item} (not a d2lbook option; ignored)"
    for item in mig.ignored:
        yield f"{shown}: {item} (ignored)"


def conf_py(config_ini: str = "config.ini") -> str:
    """The three-line conf.py that builds a d2lbook book from its config.ini."""
    return (
        "# Built with sphinx_d2ltabs from the d2lbook configuration.\n"
        "from sphinx_d2ltabs.migrate import config_from_ini\n"
        f"globals().update(config_from_ini({config_ini!r}))\n"
    )
