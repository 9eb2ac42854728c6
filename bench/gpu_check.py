"""GPU check of both executors: what each PyTorch kernel sees, locally and on Dask.

Builds a small book of ``--pages`` PyTorch pages (``d2l_gpus = {"pytorch": 1}``: each
kernel wants one GPU) whose cell prints what its kernel saw: ``CUDA_VISIBLE_DEVICES``,
``torch.cuda.is_available()``, the devices it can use and the result of a tiny
computation on the first one. Twice:

* ``local``: ``d2l_executor = "local"``, ``d2l_workers`` = the number of GPUs (2 without
  any), GPU ids found by the extension (``CUDA_VISIBLE_DEVICES``, ``nvidia-smi -L``);
* ``dask``: a ``dask scheduler`` and one ``dask worker`` per GPU, started as documented
  in docs/distributed.md (``CUDA_VISIBLE_DEVICES=<i> dask worker tcp://... --nthreads 1
  --resources GPU=1``); on a machine without GPUs one worker without GPU resources (the
  GPU jobs then run on the CPU, with an empty ``CUDA_VISIBLE_DEVICES``).

Prints one line per (executor, page) and a verdict; exits 1 when a job failed or, on a
machine with GPUs, a kernel did not see exactly one usable GPU, or two kernels running
at the same time on Dask shared one. Without PyTorch, the cells report it and the check
is about ``CUDA_VISIBLE_DEVICES`` only.

    .venv/bin/python bench/gpu_check.py --pages 4
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir))

CELL = '''import json, os, socket, time
seen = {"cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "host": socket.gethostname(), "pid": os.getpid(), "start": time.time()}
try:
    import torch
except ImportError:
    seen["torch"] = None
else:
    seen["torch"] = torch.__version__
    seen["cuda_available"] = torch.cuda.is_available()
    seen["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    if seen["cuda_available"]:
        seen["sum_on_gpu"] = torch.ones(1000, device="cuda").sum().item()
time.sleep(SLEEP)  # overlap the jobs: concurrent kernels must hold different GPUs
seen["end"] = time.time()
print("GPUCHECK " + json.dumps(seen))'''


def write_book(root: str, pages: int, sleep: float) -> None:
    os.makedirs(root)
    names = [f"gpu{i}" for i in range(pages)]
    with open(os.path.join(root, "conf.py"), "w", encoding="utf-8") as fh:
        fh.write('extensions = ["sphinx_d2ltabs"]\nproject = "gpu-check"\n'
                 'd2l_tabs = ["pytorch"]\nd2l_gpus = {"pytorch": 1}\n'
                 'd2l_lib_enable = False\nd2l_timeout = 600\n')
    with open(os.path.join(root, "index.md"), "w", encoding="utf-8") as fh:
        fh.write("# GPU check\n\n```toc\n:maxdepth: 1\n\n" + "\n".join(names) + "\n```\n")
    for name in names:
        with open(os.path.join(root, name + ".md"), "w", encoding="utf-8") as fh:
            fh.write(f"# {name}\n\n```{{.python .input}}\n"
                     f"{CELL.replace('SLEEP', str(sleep))}\n```\n")


def build(src: str, out: str, *options: str) -> tuple[dict[str, Any], dict[str, dict]]:
    """A forced build: its report, and what each page's kernel saw."""
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-D",
                           "d2l_execute=force", *options, src, out],
                          capture_output=True, text=True, check=False)
    notices = [ln for ln in proc.stdout.splitlines() if "[d2l]" in ln and "GPU" in ln]
    for line in notices:
        print("   ", line.strip())
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        raise SystemExit(f"the build failed ({' '.join(options)})")
    with open(os.path.join(out, ".doctrees", "d2l_execution_report.json"), encoding="utf-8") as fh:
        report = json.load(fh)
    seen = {}
    for entry in report["pages"]:
        path = os.path.join(out, entry["docname"] + ".html")
        with open(path, encoding="utf-8") as fh:
            found = re.search(r"GPUCHECK (\{.*?\})\s*<", html.unescape(fh.read()))
        seen[entry["docname"]] = json.loads(found.group(1)) if found else {}
    return report, seen


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def dask_cluster(gpus: list[str], work: str) -> Iterator[str]:
    """``dask scheduler`` and one ``dask worker`` per GPU (one without GPUs if none)."""
    address = f"tcp://127.0.0.1:{free_port()}"
    dask = [sys.executable, "-m", "dask"]
    procs = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port",
                               address.rsplit(":", 1)[1], "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for i, gpu in enumerate(gpus or [None]):
            env = dict(os.environ, D2L_WORKER_STORE=os.path.join(work, f"store{i}"))
            args = [*dask, "worker", address, "--nthreads", "1", "--name", f"w{i}",
                    "--no-dashboard"]
            if gpu is not None:
                env["CUDA_VISIBLE_DEVICES"] = gpu
                args += ["--resources", "GPU=1"]
            else:
                env["CUDA_VISIBLE_DEVICES"] = ""
            procs.append(subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
        wait_for_workers(address, len(gpus) or 1)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)


