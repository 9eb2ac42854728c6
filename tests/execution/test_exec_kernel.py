"""run_job with real ipykernel kernels: outputs, errors, timeouts, dead kernels, start
failures, environment, and the cleanup of every process a kernel started."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import nbformat
import pytest
from exec_helpers import HANG_GUARD, MARK_VAR, MakeJob, guarded, wait_until

from sphinx_d2ltabs.execution import Job, JobResult, kernel, run_job
from sphinx_d2ltabs.execution.forks import forking

PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJ"
       "RU5ErkJggg==")


@pytest.fixture(autouse=True, params=["launched", "forked"])
def kernel_start(request: pytest.FixtureRequest, no_leftover_processes: None,
                 ) -> Iterator[str]:
    """Every test twice: kernels launched by jupyter-client, and forked from a zygote
    (execution/forks.py; closed before the check for leftover processes)."""
    if request.param == "launched":
        yield request.param
        return
    with forking() as forks:
        assert forks is not None
        yield request.param
        assert not forks.notes


def assert_valid_nbformat(result: JobResult) -> None:
    """The outputs form a valid nbformat v4 notebook."""
    cells = [nbformat.v4.new_code_cell(source="", outputs=outs,
                                       execution_count=result.execution_counts.get(cid))
             for cid, outs in result.outputs.items()]
    nbformat.validate(nbformat.v4.new_notebook(cells=cells))


def test_output_kinds(make_job: MakeJob) -> None:
    started: list[float] = []
    result = run_job(make_job(
        "print('out'); print('more')",
        "import sys; print('err', file=sys.stderr)",
        "import sys\nprint('a', flush=True); print('b', file=sys.stderr, flush=True); print('c')",
        "6 * 7",
        "from IPython.display import display, HTML, Image\nimport base64\n"
        f"display(HTML('<b>x</b>'))\ndisplay(Image(data=base64.b64decode('{PNG}')))",
        "",
        "x = 1  # no output",
    ), on_kernel_started=lambda: started.append(time.monotonic()))
    assert result.ok, result.error
    out = result.outputs
    assert out[10] == [{"output_type": "stream", "name": "stdout", "text": "out\nmore\n"}]
    assert out[20] == [{"output_type": "stream", "name": "stderr", "text": "err\n"}]
    assert [(o["name"], o["text"]) for o in out[30]] == [
        ("stdout", "a\n"), ("stderr", "b\n"), ("stdout", "c\n")]
    assert out[40] == [{"output_type": "execute_result", "execution_count": 4,
                        "data": {"text/plain": "42"}, "metadata": {}}]
    html, png = out[50]
    assert html["output_type"] == png["output_type"] == "display_data"
    assert html["data"]["text/html"] == "<b>x</b>"
    assert png["data"]["image/png"].strip() == PNG
    assert 60 not in out  # an empty cell is not run
    assert out[70] == []
    assert result.execution_counts == {10: 1, 20: 2, 30: 3, 40: 4, 50: 5, 70: 6}
    assert result.cell_ids == [10, 20, 30, 40, 50, 60, 70]
    assert len(started) == 1
    assert 0 < result.kernel_start_seconds <= result.seconds
    assert result.cuda_visible_devices == "" and not result.gpu_fallback
    assert_valid_nbformat(result)


def test_clear_output_and_display_updates(make_job: MakeJob) -> None:
    result = run_job(make_job(
        "from IPython.display import clear_output, display\n"
        "print('gone'); clear_output(); print('kept')",
        "print('old'); clear_output(wait=True); print('new')",
        "print('stays'); clear_output(wait=True)",  # nothing came after: nothing cleared
        "h = display('first', display_id=True)",
        "h.update('second'); print('updated')",
    ))
    assert result.ok, result.error
    out = result.outputs
    assert out[10] == [{"output_type": "stream", "name": "stdout", "text": "kept\n"}]
    assert out[20] == [{"output_type": "stream", "name": "stdout", "text": "new\n"}]
    assert out[30][0]["text"] == "stays\n"
    # update_display_data changed the display of the earlier cell
    assert [o["data"]["text/plain"] for o in out[40]] == ["'second'"]
    assert out[50] == [{"output_type": "stream", "name": "stdout", "text": "updated\n"}]
    assert_valid_nbformat(result)


def test_error_stops_the_job(make_job: MakeJob) -> None:
    result = run_job(make_job("print('before')", "1 / 0", "print('after')",
                              source_path="chapter/page.md"))
    assert result.status == "error" and not result.ok
    error = result.error
    assert error is not None
    assert error["cell"] == 20 and error["ename"] == "ZeroDivisionError"
    assert "division by zero" in error["evalue"]
    assert error["message"] == "cell at line 20: ZeroDivisionError: division by zero"
    assert any("ZeroDivisionError" in line for line in error["traceback"])
    assert error["source"] == "chapter/page.md"
    assert result.outputs[20][0]["output_type"] == "error"
    assert 30 not in result.outputs
    assert_valid_nbformat(result)


def test_allow_errors_and_allowed_cells(make_job: MakeJob) -> None:
    # allow_errors: recorded, the job goes on, and it does not fail (issue #17: no warning)
    result = run_job(make_job("1 / 0", "raise KeyError('k')", "print('after')",
                              allow_errors=True))
    assert result.status == "ok" and result.error is None
    assert result.outputs[10][0]["ename"] == "ZeroDivisionError"
    assert result.outputs[20][0]["ename"] == "KeyError"
    assert result.outputs[30][0]["text"] == "after\n"
    # an expected error: not a failure; a later unexpected one is
    result = run_job(make_job("1 / 0", "print('after')", "undefined_name",
                              allow_error_cells=frozenset({10})))
    assert result.status == "error" and result.error is not None
    assert result.error["cell"] == 30 and result.error["ename"] == "NameError"
    assert result.outputs[10][0]["ename"] == "ZeroDivisionError"
    assert result.outputs[20][0]["text"] == "after\n"


def test_setup_code_env_and_cwd(make_job: MakeJob, tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("content")
    result = run_job(make_job(
        "import os\nprint(os.environ['FOO'], repr(os.environ['CUDA_VISIBLE_DEVICES']))",
        "print(open('data.txt').read(), READY)",
        env=(("FOO", "bar baz"),), cwd=str(tmp_path),
        setup_code="print('not recorded')\nREADY = 'ready'",
    ))
    assert result.ok, result.error
    assert result.outputs[10][0]["text"] == "bar baz ''\n"
    assert result.outputs[20][0]["text"] == "content ready\n"
    # the setup code takes no execution count and leaves no output
    assert result.execution_counts == {10: 1, 20: 2}
    assert all("not recorded" not in str(o) for o in result.outputs.values())
    result = run_job(make_job("import os; print(os.environ['CUDA_VISIBLE_DEVICES'])"),
                     ["2", "5"])
    assert result.outputs[10][0]["text"] == "2,5\n" and result.cuda_visible_devices == "2,5"


def test_history_stays_in_memory(make_job: MakeJob, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """As nbclient runs IPython kernels: no history database in the user's profile
    (kernels running at once would share it), and the history still works."""
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    result = run_job(make_job("x = 1", "ip = get_ipython()\n"
                              "print(ip.history_manager.hist_file, len(ip.user_ns['In']))"))
    assert result.ok, result.error
    assert result.outputs[20][0]["text"] == ":memory: 3\n"
    assert not list((tmp_path / "ipython").rglob("history.sqlite"))


def test_failing_setup_code(make_job: MakeJob) -> None:
    result = run_job(make_job("print(1)", setup_code="raise ValueError('nope')"))
    assert result.status == "error" and result.error is not None
    assert result.error["cell"] == 0 and result.error["ename"] == "ValueError"
    assert result.error["message"] == "the setup code failed: ValueError: nope"
    assert result.outputs == {}


def test_timeout(make_job: MakeJob) -> None:
    # the cell sleeps far beyond the hang guard: only the timeout ends the job in time
    # (3 s, not 1: the timeout holds for the fast cell too, even on a loaded machine)
    result = guarded(lambda: run_job(make_job(
        "print('fast')", "import time\nprint('slow')\ntime.sleep(3600)", "print('never')",
        timeout=3.0)))
    assert result.status == "timeout" and result.error is not None
    assert result.error["cell"] == 20
    assert result.error["message"].startswith("cell at line 20: timed out after 3 s")
    assert result.outputs[10][0]["text"] == "fast\n"
    assert result.outputs[20][0]["text"] == "slow\n"  # what it printed before
    assert 30 not in result.outputs


def test_timeout_of_a_cell_that_ignores_interrupts(make_job: MakeJob,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel, "INTERRUPT_GRACE", 1.0)
    # only killing the kernel after the grace period ends this job within the hang guard
    result = guarded(lambda: run_job(make_job(
        "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(3600)",
        timeout=1.0)))
    assert result.status == "timeout" and result.error is not None
    assert result.error["cell"] == 10


def test_setup_code_timeout(make_job: MakeJob) -> None:
    result = run_job(make_job("print(1)", setup_code="import time; time.sleep(60)",
                              timeout=0.5))
    assert result.status == "timeout" and result.error is not None
    assert result.error["cell"] == 0 and "setup code timed out" in result.error["message"]


@pytest.mark.parametrize(("code", "how"), [
    ("import os; os._exit(1)", "exit status 1"),
    ("import ctypes; ctypes.string_at(0)", "SIGSEGV"),
])
def test_kernel_death(make_job: MakeJob, code: str, how: str) -> None:
    # the job's timeout (600 s) is beyond the hang guard: the death itself is noticed
    result = guarded(lambda: run_job(make_job("print(1)", code, "print(2)")))
    assert result.status == "dead" and result.error is not None
    assert result.error["cell"] == 20
    assert "kernel died" in result.error["message"] and how in result.error["message"]
    assert result.outputs[10][0]["text"] == "1\n"
    assert 30 not in result.outputs


def test_unknown_kernelspec(make_job: MakeJob) -> None:
    result = run_job(make_job("print(1)", kernel="no-such-kernel-spec"))
    assert result.status == "start_failed" and result.error is not None
    assert "no-such-kernel-spec" in result.error["message"]
    assert result.outputs == {} and result.kernel_start_seconds == 0


def test_kernel_that_exits_at_start(make_job: MakeJob,
                                    kernelspec_dir: Callable[..., str]) -> None:
    name = kernelspec_dir("broken", [sys.executable, "-c",
                                     "import sys; print('broken-kernel-says-hi', "
                                     "file=sys.stderr); sys.exit(3)", "{connection_file}"])
    result = guarded(lambda: run_job(make_job("print(1)", kernel=name)))
    assert result.status == "start_failed" and result.error is not None
    assert "exit status 3" in result.error["message"]
    assert "broken-kernel-says-hi" in result.error["message"]


def test_kernel_that_never_answers(make_job: MakeJob,
                                   kernelspec_dir: Callable[..., str]) -> None:
    name = kernelspec_dir("mute", [sys.executable, "-c",
                                   "import subprocess, time\n"
                                   "subprocess.Popen(['sleep', '3600'])\ntime.sleep(3600)",
                                   "{connection_file}"])
    # the mute kernel waits far beyond the hang guard: only the start timeout ends it
    result = guarded(lambda: run_job(make_job("print(1)", kernel=name), start_timeout=1.0))
    assert result.status == "start_failed" and result.error is not None
    assert "did not answer within 1 s" in result.error["message"]
    # (tried twice:) what the second was doing when it was given up
    assert re.search(r"\(kernel \d+: state \w, threads waiting in .*, listening on 0 of its "
                     r"5 ports\)", result.error["message"]), result.error["message"]
    # the autouse fixture checks that the mute kernel and its child are gone


def test_missing_working_directory(make_job: MakeJob, tmp_path: Path) -> None:
    result = run_job(make_job("print(1)", cwd=str(tmp_path / "missing")))
    assert result.status == "start_failed" and result.error is not None
    assert "does not exist" in result.error["message"]


def test_processes_started_by_cells_do_not_survive(make_job: MakeJob, tmp_path: Path,
                                                 marked: Callable[[], list[int]]) -> None:
    # Popen returns once its child runs; the forked ones say so with a file, and the
    # cell ends only when every process is there (no fixed sleep)
    result = run_job(make_job(textwrap.dedent(f"""\
        import os, subprocess, time
        subprocess.Popen(['sleep', '100'])                          # same group
        subprocess.Popen(['sleep', '101'], start_new_session=True)  # own session
        if os.fork() == 0:                                          # a forked kernel copy
            open({str(tmp_path / "fork")!r}, 'w').close()
            time.sleep(100)
            os._exit(0)
        # a daemon: double fork + setsid, orphaned at once
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                child = subprocess.Popen(['sleep', '102'])
                open({str(tmp_path / "daemon")!r}, 'w').close()
                child.wait()
            os._exit(0)
        deadline = time.monotonic() + {HANG_GUARD}
        files = ({str(tmp_path / "fork")!r}, {str(tmp_path / "daemon")!r})
        while not (up := all(map(os.path.exists, files))) and time.monotonic() < deadline:
            time.sleep(0.02)
        print('started' if up else 'not started')
    """), "print(len(__import__('os').listdir('/proc')) > 0)"))
    assert result.ok, result.error
    assert result.outputs[10][0]["text"] == "started\n"
    assert marked() == []


def test_connection_files_are_removed(make_job: MakeJob, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """jupyter-client writes a connection file per kernel (in the temp folder): none is
    left, whatever way the job ended."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    cancel = threading.Event()
    cancel.set()
    results = [run_job(make_job("print(1)")), run_job(make_job("import os; os._exit(1)")),
               run_job(make_job("import time; time.sleep(9)", timeout=0.5)),
               run_job(make_job("print(1)"), cancel=cancel)]
    assert [r.status for r in results] == ["ok", "dead", "timeout", "interrupted"]
    assert list(tmp_path.iterdir()) == []


