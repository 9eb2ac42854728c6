"""The extension in the Sphinx ecosystem (issue #17): what a build writes where (the
execution report and output images in the doctree folder, out of every published output
and out of sphinx-autobuild's sight), EPUB / LaTeX / text outputs without the report, the
phase's lines, no "configuration has changed" on a rebuild, Sphinx's short configuration
error, the options table of the docs, MathJax without a CDN."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import build_once, warnings_of

REPORT = "d2l_execution_report.json"
SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20">'
       '<circle cx="10" cy="10" r="8" fill="teal"/></svg>')
PAGE = f"""# A page

Some prose, and $x^2$ in a sentence.

```{{.python .input}}
from IPython.display import SVG, display
print("stdout of the cell")
display(SVG('{SVG}'))
```
"""
CONF = """project = "eco"
version = release = "1.0"
copyright = "2026, eco"
extensions = ["sphinx_d2ltabs"]
d2l_lib_enable = False
"""


def make_book(root: Path, conf: str = CONF, page: str = PAGE) -> Path:
    src = root / "src"
    src.mkdir(parents=True)
    (src / "conf.py").write_text(conf, encoding="utf-8")
    (src / "index.md").write_text(page, encoding="utf-8")
    return src


def files_under(root: Path, skip: Path | None = None) -> dict[str, tuple[int, int]]:
    """path → (mtime_ns, size) of every file under ``root`` (but not under ``skip``)."""
    out = {}
    for path in root.rglob("*"):
        if path.is_file() and (skip is None or skip not in path.parents):
            st = path.stat()
            out[str(path.relative_to(root))] = (st.st_mtime_ns, st.st_size)
    return out


def sphinx_build(src: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", *options, str(src),
                           str(src / "_build" / "html")],
                          capture_output=True, text=True, timeout=300, check=False)


def test_report_and_images_stay_out_of_every_output(tmp_path: Path) -> None:
    src = make_book(tmp_path)
    app = build_once(src)
    assert warnings_of(app) == []
    doctrees, out = Path(app.doctreedir), Path(app.outdir)
    report = json.loads((doctrees / REPORT).read_text(encoding="utf-8"))
    assert report["executed"] == 1 and report["failed"] == 0
    assert not (out / REPORT).exists()  # not published unless asked
    images = list((doctrees / "d2l_images").glob("*.svg"))
    assert len(images) == 1 and "circle" in images[0].read_text()
    assert not (src / "_build" / "d2l_images").exists()
    page = (out / "index.html").read_text(encoding="utf-8")
    assert f'src="_images/{images[0].name}"' in page
    assert (out / "_images" / images[0].name).read_bytes() == images[0].read_bytes()

    # EPUB with warnings as errors (it used to warn "unknown mimetype" for the report),
    # LaTeX and text: the same cached results, no report among the outputs
    for builder in ("epub", "latex", "text"):
        other = build_once(src, builder, warningiserror=True)
        assert warnings_of(other) == [], builder
        assert not (Path(other.outdir) / REPORT).exists(), builder
        assert json.loads((Path(other.doctreedir) / REPORT).read_text())["cached"] == 1
    text = (src / "_build" / "text" / "index.txt").read_text(encoding="utf-8")
    assert "stdout of the cell" in text


def test_publish_report_puts_a_copy_on_the_site(tmp_path: Path) -> None:
    src = make_book(tmp_path, CONF + "d2l_execute = 'cache-only'\n")
    app = build_once(src, confoverrides={"d2l_publish_report": True})
    published = Path(app.outdir, REPORT).read_text(encoding="utf-8")
    assert published == Path(app.doctreedir, REPORT).read_text(encoding="utf-8")
    assert json.loads(published)["executed"] == 0  # (cache-only, nothing cached)


def test_an_edit_changes_nothing_autobuild_watches(tmp_path: Path) -> None:
    """``sphinx-autobuild -M html src src/_build`` ignores ``src/_build`` (the layout of
    sphinx.testing too): a build after an edit writes nothing else in the source folder,
    so the edit makes one build, not two."""
    src = make_book(tmp_path, CONF.replace("d2l_lib_enable = False\n", ""))
    build_once(src)
    before = files_under(src, skip=src / "_build")
    page = src / "index.md"
    page.write_text(page.read_text().replace("Some prose", "Edited prose").replace(
        'print("stdout of the cell")', 'print("edited stdout")'), encoding="utf-8")
    edited = files_under(src, skip=src / "_build")
    app = build_once(src)
    assert "edited stdout" in Path(app.outdir, "index.html").read_text(encoding="utf-8")
    assert files_under(src, skip=src / "_build") == edited
    assert {k for k in edited if edited[k] != before.get(k)} == {"index.md"}


def test_the_phase_has_lines_of_its_own(tmp_path: Path) -> None:
    src = make_book(tmp_path)
    app = build_once(src)
    lines = re.split(r"[\r\n]+", re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", app.status.getvalue()))
    env = [ln for ln in lines if ln.startswith("updating environment: ")]
    assert env and all("[d2l]" not in ln for ln in env), env
    assert any(re.fullmatch(r"updating environment: .*1 added, 0 changed, 0 removed", ln)
               for ln in env), env
    assert "[d2l] 1 job(s) to execute" in lines
    assert any(ln.startswith("[d2l] executing... [100%] index [python]") for ln in lines)


def test_a_rebuild_keeps_the_configuration(tmp_path: Path) -> None:
    """sphinx-design's static folder joins html_static_path at config-inited: the pickled
    configuration and the new one are equal (it said "The configuration has changed (1
    option: 'html_static_path')" on every rebuild)."""
    src = make_book(tmp_path, CONF + "d2l_execute = 'off'\n")
    first = sphinx_build(src)
    assert first.returncode == 0, first.stderr
    again = sphinx_build(src)
    assert again.returncode == 0 and "loading pickled environment... done" in again.stdout
    assert "The configuration has changed" not in again.stdout
    assert Path(src, "_build", "html", "_static", "sphinx-design.min.css").exists()


