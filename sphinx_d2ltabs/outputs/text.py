"""Text of cell outputs: joined, cleaned of stray control characters, without ANSI.

Sphinx-free. ESC is kept by :func:`clean_text` (the lexer of :mod:`.ansi` colours SGR
sequences in HTML); :func:`strip_ansi` removes every escape sequence.
"""

from __future__ import annotations

import re
from typing import Any

#: any escape sequence (CSI, OSC, two-char) – or a lone ESC, so none is ever left behind
ANSI_ANY = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b\n]{0,512}(?:\x07|\x1b\\)?|[ -/]*[0-~]?)")
#: C0 controls but \t \n ESC, DEL, C1 controls, lone surrogates, XML non-characters
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f\ufffe\uffff]")
SURROGATE = re.compile(r"[\ud800-\udfff]")


def join_text(text: Any) -> str:
    """A str from nbformat's str-or-list-of-str (anything else: its ``str``)."""
    if isinstance(text, list):
        return "".join(t if isinstance(t, str) else str(t) for t in text)
    return text if isinstance(text, str) else str(text)


def _overwrite(line: str) -> str:
    """What a terminal shows of a line with carriage returns (progress bars)."""
    if "\r" not in line:
        return line
    parts = [p for p in line.split("\r") if p]
    return parts[-1] if parts else ""


def clean_text(text: Any, terminal: bool = False) -> str:
    """Text from a str or list of str, without lone surrogates or stray control chars.

    ESC is kept (see :func:`strip_ansi`). With ``terminal``, a carriage return rewrites
    its line as in a terminal; otherwise it is a line break.
    """
    text = SURROGATE.sub("\ufffd", join_text(text)).replace("\r\n", "\n")
    if terminal:
        text = "\n".join(_overwrite(line) for line in text.split("\n"))
    else:
        text = text.replace("\r", "\n")
    return CONTROL.sub("", text)


def strip_ansi(text: str) -> str:
    """``text`` without any escape sequence (nor lone ESC)."""
    return ANSI_ANY.sub("", text)


def truncated(text: str, limit: int) -> tuple[str, int]:
    """``text`` cut to ``limit`` characters, and how many were cut."""
    limit = max(limit, 0)
    if len(text) <= limit:
        return text, 0
    return text[:limit], len(text) - limit
