"""The Dask executor (``d2l_executor = "dask:tcp://..."``) against a real cluster.

A module-scoped cluster on 127.0.0.1: two worker processes (Nannies), one thread each,
``resources={"GPU": 1}`` and fake GPU ids (``CUDA_VISIBLE_DEVICES`` 0 and 1), a blob
store of the test's own, ``distributed.scheduler.allowed-failures = 0`` (a worker death
is reported at once, so the executor's own retry is what is tested). Books are built in
this process (sphinx.testing) or as ``sphinx-build`` subprocesses (signals); their cells
print what the kernel saw. No assertion depends on time.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from exec_helpers import HANG_GUARD, MARK_VAR, processes_with, wait_until

from helpers import ROOTS, build_once, durations_seen, warnings_of
from sphinx_d2ltabs.execution.model import Job

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

MODULE_MARK = uuid.uuid4().hex
"""Held by the kernels of the module-scoped builds."""


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workers' blob store and workspaces."""
    return tmp_path_factory.mktemp("worker-store")


@pytest.fixture(scope="module")
def cluster(store: Path) -> Iterator[Any]:
    from distributed import Nanny, Scheduler, SpecCluster

    workers = {f"w{i}": {"cls": Nanny, "options": {
        "nthreads": 1, "resources": {"GPU": 1}, "silence_logs": logging.ERROR,
        "env": {"CUDA_VISIBLE_DEVICES": str(i), "D2L_WORKER_STORE": str(store),
                # a build that dies leaves its kernel fork servers for this long
                "D2L_WORKER_FORKS_IDLE": "1"}}}
        for i in range(2)}
    # lost-worker-timeout: SpecCluster closes the Nanny of a worker that has not come
    # back after it (15 s by default); on a loaded machine the Nanny's restart of a killed
    # worker can take longer, and the cluster would stay one worker short for the rest of
    # the module
    with dask.config.set({"distributed.scheduler.allowed-failures": 0,
                          "distributed.deploy.lost-worker-timeout": "1h"}):
        spec = {"cls": Scheduler, "options": {"host": "127.0.0.1", "dashboard_address": None}}
        with SpecCluster(workers=workers, scheduler=spec, silence_logs=logging.ERROR) as c:
            yield c
    assert wait_until(lambda: not processes_with(MODULE_MARK), HANG_GUARD / 5)


def dask_conf(cluster: Any, **conf: Any) -> dict[str, Any]:
    return {"d2l_executor": f"dask:{cluster.scheduler_address}", **conf}


def build(src: Path, **conf: Any) -> tuple[Any, dict[str, Any]]:
    """Build ``src`` in this process; the app (its warnings) and the report."""
    app = build_once(src, confoverrides=conf)
    report = json.loads(Path(app.doctreedir, "d2l_execution_report.json").read_text())
    return app, report


def copy_book(dest: Path) -> Path:
    shutil.copytree(ROOTS / "test-dask", dest)
    return dest


def outputs(app: Any, page: str) -> str:
    """The text of a page's cell outputs."""
    from helpers import body

    return " ".join(div.get_text(" ", strip=True)
                    for div in body(app, page).select("div.cell_output"))


def statuses(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(e["docname"], e["framework"]): e["status"] for e in report["pages"]}


def kernel_env(mark: str, **more: str) -> dict[str, dict[str, str]]:
    return {"*": {MARK_VAR: mark, **more}}


@pytest.fixture(scope="module")
def shipped(cluster: Any, tmp_path_factory: pytest.TempPathFactory,
            ) -> tuple[Any, dict[str, Any], Path]:
    """The test book built on the cluster, its files shipped (``ship``)."""
    src = copy_book(tmp_path_factory.mktemp("shipped") / "src")
    app, report = build(src, **dask_conf(cluster, d2l_executor_workspace="ship",
                                         d2l_kernel_env=kernel_env(MODULE_MARK)))
    return app, report, src


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Any], Path]:
    """The same book built with the local executor."""
    src = copy_book(tmp_path_factory.mktemp("local") / "src")
    app, report = build(src, d2l_kernel_env=kernel_env(MODULE_MARK), d2l_gpu_ids=["0"])
    return app, report, src


# ------------------------------------------------------------------ what a kernel sees


