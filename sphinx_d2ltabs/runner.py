"""Plan and run the execution of a book (Sphinx-free).

For every page, each framework that has cells becomes one :class:`~.execution.Job`
(its cells in order, run in one fresh kernel). :func:`plan_page` derives the jobs from
the parsed cells; :class:`BookRunner` finds the stale ones in the cache and runs them
with the configured executor (:mod:`.book_run`: before Sphinx reads the pages, or while
it does).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .cells import Cell
from .config import D2lConfig
from .dialect import frameworks_of
from .execution.cache import TieredCache
from .execution.model import Job, JobResult, Progress, cache_key
from .execution.workspace import with_library
from .gpu_need import marked_gpus, page_gpus
from .page_settings import DEFAULT, PageSettings, excluded, page_settings
from .pages import PageReader

ALLOW_ERROR_MARK = "#@allow_error"


@dataclass
class PagePlan:
    docname: str
    path: str
    jobs: dict[str, Job] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    skipped: str = ""
    """Why the page is not executed (``d2l_execute_exclude``, its front matter); empty:
    it is."""


def framework_extra(cfg: D2lConfig, framework: str, library_hashes: Mapping[str, str],
                    dependency_hash: str) -> str:
    """The part of a framework's cache key that does not come from the page: the
    library, the ``d2l_dependencies`` files and the declared ``d2l_env_fingerprint``
    (absent when empty, so that keys made before it existed stay the same)."""
    extra = {"lib": library_hashes.get(framework, ""), "deps": dependency_hash}
    if cfg.env_fingerprint:
        extra["env"] = cfg.env_fingerprint
    return json.dumps(extra, sort_keys=True)


def kernel_env(cfg: D2lConfig, framework: str, lib_path: str | None) -> dict[str, str]:
    """The user's variables of ``framework`` with the library first on ``PYTHONPATH``
    (a Dask worker does the same with its own path: :mod:`.execution.dask_worker`)."""
    return with_library(cfg.env_for(framework), lib_path)


def plan_page(docname: str, path: str, cells: Sequence[Cell], cfg: D2lConfig,
              extras: Mapping[str, str], lib_path: str | None = None,
              settings: PageSettings | None = None) -> PagePlan:
    """One job per framework that has at least one cell on the page; none for a page that
    ``d2l_execute_exclude`` or its front matter (``settings``: read from ``path`` when
    not given) leave out of execution."""
    plan = PagePlan(docname, path)
    pattern = excluded(docname, path, cfg.execute_exclude)
    page = settings if settings is not None else (
        DEFAULT if pattern else page_settings(path, cfg.tab_names))
    if pattern or not page.execute:
        plan.skipped = (f"d2l_execute_exclude {pattern!r}" if pattern
                        else "front matter 'd2l: {execute: off}'")
        return plan
    tabs = cfg.tab_names
    for fw in frameworks_of(cells, tabs):
        if cfg.execute_tabs and fw not in cfg.execute_tabs:
            continue  # shown without outputs
        selected = [c for c in cells if c.belongs_to(fw) and not c.setup_only and fw in tabs]
        job = _job(docname, path, fw, cells, selected, cfg, page, extras.get(fw, ""),
                   lib_path)
        if not any(code.strip() for _, code in job.cells):
            continue
        plan.jobs[fw] = job
        # only the user's variables enter the key: the library path is machine-specific
        # (the library's content hash is in ``extras``)
        plan.keys[fw] = cache_key(_key_view(job, cfg.env_for(fw)))
    return plan


def _job(docname: str, path: str, fw: str, cells: Sequence[Cell], selected: Sequence[Cell],
         cfg: D2lConfig, page: PageSettings, extra: str, lib_path: str | None) -> Job:
    """The job of one framework of a page: the configuration, then the page's settings."""
    fm_gpus = page.gpus_for(fw)
    if fm_gpus is None or marked_gpus(
            c for c in cells if c.belongs_to(fw) and not c.setup_only) is not None:
        gpus = page_gpus(cells, fw, cfg)  # #@gpus mark, d2l_gpus_detect, d2l_gpus
    else:
        gpus = fm_gpus  # the front matter: after the mark, before the rule
    return Job(
        docname=docname,
        framework=fw,
        cells=tuple((c.line, cfg.code(c, fw)) for c in selected),
        source_path=path,
        kernel=cfg.kernel_for(fw),
        env=tuple(sorted(kernel_env(cfg, fw, lib_path).items())),
        cwd=os.path.dirname(os.path.abspath(path)),
        setup_code=cfg.setup_code.get(fw, cfg.setup_code.get("*", "")),
        timeout=page.timeout if page.timeout is not None else cfg.cell_timeout,
        gpus=gpus,
        allow_errors=cfg.allow_errors if page.allow_errors is None else page.allow_errors,
        allow_error_cells=frozenset(
            c.line for c in selected if ALLOW_ERROR_MARK in c.source.lower()
        ),
        extra_key=extra,
    )


