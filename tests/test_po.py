"""The gettext bridge (issue #16): a comment-pair book → English pages + ``.po`` catalogs,
and back: the book built from the English pages and the catalogs (Sphinx's own
``locale_dirs``) shows the same translated text as the comment-pair book."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po

from helpers import ROOTS, body
from sphinx_d2ltabs.bilingual import DEFAULT_PLACEHOLDER, page_status
from sphinx_d2ltabs.cli import main
from sphinx_d2ltabs.po import Entry, english_page, match_messages
from sphinx_d2ltabs.po_build import export_po

SEEDS = ROOTS / "test-seeds"
S000 = "seed_000_91ca416a476e5127"
S001 = "seed_001_e810a1fd05e895f6"
S003 = "seed_003_c73f9b20be4bbae6"


def test_english_page() -> None:
    text = (SEEDS / f"{S000}.md").read_text(encoding="utf-8")
    page = english_page(text, page_status(f"{S000}.md", text), DEFAULT_PLACEHOLDER)
    lines = page.text.split("\n")
    # the original heading in place of its translation, the label after it kept
    i = lines.index("# Deep Learning Computation")
    assert lines[i + 1] == ":label:`chap_computation`"
    # each placeholder replaced by its original; banners, notes and comments gone
    assert "dịch đoạn phía trên" not in page.text and "<!--" not in page.text
    assert lines[page.ranges[1][1] - 1].startswith("Alongside giant datasets")
    assert lines[page.ranges[2][2] - 1].startswith("While this chapter does not")
    assert "```toc" in page.text and "* Đoàn Võ Duy Thanh" in page.text  # not originals


def test_original_without_a_block_stays_in_place() -> None:
    text = "<!--\nFirst.\n-->\n\n```{.python .input}\nx = 1\n```\n\n<!--\nSecond.\n-->\n"
    page = english_page(text, page_status("p.md", text), DEFAULT_PLACEHOLDER)
    assert page.text.split("\n") == ["First.", "", "```{.python .input}", "x = 1", "```", "",
                                     "Second.", ""]


@pytest.mark.parametrize(("msgids", "pieces", "expected"), [
    (["a", "b"], ["A", "B"], [Entry("a", "A"), Entry("b", "B")]),
    (["a"], ["A1", "A2"], [Entry("a", "A1\nA2")]),  # a paragraph translated as two
    (["a", "b", "c"], ["A", "B"], [Entry("a", "A", True), Entry("b", "B", True),
                                   Entry("c", "", True)]),
    (["a"], [], [Entry("a")]),  # a placeholder: empty
])
def test_match_messages(msgids: list[str], pieces: list[str], expected: list[Entry]) -> None:
    assert match_messages(msgids, pieces) == expected


def _texts(app: Any, page: str) -> list[str]:
    main_ = body(app, f"{page}.html")
    skip = ("d2l-original", "d2l-untranslated", "d2l-notebook-links")
    return [e.get_text(" ", strip=True).replace("¶", "").strip()
            for e in main_.select("h1, h2, h3, p, li")
            if not any(e.find_parent(class_=c) for c in skip)]


def test_round_trip(make_app: Any, tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "en"
    shutil.copytree(SEEDS, src)
    result = export_po(str(src), str(out), "vi")
    assert (result.pages, result.kept, result.translated, result.fuzzy) == (
        2, [f"{S003}.rst"], 4, 0)
    assert result.untranslated == 2  # seed 000's two placeholders
    # the English page, and its catalog: Sphinx's segmentation, the translation as msgstr
    english = (out / f"{S001}.md").read_text(encoding="utf-8").split("\n")
    assert english[1:3] == ["# Deep Learning Computation", ":label:`chap_computation`"]
    po = out / "locales" / "vi" / "LC_MESSAGES" / f"{S001}.po"
    with po.open("rb") as fh:
        catalog = read_po(fh)
    assert catalog.get("Deep Learning Computation").string == "Tính toán Học sâu"
    message = next(m for m in catalog if str(m.id).startswith("Alongside giant datasets"))
    assert message.string.startswith("Ngoài các tập dữ liệu khổng lồ")
    where, line = message.locations[0]
    assert Path(os.path.normpath(po.parent / where)) == out / f"{S001}.md"
    assert english[line - 1].startswith("Alongside giant datasets")
    with (po.parent / f"{S000}.po").open("rb") as fh:
        untranslated = [m for m in read_po(fh) if str(m.id).startswith("So far, we have")]
    assert [m.string for m in untranslated] == [""]
    # the HTML of the English pages + the catalogs shows the same translated text
    original = make_app("html", srcdir=src)
    original.build()
    translated = make_app("html", srcdir=out, confoverrides={"language": "vi"})
    translated.build()
    for page in (S001, S003):
        assert _texts(translated, page) == _texts(original, page)
    ours, theirs = _texts(translated, S000), _texts(original, S000)
    assert ours[0] == theirs[0] == "1. Tính toán Học sâu"
    # not translated: the English, in both (the comment-pair book shows the original in
    # place of each placeholder, d2l_untranslated = "original")
    english = [p.get_text(" ", strip=True)[:40] for p in body(original, f"{S000}.html")
               .select("div.d2l-untranslated-text p")]
    assert [t[:40] for t in ours[1:3]] == english
    assert english[0].startswith("Alongside giant datasets")
    assert ours[3:] == theirs[1:]  # the contributors, as they were


def test_po_command(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(SEEDS, src)
    assert main(["po", str(src), str(tmp_path / "out")]) == 2
    assert "sets no language: give --language" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert main(["po", str(src), str(tmp_path / "full"), "--language", "vi"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["po", str(src), str(src / "inside"), "--language", "vi"]) == 2
    assert "outside the book" in capsys.readouterr().err
    assert main(["po", str(tmp_path / "nowhere"), str(tmp_path / "o"), "--language", "vi"]) == 2
    assert "no such folder" in capsys.readouterr().err


PAGE = """\
<!--
# Tables and Figures
-->

