"""The files of the ``#@save`` library on disk (Sphinx-free): never overwrite what we did not write.

A module is the extension's when it holds :data:`BANNER`; an empty file holds nothing to
lose. A module that d2lbook generated is replaced only when the text above its banner is the
header the module gets (:func:`existing_header` reads that text, as d2lbook keeps it); any
other file is kept and reported. A write that fails (a read-only folder, a file where the
folder should be) is reported, never raised: the kernels then import whatever is there. An
existing ``__init__.py`` is never written.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from ..fileio import atomic_write

BANNER = (
    "#################   WARNING   ################\n"
    "# The below part is generated automatically through:\n"
    "#    sphinx_d2ltabs (the #@save blocks of the book)\n"
    "# Don't edit it directly\n"
)
BANNER_FIRST = BANNER.split("\n", 1)[0]
D2LBOOK_BANNER = (BANNER_FIRST + "\n# The below part is generated automatically through:\n"
                  "#    d2lbook build lib\n")
"""The banner of a module written by ``d2lbook build lib``."""


def os_error(err: OSError) -> str:
    """``[Errno 13] Permission denied`` (without the file name, which the message gives)."""
    if err.errno is not None and err.strerror:
        return f"[Errno {err.errno}] {err.strerror}"
    return str(err) or type(err).__name__


def write_if_changed(path: str | os.PathLike[str], text: str) -> bool:
    """Write ``text`` atomically unless the file already holds it; True if written.

    Creates the folder and an empty ``__init__.py`` in it when absent (an existing one is
    never written); a file rewritten keeps its mode, a new one gets the umask's. Raises
    ``OSError`` when the folder or the file cannot be written.
    """
    path = os.fspath(path)
    if os.path.basename(path) != "__init__.py":
        ensure_init(os.path.dirname(path) or ".")
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            if fh.read() == text:
                return False
    except (OSError, UnicodeDecodeError):
        pass
    try:
        mode: int | None = os.stat(path).st_mode & 0o7777
    except OSError:
        mode = None
    atomic_write(path, text)
    if mode is not None:
        with contextlib.suppress(OSError):
            if os.stat(path).st_mode & 0o7777 != mode:
                os.chmod(path, mode)
    return True


def ensure_init(folder: str) -> bool:
    """Create ``folder`` and an empty ``folder/__init__.py`` if absent; True if created."""
    os.makedirs(folder, exist_ok=True)
    try:
        with open(os.path.join(folder, "__init__.py"), "x", encoding="utf-8"):
            return True
    except FileExistsError:  # (exclusive creation: another build's, or the author's, stays)
        return False


@dataclass
class ModuleFile:
    """What :func:`write_module` did with one module."""

    written: bool = False
    content: str | None = None
    """The module's text on disk now (what the kernels import); None: no readable file."""
    kept: str = ""
    """Why an existing file that is not ours was kept (a message), else empty."""
    failed: str = ""
    """The path that could not be written (the module or its ``__init__.py``), else empty."""
    error: OSError | None = None


def _read(path: str) -> str | None:
    """The file's text; None when there is none. Raises OSError/UnicodeDecodeError."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return fh.read()
    except (FileNotFoundError, NotADirectoryError):  # (a file where a folder should be)
        return None


def existing_header(path: str) -> str:
    """The hand-written top of the module at ``path``: the lines above its WARNING banner
    (ours or d2lbook's), as ``d2lbook build lib`` keeps them; line ends made ``\\n``.

    Empty when there is no file, no banner, or the file cannot be read (:func:`write_module`
    then keeps the file and says why).
    """
    try:
        text = _read(path)
    except (OSError, UnicodeDecodeError):
        return ""
    if text is None:
        return ""
    lines = text.replace("\r\n", "\n").splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.strip() == BANNER_FIRST:
            return "".join(lines[:i])
    return ""


def _foreign(text: str, header: str) -> str:
    """Why ``text`` may not be replaced ('' when it may): 'd2lbook' or 'foreign'."""
    text = text.replace("\r\n", "\n")
    if not text.strip() or BANNER in text:
        return ""
    if D2LBOOK_BANNER in text:
        above = text[:text.index(D2LBOOK_BANNER)]
        return "" if above.strip() == header.strip() else "d2lbook"
    return "foreign"


def kept_message(kind: str, shown: str, framework: str, reason: str = "",
                 header: str = "") -> str:
    """Why the file at ``shown`` is kept, and the ways out (``header``: the configured
    header of a d2lbook module that differs from the file's)."""
    fix = (f"move its code into d2l_lib_headers[{framework!r}], or set d2l_lib_modules or "
           "d2l_lib_dir to write the module elsewhere")
    if kind == "d2lbook" and header.strip():
        return (f"{shown} was written by d2lbook build lib and its text above the WARNING "
                f"banner is not d2l_lib_headers[{framework!r}]: kept, without the #@save code "
                f"of {framework}; remove d2l_lib_headers[{framework!r}] (the text above the "
                "banner is kept by default) or make it that text, delete the file, or set "
                "d2l_lib_modules or d2l_lib_dir to write the module elsewhere")
    if kind == "d2lbook":
        return (f"{shown} was written by d2lbook build lib: kept, without the #@save code of "
                f"{framework}; put the text above its WARNING banner into "
                f"d2l_lib_headers[{framework!r}] (the build then replaces the file), delete the "
                "file, or set d2l_lib_modules or d2l_lib_dir to write the module elsewhere")
    if kind == "unreadable":
        return (f"cannot read {shown} ({reason}) to check that the build wrote it: kept, "
                f"without the #@save code of {framework}; delete or rename it, {fix}")
    return (f"{shown} was not generated by sphinx_d2ltabs (it has no generated-code banner): "
            f"kept, without the #@save code of {framework}; delete or rename it, {fix}")


def write_module(path: str, text: str, *, shown: str, framework: str,
                 header: str = "") -> ModuleFile:
    """Write a module of the package unless a file we did not write is in the way.

    ``shown`` is the path in messages (relative to the book); ``header`` is the configured
    header (a d2lbook module with that header above its banner is replaced).
    """
    out = ModuleFile()
    try:
        existing = _read(path)
    except UnicodeDecodeError:  # (not ours: we write UTF-8)
        with open(path, "rb") as fh:
            existing, kind = fh.read().decode("utf-8", "replace"), "foreign"
    except OSError as err:
        out.kept = kept_message("unreadable", shown, framework, os_error(err))
        return out
    else:
        kind = _foreign(existing, header) if existing is not None else ""
    if kind:
        out.kept, out.content = kept_message(kind, shown, framework, header=header), existing
        return out
    folder = os.path.dirname(path) or "."
    try:
        if os.path.basename(path) != "__init__.py":
            ensure_init(folder)
    except OSError as err:
        out.failed, out.error = os.path.join(folder, "__init__.py"), err
        out.content = existing
        return out
    try:
        out.written = write_if_changed(path, text)
        out.content = text
    except OSError as err:
        out.failed, out.error, out.content = path, err, existing
    return out


def remove_module(path: str) -> tuple[bool, OSError | None]:
    """Remove a module we generated (it holds :data:`BANNER`); (removed, error).

    A file without the banner, or one that can't be read, is left alone.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            if BANNER not in fh.read():
                return False, None
    except (OSError, UnicodeDecodeError):
        return False, None
    try:
        os.remove(path)
    except FileNotFoundError:
        return False, None
    except OSError as err:
        return False, err
    return True, None