def _key_view(job: Job, key_env: Mapping[str, str]) -> Job:
    from dataclasses import replace

    return replace(job, env=tuple(sorted(key_env.items())))


def dependency_hash(srcdir: str, patterns: Iterable[str]) -> str:
    """Hash of the content of every file matched by the ``d2l_dependencies`` globs."""
    digest = hashlib.sha256()
    for pattern in patterns:
        for path in sorted(glob.glob(os.path.join(srcdir, pattern), recursive=True)):
            if os.path.isfile(path):
                digest.update(os.path.relpath(path, srcdir).encode())
                with open(path, "rb") as fh:
                    digest.update(hashlib.sha256(fh.read()).digest())
    return digest.hexdigest()


Trust = Callable[[str, str, str], "dict[str, Any] | None"]
"""``trust(docname, framework, key)``: the last build's report entry of that job when its
cache entry is the very file that build read and checked or wrote (then it is not read
again: the result is loaded when a page being read needs it), else None."""


@dataclass
class Lookup:
    """What :meth:`BookRunner.lookup` found, by (docname, framework)."""

    results: dict[tuple[str, str], JobResult] = field(default_factory=dict)
    """The cached results read."""
    known: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """The cached results not read (:data:`Trust`): their report entries."""
    todo: list[Job] = field(default_factory=list)
    """The jobs to run, in plan order."""
    keys: dict[tuple[str, str], str] = field(default_factory=dict)
    """Every job's cache key."""


@dataclass
class RunReport:
    """What one build's execution phase did, per (document, framework)."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    executed: int = 0
    cached: int = 0
    failed: int = 0
    seconds: float = 0.0
    not_executed: dict[str, str] = field(default_factory=dict)
    """Pages left out of execution → why (:attr:`PagePlan.skipped`)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "executed": self.executed,
            "cached": self.cached,
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
            "pages": self.entries,
            "not_executed": dict(sorted(self.not_executed.items())),
        }


