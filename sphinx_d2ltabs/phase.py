"""The execution phase of a build (``env-get-outdated``, before any page is read).

1. When nothing the execution depends on changed since the last full phase
   (:func:`book_fingerprint`) and every cached result it relied on still loads, take
   the no-op path: no page parsed, no library written, no kernel started.
2. Otherwise: generate the ``#@save`` library, plan one job per (page, framework), run
   the stale ones (:mod:`.runner`, :mod:`.book_run`, :mod:`.execution`: before this
   returns, or while the pages are read, :mod:`.overlap`), and return the pages to read
   again: those whose cache keys changed and those whose jobs run in this build. After
   the jobs (:func:`_finish`): report failures and cache problems, record the phase.

While pages are read, :func:`page_results` hands each page its results (once its jobs
have ended): those of this build, else the cache's; a result that went missing is a
``d2l.cache`` warning, never a page silently without outputs.
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import hashlib
import json
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging

from .reporting import (
    progress_printer,
    read_report,
    report_failures,
    report_path,
    write_report,
)
from .state import D2lState, LastRun, get_state
from .warnings_ import D2lWarning, warn

if TYPE_CHECKING:
    from .cells import Cell
    from .execution.cache import TieredCache
    from .execution.model import JobResult
    from .pages import PageReader
    from .runner import RunReport

logger = logging.getLogger(__name__)

MAX_AGE_DAY = 86400.0
INDEX_FILE = "pages.json"


def warn_cache(message: str, docname: str | None = None) -> None:
    warn(logger, message, D2lWarning.CACHE, location=docname)


def open_cache(state: D2lState) -> TieredCache:
    """The build's cache: the local folders, then ``d2l_cache_remote`` if set (what the
    build learnt of the remote, down or reported, is kept in ``state.warned``)."""
    from .execution.cache import open_tiers

    cfg = state.cfg
    remote = None
    if cfg.cache_remote:
        from sphinx.errors import ConfigError

        from .execution.remote import RemoteConfigError, RemoteTier

        try:
            remote = RemoteTier(cfg.cache_remote, timeout=cfg.cache_remote_timeout,
                                push=cfg.cache_push, options=dict(cfg.cache_remote_options),
                                memo=state.warned, on_problem=warn_cache,
                                on_notice=lambda message: logger.info(f"[d2l] {message}"))
        except RemoteConfigError as err:
            raise ConfigError(f"d2l_cache_remote: {err}") from None
    return open_tiers(state.cache_dir, on_problem=warn_cache,
                      on_notice=lambda message: logger.info(f"[d2l] {message}"), remote=remote)


def book_fingerprint(app: Sphinx, env: BuildEnvironment) -> str:
    """What the execution phase depends on, from file metadata only (no reading).

    The configuration, the found documents with their size and mtime, the generated
    library's files and the ``d2l_dependencies`` files. Equal fingerprints mean the
    library and every cache key are as the previous build left them.
    """
    cfg = get_state(env).cfg
    digest = hashlib.sha256()
    digest.update(json.dumps(dataclasses.asdict(cfg), sort_keys=True, default=str).encode())
    digest.update(f"{app.srcdir}\0{app.outdir}\0{app.config.root_doc}".encode())

    def stat(path: str) -> None:
        try:
            st = os.stat(path)
        except OSError:
            digest.update(f"{path}\0-\n".encode())
        else:
            digest.update(f"{path}\0{st.st_mtime_ns}\0{st.st_size}\n".encode())

    for docname in sorted(env.found_docs):
        stat(str(env.doc2path(docname)))
    lib_root = os.path.normpath(os.path.join(app.srcdir, cfg.lib_dir, cfg.lib_package))
    if cfg.lib_enable and os.path.isdir(lib_root):
        for name in sorted(os.listdir(lib_root)):
            stat(os.path.join(lib_root, name))
    for pattern in cfg.dependencies:
        for path in sorted(glob.glob(os.path.join(app.srcdir, pattern), recursive=True)):
            stat(path)
    return digest.hexdigest()


def _unchanged_book(app: Sphinx, env: BuildEnvironment, cache: TieredCache) -> LastRun | None:
    """The last full phase's record, if it still holds for this build.

    It holds when nothing the execution depends on changed, every job then ended
    without error (failures are reported on every build, so they take the full path),
    and every result it relied on still loads from the cache: it is the very file that
    phase read and checked or wrote (its stamp: :mod:`.execution.stamps`), else it is
    read and checked now. ``force`` always takes the full path.
    """
    from .execution.stamps import unchanged

    state = get_state(env)
    saved = state.last_run
    if saved is None or state.cfg.execute == "force":
        return None
    if saved.fingerprint != book_fingerprint(app, env):
        return None
    stamps = getattr(saved, "stamps", None) or {}  # (a record of an older version: none)
    for keys in saved.keys.values():
        for key in keys.values():
            if unchanged(cache, key, stamps.get(key)):
                continue
            # (a corrupt entry stays for the full path, which reports it)
            if cache.load(key, remove_corrupt=False).result is None:
                return None  # the full path runs it again (or warns in cache-only)
    return saved


def _stale(env: BuildEnvironment, keys: dict[str, dict[str, str]], also: Iterable[str],
           added: set[str], changed: set[str], removed: set[str]) -> list[str]:
    """Pages to read again: their keys differ from those their doctree shows, or
    they are in ``also``; Sphinx reads ``added``/``changed`` ones anyway."""
    known = get_state(env).doc_keys
    stale = {d for d in env.found_docs if known.get(d, {}) != keys.get(d, {})}
    return sorted((stale | set(also)) - added - changed - removed)


def on_env_get_outdated(app: Sphinx, env: BuildEnvironment, added: set[str],
                        changed: set[str], removed: set[str]) -> list[str]:
    state = get_state(env)
    try:
        cache = open_cache(state)
    except NotADirectoryError as err:
        from sphinx.errors import ConfigError

        raise ConfigError(f"d2l_cache_dir: {err}") from None
    saved = _unchanged_book(app, env, cache) if state.cfg.execute != "off" else None
    if saved is not None:
        _take_noop_path(app, state, saved)
        stale: Iterable[str] = ()
        keys = saved.keys
    else:
        keys, stale = _run_phase(app, env, cache)
    return _stale(env, keys, stale, added, changed, removed)


def _take_noop_path(app: Sphinx, state: D2lState, saved: LastRun) -> None:
    """Nothing changed since the last build: no page parsed, no library written, no
    kernel started; the report says every job came from the cache."""
    state.extras = saved.extras
    state.lib_path = saved.lib_path
    unchanged = dict(saved.report, executed=0, seconds=0.0)
    unchanged["pages"] = [dict(e, cached=True) for e in unchanged["pages"]]
    unchanged["cached"] = len(unchanged["pages"])
    state.report = unchanged
    if state.cfg.publish_report or read_report(report_path(app)) != unchanged:
        write_report(app, unchanged)  # (unchanged since the last no-op: not rewritten)
    logger.info(f"[d2l] nothing changed since the last build: {unchanged['cached']} "
                "job(s) from the cache, no kernel started")


def _run_phase(app: Sphinx, env: BuildEnvironment, cache: TieredCache,
               ) -> tuple[dict[str, dict[str, str]], set[str]]:
    """The full path; returns the keys of every planned job and the pages whose jobs
    run in this build (before this returns, or while the pages are read:
    :mod:`.overlap`)."""
    from .pages import PageReader

    state = get_state(env)
    cfg = state.cfg
    saved, state.last_run = state.last_run, None
    reader = PageReader(cfg.tab_names, os.path.join(state.cache_dir, INDEX_FILE),
                        index_paths=[os.path.join(t.directory, INDEX_FILE)
                                     for t in cache.tiers[1:]],
                        on_problem=warn_cache)
    state.page_reader = reader  # (the notebooks and their links read the pages too)
    lib_hashes = generate_library(app, env, reader) if cfg.lib_enable else {}
    if cfg.execute == "off":
        _save_index(reader, cache)
        return {}, set()
    return _execute(app, env, cache, reader, lib_hashes, saved)


def _execute(app: Sphinx, env: BuildEnvironment, cache: TieredCache, reader: PageReader,
             lib_hashes: dict[str, str], saved: LastRun | None,
             ) -> tuple[dict[str, dict[str, str]], set[str]]:
    from sphinx.errors import ConfigError

    from . import overlap
    from .book_run import BackgroundRun, start_run
    from .execution.cache import last_usage
    from .execution.executor import ExecutorError, worker_count
    from .execution.stamps import trust
    from .reporting import read_report, report_path
    from .runner import BookRunner, dependency_hash, expected_seconds, framework_extra

    state = get_state(env)
    cfg = state.cfg
    dep = dependency_hash(str(app.srcdir), cfg.dependencies)
    state.extras = {fw: framework_extra(cfg, fw, lib_hashes, dep) for fw in cfg.tab_names}
    runner = BookRunner(cfg, cache, reader=reader, on_progress=progress_printer(),
                        on_notice=lambda msg: logger.info(f"[d2l] {msg}"),
                        on_warning=warn_cache, srcdir=str(app.srcdir))
    plans = runner.plan(md_pages(env), state.extras, state.lib_path)
    keys = {p.docname: dict(p.keys) for p in plans if p.keys}
    # the durations in the last build's report (read before it is replaced), else in the
    # cache's record of the last build (a new build folder, the cache kept): the longest
    # jobs start first
    hints = (expected_seconds(read_report(report_path(app)) or {})
             or expected_seconds(last_usage(cache)))
    # (the book as the jobs see it: an edit while they run is the next build's)
    finish = functools.partial(_finish, app, env, cache, reader, keys,
                               book_fingerprint(app, env))
    background = overlap.allowed(app, cfg)
    # the entries the last full phase used and that are still those files: not read again
    # (a page read again loads its own)
    known = (trust(cache, saved.stamps, saved.keys, saved.report)
             if saved is not None and saved.stamps else None)
    try:
        run = start_run(runner, plans, cfg.execute, hints, background=background,
                        trust=known)
    except ExecutorError as err:
        raise ConfigError(str(err)) from None
    if isinstance(run, BackgroundRun):
        overlap.start(state, run, finish, worker_count(cfg.workers), hints)
    else:
        finish(*run.join())
    return keys, {job.docname for job in run.todo}


def _finish(app: Sphinx, env: BuildEnvironment, cache: TieredCache, reader: PageReader,
            keys: dict[str, dict[str, str]], fingerprint: str,
            results: dict[tuple[str, str], JobResult], report: RunReport) -> None:
    """After the jobs: the report and the failures, the cache's record of the build, the
    pages index, and (no failure) the record of this phase for the no-op path."""
    from .execution.cache import write_usage

    state = get_state(env)
    cfg = state.cfg
    if report.executed:
        logger.info(f"[d2l] executed {report.executed} job(s) in {report.seconds:.1f} s, "
                    f"{report.cached} from cache, {report.failed} failed")
    report_failures(results)
    state.results = results
    state.report = report.to_json()
    write_report(app, state.report)
    used = {k for page in keys.values() for k in page.values()}
    write_usage(cache, used, str(app.srcdir), report.entries)
    if cfg.cache_max_age > 0 and cache.writable is not None:
        cache.writable.prune_aged(cfg.cache_max_age * MAX_AGE_DAY)
    _save_index(reader, cache)
    if not report.failed and cfg.execute != "force":
        from .execution.stamps import take

        # the entries this phase read or wrote: their stamps
        state.last_run = LastRun(fingerprint, state.extras, state.lib_path, keys, state.report,
                                 stamps=take(cache, used))


def _save_index(reader: PageReader, cache: TieredCache) -> None:
    """The pages index goes where results go (the fallback folder of a read-only cache);
    when nothing can be written, it is not kept (the pages are parsed again)."""
    text = reader.dump()
    if text is not None:
        cache.write_file(INDEX_FILE, text)


def md_pages(env: BuildEnvironment) -> list[tuple[str, str]]:
    """(docname, path) of the book's d2l pages (``.md``; not the MyST text notebooks
    MyST-NB owns and executes: :func:`.mystnb_compat.is_notebook_page`)."""
    from .mystnb_compat import is_notebook_page

    pages = []
    for docname in sorted(env.found_docs):
        path = str(env.doc2path(docname))
        if path.endswith(".md") and not is_notebook_page(env, path):
            pages.append((docname, path))
    return pages


def generate_library(app: Sphinx, env: BuildEnvironment, reader: PageReader) -> dict[str, str]:
    """Write the ``#@save`` package; return the library hash per framework."""
    from .library import LibraryConfig, api_anchor
    from .library import generate_library as generate

    state = get_state(env)
    cfg = state.cfg
    lib_config = LibraryConfig(
        package=cfg.lib_package,
        directory=cfg.lib_dir,
        modules=dict(cfg.lib_modules),
        headers=dict(cfg.lib_headers),
        keep_headers=True,  # d2lbook's rule: the text above the banner stays
        aliases={fw: cfg.alias_set(fw).library_code() for fw in cfg.tab_names},
    )
    result = generate(str(app.srcdir), cfg.tab_names, lib_config, index=app.config.root_doc,
                      reader=reader)
    for issue in result.issues:
        docname = os.path.splitext(issue.docpath)[0].replace(os.sep, "/")
        warn(logger, issue.message, D2lWarning.LIBRARY,
             location=(docname, issue.line or None))
    for path in result.written:
        logger.info(f"[d2l] wrote {os.path.relpath(path, app.srcdir)}")
    for path in result.removed:
        logger.info(f"[d2l] removed {os.path.relpath(path, app.srcdir)} (nothing saved for it)")
    api = {
        fw: [dict(dataclasses.asdict(e),
                  docname=os.path.splitext(e.docpath)[0].replace(os.sep, "/"),
                  anchor=api_anchor(fw, e.name))
             for e in entries]
        for fw, entries in result.api.items()
    }
    state.api_changed = api != state.api
    state.api = api
    state.lib_path = os.path.normpath(os.path.join(app.srcdir, cfg.lib_dir))
    return dict(result.hashes)


