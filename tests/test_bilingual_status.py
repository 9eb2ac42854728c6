"""Translation status a team can trust (issue #16): which comments are originals, which
pairs count, when a pair is translated; the report (book, chapters, pages, links), the
JSON of HTML builds and the ``status`` command.

The expected counts were made by hand, reading each page: the seeds (tests/roots/
test-seeds) and three d2l-vn pages (tests/roots/test-bilingual, from d2l-ai/d2l-vi at
3f2d8e69).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from helpers import ROOTS, body
from sphinx_d2ltabs.bilingual import (
    Block,
    classify_comment,
    in_language,
    page_status,
    pair_blocks,
)
from sphinx_d2ltabs.bilingual_report import book_report, report_table, source_url_template
from sphinx_d2ltabs.cli import main

SEEDS = ROOTS / "test-seeds"
VN = ROOTS / "test-bilingual"

# (page, translated, untranslated, missing original, untranslated lines), counted by hand
HAND_COUNTED = [
    # seeds: 000: between its banners, three originals (the heading and two paragraphs);
    # the heading is translated, the two paragraphs have placeholders; the contributors
    # note after the closing banner is no original
    (SEEDS / "seed_000_91ca416a476e5127.md", 1, 2, 0, [10, 23]),
    # 001: the same chapter translated, no banners; the contributors section follows the
    # last translation (no original of its own, no prose block outside a pair)
    (SEEDS / "seed_001_e810a1fd05e895f6.md", 3, 0, 0, []),
    # 002: machine translated, no original: heading and two paragraphs without one
    (SEEDS / "seed_002_e5eb69595793b527.md", 0, 0, 3, []),
    # 003 (reStructuredText): 33 originals, all translated (a figure translates the image
    # one), but the Discussions heading's comes after the last closing banner: 32
    (SEEDS / "seed_003_c73f9b20be4bbae6.rst", 32, 0, 0, []),
    # 004: no original; 35 prose blocks (the :begin_tab: blocks are not prose)
    (SEEDS / "seed_004_c4b9cbd258fa05c2.md", 0, 0, 35, []),
    # d2l-vn: two banner sections, seven originals translated; the contributors note
    # after the second closing banner is no original
    (VN / "chapter_preliminaries" / "index_vn.md", 7, 0, 0, []),
    # no banners; 14 originals, every one followed by a placeholder (five of them heading
    # placeholders, "# *dịch tiêu đề phía trên*"); the contributors note and the
    # "<!-- Phần 1 -->" markers are no originals
    (VN / "chapter_computational-performance" / "key-value_vn.md", 0, 14, 0,
     [1, 9, 15, 22, 52, 59, 74, 93, 117, 124, 139, 146, 153, 170]),
    # three sections, two banners on adjacent lines (one HTML block) at the top; 16
    # originals translated; Discussions and contributors after the last closing banner
    (VN / "chapter_deep-learning-computation" / "read-write_vn.md", 16, 0, 0, []),
]


@pytest.mark.parametrize(("path", "translated", "untranslated", "missing", "lines"),
                         HAND_COUNTED, ids=lambda v: v.name if isinstance(v, Path) else None)
def test_hand_counted(path: Path, translated: int, untranslated: int, missing: int,
                      lines: list[int]) -> None:
    st = page_status(path.name, path.read_text(encoding="utf-8"))
    assert (st.translated, st.untranslated, st.missing_original) == (
        translated, untranslated, missing)
    assert st.to_json()["untranslated_lines"] == lines


def test_pairs_of_a_d2l_vn_page() -> None:
    path = VN / "chapter_preliminaries" / "index_vn.md"
    st = page_status(path.name, path.read_text(encoding="utf-8"))
    assert [(p.original_line, [b.line for b in p.translation]) for p in st.pairs] == [
        (3, [7]), (10, [16]), (20, [26]), (30, [37]), (46, [51]), (54, [59]), (62, [69])]
    assert st.pairs[0].original.strip() == "#  Preliminaries"
    # the banners and the contributors note
    assert [(b.kind, b.line) for b in st.non_originals] == [
        ("banner", 1), ("banner", 42), ("banner", 44), ("banner", 87), ("note", 91)]


# --------------------------------------------------------------------------- comments


@pytest.mark.parametrize(("text", "kind"), [
    ("", "banner"),
    (" ===================== Bắt đầu dịch Phần 1 ==================== ", "banner"),
    ("=== REVISE PHẦN 1 - KẾT THÚC ===", "banner"),
    # d2l-vn's contributors note, its section markers, translators' remarks
    ("Tác giả của mỗi Pull Request điền tên mình và tên những người review mà bạn thấy\n"
     "hữu ích vào từng phần tương ứng. Mỗi dòng một tên, bắt đầu bằng dấu `*`.", "note"),
    (" Phần 1 ", "note"),
    ("dịch where", "note"),
    ("https://itviec.com/blog/wp-content/uploads/OOP_2013.pdf", "note"),
    ("TODO", "note"),
    ("需要再校对", "note"),
    ("# Deep Learning Computation", "original"),
    # English with a word or a sentence of Vietnamese stays an original
    ("In sensitive applications like predictive policing, resumé screening, and risk\n"
     "models used for lending, we must be alert to the consequences of garbage data.",
     "original"),
    ("When performing $1\\times 1$ convolution, the above function is equivalent to the "
     "previously implemented cross-correlation function `corr2d_multi_in_out`.\n"
     "Hãy kiểm tra điều này với dữ liệu tham chiếu.", "original"),
    ("![Computational Graph](../img/forward.svg)", "original"),
])
def test_classify_comment(text: str, kind: str) -> None:
    assert classify_comment(text) == kind


def test_language_narrows_the_rule() -> None:
    assert in_language("Phần 1") and in_language("Phần 1", "vi")
    assert not in_language("Phần 1", "zh_CN")  # only CJK counts for Chinese
    assert in_language("需要再校对", "zh-cn") and not in_language("需要再校对", "vi")
    assert classify_comment("Phần 1", "ja") == "original"


def _page(text: str) -> Any:
    return page_status("p.md", text)


def test_only_pairs_between_the_banners_count() -> None:
    st = _page("<!--\nBefore.\n-->\n\nTrước.\n\n<!-- === Bắt đầu dịch === -->\n\n"
               "<!--\nInside.\n-->\n\nBên trong.\n\n<!-- === Kết thúc dịch === -->\n\n"
               "<!--\nAfter.\n-->\n\nSau.\n\nKhông có bản gốc.\n")
    assert (st.translated, st.untranslated, st.missing_original) == (1, 0, 0)
    assert [(p.original_line, p.counted) for p in st.pairs] == [
        (1, False), (9, True), (17, False)]


def test_a_page_with_an_unclosed_section_counts_to_its_end() -> None:
    st = _page("<!--\nA.\n-->\n\nMột.\n\n<!-- === Bắt đầu dịch === -->\n\n"
               "<!--\nB.\n-->\n\n*dịch đoạn phía trên*\n")
    assert (st.translated, st.untranslated) == (0, 1)


@pytest.mark.parametrize(("after", "status"), [
    ("Bản dịch.", "translated"),
    ("*dịch đoạn phía trên*", "untranslated"),
    ("## *dịch tiêu đề phía trên*", "untranslated"),
    ("![*dịch chú thích ảnh phía trên*](a.png)", "untranslated"),
    ("![Chú thích](a.png)", "translated"),
    ("$$x = 1$$", "translated"),                       # a translated equation
    ("```{.python .input}\nx = 1\n```", "untranslated"),  # code: no translation
    ("<!--\nThe next original.\n-->\n\nBản dịch.", "untranslated"),
    ("<!-- === Kết thúc dịch === -->\n\nBản dịch.", "untranslated"),
    ("<!-- mình tự sửa -->\n\nBản dịch.", "translated"),  # a note is skipped
    ("", "untranslated"),
])
def test_translated_only_when_the_next_block_is_a_translation(after: str, status: str) -> None:
    st = _page(f"<!--\nThe original.\n-->\n\n{after}\n")
    assert st.pairs[0].status == status


@pytest.mark.parametrize(("original", "after", "status"), [
    ("## Summary", "## Tóm tắt", "translated"),
    ("## Summary", "Tóm tắt.", "untranslated"),             # a heading's is a heading
    ("Some text.", "## Những người thực hiện", "untranslated"),  # and only a heading's
    ("![](../img/qr.svg)", "## Những người thực hiện", "untranslated"),  # d2l-vn's QR codes
    ("![Graph](../img/f.svg)", "![Đồ thị](../img/f.svg)", "translated"),
    ("![Graph](../img/f.svg)", "Đồ thị.", "untranslated"),
])
def test_the_translation_has_the_original_s_shape(original: str, after: str,
                                                   status: str) -> None:
    assert _page(f"<!--\n{original}\n-->\n\n{after}\n").pairs[0].status == status


def test_a_split_paragraph_is_one_translation() -> None:
    st = _page("<!--\nOne paragraph.\n-->\n\nĐoạn một.\n\nĐoạn hai.\n\n## Tiêu đề\n")
    assert [b.line for b in st.pairs[0].translation] == [5, 7]


def test_two_comments_in_one_html_block() -> None:
    st = _page("<!-- === Bắt đầu dịch Phần 1 === -->\n<!-- === REVISE - BẮT ĐẦU === -->\n\n"
               "<!--\nX.\n-->\n\nY.\n")
    assert [(b.kind, b.line) for b in st.non_originals] == [("banner", 1), ("banner", 2)]
    assert (st.translated, st.pairs[0].counted) == (1, True)


def test_pairing_blocks_directly() -> None:
    st = pair_blocks([Block("original", 1, "x", 3), Block("label", 4, ".. _x:"),
                      Block("other", 6, ".. figure:: x.png")])
    assert st.translated == 1  # (an rst figure translates an image original)


# --------------------------------------------------------------------------- the report


def _vn_report() -> Any:
    pages = sorted(p for p in VN.rglob("*_vn.md"))
    docs = [str(p.relative_to(VN).with_suffix("")) for p in pages]
    statuses = [page_status(str(p.relative_to(VN)), p.read_text(encoding="utf-8"))
                for p in pages]
    return book_report(zip(docs, statuses, strict=True), {d: d.upper() for d in docs})


def test_report_totals_per_chapter_and_book() -> None:
    report = _vn_report()
    assert [(c.key, c.totals.translated, c.totals.untranslated, c.docname)
            for c in report.chapters] == [
        ("chapter_computational-performance", 0, 14, None),
        ("chapter_deep-learning-computation", 16, 0, None),
        ("chapter_preliminaries", 7, 0, "chapter_preliminaries/index_vn")]
    t = report.totals
    assert (t.translated, t.untranslated, t.missing_original, t.pages, t.done) == (
        23, 14, 0, 3, "62%")
    text = report_table(report)
    assert text.splitlines()[0].startswith("book: 23 translated, 14 untranslated (62% done)")
    assert "chapter_computational-performance      1           0            14" in text


@pytest.mark.parametrize(("context", "options", "url"), [
    ({"github_user": "u", "github_repo": "r", "github_version": "v1", "doc_path": "docs/"},
     {}, "https://github.com/u/r/blob/v1/docs/a/b.md#L7"),
    ({"gitlab_user": "u", "gitlab_repo": "r", "gitlab_version": "main"}, {},
     "https://gitlab.com/u/r/-/blob/main/a/b.md#L7"),
    ({}, {"repository_url": "https://github.com/o/book/", "repository_branch": "dev",
          "path_to_docs": "src"}, "https://github.com/o/book/blob/dev/src/a/b.md#L7"),
    ({}, {}, None),
])
def test_source_links(context: dict[str, str], options: dict[str, str],
                      url: str | None) -> None:
    template = source_url_template(context, options)
    got = None if template is None else template.replace("{path}", "a/b.md").replace(
        "{line}", "7")
    assert got == url


# --------------------------------------------------------------------------- the command


def test_status_reads_conf_py(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = tmp_path / "book"
    shutil.copytree(VN, src)
    assert main(["status", str(src), "--json"]) == 0
    data = {d["path"]: d for d in json.loads(capsys.readouterr().out)}
    assert "drafts/draft.md" not in data  # conf.py's exclude_patterns
    kv = data["chapter_computational-performance/key-value_vn.md"]
    assert (kv["chapter"], kv["title"], kv["untranslated"]) == (
        "chapter_computational-performance", "*dịch tiêu đề phía trên*", 14)
    assert kv["untranslated_urls"][0] == ("https://github.com/d2l-ai/d2l-vi/blob/3f2d8e69/"
                                          "chapter_computational-performance/key-value_vn.md#L1")
    conf = src / "conf.py"
    conf.write_text(conf.read_text() + "include_patterns = ['chapter_pre*/**', 'drafts/**']\n"
                    "exclude_patterns = []\n")
    assert main(["status", str(src)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("book: 7 translated, 1 untranslated (88% done)")
    assert "drafts/draft.md" in out and "key-value" not in out


def test_status_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["status", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no such folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not a page\n")
    assert main(["status", str(tmp_path / "empty")]) == 1
    assert "no pages (.md or .rst)" in capsys.readouterr().err


# --------------------------------------------------------------------------- builds


def test_directive_and_json(make_app: Any, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(VN, src)
    app = make_app("html", srcdir=src)
    app.build()
    page = body(app, "status.html")
    assert page.find("p").get_text().startswith(
        "The book: 23 of 37 originals translated (62%), 14 untranslated")
    chapters, pages = page.select("table.d2l-translation-status")
    assert "d2l-translation-chapters" in chapters["class"]
    link = chapters.find("a", href="chapter_preliminaries/index_vn.html")
    assert link.get_text() == "Sơ bộ"
    row = pages.find("code", string="chapter_computational-performance/key-value_vn.md")
    row = row.find_parent("tr")
    assert row.find("a", href="chapter_computational-performance/key-value_vn.html")
    lines = row.select("a.reference.external")
    assert [a.get_text() for a in lines][:3] == ["1", "9", "15"]
    assert lines[1]["href"].endswith("/chapter_computational-performance/key-value_vn.md#L9")
    data = json.loads(Path(app.outdir, "d2l_translation_status.json").read_text())
    by_path = {d["path"]: d for d in data}
    assert by_path["chapter_deep-learning-computation/read-write_vn.md"]["title"] == \
        "Đọc/Ghi tệp"
    assert sum(d["translated"] for d in data) == 23


def test_json_without_the_directive_and_only_in_html(make_app: Any, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(VN, src)
    (src / "status.md").write_text("# Status\n\nNo report here.\n")
    app = make_app("html", srcdir=src)
    app.build()
    data = json.loads(Path(app.outdir, "d2l_translation_status.json").read_text())
    assert {d["untranslated"] for d in data} == {0, 14}
    text = make_app("text", srcdir=src)
    text.build()
    assert not Path(text.outdir, "d2l_translation_status.json").exists()
    assert Path(text.outdir, "status.txt").exists()


def test_no_json_for_a_book_without_originals(make_app: Any, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text('extensions = ["sphinx_d2ltabs"]\nd2l_execute = "off"\n')
    (src / "index.md").write_text("# Book\n\nJust text.\n\n<!-- a comment -->\n")
    app = make_app("html", srcdir=src)
    app.build()
    assert not Path(app.outdir, "d2l_translation_status.json").exists()


def test_an_unchanged_book_is_not_read_again_for_its_status(
        make_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The status is decided again only when a page was read again (or a setting it
    depends on changed): a rebuild with nothing changed reads no page for it, and keeps
    the file; a deleted status file, or an edited page, is written again."""
    from sphinx_d2ltabs import bilingual_build

    src = tmp_path / "src"
    shutil.copytree(VN, src)
    # pages read on every build: the directive's (it shows every page's status) and one
    # whose toc names pages the copy does not have (Sphinx reads those every time)
    (src / "status.md").write_text("# Status\n\nNo report here.\n")
    chapter = src / "chapter_preliminaries" / "index_vn.md"
    chapter.write_text(re.sub(r"```toc\n.*?```\n", "", chapter.read_text(encoding="utf-8"),
                              flags=re.DOTALL), encoding="utf-8")
    status = Path(make_app("html", srcdir=src).outdir, "d2l_translation_status.json")
    reads: list[int] = []
    real = bilingual_build._sources

    def counted(env: Any) -> Any:
        reads.append(1)
        return real(env)

    monkeypatch.setattr(bilingual_build, "_sources", counted)
    make_app("html", srcdir=src).build()
    first, built = status.read_text(), len(reads)
    assert built >= 1
    make_app("html", srcdir=src).build()  # nothing changed
    assert len(reads) == built and status.read_text() == first
    status.unlink()
    make_app("html", srcdir=src).build()  # the file is gone: written again
    assert len(reads) == built + 1 and status.read_text() == first
    page = next(src.rglob("*_vn.md"))
    page.write_text(page.read_text(encoding="utf-8") + "\nMột đoạn mới.\n", encoding="utf-8")
    make_app("html", srcdir=src).build()  # a page changed: decided again
    assert len(reads) >= built + 2
