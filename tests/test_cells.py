"""The cell model: fence attributes, tab markers, display markers, branches."""

from __future__ import annotations

import pytest

from sphinx_d2ltabs.cells import ALL, flatten_tab_branches, parse_cell, parse_fence_info

TABS = ["pytorch", "mxnet", "tensorflow"]


@pytest.mark.parametrize(
    ("info", "is_cell", "language"),
    [
        ("{.python .input}", True, "python"),
        ("{.input .python}", True, "python"),
        ("{.python .input n=3}", True, "python"),
        ("{.python .input  n=1}", True, "python"),
        ("{.input}", True, "python"),
        (".python .input", True, "python"),
        ("python", False, "python"),
        ("bash", False, "bash"),
        ("{.json .output n=3}", False, "json"),
        ("toc", False, "toc"),
        ("", False, "python"),
    ],
)
def test_fence_info(info: str, is_cell: bool, language: str) -> None:
    attrs = parse_fence_info(info)
    assert attrs.is_cell is is_cell
    assert attrs.language == language


def test_fence_keyvals() -> None:
    attrs = parse_fence_info("{#my-id .python .input n=12 key='a b'}")
    assert attrs.identifier == "my-id"
    assert attrs.get("n") == "12"
    assert attrs.get("key") == "a b"
    assert parse_fence_info("{.json .output}").is_output


def test_unmarked_cell_belongs_to_default_tab_only() -> None:
    cell = parse_cell("1 + 2", 3, TABS)
    assert cell.frameworks == ("pytorch",)
    assert cell.belongs_to("pytorch") and not cell.belongs_to("mxnet")
    assert cell.line == 3


@pytest.mark.parametrize(
    ("source", "frameworks"),
    [
        ("#@tab mxnet\nx", ("mxnet",)),
        ("# @tab mxnet\nx", ("mxnet",)),
        ("#@tab mxnet, tensorflow\nx", ("mxnet", "tensorflow")),
        ("#@tab all\nx", (ALL,)),
        ("%%tab tensorflow\nx", ("tensorflow",)),
        ("%%tab pytorch, mxnet\nx", ("pytorch", "mxnet")),
        # case-insensitive (d2lbook's bug 5 fixed)
        ("#@tab PyTorch\nx", ("pytorch",)),
        ("%%tab ALL\nx", (ALL,)),
        # the first marker wins, as in d2lbook (search over the whole cell)
        ("x = 1\n#@tab mxnet\n#@tab pytorch", ("mxnet",)),
    ],
)
def test_tab_markers(source: str, frameworks: tuple[str, ...]) -> None:
    assert parse_cell(source, 1, TABS).frameworks == frameworks


def test_marker_lines_are_not_shown() -> None:
    cell = parse_cell("#@tab mxnet\nimport mxnet\n%%tab mxnet\nx = 1", 1, TABS)
    assert cell.code_for("mxnet") == "import mxnet\nx = 1"


def test_unknown_framework_is_reported_not_lost() -> None:
    cell = parse_cell("#@tab jax, mxnet\nx = 1", 1, TABS)
    assert cell.frameworks == ("mxnet",)
    assert cell.unknown == ("jax",)
    assert cell.code_for("jax") == "x = 1"


def test_empty_tab_marker_flagged() -> None:
    cell = parse_cell("#@tab\nx = 1", 1, TABS)
    assert cell.empty_marker
    assert cell.frameworks == ("pytorch",)


@pytest.mark.parametrize(
    ("marker", "hide_code", "hide_output"),
    [
        ("#@hide", True, True),
        ("#@hide_code", True, False),
        ("#@hide_output", False, True),
        ("#@hide_all", True, True),
        ("# Hide code", True, False),
        ("# Hide outputs", False, True),
        ("#@HIDE_OUTPUT", False, True),
        ("", False, False),
    ],
)
def test_hide_markers(marker: str, hide_code: bool, hide_output: bool) -> None:
    cell = parse_cell(f"{marker}\nprint(1)", 1, TABS)
    assert (cell.hide_code, cell.hide_output) == (hide_code, hide_output)
    assert cell.code_for("pytorch") == "print(1)"


def test_trailing_hide_marker_is_cut() -> None:
    cell = parse_cell("x = 1  #@hide_output\ny = 2", 1, TABS)
    assert cell.hide_output
    assert cell.code_for("pytorch") == "x = 1\ny = 2"


def test_save_marker_stays_visible() -> None:
    cell = parse_cell("#@save\ndef f():\n    return 1", 1, TABS)
    assert cell.code_for("pytorch").startswith("#@save")


def test_load_ext_cell_is_setup_only() -> None:
    cell = parse_cell("%load_ext d2lbook.tab\ntab.interact_select(['mxnet', 'pytorch'])", 1, TABS)
    assert cell.setup_only


def test_tab_selected_branches_flattened() -> None:
    source = (
        "x = 1\n"
        "if tab.selected('pytorch', 'mxnet'):\n"
        "    import torch\n"
        "\n"
        "    y = torch.ones(2)\n"
        "if tab.selected('tensorflow'):\n"
        "    import tensorflow as tf\n"
        "print(x)"
    )
    cell = parse_cell("#@tab all\n" + source, 1, TABS)
    assert cell.code_for("pytorch") == "x = 1\nimport torch\n\ny = torch.ones(2)\nprint(x)"
    assert cell.code_for("mxnet") == "x = 1\nimport torch\n\ny = torch.ones(2)\nprint(x)"
    assert cell.code_for("tensorflow") == "x = 1\nimport tensorflow as tf\nprint(x)"


def test_nested_branch_indentation() -> None:
    lines = ["def f():", "    if tab.selected('jax'):", "        return 1", "    return 2"]
    assert flatten_tab_branches(lines, "jax") == ["def f():", "    return 1", "    return 2"]
    assert flatten_tab_branches(lines, "pytorch") == ["def f():", "    return 2"]
