"""The warm pool (execution/pool.py): the kernels of the next jobs start and run their
set-up code while other jobs run; one kernel per job; strict order of the run slots;
GPU slots held from a kernel's start; Ctrl-C and failing callbacks leave no kernel.

The slot logic is tested with :class:`PoolRunner` (the scheduler's ``run_job`` seam with
``ready``: no kernel starts, jobs move on when the test says so); the tests marked "real
kernels" run jobs in ipykernel and meet through files, never through time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pytest
from exec_helpers import (
    HANG_GUARD,
    MARK_VAR,
    MakeJob,
    fake_job,
    joined,
    run_in_thread,
    wait_until,
)

from sphinx_d2ltabs.execution import Job, JobResult, Scheduler
from sphinx_d2ltabs.execution.pool import RunSlots
from sphinx_d2ltabs.execution.scheduler import default_prestart
from sphinx_d2ltabs.execution.session import Cancelled


class PoolRunner:
    """A job runner with the warm pool's ``ready`` (no kernel): a job "starts its
    kernel" (recorded in ``begun`` with its GPU ids), waits until the test lets its start
    end (:meth:`warm`, for names in ``slow``), calls ``ready`` (recorded in ``ran`` once it
    returns), then waits until :meth:`finish` for names in ``hold``. ``fail_start`` jobs
    end before ``ready`` (a kernel that did not start)."""

    def __init__(self, hold: Iterable[str] = (), slow: Iterable[str] = (),
                 fail_start: Iterable[str] = ()) -> None:
        self.cond = threading.Condition()
        self.gates = {name: threading.Event() for name in hold}
        self.starts = {name: threading.Event() for name in slow}
        self.fail_start = set(fail_start)
        self.begun: list[str] = []
        self.ran: list[str] = []
        self.ids: dict[str, list[str]] = {}
        self.running: set[str] = set()
        self.most_running = 0

    def __call__(self, job: Job, gpu_ids: Sequence[str], *,
                 cancel: threading.Event | None = None,
                 ready: Callable[[], None] | None = None) -> JobResult:
        assert ready is not None, "the pool passes ready"
        name = job.docname
        with self.cond:
            self.begun.append(name)
            self.ids[name] = list(gpu_ids)
            self.cond.notify_all()
        if name in self.starts:
            assert self.starts[name].wait(HANG_GUARD), f"{name}: start never released"
        if name in self.fail_start:
            return JobResult(name, job.framework, "start_failed", error={"message": "x"})
        try:
            ready()
        except Cancelled:
            return JobResult(name, job.framework, "interrupted")
        with self.cond:
            self.ran.append(name)
            self.running.add(name)
            self.most_running = max(self.most_running, len(self.running))
            self.cond.notify_all()
        gate = self.gates.get(name)
        if gate is not None:
            assert gate.wait(HANG_GUARD), f"{name} was never released"
        with self.cond:
            self.running.discard(name)
        return JobResult(name, job.framework, "ok", seconds=0.01,
                         cuda_visible_devices=",".join(gpu_ids))

    def wait_for(self, what: Callable[[], bool]) -> None:
        with self.cond:
            assert self.cond.wait_for(what, HANG_GUARD), (self.begun, self.ran)

    def warm(self, name: str) -> None:
        self.starts[name].set()

    def finish(self, name: str) -> None:
        self.gates[name].set()


# ------------------------------------------------------------------ the slots


def test_run_slots_go_in_order_and_never_beyond_the_workers() -> None:
    cond, cancel = threading.Condition(), threading.Event()
    slots = RunSlots(1, 2, cond, cancel)
    with cond:
        tickets = [slots.begin() for _ in range(3)]
        assert not slots.can_begin() and slots.begun == 3
    assert not any(t.holds for t in tickets)
    assert slots.wait_turn(tickets[0]) and slots.running == 1
    assert not slots.wait_turn(tickets[0])  # held already
    # the third is warm, but the second began earlier and the only slot is taken
    took: list[int] = []
    waiter = threading.Thread(target=lambda: took.append(int(slots.wait_turn(tickets[2]))))
    waiter.start()
    with cond:
        slots.end(tickets[0])  # a slot frees: it waits for the second, not the third
        slots.end(tickets[1])  # the second ends before its turn (its kernel did not start)
    waiter.join(HANG_GUARD)
    assert took == [1] and tickets[2].holds and slots.running == 1
    with cond:
        slots.end(tickets[2])
        assert slots.begun == 0 and slots.running == 0 and slots.can_begin()


def test_run_slots_cancel_a_waiting_job() -> None:
    cond, cancel = threading.Condition(), threading.Event()
    slots = RunSlots(1, 1, cond, cancel)
    with cond:
        first, second = slots.begin(), slots.begin()
    assert slots.wait_turn(first)
    cancel.set()
    with pytest.raises(Cancelled):
        slots.wait_turn(second)
    assert not second.holds
    with cond:
        slots.end(second)
        slots.end(first)
        assert slots.begun == 0 and slots.running == 0


def test_without_prestart_a_job_holds_its_slot_from_the_start() -> None:
    cond, cancel = threading.Condition(), threading.Event()
    slots = RunSlots(2, 0, cond, cancel)
    with cond:
        a, b = slots.begin(), slots.begin()
        assert a.holds and b.holds and slots.running == 2 and not slots.can_begin()


# ------------------------------------------------------------------ the scheduler


def test_next_jobs_start_while_others_run_in_order() -> None:
    """One worker, two jobs ahead: while the first runs, the next two begin; they run one
    at a time, in the scheduler's order (longest first), never two at once."""
    runner = PoolRunner(hold=["long", "mid", "short"])
    jobs = [fake_job("short"), fake_job("mid"), fake_job("long")]
    hints = {("long", "fw"): 30.0, ("mid", "fw"): 20.0, ("short", "fw"): 10.0}
    thread, out = run_in_thread(Scheduler(1, [], run_job=runner, prestart=2), jobs,
                                expected_seconds=hints)
    runner.wait_for(lambda: len(runner.begun) == 3 and runner.ran == ["long"])
    with runner.cond:
        assert runner.begun == ["long", "mid", "short"]
    runner.finish("long")
    runner.wait_for(lambda: runner.ran == ["long", "mid"])
    runner.finish("mid")
    runner.finish("short")
    results = joined(thread, out)
    assert runner.ran == ["long", "mid", "short"] and runner.most_running == 1
    assert all(r.ok for r in results.values()) and len(results) == 3


