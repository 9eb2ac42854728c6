"""Bilingual books: originals rendered (toggles, side by side), untranslated text shown,
the extension's strings in the book's language (tests/roots/test-originals, the seeds)."""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sphinx
from bs4 import BeautifulSoup

from helpers import ROOTS
from sphinx_d2ltabs import i18n
from sphinx_d2ltabs.bilingual import page_status

SEED_RST = "seed_003_c73f9b20be4bbae6"
SEED_HALF = "seed_000_91ca416a476e5127"
PLACEHOLDER = "dịch đoạn phía trên"
#: d2l-vn's placeholders (tests/roots/test-originals/conf.py; the default is generic)
VN_PLACEHOLDERS = r"^\*dịch (đoạn|tiêu đề|chú thích ảnh) phía trên\*$"


@dataclass
class Built:
    outdir: Path
    warnings: list[str]

    def page(self, name: str) -> Any:
        soup = BeautifulSoup((self.outdir / name).read_text(encoding="utf-8"), "html.parser")
        return soup.find("div", {"role": "main"}) or soup.body

    def text(self, name: str) -> str:
        return (self.outdir / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Built]:
    """``build(root, builder="html", **confoverrides)``, each combination once."""
    from sphinx.testing.util import SphinxTestApp

    done: dict[str, Built] = {}

    def run(root: str, builder: str = "html", **conf: Any) -> Built:
        key = repr((root, builder, sorted(conf.items())))
        if key not in done:
            src = tmp_path_factory.mktemp("originals") / "src"
            shutil.copytree(ROOTS / f"test-{root}", src)
            warning = io.StringIO()
            app = SphinxTestApp(builder, srcdir=src, confoverrides=conf,
                                status=io.StringIO(), warning=warning)
            try:
                app.build()
            finally:
                app.cleanup()
            text = re.sub(r"\x1b\[[0-9;]*m", "", warning.getvalue())
            done[key] = Built(Path(app.outdir), [line for line in text.splitlines()
                                                 if "WARNING" in line or "ERROR" in line])
        return done[key]

    return run


def toggles(page: Any) -> list[Any]:
    return page.select("details.d2l-original")


# --------------------------------------------------------------------------- markdown pages


def test_markdown_originals_are_rendered(build: Callable[..., Built]) -> None:
    built = build("originals")
    assert built.warnings == []
    page = built.page("softmax.html")
    found = toggles(page)
    # heading, paragraph, figure, table, equation, heading, paragraph (and one placeholder)
    assert len(found) == 7
    heading, para, figure, table, equation = found[:5]
    # the heading's original follows the section title, as a rubric (no section, no id)
    assert heading.find_previous_sibling("h1").get_text().startswith("1. Hồi quy Softmax")
    assert heading.select_one("p.rubric.d2l-original-heading").get_text() == "Softmax Regression"
    # emphasis, math, :numref: and :cite: rendered through the page's dialect
    assert para.find_previous_sibling("p").get_text().startswith("Trong Section 1")
    assert para.find("em").get_text() == "classify"
    assert para.select_one("span.math").get_text() == r"\(\mathbf{o} = \mathbf{W}\mathbf{x}\)"
    assert [a.get_text() for a in para.select("a.reference.internal")][:2] == [
        "Section 1", "Fig. 1.1"]
    assert "Goodfellow et al., 2016" in para.select_one("span.bibtex-citation").get_text()
    # figure, table and equation: shown, but without a number of their own
    assert figure.find("img")["src"] == "_images/net.png"
    assert figure.find("img")["alt"] == "A softmax network"
    assert figure.select(".caption-number") == [] and "A softmax network" in figure.get_text()
    assert [th.get_text() for th in table.select("th")] == ["Model", "Accuracy"]
    assert table.select_one("p.d2l-original-caption").get_text() == "Results"
    assert table.select(".caption-number") == []
    assert equation.select_one("div.math").get_text().strip() == (
        r"\[\hat{\mathbf{y}} = \mathrm{softmax}(\mathbf{o}).\]")
    assert equation.select(".eqno") == []
    # the translation keeps its numbers, labels and ids (no duplicate id on the page)
    assert [n.get_text() for n in page.select(".caption-number")] == [
        "Fig. 1.1 ", "Table 1.1 ", "Fig. 1.2 "]
    assert page.select_one("#equation-eq-softmax .eqno").get_text().startswith("(1.1)")
    ids = [n["id"] for n in page.find_all(id=True)]
    assert len(ids) == len(set(ids))


