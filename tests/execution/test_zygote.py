"""Kernels forked from a zygote (execution/zygote.py) are the kernels that jupyter-client
would launch, die with their zygote, and fall back to a plain launch when the zygote
can't be used. (Every test of test_exec_kernel.py also runs with forked kernels.)"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from exec_helpers import MakeJob

from sphinx_d2ltabs.execution import Scheduler, run_job, zygote

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

SNAPSHOT = textwrap.dedent("""\
    import json, os, signal, sys
    handlers = {s: str(signal.getsignal(getattr(signal, s)))
                for s in ("SIGINT", "SIGTERM", "SIGPIPE", "SIGCHLD", "SIGHUP")}
    print(json.dumps({
        "path": sys.path, "argv0": sys.argv[0], "argc": len(sys.argv),
        "env": dict(os.environ), "cwd": os.getcwd(), "main": sys.modules["__main__"].__name__,
        "name": __name__, "flags": list(sys.flags), "handlers": handlers,
        "leader": os.getpgrp() == os.getpid(), "stdin": os.readlink("/proc/self/fd/0"),
        "executable": sys.executable, "prefix": sys.prefix,
    }))
""")
DIFFERENT = {"D2LTABS_KERNEL_TOKEN", "JPY_PARENT_PID"}
"""Per kernel, or per starting process: differ between any two kernels."""


def _snapshot(job_result_text: str) -> dict[str, object]:
    state = json.loads(job_result_text)
    env = state["env"]
    assert isinstance(env, dict)
    state["env"] = {k: v for k, v in env.items() if k not in DIFFERENT}
    return state


def test_a_forked_kernel_is_a_launched_one(make_job: MakeJob, tmp_path: Path) -> None:
    """Same sys.path, argv, environment, folder, __main__, flags, signal handlers, own
    process group, stdin on /dev/null... as the kernel jupyter-client launches."""
    job = make_job(SNAPSHOT, cwd=str(tmp_path), env=(("D2L_ZYGOTE_TEST", "1"),))
    launched = run_job(job)
    with zygote.forking() as forks:
        assert forks is not None
        forked = run_job(job)
        assert forks.forked == 1 and not forks.notes
    assert launched.ok and forked.ok, (launched.error, forked.error)
    a = _snapshot(launched.outputs[10][0]["text"])
    b = _snapshot(forked.outputs[10][0]["text"])
    assert a.keys() == b.keys()
    for key in a.keys() - {"stdin"}:
        assert a[key] == b[key], key
    assert b["env"]["D2L_ZYGOTE_TEST"] == "1" and b["cwd"] == str(tmp_path)
    assert b["leader"] is True
    # the one difference: stdin is /dev/null, not a pipe nobody writes to (a program
    # that reads it ends instead of hanging until the timeout)
    assert b["stdin"] == os.devnull and str(a["stdin"]).startswith("pipe:")


def test_a_zygote_whose_imports_start_a_thread_is_not_used(make_job: MakeJob,
                                                           tmp_path: Path) -> None:
    """Forking a process with threads is unsafe: the zygote says so and the kernels
    start as before, and work."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import threading\nthreading.Thread(target=threading.Event().wait, daemon=True)"
        ".start()\n")
    job = make_job("import threading; print(threading.active_count() > 1)",
                   env=(("PYTHONPATH", str(site)),))
    with zygote.forking() as forks:
        assert forks is not None
        results = [run_job(job), run_job(job)]
        assert forks.forked == 0
        assert len(forks.notes) == 1 and "thread" in forks.notes[0]
    assert [r.status for r in results] == ["ok", "ok"]
    assert results[0].outputs[10][0]["text"] == "True\n"


def test_kernels_die_with_their_zygote_and_the_next_gets_a_new_one(
        make_job: MakeJob, marked: Callable[[], list[int]]) -> None:
    """A zygote killed under a running kernel takes the kernel along (the job ends
    ``dead``, not hung); the next kernel comes from a new zygote."""
    killer = make_job("import os, signal, time\nos.kill(os.getppid(), signal.SIGKILL)\n"
                      "time.sleep(3600)")
    with zygote.forking() as forks:
        assert forks is not None
        first = run_job(killer)
        second = run_job(make_job("print('fine')"))
        assert forks.forked == 2
    assert first.status == "dead", first.error
    assert second.ok and second.outputs[10][0]["text"] == "fine\n"


def test_the_scheduler_forks_when_jobs_wait_unless_told_not_to(make_job: MakeJob) -> None:
    """Forked: a run with more jobs than workers. Launched: with ``fork_kernels=False``,
    and when every job starts at once (a fork server would only add its own start)."""
    code = "import os; print(os.getppid())"
    jobs = [make_job(code, docname=f"p{i}") for i in range(3)]
    forked = Scheduler(2, [], prestart=0).run(jobs)
    launched = [Scheduler(2, [], prestart=0, fork_kernels=False).run(jobs),
                Scheduler(3, [], prestart=0).run(jobs)]
    parents = {r.outputs[10][0]["text"] for r in forked.values()}
    assert all(r.ok for run in (forked, *launched) for r in run.values())
    assert len(parents) == 1  # one zygote for the three (the build is not their parent)
    assert parents != {f"{os.getpid()}\n"}
    for run in launched:
        assert {r.outputs[10][0]["text"] for r in run.values()} == {f"{os.getpid()}\n"}


@pytest.mark.parametrize("argv, python", [
    (["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"], True),
    ([sys.executable, "-m", "ipykernel", "-f", "x"], True),
    ([sys.executable, "-m", "other_kernel", "-f", "x"], False),
    ([sys.executable, "script.py", "-f", "x"], False),
    (["/no/such/python", "-m", "ipykernel_launcher", "-f", "x"], False),
])
def test_which_kernels_are_forked(argv: list[str], python: bool) -> None:
    assert (zygote.forkable(argv) is not None) is python



def test_a_forked_kernel_that_does_not_start_is_launched_instead(
        make_job: MakeJob, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever keeps a forked kernel from answering, the job's second try launches its
    kernel from nothing (no fork server), and the job runs."""
    from sphinx_d2ltabs.execution import session

    original = session.KernelSession._wait_for_ready
    tries: list[bool] = []

    def wait_for_ready(self: session.KernelSession, timeout: float) -> None:
        tries.append(self.forked)
        if self.forked:
            raise TimeoutError("the kernel did not answer (simulated)")
        original(self, timeout)

    monkeypatch.setattr(session.KernelSession, "_wait_for_ready", wait_for_ready)
    with zygote.forking():
        result = run_job(make_job("import os; print(os.getppid())"))
    assert tries == [True, False]
    assert result.ok, result.error
    assert result.outputs[10][0]["text"] == f"{os.getpid()}\n"  # launched: our child
