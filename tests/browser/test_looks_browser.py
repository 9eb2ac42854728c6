"""How cells look, in a real browser, under sphinx-book-theme in light and dark mode: code
and its outputs set apart, stderr, tracebacks and ANSI colours readable on both
backgrounds (the contrast of their text with what shows behind it, as WCAG computes it).

A small book is built here (its cells run in the python3 kernel), served on loopback and
driven by Playwright in Debian's Chromium (``tests/install_browser.sh``); screenshots are
saved under ``test-artifacts/browser/``. Outside CI the test is skipped when Chromium or
Playwright is missing; in CI (``CI=true``) it never skips.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser_helpers import (
    ARTIFACTS,
    CONTRAST,
    build_html,
    chromium,
    require_browser,
    serve,
)

CONF = """project = "Looks"
extensions = ["sphinx_d2ltabs", "sphinx_d2ltabs.local_mathjax"]
html_theme = "sphinx_book_theme"
d2l_tabs = ["alpha", "beta"]
d2l_lib_enable = False
d2l_allow_errors = True
"""
PAGE = """# Cells

```{.python .input}
import sys
print("an output on stdout")
print("a message on stderr", file=sys.stderr)
print("\\x1b[30mblack\\x1b[0m \\x1b[90mbright black\\x1b[0m \\x1b[34mblue\\x1b[0m")
```

```{.python .input}
#@tab beta
print("beta")
```

```{.python .input}
def ratio(v):
    return 1 / v
ratio(0)
```
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    src = tmp_path_factory.mktemp("looks") / "book"
    src.mkdir()
    (src / "conf.py").write_text(CONF, encoding="utf-8")
    (src / "index.md").write_text(PAGE, encoding="utf-8")
    out = src / "_build" / "html"
    build_html(src, out)
    with serve(out) as url:
        yield url


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_outputs_are_readable(site: str, scheme: str) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1100, "height": 900},
                                color_scheme=scheme)
        page.goto(f"{site}/index.html")
        assert page.evaluate("document.documentElement.dataset.theme") == scheme
        cell = page.locator(".d2l-cell").first
        # the code in a box with a rule on its left; the outputs indented, without it
        code = cell.locator(".d2l-cell-input")
        assert code.evaluate("e => getComputedStyle(e).borderLeftWidth") == "4px"
        output = cell.locator(".d2l-cell-output")
        assert output.evaluate("e => parseFloat(getComputedStyle(e).marginLeft)") > 10
        outputs = {
            "stdout": cell.locator(".output.stream pre").first,
            "stderr": cell.locator(".output.stderr pre"),
            "traceback": page.locator(".output.traceback pre"),
        }
        for name, element in outputs.items():
            assert element.count() == 1, name
            assert element.evaluate(CONTRAST) >= 4.5, (scheme, name)
        # the error tint sets stderr apart from stdout
        tints = [outputs[n].evaluate("e => getComputedStyle(e).backgroundColor")
                 for n in ("stdout", "stderr")]
        assert tints[0] != tints[1], tints
        # ANSI colours, the dark ones too, stay legible
        spans = page.locator(".output.stream pre span.-Color").all()
        assert len(spans) >= 3
        for span in spans:
            assert span.evaluate(CONTRAST) >= 3, (scheme, span.inner_text())
        page.screenshot(path=str(ARTIFACTS / f"cells-{scheme}.png"), full_page=True)