def test_placeholder_is_replaced_by_its_original(build: Callable[..., Built]) -> None:
    page = build("originals").page("softmax.html")
    [box] = page.select("div.d2l-untranslated")
    assert box.select_one("p.d2l-untranslated-note").get_text() == (
        "Not translated yet: the original text is shown.")
    text = box.select_one("div.d2l-untranslated-text")
    assert text["lang"] == "en"
    assert text.find("strong").get_text() == "differentiable"
    assert text.find("a")["href"] == "#equation-eq-softmax"  # :eqref: resolved
    assert PLACEHOLDER not in page.get_text()
    # it takes the placeholder's place: after the equation, before the summary section
    assert box.find_previous_sibling("div", class_="math")["id"] == "equation-eq-softmax"
    assert box.find_next_sibling("section")["id"] == "tom-tat"


def test_page_and_report_share_the_placeholder_rule(build: Callable[..., Built]) -> None:
    """d2l-vn's placeholders count as untranslated in the status report whatever
    d2l_translation_placeholder says; the page replaces them by the same rule."""
    from sphinx_d2ltabs.config import GENERIC_PLACEHOLDER

    page = build("originals", d2l_translation_placeholder=GENERIC_PLACEHOLDER).page(
        "softmax.html")
    assert page.select("div.d2l-untranslated") and PLACEHOLDER not in page.get_text()


def test_placeholder_title_and_caption_take_the_original(build: Callable[..., Built]) -> None:
    built = build("originals")
    page = built.page("softmax.html")
    title = page.select_one("h2.d2l-untranslated-title")
    assert title.get_text().startswith("1.2. Exercises")
    assert title.find_next_sibling("details") is None  # (shown in place: no toggle)
    figure = page.select_one("figure.d2l-untranslated-caption")
    assert figure["id"] == "fig-untranslated"  # the translation's label and number stay
    assert figure.select_one(".caption-number").get_text() == "Fig. 1.2 "
    assert figure.select_one(".caption-text").get_text() == "An untranslated network"
    assert figure.find("img")["alt"] == "An untranslated network"
    rst = built.page("linreg.html")
    assert rst.select_one("h2.d2l-untranslated-title").get_text().startswith("2.1. Summary")
    caption = rst.select_one("figure.d2l-untranslated-caption figcaption")
    assert caption.get_text(" ", strip=True) == "Fig. 2.2 A trained network ¶"
    for found in (page, rst):
        assert "phía trên" not in found.get_text()


# --------------------------------------------------------------------------- rst pages


def test_rst_originals_are_rendered(build: Callable[..., Built]) -> None:
    built = build("originals")
    page = built.page("linreg.html")
    heading, para, figure = toggles(page)
    assert heading.find_previous_sibling("h1").get_text().startswith("2. Hồi quy tuyến tính")
    assert heading.get_text(" ", strip=True) == "Original Linear Regression"
    assert para.find_previous_sibling("p").get_text().startswith("Ta cực tiểu hóa")
    assert para.find("em").get_text() == "minimize"
    assert para.select_one("span.math").get_text() == r"\(l(\mathbf{w})\)"
    assert para.find("a")["href"] == "softmax.html#sec-softmax"
    assert figure.find_previous_sibling("figure").select_one(".caption-number").get_text() == (
        "Fig. 2.1 ")
    assert figure.find("img")["alt"] == "A linear network"
    [box] = page.select("div.d2l-untranslated")
    assert box.find("strong").get_text() == "easy"
    assert box.find("a")["href"] == "softmax.html#fig-net"
    assert PLACEHOLDER not in page.get_text()
    # the originals' raw comments are gone; the banners stay as they were
    source = built.text("linreg.html")
    assert "*minimize*" not in source and "**easy**" not in source
    assert "<!-- ===================== Bắt đầu dịch ===================== -->" in source


