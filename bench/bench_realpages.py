"""Clean builds of real d2l-en pages, PyTorch on the CPU: copies of this extension's code
side by side (e.g. before and after a change), against the physical limit.

The book: chapters of d2l-en (default ``chapter_preliminaries`` and
``chapter_linear-regression``, after ``chapter_preface``, whose ``#@save`` cell holds the
imports of ``d2l/torch.py``, and with d2l-en's ``use-gpu.md`` and ``utils.md``, whose
``#@save`` blocks finish what the chapters use: ``d2l.cpu``,
``HyperParameters.save_hyperparameters``) with its
``config.ini``, ``d2l/``, ``d2l.bib`` and ``img/``,
an ``index.md`` whose toc holds those chapters, and the ``conf.py`` of docs/real-books.md
with ``d2l_execute = "auto"``, ``d2l_execute_tabs = ["pytorch"]``, ``d2l_workers`` and
``d2l_setup_code = {"pytorch": SETUP}``: the imports every page starts with, which a warm
pool runs before the page's turn.

Each run builds every variant from a fresh copy (clean: no cache, no build folder), the
order rotating from run to run, and once the same book with ``d2l_execute = "off"`` (the
Sphinx time of the limit). The limit of a clean build is ``Σ(cell run time) / workers +
Sphinx time``, the cell time being each job's own time less its kernel start-up and
set-up code (``build_metrics.py``). Needs the environment of ``bash bench/setup.sh
--only-realpages`` (pandas and scipy, which d2l/torch.py imports)::

    git --git-dir=D2L_EN/.git archive HEAD chapter_preface chapter_preliminaries \\
        chapter_linear-regression chapter_builders-guide/use-gpu.md \\
        chapter_appendix-tools-for-deep-learning/utils.md \\
        config.ini d2l d2l.bib img | tar -x -C PAGES_DIR
    bench/.venvs/realpages/bin/python bench/bench_realpages.py --d2l-en PAGES_DIR \\
        --variant before=BEFORE_DIR --variant after=. --runs 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import build_metrics

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work" / "realpages"
CHAPTERS = ("chapter_preface", "chapter_preliminaries", "chapter_linear-regression")
PAGES = ("chapter_builders-guide/use-gpu", "chapter_appendix-tools-for-deep-learning/utils")
SETUP = "import torch\nfrom d2l import torch as d2l"

CONF = '''\
import os
from sphinx_d2ltabs.migrate import config_from_ini

globals().update(config_from_ini("config.ini"))

def _header(path):
    try:
        text = open(path, encoding="utf-8").read()
    except OSError:
        return ""
    mark = "#################   WARNING"
    return text.split(mark, 1)[0] if mark in text else ""

d2l_lib_headers = {{fw: _header(os.path.join("d2l", mod + ".py"))
                   for fw, mod in d2l_lib_modules.items()}}
exclude_patterns += ["_build*"]
d2l_execute = "auto"
d2l_execute_tabs = ["pytorch"]
d2l_workers = {workers}
d2l_setup_code = {{"pytorch": {setup!r}}}
d2l_kernel_env = {{"*": {{"PYTHONWARNINGS": "ignore", "MPLBACKEND": "agg"}}}}
suppress_warnings = ["*"]
'''


def write_book(d2l_en: Path, dest: Path, chapters: list[str], pages: list[str],
               workers: int) -> None:
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for name in [*chapters, "d2l", "img"]:
        shutil.copytree(d2l_en / name, dest / name)
    for name in ("config.ini", "d2l.bib", *(f"{p}.md" for p in pages)):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(d2l_en / name, dest / name)
    toc = "\n".join([*(f"{c}/index" for c in chapters), *pages])
    (dest / "index.md").write_text(f"Real pages\n==========\n\n```toc\n:maxdepth: 2\n:numbered:\n\n"
                                   f"{toc}\n```\n", encoding="utf-8")
    (dest / "conf.py").write_text(CONF.format(workers=workers, setup=SETUP), encoding="utf-8")


def build(src: Path, code: Path, log: Path, *options: str) -> float:
    env = dict(os.environ, PYTHONPATH=str(code), PYTHONPYCACHEPREFIX=str(WORK / "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", *options, str(src),
                               str(src / "_build" / "html")], cwd=src, env=env, stdout=out,
                              stderr=subprocess.STDOUT, check=False, timeout=7200)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"build failed ({code}), see {log}")
    return wall


def failed_jobs(src: Path) -> list[str]:
    report = build_metrics.read_report(src / "_build" / "html")
    return [f"{e['docname']} [{e['framework']}]: {e.get('error', '')[:120]}"
            for e in report["pages"] if e["status"] != "ok"]


def run(args: argparse.Namespace, variants: dict[str, Path]) -> dict[str, Any]:
    results: dict[str, Any] = {name: {"clean": [], "metrics": {"clean": []}}
                               for name in variants}
    results["plain"] = {"clean": []}
    names = list(variants)
    for r in range(args.runs):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in [*order, "plain"]:
            src = WORK / f"book_{name}"
            write_book(args.d2l_en, src, args.chapters, args.pages, args.workers)
            code = variants.get(name, variants[names[-1]])
            options = ["-D", "d2l_execute=off"] if name == "plain" else []
            wall = build(src, code, WORK / "logs" / f"{name}_{r}.log", *options)
            results[name]["clean"].append(wall)
            line = f"run {r + 1} {name:<8} clean={wall:.1f}s"
            if name != "plain":
                m = build_metrics.job_metrics(src / "_build" / "html",
                                              src / "_build" / ".d2l_cache")
                results[name]["metrics"]["clean"].append(m)
                line += (f" jobs={m['jobs']:.1f}s (start {m['starts']:.1f} + set-up "
                         f"{m['setup']:.1f} + cells {m['cells']:.1f}) n={int(m['n'])} "
                         f"phase={m['phase']:.1f}s")
                for problem in failed_jobs(src):
                    line += f"\n    FAILED {problem}"
            print(line + f"  (load {os.getloadavg()[0]:.1f})", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d2l-en", type=Path, required=True,
                        help="a d2l-en tree (at least the chapters, config.ini, d2l, img)")
    parser.add_argument("--chapters", nargs="+", default=list(CHAPTERS))
    parser.add_argument("--pages", nargs="*", default=list(PAGES),
                        help="single pages after the chapters (docnames)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=DIR",
                        help="a copy of the extension's code (PYTHONPATH); repeatable")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, default=WORK / "results.json")
    args = parser.parse_args()
    variants = {v.split("=", 1)[0]: Path(v.split("=", 1)[1]).resolve() for v in args.variant}
    if not variants:
        variants = {"ext": HERE.parent}
    print(f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')}, chapters "
          f"{' '.join(args.chapters)}, d2l_workers = {args.workers}")
    results = run(args, variants)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    plain = statistics.median(results["plain"]["clean"])
    print(f"\nplain (d2l_execute = 'off'): {plain:.1f} s")
    print(build_metrics.limits_table({"real": results}, args.workers)
          .replace("| real |", "| real pages |"))


if __name__ == "__main__":
    main()
