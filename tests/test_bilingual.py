"""Bilingual books: pairing originals with translations, status counts, show-original."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from helpers import body
from sphinx_d2ltabs.bilingual import book_status, page_status, pair_blocks
from sphinx_d2ltabs.cli import main

SEEDS = Path(__file__).parent / "roots" / "test-seeds"


def seed(name: str) -> tuple[str, str]:
    path = next(SEEDS.glob(f"seed_{name}_*"))
    return path.name, path.read_text(encoding="utf-8")


# (page prefix, translated, untranslated, missing original): counted by hand from the seeds
EXPECTED = [
    # issue #16: the contributors note is no original, and the blocks after the closing
    # banner do not count (was 2, 2, 2)
    ("000", 1, 2, 0),   # heading translated; two placeholders
    ("001", 3, 0, 0),   # fully translated chapter intro
    ("002", 0, 0, 3),   # machine translation without originals: heading + 2 paragraphs
    # the reStructuredText page: `.. raw:: html` comments; issue #16: the Discussions
    # original after the last closing banner does not count (was 33)
    ("003", 32, 0, 0),
    ("004", 0, 0, 35),  # no originals at all
]


@pytest.mark.parametrize(("name", "translated", "untranslated", "missing"), EXPECTED)
def test_seed_counts(name: str, translated: int, untranslated: int, missing: int) -> None:
    path, text = seed(name)
    st = page_status(path, text)
    assert (st.translated, st.untranslated, st.missing_original) == (
        translated, untranslated, missing)


def test_seed_000_pairs() -> None:
    st = page_status(*seed("000"))
    assert [(p.original_line, p.status, [b.line for b in p.blocks]) for p in st.pairs] == [
        (3, "translated", [7]),          # "# Deep Learning Computation" -> the heading
        (10, "untranslated", [20]),      # -> *dịch đoạn phía trên*
        (23, "untranslated", [34, 36]),  # -> placeholder, then the toc block
    ]  # issue #16: the contributors note (line 51) is no original (was a 4th, translated)
    assert [b.line for b in st.orphans] == []  # after the closing banner: not counted


def test_placeholder_is_configurable() -> None:
    path, text = seed("000")
    st = page_status(path, text.replace("*dịch đoạn phía trên*", "TODO"), placeholder=r"^TODO$")
    assert (st.translated, st.untranslated) == (1, 2)  # issue #16 (was 2, 2)


def test_original_without_translation_is_untranslated() -> None:
    from sphinx_d2ltabs.bilingual import Block

    st = pair_blocks([Block("original", 1, "x"), Block("banner", 3, "=== end ===")])
    assert st.untranslated == 1


def test_status_cli(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = tmp_path / "book"
    shutil.copytree(SEEDS, src)
    assert main(["status", str(src)]) == 0
    out = capsys.readouterr().out
    assert "seed_000_91ca416a476e5127.md" in out and "33%" in out  # issue #16 (was 50%)
    assert main(["status", str(src), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    by_path = {d["path"]: d for d in data}
    assert by_path["seed_000_91ca416a476e5127.md"]["untranslated_lines"] == [10, 23]
    assert by_path["index.md"]["missing_original"] == 2


def test_book_status_matches_pages() -> None:
    pages = [seed(n) for n, *_ in EXPECTED]
    totals = [(s.translated, s.untranslated, s.missing_original) for s in book_status(pages)]
    assert totals == [tuple(e[1:]) for e in EXPECTED]


def test_show_original_and_status_directive(make_app: Any, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(SEEDS, src)
    (src / "status.md").write_text("# Status\n\n```{d2l-translation-status}\n```\n")
    index = src / "index.md"
    index.write_text(index.read_text().replace("seed_004_c4b9cbd258fa05c2\n",
                                               "seed_004_c4b9cbd258fa05c2\nstatus\n"))
    app = make_app("html", srcdir=src, confoverrides={"d2l_show_original": True})
    app.build()
    page = body(app, "seed_001_e810a1fd05e895f6.html")
    originals = page.select("details.d2l-original")
    assert len(originals) == 3
    # (rendered: the heading's original is a rubric, tests/test_originals.py)
    assert originals[0].get_text(" ", strip=True) == "Original Deep Learning Computation"
    # the original follows its translation: the heading's comes right after the title
    assert originals[0].find_previous("h1").get_text().startswith("2. Tính toán Học sâu")
    assert originals[1].find_previous("p").get_text().startswith("Ngoài các tập dữ liệu")
    table = body(app, "status.html").find("table")
    assert "seed_000_91ca416a476e5127.md" in table.get_text()
    data = json.loads(Path(app.outdir, "d2l_translation_status.json").read_text())
    # issue #16 (was 33)
    assert any(d["path"].startswith("seed_003") and d["translated"] == 32 for d in data)


def test_show_original_off_by_default(make_app: Any, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(SEEDS, src)
    app = make_app("html", srcdir=src)
    app.build()
    assert body(app, "seed_001_e810a1fd05e895f6.html").select("details.d2l-original") == []
