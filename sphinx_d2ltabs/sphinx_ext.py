"""Sphinx registration: config values, events, parser, static files.

The pipeline, in build order:

1. ``config-inited``  – validate the ``d2l_*`` values into one :class:`~.config.D2lConfig`.
2. ``env-get-outdated`` – before any page is read: generate the ``#@save`` library,
   plan one job per (page, framework), run the stale ones in parallel
   (:mod:`.runner`, :mod:`.execution`), report failures, and return the pages whose
   results changed so Sphinx re-reads them.
3. reading – :class:`~.parser.D2lParser` parses each page and takes the outputs from
   the cache.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.environment import BuildEnvironment
from sphinx.errors import ConfigError as SphinxConfigError
from sphinx.util import logging

from .cells import Cell
from .config import ConfigError, D2lConfig, default_cache_dir, from_mapping

if TYPE_CHECKING:
    from .pages import PageReader

logger = logging.getLogger(__name__)

STATIC = os.path.join(os.path.dirname(__file__), "static")
REPORT_FILE = "d2l_execution_report.json"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _config_values(config: Config) -> dict[str, Any]:
    return {f.name: config[f"d2l_{f.name}"] for f in fields(D2lConfig)}


def on_config_inited(app: Sphinx, config: Config) -> None:
    try:
        cfg = from_mapping(_config_values(config))
    except ConfigError as err:
        raise SphinxConfigError(str(err)) from None
    raw = config._raw_config
    if "sd_tabs_storage_prefix" not in raw:
        prefix = cfg.storage_prefix or "d2ltabs-" + re.sub(r"[^a-z0-9]+", "-",
                                                           str(config.project).lower()) + "-"
        config.sd_tabs_storage_prefix = prefix
    if "numfig" not in raw:
        config.numfig = True
    app.d2l_config = cfg  # type: ignore[attr-defined]


def on_builder_inited(app: Sphinx) -> None:
    env = app.env
    env.d2l_config = app.d2l_config  # type: ignore[attr-defined]
    env.d2l_bibtex = "sphinxcontrib.bibtex" in app.extensions  # type: ignore[attr-defined]
    env.d2l_outdir = str(app.outdir)  # type: ignore[attr-defined]
    if not hasattr(env, "d2l_doc_keys"):
        env.d2l_doc_keys = {}  # type: ignore[attr-defined]
    env.d2l_cache_dir = default_cache_dir(  # type: ignore[attr-defined]
        str(app.srcdir), str(app.outdir), app.d2l_config.cache_dir  # type: ignore[attr-defined]
    )
    env.d2l_image_dir = os.path.normpath(  # type: ignore[attr-defined]
        os.path.join(app.outdir, os.pardir, "d2l_images")
    )
    env.d2l_extras = {}  # type: ignore[attr-defined]
    env.d2l_lib_path = None  # type: ignore[attr-defined]
    env.d2l_report = {}  # type: ignore[attr-defined]
    if app.builder.format == "html" and STATIC not in app.config.html_static_path:
        app.config.html_static_path.append(STATIC)
        app.add_css_file("d2ltabs.css")


# ---------------------------------------------------------------------- execution phase


def _md_pages(app: Sphinx, env: BuildEnvironment) -> list[tuple[str, str]]:
    pages = []
    for docname in sorted(env.found_docs):
        path = str(env.doc2path(docname))
        if path.endswith(".md"):
            pages.append((docname, path))
    return pages


def _strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def _report_failures(results: dict[tuple[str, str], Any]) -> None:
    for (docname, fw), result in sorted(results.items()):
        if result.ok:
            continue
        err = result.error or {}
        line = int(err.get("cell") or 0)
        tb = "\n".join(_strip_ansi(t) for t in err.get("traceback") or [])
        cached = " (cached result; edit the page or use d2l_execute='force' to re-run)" if (
            result.cached) else ""
        message = err.get("message") or f"execution {result.status}"
        text = f"[{fw}] {message}{cached}"
        if tb:
            text += "\n" + tb
        logger.warning(text, location=(docname, line or None),
                       type="d2l", subtype="execute")


def _progress_printer() -> Callable[[Any], None]:
    last: dict[str, Any] = {"done": -1}

    def show(progress: Any) -> None:
        if progress.done == last["done"] and progress.running == last.get("running"):
            return
        last["done"], last["running"] = progress.done, list(progress.running)
        eta = f", ETA {progress.eta:.0f} s" if progress.eta is not None else ""
        running = ", ".join(progress.running[:4]) + (" ..." if len(progress.running) > 4 else "")
        failed = f", {progress.failed} failed" if progress.failed else ""
        logger.info(f"[d2l] executed {progress.done}/{progress.total}{failed}{eta}"
                    + (f"; running {running}" if running else ""))

    return show


def generate_library(app: Sphinx, env: BuildEnvironment, cfg: D2lConfig,
                     reader: PageReader) -> dict[str, str]:
    """Write the ``#@save`` package; return the library hash per framework."""
    from .library import LibraryConfig
    from .library import generate_library as generate

    lib_root = os.path.normpath(os.path.join(app.srcdir, cfg.lib_dir))
    lib_config = LibraryConfig(
        package=cfg.lib_package,
        directory=cfg.lib_dir,
        modules=dict(cfg.lib_modules),
        headers=dict(cfg.lib_headers),
        aliases={fw: cfg.alias_set(fw).library_code() for fw in cfg.tab_names},
    )
    result = generate(str(app.srcdir), cfg.tab_names, lib_config, index=app.config.root_doc,
                      reader=reader)
    for issue in result.issues:
        docname = os.path.splitext(issue.docpath)[0].replace(os.sep, "/")
        logger.warning(issue.message, location=(docname, issue.line or None),
                       type="d2l", subtype="library")
    for path in result.written:
        logger.info(f"[d2l] wrote {os.path.relpath(path, app.srcdir)}")
    env.d2l_lib_path = lib_root  # type: ignore[attr-defined]
    return dict(result.hashes)


