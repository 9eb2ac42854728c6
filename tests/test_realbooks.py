"""The constructs of the real books (d2l-en, d2l-zh, d2l-vi) on a small mimic: test-d2lreal.

The root copies d2l-en's layout: a config.ini read by ``config_from_ini`` (four tabs,
``[library-*]`` aliases, ``notebooks = *.md */*.md``, ``%%`` in ``sphinx_configs``), chapter
folders, ``%%tab`` cells, ``tab.selected`` branches, set-up cells, slide marks, citations,
``:Caption`` tables, labelled ``$$`` inside paragraphs, and ``#@save`` blocks whose expected
modules (``expected/*.py``) were written by d2lbook 1.0.3's ``d2lbook build lib``.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import body, copy_root, warnings_of

ROOT = Path(__file__).parent / "roots" / "test-d2lreal"
BENCH = Path(__file__).parent.parent / "bench" / "realbooks"

#: Text that must never reach the reader (see bench/realbooks/check_html.py).
LEAKS = re.compile(
    r":(?:begin|end)_tab:|%%tab|#\s*@tab|tab\.selected\(|%load_ext|interact_select|"
    r"\[\*\*|\*\*\]|\(\*\*|\*\*\)|~~|:(?:numref|eqref|citet|citep|cite|label|eqlabel|width|"
    r"bibliography):`|eval_rst"
)


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from sphinx.testing.util import SphinxTestApp

    src = copy_root(tmp_path_factory.mktemp("d2lreal"), "d2lreal")
    app = SphinxTestApp("html", srcdir=src)
    try:
        app.build()
        yield app
    finally:
        app.cleanup()


def _panels(page: Any) -> dict[str, list[str]]:
    """framework label → code of its tab panels, in page order."""
    out: dict[str, list[str]] = {}
    for tab_set in page.select("div.sd-tab-set"):
        labels = [lab.get_text(strip=True) for lab in tab_set.select("label.sd-tab-label")]
        panels = tab_set.select("div.sd-tab-content")
        for label, panel in zip(labels, panels, strict=True):
            out.setdefault(label, []).extend(pre.get_text() for pre in panel.select("pre"))
    return out


def test_builds_without_warnings(book: Any) -> None:
    assert warnings_of(book) == []


def test_config_ini_notebooks_limit_the_pages(book: Any) -> None:
    # d2lbook's "notebooks = *.md */*.md" never reads contrib/chapter_old/draft.md
    assert book.config.include_patterns == ["*.md", "*/*.md"]
    assert "contrib/chapter_old/draft" not in book.env.found_docs
    assert "README" not in book.env.found_docs
    # '%%s' in sphinx_configs is '%s', as d2lbook's ConfigParser reads it (d2l-zh)
    assert book.config.numfig_format["table"] == "Table %s"


def test_no_construct_leaks(book: Any) -> None:
    for page in ("index.html", "chapter_preliminaries/ndarray.html",
                 "chapter_preliminaries/calculus.html", "chapter_linear/scratch.html"):
        text = body(book, page).get_text("\n")
        assert not LEAKS.findall(text), (page, LEAKS.findall(text))


def test_tabs_setup_cells_and_flattened_branches(book: Any) -> None:
    page = body(book, "chapter_preliminaries/ndarray.html")
    panels = _panels(page)
    assert list(panels) == ["PyTorch", "MXNet", "JAX", "TensorFlow"]
    code = {fw: "\n".join(blocks) for fw, blocks in panels.items()}
    # aliases, then `if tab.selected('mxnet') or tab.selected('pytorch'):` for both
    assert "X = x.reshape((3, 4))\nn = X.numel()" in code["PyTorch"]
    assert "X = x.reshape((3, 4))\nn = X.size" in code["MXNet"]   # reverse_alias regex
    assert "X = tf.reshape(x, (3, 4))\nn = 12" in code["TensorFlow"]
    assert "n = 12" in code["JAX"] and "tf." not in code["JAX"]
    assert "!ls -lh my_mlp*" in code["MXNet"]                     # IPython lexer, no warning
    assert "untagged cell belongs to the first tab" in code["PyTorch"]
    text = page.get_text(" ")
    assert "To start, we import the library." in text and "A vector is a list" in text
    assert "Only on the slides" not in text
    assert "Smith and Doe" in text
    assert "interact_select" not in str(page)


def test_captions_labels_and_equations(book: Any) -> None:
    page = body(book, "chapter_preliminaries/ndarray.html")
    captions = [c.get_text(" ", strip=True) for c in page.select("table caption")]
    assert captions == ["Table 1.1 Dataset vs. computer memory ¶",
                        "Table 1.2 Common latency numbers. ¶"]
    refs = [a.get_text(strip=True) for a in page.select("a.reference.internal span.std-numref")]
    assert refs == ["Table 1.1", "Table 1.2", "Fig. 1.1"]
    assert page.select_one("figure img")["style"] == "width: 200px;"
    calc = body(book, "chapter_preliminaries/calculus.html")
    for label in ("eq-derivative", "eq-ftc", "eq-gp-function"):
        assert calc.select_one(f"#equation-{label}") is not None, label
    assert [a.get_text(strip=True) for a in calc.select("a.reference.internal")
            if a["href"].startswith("#equation-")] == ["(1.1)", "(1.2)", "(1.3)"]
    assert "$" not in calc.get_text().replace("$$", "")  # no stray dollar signs


def test_library_matches_d2lbook(book: Any) -> None:
    compare = _load("compare_lib")
    for module in ("torch", "mxnet", "jax", "tensorflow"):
        ours = compare.definitions(Path(book.srcdir, "d2l", f"{module}.py"), banner_only=True)
        ref = compare.definitions(ROOT / "expected" / f"{module}.py", banner_only=True)
        result = compare.compare(ours, ref)
        assert result["different"] == [] and result["only_ours"] == [], (module, result)
        assert result["only_reference"] == [], (module, result)
    torch = Path(book.srcdir, "d2l", "torch.py").read_text()
    # add_to_class(d2l.Trainer) is folded into Trainer; the page's demo code is not saved
    assert "\n@d2l.add_to_class" not in torch and "def prepare_batch" in torch
    assert "data_dir" not in torch and "d2l.DATA_HUB['hotdog']" in torch
    # branches do not nest (d2lbook): the inner tensorflow branch lands in __init__
    tf = Path(book.srcdir, "d2l", "tensorflow.py").read_text()
    assert "        self.save_hyperparameters()\n        self.training = None" in tf
    assert "self.training" not in Path(book.srcdir, "d2l", "mxnet.py").read_text()
