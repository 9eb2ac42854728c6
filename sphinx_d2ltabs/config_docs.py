"""The options table of ``docs/configuration.md``, written in the page's source.

The table is a Markdown pipe table, so the page reads as well on a repository's web view
as in the built docs. It is generated from :class:`~.config.D2lConfig`;
``tests/test_ecosystem.py`` checks that the page holds the table of the current options.
After changing an option: ``python -m sphinx_d2ltabs.config_docs docs/configuration.md``.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Sequence

from .config import D2lConfig

HEADER = "| option | default | what it does |\n|---|---|---|\n"


def _cell(text: str) -> str:
    """RST literals as Markdown ones, one line, pipes escaped."""
    text = re.sub(r"``(.+?)``", r"`\1`", " ".join(text.split()))
    return text.replace("|", "\\|")


def _default(field: dataclasses.Field[object]) -> str:
    if field.default_factory is not dataclasses.MISSING:
        value: object = field.default_factory()
    else:
        value = field.default
    shown = "(none)" if value in ("", None) else f"`{value!r}`"
    return shown.replace("|", "\\|")


def options_table() -> str:
    """One row per ``d2l_*`` option: its name, default and help text."""
    rows = [f"| `d2l_{f.name}` | {_default(f)} | {_cell(f.metadata['help'])} |"
            for f in dataclasses.fields(D2lConfig)]
    return HEADER + "\n".join(rows) + "\n"


def table_span(text: str) -> tuple[int, int] | None:
    """Where the options table is in a page (from its header to its last row)."""
    start = text.find(HEADER)
    if start < 0:
        return None
    end = start + len(HEADER)
    while end < len(text) and text.startswith("| `d2l_", end):
        end = text.index("\n", end) + 1 if "\n" in text[end:] else len(text)
    return start, end


def update(path: str) -> bool:
    """Write the current table into the page at ``path``; True when it changed."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    span = table_span(text)
    if span is None:
        raise SystemExit(f"{path}: no options table (a line {HEADER.splitlines()[0]!r})")
    new = text[:span[0]] + options_table() + text[span[1]:]
    if new != text:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(new)
    return new != text


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m sphinx_d2ltabs.config_docs docs/configuration.md",
              file=sys.stderr)
        return 2
    changed = update(args[0])
    print(f"{args[0]}: {'updated' if changed else 'up to date'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
