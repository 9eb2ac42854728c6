"""LaTeX / PDF per framework (``d2l_nonhtml_tabs = "<framework>"``) and SVG images in LaTeX.

The book ``tests/roots/test-pdf`` has NumPy (default) and PyTorch tabs, ``:begin_tab:``
prose, a ``#@tab all`` cell, a NumPy-only page and an SVG figure; a PyTorch cell gets an
SVG plot output (with its ``<Figure size ...>`` text) from a stand-in for the execution
results, so that no kernel starts. One test compiles the example book into a PDF with
``latexmk`` and xelatex: skipped where TeX is missing, except in CI (``CI`` set), where
it fails (``bash tests/install_tex.sh`` installs it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest
from sphinx.cmd.build import build_main
from sphinx.errors import ConfigError

from helpers import copy_root, warnings_of
from sphinx_d2ltabs.execution.model import JobResult

EXAMPLE_BOOK = Path(__file__).parent.parent / "example_book"
PLOT_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="144pt" height="72pt" '
            'viewBox="0 0 144 72"><path d="M 10 60 L 70 10 L 134 60" stroke="#1f77b4" '
            'fill="none"/></svg>')
PLOT_TEXT = "<Figure size 200x100 with 1 Axes>"
TEX_TOOLS = ("latexmk", "xelatex", "rsvg-convert", "pdftotext", "pdfinfo")
IN_CI = bool(os.environ.get("CI"))


def missing(*tools: str) -> list[str]:
    return [tool for tool in tools if shutil.which(tool) is None]


def require(*tools: str) -> None:
    """In CI a missing tool fails the test (the skipif marks skip it elsewhere)."""
    absent = missing(*tools)
    if absent:
        pytest.fail(f"{', '.join(absent)} not found in CI: run bash tests/install_tex.sh")


needs_rsvg = pytest.mark.skipif(
    bool(missing("rsvg-convert")) and not IN_CI,
    reason="rsvg-convert not installed (bash tests/install_tex.sh installs it)")
needs_tex = pytest.mark.skipif(
    bool(missing(*TEX_TOOLS)) and not IN_CI,
    reason=f"a TeX system is missing ({', '.join(missing(*TEX_TOOLS))}; "
           "bash tests/install_tex.sh installs it)")


@pytest.fixture
def plot_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """The PyTorch cell ``plotcell`` of tabs.md shows an SVG plot (no kernel runs)."""

    def results(env: Any, docname: str, cells: list[Any]) -> dict[str, Any]:
        cell = next((c for c in cells if "plotcell" in c.source), None)
        if cell is None:
            return {}
        output = {"output_type": "display_data", "metadata": {},
                  "data": {"image/svg+xml": PLOT_SVG, "text/plain": PLOT_TEXT}}
        return {"pytorch": JobResult(docname, "pytorch", "ok", outputs={cell.line: [output]})}

    monkeypatch.setattr("sphinx_d2ltabs.phase.page_results", results)  # (read by the parser)


def build_tex(make_app: Any, src: Path, **conf: Any) -> tuple[Any, str]:
    app = make_app("latex", srcdir=src, confoverrides=conf)
    app.build()
    return app, (Path(app.outdir) / "pdf.tex").read_text(encoding="utf-8")


# ------------------------------------------------------------------ one framework


def test_latex_of_one_framework(make_app: Any, tmp_path: Path) -> None:
    app, tex = build_tex(make_app, copy_root(tmp_path, "pdf"), d2l_nonhtml_tabs="pytorch")
    assert warnings_of(app) == []
    # the chosen framework's cells and prose, the common ones; no other framework's
    assert "torchonly" in tex and "Prose for PyTorch readers." in tex
    assert "commoncell" in tex and "Common text." in tex
    assert "numpyonly" not in tex and "Prose for NumPy readers." not in tex
    # a page of NumPy cells only keeps its text, not its code
    assert "Text of a page with NumPy cells only." in tex and "numpypage" not in tex
    # one framework: no tabs, no tab labels
    assert "d2l-tab-" not in tex and "\\subsubsection*{PyTorch}" not in tex


def test_latex_of_the_default_framework(make_app: Any, tmp_path: Path) -> None:
    app, tex = build_tex(make_app, copy_root(tmp_path, "pdf"), d2l_nonhtml_tabs="default")
    assert warnings_of(app) == []
    assert "numpyonly" in tex and "Prose for NumPy readers." in tex and "numpypage" in tex
    assert "commoncell" in tex
    assert "torchonly" not in tex and "Prose for PyTorch readers." not in tex


def test_latex_of_every_framework(make_app: Any, tmp_path: Path) -> None:
    app, tex = build_tex(make_app, copy_root(tmp_path, "pdf"))
    assert warnings_of(app) == []
    assert "numpyonly" in tex and "torchonly" in tex and "numpypage" in tex
    assert "Prose for NumPy readers." in tex and "Prose for PyTorch readers." in tex
    # each tab under its framework's label
    assert "\\subsubsection*{NumPy}" in tex and "\\subsubsection*{PyTorch}" in tex


def test_framework_on_the_command_line(tmp_path: Path) -> None:
    """``sphinx-build -b latex -D d2l_nonhtml_tabs=pytorch``, warnings as errors."""
    src = copy_root(tmp_path, "pdf")
    out = tmp_path / "latex"
    assert build_main(["-q", "-W", "-b", "latex", "-D", "d2l_nonhtml_tabs=PyTorch",
                       str(src), str(out)]) == 0
    tex = (out / "pdf.tex").read_text(encoding="utf-8")
    assert "torchonly" in tex and "numpyonly" not in tex


def test_unknown_framework_is_a_config_error(make_app: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape(
            "d2l_nonhtml_tabs: 'jax' is not 'all', 'default' or a configured framework "
            "(d2l_tabs = ['numpy', 'pytorch'])")):
        make_app("latex", srcdir=copy_root(tmp_path, "pdf"),
                 confoverrides={"d2l_nonhtml_tabs": "jax"})


# ------------------------------------------------------------------ SVG images


@needs_rsvg
@pytest.mark.usefixtures("plot_output")
def test_svg_plot_and_figure_become_pdf(make_app: Any, tmp_path: Path) -> None:
    require("rsvg-convert")
    src = copy_root(tmp_path, "pdf")
    (src / "img" / "bad.svg").write_text("<svg this is not XML", encoding="utf-8")
    with (src / "single.md").open("a", encoding="utf-8") as fh:
        fh.write("\n![Broken](img/bad.svg)\n")
    app, tex = build_tex(make_app, src, d2l_nonhtml_tabs="pytorch")
    outdir = Path(app.outdir)
    # the plot and the figure: PDF files included by the .tex, no SVG, no plot text
    included = re.findall(r"\\sphinxincludegraphics(?:\[[^]]*\])?\{\{([^}]+)\}\.(\w+)\}", tex)
    assert {ext for _, ext in included} == {"pdf"}
    assert "shape" in {name for name, _ in included} and len(included) == 2
    for name, ext in included:
        assert (outdir / f"{name}.{ext}").read_bytes().startswith(b"%PDF")
    assert "Figure size" not in tex and ".svg" not in tex
    assert "A shape" in tex and "Broken" in tex  # (the broken one keeps its caption)
    # a broken SVG: one warning at its figure, the build goes on
    (warning,) = warnings_of(app)
    assert "single.md" in warning and "cannot convert" in warning
    assert "bad.svg" in warning and "[d2l.image]" in warning
    # a second build converts nothing again (the conversions are newer than their SVGs)
    converted = Path(app.doctreedir) / "images"
    mtimes = {p.name: p.stat().st_mtime_ns for p in converted.glob("*.pdf")}
    assert len(mtimes) == 2
    build_tex(make_app, src, d2l_nonhtml_tabs="pytorch")
    assert {p.name: p.stat().st_mtime_ns for p in converted.glob("*.pdf")} == mtimes


@pytest.mark.usefixtures("plot_output")
def test_svg_without_converter_warns_once(make_app: Any, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs"))  # no rsvg-convert
    app, tex = build_tex(make_app, copy_root(tmp_path, "pdf"), d2l_nonhtml_tabs="pytorch")
    (warning,) = warnings_of(app)  # once, for the plot and the figure
    assert "SVG images (plot outputs, figures) cannot be shown in the latex output" in warning
    assert "apt-get install librsvg2-bin" in warning and "[d2l.image]" in warning
    # the plot is shown as its text, the figure by its caption; no \includegraphics of SVG
    assert "\\PYGZlt{}Figure size 200x100 with 1 Axes\\PYGZgt{}" in tex
    assert "A shape" in tex and "sphinxincludegraphics" not in tex


# ------------------------------------------------------------------ a PDF, compiled


def pdf_bboxes(pdf: bytes) -> list[tuple[float, float]]:
    """Width and height of every Form XObject (an included PDF image) of a PDF, also
    inside compressed object streams."""
    chunks = [pdf]
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.DOTALL):
        try:
            chunks.append(zlib.decompress(stream))
        except zlib.error:
            continue
    found = []
    for chunk in chunks:
        for match in re.finditer(rb"/Subtype\s*/Form\b.{0,200}?/BBox\s*\[\s*0\s+0\s+"
                                 rb"([\d.]+)\s+([\d.]+)\s*\]", chunk, re.DOTALL):
            found.append((float(match[1]), float(match[2])))
    return found


def page_size(pdf: Path) -> tuple[float, float]:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    size = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info.stdout)
    assert size, info.stdout
    return float(size[1]), float(size[2])


@needs_tex
def test_example_book_pdf_for_pytorch(make_app: Any, tmp_path: Path) -> None:
    """The example book, PyTorch only, through xelatex: its code and its plot."""
    require(*TEX_TOOLS)
    src = tmp_path / "book"
    shutil.copytree(EXAMPLE_BOOK, src, ignore=shutil.ignore_patterns("_build"))
    app = make_app("latex", srcdir=src, confoverrides={
        "d2l_nonhtml_tabs": "pytorch", "d2l_execute_tabs": ["pytorch"],
        "latex_engine": "xelatex"})
    app.build()
    assert warnings_of(app) == []
    outdir = Path(app.outdir)
    (tex,) = outdir.glob("*.tex")
    plots = re.findall(r"\\sphinxincludegraphics\{\{([0-9a-f]{32})\}\.pdf\}",
                       tex.read_text(encoding="utf-8"))
    assert len(plots) == 1  # the PyTorch tanh plot (an SVG output)
    done = subprocess.run(["latexmk", "-pdfxe", "-interaction=nonstopmode", "-halt-on-error",
                           tex.name], cwd=outdir, capture_output=True, text=True,
                          timeout=600, check=False)
    pdf = tex.with_suffix(".pdf")
    assert done.returncode == 0 and pdf.is_file(), done.stdout[-3000:]
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert 'plot(xs, torch.tanh(xs), "tanh (PyTorch)")' in text
    assert "torch.linspace(-3, 3, 100)" in text
    assert "np.linspace" not in text and "tanh (NumPy)" not in text
    # the plot is a vector image (no pixels for pdfimages): the converted plot's page
    # is drawn into the book as a form of the same size
    width, height = page_size(outdir / f"{plots[0]}.pdf")
    assert any(abs(w - width) < 0.5 and abs(h - height) < 0.5
               for w, h in pdf_bboxes(pdf.read_bytes()))