def test_kernels_run_in_a_workspace_of_the_books_files(shipped: Any, store: Path) -> None:
    app, report, src = shipped
    assert report["executed"] == 5 and report["cached"] == 0
    text = outputs(app, "chapter/one.html")
    cwd = re.search(r"cwd (\S+)", text)
    assert cwd is not None, text
    # the page's folder inside the workspace of this build's files: no build path
    assert cwd.group(1).startswith(str(store / "workspaces") + os.sep)
    assert cwd.group(1).endswith(os.sep + "chapter")
    assert str(src) not in text
    workspace = Path(cwd.group(1)).parent
    assert f"pythonpath {workspace}" in text  # the generated package's folder first
    assert "lib hello-v1" in text  # the #@save function of this build
    assert "data 1 2 3" in text and "img ['note.txt']" in text
    assert "cuda ''" in text  # a CPU job
    gpu = re.search(r"gpu-cuda '(\d)'", text)
    assert gpu is not None and gpu.group(1) in ("0", "1")  # one of its worker's GPUs
    # the store holds each content once, read-only
    blobs = [p for p in (store / "blobs").rglob("*") if p.is_file()]
    assert blobs and all(not os.access(p, os.W_OK) or os.getuid() == 0 for p in blobs)


def test_errors_and_timeouts_as_with_the_local_executor(shipped: Any, local: Any) -> None:
    dask_app, dask_report, _ = shipped
    local_app, local_report, _ = local
    assert statuses(dask_report) == statuses(local_report) == {
        ("index", "cpu"): "ok", ("chapter/one", "cpu"): "ok", ("chapter/one", "gpu"): "ok",
        ("chapter/two", "cpu"): "error", ("chapter/three", "cpu"): "timeout"}
    assert dask_report["failed"] == local_report["failed"] == 2
    # the same warnings, at the same lines
    assert warnings_of(dask_app) == warnings_of(local_app)
    assert any("chapter/two.md:7" in w and "ZeroDivisionError" in w
               for w in warnings_of(dask_app))
    assert any("chapter/three.md:7" in w and "timed out after 3 s" in w
               for w in warnings_of(dask_app))
    assert "before" in outputs(dask_app, "chapter/two.html")
    assert "never" not in outputs(dask_app, "chapter/two.html")


def test_a_new_library_reaches_the_workers_and_shared_folders_are_used_in_place(
        cluster: Any, shipped: Any, tmp_path: Path, mark: str) -> None:
    src = copy_book(tmp_path / "src")
    (src / "chapter" / "three.md").write_text("# No timeout\n\n```{.python .input}\n1\n```\n")
    index = src / "index.md"
    index.write_text(index.read_text().replace("hello-v1", "hello-v2"))
    app, report = build(src, **dask_conf(cluster, d2l_executor_workspace="ship",
                                         d2l_kernel_env=kernel_env(mark)))
    text = outputs(app, "chapter/one.html")
    assert "lib hello-v2" in text
    first = outputs(shipped[0], "chapter/one.html")
    # another manifest, another workspace
    assert re.findall(r"cwd (\S+)", text) != re.findall(r"cwd (\S+)", first)
    # auto: the workers see this very folder with these files: used as it is
    app, report = build(src, **dask_conf(cluster, d2l_execute="force",
                                         d2l_kernel_env=kernel_env(mark)))
    text = outputs(app, "chapter/one.html")
    assert f"cwd {src / 'chapter'}" in text and "lib hello-v2" in text
    assert "as it is" in app.status.getvalue()
    assert report["failed"] == 1  # chapter/two's error


# ------------------------------------------------------------------ faults


KILL = """import os, pathlib, signal
marker = pathlib.Path(os.environ["D2L_TEST_DIR"]) / "killed-{name}"
worker = os.getppid()
if b"D2LTABS_ZYGOTE=1" in open("/proc/%d/environ" % worker, "rb").read().split(b"\\0"):
    # forked from the worker's kernel fork server: the worker is its parent
    worker = int(open("/proc/%d/stat" % worker).read().rsplit(")", 1)[1].split()[1])
if {always} or not marker.exists():
    marker.touch()
    os.kill(worker, signal.SIGKILL)  # the Dask worker process
print("survived {name}")"""