# Bảng và Hình
:label:`sec_tables`

<!--
A paragraph with *emphasis*, `code` and $x^2$,
see :numref:`fig_graph`.
-->

Một đoạn văn với *nhấn mạnh*, `code` và $x^2$,
xem :numref:`fig_graph`.

Và một đoạn thứ hai.

<!--
* first item
* second **item**
-->

* mục thứ nhất
* mục **thứ hai**

<!--
![A graph](graph.svg)
-->

![Một đồ thị](graph.svg)
:label:`fig_graph`

<!--
:Latency numbers.
-->

:Các độ trễ.

<!--
| Action | Time |
|---|---|
| Read | 1 ns |
-->

| Thao tác | Thời gian |
|---|---|
| Đọc | 1 ns |

$$y = x^2$$

```{.python .input}
x = 1
```

<!--
Untranslated paragraph.
-->

*dịch đoạn phía trên*
"""


def test_round_trip_of_lists_figures_tables(make_app: Any, tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "en"
    src.mkdir()
    (src / "conf.py").write_text('extensions = ["sphinx_d2ltabs"]\nd2l_execute = "off"\n'
                                 'gettext_compact = False\n')
    (src / "index.md").write_text("# Book\n\n```toc\n:numbered:\n\npage\n```\n")
    (src / "page.md").write_text(PAGE, encoding="utf-8")
    (src / "graph.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    result = export_po(str(src), str(out), "vi")
    # the heading, the two paragraphs as one message, two items, the figure's alt and
    # caption (one msgid), the table's caption and four cells; the placeholder: empty
    assert (result.translated, result.fuzzy, result.untranslated) == (10, 0, 1)
    original = make_app("html", srcdir=src)
    original.build()
    translated = make_app("html", srcdir=out, confoverrides={"language": "vi"})
    translated.build()
    ours, theirs = _texts(translated, "page"), _texts(original, "page")
    assert ours[0] == theirs[0] == "1. Bảng và Hình"
    # the two paragraphs of the translation are one paragraph now
    assert ours[1].startswith("Một đoạn văn với nhấn mạnh , code và")
    assert ours[1].endswith("Và một đoạn thứ hai.")
    page = body(translated, "page.html")
    assert [li.get_text(" ", strip=True) for li in page.select("ul.simple li")] == [
        "mục thứ nhất", "mục thứ hai"]
    assert page.find("figcaption").get_text(" ", strip=True).startswith("Fig. 1.1 Một đồ thị")
    assert page.find("img")["alt"] == "Một đồ thị"
    assert page.find("caption").get_text(" ", strip=True).startswith("Table 1.1 Các độ trễ.")
    assert [c.get_text(strip=True) for c in page.select("table td, table th")] == [
        "Thao tác", "Thời gian", "Đọc", "1 ns"]
    assert "Untranslated paragraph." in page.get_text()  # its English, not the placeholder


def test_stacked_caption_and_table_originals() -> None:
    """d2l-vn's layout: the caption's and the table's originals, then both translations."""
    from sphinx_d2ltabs.mdit_d2l import dialect_md_parser
    from sphinx_d2ltabs.po import page_segments, pair_pieces

    text = ("<!--\n:Latency numbers.\n-->\n<!--\n| Action | Time |\n|---|---|\n"
            "| Read | 1 ns |\n-->\n\n:Các độ trễ.\n\n| Thao tác | Thời gian |\n|---|---|\n"
            "| Đọc | 1 ns |\n")
    st = page_status("p.md", text)
    assert [p.status for p in st.pairs] == ["untranslated", "translated"]  # as counted
    pieces = pair_pieces(st.pairs, page_segments(text, dialect_md_parser()))
    assert pieces == [["Các độ trễ."], ["Thao tác", "Thời gian", "Đọc", "1 ns"]]
