"""The scheduler: parallel workers, exclusive GPU slots, the no-GPU fallback, order,
progress reports, and Ctrl-C/SIGTERM leaving no kernel behind.

The slot, order and report logic is tested with :class:`FakeRunner` (the scheduler's
``run_job`` seam: no kernel starts, jobs end when the test releases them); the tests
marked "real kernels" run jobs in ipykernel."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
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

from sphinx_d2ltabs.execution import Job, JobResult, Progress, Scheduler


class FakeRunner:
    """A job runner that starts no kernel (the scheduler's ``run_job`` seam), to test the
    GPU slots, the order and the reports deterministically.

    Each job "prints" the ``CUDA_VISIBLE_DEVICES`` it would see (``repr`` of its GPU ids
    joined by commas) in its cell at line 10. A job whose docname is in ``hold`` does not
    end before :meth:`release` is called for it. Two running jobs holding one GPU id are
    recorded in ``clashes``.
    """

    def __init__(self, hold: Iterable[str] = (), status: Mapping[str, str] | None = None):
        self.cond = threading.Condition()
        self.gates = {name: threading.Event() for name in hold}
        self.status = dict(status or {})
        self.started: list[str] = []
        self.running: dict[str, str] = {}  # GPU id -> docname
        self.clashes: list[tuple[str, str, str]] = []
        self.ids: dict[str, list[str]] = {}

    def __call__(self, job: Job, gpu_ids: Sequence[str], *,
                 cancel: threading.Event | None = None) -> JobResult:
        with self.cond:
            for gpu in gpu_ids:
                if gpu in self.running:
                    self.clashes.append((gpu, self.running[gpu], job.docname))
                self.running[gpu] = job.docname
            self.started.append(job.docname)
            self.ids[job.docname] = list(gpu_ids)
            self.cond.notify_all()
        gate = self.gates.get(job.docname)
        if gate is not None:
            assert gate.wait(HANG_GUARD), f"{job.docname} was never released"
        with self.cond:
            for gpu in gpu_ids:
                if self.running.get(gpu) == job.docname:
                    del self.running[gpu]
        visible = ",".join(gpu_ids)
        status = self.status.get(job.docname, "ok")
        return JobResult(job.docname, job.framework, status, cell_ids=[10],
                         outputs={10: [{"output_type": "stream", "name": "stdout",
                                        "text": f"{visible!r}\n"}]},
                         execution_counts={10: 1}, seconds=0.01,
                         cuda_visible_devices=visible,
                         error=None if status == "ok" else {"cell": 10, "message": status})

    def wait_started(self, *names: str) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: set(names) <= set(self.started), HANG_GUARD), (
                names, self.started)

    def release(self, name: str) -> None:
        self.gates[name].set()


# each of two cells waits for the other to start: they meet only if they run at once
MEET = ("import os, time\nopen(os.path.join({dir!r}, {me!r}), 'w').close()\n"
        "deadline = time.monotonic() + {guard}\n"
        "while not os.path.exists(os.path.join({dir!r}, {other!r})) "
        "and time.monotonic() < deadline:\n    time.sleep(0.02)\n"
        "print('met' if os.path.exists(os.path.join({dir!r}, {other!r})) else 'alone')")


def test_two_workers_run_two_jobs_at_once(make_job: MakeJob, tmp_path: Path) -> None:
    """Real kernels: each job's cell waits for the other's to start (a rendezvous, not a
    measure of time)."""
    jobs = [make_job(MEET.format(dir=str(tmp_path), me=f"p{i}", other=f"p{1 - i}",
                                 guard=HANG_GUARD), docname=f"p{i}") for i in range(2)]
    results = Scheduler(2, []).run(jobs)
    assert set(results) == {("p0", "fw"), ("p1", "fw")}
    for result in results.values():
        assert result.ok, result.error
        assert result.outputs[10][0]["text"] == "met\n", "the two jobs did not run at once"


def test_gpu_slots_are_exclusive() -> None:
    jobs = [fake_job(f"gpu{i}", gpus=1) for i in range(3)]
    jobs.append(fake_job("cpu"))
    runner = FakeRunner(hold=["gpu0", "gpu1", "gpu2", "cpu"])
    notices: list[str] = []
    thread, out = run_in_thread(
        Scheduler(4, ["0", "1"], on_notice=notices.append, run_job=runner), jobs)
    # both GPUs busy, the CPU job runs beside them; the third GPU job waits for a GPU
    runner.wait_started("gpu0", "gpu1", "cpu")
    with runner.cond:
        assert "gpu2" not in runner.started
    runner.release("gpu0")
    runner.wait_started("gpu2")
    for name in ("gpu1", "gpu2", "cpu"):
        runner.release(name)
    results = joined(thread, out)
    runs = {doc: r.outputs[10][0]["text"].strip().strip("'") for (doc, _), r in results.items()}
    assert runs["cpu"] == "" and results[("cpu", "fw")].cuda_visible_devices == ""
    gpu_runs = [runs[f"gpu{i}"] for i in range(3)]
    for i in range(3):
        assert results[(f"gpu{i}", "fw")].cuda_visible_devices == gpu_runs[i]
        assert not results[(f"gpu{i}", "fw")].gpu_fallback
    assert all(visible in ("0", "1") for visible in gpu_runs)  # one id each
    assert runner.clashes == [], "two running jobs shared a GPU"
    assert gpu_runs[2] == gpu_runs[0]  # the GPU that was freed
    assert set(gpu_runs) == {"0", "1"}
    assert notices == []


def test_multi_gpu_job_and_cap(make_job: MakeJob) -> None:
    """Real kernels: a job's GPU ids reach its kernel's CUDA_VISIBLE_DEVICES."""
    code = "import os; print(os.environ['CUDA_VISIBLE_DEVICES'])"
    notices: list[str] = []
    results = Scheduler(2, ["3", "7"], on_notice=notices.append).run(
        [make_job(code, docname="two", gpus=2), make_job(code, docname="many", gpus=5)])
    for doc in ("two", "many"):
        assert results[(doc, "fw")].outputs[10][0]["text"] == "3,7\n"
    assert len(notices) == 1 and "wants 5 GPUs" in notices[0]


def test_no_gpu_fallback_notice_once() -> None:
    jobs = [fake_job(f"g{i}", gpus=1) for i in range(3)]
    jobs.append(fake_job("cpu"))
    notices: list[str] = []
    runner = FakeRunner()
    results = Scheduler(2, [], on_notice=notices.append, run_job=runner).run(jobs)
    assert len(results) == 4 and all(r.ok for r in results.values())
    assert all(results[(f"g{i}", "fw")].gpu_fallback for i in range(3))
    assert not results[("cpu", "fw")].gpu_fallback
    assert all(r.outputs[10][0]["text"] == "''\n" for r in results.values())
    assert all(ids == [] for ids in runner.ids.values()) and len(runner.ids) == 4
    assert len(notices) == 1 and "no GPU" in notices[0]


def test_strict_gpu_mode_fails_gpu_jobs() -> None:
    jobs = [fake_job("g", gpus=1, source_path="g.md"), fake_job("c")]
    notices: list[str] = []
    runner = FakeRunner()
    results = Scheduler(2, [], strict_gpu=True, on_notice=notices.append,
                        run_job=runner).run(jobs)
    failed = results[("g", "fw")]
    assert failed.status == "start_failed" and failed.error is not None
    assert "no GPU" in failed.error["message"] and failed.error["source"] == "g.md"
    assert results[("c", "fw")].ok
    assert runner.started == ["c"]  # the GPU job never ran
    assert len(notices) == 1


def test_order_and_progress() -> None:
    jobs = [fake_job(name, gpus=gpus)
            for name, gpus in [("short", 0), ("long", 0), ("gpu", 1), ("plain", 0)]]
    scheduler = Scheduler(1, ["0"])
    hints = {("long", "fw"): 30.0, ("short", "fw"): 1.0}
    assert [j.docname for j in scheduler.order(jobs, hints)] == ["gpu", "long", "short", "plain"]
    assert [j.docname for j in scheduler.order(jobs)] == ["gpu", "short", "long", "plain"]

    reports: list[Progress] = []
    runner = FakeRunner()
    scheduler = Scheduler(1, ["0"], on_progress=reports.append, run_job=runner)
    results = scheduler.run(jobs[:3], expected_seconds=hints)
    assert len(results) == 3
    assert runner.started == ["gpu", "long", "short"]
    started = [r.running[0] for r in reports if r.running]
    assert started == ["gpu [fw]", "long [fw]", "short [fw]"]
    assert [r.done for r in reports] == [0, 1, 1, 2, 2, 3]
    assert all(r.total == 3 and r.failed == 0 for r in reports)
    assert reports[0].eta is None and reports[-1].eta == 0.0
    assert all(b.elapsed >= a.elapsed for a, b in itertools.pairwise(reports))


def test_failures_are_counted_and_others_go_on(make_job: MakeJob) -> None:
    """Real kernels: an error, a success and a kernel that cannot start."""
    reports: list[Progress] = []
    delivered: list[tuple[Job, JobResult]] = []
    jobs = [make_job("1 / 0", docname="bad"), make_job("print('fine')", docname="good"),
            make_job("print(1)", docname="nokernel", kernel="no-such-kernel-spec")]
    results = Scheduler(2, [], on_progress=reports.append,
                        on_result=lambda job, result: delivered.append((job, result))).run(jobs)
    assert results[("bad", "fw")].status == "error"
    assert results[("good", "fw")].ok
    assert results[("nokernel", "fw")].status == "start_failed"
    assert reports[-1].done == 3 and reports[-1].failed == 2
    # on_result: each job once, as it ended, with the result run() returns
    assert sorted(job.docname for job, _ in delivered) == ["bad", "good", "nokernel"]
    assert all(results[(job.docname, job.framework)] is r for job, r in delivered)


def test_a_runner_that_raises_is_an_error_result() -> None:
    def broken(job: Job, gpu_ids: Sequence[str], *,
               cancel: threading.Event | None = None) -> JobResult:
        raise RuntimeError("runner bug")

    results = Scheduler(2, ["0"], run_job=broken).run(
        [fake_job("a", gpus=1, source_path="a.md"), fake_job("b", gpus=1)])
    for doc in ("a", "b"):
        result = results[(doc, "fw")]
        assert result.status == "error" and result.error is not None
        assert result.error["ename"] == "RuntimeError"
        assert "runner bug" in result.error["message"]
    assert results[("a", "fw")].error["source"] == "a.md"  # type: ignore[index]


def test_callback_errors_propagate() -> None:
    def broken(progress: Progress) -> None:
        raise RuntimeError("progress printer is broken")

    with pytest.raises(RuntimeError, match="broken"):
        Scheduler(1, [], on_progress=broken, run_job=FakeRunner()).run([fake_job("p")])


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    scheduler = Scheduler()
    assert scheduler.gpu_ids == ["4", "5"] and scheduler.workers >= 1
    assert scheduler.run_job is None  # the real run_job
    assert Scheduler(3, []).run([]) == {}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_leaves_no_kernel(tmp_path: Path, mark: str, sig: int,
                                    marked: Callable[[], list[int]]) -> None:
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import signal, sys
        # Ctrl-C raises KeyboardInterrupt even if the test runs with SIGINT
        # ignored (a background job)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from sphinx_d2ltabs.execution import Job, Scheduler
        code = ("import subprocess, time, os\\n"
                "subprocess.Popen(['sleep', '100'])\\n"
                "open(os.environ['STARTED'], 'w').close()\\n"
                "time.sleep(100)")
        jobs = [Job(f"p{{i}}", "fw", ((1, code),),
                    env=(({MARK_VAR!r}, {mark!r}), ("STARTED", {str(tmp_path)!r} + f"/s{{i}}")))
                for i in range(3)]
        try:
            Scheduler(2, []).run(jobs)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
    """))
    tmpdir = tmp_path / "tmp"  # where jupyter-client writes the connection files
    tmpdir.mkdir()
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(tmpdir)})
    try:
        both = wait_until(lambda: all((tmp_path / f"s{i}").exists() for i in range(2)),
                          HANG_GUARD)
        assert both, "the kernels did not start"
        assert len(marked()) >= 4  # two kernels, two sleeps
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=HANG_GUARD)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3 and "interrupted" in out
    assert not (tmp_path / "s2").exists()  # no new job started
    assert list(tmpdir.iterdir()) == []
    # the autouse fixture checks that no marked process is left