def test_a_slot_waits_for_the_job_that_began_first() -> None:
    """The second job's kernel is slow to start: the third (warm first) does not overtake
    it; a job whose kernel fails to start gives its turn to the next."""
    runner = PoolRunner(hold=["a"], slow=["b"], fail_start=["c"])
    thread, out = run_in_thread(Scheduler(1, [], run_job=runner, prestart=3),
                                [fake_job("a"), fake_job("b"), fake_job("c"), fake_job("d")])
    runner.wait_for(lambda: len(runner.begun) == 4 and runner.ran == ["a"])
    runner.finish("a")  # the slot frees while b is still starting and d is warm
    runner.warm("b")
    results = joined(thread, out)
    assert runner.ran == ["a", "b", "d"]
    assert results[("c", "fw")].status == "start_failed"


def test_a_warm_gpu_job_holds_its_gpu() -> None:
    """A GPU job started ahead holds its GPU id from its kernel's start: the next GPU job
    waits for a GPU, a CPU job starts ahead instead."""
    runner = PoolRunner(hold=["g1", "g2", "cpu"])
    thread, out = run_in_thread(Scheduler(1, ["7"], run_job=runner, prestart=1),
                                [fake_job("g1", gpus=1), fake_job("g2", gpus=1), fake_job("cpu")])
    runner.wait_for(lambda: runner.begun == ["g1", "cpu"] and runner.ran == ["g1"])
    assert runner.ids == {"g1": ["7"], "cpu": []}
    runner.finish("g1")
    runner.wait_for(lambda: "g2" in runner.begun)  # the GPU came back
    assert runner.ids["g2"] == ["7"]
    runner.wait_for(lambda: runner.ran == ["g1", "cpu"])  # cpu began first: its turn
    runner.finish("cpu")
    runner.finish("g2")
    results = joined(thread, out)
    assert runner.ran == ["g1", "cpu", "g2"]
    assert results[("g2", "fw")].cuda_visible_devices == "7"


def test_a_failing_callback_cancels_the_warm_jobs() -> None:
    runner = PoolRunner(hold=["a"])

    def broken(job: Job, result: JobResult) -> None:
        raise RuntimeError("cannot store")

    thread, out = run_in_thread(Scheduler(1, [], run_job=runner, prestart=2, on_result=broken),
                                [fake_job("a"), fake_job("b"), fake_job("c")])
    runner.wait_for(lambda: len(runner.begun) == 3)
    runner.finish("a")
    with pytest.raises(RuntimeError, match="cannot store"):
        joined(thread, out)
    assert runner.ran == ["a"]  # the warm jobs never ran their cells


def test_default_depth() -> None:
    # the real runner: one kernel ahead per worker, within the CPUs the workers leave free
    assert [default_prestart(w, 8) for w in (1, 2, 4, 6, 8, 12)] == [1, 2, 4, 2, 0, 0]
    assert Scheduler(3, []).prestart == default_prestart(3)
    assert Scheduler(3, [], run_job=PoolRunner()).prestart == 0
    assert Scheduler(3, [], prestart=0).prestart == 0
    assert Scheduler(3, [], prestart=5).prestart == 5