def test_a_wrong_value_is_sphinx_short_configuration_error(tmp_path: Path) -> None:
    src = make_book(tmp_path, CONF + "d2l_tabs = ['pytorch', 'pytorch']\n")
    proc = sphinx_build(src)
    assert proc.returncode == 2
    err = re.sub(r"\x1b\[[0-9;]*m", "", proc.stderr).strip()
    assert err == "Configuration error:\nd2l_tabs: framework 'pytorch' is listed twice"
    # a value given with -D, and Sphinx's full report when asked for (-T)
    (src / "conf.py").write_text(CONF, encoding="utf-8")
    proc = sphinx_build(src, "-D", "d2l_timeout=soon")
    assert proc.returncode == 2 and "d2l_timeout: 'soon' must be a positive number" in (
        proc.stderr) and "Versions" not in proc.stderr
    proc = sphinx_build(src, "-T", "-D", "d2l_timeout=soon")
    assert proc.returncode == 2 and "Traceback" in proc.stderr


def test_the_options_table_of_the_docs_is_current() -> None:
    from sphinx_d2ltabs.config_docs import options_table, table_span

    page = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text("utf-8")
    span = table_span(page)
    assert span is not None, "docs/configuration.md has no options table"
    assert page[span[0]:span[1]] == options_table(), (
        "run: python -m sphinx_d2ltabs.config_docs docs/configuration.md")
    assert "| `d2l_tabs` | `['python']` |" in page


MATH = "# Math\n\nInline $x^2$ and\n\n$$\\frac{1}{2n} \\sum_{i=1}^n x_i.$$\n"


@pytest.mark.parametrize("local", [True, False])
def test_mathjax_from_the_book_or_the_cdn(tmp_path: Path, local: bool) -> None:
    ext = '"sphinx_d2ltabs", "sphinx_d2ltabs.local_mathjax"' if local else '"sphinx_d2ltabs"'
    conf = CONF.replace('"sphinx_d2ltabs"', ext) + "d2l_execute = 'off'\n"
    src = make_book(tmp_path, conf, MATH)
    app = build_once(src)
    assert warnings_of(app) == []
    page = Path(app.outdir, "index.html").read_text(encoding="utf-8")
    scripts = re.findall(r'<script[^>]*src="([^"]*(?:mathjax|tex-)[^"]*)"', page)
    static = Path(app.outdir, "_static", "mathjax")
    if local:
        assert scripts == ["_static/mathjax/tex-chtml-full.js"]
        assert (static / "tex-chtml-full.js").stat().st_size > 500_000
        fonts = list((static / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
        assert any(f.name == "MathJax_Main-Regular.woff" for f in fonts)
    else:  # Sphinx's default is kept
        assert len(scripts) == 1 and scripts[0].startswith("https://")
        assert not static.exists()
    assert "\\frac{1}{2n}" in page


def test_a_book_keeps_its_own_mathjax_path(tmp_path: Path) -> None:
    conf = (CONF.replace('"sphinx_d2ltabs"', '"sphinx_d2ltabs", "sphinx_d2ltabs.local_mathjax"')
            + "d2l_execute = 'off'\nmathjax_path = 'https://example.org/mj/tex-svg.js'\n")
    app = build_once(make_book(tmp_path, conf, MATH))
    page = Path(app.outdir, "index.html").read_text(encoding="utf-8")
    assert 'src="https://example.org/mj/tex-svg.js"' in page


def test_local_mathjax_without_mathjax_is_a_short_error(tmp_path: Path) -> None:
    """Without django-static-mathjax: Sphinx's short configuration error (run with a
    ``mathjax`` module that is not MathJax's, ahead on the path)."""
    fake = tmp_path / "fake"
    (fake / "mathjax").mkdir(parents=True)
    (fake / "mathjax" / "__init__.py").write_text("")
    conf = (CONF.replace('"sphinx_d2ltabs"', '"sphinx_d2ltabs", "sphinx_d2ltabs.local_mathjax"')
            + "d2l_execute = 'off'\n")
    src = make_book(tmp_path, conf, MATH)
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", str(src),
                           str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=300, check=False,
                          env={**os.environ, "PYTHONPATH": str(fake)})
    assert proc.returncode == 2
    assert "Configuration error:\nsphinx_d2ltabs.local_mathjax: MathJax is not installed" in (
        re.sub(r"\x1b\[[0-9;]*m", "", proc.stderr))
