"""The validators of the ``d2l_*`` options and each field's metadata (:func:`meta`).

They follow myst-parser's dataclass protocol, ``(inst, field, value, suffix)``, so that
its ``optional``, ``deep_iterable``, ``deep_mapping`` and ``validate_fields`` compose them
(``suffix`` locates an item: ``d2l_gpus['pytorch']: -1 must be ...``). Its leaf validators
(``instance_of``, ``in_``) are not used: their messages name Python types (``'timeout'
must be of type <class 'float'>``) and are no ConfigError.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from myst_parser.config.dc_validators import (
    ValidatorType,
    deep_iterable,
    deep_mapping,
    optional,
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

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class ConfigError(ValueError):
    """A ``d2l_*`` value is invalid; the message names the option."""

def check(cond: bool, option: str, message: str) -> None:
    if not cond:
        raise ConfigError(f"d2l_{option}: {message}")




def rule(test: Callable[[Any], bool], message: str, show_value: bool = True) -> ValidatorType:
    """A validator raising ``ConfigError("d2l_<option><suffix>: <value> <message>")``
    unless ``test(value)``."""

    def validator(inst: Any, field: dataclasses.Field[Any], value: Any,
                  suffix: str = "") -> None:
        if not test(value):
            shown = f"{value!r} " if show_value else ""
            raise ConfigError(f"d2l_{field.name}{suffix}: {shown}{message}")

    return validator


def number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def one_of(choices: tuple[str, ...]) -> ValidatorType:
    return rule(lambda v: v in choices, f"is not one of {', '.join(choices)}")


def inside(value: str) -> bool:
    """A relative path that stays inside the folder it is relative to."""
    norm = os.path.normpath(value or ".")
    return not os.path.isabs(value) and norm != os.pardir and not norm.startswith(
        os.pardir + os.sep)


def is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple))


STRING = rule(lambda v: isinstance(v, str), "must be a string")
BOOL = rule(lambda v: isinstance(v, bool), "must be True or False")
POSITIVE = rule(lambda v: number(v) and v > 0, "must be a positive number")
NON_NEGATIVE = rule(lambda v: number(v) and v >= 0, "must be a number >= 0")
STRING_LIST = deep_iterable(STRING, rule(is_list, "must be a list of strings", False))
INSIDE = [STRING, rule(inside, "must stay inside the source folder (a relative path "
                                "without '..')")]
FRAMEWORK_KEY = rule(lambda v: isinstance(v, str), "must be a framework name (a string)")


def framework_map(value: ValidatorType, example: str) -> ValidatorType:
    """``{framework: value}``."""
    return deep_mapping(FRAMEWORK_KEY, value, rule(
        lambda v: isinstance(v, Mapping), f"must be a dict {example}", False))


IDENTIFIER = rule(lambda v: isinstance(v, str) and v.isidentifier(),
                  "must be a Python identifier (it names a file or folder)")
KERNEL_ENV = framework_map(
    rule(lambda v: isinstance(v, Mapping) and all(
        isinstance(k, str) and isinstance(x, str) for k, x in v.items()),
        "must be a dict of strings {VAR: value}"),
    "{framework: {VAR: value}} (use '*' for every framework)")
GPUS = framework_map(
    rule(lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
         "must be a non-negative integer"),
    "{framework: number of GPUs}")
GPU_IDS = optional(deep_iterable(
    rule(lambda v: isinstance(v, (str, int)), "must be a GPU id such as '0'"),
    rule(is_list, "must be None (auto-detect) or a list of GPU ids such as ['0', '1']",
         False)))
LIB_MODULES = framework_map(
    rule(lambda v: isinstance(v, str) and v.isidentifier(),
         "must be a Python identifier (it names a module file)"),
    "{framework: module name}")


def tabs_list(inst: Any, field: dataclasses.Field[Any], value: Any, suffix: str = "") -> None:
    check(isinstance(value, (list, tuple)) and len(value) > 0, "tabs",
          "must be a non-empty list of framework names, e.g. ['pytorch', 'jax']")
    seen: set[str] = set()
    for item in value:
        if isinstance(item, (list, tuple)):
            check(len(item) == 2 and all(isinstance(x, str) for x in item), "tabs",
                  f"entry {item!r} must be a name or a (name, label) pair of strings")
            name = item[0]
        else:
            check(isinstance(item, str), "tabs", f"entry {item!r} must be a string")
            name = item
        name = name.strip().lower()
        check(bool(_NAME.match(name)), "tabs",
              f"framework name {name!r} must be a Python identifier (letters, digits, _)")
        check(name != "all", "tabs", "'all' is reserved (it means every framework)")
        check(name not in seen, "tabs", f"framework {name!r} is listed twice")
        seen.add(name)


def alias_section(inst: Any, field: dataclasses.Field[Any], value: Any,
                  suffix: str = "") -> None:
    from .aliases import AliasError, AliasSet

    check(isinstance(value, Mapping), f"{field.name}{suffix}", "must be a dict of strings")
    try:
        AliasSet.from_config(value)
    except AliasError as err:
        raise ConfigError(f"d2l_{field.name}{suffix}: {err}") from None


def regex(inst: Any, field: dataclasses.Field[Any], value: Any, suffix: str = "") -> None:
    STRING(inst, field, value, suffix)
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


MIME_OVERRIDES = deep_iterable(
    rule(_mime_override, "must be a (builder, mime type, priority) triple: two strings and "
         "an integer or None"),
    rule(is_list, "must be a list of (builder, mime type, priority) triples", False))


def meta(help: str, validator: ValidatorType | list[ValidatorType], rebuild: str = "env",
         types: ENUM | None = None) -> dict[str, Any]:
    """A field's metadata: its help text, its validator(s) (run by myst-parser's
    ``validate_fields``), Sphinx's rebuild kind and, for a choice, Sphinx's ``ENUM``."""
    return {"help": help, "validator": validator, "rebuild": rebuild, "types": types}


#: d2l_colab's and d2l_studiolab's values: {framework: "owner/repo[@branch]"}
HOSTED_REPOS = deep_mapping(
    lambda inst, f, key, suffix="": check(
        key in inst.tab_names, f.name,
        f"{key!r} is not a configured framework (d2l_tabs = {inst.tab_names})"),
    rule(lambda v: isinstance(v, str) and re.fullmatch(
        r"[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?", v) is not None,
        "must be a GitHub repository 'owner/repo' or 'owner/repo@branch'"),
    rule(lambda v: isinstance(v, Mapping), "must be a dict {framework: 'owner/repo'}",
         False))
