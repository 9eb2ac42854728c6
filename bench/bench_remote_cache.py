"""A cold build that reads every result from an HTTP mirror of the shared cache, against a
build that finds them in its local cache folder.

The book: ``--pages`` pages (default 40), each with one cell of each of two frameworks
(both run by the ``python3`` kernel), so ``2 × pages`` jobs. Untimed, it is built once
with ``d2l_cache_remote = file://<store>`` and ``d2l_cache_push = True`` (that fills the
store); then a threaded ``http.server`` on 127.0.0.1 serves the store, adding
``--latency`` ms before each answer (a network's round trip; 0: the loopback's).

Timed, interleaved ``--runs`` times (``sphinx-build`` in a subprocess each):

* **remote**: no build folder and no local cache; ``d2l_cache_remote`` = the mirror;
* **local**: no build folder, the local cache of the previous remote build (local hits).

Both must execute 0 jobs (checked in the execution report). Then, in this process, the
cache alone: ``TieredCache.load`` of every key from the mirror one after the other,
against ``TieredCache.prefetch`` of all keys (concurrent requests) followed by the loads,
against loads from a filled local folder.

    python bench/bench_remote_cache.py --pages 40 --runs 5 --latency 20
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sphinx_d2ltabs.execution.cache import FileCache, TieredCache
from sphinx_d2ltabs.execution.remote import RemoteTier

CONF = """extensions = ["sphinx_d2ltabs"]
project = "remote-bench"
d2l_tabs = ["numpy", "pytorch"]
d2l_lib_enable = False
d2l_workers = 2
"""


def write_book(src: Path, pages: int) -> None:
    src.mkdir(parents=True)
    (src / "conf.py").write_text(CONF)
    names = [f"p{i}" for i in range(pages)]
    (src / "index.md").write_text("# Book\n\n```toc\n" + "\n".join(names) + "\n```\n")
    for i, name in enumerate(names):
        (src / f"{name}.md").write_text(
            f"# Page {i}\n\n```{{.python .input}}\nprint('numpy', {i})\n```\n\n"
            f"```{{.python .input}}\n#@tab pytorch\nprint('pytorch', {i} * 2)\n```\n")


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 256  # (the default 5 drops concurrent connections: SYN retries)
    daemon_threads = True


class Handler(http.server.SimpleHTTPRequestHandler):
    latency = 0.0

    def do_GET(self) -> None:
        time.sleep(self.latency)  # (a simulated round trip: this is a benchmark)
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def mirror(folder: Path, latency: float) -> Iterator[str]:
    handler = type("Slow", (Handler,), {"latency": latency})
    server = Server(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def build(src: Path, *overrides: str) -> tuple[float, dict[str, Any]]:
    out = src / "_build" / "html"
    options = [x for o in overrides for x in ("-D", o)]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "sphinx", "-q", "-b", "html", *options,
                           str(src), str(out)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"sphinx-build {' '.join(options)} failed:\n{done.stderr[-3000:]}")
    report = json.loads((out / ".doctrees" / "d2l_execution_report.json").read_text())
    return seconds, report


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cache_alone(url: str, keys: list[str], work: Path, runs: int) -> dict[str, float]:
    """Median seconds to get every key: one by one from the mirror, prefetched, local."""
    times: dict[str, list[float]] = {"sequential": [], "prefetch": [], "local": []}
    for run in range(runs):
        for name in times:
            folder = work / f"cache-{name}-{run}"
            if name == "local":
                shutil.copytree(work / f"cache-sequential-{run}", folder)
            cache = TieredCache([FileCache(folder)], remote=RemoteTier(url))

            def get_all(cache: TieredCache = cache, name: str = name) -> None:
                if name == "prefetch":
                    cache.prefetch(keys)
                assert all(cache.load(k).result is not None for k in keys)

            times[name].append(timed(get_all))
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.0, help="ms added per request")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src, store = work / "book", work / "store"
        write_book(src, args.pages)
        seconds, report = build(src, f"d2l_cache_remote={store.as_uri()}", "d2l_cache_push=1")
        keys = sorted(p.name for p in store.glob("keys/??/*"))
        print(f"{args.pages} pages: {report['executed']} jobs executed and pushed in "
              f"{seconds:.1f} s ({len(keys)} entries in the store); latency "
              f"{args.latency:g} ms per request")
        times: dict[str, list[float]] = {"remote": [], "local": []}
        with mirror(store, args.latency / 1000) as url:
            for _ in range(args.runs):
                shutil.rmtree(src / "_build", ignore_errors=True)
                seconds, report = build(src, f"d2l_cache_remote={url}")
                assert report["executed"] == 0 and report["cached"] == len(keys), report
                times["remote"].append(seconds)
                for name in ("html", "d2l_images"):
                    shutil.rmtree(src / "_build" / name, ignore_errors=True)
                seconds, report = build(src)
                assert report["executed"] == 0 and report["cached"] == len(keys), report
                times["local"].append(seconds)
            alone = cache_alone(url, keys, work, args.runs)
    remote, local = statistics.median(times["remote"]), statistics.median(times["local"])
    print(f"cold build from the mirror {remote:.2f} s, from the local cache {local:.2f} s "
          f"(median of {args.runs}): ratio {remote / local:.2f}x")
    seq, pre, loc = alone["sequential"], alone["prefetch"], alone["local"]
    print(f"cache alone, {len(keys)} keys: one by one from the mirror {seq * 1000:.0f} ms, "
          f"prefetched {pre * 1000:.0f} ms, local {loc * 1000:.0f} ms; one by one / "
          f"prefetched {seq / pre:.1f}x, prefetched / local {pre / loc:.1f}x")


if __name__ == "__main__":
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    main()
