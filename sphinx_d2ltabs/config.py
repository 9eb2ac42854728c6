"""Configuration: one validated dataclass, registered in Sphinx as ``d2l_<field>`` values.

Every field carries its help text and a validator in its metadata; the docs'
configuration reference is generated from this class (``d2l-config-table``).
Modules never read ``app.config.d2l_*`` directly: they use the validated
:class:`D2lConfig` (``app.d2l_config``, ``state.config``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from myst_parser.config.dc_validators import (
    ValidatorType,
    deep_iterable,
    deep_mapping,
    optional,
    validate_fields,
)
from sphinx.config import ENUM

EXECUTE_MODES = ("auto", "force", "cache-only", "off")
NONHTML_TABS = ("all", "default")
ORIGINAL_LAYOUTS = ("toggle", "side-by-side")
UNTRANSLATED_MODES = ("original", "placeholder")
STDERR_MODES = ("show", "remove", "remove-warn", "warn", "error", "severe")
#: ``d2l_translation_placeholder``'s default: a paragraph that is only a to-do marker
#: (``TODO``, ``*TBD*``, ``[FIXME]``), in any language; ``migrate`` sets a book's own
GENERIC_PLACEHOLDER = r"\A\W*(TODO|TBD|FIXME)\W*\Z"

#: Display labels of well-known frameworks (others: the name as written).
KNOWN_LABELS = {
    "pytorch": "PyTorch",
    "mxnet": "MXNet",
    "tensorflow": "TensorFlow",
    "jax": "JAX",
    "numpy": "NumPy",
    "python": "Python",
    "paddle": "PaddlePaddle",
    "mlx": "MLX",
}

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_ALIASES: dict[tuple[str, str], Any] = {}


class ConfigError(ValueError):
    """A ``d2l_*`` value is invalid; the message names the option."""


@dataclass(frozen=True)
class Framework:
    """One framework tab."""

    name: str
    label: str


def _check(cond: bool, option: str, message: str) -> None:
    if not cond:
        raise ConfigError(f"d2l_{option}: {message}")


# Validators follow myst-parser's dataclass protocol, ``(inst, field, value, suffix)``,
# so that its ``optional``, ``deep_iterable``, ``deep_mapping`` and ``validate_fields``
# compose them (``suffix`` locates an item: ``d2l_gpus['pytorch']: -1 must be ...``).
# Its leaf validators (``instance_of``, ``in_``) are not used: their messages name Python
# types (``'timeout' must be of type <class 'float'>``) and are no ConfigError.


def _rule(test: Callable[[Any], bool], message: str, show_value: bool = True) -> ValidatorType:
    """A validator raising ``ConfigError("d2l_<option><suffix>: <value> <message>")``
    unless ``test(value)``."""

    def validator(inst: Any, field: dataclasses.Field[Any], value: Any,
                  suffix: str = "") -> None:
        if not test(value):
            shown = f"{value!r} " if show_value else ""
            raise ConfigError(f"d2l_{field.name}{suffix}: {shown}{message}")

    return validator


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _one_of(choices: tuple[str, ...]) -> ValidatorType:
    return _rule(lambda v: v in choices, f"is not one of {', '.join(choices)}")


def _inside(value: str) -> bool:
    """A relative path that stays inside the folder it is relative to."""
    norm = os.path.normpath(value or ".")
    return not os.path.isabs(value) and norm != os.pardir and not norm.startswith(
        os.pardir + os.sep)


def _is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple))


_STRING = _rule(lambda v: isinstance(v, str), "must be a string")
_BOOL = _rule(lambda v: isinstance(v, bool), "must be True or False")
_POSITIVE = _rule(lambda v: _number(v) and v > 0, "must be a positive number")
_NON_NEGATIVE = _rule(lambda v: _number(v) and v >= 0, "must be a number >= 0")
_STRING_LIST = deep_iterable(_STRING, _rule(_is_list, "must be a list of strings", False))
_INSIDE = [_STRING, _rule(_inside, "must stay inside the source folder (a relative path "
                                   "without '..')")]
_FRAMEWORK_KEY = _rule(lambda v: isinstance(v, str), "must be a framework name (a string)")


def _framework_map(value: ValidatorType, example: str) -> ValidatorType:
    """``{framework: value}``."""
    return deep_mapping(_FRAMEWORK_KEY, value, _rule(
        lambda v: isinstance(v, Mapping), f"must be a dict {example}", False))


_IDENTIFIER = _rule(lambda v: isinstance(v, str) and v.isidentifier(),
                    "must be a Python identifier (it names a file or folder)")
_KERNEL_ENV = _framework_map(
    _rule(lambda v: isinstance(v, Mapping) and all(
        isinstance(k, str) and isinstance(x, str) for k, x in v.items()),
        "must be a dict of strings {VAR: value}"),
    "{framework: {VAR: value}} (use '*' for every framework)")
_GPUS = _framework_map(
    _rule(lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
          "must be a non-negative integer"),
    "{framework: number of GPUs}")
_GPU_IDS = optional(deep_iterable(
    _rule(lambda v: isinstance(v, (str, int)), "must be a GPU id such as '0'"),
    _rule(_is_list, "must be None (auto-detect) or a list of GPU ids such as ['0', '1']",
          False)))
_LIB_MODULES = _framework_map(
    _rule(lambda v: isinstance(v, str) and v.isidentifier(),
          "must be a Python identifier (it names a module file)"),
    "{framework: module name}")


def _tabs(inst: Any, field: dataclasses.Field[Any], value: Any, suffix: str = "") -> None:
    _check(isinstance(value, (list, tuple)) and len(value) > 0, "tabs",
           "must be a non-empty list of framework names, e.g. ['pytorch', 'jax']")
    seen: set[str] = set()
    for item in value:
        if isinstance(item, (list, tuple)):
            _check(len(item) == 2 and all(isinstance(x, str) for x in item), "tabs",
                   f"entry {item!r} must be a name or a (name, label) pair of strings")
            name = item[0]
        else:
            _check(isinstance(item, str), "tabs", f"entry {item!r} must be a string")
            name = item
        name = name.strip().lower()
        _check(bool(_NAME.match(name)), "tabs",
               f"framework name {name!r} must be a Python identifier (letters, digits, _)")
        _check(name != "all", "tabs", "'all' is reserved (it means every framework)")
        _check(name not in seen, "tabs", f"framework {name!r} is listed twice")
        seen.add(name)


def _alias_section(inst: Any, field: dataclasses.Field[Any], value: Any,
                   suffix: str = "") -> None:
    from .aliases import AliasError, AliasSet

    _check(isinstance(value, Mapping), f"{field.name}{suffix}", "must be a dict of strings")
    try:
        AliasSet.from_config(value)
    except AliasError as err:
        raise ConfigError(f"d2l_{field.name}{suffix}: {err}") from None


def _regex(inst: Any, field: dataclasses.Field[Any], value: Any, suffix: str = "") -> None:
    _STRING(inst, field, value, suffix)
    try:
        re.compile(value)
    except re.error as err:
        raise ConfigError(f"d2l_{field.name}{suffix}: {value!r} is not a regular "
                          f"expression: {err}") from None


def _mime_override(value: Any) -> bool:
    return (isinstance(value, (list, tuple)) and len(value) == 3
            and isinstance(value[0], str) and isinstance(value[1], str)
            and (value[2] is None or (isinstance(value[2], int)
                                      and not isinstance(value[2], bool))))


_MIME_OVERRIDES = deep_iterable(
    _rule(_mime_override, "must be a (builder, mime type, priority) triple: two strings and "
          "an integer or None"),
    _rule(_is_list, "must be a list of (builder, mime type, priority) triples", False))


def _meta(help: str, validator: ValidatorType | list[ValidatorType], rebuild: str = "env",
          types: ENUM | None = None) -> dict[str, Any]:
    """A field's metadata: its help text, its validator(s) (run by myst-parser's
    ``validate_fields``), Sphinx's rebuild kind and, for a choice, Sphinx's ``ENUM``."""
    return {"help": help, "validator": validator, "rebuild": rebuild, "types": types}


@dataclass
class D2lConfig:
    """All ``d2l_*`` options of conf.py."""

    tabs: list[Any] = field(
        default_factory=lambda: ["python"],
        metadata=_meta(
            "Ordered framework list, as d2lbook's ``tabs``; the first is the default tab "
            "(unmarked cells belong to it). Entries are names or ``(name, label)`` pairs.",
            _tabs,
        ),
    )
    execute: str = field(
        default="auto",
        metadata=_meta(
            "``auto``: run stale (document, framework) pairs; ``force``: run everything; "
            "``cache-only``: never run, show cached outputs; ``off``: no execution, no outputs.",
            _one_of(EXECUTE_MODES), types=ENUM(*EXECUTE_MODES),
        ),
    )
    execute_tabs: list[str] = field(
        default_factory=list,
        metadata=_meta("Frameworks whose cells are executed (default: every framework); the "
                       "others are shown without outputs, e.g. ``['pytorch']`` to run a "
                       "four-framework book where only PyTorch is installed.",
                       _STRING_LIST),
    )
    # pages left out of execution, a page's own settings (page_settings.py)
    execute_exclude: list[str] = field(
        default_factory=list,
        metadata=_meta("Glob patterns of pages that are not executed (shown without "
                       "outputs), matched as Sphinx's ``exclude_patterns`` against the "
                       "docname and the file relative to the source folder, e.g. "
                       "``['chapter_gpu/*', '**/*-slow.md']`` (MyST-NB's "
                       "``nb_execution_excludepatterns``). A page's front matter may say "
                       "``d2l: {execute: off}`` too.", _STRING_LIST),
    )
    kernels: dict[str, str] = field(
        default_factory=dict,
        metadata=_meta("Kernelspec name per framework (default ``python3``).",
                       _framework_map(_STRING, "{framework: kernelspec name}")),
    )
    kernel_env: dict[str, dict[str, str]] = field(
        default_factory=dict,
        metadata=_meta("Extra environment variables per framework (key ``*``: all frameworks).",
                       _KERNEL_ENV),
    )
    setup_code: dict[str, str] = field(
        default_factory=dict,
        metadata=_meta("Code run silently in each kernel of that framework before its cells.",
                       _framework_map(_STRING, "{framework: code}")),
    )
    gpus: dict[str, int] = field(
        default_factory=dict,
        metadata=_meta("GPUs each kernel of a framework needs, e.g. ``{'pytorch': 1}``.",
                       _GPUS),
    )
    gpu_ids: list[str] | None = field(
        default=None,
        metadata=_meta("GPU ids to hand out; ``None`` detects them (``CUDA_VISIBLE_DEVICES``, "
                       "``nvidia-smi -L``).", _GPU_IDS),
    )
    strict_gpu: bool = field(
        default=False,
        metadata=_meta("Fail GPU frameworks when no GPU exists instead of running them on CPU.",
                       _BOOL),
    )
    # a page's GPU need (gpu_need.py): its ``#@gpus N`` mark, else this rule, else d2l_gpus
    gpus_detect: bool = field(
        default=False,
        metadata=_meta("Apply d2lbook's rule to the code each framework runs: a page that "
                       "calls ``try_gpu()``, ``gpu()``... needs 1 GPU, one that calls "
                       "``try_all_gpus()``, ``gpu(1)``... needs 2; where it finds nothing, "
                       "``d2l_gpus`` applies. A page's ``#@gpus N`` mark overrides both.",
                       _BOOL, rebuild=""),
    )
    workers: int | None = field(
        default=None,
        metadata=_meta("Kernels run at once (default: the number of CPUs).",
                       optional(_POSITIVE)),
    )
    prestart: int | None = field(
        default=None,
        metadata=_meta("Kernels of the next jobs started ahead, each running its setup code "
                       "while other jobs run (the warm pool; each still serves one page); "
                       "default: as many as ``d2l_workers``, but no more than the CPUs the "
                       "workers leave free; ``0``: none.", optional(_NON_NEGATIVE)),
    )
    # where jobs run (execution/executor.py, docs/distributed.md)
    executor: str = field(
        default="local",
        metadata=_meta(
            "Where the kernels run: ``local`` (this machine, ``d2l_workers`` at once) or "
            "``dask:tcp://HOST:PORT``, a running ``dask.distributed`` scheduler whose "
            "workers run one job per thread (needs ``pip install "
            "'sphinx_d2ltabs[distributed]'`` here and on the workers).",
            # (the same rule as execution.executor.parse_executor)
            [_STRING, _rule(lambda v: re.fullmatch(
                r"local|dask:((tcp|tls|ucx|ws|wss)://[^\s/:]+(:\d+)?|inproc://\S+)",
                v.strip()) is not None,
                "is not 'local' or 'dask:tcp://HOST:PORT' (the address of a running Dask "
                "scheduler)")],
            rebuild=""),
    )
    executor_files: list[str] = field(
        default_factory=lambda: ["img/**", "data/**"],
        metadata=_meta("Glob patterns (relative to the source folder) of the files Dask "
                       "workers get besides the ``#@save`` package and the "
                       "``d2l_dependencies`` files, at the same relative paths.",
                       _STRING_LIST, rebuild=""),
    )
    executor_workspace: str = field(
        default="auto",
        metadata=_meta(
            "How Dask workers get the book's files: ``auto`` (the source folder as it is "
            "where a worker sees it with the same files, else a copy sent by content "
            "hash), ``ship`` (always the copy) or the absolute path under which the "
            "workers see the source folder (a shared file system; checked, else shipped).",
            [_STRING, _rule(lambda v: v in ("auto", "ship") or os.path.isabs(v),
                            "must be 'auto', 'ship' or an absolute path")],
            rebuild=""),
    )
    executor_connect_timeout: float = field(
        default=10.0,
        metadata=_meta("Seconds to reach the Dask scheduler of ``d2l_executor``.",
                       _POSITIVE, rebuild=""),
    )
    timeout: float = field(
        default=600.0,
        metadata=_meta("Per-cell timeout in seconds; ``-1``: no timeout (as MyST-NB's "
                       "``nb_execution_timeout``).",
                       _rule(lambda v: _number(v) and (v > 0 or v == -1),
                             "must be a positive number, or -1 for no timeout")),
    )
    allow_errors: bool = field(
        default=False,
        metadata=_meta("Errors are allowed: a cell's exception is shown in place, the page "
                       "runs on, and there is no warning (as MyST-NB's "
                       "``nb_execution_allow_errors``; a timeout or a dead kernel is still "
                       "reported). One cell: ``#@allow_error``; one page: its front matter.",
                       _BOOL),
    )
    raise_on_error: bool = field(
        default=False,
        metadata=_meta("Fail the build when a cell fails (an error not allowed, a timeout, a "
                       "dead kernel): the build goes on, then ends with one line listing the "
                       "failing pages and exit status 1, without ``-W`` turning every other "
                       "warning into an error (MyST-NB's ``nb_execution_raise_on_error``).",
                       _BOOL, rebuild=""),
    )
    publish_report: bool = field(  # (reporting.py)
        default=False,
        metadata=_meta("Publish the execution report: HTML builds also write "
                       "``d2l_execution_report.json`` into the output folder. It is always "
                       "written to the doctree folder (``<outdir>/.doctrees/``, or "
                       "``_build/doctrees/`` with ``-M``), which no builder publishes.",
                       _BOOL, rebuild=""),
    )
    cache_dir: str = field(
        default="",
        metadata=_meta("Execution cache folder (default ``<outdir>/../.d2l_cache``); relative "
                       "paths are relative to the source folder.", _STRING),
    )
    cache_max_age: float = field(
        default=30.0,
        metadata=_meta("Days after which a cache entry that no build used is removed (at the "
                       "end of a build that executed); ``0`` keeps every entry. "
                       "``python -m sphinx_d2ltabs cache prune`` removes entries by hand.",
                       _NON_NEGATIVE),
    )
    # the shared remote tier (execution/remote.py, docs/cache-sharing.md)
    cache_remote: str = field(
        default="",
        metadata=_meta(
            "URL of a shared cache read behind the local folder: an HTTP(S) mirror (read "
            "only) or an fsspec URL (``file://``, ``s3://``, ``gs://``, ``memory://``...). "
            "Its entries are copied into the local folder. Empty: none. Needs "
            "``pip install 'sphinx_d2ltabs[distributed]'`` (and s3fs or gcsfs for S3, GCS).",
            [_STRING, _rule(lambda v: v == "" or "://" in v,
                            "must be a URL such as 'https://host/cache', "
                            "'file:///srv/cache' or 's3://bucket/cache' (or empty)")],
            rebuild=""),
    )
    cache_remote_options: dict[str, Any] = field(
        default_factory=dict,
        metadata=_meta("fsspec storage options of ``d2l_cache_remote`` (e.g. "
                       "``{'anon': True}``, an endpoint URL); credentials belong in the "
                       "environment, not in conf.py.",
                       _rule(lambda v: isinstance(v, Mapping), "must be a dict"), rebuild=""),
    )
    cache_push: bool = field(
        default=False,
        metadata=_meta(
            "Also write the results this build executes to ``d2l_cache_remote`` (CI): an "
            "entry already there is never replaced. Not for an HTTP mirror (read only).",
            [_BOOL,
             lambda inst, f, v, suffix="": _check(
                 not v or bool(inst.cache_remote), "cache_push",
                 "needs d2l_cache_remote (the URL to push to)"),
             lambda inst, f, v, suffix="": _check(
                 not v or not str(inst.cache_remote).lower().startswith(("http:", "https:")),
                 "cache_push", f"d2l_cache_remote = {inst.cache_remote!r} is an HTTP mirror, "
                 "which is read only: push to the storage it mirrors (file://, s3://, ...)")],
            rebuild=""),
    )
    cache_remote_timeout: float = field(
        default=10.0,
        metadata=_meta("Seconds one request to ``d2l_cache_remote`` may take; a remote that "
                       "can't be reached is not asked again in that build.", _POSITIVE,
                       rebuild=""),
    )
    env_fingerprint: str = field(
        default="",
        metadata=_meta("A name of the execution environment mixed into every cache key (e.g. "
                       "``'torch-2.13-cu12'``): machines that declare different ones never "
                       "share results. Change it when the environment changes.", _STRING,
                       rebuild=""),
    )
    dependencies: list[str] = field(
        default_factory=list,
        metadata=_meta("Glob patterns (relative to the source folder) of files whose content is "
                       "part of every cache key (data files, local modules).",
                       _STRING_LIST),
    )
    max_output_chars: int = field(
        default=20000,
        metadata=_meta("Text outputs longer than this are truncated with a note.",
                       _POSITIVE),
    )
    # how outputs are shown (outputs/render.py, outputs/select.py)
    output_stderr: str = field(
        default="show",
        metadata=_meta("What becomes of a cell's stderr output: ``show``, ``remove``, "
                       "``remove-warn`` (removed, with a ``d2l.stderr`` warning), ``warn`` "
                       "(shown, with the warning), ``error`` or ``severe`` (shown, logged "
                       "as an error or a critical message); MyST-NB's ``nb_output_stderr``.",
                       _one_of(STDERR_MODES), types=ENUM(*STDERR_MODES)),
    )
    merge_streams: bool = field(
        default=False,
        metadata=_meta("Merge a cell's stream outputs that follow one another into one "
                       "stdout and one stderr block (their interleaving depends on timing); "
                       "consecutive outputs of one stream are always merged. MyST-NB's "
                       "``nb_merge_streams``.", _BOOL),
    )
    mime_priority_overrides: list[Any] = field(
        default_factory=list,
        metadata=_meta("``[(builder, mime type, priority)]``: change the order in which a "
                       "display's MIME types are chosen for a builder (``*``: every "
                       "builder); lower first, ``None`` never chooses the type. The built-in "
                       "orders are numbered 10, 20, ... (``docs/execution.md``); MyST-NB's "
                       "``nb_mime_priority_overrides``.", _MIME_OVERRIDES),
    )
    # one framework in LaTeX / PDF and text (latex.py, docs/publishing.md)
    nonhtml_tabs: str = field(
        default="all",
        metadata=_meta("Non-HTML builders (latex, text...): ``all`` shows every tab one after "
                       "the other, ``default`` only the default framework, a framework's "
                       "name only that framework (its code, outputs and ``:begin_tab:`` "
                       "text; the others' are left out): one PDF per framework with "
                       "``sphinx-build -b latex -D d2l_nonhtml_tabs=pytorch``.",
                       _STRING),
    )
    storage_prefix: str = field(
        default="",
        metadata=_meta("Browser localStorage prefix of the remembered tab (default: "
                       "``d2ltabs-<project>-``).", _STRING),
    )
    lib_package: str = field(
        default="d2l",
        metadata=_meta("Name of the generated ``#@save`` package.",
                       _IDENTIFIER),
    )
    lib_dir: str = field(
        default=".",
        metadata=_meta("Folder (relative to the source folder) holding the generated package.",
                       _INSIDE),
    )
    lib_modules: dict[str, str] = field(
        default_factory=dict,
        metadata=_meta("Module file stem per framework, e.g. ``{'pytorch': 'torch'}`` "
                       "(default: the framework name).", _LIB_MODULES),
    )
    lib_headers: dict[str, str] = field(
        default_factory=dict,
        metadata=_meta("Text kept verbatim at the top of each generated module.",
                       _framework_map(_STRING, "{framework: text}")),
    )
    aliases: dict[str, dict[str, str]] = field(
        default_factory=dict,
        metadata=_meta("d2lbook's ``[library-<tab>]`` aliases per framework: ``lib_name``, "
                       "``simple_alias``, ``fluent_alias``, ``args_alias``, ``reverse_alias``, "
                       "``alias``; applied to the code shown and run in that framework.",
                       _framework_map(_alias_section, "{framework: {key: text}}")),
    )
    show_original: bool = field(
        default=False,
        metadata=_meta("Bilingual books: show the original text kept in an HTML comment as a "
                       "collapsible element after its translation (HTML only).",
                       _BOOL),
    )
    # originals rendered, untranslated text, the label (originals.py, docs/bilingual.md)
    original_layout: str = field(
        default="toggle",
        metadata=_meta("With ``d2l_show_original``: ``toggle`` puts each original in a "
                       "collapsible element after its translation; ``side-by-side`` shows "
                       "translation and original in two columns on wide screens, one above "
                       "the other on narrow ones (HTML only).",
                       _one_of(ORIGINAL_LAYOUTS), types=ENUM(*ORIGINAL_LAYOUTS)),
    )
    original_label: str = field(
        default="",
        metadata=_meta("The label of the originals (default: \"Original\" in the book's "
                       "``language``; Vietnamese and Chinese are built in).", _STRING),
    )
    untranslated: str = field(
        default="original",
        metadata=_meta("Bilingual books: ``original`` shows, in place of a placeholder "
                       "(``d2l_translation_placeholder``: a paragraph, a heading's text, an "
                       "image's caption) after an original, that original, rendered and "
                       "marked as not translated yet (a paragraph: with a note in the book's "
                       "``language``); ``placeholder`` shows the placeholder as written.",
                       _one_of(UNTRANSLATED_MODES), types=ENUM(*UNTRANSLATED_MODES)),
    )
    # notebooks, zips and the links of each page (notebooks.py, publish.py,
    # docs/publishing.md)
    _HOSTED_REPOS = deep_mapping(  # (d2l_colab's and d2l_studiolab's validator: no option)
        lambda inst, f, key, suffix="": _check(
            key in inst.tab_names, f.name,
            f"{key!r} is not a configured framework (d2l_tabs = {inst.tab_names})"),
        _rule(lambda v: isinstance(v, str) and re.fullmatch(
            r"[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?", v) is not None,
            "must be a GitHub repository 'owner/repo' or 'owner/repo@branch'"),
        _rule(lambda v: isinstance(v, Mapping), "must be a dict {framework: 'owner/repo'}",
              False))
    notebooks: bool = field(
        default=True,
        metadata=_meta("HTML builds: write a Jupyter notebook of every page in every "
                       "framework and a zip per framework into ``<outdir>/_notebooks/``, "
                       "and give each page with code a download button that follows the "
                       "selected tab.", _BOOL, rebuild="html"),
    )
    notebook_outputs: bool = field(
        default=True,
        metadata=_meta("Keep the executed outputs (this build's, else the cache's) in the "
                       "notebooks.", _BOOL, rebuild=""),
    )
    colab: dict[str, str] = field(
        default_factory=dict,
        metadata=_meta(
            "Open-in-Colab links per framework: ``{'pytorch': 'd2l-ai/d2l-pytorch-colab'}`` "
            "links a page to ``https://colab.research.google.com/github/<repo>/blob/master/"
            "<docname>.ipynb`` (as d2lbook); ``'owner/repo@branch'`` for another branch.",
            _HOSTED_REPOS, rebuild="html"),
    )
    studiolab: dict[str, str] = field(
        default_factory=dict,
        metadata=_meta(
            "Open-in-SageMaker-Studio-Lab links per framework, as ``d2l_colab`` (``https://"
            "studiolab.sagemaker.aws/import/github/<repo>/blob/main/<docname>.ipynb``; the "
            "branch defaults to ``main``).",
            _HOSTED_REPOS, rebuild="html"),
    )
    slides: list[str] = field(
        default_factory=list,
        metadata=_meta(
            "HTML builds: the frameworks whose slides are written, as d2lbook's ``slides``: "
            "a reveal.js deck ``<outdir>/_slides/<framework>/<docname>.html`` of every page "
            "with slide marks (``[**...**]``, ``(**...**)``, ``(~~...~~)``) that has a "
            "notebook in the framework, e.g. ``['pytorch']``. Empty: none.",
            deep_iterable(
                lambda inst, f, v, suffix="": _check(
                    v in inst.tab_names, f.name,
                    f"{v!r} is not a configured framework (d2l_tabs = {inst.tab_names})"),
                _rule(_is_list, "must be a list of framework names, e.g. ['pytorch']",
                      False)),
            rebuild="html"),
    )
    translation_placeholder: str = field(
        default=GENERIC_PLACEHOLDER,
        metadata=_meta("Regular expression of an untranslated placeholder paragraph, "
                       "heading text or image caption (translation status report). The "
                       "default matches one that is only a to-do marker (``TODO``, "
                       "``*TBD*``, ``[FIXME]``), in any language; ``migrate`` sets a "
                       "Vietnamese d2lbook book's own (``*dịch đoạn phía trên*``...).",
                       _regex),
    )
    lib_enable: bool = field(
        default=True,
        metadata=_meta("Generate the ``#@save`` package during the build.",
                       _BOOL),
    )
    lib_api_page: str = field(
        default="",
        metadata=_meta("Document name of a generated page listing every saved function, "
                       "class and variable per framework, each linked to the cell defining "
                       "it (e.g. ``'api'`` writes ``api.md``; add it to a toc). Empty: none. "
                       "The ``d2l-library-api`` directive renders the same list on any page.",
                       _INSIDE),
    )

    # ------------------------------------------------------------------ derived
    @property
    def frameworks(self) -> list[Framework]:
        out = []
        for item in self.tabs:
            if isinstance(item, (list, tuple)):
                name, label = item[0].strip().lower(), item[1]
            else:
                name = item.strip().lower()
                label = KNOWN_LABELS.get(name, item.strip())
            out.append(Framework(name, label))
        return out

    @property
    def cell_timeout(self) -> float:
        """The per-cell timeout in seconds (``math.inf`` for ``d2l_timeout = -1``)."""
        return math.inf if self.timeout < 0 else float(self.timeout)

    @property
    def tab_names(self) -> list[str]:
        return [f.name for f in self.frameworks]

    @property
    def default_tab(self) -> str:
        return self.tab_names[0]

    def label(self, name: str) -> str:
        for f in self.frameworks:
            if f.name == name:
                return f.label
        return name

    def kernel_for(self, framework: str) -> str:
        return self.kernels.get(framework, self.kernels.get("*", "python3"))

    def env_for(self, framework: str) -> dict[str, str]:
        env = dict(self.kernel_env.get("*", {}))
        env.update(self.kernel_env.get(framework, {}))
        return env

    def alias_set(self, framework: str) -> Any:
        """The framework's :class:`~.aliases.AliasSet` (empty when none is configured)."""
        from .aliases import AliasSet

        key = (framework, repr(sorted(self.aliases.get(framework, {}).items())))
        if key not in _ALIASES:
            _ALIASES[key] = AliasSet.from_config(self.aliases.get(framework, {}))
        return _ALIASES[key]

    def code(self, cell: Any, framework: str) -> str:
        """A cell's code as shown and run in ``framework`` (markers removed, aliases applied)."""
        return str(self.alias_set(framework).apply(cell.code_for(framework)))

    def validate(self) -> None:
        validate_fields(self)
        names = set(self.tab_names) | {"*"}
        for option in ("kernels", "kernel_env", "setup_code", "gpus", "lib_modules",
                       "lib_headers", "aliases"):
            for key in getattr(self, option):
                _check(key in names, option,
                       f"{key!r} is not a configured framework (d2l_tabs = {self.tab_names})")
        for key in self.execute_tabs:
            _check(key in self.tab_names, "execute_tabs",
                   f"{key!r} is not a configured framework (d2l_tabs = {self.tab_names})")
        choice = self.nonhtml_tabs.strip().lower()
        _check(choice in NONHTML_TABS or choice in self.tab_names, "nonhtml_tabs",
               f"{self.nonhtml_tabs!r} is not 'all', 'default' or a configured framework "
               f"(d2l_tabs = {self.tab_names})")
        _check_module_clashes(self)