# ------------------------------------------------------------------ real kernels

# job "a" waits for the file that job "b"'s set-up code writes: they meet only if b's
# kernel starts and runs its set-up code while a runs (one worker)
WAIT_FOR = ("import os, time\ndeadline = time.monotonic() + {guard}\n"
            "while not os.path.exists({path!r}) and time.monotonic() < deadline:\n"
            "    time.sleep(0.02)\n"
            "print('met' if os.path.exists({path!r}) else 'alone')\n"
            "leak = 'from a'\nprint(os.getpid())")


def test_the_next_kernel_is_set_up_while_a_job_runs(make_job: MakeJob, tmp_path: Path) -> None:
    """Real kernels, one worker, one kernel ahead: b's kernel starts in b's folder with
    b's environment and runs b's set-up code while a runs; b's cells run after a ended,
    in a kernel of its own (nothing of a's is visible)."""
    warm = tmp_path / "b-warm"
    folder = tmp_path / "b"
    folder.mkdir()
    a = make_job(WAIT_FOR.format(guard=HANG_GUARD, path=str(warm)), docname="a")
    b = make_job("import os\nprint(SET_UP, os.getcwd(), os.environ['WHO'])\n"
                 "print('leak' in globals(), os.getpid())",
                 docname="b", cwd=str(folder), env=(("WHO", "b"),),
                 setup_code=f"SET_UP = 'ready'\nopen({str(warm)!r}, 'w').close()")
    results = Scheduler(1, [], prestart=1).run([a, b])
    ra, rb = results[("a", "fw")], results[("b", "fw")]
    assert ra.ok and rb.ok, (ra.error, rb.error)
    met, pid_a = ra.outputs[10][0]["text"].split()
    assert met == "met", "b's kernel was not set up while a ran"
    line1, line2 = rb.outputs[10][0]["text"].splitlines()
    assert line1 == f"ready {folder} b"
    leaked, pid_b = line2.split()
    assert leaked == "False" and pid_b != pid_a
    assert rb.setup_seconds > 0 and rb.seconds >= rb.kernel_start_seconds + rb.setup_seconds


def test_without_the_pool_nothing_starts_ahead(make_job: MakeJob, tmp_path: Path) -> None:
    """The same two jobs with ``prestart = 0``: b's set-up code runs only after a ended."""
    warm = tmp_path / "b-warm"
    a = make_job(WAIT_FOR.format(guard=0, path=str(warm)), docname="a")
    b = make_job("print(1)", docname="b", setup_code=f"open({str(warm)!r}, 'w').close()")
    results = Scheduler(1, [], prestart=0).run([a, b])
    assert results[("a", "fw")].outputs[10][0]["text"].split()[0] == "alone"
    assert warm.exists() and results[("b", "fw")].ok


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_kills_the_warm_kernels(tmp_path: Path, mark: str, sig: int,
                                          marked: Callable[[], list[int]]) -> None:
    """Ctrl-C while one job runs and two kernels wait ahead (their set-up code started a
    process each): every kernel and process is gone, the connection files too, and the
    warm jobs never ran a cell."""
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import signal, sys
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from sphinx_d2ltabs.execution import Job, Scheduler
        d = {str(tmp_path)!r}
        env = (({MARK_VAR!r}, {mark!r}),)
        setup = "import subprocess\\nsubprocess.Popen(['sleep', '100'])\\nopen({{!r}}, 'w').close()"
        cell = "open({{!r}}, 'w').close()\\nimport time\\ntime.sleep(100)"
        jobs = [Job(f"p{{i}}", "fw", ((1, cell.format(f"{{d}}/ran{{i}}")),), env=env,
                    setup_code=setup.format(f"{{d}}/warm{{i}}")) for i in range(3)]
        try:
            Scheduler(1, [], prestart=2).run(jobs)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
    """))
    tmpdir = tmp_path / "tmp"  # where jupyter-client writes the connection files
    tmpdir.mkdir()
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(tmpdir)})
    try:
        ready = wait_until(lambda: all((tmp_path / name).exists()
                                       for name in ("ran0", "warm1", "warm2")), HANG_GUARD)
        assert ready, "the kernels did not start"
        assert len(marked()) >= 6  # three kernels, three sleeps
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=HANG_GUARD)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3 and "interrupted" in out
    assert not (tmp_path / "ran1").exists() and not (tmp_path / "ran2").exists()
    assert list(tmpdir.iterdir()) == []
    # the autouse fixture checks that no marked process is left