def test_seeds_rst_page_and_half_translated_page(make_app: Any, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(ROOTS / "test-seeds", src)
    app = make_app("html", srcdir=src, confoverrides={
        "d2l_show_original": True, "d2l_translation_placeholder": VN_PLACEHOLDERS})
    app.build()
    main = BeautifulSoup(Path(app.outdir, f"{SEED_RST}.html").read_text(encoding="utf-8"),
                         "html.parser").find("div", {"role": "main"})
    rst_text = (src / f"{SEED_RST}.rst").read_text(encoding="utf-8")
    status = page_status(f"{SEED_RST}.rst", rst_text)
    # every original is shown (the last one, after the closing banner, is not counted)
    assert len(toggles(main)) == 33 == len(status.pairs)
    decay = next(t for t in toggles(main) if "weight decay" in t.get_text())
    assert [m.get_text() for m in decay.select("span.math")] == [r"\(\ell_2\)"]
    assert [e.get_text() for e in decay.select("em")] == ["backpropagation", "backprop"]
    half = BeautifulSoup(Path(app.outdir, f"{SEED_HALF}.html").read_text(encoding="utf-8"),
                         "html.parser").find("div", {"role": "main"})
    boxes = half.select("div.d2l-untranslated")
    assert [b.select_one(".d2l-untranslated-text p").get_text()[:30] for b in boxes] == [
        "Alongside giant datasets and p", "So far, we have introduced som"]
    assert PLACEHOLDER not in half.get_text()
    # the contributors note (Vietnamese) is no original: only the heading's toggle
    assert [t.get_text(" ", strip=True) for t in toggles(half)] == [
        "Original Deep Learning Computation"]


# --------------------------------------------------------------------------- options


def test_side_by_side_in_vietnamese(build: Callable[..., Built]) -> None:
    built = build("originals", d2l_original_layout="side-by-side", language="vi")
    # (docutils has no Vietnamese: its own few words stay English)
    assert [w for w in built.warnings if 'Language "vi" not supported' not in w] == []
    page = built.page("softmax.html")
    assert toggles(page) == []
    pairs = page.select("div.d2l-bilingual")
    assert len(pairs) == 5  # paragraph, figure, table, equation, paragraph
    for pair in pairs:
        left, right = pair.find_all("div", recursive=False)
        assert "d2l-translation" in left["class"]
        assert right["class"][:3] == ["d2l-original", "no-search", "d2l-original-side"]
        assert right.select_one("p.d2l-original-label").get_text() == "Bản gốc"
    assert pairs[0].select_one(".d2l-translation p").get_text().startswith("Trong")
    assert pairs[0].select_one(".d2l-original-side em").get_text() == "classify"
    # a heading's original follows the title (a title cannot be put in a column)
    first = page.select_one("div.d2l-original-side")
    assert first.find_previous_sibling("h1") is not None
    assert first.get_text(" ", strip=True) == "Bản gốc Softmax Regression"
    note = page.select_one("p.d2l-untranslated-note").get_text()
    assert note == "Chưa được dịch: văn bản gốc được hiển thị."
    rst_pairs = built.page("linreg.html").select("div.d2l-bilingual")
    assert [p.select_one(".d2l-original-side em, .d2l-original-side img").name
            for p in rst_pairs] == ["em", "img"]


def test_chinese_note_and_label_option(build: Callable[..., Built]) -> None:
    built = build("originals", language="zh_CN", d2l_original_label="English")
    page = built.page("softmax.html")
    assert {t.summary.get_text() for t in toggles(page)} == {"English"}
    assert page.select_one("p.d2l-untranslated-note").get_text() == "尚未翻译：此处显示原文。"
    chinese = build("originals", language="zh_CN").page("linreg.html")
    assert {t.summary.get_text() for t in toggles(chinese)} == {"原文"}


def test_switches_keep_the_old_behaviour(build: Callable[..., Built]) -> None:
    off = build("originals", d2l_show_original=False, d2l_untranslated="placeholder")
    for name in ("softmax.html", "linreg.html"):
        page = off.page(name)
        assert page.select(".d2l-original, .d2l-untranslated, .d2l-bilingual") == []
        assert PLACEHOLDER in page.get_text()
        assert "differentiable" not in page.get_text() and "easy" not in page.get_text()
    # only the untranslated text (the default) without the toggles
    shown = build("originals", d2l_show_original=False)
    page = shown.page("softmax.html")
    assert toggles(page) == [] and len(page.select("div.d2l-untranslated")) == 1
    # the placeholder as written, with its toggle after it
    kept = build("originals", d2l_untranslated="placeholder").page("linreg.html")
    assert kept.select("div.d2l-untranslated") == []
    placeholder = kept.find("em", string=PLACEHOLDER).parent
    assert placeholder.find_next_sibling("details").find("strong").get_text() == "easy"


@pytest.mark.parametrize("option", ["d2l_original_layout", "d2l_untranslated"])
def test_bad_choice_is_a_config_error(make_app: Any, tmp_path: Path, option: str) -> None:
    from sphinx.errors import ConfigError

    src = tmp_path / "src"
    shutil.copytree(ROOTS / "test-originals", src)
    with pytest.raises(ConfigError, match=f"{option}: 'columns' is not one of"):
        make_app("html", srcdir=src, confoverrides={option: "columns"})


# --------------------------------------------------------------------------- output


def _index_terms(built: Built) -> set[str]:
    text = built.text("searchindex.js")
    data = json.loads(text[text.index("(") + 1:text.rindex(")")])
    return set(data["terms"])


@pytest.mark.skipif(sphinx.version_info < (8, 2), reason="the no-search class: Sphinx 8.2")
def test_search_index_leaves_originals_out(build: Callable[..., Built]) -> None:
    from sphinx.search.en import SearchEnglish

    stem = SearchEnglish({}).stem
    terms = _index_terms(build("originals"))
    for word in ("classify", "probabilities", "minimize", "original"):  # only in originals
        assert stem(word) not in terms, word
    for word in ("differentiable", "easy"):  # untranslated text is the page's text
        assert stem(word) in terms, word
    assert "hồi" in terms or "hoi" in terms  # (the translation is indexed)


def test_label_and_text_apart_in_page_text(build: Callable[..., Built]) -> None:
    """Search snippets are made of the page's text: the label is not run into the text."""
    text = build("originals").page("softmax.html").get_text()
    assert re.search(r"Original\s+In Section 1", text)
    assert "OriginalIn" not in text


@pytest.mark.parametrize("builder", ["text", "latex"])
def test_outside_html_only_the_untranslated_text(build: Callable[..., Built],
                                                  builder: str) -> None:
    built = build("originals", builder)
    assert built.warnings == []
    out = "".join(p.read_text(encoding="utf-8") for p in built.outdir.glob(
        "*.txt" if builder == "text" else "*.tex"))
    assert "classify" not in out and "Softmax Regression" not in out
    assert "Not translated yet: the original text is shown." in out
    assert "differentiable" in out and "easy" in out


# --------------------------------------------------------------------------- catalogs


def test_catalogs_match_the_sources() -> None:
    """Every marked string is in the template and translated in each shipped language;
    the committed .mo files are the .po files compiled (``python -m sphinx_d2ltabs.i18n``)."""
    wanted = {m.id for m in i18n.extract() if m.id}
    assert {"Original", "Not translated yet: the original text is shown."} <= wanted
    assert set(i18n.STATUS_HEADINGS) <= wanted
    template = i18n.read_catalog(i18n.LOCALE_DIR / "sphinx_d2ltabs.pot")
    assert {m.id for m in template if m.id} == wanted
    languages = []
    for po in i18n.po_files():
        languages.append(po.parts[-3])
        catalog = {m.id: m.string for m in i18n.read_catalog(po) if m.id}
        assert set(catalog) == wanted, po
        assert all(catalog.values()), po
        compiled = {m.id: m.string for m in i18n.read_catalog(po.with_suffix(".mo")) if m.id}
        assert compiled == catalog, po
    assert languages == ["vi", "zh_CN"]