# ---------------------------------------------------------------------- while reading


def page_results(env: BuildEnvironment, docname: str, cells: list[Cell],
                 ) -> dict[str, JobResult | None]:
    """The execution result of each framework of a page being read.

    Results of this build's phase first, else the cache's. A framework whose result is
    missing is left out of the page's recorded keys, so the page is read again once the
    result exists; where the book executes, that is a ``d2l.cache`` warning.
    """
    state = get_state(env)
    cfg = state.cfg
    if cfg.execute == "off":
        state.doc_keys[docname] = {}
        return {}
    from .overlap import wait_page
    from .runner import plan_page

    wait_page(state, docname)  # (its jobs may still run: :mod:`.overlap`)
    plan = plan_page(docname, str(env.doc2path(docname)), cells, cfg, state.extras,
                     state.lib_path)
    shown: dict[str, str] = {}
    results: dict[str, JobResult | None] = {}
    for fw, key in plan.keys.items():
        result = state.results.get((docname, fw))
        if result is None or result.key != key:
            lookup = open_cache(state).load(key)
            result = lookup.result
            if result is None and cfg.execute != "cache-only":
                why = lookup.problem or "is missing (removed while the book was built?)"
                warn_cache(f"[{fw}] the cached result {why}: the page is shown without "
                           "its outputs, and the next build runs it again", docname)
        results[fw] = result.for_job(plan.jobs[fw]) if result is not None else None
        if result is not None:
            shown[fw] = key
    state.doc_keys[docname] = shown
    return results
