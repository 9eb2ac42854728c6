"""The #@save library: extraction rules, assembly, and kernels importing it."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from helpers import body, warnings_of
from sphinx_d2ltabs.cells import parse_cell
from sphinx_d2ltabs.cli import main
from sphinx_d2ltabs.library import (
    BANNER,
    D2LBOOK_BANNER,
    LibraryConfig,
    SavedBlock,
    assemble_module,
    extract_saved_blocks,
    fold_add_to_class,
    generate_library,
    library_hash,
    toc_order,
    write_if_changed,
)
from sphinx_d2ltabs.library.files import existing_header
from sphinx_d2ltabs.pages import PageReader

TABS = ["pytorch", "jax"]


def cells(*sources: str) -> list[Any]:
    """Cells whose fences are on lines 1, 11, 21, ... (bodies start one line later)."""
    return [parse_cell(src, 10 * i + 1, TABS) for i, src in enumerate(sources)]


def extract(*sources: str, framework: str = "pytorch") -> list[SavedBlock]:
    blocks, issues = extract_saved_blocks(cells(*sources), framework, "a.md")
    assert issues == []
    return blocks


def codes(*sources: str, framework: str = "pytorch") -> list[str]:
    return [b.code for b in extract(*sources, framework=framework)]


def load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


# ------------------------------------------------------------- d2lbook acceptance case 7
def test_case7_whole_cell_save_keeps_every_definition() -> None:
    # d2lbook bug (case 7 / section 4.2): only `f` was saved
    blocks = extract("#@save\ndef f():\n    return 1\n\ndef g():\n    return 2")
    assert [(b.code, b.names, b.line) for b in blocks] == [
        ("def f():\n    return 1\n\ndef g():\n    return 2", ("f", "g"), 3)]


def test_case7_line_level_def_and_spaced_mark() -> None:
    assert codes("def f():  #@save\n    return 1\n\ndef g():\n    return 2") == [
        "def f():\n    return 1"]
    assert codes("# @save\ndef f():\n    return 1") == ["def f():\n    return 1"]
    assert codes("def f():  # @save\n    return 1") == ["def f():\n    return 1"]


def test_case7_save_marks_stay_visible_in_rendered_code() -> None:
    (cell,) = cells("#@save\ndef f():\n    return 1")
    assert cell.code_for("pytorch").startswith("#@save\n")


def test_save_mark_must_be_whole() -> None:
    assert codes("#@save_all\ndef f():\n    pass") == []  # d2lbook bug: counted as #@save
    assert codes("x = 1  #@saved") == []
    assert codes("x = 1  #@save-ish") == ["x = 1"]  # a word boundary ends the mark
    assert codes("s = '#@save'\nt = '''\n#@save\n'''") == []  # in strings: not a mark


# --------------------------------------------------------- d2lbook section 4.2 consequences
def test_line_level_assignment_saves_only_that_statement() -> None:
    # d2lbook saved A, B, C (every following top-level line up to a blank line)
    assert codes("A = 1  #@save\nB = 2\nC = 3\n\nD = 4") == ["A = 1"]


def test_import_cell_keeps_author_order() -> None:
    # d2lbook ran isort on it
    assert codes("#@save\nimport sys\nimport collections\nfrom os import path\n\nimport abc") == [
        "import sys\nimport collections\nfrom os import path\n\nimport abc"]


def test_several_marks_in_one_cell() -> None:
    blocks = extract("X = 1  #@save\nprint(X)\ndef f():  #@save\n    return X\nY = f()  #@save")
    assert [(b.code, b.line) for b in blocks] == [
        ("X = 1", 2), ("def f():\n    return X", 4), ("Y = f()", 6)]


def test_mark_on_an_indented_line_is_reported() -> None:
    # d2lbook saved the indented method as broken code
    blocks, issues = extract_saved_blocks(cells(
        "class C:\n    def m(self):  #@save\n        return 1",
        "X = f(1,\n      2)  #@save"), "pytorch", "a.md")
    assert blocks == []
    assert [(i.line, i.message) for i in issues] == [
        (3, "#@save on a line that does not start a top-level definition (ignored)"),
        (13, "#@save on a line that does not start a top-level definition (ignored)")]


def test_add_to_class_without_saved_class_is_kept() -> None:
    module = assemble_module([("a.md", cells(
        "@d2l.add_to_class(Trainer)  #@save\ndef fit(self):\n    return 1"))], "pytorch")
    assert module.issues == []
    assert "@d2l.add_to_class(Trainer)\ndef fit(self):\n    return 1\n" in module.text
    # (the build reports it once for all frameworks: see test_library_safety.py)
    assert [m.cls for m in module.unplaced] == ["Trainer"]


# ------------------------------------------------------------------------ line level
def test_line_level_def_class_assignment_decorator() -> None:
    src = ("def f(x):  #@save\n    return x\n\n"
           "def not_saved():\n    pass\n\n"
           "class C:  #@save\n    def m(self):\n        return 1\n\n"
           "A = {  #@save\n    'k': 1,\n}\n"
           "a, (b, *c) = 1, (2, 3)  #@save\n"
           "@decorator  #@save\n@other(\n    1)\ndef deco():\n    pass\n"
           "@decorator\ndef on_def_line():  #@save\n    pass")
    blocks = extract(src)
    assert [(b.code, b.names, b.line) for b in blocks] == [
        ("def f(x):\n    return x", ("f",), 2),
        ("class C:\n    def m(self):\n        return 1", ("C",), 8),
        ("A = {\n    'k': 1,\n}", ("A",), 12),
        ("a, (b, *c) = 1, (2, 3)", ("a", "b", "c"), 15),
        ("@decorator\n@other(\n    1)\ndef deco():\n    pass", ("deco",), 16),
        ("@decorator\ndef on_def_line():\n    pass", ("on_def_line",), 21),
    ]


def test_lone_mark_saves_the_one_line_statements_right_below() -> None:
    # d2l-zh: "#@save" / DATA_HUB / DATA_URL (d2lbook's block); not past a blank line, not a
    # bare expression, not after a multi-line statement
    assert codes("import os\n\n#@save\nDATA_HUB = dict()\nDATA_URL = 'u'\nprint(1)\n") == [
        "DATA_HUB = dict()\nDATA_URL = 'u'"]
    assert codes("#@x\n#@save\nA = 1\n\nB = 2\n") == ["A = 1"]
    assert codes("x = 0\n#@save\ndef f():\n    pass\nC = 3\n") == ["def f():\n    pass"]


def test_lone_mark_inside_a_cell_saves_the_next_statement() -> None:
    assert codes("x = 1\n#@save\n\n# a comment\ndef g():\n    pass\ny = 2") == [
        "def g():\n    pass"]


def test_magics_do_not_prevent_line_level_saves() -> None:
    assert codes("%matplotlib inline\n!ls\nimport os\ndef f():  #@save\n    return os.sep") == [
        "def f():\n    return os.sep"]


def test_line_level_save_in_a_cell_that_does_not_parse() -> None:
    blocks, issues = extract_saved_blocks(cells(
        "def f():  #@save\n    return 1\n\nthis is not python\n"), "pytorch", "a.md")
    assert issues == [] and [b.code for b in blocks] == ["def f():\n    return 1"]


def test_source_lines_skip_markers() -> None:
    blocks = extract("#@tab all\n#@hide_output\n\n#@save\n\nimport os\nX = 1",
                     "#@tab pytorch\nprint(1)\nY = 2  #@save")
    assert [(b.code, b.line) for b in blocks] == [("import os\nX = 1", 7), ("Y = 2", 14)]


# ----------------------------------------------------------------------------- tabs
def test_tabs_decide_the_module() -> None:
    page = cells("#@tab all\n#@save\nSHARED = 1", "#@save\nTORCH = 1",
                 "#@tab jax\n#@save\nJAX = 1", "%%tab pytorch, jax\n#@save\nBOTH = 1")
    torch_text = assemble_module([("a.md", page)], "pytorch").text
    jax_text = assemble_module([("a.md", page)], "jax").text
    assert "SHARED = 1" in torch_text and "TORCH = 1" in torch_text and "JAX" not in torch_text
    assert "SHARED = 1" in jax_text and "JAX = 1" in jax_text and "TORCH" not in jax_text
    assert "BOTH = 1" in torch_text and "BOTH = 1" in jax_text


def test_tab_selected_branches_are_flattened() -> None:
    src = ("#@tab all\n#@save\ndef lib():\n    pass\n"
           "if tab.selected('pytorch'):\n    NAME = 'torch'\n"
           "if tab.selected('jax'):\n    NAME = 'jax'")
    assert codes(src) == ["def lib():\n    pass\nNAME = 'torch'"]
    assert codes(src, framework="jax") == ["def lib():\n    pass\nNAME = 'jax'"]


# --------------------------------------------------------------------- add_to_class
def test_add_to_class_is_folded() -> None:
    module = assemble_module([("a.md", cells(
        "class Model:  #@save\n    def __init__(self):\n        self.x = 1",
        "@d2l.add_to_class(Model)  #@save\ndef forward(self, y):\n    return self.x + y",
    ))], "pytorch")
    text = module.text
    assert module.issues == []
    assert ("class Model:\n    def __init__(self):\n        self.x = 1\n\n"
            "    def forward(self, y):\n        return self.x + y") in text
    assert "add_to_class" not in text


def test_add_to_class_folding_details() -> None:
    blocks = [
        SavedBlock("class A:\n    x = 1", "a.md", 2, "pytorch", ("A",)),
        SavedBlock("class A:\n    x = 2\n\nAFTER = 1", "b.md", 2, "pytorch", ("A", "AFTER")),
        SavedBlock("@d2l.add_to_class(A)\n@staticmethod\ndef one():\n    return 1\n\n"
                   "KEEP = 1\n\n@d2l.add_to_class(A)\ndef two(self):\n    return 2",
                   "c.md", 5, "pytorch", ("KEEP",)),
        SavedBlock("class B:\n    pass\n\n@d2l.add_to_class(B)\ndef same_block(self):\n"
                   "    pass", "d.md", 2, "pytorch", ("B",)),
    ]
    out = fold_add_to_class(blocks)
    assert [b.code for b in out] == [
        "class A:\n    x = 1",
        # into the most recent class A, right after the class (not after AFTER)
        "class A:\n    x = 2\n\n    @staticmethod\n    def one():\n        return 1\n\n"
        "    def two(self):\n        return 2\n\nAFTER = 1",
        "KEEP = 1",
        # the class is defined in the same block: left as is
        "class B:\n    pass\n\n@d2l.add_to_class(B)\ndef same_block(self):\n    pass",
    ]
    assert (out[2].line, out[2].names) == (10, ("KEEP",))
    for block in out:
        compile(block.code, block.docpath, "exec")


def test_fully_folded_block_disappears() -> None:
    out = fold_add_to_class([
        SavedBlock("class A:\n    pass", "a.md", 2, "jax", ("A",)),
        SavedBlock("@d2l.add_to_class(A)\ndef m(self):\n    pass", "b.md", 2, "jax", ()),
    ])
    assert [b.code for b in out] == ["class A:\n    pass\n\n    def m(self):\n        pass"]


# ----------------------------------------------------------------------- problems
def test_syntax_error_block_is_commented_out() -> None:
    module = assemble_module([("ch/a.md", cells("#@save\nX = 1\ndef f(:\n    pass",
                                                "#@save\nOK = 1"))], "pytorch")
    text, issues = module.text, module.issues
    assert [(i.docpath, i.line) for i in issues] == [("ch/a.md", 4)]
    assert issues[0].message == ("#@save block has a syntax error: invalid syntax "
                                 "(written commented out)")
    assert "# X = 1\n# def f(:\n#     pass\n" in text and "\nOK = 1\n" in text
    compile(text, "lib.py", "exec")


def test_duplicate_names_reported() -> None:
    issues = assemble_module(
        [("a.md", cells("#@save\ndef f():\n    pass")),
         ("b.md", cells("#@save\nX = 1\nX = 2\n\ndef f():\n    return 2"))], "pytorch").issues
    # X twice in one block is not reported; f in two blocks is, naming both places
    assert [(i.docpath, i.line, i.message) for i in issues] == [
        ("b.md", 3, "'f' is saved again (first saved in a.md:3); the later definition wins")]


# ------------------------------------------------------------------------- assembly
def test_module_layout() -> None:
    module = assemble_module(
        [("ch/a.md", cells("#@save\nA = 1", "B = 2  #@save")), ("b.md", cells("#@save\nC = 3"))],
        "pytorch", header="import sys\nd2l = sys.modules[__name__]\n",
        aliases="ones = torch.ones\nzeros = torch.zeros\n")
    assert module.issues == []
    assert module.text == (
        "import sys\nd2l = sys.modules[__name__]\n\n"
        "#################   WARNING   ################\n"
        "# The below part is generated automatically through:\n"
        "#    sphinx_d2ltabs (the #@save blocks of the book)\n"
        "# Don't edit it directly\n\n"
        "# Defined in file: ./ch/a.md\nA = 1\n\n\n"
        "# Defined in file: ./ch/a.md\nB = 2\n\n\n"
        "# Defined in file: ./b.md\nC = 3\n\n\n"
        "# Alias defined in config\nones = torch.ones\nzeros = torch.zeros\n")


def test_header_kept_verbatim_and_empty_module() -> None:
    header = "# -*- coding: utf-8 -*-\n'''Custom.'''\n\nimport numpy as np  # keep   \n"
    assert assemble_module([], "pytorch", header=header).text == header + "\n" + BANNER
    assert assemble_module([], "pytorch").text == BANNER


def test_build_is_deterministic() -> None:
    docs = [("a.md", cells("#@save\nimport os\ndef f():\n    return os.sep",
                           "class M:  #@save\n    pass",
                           "@d2l.add_to_class(M)  #@save\ndef g(self):\n    pass"))]
    first = assemble_module(docs, "pytorch").text
    assert all(assemble_module(docs, "pytorch").text == first for _ in range(3))
    assert first.endswith("pass\n") and not first.endswith("\n\n")
    assert library_hash(first) == library_hash(assemble_module(docs, "pytorch").text)
    assert len(library_hash(first)) == 64


# ------------------------------------------------------------------------- files
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
                       "def from_y():\n    return 'y'\n```\n\n"
                       "```{.python .input}\n#@tab jax\nfrom_y()\n```\n"),
    "orphan.md": "# O\n\n```{.python .input}\n#@save\nORPHAN = 1\n```\n",
}


def test_toc_order(tmp_path: Path) -> None:
    make_book(tmp_path, BOOK)
    assert toc_order(tmp_path) == ["index.md", "chapter_b/index.md", "chapter_b/y.md",
                                   "chapter_a/index.md", "chapter_a/x.md"]


def test_toc_order_globs_missing_and_cycles(tmp_path: Path) -> None:
    make_book(tmp_path, {
        "index.md": "# B\n\n```toc\nparts/*\nmissing\nparts/b\n../outside\nindex\n```\n",
        "parts/c.md": "# C\n\n```toc\n../index\nd.md\n```\n",
        "parts/a.md": "# A\n",
        "parts/b.md": "# B\n",
        "parts/d.md": "# D\n",
        "../outside.md": "# not in the book\n",
    })
    assert toc_order(tmp_path) == ["index.md", "parts/a.md", "parts/b.md", "parts/c.md",
                                   "parts/d.md"]
    assert toc_order(tmp_path, index="nope") == []


def test_write_if_changed(tmp_path: Path) -> None:
    path = tmp_path / "pkg" / "mod.py"
    assert write_if_changed(path, "X = 1\n")
    assert (tmp_path / "pkg" / "__init__.py").read_text() == ""
    assert not write_if_changed(path, "X = 1\n")
    (tmp_path / "pkg" / "__init__.py").write_text("VERSION = 1\n")
    assert write_if_changed(path, "X = 2\n") and path.read_text() == "X = 2\n"
    assert (tmp_path / "pkg" / "__init__.py").read_text() == "VERSION = 1\n"  # not replaced
    assert sorted(os.listdir(tmp_path / "pkg")) == ["__init__.py", "mod.py"]  # no temp left
    assert path.stat().st_mode & 0o777 == 0o644


def test_generate_importable_deterministic(tmp_path: Path) -> None:
    make_book(tmp_path, BOOK)
    config = LibraryConfig(modules={"pytorch": "torch"},
                           headers={"pytorch": "import sys\nd2l = sys.modules[__name__]"})
    result = generate_library(tmp_path, TABS, config)
    assert result.issues == []
    torch_py = tmp_path / "d2l" / "torch.py"
    assert result.files == {"pytorch": str(torch_py), "jax": str(tmp_path / "d2l" / "jax.py")}
    assert result.written == [str(torch_py), str(tmp_path / "d2l" / "jax.py")]
    text = torch_py.read_text()
    assert text.startswith("import sys\nd2l = sys.modules[__name__]\n\n#################")
    assert text.index("from_y") < text.index("from_x")  # toc order: chapter_b first
    assert "# Defined in file: ./chapter_a/x.md" in text and "ORPHAN" not in text
    assert (tmp_path / "d2l" / "__init__.py").exists()
    module = load(torch_py, "d2l_torch_test")
    assert module.from_x() == "x" and module.from_y() == "y"
    # same sources: byte-identical, nothing written
    again = generate_library(tmp_path, TABS, config)
    assert again.written == [] and torch_py.read_text() == text
    assert not write_if_changed(torch_py, text)
    assert again.hashes == result.hashes == {
        fw: library_hash(Path(p).read_text()) for fw, p in result.files.items()}


def test_shared_cells_go_to_the_frameworks_of_their_page(tmp_path: Path) -> None:
    # as d2lbook: `#@tab all` cells belong to the frameworks the page's cells name; a page
    # of shared cells alone is every framework's
    make_book(tmp_path, {
        "index.md": "# I\n\n```toc\nshared\nboth\ntorch_only\n```\n",
        "shared.md": "# S\n\n```{.python .input}\n#@tab all\n#@save\nS = 1\n```\n",
        "both.md": ("# B\n\n```{.python .input}\n#@tab all\n#@save\nB = 1\n```\n\n"
                    "```{.python .input}\n#@tab jax\nB\n```\n"),
        "torch_only.md": ("# T\n\n```{.python .input}\n#@tab all\n#@save\nT = 1\n```\n\n"
                          "```{.python .input}\nT\n```\n"),
    })
    result = generate_library(tmp_path, ["pytorch", "jax"], LibraryConfig())
    torch = Path(result.files["pytorch"]).read_text()
    jax = Path(result.files["jax"]).read_text()
    assert "S = 1" in torch and "S = 1" in jax
    assert "B = 1" in jax and "B = 1" in torch  # the default framework is never left out
    assert "T = 1" in torch and "T = 1" not in jax


def test_generate_modules_only_where_needed(tmp_path: Path) -> None:
    make_book(tmp_path, {
        "index.md": "# I\n\n```toc\na\n```\n",
        "a.md": ("# A\n\n```{.python .input}\n#@tab all\n#@save\ndef f(:\n    pass\n```\n\n"
                 "```{.python .input}\n#@save\nX = 1\n```\n"),
        "b.md": "# B\n\n```{.python .input}\n#@tab jax\n#@save\nJ = 1\n```\n",
    })
    result = generate_library(tmp_path, ["pytorch", "jax", "mxnet"],
                              LibraryConfig(package="mylib", directory="lib",
                                            headers={"mxnet": "import math"}))
    # pytorch (the default, named by the unmarked cell): both blocks, the broken `#@tab all`
    # one written commented out; jax and mxnet are not on page a (only the shared cell
    # would bring them): mxnet gets its header alone, jax nothing
    assert sorted(result.files) == ["mxnet", "pytorch"]
    assert "X = 1" not in (tmp_path / "lib" / "mylib" / "mxnet.py").read_text()
    assert result.files["mxnet"] == str(tmp_path / "lib" / "mylib" / "mxnet.py")
    # the `#@tab all` cell's issue is reported once, not once per framework
    assert [(i.docpath, i.line) for i in result.issues] == [("a.md", 6)]
    only_jax = generate_library(tmp_path, TABS, LibraryConfig(), docs=["b.md"])
    assert list(only_jax.files) == ["jax"] and only_jax.issues == []


def test_module_of_a_framework_that_saves_nothing_any_more_is_removed(tmp_path: Path) -> None:
    make_book(tmp_path, {
        "index.md": "# I\n\n```toc\na\n```\n",
        "a.md": "# A\n\n```{.python .input}\n#@tab all\n#@save\nX = 1\n```\n",
    })
    first = generate_library(tmp_path, ["pytorch", "jax"], LibraryConfig())
    assert sorted(first.files) == ["jax", "pytorch"] and first.removed == []
    (tmp_path / "d2l" / "mine.py").write_text("# the author's own module\n")
    (tmp_path / "a.md").write_text("# A\n\n```{.python .input}\n#@tab jax\n#@save\nX = 1\n```\n")
    second = generate_library(tmp_path, ["pytorch", "jax"], LibraryConfig())
    assert list(second.files) == ["jax"]
    assert second.removed == [str(tmp_path / "d2l" / "pytorch.py")]
    assert not (tmp_path / "d2l" / "pytorch.py").exists()
    assert (tmp_path / "d2l" / "mine.py").exists()  # not generated: kept


def test_generate_reads_each_page_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_book(tmp_path, BOOK)
    reads: list[str] = []
    original = PageReader._read

    def counting(self: PageReader, path: str) -> Any:
        reads.append(path)
        return original(self, path)

    monkeypatch.setattr(PageReader, "_read", counting)
    generate_library(tmp_path, TABS, LibraryConfig())
    assert len(reads) == len(set(reads)) == 5
    reads.clear()
    result = generate_library(tmp_path, TABS, LibraryConfig(), docs=["chapter_a/x.md"])
    assert len(reads) == 1 and "from_y" not in Path(result.files["pytorch"]).read_text()


def test_stdlib_book_imports_and_later_chapter_uses_earlier(tmp_path: Path) -> None:
    make_book(tmp_path, {
        "index.md": "# Book\n\n```toc\nch1/index\nch2/index\n```\n",
        "ch1/index.md": "# Ch 1\n\n```toc\nbasics\n```\n",
        "ch1/basics.md": ("# Basics\n\n```{.python .input}\n#@tab all\n#@save\n"
                          "import math\nimport collections\n```\n\n"
                          "```{.python .input}\n#@tab all\ndef norm(v):  #@save\n"
                          "    return math.sqrt(sum(x * x for x in v))\n\n"
                          "print(norm([3, 4]))\n```\n"
                          "\n```{.python .input}\n#@tab all\nclass Counter:  #@save\n"
                          "    def __init__(self, words):\n"
                          "        self.c = collections.Counter(words)\n```\n"),
        "ch2/index.md": "# Ch 2\n\n```toc\nmore\n```\n",
        "ch2/more.md": ("# More\n\n```{.python .input}\n#@tab all\n"
                        "@d2l.add_to_class(Counter)  #@save\ndef top(self):\n"
                        "    return self.c.most_common(1)[0][0]\n```\n\n"
                        "```{.python .input}\n#@tab all\n#@save\ndef unit(v):\n"
                        "    n = d2l.norm(v)\n    return [x / n for x in v]\n```\n"),
    })
    config = LibraryConfig(modules={"pytorch": "python"},
                           headers=dict.fromkeys(TABS, "import sys\n\nd2l = sys.modules[__name__]"))
    result = generate_library(tmp_path, TABS, config)
    assert result.issues == []
    text = Path(result.files["pytorch"]).read_text()
    assert text.index("./ch1/basics.md") < text.index("./ch2/more.md")
    assert text.index("def norm") < text.index("def unit")
    assert "    def top(self):" in text and "add_to_class" not in text
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module("d2l.python")
        assert module.unit([3, 4]) == [0.6, 0.8]
        assert module.Counter(["a", "b", "a"]).top() == "a"
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == "d2l" or n.startswith("d2l.")]:
            del sys.modules[name]
    assert load(Path(result.files["jax"]), "d2l_jax_test").unit([0, 2]) == [0.0, 1.0]


def test_lib_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_book(tmp_path, BOOK)
    (tmp_path / "conf.py").write_text("d2l_tabs = ['pytorch', 'jax']\n"
                                      "d2l_lib_modules = {'pytorch': 'torch'}\n")
    assert main(["lib", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "pytorch: " in out and "torch.py (written)" in out
    assert (tmp_path / "d2l" / "jax.py").read_text().count("def from_y") == 1


# ------------------------------------------- hand-written headers (d2lbook's rule)
#: As d2l-en's d2l/jax.py: hand-written code above d2lbook's banner, two blank lines before it.
TOP = "DATA_HUB = dict()\n\nimport math\n\nBASE = 21\n\n\n"
D2LBOOK_MODULE = TOP + D2LBOOK_BANNER + "# Don't edit it directly\n\nOLD = 1\n"


def test_existing_header(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    assert existing_header(str(path)) == ""  # no file
    path.write_text(D2LBOOK_MODULE)
    assert existing_header(str(path)) == TOP
    path.write_bytes((TOP + BANNER + "X = 1\n").replace("\n", "\r\n").encode())
    assert existing_header(str(path)) == TOP
    path.write_text("BASE = 21\n")  # no banner: nothing is a header
    assert existing_header(str(path)) == ""
    path.write_bytes(b"X = '\xff'\n" + BANNER.encode())  # not UTF-8
    assert existing_header(str(path)) == ""


def test_header_above_the_banner_is_kept(tmp_path: Path) -> None:
    make_book(tmp_path, BOOK)
    (tmp_path / "d2l").mkdir()
    module = tmp_path / "d2l" / "pytorch.py"
    module.write_text(D2LBOOK_MODULE)
    config = LibraryConfig(keep_headers=True)
    first = generate_library(tmp_path, TABS, config)
    assert first.issues == [] and str(module) in first.written
    text = module.read_text()
    assert text.startswith("DATA_HUB = dict()\n\nimport math\n\nBASE = 21\n\n" + BANNER)
    assert "OLD" not in text and "def from_x" in text
    assert (tmp_path / "d2l" / "jax.py").read_text().startswith(BANNER)  # none on disk
    # the round trip changes nothing: the next build writes nothing, same hashes
    again = generate_library(tmp_path, TABS, config)
    assert again.written == [] and again.hashes == first.hashes and again.issues == []
    # the header is edited in the file, as with d2lbook: kept, and the hash follows it
    module.write_text(text.replace("BASE = 21", "BASE = 22"))
    edited = generate_library(tmp_path, TABS, config)
    assert edited.written == [] and "BASE = 22" in module.read_text()
    assert edited.hashes["pytorch"] != first.hashes["pytorch"]
    # a framework that saves nothing keeps its module with its header
    emptied = generate_library(tmp_path, TABS, config, docs=["index.md"])
    assert emptied.removed == [str(tmp_path / "d2l" / "jax.py")]
    assert module.read_text() == TOP.replace("21", "22").rstrip("\n") + "\n\n" + BANNER


def test_configured_header_wins_over_the_file(tmp_path: Path) -> None:
    make_book(tmp_path, BOOK)
    (tmp_path / "d2l").mkdir()
    module = tmp_path / "d2l" / "pytorch.py"
    module.write_text(D2LBOOK_MODULE)
    generate_library(tmp_path, TABS, LibraryConfig(keep_headers=True))
    result = generate_library(tmp_path, TABS, LibraryConfig(
        keep_headers=True, headers={"pytorch": "import os"}))
    assert result.issues == [] and module.read_text().startswith("import os\n\n" + BANNER)
    generate_library(tmp_path, TABS, LibraryConfig(keep_headers=True, headers={"pytorch": ""}))
    assert module.read_text().startswith(BANNER)  # an empty one: no header


def test_lib_cli_keeps_the_header(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_book(tmp_path, BOOK)
    (tmp_path / "conf.py").write_text("d2l_tabs = ['pytorch', 'jax']\n")
    (tmp_path / "d2l").mkdir()
    (tmp_path / "d2l" / "pytorch.py").write_text(D2LBOOK_MODULE)
    assert main(["lib", str(tmp_path)]) == 0
    assert "warning" not in capsys.readouterr().err
    text = (tmp_path / "d2l" / "pytorch.py").read_text()
    assert text.startswith(TOP.rstrip("\n") + "\n\n" + BANNER) and "def from_x" in text


# ------------------------------------------------ Sphinx builds (kernels, slower)
CHAPTER_1 = ("# Chapter 1\n\n```{.python .input}\n#@tab all\n#@save\n"
             "def greet(name):\n    return 'hello ' + name\n```\n")


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
    report = json.loads(Path(app.doctreedir, "d2l_execution_report.json").read_text())
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


def test_second_build_with_a_hand_written_header_is_a_no_op(make_app: Any,
                                                            tmp_path: Path) -> None:
    # d2lbook's module with a hand-written top: the first build keeps the top (read from
    # the file, not the configuration) and the second build changes nothing at all
    src = tmp_path / "src"
    make_book(src, {
        "conf.py": ("extensions = ['sphinx_d2ltabs']\nproject = 'header'\n"
                    "d2l_tabs = ['alpha']\nexclude_patterns = ['d2l']\n"),
        "index.md": "# Header\n\n```toc\nch\n```\n",
        "ch.md": ("# Ch\n\n```{.python .input}\n#@save\ndef twice(x):\n    return 2 * x\n"
                  "```\n\n```{.python .input}\nfrom d2l import alpha as d2l\n"
                  "print('answer', d2l.twice(d2l.BASE))\n```\n"),
        "d2l/alpha.py": D2LBOOK_MODULE,
    })
    module = src / "d2l" / "alpha.py"
    app = make_app("html", srcdir=src)
    app.build()
    assert warnings_of(app) == []
    assert "answer 42" in body(app, "ch.html").get_text()
    text = module.read_text()
    assert text.startswith(TOP.rstrip("\n")) and "def twice" in text
    stamp = module.stat().st_mtime_ns
    app = make_app("html", srcdir=src)
    app.build()
    status = app.status.getvalue()
    assert "nothing changed since the last build" in status
    assert "0 added, 0 changed, 0 removed" in status
    assert app.config.d2l_lib_headers == {}
    assert module.read_text() == text and module.stat().st_mtime_ns == stamp
