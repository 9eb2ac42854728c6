"""The notebook / Colab links of a page follow the selected framework tab, in a real browser.

``tests/roots/test-notebooks`` is built here (two cheap "frameworks" run by the python3
kernel), served on loopback and driven by Playwright in Debian's Chromium
(``tests/install_browser.sh``); a screenshot is saved under ``test-artifacts/browser/``.
Outside CI the test is skipped when Chromium or Playwright is missing; in CI
(``CI=true``) it never skips.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_helpers import (
    ARTIFACTS,
    build_html,
    chromium,
    require_browser,
    serve,
)

REPO = Path(__file__).resolve().parents[2]
SHOWN = """() => Array.from(document.querySelectorAll('.d2l-nb-group'))
    .filter(g => !g.hidden).map(g => g.getAttribute('data-d2l-framework'))"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    src = tmp_path_factory.mktemp("book") / "notebooks"
    shutil.copytree(REPO / "tests" / "roots" / "test-notebooks", src)
    out = src / "_build" / "html"
    build_html(src, out)
    with serve(out) as url:
        yield url


def test_the_links_follow_the_selected_tab(site: str) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1100, "height": 700})
        page.goto(f"{site}/chapter/one.html")
        assert page.evaluate(SHOWN) == ["alpha"]  # the default framework's links
        assert page.locator("a.d2l-nb-colab").first.is_visible()
        page.locator(".sd-tab-set").first.locator("label[data-sync-id='beta']").click()
        assert page.evaluate(SHOWN) == ["beta"]
        assert page.locator("a.d2l-nb-studiolab").first.is_visible()
        page.screenshot(path=str(ARTIFACTS / "notebook-links-beta.png"))
        # remembered: the next page opens on beta; page two has no beta notebook, so
        # it shows its own (alpha) links
        page.goto(f"{site}/chapter/two.html")
        assert page.evaluate(SHOWN) == ["alpha"]
        page.goto(f"{site}/chapter/one.html")
        assert page.evaluate(SHOWN) == ["beta"]
        # ?framework=NAME chooses too
        page.goto(f"{site}/chapter/one.html?framework=alpha")
        assert page.evaluate(SHOWN) == ["alpha"]
