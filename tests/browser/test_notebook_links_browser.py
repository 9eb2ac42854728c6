"""The notebook / Colab links of a page follow the selected framework tab, in a real browser.

``tests/roots/test-notebooks`` is built here (two cheap "frameworks" run by the python3
kernel), served on loopback and driven by Playwright in Debian's Chromium
(``tests/install_browser.sh``); a screenshot is saved under ``test-artifacts/browser/``.
Outside CI the test is skipped when Chromium or Playwright is missing; in CI
(``CI=true``) it never skips.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOWN = """() => Array.from(document.querySelectorAll('.d2l-nb-group'))
    .filter(g => !g.hidden).map(g => g.getAttribute('data-d2l-framework'))"""


def _missing() -> str | None:
    if not os.path.exists(CHROMIUM):
        return "Chromium is not installed (run tests/install_browser.sh)"
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed"
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    missing = _missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser test cannot run in CI: {missing}")
        pytest.skip(missing)
    src = tmp_path_factory.mktemp("book") / "notebooks"
    shutil.copytree(REPO / "tests" / "roots" / "test-notebooks", src)
    out = src / "_build" / "html"
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-q", "-b", "html", str(src),
                           str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(out)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_links_follow_the_selected_tab(site: str) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
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
        finally:
            browser.close()
