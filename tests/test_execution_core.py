"""The Sphinx-free execution core with real ipykernel kernels: outputs, faults, GPU slots,
parallelism, the cache, interrupts."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sphinx_d2ltabs.execution import (
    CACHE_VERSION,
    FileCache,
    Job,
    JobResult,
    Scheduler,
    cache_key,
    detect_gpus,
    run_job,
)

MARK = "D2L_TEST_MARK"


def job(*codes: str, **kw) -> Job:  # type: ignore[no-untyped-def]
    cells = tuple((10 * (i + 1), code) for i, code in enumerate(codes))
    kw.setdefault("env", ((MARK, kw.pop("mark", "x")),))
    return Job(kw.pop("docname", "page"), kw.pop("framework", "fw"), cells, **kw)


def marked_processes(value: str) -> list[int]:
    """Pids of live processes whose environment holds MARK=value (kernels and children)."""
    found = []
    needle = f"{MARK}={value}".encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if needle in fh.read().split(b"\0"):
                    with open(f"/proc/{pid}/stat") as st:
                        if st.read().split()[2] != "Z":
                            found.append(int(pid))
        except OSError:
            continue
    return found


def test_output_kinds() -> None:
    r = run_job(job(
        "print('out'); print('more')",
        "import sys; print('err', file=sys.stderr)",
        "6 * 7",
        "from IPython.display import display, HTML, Image\n"
        "import base64\n"
        "display(HTML('<b>x</b>'))\n"
        "display(Image(data=base64.b64decode("
        "'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==')))",
        "from IPython.display import clear_output\nprint('gone')\nclear_output()\nprint('kept')",
    ))
    assert r.ok, r.error
    assert r.outputs[10] == [{"output_type": "stream", "name": "stdout", "text": "out\nmore\n"}]
    assert r.outputs[20][0]["name"] == "stderr"
    assert r.outputs[30][0]["data"]["text/plain"] == "42" and r.execution_counts[30] == 3
    kinds = [set(o["data"]) for o in r.outputs[40]]
    assert {"text/html", "text/plain"} <= kinds[0] and "image/png" in kinds[1]
    assert r.outputs[50] == [{"output_type": "stream", "name": "stdout", "text": "kept\n"}]
    assert r.kernel_start_seconds > 0 and r.seconds >= r.kernel_start_seconds


def test_error_stops_the_job_and_allow_errors() -> None:
    r = run_job(job("1/0", "print('after')"))
    assert r.status == "error" and r.error["cell"] == 10
    assert r.error["ename"] == "ZeroDivisionError" and "line 10" in r.error["message"]
    assert 20 not in r.outputs
    r = run_job(job("1/0", "print('after')", allow_errors=True))
    assert r.status == "error" and r.outputs[20][0]["text"] == "after\n"
    r = run_job(job("1/0", "print('after')", allow_error_cells=frozenset({10})))
    assert r.ok and r.outputs[20][0]["text"] == "after\n"


def test_env_cwd_setup_and_cuda(tmp_path: Path) -> None:
    r = run_job(job("import os\nprint(os.getcwd(), os.environ['FOO'], "
                    "repr(os.environ['CUDA_VISIBLE_DEVICES']), SETUP)",
                    env=(("FOO", "bar"), (MARK, "env")), cwd=str(tmp_path),
                    setup_code="SETUP = 'ready'"))
    assert r.ok, r.error
    assert r.outputs[10][0]["text"] == f"{tmp_path} bar '' ready\n"
    r = run_job(job("import os; print(os.environ['CUDA_VISIBLE_DEVICES'])"), ["2", "5"])
    assert r.outputs[10][0]["text"] == "2,5\n" and r.cuda_visible_devices == "2,5"


def test_bad_setup_code() -> None:
    r = run_job(job("print(1)", setup_code="raise ValueError('nope')"))
    assert r.status == "error" and "setup code" in r.error["message"]


def test_timeout() -> None:
    start = time.monotonic()
    r = run_job(job("import time; time.sleep(60)", "print('after')", timeout=1.5))
    assert r.status == "timeout" and r.error["cell"] == 10
    assert "timed out after 1.5 s" in r.error["message"]
    assert time.monotonic() - start < 20


@pytest.mark.parametrize("code", ["import os; os._exit(1)",
                                  "import ctypes; ctypes.string_at(0)"])
def test_kernel_death(code: str) -> None:
    r = run_job(job("print(1)", code, "print(2)", mark="death"))
    assert r.status == "dead" and r.error["cell"] == 20
    assert "kernel died" in r.error["message"]
    assert r.outputs[10][0]["text"] == "1\n"
    assert marked_processes("death") == []


def test_bad_kernelspec() -> None:
    r = run_job(job("print(1)", kernel="no-such-kernel-spec"))
    assert r.status == "start_failed"
    assert "no-such-kernel-spec" in r.error["message"]


def test_children_of_a_cell_do_not_outlive_the_job() -> None:
    r = run_job(job("import subprocess, os\n"
                    "p = subprocess.Popen(['sleep', '300'])\n"
                    "if os.fork() == 0:\n    import time; time.sleep(300)\n"
                    "print('started')", mark="fork"))
    assert r.ok, r.error
    time.sleep(0.3)
    assert marked_processes("fork") == []


def test_parallel_workers() -> None:
    jobs = [job("import time; time.sleep(2)", docname=f"p{i}", mark="par") for i in range(2)]
    start = time.monotonic()
    Scheduler(1, []).run(jobs)
    serial = time.monotonic() - start
    start = time.monotonic()
    results = Scheduler(2, []).run(jobs)
    parallel = time.monotonic() - start
    assert all(r.ok for r in results.values())
    assert parallel < serial - 1.0, (serial, parallel)


def test_gpu_slots_are_exclusive() -> None:
    code = ("import os, time\nstart = time.time()\ntime.sleep(1.5)\n"
            "print(repr(os.environ['CUDA_VISIBLE_DEVICES']), start, time.time())")
    jobs = [job(code, docname=f"gpu{i}", gpus=1) for i in range(3)]
    jobs.append(job(code, docname="cpu"))
    notices: list[str] = []
    results = Scheduler(4, ["0", "1"], on_notice=notices.append).run(jobs)
    seen = {}
    for (doc, _), r in results.items():
        assert r.ok, r.error
        gpu, start, end = r.outputs[10][0]["text"].split()
        seen[doc] = (gpu, float(start), float(end))
    assert seen["cpu"][0] == "''"  # CPU kernels see an empty CUDA_VISIBLE_DEVICES
    gpu_runs = [v for k, v in seen.items() if k != "cpu"]
    assert all(g in ("'0'", "'1'") for g, _, _ in gpu_runs)
    for i, (g1, s1, e1) in enumerate(gpu_runs):
        for g2, s2, e2 in gpu_runs[i + 1:]:
            if g1 == g2:
                assert e1 <= s2 or e2 <= s1, "two jobs shared a GPU at the same time"
    assert notices == []


def test_no_gpu_fallback_and_strict() -> None:
    notices: list[str] = []
    code = "import os; print(repr(os.environ['CUDA_VISIBLE_DEVICES']))"
    jobs = [job(code, docname=f"g{i}", gpus=1) for i in range(2)]
    results = Scheduler(2, [], on_notice=notices.append).run(jobs)
    assert all(r.ok and r.gpu_fallback and r.outputs[10][0]["text"] == "''\n"
               for r in results.values())
    assert len(notices) == 1 and "no GPU" in notices[0]
    results = Scheduler(2, [], strict_gpu=True).run(jobs)
    assert all(r.status == "start_failed" and "no GPU" in r.error["message"]
               for r in results.values())


def test_detect_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,4")
    assert detect_gpus() == ["3", "4"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert detect_gpus() == []
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.setenv("PATH", "")
    assert detect_gpus() == []


def test_cache_key_parts() -> None:
    base = job("a = 1", "print(a)")
    key = cache_key(base)
    variants = {
        "code": job("a = 2", "print(a)"),
        "order": job("print(a)", "a = 1"),
        "kernel": job("a = 1", "print(a)", kernel="other"),
        "env": job("a = 1", "print(a)", env=((MARK, "y"),)),
        "setup": job("a = 1", "print(a)", setup_code="b = 1"),
        "extra": job("a = 1", "print(a)", extra_key="lib-v2"),
        "framework": job("a = 1", "print(a)", framework="other"),
        "allow": job("a = 1", "print(a)", allow_errors=True),
    }
    keys = {name: cache_key(j) for name, j in variants.items()}
    assert key not in keys.values() and len(set(keys.values())) == len(keys)
    # not part of the key: cell positions, the timeout, GPUs, the working directory
    moved = Job("page", "fw", ((99, "a = 1"), (120, "print(a)")), env=base.env)
    assert cache_key(moved) == key
    assert cache_key(job("a = 1", "print(a)", timeout=5, gpus=2, cwd="/elsewhere")) == key
    assert CACHE_VERSION


def test_file_cache_roundtrip_and_corruption(tmp_path: Path) -> None:
    cache = FileCache(tmp_path)
    result = JobResult("page", "fw", "error", outputs={10: [{"output_type": "stream",
                                                             "name": "stdout", "text": "x"}]},
                       error={"cell": 10, "message": "boom"})
    cache.put("ab" * 32, result)
    again = cache.get("ab" * 32)
    assert again is not None and again.outputs == result.outputs and not again.ok
    Path(cache.path("ab" * 32)).write_text('{"docname": "page", "trunc')
    assert cache.get("ab" * 32) is None and not Path(cache.path("ab" * 32)).exists()
    assert cache.get("cd" * 32) is None


def test_file_cache_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = FileCache(tmp_path)
    cache.put("ef" * 32, JobResult("p", "f", "ok"))

    def crash(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        cache.put("ef" * 32, JobResult("p", "f", "error"))
    monkeypatch.undo()
    assert cache.get("ef" * 32).status == "ok"  # type: ignore[union-attr]
    assert [p.name for p in tmp_path.rglob("*") if p.name.startswith(".tmp")] == []


def _writer(directory: str, n: int) -> None:
    cache = FileCache(directory)
    for i in range(40):
        cache.put("aa" * 32, JobResult("p", "f", "ok", outputs={1: [{"n": n, "i": i,
                                                                     "pad": "x" * 5000}]}))


def test_concurrent_writers(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), n)) for n in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    entry = FileCache(tmp_path).get("aa" * 32)
    assert entry is not None and entry.outputs[1][0]["i"] == 39
    assert [p.name for p in tmp_path.rglob("*") if p.name.startswith(".tmp")] == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_leaves_no_kernel(tmp_path: Path, sig: int) -> None:
    mark = f"interrupt-{sig}"
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        from sphinx_d2ltabs.execution import Job, Scheduler
        env = (({MARK!r}, {mark!r}),)
        code = "print('go', flush=True)\\nimport time; time.sleep(300)"
        jobs = [Job(f"p{{i}}", "fw", ((1, code),), env=env) for i in range(2)]
        try:
            Scheduler(2, []).run(jobs)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(marked_processes(mark)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(marked_processes(mark)) >= 2, "kernels did not start"
    time.sleep(1.0)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 3 and "interrupted" in out
    time.sleep(0.3)
    assert marked_processes(mark) == []


def test_result_json_roundtrip() -> None:
    r = JobResult("d", "f", "ok", outputs={3: []}, execution_counts={3: 1}, seconds=1.5)
    assert JobResult.from_json(json.loads(json.dumps(r.to_json()))).to_json() == r.to_json()
