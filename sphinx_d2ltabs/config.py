"""Configuration: one validated dataclass, registered in Sphinx as ``d2l_<field>`` values.

Every field carries its help text and a validator in its metadata; the docs'
configuration reference is generated from this class (``d2l-config-table``).
Modules never read ``app.config.d2l_*`` directly: they use :func:`get_config`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

EXECUTE_MODES = ("auto", "force", "cache-only", "off")
NONHTML_TABS = ("all", "default")

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


def _v_tabs(value: Any) -> None:
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


def _v_str_map(option: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        _check(isinstance(value, Mapping), option, "must be a dict {framework: string}")
        for k, v in value.items():
            _check(isinstance(k, str) and isinstance(v, str), option,
                   f"entry {k!r}: {v!r} must map a framework name to a string")

    return check


def _v_env(value: Any) -> None:
    _check(isinstance(value, Mapping), "kernel_env",
           "must be a dict {framework: {VAR: value}} (use '*' for every framework)")
    for k, env in value.items():
        _check(isinstance(env, Mapping), "kernel_env", f"{k!r} must map to a dict of strings")
        for var, val in env.items():
            _check(isinstance(var, str) and isinstance(val, str), "kernel_env",
                   f"{k!r}: {var!r}={val!r} must be strings")


def _v_gpus(value: Any) -> None:
    _check(isinstance(value, Mapping), "gpus", "must be a dict {framework: number of GPUs}")
    for k, v in value.items():
        _check(isinstance(v, int) and not isinstance(v, bool) and v >= 0, "gpus",
               f"{k!r}: {v!r} must be a non-negative integer")


def _v_gpu_ids(value: Any) -> None:
    _check(value is None or (isinstance(value, (list, tuple))
                             and all(isinstance(x, (str, int)) for x in value)),
           "gpu_ids", "must be None (auto-detect) or a list of GPU ids such as ['0', '1']")


def _v_choice(option: str, choices: tuple[str, ...]) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        _check(value in choices, option, f"{value!r} is not one of {', '.join(choices)}")

    return check


def _v_positive(option: str, allow_none: bool = False) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if allow_none and value is None:
            return
        _check(isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0,
               option, f"{value!r} must be a positive number")

    return check


def _v_non_negative(option: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        _check(isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0,
               option, f"{value!r} must be a number >= 0")

    return check


def _v_bool(option: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        _check(isinstance(value, bool), option, f"{value!r} must be True or False")

    return check


def _v_str(option: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        _check(isinstance(value, str), option, f"{value!r} must be a string")

    return check


def _v_identifier(option: str) -> Callable[[Any], None]:
    """A package or module name (a file name in the library folder: no path)."""
    def check(value: Any) -> None:
        _check(isinstance(value, str) and value.isidentifier(), option,
               f"{value!r} must be a Python identifier (it names a file or folder)")

    return check


def _v_identifier_map(option: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        _v_str_map(option)(value)
        for k, v in value.items():
            _check(v.isidentifier(), option,
                   f"{k!r}: {v!r} must be a Python identifier (it names a module file)")

    return check


def _v_inside(option: str) -> Callable[[Any], None]:
    """A folder relative to the source folder that stays inside it."""
    def check(value: Any) -> None:
        _check(isinstance(value, str), option, f"{value!r} must be a string")
        norm = os.path.normpath(value or ".")
        _check(not os.path.isabs(value) and norm != os.pardir
               and not norm.startswith(os.pardir + os.sep), option,
               f"{value!r} must be a folder inside the source folder (a relative path "
               "without '..')")

    return check


def _v_str_list(option: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        _check(isinstance(value, (list, tuple)) and all(isinstance(x, str) for x in value),
               option, "must be a list of strings")

    return check


def _v_regex(option: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        _check(isinstance(value, str), option, f"{value!r} must be a string")
        try:
            re.compile(value)
        except re.error as err:
            raise ConfigError(f"d2l_{option}: {value!r} is not a regular expression: {err}"
                              ) from None

    return check


def _v_aliases(value: Any) -> None:
    from .aliases import AliasError, AliasSet

    _check(isinstance(value, Mapping), "aliases", "must be a dict {framework: {key: text}}")
    for fw, section in value.items():
        _check(isinstance(section, Mapping), "aliases", f"{fw!r} must map to a dict of strings")
        try:
            AliasSet.from_config(section)
        except AliasError as err:
            raise ConfigError(f"d2l_aliases[{fw!r}]: {err}") from None


def _meta(help: str, validator: Callable[[Any], None], rebuild: str = "env") -> dict[str, Any]:
    return {"help": help, "validator": validator, "rebuild": rebuild}


@dataclass
class D2lConfig:
    """All ``d2l_*`` options of conf.py."""

    tabs: list[Any] = field(
        default_factory=lambda: ["python"],
        metadata=_meta(
            "Ordered framework list, as d2lbook's ``tabs``; the first is the default tab "
            "(unmarked cells belong to it). Entries are names or ``(name, label)`` pairs.",
            _v_tabs,
        ),
    )
    execute: str = field(
        default="auto",
        metadata=_meta(
            "``auto``: run stale (document, framework) pairs; ``force``: run everything; "
            "``cache-only``: never run, show cached outputs; ``off``: no execution, no outputs.",
            _v_choice("execute", EXECUTE_MODES),
        ),
    )
    execute_tabs: list[str] = field(
        default_factory=list,
        metadata=_meta("Frameworks whose cells are executed (default: every framework); the "
                       "others are shown without outputs, e.g. ``['pytorch']`` to run a "
                       "four-framework book where only PyTorch is installed.",
                       _v_str_list("execute_tabs")),
    )
    kernels: dict[str, str] = field(
        default_factory=dict,
        metadata=_meta("Kernelspec name per framework (default ``python3``).",
                       _v_str_map("kernels")),
    )
    kernel_env: dict[str, dict[str, str]] = field(
        default_factory=dict,
        metadata=_meta("Extra environment variables per framework (key ``*``: all frameworks).",
                       _v_env),
    )
    setup_code: dict[str, str] = field(
        default_factory=dict,
        metadata=_meta("Code run silently in each kernel of that framework before its cells.",
                       _v_str_map("setup_code")),
    )
    gpus: dict[str, int] = field(
        default_factory=dict,
        metadata=_meta("GPUs each kernel of a framework needs, e.g. ``{'pytorch': 1}``.", _v_gpus),
    )
    gpu_ids: list[str] | None = field(
        default=None,
        metadata=_meta("GPU ids to hand out; ``None`` detects them (``CUDA_VISIBLE_DEVICES``, "
                       "``nvidia-smi -L``).", _v_gpu_ids),
    )
    strict_gpu: bool = field(
        default=False,
        metadata=_meta("Fail GPU frameworks when no GPU exists instead of running them on CPU.",
                       _v_bool("strict_gpu")),
    )
    workers: int | None = field(
        default=None,
        metadata=_meta("Kernels run at once (default: the number of CPUs).",
                       _v_positive("workers", allow_none=True)),
    )
    timeout: float = field(
        default=600.0,
        metadata=_meta("Per-cell timeout in seconds.", _v_positive("timeout")),
    )
    allow_errors: bool = field(
        default=False,
        metadata=_meta("Keep running a page after a failing cell (the error is still reported).",
                       _v_bool("allow_errors")),
    )
    cache_dir: str = field(
        default="",
        metadata=_meta("Execution cache folder (default ``<outdir>/../.d2l_cache``); relative "
                       "paths are relative to the source folder.", _v_str("cache_dir")),
    )
    cache_max_age: float = field(
        default=30.0,
        metadata=_meta("Days after which a cache entry that no build used is removed (at the "
                       "end of a build that executed); ``0`` keeps every entry. "
                       "``python -m sphinx_d2ltabs cache prune`` removes entries by hand.",
                       _v_non_negative("cache_max_age")),
    )
    dependencies: list[str] = field(
        default_factory=list,
        metadata=_meta("Glob patterns (relative to the source folder) of files whose content is "
                       "part of every cache key (data files, local modules).",
                       _v_str_list("dependencies")),
    )
    max_output_chars: int = field(
        default=20000,
        metadata=_meta("Text outputs longer than this are truncated with a note.",
                       _v_positive("max_output_chars")),
    )
    nonhtml_tabs: str = field(
        default="all",
        metadata=_meta("Non-HTML builders (latex, text...): ``all`` shows every tab one after "
                       "the other, ``default`` only the default framework.",
                       _v_choice("nonhtml_tabs", NONHTML_TABS)),
    )
    storage_prefix: str = field(
        default="",
        metadata=_meta("Browser localStorage prefix of the remembered tab (default: "
                       "``d2ltabs-<project>-``).", _v_str("storage_prefix")),
    )
    lib_package: str = field(
        default="d2l",
        metadata=_meta("Name of the generated ``#@save`` package.",
                       _v_identifier("lib_package")),
    )
    lib_dir: str = field(
        default=".",
        metadata=_meta("Folder (relative to the source folder) holding the generated package.",
                       _v_inside("lib_dir")),
    )
    lib_modules: dict[str, str] = field(
        default_factory=dict,
        metadata=_meta("Module file stem per framework, e.g. ``{'pytorch': 'torch'}`` "
                       "(default: the framework name).", _v_identifier_map("lib_modules")),
    )
    lib_headers: dict[str, str] = field(
        default_factory=dict,
        metadata=_meta("Text kept verbatim at the top of each generated module.",
                       _v_str_map("lib_headers")),
    )
    aliases: dict[str, dict[str, str]] = field(
        default_factory=dict,
        metadata=_meta("d2lbook's ``[library-<tab>]`` aliases per framework: ``lib_name``, "
                       "``simple_alias``, ``fluent_alias``, ``args_alias``, ``reverse_alias``, "
                       "``alias``; applied to the code shown and run in that framework.",
                       _v_aliases),
    )
    show_original: bool = field(
        default=False,
        metadata=_meta("Bilingual books: show the original text kept in an HTML comment as a "
                       "collapsible element after its translation (HTML only).",
                       _v_bool("show_original")),
    )
    translation_placeholder: str = field(
        default=r"^\*dịch đoạn phía trên\*$",
        metadata=_meta("Regular expression of an untranslated placeholder paragraph "
                       "(translation status report).", _v_regex("translation_placeholder")),
    )
    lib_enable: bool = field(
        default=True,
        metadata=_meta("Generate the ``#@save`` package during the build.",
                       _v_bool("lib_enable")),
    )
    lib_api_page: str = field(
        default="",
        metadata=_meta("Document name of a generated page listing every saved function, "
                       "class and variable per framework, each linked to the cell defining "
                       "it (e.g. ``'api'`` writes ``api.md``; add it to a toc). Empty: none. "
                       "The ``d2l-library-api`` directive renders the same list on any page.",
                       _v_inside("lib_api_page")),
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
        for f in fields(self):
            f.metadata["validator"](getattr(self, f.name))
        names = set(self.tab_names) | {"*"}
        for option in ("kernels", "kernel_env", "setup_code", "gpus", "lib_modules",
                       "lib_headers", "aliases"):
            for key in getattr(self, option):
                _check(key in names, option,
                       f"{key!r} is not a configured framework (d2l_tabs = {self.tab_names})")
        for key in self.execute_tabs:
            _check(key in self.tab_names, "execute_tabs",
                   f"{key!r} is not a configured framework (d2l_tabs = {self.tab_names})")
        _check_module_clashes(self)


def config_fields() -> list[dataclasses.Field[Any]]:
    return list(fields(D2lConfig))


def _coerce(annotation: str, value: Any) -> Any:
    """``sphinx-build -D name=value`` gives strings for options without a typed default."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if annotation.startswith("int") and re.fullmatch(r"\d+", text):
        return int(text)
    if annotation.startswith("float") and re.fullmatch(r"\d+(\.\d*)?", text):
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
