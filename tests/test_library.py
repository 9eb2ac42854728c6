"""The #@save library: extraction rules, assembly, and kernels importing it."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import body, warnings_of
from sphinx_d2ltabs.cells import parse_cell
from sphinx_d2ltabs.cli import main
from sphinx_d2ltabs.library import (
    LibraryConfig,
    build_library,
    extract_saved_blocks,
    generate_library,
    toc_order,
    write_if_changed,
)

TABS = ["pytorch", "jax"]


def cells(*sources: str) -> list[Any]:
    return [parse_cell(src, 10 * i + 1, TABS) for i, src in enumerate(sources)]


def codes(*sources: str, framework: str = "pytorch") -> list[str]:
    blocks, issues = extract_saved_blocks(cells(*sources), framework, "a.md")
    assert issues == []
    return [b.code for b in blocks]


def test_whole_cell_save_keeps_every_definition() -> None:
    # d2lbook bug: only `f` was saved
    assert codes("#@save\ndef f():\n    return 1\n\ndef g():\n    return 2") == [
        "def f():\n    return 1\n\ndef g():\n    return 2"]


def test_save_mark_variants() -> None:
    assert codes("# @save\nimport os\nimport sys") == ["import os\nimport sys"]
    assert codes("#@save_all\ndef f():\n    pass") == []  # d2lbook bug: counted as #@save
    assert codes("x = 1  #@saved") == []


def test_line_level_saves() -> None:
    src = ("def f(x):  #@save\n    return x\n\n"
           "def not_saved():\n    pass\n\n"
           "class C:  #@save\n    def m(self):\n        return 1\n\n"
           "A = {  #@save\n    'k': 1,\n}\n"
           "@decorator  #@save\ndef deco():\n    pass")
    assert codes(src) == [
        "def f(x):\n    return x",
        "class C:\n    def m(self):\n        return 1",
        "A = {\n    'k': 1,\n}",
        "@decorator\ndef deco():\n    pass",
    ]


def test_save_on_a_non_definition_line_is_reported() -> None:
    blocks, issues = extract_saved_blocks(cells(
        "class C:\n    def m(self):  #@save\n        return 1"), "pytorch", "a.md")
    assert blocks == []
    assert [(i.line, "does not start a top-level definition" in i.message) for i in issues] == [
        (3, True)]


def test_add_to_class_is_folded() -> None:
    text, issues = build_library([("a.md", cells(
        "class Model:  #@save\n    def __init__(self):\n        self.x = 1",
        "@d2l.add_to_class(Model)  #@save\ndef forward(self, y):\n    return self.x + y",
    ))], "pytorch")
    assert issues == []
    assert ("class Model:\n    def __init__(self):\n        self.x = 1\n\n"
            "    def forward(self, y):\n        return self.x + y") in text
    assert "add_to_class" not in text


def test_tabs_decide_the_module() -> None:
    page = cells("#@tab all\n#@save\nSHARED = 1", "#@save\nTORCH = 1",
                 "#@tab jax\n#@save\nJAX = 1")
    torch_text, _ = build_library([("a.md", page)], "pytorch")
    jax_text, _ = build_library([("a.md", page)], "jax")
    assert "SHARED = 1" in torch_text and "TORCH = 1" in torch_text and "JAX" not in torch_text
    assert "SHARED = 1" in jax_text and "JAX = 1" in jax_text and "TORCH" not in jax_text


def test_syntax_error_block_is_commented_out(tmp_path: Path) -> None:
    text, issues = build_library([("ch/a.md", cells("#@save\ndef f(:\n    pass",
                                                     "#@save\nOK = 1"))], "pytorch")
    assert [(i.docpath, i.line) for i in issues] == [("ch/a.md", 3)]
    assert "syntax error" in issues[0].message
    assert "# def f(:" in text and "OK = 1" in text
    compile(text, "lib.py", "exec")


def test_duplicate_names_reported() -> None:
    _, issues = build_library([("a.md", cells("#@save\ndef f():\n    pass")),
                               ("b.md", cells("#@save\ndef f():\n    return 2"))], "pytorch")
    assert len(issues) == 1 and issues[0].docpath == "b.md"
    assert "'f' is saved again (first saved in a.md:3)" in issues[0].message


def make_book(root: Path, pages: dict[str, str]) -> None:
    for name, text in pages.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


BOOK = {
    "index.md": "# Book\n\n```toc\n:maxdepth: 2\n\nchapter_b/index\nchapter_a/index\n```\n",
    "chapter_a/index.md": "# A\n\n```toc\nx\n```\n",
    "chapter_a/x.md": "# X\n\n```{.python .input}\n#@save\ndef from_x():\n    return 'x'\n```\n",
    "chapter_b/index.md": "# B\n\n```toc\ny\n```\n",
    "chapter_b/y.md": ("# Y\n\n```{.python .input}\n#@tab all\n#@save\n"
                       "def from_y():\n    return 'y'\n```\n"),
    "orphan.md": "# O\n\n```{.python .input}\n#@save\nORPHAN = 1\n```\n",
}


def test_toc_order(tmp_path: Path) -> None:
    make_book(tmp_path, BOOK)
    assert toc_order(tmp_path) == ["index.md", "chapter_b/index.md", "chapter_b/y.md",
                                   "chapter_a/index.md", "chapter_a/x.md"]


def test_generate_importable_deterministic(tmp_path: Path) -> None:
    make_book(tmp_path, BOOK)
    config = LibraryConfig(modules={"pytorch": "torch"},
                           headers={"pytorch": "import sys\nd2l = sys.modules[__name__]"})
    result = generate_library(tmp_path, TABS, config)
    assert result.issues == []
    torch_py = tmp_path / "d2l" / "torch.py"
    assert result.files == {"pytorch": str(torch_py), "jax": str(tmp_path / "d2l" / "jax.py")}
    text = torch_py.read_text()
    assert text.startswith("import sys\nd2l = sys.modules[__name__]\n\n#################")
    assert text.index("from_y") < text.index("from_x")  # toc order: chapter_b first
    assert "# Defined in file: ./chapter_a/x.md" in text and "ORPHAN" not in text
    assert (tmp_path / "d2l" / "__init__.py").exists()
    spec = importlib.util.spec_from_file_location("d2l_torch_test", torch_py)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["d2l_torch_test"] = module
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    finally:
        del sys.modules["d2l_torch_test"]
    assert module.from_x() == "x" and module.from_y() == "y"
    # same sources: byte-identical, nothing written
    again = generate_library(tmp_path, TABS, config)
    assert again.written == [] and torch_py.read_text() == text
    assert not write_if_changed(torch_py, text)
    assert again.hashes == result.hashes


def test_lib_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_book(tmp_path, BOOK)
    (tmp_path / "conf.py").write_text("d2l_tabs = ['pytorch', 'jax']\n"
                                      "d2l_lib_modules = {'pytorch': 'torch'}\n")
    assert main(["lib", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "pytorch: " in out and "torch.py (written)" in out
    assert (tmp_path / "d2l" / "jax.py").read_text().count("def from_y") == 1


CHAPTER_1 = ("# Chapter 1\n\n```{.python .input}\n#@tab all\n#@save\n"
             "def greet(name):\n    return 'hello ' + name\n```\n")
CHAPTER_2 = ("# Chapter 2\n\n```{.python .input}\n#@tab all\n"
             "from d2l import {module} as d2l\nprint(d2l.greet('{framework}'))\n```\n")


@pytest.fixture
def two_chapters(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    make_book(src, {
        "conf.py": ("extensions = ['sphinx_d2ltabs']\nproject = 'lib'\n"
                    "d2l_tabs = ['alpha', 'beta']\nexclude_patterns = ['d2l']\n"),
        "index.md": "# Lib\n\n```toc\nch1\nch2\n```\n",
        "ch1.md": CHAPTER_1,
        "ch2.md": ("# Chapter 2\n\n```{.python .input}\nfrom d2l import alpha as d2l\n"
                   "print(d2l.greet('alpha-kernel'))\n```\n\n```{.python .input}\n#@tab beta\n"
                   "from d2l import beta as d2l\nprint(d2l.greet('beta-kernel'))\n```\n"),
    })
    return src


def test_later_chapter_kernels_import_the_generated_package(make_app: Any,
                                                           two_chapters: Path) -> None:
    app = make_app("html", srcdir=two_chapters)
    app.build()
    assert warnings_of(app) == []
    text = body(app, "ch2.html").get_text()
    assert "hello alpha-kernel" in text and "hello beta-kernel" in text
    # a saved-block edit regenerates the package and re-runs the pages of the framework
    ch1 = two_chapters / "ch1.md"
    ch1.write_text(ch1.read_text().replace("'hello '", "'bonjour '"))
    app = make_app("html", srcdir=two_chapters)
    app.build()
    report = json.loads(Path(app.outdir, "d2l_execution_report.json").read_text())
    rerun = sorted((e["docname"], e["framework"]) for e in report["pages"] if not e["cached"])
    assert rerun == [("ch1", "alpha"), ("ch1", "beta"), ("ch2", "alpha"), ("ch2", "beta")]
    text = body(app, "ch2.html").get_text()
    assert "bonjour alpha-kernel" in text and "bonjour beta-kernel" in text


def test_library_warnings_name_file_and_line(make_app: Any, two_chapters: Path) -> None:
    (two_chapters / "ch1.md").write_text(CHAPTER_1 + "\n```{.python .input}\n#@save\n"
                                         "def broken(:\n    pass\n```\n")
    app = make_app("html", srcdir=two_chapters, confoverrides={"d2l_execute": "off"})
    app.build()
    assert [w for w in warnings_of(app) if "[d2l.library]" in w] == [
        "ch1.md:12: WARNING: #@save block has a syntax error: invalid syntax "
        "(written commented out) [d2l.library]"]