def write_book(src: Path, pages: dict[str, str], conf: str = "") -> Path:
    """A one-framework book (``cpu``) of one-cell pages, all in the index's toc."""
    src.mkdir(parents=True)
    (src / "conf.py").write_text('extensions = ["sphinx_d2ltabs"]\nproject = "faults"\n'
                                 f'd2l_tabs = ["cpu"]\nd2l_lib_enable = False\n{conf}\n')
    toc = "\n".join(pages)
    (src / "index.md").write_text(f"# Faults\n\n```toc\n:maxdepth: 1\n\n{toc}\n```\n")
    for name, code in pages.items():
        (src / f"{name}.md").write_text(f"# {name}\n\n```{{.python .input}}\n{code}\n```\n")
    return src


def test_a_dead_worker_is_retried_once_then_reported(cluster: Any, tmp_path: Path,
                                                     mark: str) -> None:
    src = write_book(tmp_path / "src", {
        "once": KILL.format(name="once", always=False),
        "always": KILL.format(name="always", always=True),
        "fine": "print('fine')"})
    app, report = build(src, **dask_conf(cluster, d2l_kernel_env=kernel_env(
        mark, D2L_TEST_DIR=str(tmp_path))))
    assert statuses(report) == {("once", "cpu"): "ok", ("always", "cpu"): "dead",
                                ("fine", "cpu"): "ok"}
    assert "survived once" in outputs(app, "once.html")
    assert "fine" in outputs(app, "fine.html")
    failure = [w for w in warnings_of(app) if "always.md" in w]
    assert len(failure) == 1 and "Dask worker died" in failure[0]
    assert "not cached" in failure[0]  # a machinery failure: the next build runs it again
    assert "runs once more" in app.status.getvalue()
    # the cluster has its two workers again (the Nannies restart them)
    client = distributed.Client(cluster.scheduler_address, set_as_default=False)
    try:
        assert wait_until(lambda: len(client.scheduler_info()["workers"]) == 2, HANG_GUARD)
    finally:
        client.close()
    # (the autouse fixture checks that no kernel of the killed workers is left)


