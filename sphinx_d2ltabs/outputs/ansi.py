"""Pygments lexers for cell outputs: ANSI colours (``d2l-ansi``) and tracebacks.

Stream and ``text/plain`` outputs keep their ANSI escape sequences in the doctree, as
literal blocks in the ``d2l-ansi`` language: :class:`AnsiLexer` turns the SGR ones into
coloured tokens in HTML (the post-transform strips them for every other builder).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pygments.lexer import Lexer
from pygments.token import Text, Token, _TokenType

from .text import ANSI_ANY

ANSI_LANGUAGE = "d2l-ansi"
TRACEBACK_LANGUAGE = "ipythontb"
SGR = re.compile(r"\x1b\[([0-9;:]*)m")
COLORS = ("Black", "Red", "Green", "Yellow", "Blue", "Magenta", "Cyan", "White")
#: SGR codes that switch one attribute on
_ATTRIBUTE_ON = {1: "bold", 2: "faint", 3: "italic", 4: "underline"}


@dataclass
class _SgrState:
    bold: bool = False
    faint: bool = False
    italic: bool = False
    underline: bool = False
    fg: str | None = None
    bg: str | None = None

    def token(self) -> _TokenType:
        parts = [name for name, on in (("Bold", self.bold), ("Faint", self.faint),
                                       ("Italic", self.italic),
                                       ("Underline", self.underline)) if on]
        if self.fg:
            parts.append(self.fg)
        if self.bg:
            parts.append("BG" + self.bg)
        if not parts:
            return Text
        token: _TokenType = Token.Color
        for part in parts:
            token = getattr(token, part)
        return token

    def reset(self) -> None:
        self.bold = self.faint = self.italic = self.underline = False
        self.fg = self.bg = None

    def apply(self, params: str) -> None:
        codes = [int(p) if p.isdigit() else 0 for p in re.split(r"[;:]", params)[:64]] or [0]
        i = 0
        while i < len(codes):
            n = codes[i]
            if n in (38, 48):  # 256 colours (5;n) or true colour (2;r;g;b)
                color, used = _extended_color(codes, i)
                if n == 38:
                    self.fg = color
                else:
                    self.bg = color
                i += used
            else:
                self._apply_code(n)
            i += 1

    def _apply_code(self, n: int) -> None:
        if n == 0:
            self.reset()
        elif n in _ATTRIBUTE_ON:
            setattr(self, _ATTRIBUTE_ON[n], True)
        elif n == 22:
            self.bold = self.faint = False
        elif n == 23:
            self.italic = False
        elif n == 24:
            self.underline = False
        elif 30 <= n <= 37 or 90 <= n <= 97:
            self.fg = ("Bright" if n >= 90 else "") + COLORS[n % 10]
        elif 40 <= n <= 47 or 100 <= n <= 107:
            self.bg = ("Bright" if n >= 100 else "") + COLORS[n % 10]
        elif n == 39:
            self.fg = None
        elif n == 49:
            self.bg = None


def _extended_color(codes: list[int], i: int) -> tuple[str | None, int]:
    """The colour of a 38/48 code at ``codes[i]`` (one of the 16 basic ones, else None)
    and how many parameters after it it used."""
    kind = codes[i + 1] if i + 1 < len(codes) else None
    if kind == 5 and i + 2 < len(codes):
        idx = codes[i + 2]
        if idx < 16:
            return ("Bright" if idx >= 8 else "") + COLORS[idx % 8], 2
        return None, 2
    if kind == 2:
        return None, 4
    return None, 0


class AnsiLexer(Lexer):
    """Text with ANSI SGR sequences → coloured tokens (``Token.Color.Bold.Red``...).

    Every other escape sequence (and any garbage starting with ESC) is dropped. The
    lexer keeps no state between calls: Sphinx caches lexer instances.
    """

    name = "ANSI colour (d2l)"
    aliases = [ANSI_LANGUAGE]
    filenames: list[str] = []

    def get_tokens_unprocessed(self, text: str) -> Iterator[tuple[int, _TokenType, str]]:
        state = _SgrState()
        pos = 0
        for m in ANSI_ANY.finditer(text):
            if m.start() > pos:
                yield pos, state.token(), text[pos:m.start()]
            sgr = SGR.fullmatch(m.group(0))
            if sgr:
                state.apply(sgr.group(1))
            pos = m.end()
        if pos < len(text):
            yield pos, state.token(), text[pos:]


def traceback_lexer() -> type[Lexer] | None:
    """The lexer registered for ``ipythontb``: a stand-in that imports the real one
    (:func:`real_traceback_lexer`) only when a traceback is highlighted. Looking it up
    at set-up would cost every build, a no-op rebuild too, pygments' plugin scan and
    IPython's import (a quarter of a second)."""
    return _LazyTracebackLexer


@functools.cache
def real_traceback_lexer() -> type[Lexer]:
    """IPython's traceback lexer (from ``ipython_pygments_lexers``, else IPython, else
    what pygments knows by the name), or a plain one."""
    try:
        from ipython_pygments_lexers import IPythonTracebackLexer
    except ImportError:
        try:
            from IPython.lib.lexers import IPythonTracebackLexer
        except ImportError:
            from pygments.lexers import find_lexer_class_by_name
            from pygments.util import ClassNotFound

            try:
                found: type[Lexer] = find_lexer_class_by_name(TRACEBACK_LANGUAGE)
            except ClassNotFound:
                return _PlainLexer
            return found
    lexer: type[Lexer] = IPythonTracebackLexer
    return lexer


class _LazyTracebackLexer(Lexer):
    """Registered for ``ipythontb``; instantiating it makes the real lexer."""

    name = "IPython traceback (d2l, resolved on first use)"
    aliases: list[str] = []

    def __new__(cls, **options: Any) -> Lexer:
        return real_traceback_lexer()(**options)


class _PlainLexer(Lexer):
    name = "plain traceback (d2l)"
    aliases: list[str] = []

    def get_tokens_unprocessed(self, text: str) -> Iterator[tuple[int, _TokenType, str]]:
        yield 0, Text, text
