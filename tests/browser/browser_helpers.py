"""What the browser tests share: Chromium and Playwright (skipped outside CI when missing,
a failure in CI), a book built with ``sphinx-build``, served on loopback, and what they
measure in a page (JavaScript for Playwright's ``evaluate``)."""

from __future__ import annotations

import contextlib
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
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def require_browser(*modules: str) -> None:
    """Skip the test (outside CI) or fail it (``CI`` set) unless Chromium, Playwright and
    ``modules`` are installed."""
    missing = None
    if not os.path.exists(CHROMIUM):
        missing = "Chromium is not installed (run tests/install_browser.sh)"
    else:
        missing = next((f"{module} is not installed" for module in ("playwright", *modules)
                        if importlib.util.find_spec(module) is None), None)
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser test cannot run in CI: {missing}")
        pytest.skip(missing)


def build_html(src: Path, out: Path, *options: str, timeout: int = 600,
               allow_warnings: bool = False) -> None:
    """``sphinx-build -q -b html OPTIONS SRC OUT`` in a process of its own: it succeeds
    (and, unless ``allow_warnings``, warns of nothing)."""
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-q", "-b", "html", *options,
                           str(src), str(out)], capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if not allow_warnings:
        assert "WARNING" not in proc.stderr, proc.stderr


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """``folder`` served on 127.0.0.1 (a free port); yields the site's URL."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (a new empty profile of its own);
    the screenshots' folder exists."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()

#: the contrast (WCAG) of an element's text with what shows behind it: translucent
#: backgrounds composited, up to the first opaque one (white when none is)
CONTRAST = """(el) => {
    const rgba = c => {
        const v = c.match(/[\\d.]+/g).map(Number);
        return v.length === 3 ? [...v, 1] : v;
    };
    const layers = [];
    for (let node = el; node; node = node.parentElement) {
        const c = rgba(getComputedStyle(node).backgroundColor);
        if (c[3] > 0) layers.push(c);
        if (c[3] >= 1) break;
    }
    let bg = [255, 255, 255];
    for (const [r, g, b, a] of layers.reverse()) {
        bg = [r * a + bg[0] * (1 - a), g * a + bg[1] * (1 - a), b * a + bg[2] * (1 - a)];
    }
    const channel = v => {
        v /= 255;
        return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    };
    const lum = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g)
        + 0.0722 * channel(b);
    const [fg, back] = [lum(rgba(getComputedStyle(el).color)), lum(bg)];
    return (Math.max(fg, back) + 0.05) / (Math.min(fg, back) + 0.05);
}"""

#: once MathJax has typeset the page: its formulas, "true" for a display one
MATH = """() => MathJax.startup.promise.then(() => Array.from(
    document.querySelectorAll('mjx-container')).map(m => m.getAttribute('display') || 'inline'))"""