FORKED = """import os, probe
parent = open("/proc/%d/environ" % os.getppid(), "rb").read().split(b"\\0")
print("imported ahead:", probe.PID != os.getpid(), "forked:", b"D2LTABS_ZYGOTE=1" in parent)"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked kernels: Linux")
def test_workers_fork_kernels_from_servers_that_ran_the_setup_imports(
        cluster: Any, tmp_path: Path, mark: str) -> None:
    """As on the build machine, a worker forks its kernels from a server that has run the
    imports of ``d2l_setup_code``; the build ends those servers when it ends (the
    autouse fixture finds no process of the test's left)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "probe.py").write_text("import os\nPID = os.getpid()\n")
    src = write_book(tmp_path / "src", {f"p{i}": FORKED for i in range(4)})
    app, report = build(src, **dask_conf(
        cluster, d2l_setup_code={"cpu": "import probe"},
        d2l_kernel_env=kernel_env(mark, PYTHONPATH=str(site))))
    assert set(statuses(report).values()) == {"ok"}
    for i in range(4):
        assert outputs(app, f"p{i}.html") == "imported ahead: True forked: True"
    app, report = build(src, **dask_conf(
        cluster, d2l_setup_code={"cpu": "import probe"}, d2l_execute="force",
        d2l_fork_kernels=False, d2l_kernel_env=kernel_env(mark, PYTHONPATH=str(site))))
    assert outputs(app, "p0.html") == "imported ahead: False forked: False"


def test_an_unreachable_scheduler_is_one_clear_error(tmp_path: Path, mark: str) -> None:
    from sphinx.errors import ConfigError

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the test connects
    src = write_book(tmp_path / "src", {"page": "print(1)"})
    address = f"tcp://127.0.0.1:{port}"
    with pytest.raises(ConfigError) as caught:
        build(src, d2l_executor=f"dask:{address}", d2l_executor_connect_timeout=1,
              d2l_kernel_env=kernel_env(mark))
    message = str(caught.value)
    assert "d2l_executor" in message and address in message and "\n" not in message


def test_bad_executor_values_name_the_option() -> None:
    from sphinx_d2ltabs.config import ConfigError, from_mapping

    for value in ("dask", "dask:127.0.0.1:8786", "remote", "dask:tcp://", 3):
        with pytest.raises(ConfigError, match="d2l_executor"):
            from_mapping({"executor": value})
    with pytest.raises(ConfigError, match="d2l_executor_workspace"):
        from_mapping({"executor_workspace": "relative/path"})
    assert from_mapping({"executor": "dask:tcp://10.0.0.1:8786"}).executor.startswith("dask")


def test_without_dask_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from sphinx_d2ltabs.config import D2lConfig
    from sphinx_d2ltabs.execution.executor import Callbacks, ExecutorError, open_executor

    monkeypatch.setitem(sys.modules, "sphinx_d2ltabs.execution.dask_executor", None)
    cfg = D2lConfig(executor="dask:tcp://127.0.0.1:8786")
    hint = r"pip install 'sphinx_d2ltabs\[distributed\]'"
    with pytest.raises(ExecutorError, match=hint), open_executor(cfg, ".", Callbacks()):
        pass


# ------------------------------------------------------------------ signals


def sphinx_build(src: Path, out: Path, *args: str) -> subprocess.Popen[str]:
    def default_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    return subprocess.Popen(
        [sys.executable, "-m", "sphinx", "-q", "-b", "html", str(src), str(out), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=default_sigint)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL],
                         ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_a_signal_stops_the_remote_kernels_and_keeps_finished_results(
        cluster: Any, tmp_path: Path, mark: str, sig: int) -> None:
    running = tmp_path / "running"
    src = write_book(tmp_path / "src", {
        "fast": "print('fast')",
        "slow": f"import time\nopen({str(running)!r}, 'w').close()\ntime.sleep(600)"},
        conf=f"d2l_kernel_env = {kernel_env(mark)!r}")
    out, cache = tmp_path / "out", tmp_path / ".d2l_cache"
    proc = sphinx_build(src, out, "-D", f"d2l_executor=dask:{cluster.scheduler_address}")
    if not wait_until(lambda: (running.exists() and len(list(cache.glob("??/*.json"))) >= 1)
                      or proc.poll() is not None, HANG_GUARD):
        proc.kill()
    assert proc.poll() is None, proc.communicate()[0]
    assert processes_with(mark)  # the slow kernel runs on a worker
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=HANG_GUARD)
    assert proc.returncode != 0
    assert "Traceback" not in output, output
    # the remote kernel is stopped (SIGKILL: the scheduler drops the tasks of the build
    # that went away, and the task stops its kernel), the finished result kept, the
    # workers alive
    assert wait_until(lambda: not processes_with(mark), HANG_GUARD / 5)
    assert len(list(cache.glob("??/*.json"))) == 1
    client = distributed.Client(cluster.scheduler_address, set_as_default=False)
    try:
        assert len(client.scheduler_info()["workers"]) == 2
    finally:
        client.close()


# ------------------------------------------------------------------ units


def test_gpu_slots_hand_each_id_to_one_task_at_a_time() -> None:
    from sphinx_d2ltabs.execution.dask_worker import GpuSlots

    slots = GpuSlots(["0", "1"])
    first, second = slots.take(1), slots.take(1)
    assert sorted(first + second) == ["0", "1"] and slots.take(1) == []
    slots.give_back(first)
    assert slots.take(2) == first


def test_workspace_from_blobs(tmp_path: Path) -> None:
    from sphinx_d2ltabs.execution.workspace import (
        BlobStore,
        MissingBlobs,
        build_manifest,
        read_file,
        tree_matches,
    )

    src = copy_book(tmp_path / "src")
    (src / "d2l").mkdir()
    (src / "d2l" / "cpu.py").write_text("X = 1\n")
    manifest = build_manifest(str(src), ["d2l/**", "img/**", "data/**", "../outside/*"])
    assert sorted(manifest.files) == ["d2l/cpu.py", "data/numbers.txt", "img/note.txt"]
    assert tree_matches(str(src), manifest.files)
    store = BlobStore(str(tmp_path / "store"))
    with pytest.raises(MissingBlobs) as caught:
        store.workspace(manifest.digest, manifest.files)
    for digest, rel in manifest.paths_of(caught.value.digests).items():
        store.put(digest, read_file(str(src), rel))
    with pytest.raises(ValueError):
        store.put("0" * 64, b"not that")
    root = store.workspace(manifest.digest, manifest.files)
    assert Path(root, "d2l", "cpu.py").read_text() == "X = 1\n"
    assert tree_matches(root, manifest.files)
    assert store.workspace(manifest.digest, manifest.files) == root
    (src / "d2l" / "cpu.py").write_text("X = 2\n")
    assert not tree_matches(str(src), manifest.files)