def test_cancel_event_interrupts_the_job(make_job: MakeJob, tmp_path: Path) -> None:
    """The cancel event is set once the second cell runs (it writes a file first); the
    cell sleeps far beyond the hang guard, so only the cancel ends the job in time."""
    cancel = threading.Event()
    ready = tmp_path / "running"
    watcher = threading.Thread(
        target=lambda: wait_until(ready.exists, HANG_GUARD) and cancel.set(), daemon=True)
    watcher.start()
    result = guarded(lambda: run_job(make_job(
        "print('go')", f"import time\nopen({str(ready)!r}, 'w').close()\ntime.sleep(3600)"),
        cancel=cancel))
    watcher.join(HANG_GUARD)
    assert ready.exists() and cancel.is_set()
    assert result.status == "interrupted"
    assert result.outputs[10][0]["text"] == "go\n"


def test_keyboard_interrupt_cleans_up(tmp_path: Path, mark: str,
                                      marked: Callable[[], list[int]]) -> None:
    """Ctrl-C in a process calling run_job: the kernel and its children are killed and
    KeyboardInterrupt propagates."""
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import signal, sys
        # Ctrl-C raises KeyboardInterrupt even if the test runs with SIGINT
        # ignored (a background job)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from sphinx_d2ltabs.execution import Job, run_job
        code = ("import subprocess, time\\nsubprocess.Popen(['sleep', '100'])\\n"
                "print('go', flush=True)\\nopen('started', 'w').close()\\ntime.sleep(100)")
        job = Job("p", "fw", ((1, code),), env=(({MARK_VAR!r}, {mark!r}),), cwd={str(tmp_path)!r})
        try:
            run_job(job)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        started = wait_until(lambda: (tmp_path / "started").exists() or proc.poll() is not None,
                             HANG_GUARD)
        assert started and (tmp_path / "started").exists(), "the cell did not start"
        assert len(marked()) >= 2  # the kernel and its sleep
        proc.send_signal(2)  # SIGINT
        out, _ = proc.communicate(timeout=HANG_GUARD)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3 and "interrupted" in out


def test_result_for_moved_cells(make_job: MakeJob) -> None:
    """A result reused for the same code on other lines (e.g. from the cache)."""
    result = run_job(make_job("print('a')", "1 / 0"))
    assert result.status == "error"
    moved = Job("other", "fw", ((15, "print('a')"), (42, "1 / 0")), source_path="o.md")
    again = result.for_job(moved)
    assert again.docname == "other"
    assert again.outputs[15] == result.outputs[10] and again.outputs[42] == result.outputs[20]
    assert again.execution_counts == {15: 1, 42: 2}
    assert again.error is not None and again.error["cell"] == 42
    assert again.error["message"].startswith("cell at line 42: ZeroDivisionError")
    assert again.cell_ids == [15, 42]
    same = Job("page", "fw", ((10, "print('a')"), (20, "1 / 0")))
    assert result.for_job(same) is result
    assert os.environ.get(MARK_VAR) is None  # the marker never leaks into this process
