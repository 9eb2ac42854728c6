"""The dialect as fixture files: markdown in, the page's doctree (and warnings) out.

Each ``tests/fixtures/dialect/*.md`` file is one small Sphinx book (built once, with
``d2l_execute = "off"``); each case in it is one page. A file holds cases in the format of
markdown-it-py's and myst-parser's fixtures, a line holding only ``.`` ending each part::

    a one-line description of the case
    .
    the markdown of the page
    .
    the expected doctree (``pformat``) and, after it, the page's warnings
    .

Lines before the first case that start with ``conf:`` are added to the book's ``conf.py``
(default: the tabs ``pytorch``, ``jax`` and ``tensorflow``, titled "TF").

To add a construct, add a case with an empty expected part, then write the expected
output with ``pytest tests/test_dialect_fixtures.py --regen-fixtures`` and read the diff:
the regenerated text is what the extension does now, to be checked by a human.

In the expected text the page's folder is ``<srcdir>`` and its docname ``<page>``; a
warning reads ``<page>.md:<line>: WARNING: ...``.
"""

from __future__ import annotations

import io
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "dialect"
IMAGES = Path(__file__).parent / "roots" / "test-dialect" / "img"
DEFAULT_CONF = 'd2l_tabs = ["pytorch", "jax", ("tensorflow", "TF")]\n'


@dataclass
class Case:
    title: str
    markdown: str
    expected: str
    line: int
    """The line of the title in its file."""


def read_fixture(path: Path) -> tuple[str, list[Case]]:
    """The ``conf:`` lines and the cases of a fixture file."""
    lines = path.read_text(encoding="utf-8").split("\n")
    conf = []
    i = 0
    while i < len(lines) and (lines[i].startswith("conf:") or not lines[i].strip()):
        if lines[i].startswith("conf:"):
            conf.append(lines[i][len("conf:"):].strip())
        i += 1
    cases = []
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        start = i
        parts: list[list[str]] = []
        i += 1
        if i >= len(lines) or lines[i] != ".":
            raise ValueError(f"{path.name}:{start + 1}: a case title must be followed by '.'")
        i += 1
        current: list[str] = []
        while len(parts) < 2:
            if i >= len(lines):
                raise ValueError(f"{path.name}:{start + 1}: the case does not end with '.'")
            if lines[i] == ".":
                parts.append(current)
                current = []
            else:
                current.append(lines[i])
            i += 1
        cases.append(Case(lines[start], "\n".join(parts[0]) + "\n", "\n".join(parts[1]),
                          start + 1))
    return "\n".join(conf) + "\n" if conf else DEFAULT_CONF, cases


def write_fixture(path: Path, conf_lines: str, cases: list[Case]) -> None:
    head = "".join(f"conf: {line}\n" for line in conf_lines.splitlines()
                   ) + "\n" if conf_lines != DEFAULT_CONF else ""
    body = "\n".join(f"{c.title}\n.\n{c.markdown.rstrip(chr(10))}\n.\n{c.expected}\n.\n"
                     for c in cases)
    path.write_text(head + body, encoding="utf-8")


def page_name(index: int) -> str:
    return f"case{index:03d}"


def build_fixture(path: Path, root: Path) -> dict[str, str]:
    """Build the book of one fixture file; the output of each case by page name."""
    from sphinx.testing.util import SphinxTestApp

    conf, cases = read_fixture(path)
    src = root / path.stem
    src.mkdir(parents=True)
    (src / "conf.py").write_text(
        'extensions = ["sphinx_d2ltabs"]\nproject = "fixtures"\nd2l_execute = "off"\n'
        "d2l_lib_enable = False\n" + conf, encoding="utf-8")
    shutil.copytree(IMAGES, src / "img")
    names = [page_name(i) for i in range(len(cases))]
    (src / "index.md").write_text("# Fixtures\n\n```toc\n:maxdepth: 1\n:numbered:\n\n"
                                  + "\n".join(names) + "\n```\n", encoding="utf-8")
    for name, case in zip(names, cases, strict=True):
        (src / f"{name}.md").write_text(case.markdown, encoding="utf-8")
    warning = io.StringIO()
    app = SphinxTestApp("html", srcdir=src, status=io.StringIO(), warning=warning)
    try:
        app.build()
        warnings = re.sub(r"\x1b\[[0-9;]*m", "", warning.getvalue()).replace(
            str(src) + os.sep, "")
        out = {}
        for name in names:
            doctree = app.env.get_doctree(name)
            text = "\n".join(child.pformat().rstrip("\n") for child in doctree.children)
            mine = [w.replace(f"{name}.md", "<page>.md") for w in warnings.splitlines()
                    if w.startswith(f"{name}.md")]
            text = text.replace(str(src), "<srcdir>")
            text = re.sub(rf'(?<=")({name})(?=")', "<page>", text)
            out[name] = "\n".join([text, *mine]).rstrip("\n")
        return out
    finally:
        app.cleanup()


def all_cases() -> list[Any]:
    params = []
    for path in sorted(FIXTURES.glob("*.md")):
        _, cases = read_fixture(path)
        for index, case in enumerate(cases):
            params.append(pytest.param(path, index, id=f"{path.stem}:{case.line}"))
    return params


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, dict[str, str]]:
    """Fixture file → its pages' output (each file is built on first use)."""
    return {}


def test_fixture_files_exist() -> None:
    assert all_cases(), f"no fixture case under {FIXTURES}"


@pytest.mark.parametrize(("path", "index"), all_cases())
def test_dialect_fixture(path: Path, index: int, built: dict[Path, dict[str, str]],
                         tmp_path_factory: pytest.TempPathFactory,
                         request: pytest.FixtureRequest) -> None:
    if path not in built:
        built[path] = build_fixture(path, tmp_path_factory.mktemp("dialect"))
    conf, cases = read_fixture(path)
    case = cases[index]
    actual = built[path][page_name(index)]
    if request.config.getoption("--regen-fixtures"):
        if actual != case.expected:
            case.expected = actual
            write_fixture(path, conf, cases)
        return
    assert actual == case.expected, (
        f"{path.name}:{case.line}: {case.title}\n"
        "(if the change is intended: pytest tests/test_dialect_fixtures.py --regen-fixtures)")
