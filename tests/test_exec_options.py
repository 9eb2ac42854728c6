"""Execution options as MyST-NB has them (issue #17): pages left out, a page's front
matter, errors allowed without warnings, d2l_raise_on_error, stderr, merged streams, MIME
priorities per builder, the cells a failure kept from running, the generic placeholder."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

from helpers import body, copy_root, warnings_of
from sphinx_d2ltabs.cells import parse_cell
from sphinx_d2ltabs.config import GENERIC_PLACEHOLDER, ConfigError, from_mapping
from sphinx_d2ltabs.execution.model import Job, JobResult
from sphinx_d2ltabs.outputs import OutputContext, render_outputs
from sphinx_d2ltabs.outputs.select import HTML_PRIORITY, TEXT_PRIORITY, priority_for
from sphinx_d2ltabs.page_settings import excluded, glob_regex, parse
from sphinx_d2ltabs.reporting import _not_run
from sphinx_d2ltabs.runner import plan_page
from sphinx_d2ltabs.state import get_state
from sphinx_d2ltabs.warnings_ import D2lWarning

TABS = ["alpha", "beta"]

# ------------------------------------------------------------------ front matter


def test_front_matter_settings() -> None:
    text = ("---\ntitle: kept for myst\nd2l:\n  execute: off\n  timeout: -1\n"
            "  allow_errors: true\n  gpus: {alpha: 2, '*': 1}\n---\n# Page\n")
    settings, problems = parse(text, TABS)
    assert problems == []
    assert settings.execute is False  # (YAML's `off`)
    assert settings.timeout == math.inf and settings.allow_errors is True
    assert settings.gpus_for("alpha") == 2 and settings.gpus_for("beta") == 1
    settings, _ = parse("---\nd2l:\n  execute: auto\n  timeout: 30\n  gpus: 0\n---\n", TABS)
    assert settings.execute is True and settings.timeout == 30.0
    assert settings.gpus_for("beta") == 0 and settings.allow_errors is None


def test_front_matter_problems_name_their_lines() -> None:
    text = ("---\nd2l:\n  timout: 5\n  allow_errors: maybe\n  execute: later\n"
            "  gpus: {alpha: 1, gamma: 2}\n---\n# Page\n")
    settings, problems = parse(text, TABS)
    assert [(p.line, p.subtype) for p in problems] == [
        (3, D2lWarning.FRONTMATTER), (4, D2lWarning.FRONTMATTER),
        (5, D2lWarning.FRONTMATTER), (6, D2lWarning.FRONTMATTER)]
    assert "unknown key 'd2l.timout'" in problems[0].message
    assert "did you mean 'timeout'?" in problems[0].message
    assert "'maybe' is not true or false" in problems[1].message
    assert "'later' is not 'off' or 'auto'" in problems[2].message
    assert "gamma: 2 left out" in problems[3].message
    # the good parts are kept
    assert settings.gpus_for("alpha") == 1 and settings.allow_errors is None
    _, problems = parse("---\nd2l: [1, 2]\n---\n", TABS)
    assert len(problems) == 1 and problems[0].line == 2
    assert "must be a mapping" in problems[0].message


@pytest.mark.parametrize("text", [
    "# A d2lbook page\n\n---\nd2l:\n  execute: off\n---\n",  # a rule, not front matter
    "---\nd2l:\n  execute: off\n",                          # never closed
    "---\n: not yaml [\n---\n",                              # myst-parser reports it
    "---\nother: 1\n---\n",
])
def test_no_settings(text: str) -> None:
    settings, problems = parse(text, TABS)
    assert settings.execute is True and settings.timeout is None and problems == []


def test_exclude_patterns_as_sphinx_exclude_patterns() -> None:
    assert glob_regex("chapter/*").match("chapter/slow")
    assert not glob_regex("chapter/*").match("chapter/sub/slow")
    assert glob_regex("chapter/**").match("chapter/sub/slow")
    assert glob_regex("**/slow*").match("slow_page") and glob_regex("**/slow*").match("a/b/slow")
    assert glob_regex("page[12]").match("page2") and not glob_regex("page[!12]").match("page1")
    assert excluded("ch/slow", "/book/ch/slow.md", ["other", "ch/*.md"]) == "ch/*.md"
    assert excluded("ch/slow", "/book/ch/slow.md", ["./ch/slow"]) == "./ch/slow"
    assert excluded("ch/fast", "/book/ch/fast.md", ["ch/slow*"]) is None


# ------------------------------------------------------------------ planning


def _page(tmp_path: Path, front: str, *codes: str) -> tuple[str, list[Any]]:
    """A page file with ``front`` matter and one cell per code (alpha's)."""
    lines = front.splitlines()
    cells = []
    for code in codes:
        lines += ["", "```{.python .input}"]
        cells.append(parse_cell(code, len(lines), TABS))
        lines += [*code.splitlines(), "```"]
    path = tmp_path / "page.md"
    path.write_text("\n".join(lines) + "\n")
    return str(path), cells


def test_page_settings_enter_the_job_and_key(tmp_path: Path) -> None:
    cfg = from_mapping({"tabs": TABS, "gpus": {"alpha": 3}, "timeout": 100})
    path, cells = _page(tmp_path, "# Page", "x = 1")
    plain = plan_page("page", path, cells, cfg, {})
    job = plain.jobs["alpha"]
    assert (job.timeout, job.gpus, job.allow_errors) == (100.0, 3, False)
    front = "---\nd2l:\n  timeout: 5\n  allow_errors: true\n  gpus: {alpha: 1}\n---\n# Page"
    path, cells = _page(tmp_path, front, "x = 1")
    plan = plan_page("page", path, cells, cfg, {})
    job = plan.jobs["alpha"]
    assert (job.timeout, job.gpus, job.allow_errors) == (5.0, 1, True)
    # allow_errors is part of the key, as d2l_allow_errors is; timeout and GPUs are not
    assert plan.keys["alpha"] != plain.keys["alpha"]
    allowed = from_mapping({"tabs": TABS, "allow_errors": True})
    path, cells = _page(tmp_path, "---\nd2l:\n  timeout: 5\n---\n# Page", "x = 1")
    assert plan_page("page", path, cells, allowed, {}).keys["alpha"] == plan.keys["alpha"]
    # a #@gpus mark of the page still wins over its front matter
    path, cells = _page(tmp_path, front, "#@gpus 2\nx = 1")
    assert plan_page("page", path, cells, cfg, {}).jobs["alpha"].gpus == 2


def test_pages_left_out_of_execution(tmp_path: Path) -> None:
    cfg = from_mapping({"tabs": TABS, "execute_exclude": ["pa*"]})
    path, cells = _page(tmp_path, "# Page", "x = 1")
    plan = plan_page("page", path, cells, cfg, {})
    assert plan.jobs == {} and plan.skipped == "d2l_execute_exclude 'pa*'"
    path, cells = _page(tmp_path, "---\nd2l:\n  execute: off\n---\n# Page", "x = 1")
    plan = plan_page("page", path, cells, from_mapping({"tabs": TABS}), {})
    assert plan.jobs == {} and plan.skipped == "front matter 'd2l: {execute: off}'"


# ------------------------------------------------------------------ results


def _result(status: str, error_cell: int, counts: list[int], **error: Any) -> JobResult:
    return JobResult("page", "alpha", status, cell_ids=[10, 20, 30, 40],
                     execution_counts={c: i for i, c in enumerate(counts)},
                     error={"cell": error_cell, "message": "m", **error})


def test_cells_not_run() -> None:
    assert _result("error", 20, [10, 20]).cells_not_run() == 2
    assert _not_run(_result("error", 20, [10, 20])) == " (2 later cells of this page did not run)"
    assert _not_run(_result("timeout", 30, [10, 20, 30])) == (
        " (1 later cell of this page did not run)")
    assert _not_run(_result("error", 40, [10, 20, 30, 40])) == ""
    assert _not_run(_result("error", 0, [])) == " (none of its 4 cells ran)"  # setup code
    assert _not_run(_result("start_failed", 0, [])) == ""  # said by the message


def test_errors_allowed_by_the_job() -> None:
    job = Job("page", "alpha", ((10, "1/0"),), allow_errors=True)
    failed = _result("error", 10, [10], ename="ZeroDivisionError")
    assert failed.errors_allowed(job).ok and failed.errors_allowed(job).error is None
    strict = Job("page", "alpha", ((10, "1/0"),))
    assert failed.errors_allowed(strict) is failed
    timeout = _result("timeout", 10, [10])
    assert timeout.errors_allowed(job) is timeout  # the machinery's failures still count


# ------------------------------------------------------------------ outputs


def _stream(name: str, text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": name, "text": text}


def _texts(nodes: list[Any]) -> list[tuple[str, str]]:
    return [(n["classes"][-1], n.astext().strip()) for n in nodes]


def test_stderr_removed_and_streams_merged() -> None:
    outputs = [_stream("stdout", "a\n"), _stream("stderr", "e1\n"), _stream("stdout", "b\n"),
               _stream("stderr", "e2\n"),
               {"output_type": "display_data", "data": {"text/plain": "shown"}},
               _stream("stdout", "c\n")]

    def render(**options: Any) -> list[tuple[str, str]]:
        return _texts(render_outputs(outputs, OutputContext(lambda b, e: "", **options)))

    assert render() == [("stream", "a"), ("stderr", "e1"), ("stream", "b"), ("stderr", "e2"),
                        ("mime_bundle", "shown"), ("stream", "c")]
    assert render(stderr="remove") == [("stream", "a\nb"), ("mime_bundle", "shown"),
                                       ("stream", "c")]
    # one stdout and one stderr block per run of streams, never across a display
    assert render(merge_streams=True) == [("stream", "a\nb"), ("stderr", "e1\ne2"),
                                          ("mime_bundle", "shown"), ("stream", "c")]


def test_mime_priority_overrides() -> None:
    assert priority_for(HTML_PRIORITY, "html") == HTML_PRIORITY
    no_html = priority_for(HTML_PRIORITY, "html", [("html", "text/html", None)])
    assert "text/html" not in no_html and no_html[0] == "image/svg+xml"
    plain_first = priority_for(HTML_PRIORITY, "dirhtml", [("*", "text/plain", 5),
                                                          ("html", "text/plain", None)])
    assert plain_first[0] == "text/plain"  # ('html' is another builder)
    latex_first = priority_for(TEXT_PRIORITY, "text", [("text", "text/latex", 15)])
    assert latex_first[:2] == ("text/plain", "text/latex")


def test_option_values_are_checked() -> None:
    for values, message in [
        ({"mime_priority_overrides": [("html", "text/html")]}, "triple"),
        ({"mime_priority_overrides": [("html", "text/html", "1")]}, "triple"),
        ({"output_stderr": "hide"}, "is not one of show, remove"),
        ({"execute_exclude": "chapter/*"}, "must be a list of strings"),
        ({"raise_on_error": "yes"}, "must be True or False"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            from_mapping(values)


# ------------------------------------------------------------------ placeholder


def test_generic_translation_placeholder(tmp_path: Path) -> None:
    from sphinx_d2ltabs.migrate import read_config_ini

    default = from_mapping({}).translation_placeholder
    assert default == GENERIC_PLACEHOLDER
    found = [t for t in ("TODO", "*TBD*", "[FIXME]", "Todo el mundo", "TODO: check it",
                         "*dịch đoạn phía trên*") if re.search(default, t, re.MULTILINE)]
    assert found == ["TODO", "*TBD*", "[FIXME]"]
    ini = tmp_path / "config.ini"
    ini.write_text("[project]\nlang = vi\n[translation]\norigin_repo = d2l-ai/d2l-en\n")
    placeholder = read_config_ini(str(ini)).values["d2l_translation_placeholder"]
    assert re.search(placeholder, "*dịch đoạn phía trên*")
    ini.write_text("[project]\nlang = vi\n")  # not a translation: the default stays
    assert "d2l_translation_placeholder" not in read_config_ini(str(ini)).values


# ------------------------------------------------------------------ builds (kernels)

CONF = {"d2l_execute_exclude": ["skip/*"], "d2l_gpu_ids": ["7"]}


def _outputs(app: Any, page: str) -> str:
    return " ".join(o.get_text(" ", strip=True)
                    for o in body(app, page).select("div.cell_output"))


def test_options_in_a_build(make_app: Any, tmp_path: Path) -> None:
    src = copy_root(tmp_path, "exec-options")
    app = make_app("html", srcdir=src, confoverrides={
        **CONF, "d2l_output_stderr": "remove-warn",
        "d2l_mime_priority_overrides": [("html", "text/html", None)]})
    app.build()
    report = get_state(app.env).report  # (the JSON report's content)
    assert sorted(e["docname"] for e in report["pages"]) == ["failing", "settings", "streams"]
    assert report["not_executed"] == {"off": "front matter 'd2l: {execute: off}'",
                                      "skip/slow": "d2l_execute_exclude 'skip/*'"}
    assert report["failed"] == 1 and app.statuscode == 0
    warnings = sorted(warnings_of(app))  # (the execution's, then those of reading)
    assert [w.split(": WARNING: ")[0] for w in warnings] == [
        "bad.md:3", "bad.md:4", "bad.md:5", "failing.md:7", "streams.md:3"], warnings
    assert warnings[0].endswith("(did you mean 'timeout'?); it is ignored [d2l.frontmatter]")
    assert ("[alpha] cell at line 7: ZeroDivisionError: division by zero (2 later cells of "
            "this page did not run)") in warnings[3]
    assert "cell at line 3 wrote to stderr: 'err-1'" in warnings[4]
    assert warnings[4].endswith("[d2l.stderr]")
    # errors allowed by the front matter: no warning, the page ran on; its GPU; no field
    # list of the front matter on the page
    settings = _outputs(app, "settings.html")
    assert "devices 7" in settings and "ValueError" in settings and "after-error" in settings
    assert "allow_errors" not in body(app, "settings.html").get_text()
    assert "title_note" not in body(app, "settings.html").get_text()
    for page in ("off.html", "skip/slow.html"):  # shown without outputs
        assert _outputs(app, page) == "" and "print" in body(app, page).get_text()
    streams = _outputs(app, "streams.html")
    assert "out-1" in streams and "err-1" not in streams
    assert "as-markdown" in streams and "as-html" not in streams  # text/html never chosen

    # from the cache, the defaults back; d2l_raise_on_error fails the build at its end
    app = make_app("html", srcdir=src, confoverrides={**CONF, "d2l_raise_on_error": True})
    app.build()
    report = get_state(app.env).report  # (the JSON report's content)
    assert report["executed"] == 0 and report["failed"] == 1
    assert app.statuscode == 1
    assert ("ERROR: [d2l] d2l_raise_on_error: cells failed on 1 page(s): failing [alpha]"
            in warnings_of(app))
    streams = _outputs(app, "streams.html")
    assert "err-1" in streams and "as-html" in streams and "as-markdown" not in streams
    # the HTML is written all the same
    assert "ZeroDivisionError" in _outputs(app, "failing.html")


def test_raise_on_error_exit_status(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    from sphinx.cmd.build import build_main

    src = copy_root(tmp_path, "exec-options")
    # one kernel: the failing page's (the others are excluded from execution)
    args = [str(src), str(src / "_build" / "html"), "-q", "-D",
            "d2l_execute_exclude=skip/*,settings,streams", "-D", "d2l_raise_on_error=1"]
    assert build_main(args) == 1
    err = capfd.readouterr().err
    assert "d2l_raise_on_error: cells failed on 1 page(s): failing [alpha]" in err
    assert "Traceback (most recent call last):\n  File" not in err  # (the cell's is shown)