def wait_for_workers(address: str, count: int, timeout: float = 120.0) -> None:
    from distributed import Client

    with Client(address, timeout=timeout, set_as_default=False) as client:
        client.wait_for_workers(count, timeout=timeout)


def check(name: str, report: dict[str, Any], seen: dict[str, dict], gpus: list[str]) -> bool:
    ok = True
    for entry in sorted(report["pages"], key=lambda e: e["docname"]):
        s = seen.get(entry["docname"], {})
        print(f"  {name:5s} {entry['docname']:6s} {entry['status']:6s} "
              f"CUDA_VISIBLE_DEVICES={s.get('cuda_visible_devices')!r} "
              f"torch={s.get('torch')} cuda.is_available()={s.get('cuda_available')} "
              f"devices={s.get('devices')} sum_on_gpu={s.get('sum_on_gpu')} "
              f"pid={s.get('pid')}")
        ok &= entry["status"] == "ok"
        if gpus:
            ok &= len(str(s.get("cuda_visible_devices") or "").split(",")) == 1 and bool(
                s.get("cuda_visible_devices"))
            if s.get("torch"):
                ok &= s.get("cuda_available") is True and len(s.get("devices") or []) == 1
        else:
            ok &= s.get("cuda_visible_devices") == ""
    ok &= no_shared_gpu(seen)
    return ok


def no_shared_gpu(seen: dict[str, dict]) -> bool:
    """No two kernels that ran at the same time on one host saw the same GPU id."""
    runs = [s for s in seen.values() if s.get("cuda_visible_devices")]
    for i, a in enumerate(runs):
        for b in runs[i + 1:]:
            overlap = a["start"] < b["end"] and b["start"] < a["end"]
            if overlap and a["host"] == b["host"] and (
                    a["cuda_visible_devices"] == b["cuda_visible_devices"]):
                print(f"  !! two kernels at once on GPU {a['cuda_visible_devices']}")
                return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=4)
    parser.add_argument("--sleep", type=float, default=3.0,
                        help="seconds each cell waits (so that jobs overlap)")
    args = parser.parse_args()
    from sphinx_d2ltabs.execution.gpus import detect_gpus

    gpus = detect_gpus()
    print(f"GPUs found on this machine: {gpus or 'none'}")
    ok = True
    with tempfile.TemporaryDirectory() as work:
        src = os.path.join(work, "book")
        write_book(src, args.pages, args.sleep)
        start = time.monotonic()
        report, seen = build(src, os.path.join(work, "local"),
                             "-D", f"d2l_workers={max(2, len(gpus))}")
        print(f"local executor ({time.monotonic() - start:.1f} s):")
        ok &= check("local", report, seen, gpus)
        with dask_cluster(gpus, work) as address:
            start = time.monotonic()
            report, seen = build(src, os.path.join(work, "dask"),
                                 "-D", f"d2l_executor=dask:{address}")
            print(f"Dask executor, {len(gpus) or 1} worker(s) "
                  f"({time.monotonic() - start:.1f} s):")
            ok &= check("dask", report, seen, gpus)
    print("GPU CHECK " + ("PASSED" if ok else "FAILED")
          + ("" if gpus else " (no GPU here: GPU jobs ran on the CPU)"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
