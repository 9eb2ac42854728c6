"""The pages are read while the book's jobs run (:mod:`sphinx_d2ltabs.overlap`), in the
order their jobs end (:func:`sphinx_d2ltabs.book_run.read_order`)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import body, process_alive, wait_until, warnings_of
from sphinx_d2ltabs.book_run import read_order
from sphinx_d2ltabs.execution.model import Job
from sphinx_d2ltabs.state import get_state

HANG_GUARD = 120
"""Seconds a cell waits for what the test does meanwhile (only a bug reaches it)."""

CONF = ('extensions = ["sphinx_d2ltabs"]\nproject = "overlap"\nd2l_tabs = ["alpha"]\n'
        'd2l_lib_enable = False\nd2l_workers = 2\n')


def cell(code: str) -> str:
    return f"```{{.python .input}}\n{code}\n```\n"


def waiting_cell(gate: Path, name: str) -> str:
    """A cell that waits (at most :data:`HANG_GUARD` s) for ``gate`` to exist."""
    return cell(f"import os, time\nopen({str(gate) + '.pid'!r}, 'w').write(str(os.getpid()))\n"
                f"deadline = time.monotonic() + {HANG_GUARD}\n"
                f"while not os.path.exists({str(gate)!r}) and time.monotonic() < deadline:\n"
                f"    time.sleep(0.05)\n"
                f"print({name!r}, 'gate seen' if os.path.exists({str(gate)!r}) else 'no gate')")


def write_book(src: Path, pages: dict[str, str]) -> Path:
    src.mkdir(parents=True)
    (src / "conf.py").write_text(CONF)
    toc = "\n".join(pages)
    (src / "index.md").write_text(f"# Book\n\n```toc\n{toc}\n```\n")
    for name, text in pages.items():
        (src / f"{name}.md").write_text(f"# {name.title()}\n\n{text}")
    return src


def test_pages_are_read_while_a_job_runs(make_app: Any, tmp_path: Path) -> None:
    """``slow``'s cell waits until ``fast`` is being read: without the overlap the pages
    would be read only after it, and it would print ``no gate``."""
    gate = tmp_path / "fast-read"
    src = write_book(tmp_path / "src", {"fast": cell("print('fast', 6 * 7)"),
                                        "slow": waiting_cell(gate, "slow")})
    app = make_app("html", srcdir=src)
    order: list[str] = []

    def read(app: Any, docname: str, source: list[str]) -> None:
        order.append(docname)
        if docname == "fast":
            gate.touch()

    app.connect("source-read", read)
    app.build()
    assert warnings_of(app) == []
    assert "slow gate seen" in body(app, "slow.html").get_text()
    assert "fast 42" in body(app, "fast.html").get_text()
    assert order == ["index", "fast", "slow"]  # (no job first, then as the jobs end)
    report = get_state(app.env).report
    assert report["executed"] == 2 and report["failed"] == 0
    assert get_state(app.env).overlap is None


def test_a_failed_read_stops_the_jobs(make_app: Any, tmp_path: Path) -> None:
    """A page whose reading raises ends the build; the job that still runs is killed."""
    gate = tmp_path / "never"
    src = write_book(tmp_path / "src", {"broken": "Text.\n", "slow": waiting_cell(gate, "s")})
    app = make_app("html", srcdir=src)
    pid_file = Path(str(gate) + ".pid")

    def read(app: Any, docname: str, source: list[str]) -> None:
        if docname == "broken":
            wait_until(pid_file.exists, HANG_GUARD)  # (the slow cell runs)
            raise RuntimeError("this page can't be read")

    app.connect("source-read", read)
    with pytest.raises(Exception, match="this page can't be read"):
        app.build()
    assert get_state(app.env).overlap is None
    pid = int(pid_file.read_text())
    assert wait_until(lambda: not process_alive(pid), HANG_GUARD), (
        "the kernel outlived the build")


def test_no_overlap_when_sphinx_reads_in_parallel(make_app: Any, tmp_path: Path) -> None:
    """With ``-j``, pages are read in forked processes: the jobs end before reading."""
    src = write_book(tmp_path / "src", {f"p{i}": cell(f"print('page', {i})") for i in range(7)})
    app = make_app("html", srcdir=src, parallel=2)
    seen: list[Any] = []
    app.connect("env-before-read-docs",
                lambda app, env, docnames: seen.append(get_state(env).overlap))
    app.build()
    assert seen == [None]
    assert "page 6" in body(app, "p6.html").get_text()


def job(docname: str) -> Job:
    return Job(docname, "alpha", ((1, "pass"),))


def test_read_order_puts_the_pages_whose_jobs_end_first_first() -> None:
    jobs = [job("long"), job("short"), job("mid")]
    hints = {("long", "alpha"): 10.0, ("short", "alpha"): 1.0, ("mid", "alpha"): 3.0}
    docs = ["index", "long", "mid", "short", "prose"]
    # 2 workers: long 0-10, mid 0-3, short 3-4
    assert read_order(docs, jobs, 2, hints) == ["index", "prose", "mid", "short", "long"]
    # 1 worker: long 0-10, mid 10-13, short 13-14
    assert read_order(docs, jobs, 1, hints) == ["index", "prose", "long", "mid", "short"]
    # no duration known: the scheduler's order (the pages' order), one per worker
    assert read_order(docs, jobs, 3) == ["index", "prose", "long", "mid", "short"]


@given(st.lists(st.sampled_from("abcdefgh"), unique=True),
       st.lists(st.sampled_from("abcdefgh"), unique=True),
       st.dictionaries(st.sampled_from("abcdefgh"), st.floats(0, 100)),
       st.integers(1, 4))
def test_read_order_is_a_permutation(docs: list[str], with_jobs: list[str],
                                     seconds: dict[str, float], workers: int) -> None:
    jobs = [job(d) for d in with_jobs if d in docs]
    order = read_order(docs, jobs, workers, {(d, "alpha"): s for d, s in seconds.items()})
    assert sorted(order) == sorted(docs)
    no_job = [d for d in docs if d not in with_jobs]
    assert order[:len(no_job)] == no_job


def test_sigterm_while_a_page_waits_is_ctrl_c(make_app: Any, tmp_path: Path) -> None:
    """In the main thread, SIGTERM raises KeyboardInterrupt until the run ends."""
    gate = tmp_path / "never"
    src = write_book(tmp_path / "src", {"slow": waiting_cell(gate, "s")})
    app = make_app("html", srcdir=src)
    pid_file = Path(str(gate) + ".pid")

    def read(app: Any, docname: str, source: list[str]) -> None:
        if docname == "slow":
            wait_until(pid_file.exists, HANG_GUARD)
            os.kill(os.getpid(), signal.SIGTERM)  # (while the page's job runs)

    app.connect("source-read", read)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        app.build()
    assert get_state(app.env).overlap is None
    assert signal.getsignal(signal.SIGTERM) is before  # (given back)
    pid = int(pid_file.read_text())
    assert wait_until(lambda: not process_alive(pid), HANG_GUARD), (
        "the kernel outlived the build")
