"""Cells that print garbage: 50 MB, bytes that are not UTF-8, ANSI and control-character
noise. The page is built with the output shown (truncated, decoded, cleaned) and the cells
after them run."""

from __future__ import annotations

import re

import pytest
from robust_helpers import Build, build, cell, write_book

AFTER = cell("print('after' + '-garbage')")

PAGES = {
    "huge": "# Huge\n\n" + cell(
        "import sys\nfor i in range(50):\n    sys.stdout.write(('%07d ' % i) * 131072)\n"
        "print('huge' + '-done')") + "\n" + AFTER,
    # bytes written to fd 1 reach ipykernel through a pipe read by a thread: the sleeps
    # give it time to send them with their own cell. Pass/fail does not depend on it: the
    # tests look at the whole page, and late bytes show with a later cell of it.
    "not_utf8": "# Not UTF-8\n\n" + "\n".join([
        cell("import os, time\nos.write(1, b'raw-fd \\xff\\xfe\\xc3\\x28 end\\n')\n"
             "time.sleep(0.3)"),
        cell("import subprocess\nsubprocess.run(['printf', 'sub \\\\377\\\\376 end\\\\n'])\n"
             "time.sleep(0.3)"),
        cell("import sys\nsys.stdout.write(b'escaped \\xff\\xfe end\\n'.decode('utf-8', "
             "'surrogateescape'))"),
        cell("from IPython.display import display\n"
             "display({'text/plain': 'disp \\udc80 end'}, raw=True)"),
        cell("b'\\xff\\xfe'"),
        AFTER]),
    "ansi": "# ANSI\n\n" + "\n".join([
        cell("import random\nrandom.seed(7)\n"
             "alphabet = [0, 7, 8, 13, 27, 27, 155, 91, 59, 109, 0x9b] + list(range(32, 127))\n"
             "print(''.join(chr(random.choice(alphabet)) for _ in range(20000)))"),
        cell("print('\\x1b[31mred\\x1b[0m \\x1b]0;title\\x07 \\x1b[999999999999m '\n"
             "      '\\x1b[38;5;300m x \\x1b[38;2m \\x1b[' + ';' * 5000 + 'm ansi-done')"),
        cell("import sys\nsys.stderr.write('\\x1b[1;41mboom\\x1b[0m\\r\\x00\\x1b[2K err-done\\n')"),
        AFTER]),
    "good": "# Good\n\n" + cell("print('good' + '-out')"),
}
#: characters that must never reach an HTML page
FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x80-\x9f\ud800-\udfff]")


@pytest.fixture(scope="module")
def garbage(tmp_path_factory: pytest.TempPathFactory) -> Build:
    src = write_book(tmp_path_factory.mktemp("garbage") / "src", PAGES)
    return build(src)


def test_all_pages_built_without_warning(garbage: Build) -> None:
    assert garbage.warnings == []
    assert garbage.report["failed"] == 0
    for page in PAGES:
        if page != "good":
            assert "after-garbage" in garbage.page_text(page), page
    assert "good-out" in garbage.page_text("good")


@pytest.mark.parametrize("page", list(PAGES))
def test_html_is_clean(garbage: Build, page: str) -> None:
    html = (garbage.outdir / f"{page}.html").read_text(encoding="utf-8")
    assert FORBIDDEN.search(html) is None


def test_fifty_megabytes_truncated(garbage: Build) -> None:
    html = (garbage.outdir / "huge.html").read_text(encoding="utf-8")
    assert len(html) < 200_000
    assert re.search(r"output truncated: \d{8} more characters", html)


def test_undecodable_bytes_replaced(garbage: Build) -> None:
    text = garbage.page_text("not_utf8")
    assert "raw-fd \ufffd" in text and "sub \ufffd" in text and "disp \ufffd end" in text
    assert "escaped \ufffd\ufffd end" in text
    assert "b'\\xff\\xfe'" in text


def test_ansi_garbage(garbage: Build) -> None:
    html = (garbage.outdir / "ansi.html").read_text(encoding="utf-8")
    assert "\x1b" not in html
    text = garbage.page_text("ansi")
    assert "red" in text and "ansi-done" in text and "err-done" in text


def test_cached_rebuild(garbage: Build) -> None:
    again = build(garbage.srcdir)
    assert again.report["executed"] == 0 and again.warnings == []
