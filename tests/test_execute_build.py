"""Execution inside Sphinx builds: real ipykernel kernels, cheap code, two frameworks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helpers import body, wait_until, warnings_of

ROOTS = Path(__file__).parent / "roots"
HANG_GUARD = 300.0
"""Seconds a test waits for an event before it fails: only a hang reaches it."""


@pytest.fixture
def book(tmp_path: Path, request: pytest.FixtureRequest,
         prime_cache: Callable[..., None]) -> Path:
    """The exec book; its cache filled first for tests marked ``primed`` (conftest)."""
    src = tmp_path / "src"
    shutil.copytree(ROOTS / "test-exec", src)
    if request.node.get_closest_marker("primed"):
        prime_cache(src)
    return src



def run(make_app: Any, src: Path, **conf: Any) -> tuple[Any, dict[str, Any]]:
    """Build (fresh app over the same output folder) and return the app and the report."""
    app = make_app("html", srcdir=src, confoverrides=conf)
    app.build()
    report = json.loads(Path(app.doctreedir, "d2l_execution_report.json").read_text())
    return app, report


def jobs(report: dict[str, Any], cached: bool | None = None) -> list[tuple[str, str]]:
    return sorted((e["docname"], e["framework"]) for e in report["pages"]
                  if cached is None or e["cached"] is cached)


def panel_text(page: Any, framework: str) -> str:
    return " ".join(c.get_text(" ", strip=True) for c in page.select(
        f"div.d2l-framework-{framework}"))


def test_clean_build_runs_each_page_framework_once(make_app: Any, book: Path) -> None:
    app, report = run(make_app, book)
    assert warnings_of(app) == []
    assert jobs(report) == [("chapter/one", "alpha"), ("chapter/one", "beta"),
                            ("chapter/two", "alpha")]
    assert report["executed"] == 3 and report["cached"] == 0 and report["failed"] == 0
    page = body(app, "chapter/one.html")
    # each framework's kernel ran its own cells, in the page's folder
    assert "alpha-out chapter" in panel_text(page, "alpha")
    # a CPU framework's kernel sees an empty CUDA_VISIBLE_DEVICES
    assert "beta-out empty" in panel_text(page, "beta")
    # an `#@tab all` cell whose outputs differ per framework becomes a tab set
    assert "both alpha" in panel_text(page, "alpha") and "both beta" in panel_text(page, "beta")
    # ... and one whose outputs agree renders once
    common = page.select("div.d2l-framework-all")
    assert len(common) == 1 and "42" in common[0].get_text()
    assert common[0].select_one("div.cell_output") is not None
    # stderr is styled apart
    two = body(app, "chapter/two.html")
    assert two.select_one("div.cell_output .stderr") is not None


@pytest.mark.primed
def test_noop_rebuild_starts_no_kernel(make_app: Any, book: Path) -> None:
    run(make_app, book)
    app, report = run(make_app, book)
    assert report["executed"] == 0 and report["cached"] == 3
    assert "alpha-out" in body(app, "chapter/one.html").get_text()


@pytest.mark.primed
def test_prose_edit_does_not_rerun(make_app: Any, book: Path) -> None:
    run(make_app, book)
    page = book / "chapter" / "one.md"
    page.write_text(page.read_text().replace("Some prose.", "Some new\n\nprose, longer."))
    app, report = run(make_app, book)
    assert report["executed"] == 0
    assert "prose, longer" in body(app, "chapter/one.html").get_text()
    # outputs follow their cells, which moved down
    assert "alpha-out chapter" in body(app, "chapter/one.html").get_text()


@pytest.mark.primed
def test_code_edit_reruns_that_framework_only(make_app: Any, book: Path) -> None:
    run(make_app, book)
    page = book / "chapter" / "one.md"
    page.write_text(page.read_text().replace('"alpha-out"', '"alpha-changed"'))
    app, report = run(make_app, book)
    assert jobs(report, cached=False) == [("chapter/one", "alpha")]
    assert "alpha-changed" in body(app, "chapter/one.html").get_text()


@pytest.mark.parametrize(
    "change",
    ["env", "setup", "dependency", "kernel"],
)
def test_cache_key_parts(make_app: Any, book: Path, change: str, tmp_path: Path,
                         monkeypatch: pytest.MonkeyPatch,
                         prime_cache: Callable[..., None]) -> None:
    (book / "data.txt").write_text("v1")
    conf: dict[str, Any] = {"d2l_dependencies": ["*.txt"]}
    prime_cache(book, **conf)  # the first build starts no kernel: the second is tested
    run(make_app, book, **conf)
    if change == "env":
        conf["d2l_kernel_env"] = {"beta": {"SOME_VAR": "1"}}
        expected = [("chapter/one", "beta")]
    elif change == "setup":
        conf["d2l_setup_code"] = {"alpha": "x = 1"}
        expected = [("chapter/one", "alpha"), ("chapter/two", "alpha")]
    elif change == "dependency":
        (book / "data.txt").write_text("v2")
        expected = jobs({"pages": [{"docname": d, "framework": f, "cached": False}
                                   for d, f in [("chapter/one", "alpha"), ("chapter/one", "beta"),
                                                ("chapter/two", "alpha")]]})
    else:
        # a second kernelspec for the same interpreter, under another name
        import sys

        spec = tmp_path / "kernels" / "kernels" / "other-python"
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "other", "language": "python"}))
        monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "kernels"))
        conf["d2l_kernels"] = {"beta": "other-python"}
        expected = [("chapter/one", "beta")]
    _, report = run(make_app, book, **conf)
    assert jobs(report, cached=False) == expected


def test_failures_are_reported_cached_and_reported_again(make_app: Any, book: Path) -> None:
    page = book / "chapter" / "two.md"
    page.write_text(page.read_text() + "\n```{.python .input}\n1 / 0\n```\n\n"
                    "```{.python .input}\nprint('after' + '-run')\n```\n")
    app, report = run(make_app, book)
    warnings = warnings_of(app)
    failing = [w for w in warnings if "[d2l.execute]" in w or "ZeroDivisionError" in w]
    assert any(w.startswith("chapter/two.md:8: WARNING: [alpha]") for w in warnings), warnings
    assert any("ZeroDivisionError" in w for w in failing)
    assert report["failed"] == 1
    html = body(app, "chapter/two.html")
    assert "ZeroDivisionError" in html.get_text()  # the traceback is shown in place
    assert "after-run" not in html.get_text()  # the page stopped at the error
    # unchanged: not re-run, but reported again
    app, report = run(make_app, book)
    assert report["executed"] == 0 and report["failed"] == 1
    assert any(w.startswith("chapter/two.md:8: WARNING: [alpha]") for w in warnings_of(app))


def test_allow_error_marker(make_app: Any, book: Path) -> None:
    page = book / "chapter" / "two.md"
    page.write_text(page.read_text() + "\n```{.python .input}\n#@allow_error\n1 / 0\n```\n\n"
                    "```{.python .input}\nprint('after' + '-run')\n```\n")
    app, report = run(make_app, book)
    assert report["failed"] == 0 and warnings_of(app) == []
    text = body(app, "chapter/two.html").get_text()
    assert "ZeroDivisionError" in text and "after-run" in text
    assert "#@allow_error" not in text


def test_timeout(make_app: Any, book: Path) -> None:
    # without the timeout the cell would end by itself ("ok"): the status proves the cut
    page = book / "chapter" / "two.md"
    page.write_text(page.read_text() + "\n```{.python .input}\nimport time\ntime.sleep(30)\n```\n")
    app, report = run(make_app, book, d2l_timeout=2)
    assert report["failed"] == 1
    entry = next(e for e in report["pages"] if e["docname"] == "chapter/two")
    assert entry["status"] == "timeout"
    assert any("chapter/two.md:8" in w and "2" in w for w in warnings_of(app))


def test_modes(make_app: Any, book: Path) -> None:
    _, report = run(make_app, book, d2l_execute="cache-only")
    assert report["executed"] == 0 and report["pages"] == []
    run(make_app, book)
    app, report = run(make_app, book, d2l_execute="cache-only")
    assert report["cached"] == 3 and "alpha-out" in body(app, "chapter/one.html").get_text()
    app, report = run(make_app, book, d2l_execute="force")
    assert report["executed"] == 3
    app = make_app("html", srcdir=book, confoverrides={"d2l_execute": "off"})
    app.build()
    page = body(app, "chapter/one.html")
    assert "alpha-out chapter" not in page.get_text() and "print(" in page.get_text()


def test_gpu_slots_with_fake_gpu(make_app: Any, book: Path) -> None:
    app, _report = run(make_app, book, d2l_gpus={"beta": 1}, d2l_gpu_ids=["3"])
    page = body(app, "chapter/one.html")
    assert "beta-out 3" in panel_text(page, "beta")
    assert "alpha-out" in panel_text(page, "alpha")


def test_gpu_framework_without_gpu_falls_back(make_app: Any, book: Path) -> None:
    app, report = run(make_app, book, d2l_gpus={"beta": 1}, d2l_gpu_ids=[])
    assert report["failed"] == 0
    assert "beta-out empty" in panel_text(body(app, "chapter/one.html"), "beta")
    assert "no GPU" in app.status.getvalue() or "CPU" in app.status.getvalue()
    app, report = run(make_app, book, d2l_gpus={"beta": 1}, d2l_gpu_ids=[], d2l_strict_gpu=True,
                      d2l_execute="force")
    assert report["failed"] == 1


def test_report_directive(make_app: Any, book: Path) -> None:
    (book / "report.md").write_text("# Report\n\n```{d2l-execution-report}\n```\n")
    index = book / "index.md"
    index.write_text(index.read_text().replace("chapter/two\n", "chapter/two\nreport\n"))
    app, _ = run(make_app, book)
    text = body(app, "report.html").get_text(" ", strip=True)
    assert "chapter/one" in text and "alpha" in text and "3 executed" in text


def _default_sigint() -> None:
    """(In the child) Ctrl-C's default: the build turns SIGINT into KeyboardInterrupt even
    when the tests run with SIGINT ignored (a background job without job control, nohup)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _sphinx(src: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sphinx", "-q", "-b", "html", str(src), str(out), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=_default_sigint)


def test_two_builds_share_one_cache(book: Path, tmp_path: Path) -> None:
    cache = tmp_path / "shared-cache"
    opts = ("-D", f"d2l_cache_dir={cache}")
    first, second = _sphinx(book, tmp_path / "o1", *opts), _sphinx(book, tmp_path / "o2", *opts)
    for proc in (first, second):
        out, _ = proc.communicate(timeout=HANG_GUARD)
        assert proc.returncode == 0, out
    third = _sphinx(book, tmp_path / "o3", *opts)
    out, _ = third.communicate(timeout=HANG_GUARD)
    assert third.returncode == 0, out
    report = json.loads((tmp_path / "o3" / ".doctrees" / "d2l_execution_report.json").read_text())
    assert report["executed"] == 0 and report["cached"] == 3
    assert [p.name for p in cache.rglob(".tmp*")] == []


def test_ctrl_c_mid_build_then_rebuild(book: Path, tmp_path: Path) -> None:
    running = tmp_path / "slow-running"
    (book / "chapter" / "two.md").write_text(
        "# Two\n\n```{.python .input}\nimport os, time\n"
        f"print('slow', flush=True)\nopen({str(running)!r}, 'w').close()\ntime.sleep(300)\n```\n")
    proc = _sphinx(book, tmp_path / "out", "-D", "d2l_workers=2")
    cache = tmp_path / ".d2l_cache"
    # wait until chapter/one's two jobs are cached and the slow cell runs
    ready = wait_until(lambda: (len(list(cache.rglob("*.json"))) >= 2 and running.exists())
                       or proc.poll() is not None, HANG_GUARD)
    if not ready or proc.poll() is not None:
        proc.kill()
        pytest.fail("the fast pages were not cached while the slow one ran: "
                    + proc.communicate()[0])
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=HANG_GUARD)
    assert proc.returncode != 0
    assert wait_until(lambda: _kernels_of(book) == [], HANG_GUARD / 5), _kernels_of(book)
    assert [p.name for p in cache.rglob(".tmp*")] == []
    # the rebuild takes the finished pages from the cache; the slow one is fixed and runs
    (book / "chapter" / "two.md").write_text("# Two\n\n```{.python .input}\nprint('fast')\n```\n")
    again = _sphinx(book, tmp_path / "out")
    out, _ = again.communicate(timeout=HANG_GUARD)
    assert again.returncode == 0, out
    report = json.loads((tmp_path / "out" / ".doctrees" / "d2l_execution_report.json").read_text())
    assert sorted((e["docname"], e["framework"], e["cached"]) for e in report["pages"]) == [
        ("chapter/one", "alpha", True), ("chapter/one", "beta", True),
        ("chapter/two", "alpha", False)]




def _kernels_of(book: Path) -> list[int]:
    """ipykernel processes whose working directory is inside the book."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read()
        except OSError:
            continue
        if cwd.startswith(str(book)) and b"ipykernel" in cmd:
            found.append(int(pid))
    return found
