"""The example book in a real browser: one click on a PyTorch tab switches every tab set on
the page, and the next page opens on PyTorch; the choice survives a reload. Math is typeset
by the book's own MathJax (no CDN), dark mode keeps outputs readable, the API page fits a
phone's width, and the notebook download link serves the page's notebook.

Debian's Chromium (``tests/install_browser.sh``) driven by Playwright. The example book is
built here (its NumPy and PyTorch cells run), served on loopback, and screenshots are
saved under ``test-artifacts/browser/``. Outside CI the test is skipped when Chromium,
Playwright or PyTorch is missing; in CI (``CI=true``) it never skips.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_helpers import (
    ARTIFACTS,
    CONTRAST,
    MATH,
    build_html,
    chromium,
    require_browser,
    serve,
)

REPO = Path(__file__).resolve().parents[2]
PAGE_ONE = "chapter_preliminaries/ndarray.html"
PAGE_TWO = "chapter_linear/linreg.html"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser("torch", "matplotlib")
    src = tmp_path_factory.mktemp("book") / "example_book"
    shutil.copytree(REPO / "example_book", src,
                    ignore=shutil.ignore_patterns("_build", "d2l", "api.md"))
    out = src / "_build" / "html"
    build_html(src, out, timeout=900)
    # the generated package is importable, per framework
    check = subprocess.run([sys.executable, "-c", "from d2l import numpy, torch; "
                            "print(torch.synthetic_data.__module__)"],
                           cwd=src, capture_output=True, text=True, timeout=300)
    assert check.returncode == 0 and check.stdout.strip() == "d2l.torch", check.stderr
    with serve(out) as url:
        yield url


SELECTED = """() => Array.from(document.querySelectorAll('.sd-tab-set')).map(set => {
    const input = set.querySelector(':scope > input:checked');
    const label = input && input.nextElementSibling;
    return label ? label.getAttribute('data-sync-id') : null;
})"""


def test_one_click_switches_every_tab_on_every_page(site: str) -> None:
    with chromium() as browser:
        # Playwright gives the browser a new empty profile of its own
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.goto(f"{site}/{PAGE_ONE}")
        before = page.evaluate(SELECTED)
        assert len(before) >= 3, before
        assert set(before) == {"numpy"}, before  # the first configured tab is the default
        page.screenshot(path=str(ARTIFACTS / "page1-before.png"))
        first = page.locator(".sd-tab-set").first
        first.locator("label[data-sync-id='pytorch']").click()
        after = page.evaluate(SELECTED)
        assert set(after) == {"pytorch"}, after  # every tab set on the page switched
        # the visible panels are the PyTorch ones
        shown = page.locator(".sd-tab-set").first.locator(".sd-tab-content:visible")
        assert shown.count() == 1 and "PyTorch" in shown.inner_text()
        page.screenshot(path=str(ARTIFACTS / "page1-pytorch.png"))

        page.goto(f"{site}/{PAGE_TWO}")
        second = page.evaluate(SELECTED)
        assert len(second) >= 3 and set(second) == {"pytorch"}, second
        page.screenshot(path=str(ARTIFACTS / "page2-pytorch.png"), full_page=True)

        # and back: choosing NumPy on page two is what page one shows next
        page.locator(".sd-tab-set").first.locator("label[data-sync-id='numpy']").click()
        page.goto(f"{site}/{PAGE_ONE}")
        assert set(page.evaluate(SELECTED)) == {"numpy"}
        # the choice survives a reload of the page where it was made
        page.locator(".sd-tab-set").first.locator("label[data-sync-id='pytorch']").click()
        page.reload()
        assert set(page.evaluate(SELECTED)) == {"pytorch"}
        page.screenshot(path=str(ARTIFACTS / "page1-reloaded.png"))


def test_math_and_dark_mode(site: str) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1400},
                                color_scheme="dark")
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(f"{site}/{PAGE_TWO}")
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        # MathJax from the book itself: the inline formulas and the loss, typeset
        page.wait_for_function("() => window.MathJax && MathJax.startup "
                               "&& MathJax.startup.promise")
        shown = page.evaluate(MATH)
        assert shown.count("true") == 1 and len(shown) >= 4, shown
        assert not [u for u in requests if not u.startswith(site)], requests
        assert "\\frac" not in page.locator("article").inner_text()
        # code and output: the code boxed with a rule on its left, the output not
        cell = page.locator(".d2l-cell").first
        left = cell.locator(".d2l-cell-input").evaluate(
            "e => getComputedStyle(e).borderLeftWidth")
        assert left == "4px"
        output = cell.locator(".d2l-cell-output pre").first
        assert output.evaluate(CONTRAST) >= 4.5
        page.screenshot(path=str(ARTIFACTS / "page2-dark.png"), full_page=True)


def test_api_page_and_notebook_download(site: str) -> None:
    with chromium() as browser:
        # the API page on a phone's width: the table scrolls, not the page
        page = browser.new_page(viewport={"width": 420, "height": 900})
        page.goto(f"{site}/api.html")
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
        link = page.locator("table.d2l-library-api a").first
        assert "synthetic_data" in link.inner_text()
        page.screenshot(path=str(ARTIFACTS / "api-narrow.png"), full_page=True)
        link.click()
        page.wait_for_url("**/ndarray.html#d2l-api-numpy-synthetic-data")
        assert page.locator("#d2l-api-numpy-synthetic-data").is_visible()
        # the download link of the selected framework serves the page's notebook
        page.goto(f"{site}/{PAGE_ONE}")
        download = page.locator("a.d2l-nb-download:visible")
        assert download.count() == 1
        href = download.get_attribute("href") or ""
        assert href.endswith("_notebooks/numpy/chapter_preliminaries/ndarray.ipynb")
        response = page.request.get(download.evaluate("a => a.href"))
        assert response.ok
        notebook = response.json()
        assert notebook["nbformat"] == 4
        code = ["".join(c["source"]) for c in notebook["cells"]
                if c["cell_type"] == "code"]
        assert any("np.arange(12" in c for c in code)
        assert not any("torch" in c for c in code)  # the NumPy notebook
