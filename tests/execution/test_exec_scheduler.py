"""The scheduler: parallel workers, exclusive GPU slots, the no-GPU fallback, order,
progress reports, and Ctrl-C/SIGTERM leaving no kernel behind."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from exec_helpers import MARK_VAR, MakeJob, wait_until

from sphinx_d2ltabs.execution import Job, JobResult, Progress, Scheduler

# prints: CUDA_VISIBLE_DEVICES, then the wall-clock start and end of the cell's sleep
TIMED = ("import os, time\nstart = time.time()\ntime.sleep({sleep})\n"
         "print(repr(os.environ['CUDA_VISIBLE_DEVICES']), start, time.time())")


def timed(result: JobResult) -> tuple[str, float, float]:
    assert result.ok, result.error
    visible, start, end = result.outputs[10][0]["text"].split()
    return visible.strip("'"), float(start), float(end)


def overlap(a: tuple[str, float, float], b: tuple[str, float, float]) -> bool:
    return a[1] < b[2] and b[1] < a[2]


def test_two_workers_run_two_jobs_at_once(make_job: MakeJob) -> None:
    jobs = [make_job(TIMED.format(sleep=1), docname=f"p{i}") for i in range(2)]
    start = time.monotonic()
    results = Scheduler(2, []).run(jobs)
    wall = time.monotonic() - start
    assert set(results) == {("p0", "fw"), ("p1", "fw")}
    a, b = (timed(r) for r in results.values())
    assert overlap(a, b), "the two jobs did not run at the same time"
    serial = sum(r.seconds for r in results.values())
    assert wall < serial - 0.5, (wall, serial)


def test_gpu_slots_are_exclusive(make_job: MakeJob) -> None:
    jobs = [make_job(TIMED.format(sleep=1), docname=f"gpu{i}", gpus=1) for i in range(3)]
    jobs.append(make_job(TIMED.format(sleep=1), docname="cpu"))
    notices: list[str] = []
    results = Scheduler(4, ["0", "1"], on_notice=notices.append).run(jobs)
    runs = {doc: timed(r) for (doc, _), r in results.items()}
    assert runs["cpu"][0] == "" and results[("cpu", "fw")].cuda_visible_devices == ""
    gpu_runs = [runs[f"gpu{i}"] for i in range(3)]
    for i in range(3):
        assert results[(f"gpu{i}", "fw")].cuda_visible_devices == gpu_runs[i][0]
        assert not results[(f"gpu{i}", "fw")].gpu_fallback
    assert all(visible in ("0", "1") for visible, _, _ in gpu_runs)  # one id each
    for i, a in enumerate(gpu_runs):
        for b in gpu_runs[i + 1:]:
            assert a[0] != b[0] or not overlap(a, b), "two running jobs shared a GPU"
    assert {visible for visible, _, _ in gpu_runs} == {"0", "1"}
    assert notices == []


def test_multi_gpu_job_and_cap(make_job: MakeJob) -> None:
    code = "import os; print(os.environ['CUDA_VISIBLE_DEVICES'])"
    notices: list[str] = []
    results = Scheduler(2, ["3", "7"], on_notice=notices.append).run(
        [make_job(code, docname="two", gpus=2), make_job(code, docname="many", gpus=5)])
    for doc in ("two", "many"):
        assert results[(doc, "fw")].outputs[10][0]["text"] == "3,7\n"
    assert len(notices) == 1 and "wants 5 GPUs" in notices[0]


def test_no_gpu_fallback_notice_once(make_job: MakeJob) -> None:
    code = "import os; print(repr(os.environ['CUDA_VISIBLE_DEVICES']))"
    jobs = [make_job(code, docname=f"g{i}", gpus=1) for i in range(3)]
    jobs.append(make_job(code, docname="cpu"))
    notices: list[str] = []
    results = Scheduler(2, [], on_notice=notices.append).run(jobs)
    assert len(results) == 4 and all(r.ok for r in results.values())
    assert all(results[(f"g{i}", "fw")].gpu_fallback for i in range(3))
    assert not results[("cpu", "fw")].gpu_fallback
    assert all(r.outputs[10][0]["text"] == "''\n" for r in results.values())
    assert len(notices) == 1 and "no GPU" in notices[0]


def test_strict_gpu_mode_fails_gpu_jobs(make_job: MakeJob) -> None:
    jobs = [make_job("print(1)", docname="g", gpus=1, source_path="g.md"),
            make_job("print(1)", docname="c")]
    notices: list[str] = []
    results = Scheduler(2, [], strict_gpu=True, on_notice=notices.append).run(jobs)
    failed = results[("g", "fw")]
    assert failed.status == "start_failed" and failed.error is not None
    assert "no GPU" in failed.error["message"] and failed.error["source"] == "g.md"
    assert results[("c", "fw")].ok
    assert len(notices) == 1


def test_order_and_progress(make_job: MakeJob) -> None:
    jobs = [make_job("print(1)", docname=name, gpus=gpus)
            for name, gpus in [("short", 0), ("long", 0), ("gpu", 1), ("plain", 0)]]
    scheduler = Scheduler(1, ["0"])
    hints = {("long", "fw"): 30.0, ("short", "fw"): 1.0}
    assert [j.docname for j in scheduler.order(jobs, hints)] == ["gpu", "long", "short", "plain"]
    assert [j.docname for j in scheduler.order(jobs)] == ["gpu", "short", "long", "plain"]

    reports: list[Progress] = []
    scheduler = Scheduler(1, ["0"], on_progress=reports.append)
    results = scheduler.run(jobs[:3], expected_seconds=hints)
    assert len(results) == 3
    started = [r.running[0] for r in reports if r.running]
    assert started == ["gpu [fw]", "long [fw]", "short [fw]"]
    assert [r.done for r in reports] == [0, 1, 1, 2, 2, 3]
    assert all(r.total == 3 and r.failed == 0 for r in reports)
    assert reports[0].eta is None and reports[-1].eta == 0.0
    assert all(b.elapsed >= a.elapsed for a, b in itertools.pairwise(reports))


def test_failures_are_counted_and_others_go_on(make_job: MakeJob) -> None:
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


def test_callback_errors_propagate(make_job: MakeJob) -> None:
    def broken(progress: Progress) -> None:
        raise RuntimeError("progress printer is broken")

    with pytest.raises(RuntimeError, match="broken"):
        Scheduler(1, [], on_progress=broken).run([make_job("print(1)")])


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    scheduler = Scheduler()
    assert scheduler.gpu_ids == ["4", "5"] and scheduler.workers >= 1
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
        both = wait_until(lambda: all((tmp_path / f"s{i}").exists() for i in range(2)), 30)
        assert both, "the kernels did not start"
        assert len(marked()) >= 4  # two kernels, two sleeps
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3 and "interrupted" in out
    assert not (tmp_path / "s2").exists()  # no new job started
    assert list(tmpdir.iterdir()) == []
    # the autouse fixture checks that no marked process is left
