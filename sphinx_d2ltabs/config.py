"""Configuration: one validated dataclass, registered in Sphinx as ``d2l_<field>`` values.

Every field carries its help text and a validator in its metadata; the docs'
configuration reference is generated from this class (``d2l-config-table``).
Modules never read ``app.config.d2l_*`` directly: they use the validated
:class:`D2lConfig` (``app.d2l_config``, ``state.config``). The fields are grouped in
:mod:`.config_run` (execution, cache) and :mod:`.config_show` (outputs, publishing);
their validators live in :mod:`.config_validators`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from myst_parser.config.dc_validators import validate_fields

from .config_run import RunOptions
from .config_show import ShowOptions
from .config_validators import (  # re-exported: the names other modules use
    EXECUTE_MODES,
    GENERIC_PLACEHOLDER,
    NONHTML_TABS,
    ORIGINAL_LAYOUTS,
    STDERR_MODES,
    UNTRANSLATED_MODES,
    ConfigError,
    check,
    meta,
    tabs_list,
)

__all__ = [
    "EXECUTE_MODES",
    "GENERIC_PLACEHOLDER",
    "KNOWN_LABELS",
    "NONHTML_TABS",
    "ORIGINAL_LAYOUTS",
    "STDERR_MODES",
    "UNTRANSLATED_MODES",
    "ConfigError",
    "D2lConfig",
    "Framework",
    "default_cache_dir",
    "from_mapping",
    "unknown_option_messages",
]

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
_ALIASES: dict[tuple[str, str], Any] = {}


@dataclass(frozen=True)
class Framework:
    """One framework tab."""

    name: str
    label: str


@dataclass
class _TabsOption:
    """``d2l_tabs``, first of the options (fields follow the bases' reversed order)."""

    tabs: list[Any] = field(
        default_factory=lambda: ["python"],
        metadata=meta(
            "Ordered framework list, as d2lbook's ``tabs``; the first is the default tab "
            "(unmarked cells belong to it). Entries are names or ``(name, label)`` pairs.",
            tabs_list,
        ),
    )


@dataclass
class D2lConfig(ShowOptions, RunOptions, _TabsOption):
    """All ``d2l_*`` options of conf.py (fields: :class:`_TabsOption`,
    :class:`~.config_run.RunOptions`, :class:`~.config_show.ShowOptions`)."""

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
                check(key in names, option,
                      f"{key!r} is not a configured framework (d2l_tabs = {self.tab_names})")
        for key in self.execute_tabs:
            check(key in self.tab_names, "execute_tabs",
                  f"{key!r} is not a configured framework (d2l_tabs = {self.tab_names})")
        choice = self.nonhtml_tabs.strip().lower()
        check(choice in NONHTML_TABS or choice in self.tab_names, "nonhtml_tabs",
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
        check(other == name, "lib_modules",
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