def _book_fingerprint(app: Sphinx, env: BuildEnvironment, cfg: D2lConfig) -> str:
    """What the execution phase depends on, from file metadata only (no reading).

    The configuration, the found documents with their size and mtime, the generated
    library's files and the ``d2l_dependencies`` files. Equal fingerprints mean the
    library and every cache key are as the previous build left them.
    """
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


def _unchanged_book(app: Sphinx, env: BuildEnvironment, cfg: D2lConfig,
                    fingerprint: str) -> dict[str, Any] | None:
    """The previous build's execution state, if it still holds for this build.

    It holds when nothing the execution depends on changed, every job then ended
    without error (failures are reported on every build, so they take the full path),
    and the cache still has every result. ``force`` always takes the full path.
    """
    saved: dict[str, Any] | None = getattr(env, "d2l_fast", None)
    if not saved or cfg.execute == "force" or saved["fingerprint"] != fingerprint:
        return None
    cache_dir: str = env.d2l_cache_dir  # type: ignore[attr-defined]
    for keys in saved["current"].values():
        for key in keys.values():
            if not os.path.exists(os.path.join(cache_dir, key[:2], key + ".json")):
                return None
    return saved


def on_env_get_outdated(app: Sphinx, env: BuildEnvironment, added: set[str],
                        changed: set[str], removed: set[str]) -> list[str]:
    cfg: D2lConfig = env.d2l_config  # type: ignore[attr-defined]
    known: dict[str, dict[str, str]] = env.d2l_doc_keys  # type: ignore[attr-defined]
    fingerprint = _book_fingerprint(app, env, cfg)
    saved = _unchanged_book(app, env, cfg, fingerprint)
    if saved is not None:
        # nothing changed since the last build: no page parsed, no library written,
        # no kernel started; the report says every job came from the cache
        env.d2l_extras = saved["extras"]  # type: ignore[attr-defined]
        env.d2l_lib_path = saved["lib_path"]  # type: ignore[attr-defined]
        unchanged = dict(saved["report"], executed=0, seconds=0.0)
        unchanged["pages"] = [dict(e, cached=True) for e in unchanged["pages"]]
        unchanged["cached"] = len(unchanged["pages"])
        env.d2l_report = unchanged  # type: ignore[attr-defined]
        if cfg.execute != "off":
            _write_report(app, unchanged)
            logger.info(f"[d2l] nothing changed since the last build: "
                        f"{unchanged['cached']} job(s) from the cache, no kernel started")
        stale = {d for d in env.found_docs if known.get(d, {}) != saved["current"].get(d, {})}
        return sorted(stale - added - changed - removed)
    env.d2l_fast = None  # type: ignore[attr-defined]
    pages = _md_pages(app, env)
    current: dict[str, dict[str, str]] = {}
    report_json: dict[str, Any] = {"executed": 0, "cached": 0, "failed": 0, "seconds": 0.0,
                                   "pages": []}
    cache_dir: str = env.d2l_cache_dir  # type: ignore[attr-defined]
    from .pages import PageReader

    reader = PageReader(cfg.tab_names, os.path.join(cache_dir, "pages.json"))
    lib_hashes = generate_library(app, env, cfg, reader) if cfg.lib_enable else {}
    if cfg.execute != "off":
        from .runner import BookRunner, dependency_hash, framework_extra, open_cache

        dep = dependency_hash(str(app.srcdir), cfg.dependencies)
        extras = {fw: framework_extra(cfg, fw, lib_hashes, dep) for fw in cfg.tab_names}
        env.d2l_extras = extras  # type: ignore[attr-defined]
        cache = open_cache(env.d2l_cache_dir)  # type: ignore[attr-defined]
        runner = BookRunner(cfg, cache, reader=reader, on_progress=_progress_printer(),
                            on_notice=lambda msg: logger.info(f"[d2l] {msg}"))
        plans = runner.plan(pages, extras, env.d2l_lib_path)  # type: ignore[attr-defined]
        current = {p.docname: dict(p.keys) for p in plans if p.keys}
        results, report = runner.run(plans, cfg.execute)
        if report.executed:
            logger.info(f"[d2l] executed {report.executed} job(s) in {report.seconds:.1f} s, "
                        f"{report.cached} from cache, {report.failed} failed")
        _report_failures(results)
        report_json = report.to_json()
        env.d2l_report = report_json  # type: ignore[attr-defined]
        _write_report(app, report_json)
        forced = {d for (d, _), r in results.items() if not r.cached and cfg.execute == "force"}
    else:
        forced = set()
    reader.save()
    if not report_json["failed"] and cfg.execute != "force":
        # the lib files were just written: fingerprint them as they are now
        env.d2l_fast = {  # type: ignore[attr-defined]
            "fingerprint": _book_fingerprint(app, env, cfg),
            "extras": env.d2l_extras,  # type: ignore[attr-defined]
            "lib_path": env.d2l_lib_path,  # type: ignore[attr-defined]
            "current": current,
            "report": report_json,
        }
    stale = {d for d in env.found_docs if known.get(d, {}) != current.get(d, {})}
    return sorted((stale | forced) - added - changed - removed)


