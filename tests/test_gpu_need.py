"""A page's GPU need: the ``#@gpus`` mark, d2lbook's resource.py rule, ``d2l_gpus``."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from helpers import body
from sphinx_d2ltabs.cells import Cell, parse_cell
from sphinx_d2ltabs.config import ConfigError, D2lConfig, from_mapping
from sphinx_d2ltabs.dialect import read_document
from sphinx_d2ltabs.gpu_need import (
    MARK_LINE,
    MAX_MARK,
    RULE_ALL,
    RULE_MAX,
    RULE_ONE,
    mark_problems,
    marked_gpus,
    page_gpus,
    rule_gpus,
)
from sphinx_d2ltabs.runner import plan_page
from sphinx_d2ltabs.warnings_ import D2lWarning

TABS = ["pytorch", "jax"]


def _cfg(**values: Any) -> D2lConfig:
    return from_mapping({"tabs": TABS, **values})


def _cells(text: str, tabs: list[str] = TABS) -> list[Cell]:
    return read_document(text, tabs).cells


def _gpus(text: str, cfg: D2lConfig, tmp_path: Any) -> dict[str, int]:
    path = tmp_path / "page.md"
    path.write_text(text)
    plan = plan_page("page", str(path), _cells(text, cfg.tab_names), cfg, {})
    return {fw: job.gpus for fw, job in plan.jobs.items()}


def cell(source: str, line: int = 1) -> Cell:
    return parse_cell(source, line, TABS)


# ---------------------------------------------------------------------- d2lbook's rule


@pytest.mark.parametrize("pattern", RULE_ONE)
def test_rule_one_gpu(pattern: str) -> None:
    assert rule_gpus(["import torch", f"x = d2l.{pattern}"]) == 1


@pytest.mark.parametrize("pattern", RULE_ALL)
def test_rule_all_gpus(pattern: str) -> None:
    assert rule_gpus(["x = try_gpu()", f"y = {pattern}"]) == RULE_MAX == 2


def test_rule_finds_nothing() -> None:
    assert rule_gpus([]) is None
    assert rule_gpus(["x = 1", "print('cpu')", "device('CUDA')"]) is None  # case-sensitive


def test_rule_ignores_mark_lines() -> None:
    assert rule_gpus(["#@gpus=2\nx = 1"]) is None


# ---------------------------------------------------------------------- the mark


@pytest.mark.parametrize(("line", "value"), [
    ("#@gpus 2", 2), ("#@gpus 0", 0), ("# @GPUS 1 ", 1), ("    #@gpus\t3", 3),
    (f"#@gpus {MAX_MARK}", MAX_MARK),
])
def test_valid_marks(line: str, value: int) -> None:
    assert MARK_LINE.match(line)
    assert marked_gpus([cell(f"x = 1\n{line}")]) == value
    assert mark_problems([cell(line)]) == []


@pytest.mark.parametrize("line", [
    "#@gpus", "#@gpus two", "#@gpus -1", "#@gpus 1 2", "#@gpus=2", "#@gpus2", "#@gpus 1.5",
    f"#@gpus {MAX_MARK + 1}", "#@gpus 99999999999999999999999999",
])
def test_bad_marks_are_ignored_and_reported(line: str) -> None:
    assert MARK_LINE.match(line)
    assert marked_gpus([cell(line)]) is None
    [problem] = mark_problems([cell(f"x = 1\n{line}", line=10)])
    assert problem.line == 12  # the fence is line 10, the mark its body's second line
    assert problem.subtype is D2lWarning.MARK
    assert repr(line.strip()) in problem.message and "#@gpus N" in problem.message


def test_trailing_mark_is_reported() -> None:
    src = "x = 1  #@gpus 2"
    assert not MARK_LINE.match(src)
    assert marked_gpus([cell(src)]) is None
    [problem] = mark_problems([cell(src, line=4)])
    assert problem.line == 5 and "line of its own" in problem.message


def test_other_marks_are_not_gpu_marks() -> None:
    assert mark_problems([cell("#@gpus_total = 3\nn_gpus = 2  # gpus\n#@save")]) == []
    assert marked_gpus([cell("#@gpus_total 3")]) is None


def test_largest_mark_wins() -> None:
    assert marked_gpus([cell("#@gpus 1"), cell("#@gpus 3\n#@gpus 2")]) == 3


def test_mark_lines_in_a_page() -> None:
    text = ("# Page\n\ntext\n\n```{.python .input}\n#@tab pytorch\n#@gpus lots\n```\n\n"
            "```{.python .input}\n#@tab jax\nx = 1  #@gpus 1\n```\n")
    assert [(d.line, d.subtype) for d in mark_problems(_cells(text))] == [
        (7, D2lWarning.MARK), (12, D2lWarning.MARK)]


def test_mark_line_is_not_shown() -> None:
    assert _cfg().code(cell("#@gpus 2\nx = 1"), "pytorch") == "x = 1"


def test_bad_mark_is_a_diagnostic_of_the_page() -> None:
    doc = read_document("```{.python .input}\n#@gpus two\n```\n", TABS)
    assert [(d.line, d.subtype) for d in doc.diagnostics] == [(2, D2lWarning.MARK)]


# ---------------------------------------------------------------------- precedence


def test_d2l_gpus_alone_as_before() -> None:
    cells = [cell("#@tab all\nx = try_all_gpus()")]
    cfg = _cfg(gpus={"pytorch": 1})
    assert page_gpus(cells, "pytorch", cfg) == 1
    assert page_gpus(cells, "jax", cfg) == 0
    assert page_gpus(cells, "jax", _cfg(gpus={"*": 3, "pytorch": 1})) == 3


def test_detection_over_d2l_gpus() -> None:
    cfg = _cfg(gpus={"*": 1}, gpus_detect=True)
    assert page_gpus([cell("#@tab all\nnet = d2l.try_all_gpus()")], "jax", cfg) == 2
    assert page_gpus([cell("#@tab all\nx = d2l.try_gpu()")], "jax", cfg) == 1
    assert page_gpus([cell("#@tab all\nx = 1")], "jax", cfg) == 1  # nothing found: d2l_gpus
    assert page_gpus([cell("#@tab all\nx = 1")], "jax", _cfg(gpus_detect=True)) == 0


def test_mark_over_detection() -> None:
    cfg = _cfg(gpus={"pytorch": 1}, gpus_detect=True)
    hpo = [cell("#@gpus 1\nimport syne_tune"), cell("tuner.run()")]  # d2l-en PR #2372
    assert page_gpus(hpo, "pytorch", cfg) == 1
    assert page_gpus(hpo, "pytorch", _cfg(gpus_detect=True)) == 1
    cpu = [cell("#@gpus 0\nprint('try_all_gpus() is explained below')")]
    assert page_gpus(cpu, "pytorch", cfg) == 0


def test_mark_applies_to_the_frameworks_of_its_cell() -> None:
    cells = [cell("#@tab pytorch\n#@gpus 2\nx = 1"), cell("#@tab jax\nx = 1")]
    assert page_gpus(cells, "pytorch", _cfg()) == 2
    assert page_gpus(cells, "jax", _cfg()) == 0
    shared = [cell("#@tab all\n#@gpus 1")]
    assert [page_gpus(shared, fw, _cfg()) for fw in TABS] == [1, 1]


def test_bad_mark_falls_through() -> None:
    cells = [cell("#@gpus many\nx = d2l.try_gpu()")]
    assert page_gpus(cells, "pytorch", _cfg(gpus_detect=True)) == 1
    assert page_gpus(cells, "pytorch", _cfg(gpus={"pytorch": 4})) == 4


def test_gpus_detect_is_validated() -> None:
    with pytest.raises(ConfigError, match="d2l_gpus_detect: 'yes' must be True or False"):
        _cfg(gpus_detect="yes")
    assert D2lConfig().gpus_detect is False


# ---------------------------------------------------------------------- plan_page

MULTI_GPU = """# Multiple GPUs

