"""Safety: nothing is written outside the source and build folders whatever the labels,
file names, toc entries and library options say; outputs cannot inject HTML; raw HTML
comes from ``text/html`` output data only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from robust_helpers import build, cell, files_under, write_book
from sphinx.errors import ConfigError

S = "<script>alert('d2l')</script>"
EVIL_IMG = "<img src=x onerror=alert(1)>"


@pytest.mark.parametrize(("option", "value"), [
    ("d2l_lib_dir", "../outside"),
    ("d2l_lib_dir", "sub/../../outside"),
    ("d2l_lib_dir", "/tmp/d2l-robust-outside"),
    ("d2l_lib_package", "../outside"),
    ("d2l_lib_package", "/tmp/d2l-robust-outside"),
    ("d2l_lib_package", "d2l/../../outside"),
    ("d2l_lib_modules", {"alpha": "../../outside"}),
    ("d2l_lib_modules", {"alpha": "/tmp/d2l-robust-outside"}),
    ("d2l_lib_modules", {"alpha": "sub/alpha"}),
])
def test_library_paths_stay_inside(tmp_path: Path, option: str, value: object) -> None:
    root = tmp_path / "root"
    src = write_book(root / "book", {"page": "# Page\n\n" + cell("def f():  #@save\n    pass")},
                     conf="d2l_lib_enable = True\nd2l_execute = 'off'\n")
    before = files_under(tmp_path)
    with pytest.raises(ConfigError, match=option):
        build(src, **{option: value})
    assert files_under(tmp_path) == before
    assert not Path("/tmp/d2l-robust-outside").exists()


def test_library_dir_inside_is_fine(tmp_path: Path) -> None:
    src = write_book(tmp_path / "src", {"page": "# Page\n\n" + cell("def f():  #@save\n    pass")},
                     conf="d2l_lib_enable = True\nd2l_execute = 'off'\n")
    result = build(src, d2l_lib_dir="python/lib", d2l_lib_package="mylib",
                   d2l_lib_modules={"alpha": "alpha_mod"})
    assert result.warnings == []
    assert "def f():" in (src / "python" / "lib" / "mylib" / "alpha_mod.py").read_text()


def test_nothing_written_outside(tmp_path: Path) -> None:
    """Labels and file names that look like paths, toc entries and globs that leave the
    source folder, an image path that leaves it: every file written is under the source
    folder (whose ``_build`` holds the output, cache and images)."""
    root = tmp_path / "root"
    outside = root / "outside"
    outside.mkdir(parents=True)
    (outside / "page.md").write_text(
        "# Outside\n\n" + cell("def outside_helper():  #@save\n    pass\n"
                               "open('ran-outside', 'w').close()"))
    (outside / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    pages = {
        "labels": "# Labels\n:label:`../../escape`\n\n"
                  "![Cap](../outside/pic.png)\n:label:`/tmp/escape`\n\n"
                  "$$x$$\n:eqlabel:`..%2F..%2Fescape`\n\n"
                  "See :numref:`../../escape` and :eqref:`..%2F..%2Fescape`.\n\n"
                  + cell("def inside_helper():  #@save\n    pass\nprint('inside' + '-ran')"),
        "we ird #name": "# Weird\n\n" + cell("print('weird' + '-ran')"),
    }
    index = ("# Index\n\n```toc\n:maxdepth: 1\n\nlabels\nwe ird #name\n../outside/page\n```\n\n"
             "```toc\n:glob:\n\n../outside/*\n```\n")
    src = write_book(root / "book", pages, conf="d2l_lib_enable = True\n", index=index)
    before = files_under(root)
    result = build(src)
    after = files_under(root)
    assert {f for f in after - before if not f.startswith("book/")} == set()
    assert (outside / "ran-outside").exists() is False
    lib = (src / "d2l" / "alpha.py").read_text()
    assert "inside_helper" in lib and "outside_helper" not in lib
    assert "inside-ran" in result.page_text("labels")
    assert "weird-ran" in result.page_text("we ird #name")
    assert all("Traceback" not in w for w in result.warnings)
    outputs = Path(result.outdir)
    assert all(p.resolve().is_relative_to(src.resolve()) for p in outputs.rglob("*"))


@pytest.fixture(scope="module")
def injected(tmp_path_factory: pytest.TempPathFactory) -> str:
    page = "# Inject\n\n" + "\n".join([
        cell(f"print({S!r})"),
        cell(f"import sys\nprint({EVIL_IMG!r}, file=sys.stderr)"),
        cell(f"class X:\n    def __repr__(self):\n        return {S!r}\nX()"),
        cell("from IPython.display import display, Markdown, HTML, Latex, SVG\n"
             f"display(Markdown({'md <b>bold</b> ' + S + ' ' + EVIL_IMG!r}))"),
        cell("display(HTML('<i id=\"real-html\">from text/html</i>'))"),
        cell(f"display(Latex({'$x < y$ ' + S!r}))"),
        cell("display(SVG('<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(2)</script>"
             "</svg>'))"),
        cell(f"display({{'text/plain': {S!r}, 'application/x-evil': {S!r}}}, raw=True)"),
        cell(f"#@allow_error\nraise ValueError({S!r})"),
    ]) + f"\n:begin_tab:`{EVIL_IMG}`\nprose\n:end_tab:\n"
    src = write_book(tmp_path_factory.mktemp("inject") / "src", {"inject": page})
    result = build(src)
    assert result.report["failed"] == 0
    return (result.outdir / "inject.html").read_text(encoding="utf-8")


def test_text_outputs_escaped(injected: str) -> None:
    assert "<script>alert" not in injected
    assert not re.search(r"<img[^>]*onerror", injected)
    # ... shown as text
    assert injected.count("&lt;script&gt;alert") >= 6


def test_raw_html_from_text_html_only(injected: str) -> None:
    assert '<i id="real-html">from text/html</i>' in injected
    assert "<b>bold</b>" not in injected  # HTML inside text/markdown is text


def test_svg_is_an_image_file(injected: str) -> None:
    assert "<svg" not in injected
    assert re.search(r'<img[^>]+src="[^"]+\.svg"', injected)
