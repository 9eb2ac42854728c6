"""Bilingual pages in a real browser: a half-translated page shows the English originals in
place of its placeholders, the originals of a reStructuredText page open and close, they
stay readable in dark mode, side by side is two columns on a wide screen and one on a
narrow one, and search snippets keep the label apart from the text.

The Vietnamese seeds (``tests/roots/test-seeds``) and ``tests/roots/test-originals`` are
built here with sphinx-book-theme, served on loopback (every other request is refused)
and driven by Playwright in Debian's Chromium (``tests/install_browser.sh``); screenshots
are saved under ``test-artifacts/browser/``. Outside CI the test is skipped when Chromium
or Playwright is missing; in CI (``CI=true``) it never skips.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sphinx
from browser_helpers import ARTIFACTS, build_html, chromium, require_browser, serve

REPO = Path(__file__).resolve().parents[2]
ROOTS = REPO / "tests" / "roots"
HALF = "seeds/seed_000_91ca416a476e5127.html"
SEED_RST = "seed_003_c73f9b20be4bbae6"
RST = f"seeds/{SEED_RST}.html"
SIDE = "originals/softmax.html"
BOOKS = {  # served folder: (test root, extra -D options)
    "seeds": ("test-seeds", ["d2l_show_original=1", "d2l_translation_placeholder="
                             r"^\*dịch (đoạn|tiêu đề|chú thích ảnh) phía trên\*$"]),
    "originals": ("test-originals", ["d2l_original_layout=side-by-side"]),
}

# the colours a reader sees: an element's text colour and, from it up to the page, the
# background colours painted under it (composited in Python)
COLOURS = """el => {
    const layers = [];
    for (let n = el; n; n = n.parentElement) layers.push(getComputedStyle(n).backgroundColor);
    return {text: getComputedStyle(el).color, layers: layers};
}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    top = tmp_path_factory.mktemp("bilingual")
    served = top / "served"
    for name, (root, options) in BOOKS.items():
        src = top / root
        shutil.copytree(ROOTS / root, src)
        conf = ["html_theme=sphinx_book_theme", "language=vi", *options]
        build_html(src, served / name, *(a for option in conf for a in ("-D", option)),
                   allow_warnings=True)
    with serve(served) as url:
        yield url


@pytest.fixture
def browser(site: str) -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def open_page(browser: Any, site: str, path: str, **options: Any) -> Any:
    """A page of the site; requests elsewhere (MathJax's CDN) are refused at once."""
    page = browser.new_page(**{"viewport": {"width": 1280, "height": 900}, **options})
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(site)
               else route.abort())
    page.goto(f"{site}/{path}")
    return page


def _rgba(css: str) -> tuple[float, float, float, float]:
    parts = [float(x) for x in re.findall(r"[\d.]+", css)]
    return (parts[0], parts[1], parts[2], parts[3] if len(parts) > 3 else 1.0)


def _over(top: tuple[float, ...], under: tuple[float, ...]) -> tuple[float, ...]:
    alpha = top[3]
    return (*(top[i] * alpha + under[i] * (1 - alpha) for i in range(3)), 1.0)


