"""Bad input: each problem is one clear warning with file:line, and the rest of the book
(the rest of the page, the other pages) is built as usual."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from robust_helpers import Build, build, cell, write_book

GOOD = "# Good\n\n" + cell("print('good' + '-out')")

#: The two size scenarios prove that nothing breaks or gets lost on a huge page; their
#: speed is measured in bench/. They run at a fifth of the documented size by default
#: (2 MB, 2,000 cells: the same code paths, no extra coverage lost); D2L_STRESS_SCALE=1
#: runs the full 10 MB page and 10,000 cells.
STRESS_SCALE = float(os.environ.get("D2L_STRESS_SCALE", "0.2"))

#: page → (source, expected warning "page.md:line: WARNING: ... [type.subtype]" pattern,
#: text that must still be on the rendered page)
CASES: dict[str, tuple[str | bytes, str, str]] = {
    "unknown_fw": (
        "# Unknown\n\ntext\n\n" + cell("print(1)", "gamma") + "\nafter-unknown\n",
        r"unknown_fw\.md:5: WARNING: unknown framework 'gamma' .*\[d2l\.tab\]",
        "after-unknown"),
    "begin_no_end": (
        "# Begin\n\n:begin_tab:`alpha`\nalpha prose\n\n## Later\n\nafter-begin\n",
        r"begin_no_end\.md:3: WARNING: ':begin_tab:`alpha`' is not closed .*\[d2l\.tab\]",
        "after-begin"),
    "nested": (
        "# Nested\n\n:begin_tab:`alpha`\nouter\n:begin_tab:`beta`\ninner\n:end_tab:\n"
        ":end_tab:\n\nafter-nested\n",
        r"nested\.md:3: WARNING: ':begin_tab:`alpha`' is not closed by ':end_tab:' before "
        r"the ':begin_tab:' at line 5 \(tab blocks do not nest\) \[d2l\.tab\]",
        "after-nested"),
    "end_alone": (
        "# End\n\ntext\n\n:end_tab:\n\nafter-end\n",
        r"end_alone\.md:5: WARNING: ':end_tab:' without a matching ':begin_tab:' .*\[d2l\.tab\]",
        "after-end"),
    "fence": (
        "# Fence\n\nbefore-fence\n\n" + "```{.python .input}\nprint(1)\n\nafter_fence = 1\n",
        r"fence\.md:5: WARNING: code fence '```' opened here is never closed.*\[d2l\.syntax\]",
        "before-fence"),
    "save": (
        "# Save\n\n" + cell("x = 1\nfor i in range(3):\n    y = i  #@save") + "\nafter-save\n",
        r"save\.md:6: WARNING: #@save on a line that does not start a top-level definition.*"
        r"\[d2l\.library\]",
        "after-save"),
    "dup_one": ("# Dup one\n:label:`same_label`\n\nafter-dup-one\n", "", "after-dup-one"),
    "dup_two": (
        "# Dup two\n:label:`same_label`\n\nafter-dup-two\n",
        r"dup_(one|two)\.md:1: WARNING: duplicate label same_label",
        "after-dup-two"),
    "numref": (
        "# Numref\n\nSee :numref:`no_such_label`.\n\nafter-numref\n",
        r"numref\.md:3: WARNING: undefined label: 'no_such_label' \[ref\.numref\]",
        "after-numref"),
    "figure_width": (
        "# Figure width\n\n![a figure](https://example.com/a.png)\n:width:`abc`\n\n"
        "after-figure-width\n",
        r"figure_width\.md:4: WARNING: ':width:`abc`' is not a length .*\[d2l\.figure\]",
        "after-figure-width"),
    "latin1": (
        "# Latin-1\n\ncaf\xe9-line\n\nafter-latin1\n".encode("latin-1"),
        r"latin1\.md:3: WARNING: the page is not valid UTF-8 \(byte 0xe9 .*\[d2l\.encoding\]",
        "after-latin1"),
}


@pytest.fixture(scope="module")
def bad_book(tmp_path_factory: pytest.TempPathFactory) -> Build:
    src = tmp_path_factory.mktemp("bad") / "src"
    pages = {name: source for name, (source, _, _) in CASES.items()}
    pages["good"] = GOOD
    toc = [*pages, "missing_page"]
    write_book(src, pages, tabs=("alpha", "beta"), toc=toc, conf="d2l_lib_enable = True\n")
    return build(src)


def test_no_traceback_and_every_page_written(bad_book: Build) -> None:
    assert "Traceback" not in bad_book.status + "\n".join(bad_book.warnings)
    for page in [*CASES, "good", "index"]:
        assert (bad_book.outdir / f"{page}.html").is_file(), page
    assert "good-out" in bad_book.page_text("good")
    assert bad_book.report["failed"] == 0


@pytest.mark.parametrize("page", [p for p, case in CASES.items() if case[1]])
def test_one_warning_with_file_and_line(bad_book: Build, page: str) -> None:
    pattern = CASES[page][1]
    mine = [w for w in bad_book.warnings if re.match(pattern, w)]
    assert len(mine) == 1, (pattern, bad_book.warnings)
    # nothing else is reported about this page
    names = {page, "dup_one"} if page == "dup_two" else {page}
    others = [w for w in bad_book.warnings
              if any(w.startswith(f"{n}.md") for n in names) and w not in mine]
    assert others == []


@pytest.mark.parametrize("page", list(CASES))
def test_rest_of_page_intact(bad_book: Build, page: str) -> None:
    assert CASES[page][2] in bad_book.page_text(page)


def test_missing_toc_entry(bad_book: Build) -> None:
    found = [w for w in bad_book.warnings if "missing_page" in w]
    assert len(found) == 1 and re.match(r"index\.md:\d+: WARNING: .*nonexisting document", found[0])


def test_whole_warning_list(bad_book: Build) -> None:
    """Exactly the expected warnings: one per problem, all with a line."""
    assert len(bad_book.warnings) == len([c for c in CASES.values() if c[1]]) + 1
    assert all(re.match(r"[\w/]+\.md:\d+: ", w) for w in bad_book.warnings), bad_book.warnings


def test_binary_file(tmp_path: Path) -> None:
    """A binary file named .md (not in any toc): reported once by the extension; Sphinx
    adds only that it is in no toctree; the build goes on."""
    # (a newline, byte 10, comes before the first bad byte, 128: line 2)
    data = bytes(range(256)) * 40 + b"\n\x00\xff\xfe# not a title\n" + bytes(range(255, -1, -1))
    src = write_book(tmp_path / "src", {"good": GOOD}, tabs=("alpha",))
    (src / "binary.md").write_bytes(data)
    result = build(src)
    mine = [w for w in result.warnings if w.startswith("binary.md")]
    ours = [w for w in mine if "[d2l." in w]
    assert len(ours) == 1
    assert re.match(r"binary\.md:2: WARNING: the page is not valid UTF-8", ours[0])
    assert all("toc.not_included" in w or "isn't included in any toctree" in w
               for w in mine if w not in ours), mine
    assert len(result.warnings) == len(mine)
    assert "good-out" in result.page_text("good")
    assert (result.outdir / "binary.html").is_file()


@pytest.mark.slow
def test_ten_megabyte_page(tmp_path: Path) -> None:
    """10 MB (x STRESS_SCALE) of prose and a 5 MB literal block between two cells."""
    size = int(5 * 2**20 * STRESS_SCALE)
    words = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
             "incididunt ut labore et dolore magna aliqua ") * 8
    para = "\n".join(words[i:i + 80] for i in range(0, len(words), 80)) + "\n\n"
    prose = "".join((f"## Part {i}\n\n" if i % 500 == 0 else "") + para
                    for i in range(size // len(para)))
    code = "\n".join(f"line {i:08d} " + "x" * 60 for i in range(size // 75))
    text = ("# Big\n\n" + cell("print('big' + '-start')") + "\n" + prose + "```text\n" + code
            + "\n```\n\n" + cell("print('big' + '-end')") + "\nthe-end\n")
    assert len(text) > 10 * 10**6 * STRESS_SCALE
    src = write_book(tmp_path / "src", {"big": text, "good": GOOD})
    result = build(src)
    assert result.warnings == []
    assert result.report["failed"] == 0
    html = (result.outdir / "big.html").read_text(encoding="utf-8")
    assert "big-start" in html and "big-end" in html and "the-end" in html
    assert "good-out" in result.page_text("good")


@pytest.mark.slow
def test_ten_thousand_cells(tmp_path: Path) -> None:
    """10,000 (x STRESS_SCALE) cells in one page, all run in one kernel, each output in
    its place."""
    n = int(10_000 * STRESS_SCALE)
    step = max(1, n // 10)
    cells = [cell(f"print('out', {i} * 3)" if i % step == 0 else f"x = {i}") for i in range(n)]
    page = "# Many\n\n" + "\n".join(cells) + "\n" + cell("print('last', x)") + "\nthe-end\n"
    src = write_book(tmp_path / "src", {"many": page, "good": GOOD})
    result = build(src)
    assert result.warnings == []
    entry = result.entry("many", "alpha")
    assert entry["status"] == "ok"
    text = result.page_text("many")
    assert all(f"out {i * 3}" in text for i in range(0, n, step))
    assert f"last {n - 1}" in text and "the-end" in text
    again = build(src)
    assert again.report["executed"] == 0 and again.warnings == []


def test_figure_caption_with_inline_html(tmp_path: Path) -> None:
    """Inline HTML in an image's alt text (its caption) crashed the build with
    ``ValueError: token map not set``."""
    import base64

    page = "# Figure\n\n![A <b>bold</b> caption](pic.png)\n:label:`fig_pic`\n\n" \
           "See :numref:`fig_pic`.\n\nafter-figure\n"
    src = write_book(tmp_path / "src", {"figure": page}, conf="d2l_execute = 'off'\n")
    (src / "pic.png").write_bytes(base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5E"
        "rkJggg=="))
    result = build(src)
    assert result.warnings == []
    text = result.page_text("figure")
    assert "bold caption" in text and "Fig. 1" in text and "after-figure" in text