def test_portable_jobs_hold_no_path_of_the_build_machine(tmp_path: Path) -> None:
    from sphinx_d2ltabs.config import D2lConfig
    from sphinx_d2ltabs.execution.dask_worker import localize
    from sphinx_d2ltabs.execution.executor import Callbacks

    dask_executor = pytest.importorskip("sphinx_d2ltabs.execution.dask_executor")
    src = tmp_path / "book"
    cfg = D2lConfig(kernel_env={"*": {"A": "1"}})
    ex = dask_executor.DaskExecutor(cfg, str(src), "tcp://127.0.0.1:1", Callbacks())
    job = Job("ch/page", "python", ((1, "1"),), source_path=str(src / "ch" / "page.md"),
              env=(("A", "1"), ("PYTHONPATH", str(src))), cwd=str(src / "ch"))
    portable = ex.portable(job, 0)
    assert str(tmp_path) not in repr(portable)
    assert portable.cwd == "ch" and dict(portable.env) == {"A": "1"}
    local = localize(portable, str(tmp_path / "ws"), ".")
    assert local.cwd == str(tmp_path / "ws" / "ch")
    assert dict(local.env)["PYTHONPATH"].split(os.pathsep)[0] == str(tmp_path / "ws")


def test_the_runner_passes_the_last_durations(monkeypatch: pytest.MonkeyPatch,
                                              local: Any) -> None:
    from sphinx_d2ltabs import runner

    _, report, src = local
    assert runner.expected_seconds(report)[("chapter/three", "cpu")] >= 3.0
    assert runner.expected_seconds({"pages": [1, {"docname": "x"}, {
        "docname": "a", "framework": "b", "seconds": True}]}) == {}
    assert runner.expected_seconds([]) == {}
    seen = durations_seen(monkeypatch)
    build(src, d2l_execute="cache-only", d2l_kernel_env=kernel_env(MODULE_MARK),
          d2l_gpu_ids=["0"])
    assert seen and seen[0] == runner.expected_seconds(report)


def test_a_worker_without_the_files_asks_for_them(cluster: Any, tmp_path: Path,
                                                   mark: str) -> None:
    from sphinx_d2ltabs.config import D2lConfig
    from sphinx_d2ltabs.execution.dask_files import FileShipper
    from sphinx_d2ltabs.execution.dask_worker import TaskSpec, run_task
    from sphinx_d2ltabs.execution.model import JobResult
    from sphinx_d2ltabs.execution.workspace import build_manifest

    token = uuid.uuid4().hex
    (tmp_path / "src" / "data").mkdir(parents=True)
    (tmp_path / "src" / "data" / "x.txt").write_text(token)
    manifest = build_manifest(str(tmp_path / "src"), ["data/**"])
    spec = TaskSpec(uuid.uuid4().hex, manifest.files, manifest.digest, None, None)
    job = Job("page", "cpu", ((1, "print(open('data/x.txt').read())"),), cwd=".",
              env=((MARK_VAR, mark),))
    client = distributed.Client(cluster.scheduler_address, set_as_default=False)
    try:
        first = client.submit(run_task, job, spec, pure=False).result()
        assert first["missing"] == list(manifest.files.values())
        notices: list[str] = []
        shipper = FileShipper(client, D2lConfig(), str(tmp_path / "src"), notices.append)
        shipper.manifest = manifest
        assert shipper.ship(first["worker"], first["missing"]) == (1, len(token))
        data = client.submit(run_task, job, spec, pure=False,
                             workers=[first["worker"]]).result()
    finally:
        client.close()
    result = JobResult.from_json(data)
    assert result.ok and token in json.dumps(result.outputs) and notices == []


class FakeFuture:
    def __init__(self, key: str, value: Any) -> None:
        self.key, self.value = key, value

    def result(self) -> Any:
        return self.value

    def add_done_callback(self, fn: Any) -> None:
        fn(self)


class FakeClient:
    """Records submissions; each task ends at once with an ok result."""

    def __init__(self) -> None:
        self.submitted: list[tuple[str, int, bool, Any, int]] = []

    def submit(self, fn: Any, task: Job, spec: Any, fallback: bool, *, key: str,
               priority: int, resources: Any, **kwargs: Any) -> FakeFuture:
        from sphinx_d2ltabs.execution.model import JobResult

        self.submitted.append((task.docname, task.gpus, fallback, resources, priority))
        result = JobResult(task.docname, task.framework, "ok", gpu_fallback=fallback)
        return FakeFuture(key, result.to_json())

    def subscribe_topic(self, topic: str, handler: Any) -> None:
        pass

    def unsubscribe_topic(self, topic: str) -> None:
        pass