def contrast(colours: dict[str, Any]) -> float:
    """WCAG contrast ratio of the text against what is painted under it."""
    background: tuple[float, ...] = (255.0, 255.0, 255.0, 1.0)  # (the canvas)
    for layer in reversed(colours["layers"]):
        background = _over(_rgba(layer), background)
    text = _over(_rgba(colours["text"]), background)

    def luminance(c: tuple[float, ...]) -> float:
        lin = [(v / 255) / 12.92 if v / 255 <= 0.03928 else ((v / 255 + 0.055) / 1.055) ** 2.4
               for v in c[:3]]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((luminance(text), luminance(background)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_half_translated_page_shows_the_english_originals(browser: Any, site: str) -> None:
    page = open_page(browser, site, HALF)
    boxes = page.locator("div.d2l-untranslated")
    assert boxes.count() == 2
    first = boxes.first
    first.scroll_into_view_if_needed()
    assert first.locator(".d2l-untranslated-note").inner_text() == (
        "Chưa được dịch: văn bản gốc được hiển thị.")
    assert first.locator(".d2l-untranslated-text").inner_text().startswith(
        "Alongside giant datasets and powerful hardware")
    assert first.locator(".d2l-untranslated-text").is_visible()
    assert page.get_by_text("dịch đoạn phía trên").count() == 0
    page.screenshot(path=str(ARTIFACTS / "bilingual-half-translated.png"), full_page=True)


def test_rst_page_originals_open_and_close(browser: Any, site: str) -> None:
    page = open_page(browser, site, RST)
    toggles = page.locator("details.d2l-original")
    assert toggles.count() == 33
    second = toggles.nth(1)  # the first paragraph's original
    text = second.locator(".d2l-original-text")
    assert second.locator("summary").inner_text() == "Bản gốc"
    assert not text.is_visible()
    second.locator("summary").click()
    assert text.is_visible()
    assert text.inner_text().startswith("So far, we have trained our models")
    assert text.locator("em").first.inner_text() == "forward propagation"
    second.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "bilingual-rst-toggle.png"))
    second.locator("summary").click()
    assert not text.is_visible()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_originals_are_readable(browser: Any, site: str, scheme: str) -> None:
    page = open_page(browser, site, RST, color_scheme=scheme)
    page.wait_for_selector(f"html[data-theme='{scheme}']")
    toggle = page.locator("details.d2l-original").nth(3)
    toggle.locator("summary").click()
    for element in (toggle.locator("summary"), toggle.locator(".d2l-original-text p").first):
        ratio = contrast(element.evaluate(COLOURS))
        assert ratio >= 4.5, (scheme, ratio)  # WCAG AA for body text
    toggle.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / f"bilingual-rst-{scheme}.png"))
    half = open_page(browser, site, HALF, color_scheme=scheme)
    half.wait_for_selector(f"html[data-theme='{scheme}']")
    box = half.locator("div.d2l-untranslated").first
    for element in (box.locator(".d2l-untranslated-note"), box.locator("p").nth(1)):
        ratio = contrast(element.evaluate(COLOURS))
        assert ratio >= 4.5, (scheme, ratio)
    box.scroll_into_view_if_needed()
    half.screenshot(path=str(ARTIFACTS / f"bilingual-half-translated-{scheme}.png"))


def test_side_by_side_columns(browser: Any, site: str) -> None:
    page = open_page(browser, site, SIDE, viewport={"width": 1400, "height": 1000})
    pair = page.locator("div.d2l-bilingual").first
    pair.scroll_into_view_if_needed()
    left = pair.locator(":scope > .d2l-translation").bounding_box()
    right = pair.locator(":scope > .d2l-original").bounding_box()
    assert left is not None and right is not None
    assert right["x"] >= left["x"] + left["width"]  # beside it
    assert abs(right["y"] - left["y"]) < 2
    page.screenshot(path=str(ARTIFACTS / "bilingual-side-by-side-wide.png"))
    page.set_viewport_size({"width": 700, "height": 1000})
    pair.scroll_into_view_if_needed()
    left = pair.locator(":scope > .d2l-translation").bounding_box()
    right = pair.locator(":scope > .d2l-original").bounding_box()
    assert left is not None and right is not None
    assert right["y"] >= left["y"] + left["height"]  # below it
    page.screenshot(path=str(ARTIFACTS / "bilingual-side-by-side-narrow.png"))


@pytest.mark.skipif(sphinx.version_info < (8, 2), reason="the no-search class: Sphinx 8.2")
def test_search_leaves_originals_out(browser: Any, site: str) -> None:
    page = open_page(browser, site, "seeds/search.html")
    # the snippet of a result is made of its page's text: the label is not run into it
    text = page.evaluate(f"""() => fetch('{site}/{RST}').then(r => r.text())
        .then(html => Search.htmlToText(html))""")
    assert "Bản gốc" in text
    assert not re.search(r"Bản gốc\S", text)
    # the search page's own query, on the index it loaded: [docname, title, ...] per result
    page.wait_for_function("() => Search.hasIndex()")
    results = {word: page.evaluate("""word => {
        const [query, terms, excluded, highlight, objects] = Search._parseQuery(word);
        return Search._performSearch(query, terms, excluded, highlight, objects)
            .map(result => result[0]);
    }""", word) for word in ("stochastic", "minibatch")}
    # only in the originals of that page; in its translation too
    assert SEED_RST not in results["stochastic"], results
    assert SEED_RST in results["minibatch"], results