class BookRunner:
    """Find stale (document, framework) jobs and run them."""

    def __init__(self, cfg: D2lConfig, cache: TieredCache, *, reader: PageReader | None = None,
                 on_progress: Callable[[Progress], None] | None = None,
                 on_notice: Callable[[str], None] | None = None,
                 on_warning: Callable[[str, str], None] | None = None,
                 srcdir: str | None = None) -> None:
        self.cfg = cfg
        self.cache = cache
        self.srcdir = srcdir
        """The source folder (the Dask executor ships files from it)."""
        self.reader = reader or PageReader(cfg.tab_names)
        self.on_progress = on_progress
        self.on_notice = on_notice
        self.on_warning = on_warning or (lambda message, docname: None)
        """(message, docname): a cache entry that can't be used, a result missing in
        ``cache-only`` mode."""

    def plan(self, pages: Sequence[tuple[str, str]], extras: Mapping[str, str],
             lib_path: str | None = None) -> list[PagePlan]:
        plans = []
        for docname, path in pages:
            info = self.reader.read(path)
            if info is None:
                continue  # reported by Sphinx when it reads the page
            plans.append(plan_page(docname, path, info.cells, self.cfg, extras, lib_path))
        return plans

    def lookup(self, plans: Sequence[PagePlan], mode: str,
               trust: Trust | None = None) -> Lookup:
        """The cached results, the jobs ``mode`` runs (in plan order), every job's cache
        key. ``trust``: see :data:`Trust` (those jobs' entries are not read)."""
        found = Lookup()
        if mode == "force":
            trust = None
        for plan in plans:
            for fw in plan.jobs:
                key = found.keys[(plan.docname, fw)] = plan.keys[fw]
                entry = trust(plan.docname, fw, key) if trust is not None else None
                if entry is not None:
                    found.known[(plan.docname, fw)] = entry
        if mode != "force":  # one concurrent round trip to a remote tier, not one per job
            self.cache.prefetch(key for job, key in found.keys.items() if job not in found.known)
        for plan in plans:
            for fw, job in plan.jobs.items():
                if (plan.docname, fw) in found.known:
                    continue
                key = plan.keys[fw]
                hit = None if mode == "force" else self._lookup(job, key, mode)
                if hit is not None:
                    # same code, maybe at other lines: outputs follow the cells by position
                    hit = hit.for_job(job).errors_allowed(job)
                    hit.cached = True
                    found.results[(plan.docname, fw)] = hit
                elif mode in ("auto", "force"):
                    found.todo.append(job)
        return found

    @staticmethod
    def report(plans: Sequence[PagePlan], results: Mapping[tuple[str, str], JobResult],
               seconds: float, known: Mapping[tuple[str, str], dict[str, Any]] | None = None,
               ) -> RunReport:
        """The report of a run that took ``seconds`` and gave ``results``; ``known``: the
        report entries of the cached results not read (:attr:`Lookup.known`)."""
        report = RunReport()
        entries = {job: {
            "docname": job[0],
            "framework": job[1],
            "status": result.status,
            "seconds": round(result.seconds, 3),
            "cached": result.cached,
            "error": (result.error or {}).get("message", "") if not result.ok else "",
        } for job, result in results.items()}
        entries.update({job: dict(entry, cached=True) for job, entry in (known or {}).items()
                        if job not in entries})
        for _, entry in sorted(entries.items()):
            report.entries.append(entry)
            report.cached += int(entry["cached"])
            report.executed += int(not entry["cached"])
            report.failed += int(entry["status"] != "ok")
        report.not_executed = {p.docname: p.skipped for p in plans if p.skipped}
        report.seconds = seconds
        return report

    def _lookup(self, job: Job, key: str, mode: str) -> JobResult | None:
        """A cached result; an entry that can't be used is reported (and runs again,
        where the mode runs jobs); in ``cache-only``, so is a missing one."""
        lookup = self.cache.load(key)
        if lookup.result is not None:
            return lookup.result
        if lookup.problem:
            then = "it runs again" if mode != "cache-only" else (
                "the page is shown without these outputs (d2l_execute = 'cache-only')")
            self.on_warning(f"[{job.framework}] cache entry {lookup.path} {lookup.problem}: "
                            f"{then}", job.docname)
        elif mode == "cache-only":
            self.on_warning(f"[{job.framework}] no cached outputs (d2l_execute = "
                            "'cache-only'): the page is shown without them; build once with "
                            "d2l_execute = 'auto' to run it", job.docname)
        return None

    def execute(self, todo: list[Job], keys: Mapping[tuple[str, str], str],
                expected: Mapping[tuple[str, str], float] | None = None, *,
                stop: threading.Event | None = None,
                on_result: Callable[[Job, JobResult], None] | None = None,
                ) -> dict[tuple[str, str], JobResult]:
        """Run ``todo`` with the configured executor (``d2l_executor``); raises
        :class:`~.execution.executor.ExecutorError` when it can't be used.

        ``on_result(job, result)``: called as each job ends, once its result is cached.
        ``stop`` (the local executor): set by another thread, it ends the run, every
        kernel killed, and :class:`~.execution.session.Cancelled` is raised."""
        from .execution.executor import Callbacks, open_executor

        def store(job: Job, result: JobResult) -> None:
            result.key = keys[(job.docname, job.framework)]
            # a failure of the machinery (a timeout, a killed or missing kernel...) is
            # the page's result for this build only: the next build runs it again
            if not result.machinery_failure:
                self.cache.put(result.key, result)
            if on_result is not None:
                on_result(job, result)

        callbacks = Callbacks(self.on_progress, self.on_notice, store)
        with open_executor(self.cfg, self.srcdir, callbacks) as executor:
            if stop is not None:
                from .execution.scheduler import Scheduler

                assert isinstance(executor, Scheduler), "stop: the local executor only"
                return executor.run(todo, expected, stop)
            return executor.run(todo, expected)


def expected_seconds(report: Any) -> dict[tuple[str, str], float]:
    """Each job's seconds in an execution report (``RunReport.to_json``, e.g. the last
    build's ``d2l_execution_report.json``), by (docname, framework); anything of another
    shape is skipped."""
    pages = report.get("pages") if isinstance(report, dict) else None
    out: dict[tuple[str, str], float] = {}
    for entry in pages if isinstance(pages, list) else []:
        if not isinstance(entry, dict):
            continue
        doc, fw, seconds = entry.get("docname"), entry.get("framework"), entry.get("seconds")
        if (isinstance(doc, str) and isinstance(fw, str) and isinstance(seconds, (int, float))
                and not isinstance(seconds, bool) and seconds >= 0):
            out[(doc, fw)] = float(seconds)
    return out