@pytest.mark.parametrize("capacity", [0, 1, 2])
@pytest.mark.parametrize("strict", [False, True])
def test_order_resources_and_gpu_fallback(capacity: int, strict: bool) -> None:
    """Without a cluster: priorities, GPU resources, CPU fallback or strict failure."""
    from sphinx_d2ltabs.config import D2lConfig
    from sphinx_d2ltabs.execution.dask_worker import TaskSpec
    from sphinx_d2ltabs.execution.executor import Callbacks, order_jobs

    dask_executor = pytest.importorskip("sphinx_d2ltabs.execution.dask_executor")
    notices: list[str] = []
    delivered: list[str] = []
    ex = dask_executor.DaskExecutor(
        D2lConfig(strict_gpu=strict), "/book", "tcp://127.0.0.1:1", Callbacks(
            on_notice=notices.append, on_result=lambda job, r: delivered.append(job.docname)))
    ex.client = FakeClient()
    jobs = [Job(name, "fw", ((1, "1"),), gpus=gpus, cwd="/book", source_path="/book/x.md")
            for name, gpus in [("short", 0), ("long", 0), ("gpu2", 2), ("gpu1", 1)]]
    ordered = order_jobs(jobs, capacity, {("long", "fw"): 9.0})
    from sphinx_d2ltabs.execution.dask_run import DaskRun

    run = DaskRun(ex, TaskSpec("b", {}, "m"), capacity, 2)
    results = run.execute(ordered)
    assert sorted(results) == sorted((j.docname, "fw") for j in jobs)
    submitted = {name: (gpus, fallback, res, prio)
                 for name, gpus, fallback, res, prio in ex.client.submitted}
    if capacity == 0 and strict:
        assert sorted(submitted) == ["long", "short"]
        assert results[("gpu1", "fw")].status == "start_failed"
        assert results[("gpu1", "fw")].error["source"] == "/book/x.md"
    elif capacity == 0:
        assert submitted["gpu2"] == (0, True, None, 2) and results[("gpu2", "fw")].gpu_fallback
        assert submitted["long"][3] > submitted["short"][3]
    else:
        assert submitted["gpu2"][:3] == (capacity, False, {"GPU": capacity})
        assert submitted["gpu1"][:3] == (1, False, {"GPU": 1})
        assert submitted["short"][:3] == (0, False, None)
        # GPU jobs first (most first), then the longest expected, then input order
        by_priority = sorted(submitted, key=lambda n: -submitted[n][3])
        assert by_priority == ["gpu2", "gpu1", "long", "short"]
    assert sorted(delivered) == sorted(j.docname for j in jobs)
    assert any("GPU" in n for n in notices) == (capacity < 2)


def test_a_scheduler_that_goes_away_fails_the_jobs_in_flight(tmp_path: Path, store: Path,
                                                             mark: str) -> None:
    from distributed import LocalCluster

    running = tmp_path / "running"
    src = write_book(tmp_path / "src", {
        "slow": f"import time\nopen({str(running)!r}, 'w').close()\ntime.sleep(600)"},
        conf=f"d2l_kernel_env = {kernel_env(mark)!r}\nd2l_executor_connect_timeout = 1")
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=":0",
                           silence_logs=logging.CRITICAL, env={"D2L_WORKER_STORE": str(store)})
    try:
        proc = sphinx_build(src, tmp_path / "out", "-D",
                            f"d2l_executor=dask:{cluster.scheduler_address}")
        if not wait_until(lambda: running.exists() or proc.poll() is not None, HANG_GUARD):
            proc.kill()
    finally:
        cluster.close()
    output, _ = proc.communicate(timeout=HANG_GUARD)
    assert proc.returncode == 0, output  # the build goes on, and ends
    assert "slow.md:3" in output and "the Dask scheduler at tcp://127.0.0.1" in output
    assert "went away (" in output and "(not cached: the next build runs it again)" in output
    # (the autouse fixture checks that the kernel died with its worker)