def _write_report(app: Sphinx, data: dict[str, Any]) -> None:
    os.makedirs(app.outdir, exist_ok=True)
    path = os.path.join(app.outdir, REPORT_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
    os.replace(tmp, path)


# ---------------------------------------------------------------------- used by the parser


def page_results(env: BuildEnvironment, docname: str, cells: list[Cell]) -> dict[str, Any]:
    """The cached execution result of each framework of a page being read."""
    cfg: D2lConfig = env.d2l_config  # type: ignore[attr-defined]
    if cfg.execute == "off":
        env.d2l_doc_keys[docname] = {}  # type: ignore[attr-defined]
        return {}
    from .runner import open_cache, plan_page

    plan = plan_page(docname, str(env.doc2path(docname)), cells, cfg,
                     env.d2l_extras, env.d2l_lib_path)  # type: ignore[attr-defined]
    env.d2l_doc_keys[docname] = dict(plan.keys)  # type: ignore[attr-defined]
    cache = open_cache(env.d2l_cache_dir)  # type: ignore[attr-defined]
    results: dict[str, Any] = {}
    for fw, key in plan.keys.items():
        hit = cache.get(key)
        # outputs are stored by cell line: follow cells that moved since they ran
        results[fw] = hit.for_job(plan.jobs[fw]) if hit is not None else None
    return results


def image_writer(env: BuildEnvironment) -> Callable[[bytes, str], str]:
    """Write output images once by content hash; return a source-relative URI."""
    directory: str = env.d2l_image_dir  # type: ignore[attr-defined]
    srcdir = str(env.srcdir)

    def write(data: bytes, ext: str) -> str:
        name = hashlib.sha256(data).hexdigest()[:32] + ext
        path = os.path.join(directory, name)
        if not os.path.exists(path):
            os.makedirs(directory, exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        return "/" + os.path.relpath(path, srcdir).replace(os.sep, "/")

    return write


def on_env_purge_doc(app: Sphinx, env: BuildEnvironment, docname: str) -> None:
    getattr(env, "d2l_doc_keys", {}).pop(docname, None)


def on_env_merge_info(app: Sphinx, env: BuildEnvironment, docnames: set[str],
                      other: BuildEnvironment) -> None:
    mine = env.d2l_doc_keys  # type: ignore[attr-defined]
    for docname in docnames:
        if docname in other.d2l_doc_keys:  # type: ignore[attr-defined]
            mine[docname] = other.d2l_doc_keys[docname]  # type: ignore[attr-defined]


def setup(app: Sphinx) -> dict[str, Any]:
    from . import __version__
    from .parser import D2lParser
    from .tabs import setup_tabs

    app.setup_extension("myst_parser")
    app.setup_extension("sphinx_design")
    app.add_source_parser(D2lParser, override=True)
    for f in fields(D2lConfig):
        default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        app.add_config_value(f"d2l_{f.name}", default, f.metadata["rebuild"])
    app.connect("config-inited", on_config_inited)
    app.connect("builder-inited", on_builder_inited)
    app.connect("env-get-outdated", on_env_get_outdated)
    app.connect("env-purge-doc", on_env_purge_doc)
    app.connect("env-merge-info", on_env_merge_info)
    from .encoding import on_env_before_read_docs

    app.connect("env-before-read-docs", on_env_before_read_docs)
    setup_tabs(app)
    try:
        from .outputs import setup_outputs
    except ImportError:  # pragma: no cover - during development only
        pass
    else:
        setup_outputs(app)
    from .directives import setup_directives

    setup_directives(app)
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True,
            "env_version": 1}


__all__ = ["nodes", "setup"]