```{.python .input}
%load_ext d2lbook.tab
tab.interact_select(['pytorch', 'jax'])
```

```{.python .input}
#@tab all
from d2l import torch as d2l
```

```{.python .input}
#@tab pytorch
devices = d2l.try_all_gpus()
```

```{.python .input}
#@tab jax
x = 1
```
"""


def test_plan_page_detects_per_framework(tmp_path: Any) -> None:
    cfg = _cfg(gpus_detect=True)
    assert _gpus(MULTI_GPU, cfg, tmp_path) == {"pytorch": 2, "jax": 0}
    assert _gpus(MULTI_GPU, _cfg(), tmp_path) == {"pytorch": 0, "jax": 0}
    assert _gpus(MULTI_GPU, _cfg(gpus={"*": 1}), tmp_path) == {"pytorch": 1, "jax": 1}


def test_plan_page_with_a_mark(tmp_path: Any) -> None:
    text = MULTI_GPU.replace("#@tab jax\n", "#@tab jax\n#@gpus 1\n")
    cfg = _cfg(gpus={"pytorch": 1}, gpus_detect=True)
    assert _gpus(text, cfg, tmp_path) == {"pytorch": 2, "jax": 1}
    text = text.replace("#@tab pytorch\n", "#@tab pytorch\n#@gpus 0\n")
    assert _gpus(text, cfg, tmp_path) == {"pytorch": 0, "jax": 1}


def test_plan_page_detects_after_branches_and_aliases(tmp_path: Any) -> None:
    text = ("```{.python .input}\n#@tab all\nif tab.selected('jax'):\n"
            "    devices = d2l.try_all_gpus()\nnet = d2l.use_cuda()\n```\n")
    cfg = _cfg(gpus_detect=True,
               aliases={"pytorch": {"reverse_alias": r"use_cuda\(\) -> try_gpu()"}})
    assert _gpus(text, cfg, tmp_path) == {"pytorch": 1, "jax": 2}


def test_gpu_count_is_not_in_the_cache_key(tmp_path: Any) -> None:
    path = tmp_path / "page.md"
    path.write_text(MULTI_GPU)
    cells = _cells(MULTI_GPU)
    keys = [plan_page("page", str(path), cells, cfg, {}).keys
            for cfg in (_cfg(), _cfg(gpus_detect=True))]
    assert keys[0] == keys[1]


def test_build_gives_marked_and_detected_pages_a_gpu(make_app: Any, tmp_path: Path) -> None:
    """Real kernels: the jobs take the GPU id of the pool (a fake one: nothing runs on it)."""
    src = tmp_path / "src"
    shutil.copytree(Path(__file__).parent / "roots" / "test-exec", src)
    one = src / "chapter" / "one.md"
    one.write_text(one.read_text().replace("#@tab beta\n", "#@tab beta\n#@gpus 1\n"))
    (src / "chapter" / "two.md").write_text(
        "# Two\n\n```{.python .input}\nimport os  # then d2l.try_gpu()\n"
        "print('two-out', os.environ.get('CUDA_VISIBLE_DEVICES') or 'empty')\n```\n")
    app = make_app("html", srcdir=src, confoverrides={"d2l_gpu_ids": ["3"],
                                                      "d2l_gpus_detect": True})
    app.build()
    assert "beta-out 3" in body(app, "chapter/one.html").get_text()
    assert "two-out 3" in body(app, "chapter/two.html").get_text()


# ---------------------------------------------------------------------- properties

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

#: no deadline, no health check on speed, the same examples every run, nothing written
_PROPERTY = settings(deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.too_slow])

_CODE = st.text(alphabet=st.sampled_from(list("#@gpus =()01234 \n\tabcdxyz:/'_")), max_size=60)


@_PROPERTY
@given(st.lists(_CODE, max_size=4), st.integers(0, MAX_MARK),
       st.dictionaries(st.sampled_from(["*", *TABS]), st.integers(0, 8), max_size=3),
       st.booleans())
def test_a_mark_always_decides(codes: list[str], n: int, gpus: dict[str, int],
                               detect: bool) -> None:
    cells = [cell("#@tab all\n" + c, line=10 * i) for i, c in enumerate(codes)]
    cells.insert(0, cell(f"#@tab all\n#@gpus {n}"))
    cfg = _cfg(gpus=gpus, gpus_detect=detect)
    marks = [marked_gpus([c]) for c in cells]
    assert page_gpus(cells, "jax", cfg) == max(m for m in marks if m is not None) >= n


@_PROPERTY
@given(st.lists(_CODE, max_size=4), _CODE)
def test_rule_is_monotone_and_bounded(codes: list[str], extra: str) -> None:
    before = rule_gpus(codes) or 0
    after = rule_gpus([*codes, extra]) or 0
    assert 0 <= before <= after <= RULE_MAX


@_PROPERTY
@given(_CODE)
def test_every_mark_is_used_or_reported(source: str) -> None:
    c = cell(source, line=1)
    reported = {d.line for d in mark_problems([c])}
    for offset, text in enumerate(source.split("\n")):
        if MARK_LINE.match(text):
            assert (marked_gpus([cell(text)]) is not None) != (offset + 2 in reported)