def _coerce(annotation: str, value: Any) -> Any:
    """``sphinx-build -D name=value`` gives strings for options without a typed default."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if annotation.startswith("int") and re.fullmatch(r"-?\d+", text):
        return int(text)
    if annotation.startswith("float") and re.fullmatch(r"-?\d+(\.\d*)?|-?\.\d+", text):
        return float(text)
    if annotation.startswith("list[str] | None"):
        return [g.strip() for g in text.split(",") if g.strip()]
    return value


def from_mapping(values: Mapping[str, Any]) -> D2lConfig:
    """Build and validate a config from ``{field: value}`` (missing fields: defaults)."""
    known = {f.name: f for f in fields(D2lConfig)}
    kwargs = {k: _coerce(str(known[k].type), v) for k, v in values.items() if k in known}
    cfg = D2lConfig(**kwargs)
    cfg.validate()
    return cfg


def default_cache_dir(srcdir: str, outdir: str, configured: str) -> str:
    if configured:
        return os.path.normpath(os.path.join(srcdir, configured))
    return os.path.normpath(os.path.join(outdir, os.pardir, ".d2l_cache"))


def _check_module_clashes(cfg: D2lConfig) -> None:
    """Two frameworks must not write one module of the package (``d2l_lib_modules``)."""
    owner: dict[str, str] = {}
    for name in cfg.tab_names:
        module = cfg.lib_modules.get(name, name)
        other = owner.setdefault(module.casefold(), name)  # (case-insensitive file systems)
        _check(other == name, "lib_modules",
               f"frameworks {other!r} and {name!r} both write the module {module!r} "
               f"({cfg.lib_package}/{module}.py); give each framework its own module")


def unknown_option_messages(names: Iterable[str]) -> list[str]:
    """A warning for each ``d2l_*`` name of conf.py that is no option, with the closest one.

    ``["d2l_tab"]`` → ``["unknown option d2l_tab in conf.py; did you mean d2l_tabs?"]``.
    """
    import difflib

    options = [f.name for f in fields(D2lConfig)]
    out = []
    for name in dict.fromkeys(names):
        if not name.startswith("d2l_") or name[4:] in options:
            continue
        close = difflib.get_close_matches(name[4:], options, n=1)
        out.append(f"unknown option {name} in conf.py; "
                   + (f"did you mean d2l_{close[0]}?" if close else "it is ignored"))
    return out
