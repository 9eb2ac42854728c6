"""Pages that are not valid UTF-8: one warning with file and line, not a crashed build.

Sphinx reads a source file with strict decoding and stops the whole build on the first
undecodable byte (a page saved as Latin-1, a binary file named ``.md``). Before the
pages are read, :func:`on_env_before_read_docs` looks for such ``.md`` pages, reports
each with the line of its first bad byte and lets Sphinx read them with the bad bytes
replaced by U+FFFD (valid pages decode exactly as before).
"""

from __future__ import annotations

import codecs
import encodings.utf_8_sig as utf_8_sig
from typing import Any

from sphinx.util import logging

from .warnings_ import D2lWarning, warn

logger = logging.getLogger(__name__)

LENIENT = "d2l_utf_8_sig_replace"
"""The name of a UTF-8 (BOM-skipping) codec that replaces undecodable bytes."""


class _Decoder(utf_8_sig.IncrementalDecoder):
    def __init__(self, errors: str = "strict") -> None:
        super().__init__("replace")


class _Reader(utf_8_sig.StreamReader):
    def __init__(self, stream: Any, errors: str = "strict") -> None:
        super().__init__(stream, "replace")


def _decode(data: Any, errors: str = "strict") -> tuple[str, int]:
    return utf_8_sig.decode(data, "replace")


def _search(name: str) -> codecs.CodecInfo | None:
    if name != LENIENT:
        return None
    return codecs.CodecInfo(
        name=LENIENT, encode=utf_8_sig.encode, decode=_decode,
        incrementalencoder=utf_8_sig.IncrementalEncoder, incrementaldecoder=_Decoder,
        streamreader=_Reader, streamwriter=utf_8_sig.StreamWriter)


_registered = False


def register() -> None:
    global _registered
    if not _registered:
        codecs.register(_search)
        _registered = True


def first_bad_line(data: bytes) -> tuple[int, int] | None:
    """(1-based line, byte) of the first byte that is not valid UTF-8, or None."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        return data.count(b"\n", 0, err.start) + 1, data[err.start]
    return None


def on_env_before_read_docs(app: Any, env: Any, docnames: list[str]) -> None:
    lenient = False
    for docname in docnames:
        path = str(env.doc2path(docname))
        if not path.endswith(".md"):
            continue
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        bad = first_bad_line(data)
        if bad is None:
            continue
        line, byte = bad
        warn(logger, f"the page is not valid UTF-8 (byte 0x{byte:02x} on this line): "
             "undecodable bytes are shown as U+FFFD", D2lWarning.ENCODING,
             location=(docname, line))
        lenient = True
    if not lenient:
        return
    try:
        configured = codecs.lookup(env.settings["input_encoding"]).name
    except (KeyError, LookupError):
        return
    if configured in ("utf-8", "utf-8-sig"):
        register()
        env.settings["input_encoding"] = LENIENT
