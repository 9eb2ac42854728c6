"""A wrong ``d2l_*`` value ends ``sphinx-build`` with Sphinx's short configuration error.

Sphinx up to 8.1 printed a :class:`sphinx.errors.SphinxError` as its category and
message::

    Configuration error:
    d2l_tabs: framework 'pytorch' is listed twice

Since 8.2 (``sphinx._cli.util.errors.handle_exception``; sphinx-doc/sphinx#14543) every
exception gets the crash report instead: versions, last messages, extensions, a saved
traceback and a request to report a bug in Sphinx, also for a ``ConfigError`` that names
the user's mistake. :func:`install` wraps that function so that a
:class:`D2lConfigError` (or a ``ConfigError`` whose message starts with ``d2l_``) is
printed the short way again; with ``-T``/``-v`` or ``--pdb``,
and for any other exception, Sphinx's own report is unchanged. Programs that run Sphinx
(``sphinx.testing``) still get the exception: it is a ``sphinx.errors.ConfigError``.
"""

from __future__ import annotations

import sys
from typing import Any

from sphinx.errors import ConfigError

_MARK = "_d2l_short_config_error"


class D2lConfigError(ConfigError):
    """A ``d2l_*`` value (or what it names: the cache folder, the executor) is wrong."""


def is_d2l_config_error(exception: BaseException) -> bool:
    """A :class:`D2lConfigError`, or a Sphinx ``ConfigError`` about a ``d2l_*`` option."""
    return isinstance(exception, D2lConfigError) or (
        isinstance(exception, ConfigError) and str(exception).startswith("d2l_"))


def _short(exception: BaseException, stderr: Any) -> None:
    from sphinx.util.console import red  # type: ignore[attr-defined,unused-ignore]

    print(file=stderr)
    print(red(f"{getattr(exception, 'category', 'Configuration error')}:"), file=stderr)
    print(str(exception), file=stderr)


def install() -> None:
    """Wrap Sphinx's exception report once (Sphinx >= 8.2; older ones print the short
    form themselves)."""
    try:
        from sphinx._cli.util import errors
    except ImportError:
        return
    original = getattr(errors, "handle_exception", None)
    if original is None or getattr(original, _MARK, False):
        return

    def handle_exception(exception: BaseException, /, *args: Any, **kwargs: Any) -> None:
        if (is_d2l_config_error(exception) and not args
                and not kwargs.get("use_pdb") and not kwargs.get("print_traceback")):
            _short(exception, kwargs.get("stderr") or sys.stderr)
            return None
        original(exception, *args, **kwargs)
        return None

    setattr(handle_exception, _MARK, True)
    setattr(errors, "handle_exception", handle_exception)  # noqa: B010 (a module's)
