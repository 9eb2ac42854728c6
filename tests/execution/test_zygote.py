"""Kernels forked from a zygote (execution/forks.py, execution/zygote.py) are the
kernels that jupyter-client would launch, die with their zygote, and fall back to a plain
launch when the zygote can't be used. (Every test of test_exec_kernel.py also runs with
forked kernels.)"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from exec_helpers import MakeJob

from sphinx_d2ltabs.execution import JobResult, Scheduler, run_job
from sphinx_d2ltabs.execution.forks import forkable, forking, shadowed

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
    with forking() as forks:
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
    with forking() as forks:
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
    with forking() as forks:
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
    assert (forkable(argv) is not None) is python



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
    with forking():
        result = run_job(make_job("import os; print(os.getppid())"))
    assert tries == [True, False]
    assert result.ok, result.error
    assert result.outputs[10][0]["text"] == f"{os.getpid()}\n"  # launched: our child


# ------------------------------------------------------------------ set-up imports
PROBE = "import os\nPID = os.getpid()\n"
"""A module that says which process imported it."""
WHO = "import os, probe\nprint(probe.PID == os.getpid(), getattr(probe, 'LOCAL', False))"
"""A cell: was ``probe`` imported by this kernel (True) or by its zygote (False)?"""


def _site(tmp_path: Path, probe: str = PROBE) -> tuple[tuple[str, str], ...]:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "probe.py").write_text(probe)
    return (("PYTHONPATH", str(site)),)


def _text(result: JobResult) -> str:
    return "".join(str(o.get("text", "")) for o in result.outputs.get(10, []))


def test_setup_imports_run_once_in_the_fork_server(make_job: MakeJob, tmp_path: Path) -> None:
    """The set-up code's leading imports run in the zygote: each kernel finds the module
    imported, and is otherwise the kernel jupyter-client launches (as above)."""
    job = make_job(WHO, setup_code="import probe\nx = 1", env=_site(tmp_path),
                   cwd=str(tmp_path))
    snap = make_job(SNAPSHOT, setup_code="import probe", env=_site(tmp_path),
                    cwd=str(tmp_path))
    launched = [run_job(job), run_job(snap)]
    with forking() as forks:
        assert forks is not None
        forked = [run_job(job), run_job(job), run_job(snap)]
        assert forks.forked == 3 and not forks.notes
        assert {bool(k[2]) for k in forks.zygotes} == {True}  # only the one with imports
    assert all(r.ok for r in launched + forked)
    assert _text(launched[0]) == "True False\n"
    assert [_text(r) for r in forked[:2]] == ["False False\n"] * 2
    a, b = _snapshot(_text(launched[1])), _snapshot(_text(forked[2]))
    assert a["env"] == b["env"] and a["path"] == b["path"] and a["cwd"] == b["cwd"]


def test_setup_imports_off(make_job: MakeJob, tmp_path: Path) -> None:
    """``d2l_fork_setup_imports = False``: forked, but each kernel imports them."""
    jobs = [make_job(WHO, setup_code="import probe", env=_site(tmp_path), docname=f"p{i}")
            for i in range(3)]
    results = Scheduler(2, [], prestart=0, fork_setup_imports=False).run(jobs)
    assert {_text(r) for r in results.values()} == {"True False\n"}


@pytest.mark.parametrize("probe, why", [
    (PROBE + "import threading\nthreading.Thread(target=threading.Event().wait, "
     "daemon=True).start()\n", "thread"),
    (PROBE + "from IPython import get_ipython\nSHELL = get_ipython()\n",
     "probe asked for IPython"),
    (PROBE + "raise RuntimeError('not here')\n", "RuntimeError: not here"),
])
def test_setup_imports_that_are_unsafe_are_left_to_the_kernel(
        make_job: MakeJob, tmp_path: Path, probe: str, why: str) -> None:
    """A thread left running, a module that looks for IPython when imported (it would
    see none), an import that fails: the kernel is forked from the zygote without them,
    imports them itself, and the build is told why."""
    job = make_job(WHO, setup_code="import probe", env=_site(tmp_path, probe))
    launched = run_job(job)
    with forking() as forks:
        assert forks is not None
        forked = run_job(job)
        assert forks.forked == 1
        assert len(forks.notes) == 1 and why in forks.notes[0], forks.notes
    assert (forked.status, _text(forked)) == (launched.status, _text(launched))
    if "RuntimeError" in why:  # the set-up code fails as it would have anyway
        assert forked.status == "error" and "not here" in str(forked.error)
    else:
        assert forked.ok and _text(forked) == "True False\n"


@pytest.mark.parametrize("where, local, ahead", [
    ("site-packages", True, False),  # the page's folder comes first: the kernel imports it
    ("lib", False, True),  # PYTHONPATH comes first: the zygote's module is the kernel's
])
def test_a_module_in_the_page_folder(make_job: MakeJob, tmp_path: Path, where: str,
                                     local: bool, ahead: bool) -> None:
    """A kernel has its page's folder on ``sys.path``, before site-packages and after
    ``PYTHONPATH`` (IPython puts it there). A module of the folder that would replace one
    the zygote imported from site-packages: the kernel is forked from the zygote without
    them and imports it itself. One that comes after a ``PYTHONPATH`` module of that name:
    it changes nothing, the zygote's is used. Either way, the kernel finds what a launched
    kernel finds."""
    site = tmp_path / where
    site.mkdir()
    (site / "probe.py").write_text(PROBE)
    page = tmp_path / "page"
    page.mkdir()
    (page / "probe.py").write_text(PROBE + "LOCAL = True\n")
    job = make_job(WHO, setup_code="import probe", env=(("PYTHONPATH", str(site)),),
                   cwd=str(page))
    launched = run_job(job)
    with forking() as forks:
        assert forks is not None
        result = run_job(job)
        assert forks.forked == 1 and not forks.notes
    assert launched.ok and result.ok
    assert _text(launched) == f"True {local}\n"
    assert _text(result) == f"{not ahead} {local}\n"


@pytest.mark.parametrize("entry, name", [
    ("probe.py", "probe"), ("probe.pyc", "probe"), ("probe.cpython-311-x86_64-linux-gnu.so",
                                                     "probe"),
    ("probe/__init__.py", "probe"), ("probe/other.py", ""), ("probes.py", ""),
    ("matplotlibrc", "matplotlib"), ("notes.txt", ""),
])
def test_what_shadows_a_preloaded_module(tmp_path: Path, entry: str, name: str) -> None:
    (tmp_path / entry).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / entry).write_text("")
    assert shadowed(str(tmp_path), frozenset({"probe", "matplotlib"})) == name


@pytest.mark.parametrize("setup", [
    "import matplotlib.pyplot as plt",
    "from matplotlib_inline import backend_inline\nimport matplotlib.pyplot as plt",
])
def test_a_preloaded_matplotlib_still_shows_figures_inline(make_job: MakeJob,
                                                          setup: str) -> None:
    """pyplot and the inline backend imported ahead (as ``from d2l import torch as d2l``
    does), under the ``MPLBACKEND`` the kernel sets: the kernel's figures are shown as a
    launched kernel's are (the backend's hook into IPython is done again in the kernel)."""
    pytest.importorskip("matplotlib")
    job = make_job("plt.plot([1, 2, 3]);", "import matplotlib; print(matplotlib.get_backend())",
                   setup_code=setup)
    launched = run_job(job)
    with forking() as forks:
        assert forks is not None
        forked = run_job(job)
        assert forks.forked == 1 and not forks.notes
        assert {bool(k[2]) for k in forks.zygotes} == {True}
    for result in (launched, forked):
        assert result.ok, result.error
        assert [o.get("output_type") for o in result.outputs[10]] == ["display_data"]
        assert "image/png" in result.outputs[10][0]["data"]
    assert forked.outputs[20] == launched.outputs[20]


def test_random_generators_differ_between_forked_kernels(make_job: MakeJob) -> None:
    """numpy's and torch's global generators, seeded when imported in the zygote, are
    seeded again in each kernel, as in kernels of their own."""
    pytest.importorskip("numpy")
    code = "import random, numpy\nprint(random.random(), numpy.random.rand())"
    setup = "import numpy.random"
    if not os.environ.get("CI"):
        pytest.importorskip("torch")
    code += "\nimport torch; print(torch.rand(1).item())"
    setup += "\nimport torch"
    job = make_job(code, setup_code=setup)
    with forking() as forks:
        assert forks is not None
        first, second = run_job(job), run_job(job)
        assert forks.forked == 2 and not forks.notes
    assert first.ok and second.ok
    a, b = _text(first).split(), _text(second).split()
    assert len(a) == 3 and all(x != y for x, y in zip(a, b, strict=True))


def test_set_up_code_the_server_cannot_take_is_left_to_the_kernel(make_job: MakeJob) -> None:
    """Set-up code that can't be a process argument (a NUL byte): the server is not
    started, the kernel is forked from the one without set-up imports, and the job ends
    as a launched kernel's does (here: its set-up code fails in the kernel too)."""
    job = make_job("print('cell')", setup_code="import os\n# \x00")
    launched = run_job(job)
    with forking() as forks:
        assert forks is not None
        forked = run_job(job)
        assert forks.forked == 1
        assert len(forks.notes) == 1 and "did not start" in forks.notes[0], forks.notes
    assert forked.status == launched.status == "error"
    assert forked.error is not None and launched.error is not None
    assert forked.error["ename"] == launched.error["ename"]
