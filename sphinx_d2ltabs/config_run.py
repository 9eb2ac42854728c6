"""The options of execution: what runs, in which kernels, where, with which limits, and the
cache of its results (``d2l_execute`` ... ``d2l_dependencies``)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from myst_parser.config.dc_validators import optional
from sphinx.config import ENUM

from .config_validators import (
    BOOL,
    EXECUTE_MODES,
    GPU_IDS,
    GPUS,
    KERNEL_ENV,
    NON_NEGATIVE,
    POSITIVE,
    STRING,
    STRING_LIST,
    check,
    framework_map,
    meta,
    number,
    one_of,
    rule,
)


@dataclass
class RunOptions:
    """The execution and cache options of :class:`~.config.D2lConfig`."""

    execute: str = field(
        default="auto",
        metadata=meta(
            "``auto``: run stale (document, framework) pairs; ``force``: run everything; "
            "``cache-only``: never run, show cached outputs; ``off``: no execution, no outputs.",
            one_of(EXECUTE_MODES), types=ENUM(*EXECUTE_MODES),
        ),
    )
    execute_tabs: list[str] = field(
        default_factory=list,
        metadata=meta("Frameworks whose cells are executed (default: every framework); the "
                      "others are shown without outputs, e.g. ``['pytorch']`` to run a "
                      "four-framework book where only PyTorch is installed.",
                      STRING_LIST),
    )
    # pages left out of execution, a page's own settings (page_settings.py)
    execute_exclude: list[str] = field(
        default_factory=list,
        metadata=meta("Glob patterns of pages that are not executed (shown without "
                      "outputs), matched as Sphinx's ``exclude_patterns`` against the "
                      "docname and the file relative to the source folder, e.g. "
                      "``['chapter_gpu/*', '**/*-slow.md']`` (MyST-NB's "
                      "``nb_execution_excludepatterns``). A page's front matter may say "
                      "``d2l: {execute: off}`` too.", STRING_LIST),
    )
    kernels: dict[str, str] = field(
        default_factory=dict,
        metadata=meta("Kernelspec name per framework (default ``python3``).",
                      framework_map(STRING, "{framework: kernelspec name}")),
    )
    kernel_env: dict[str, dict[str, str]] = field(
        default_factory=dict,
        metadata=meta("Extra environment variables per framework (key ``*``: all frameworks).",
                      KERNEL_ENV),
    )
    setup_code: dict[str, str] = field(
        default_factory=dict,
        metadata=meta("Code run silently in each kernel of that framework before its cells.",
                      framework_map(STRING, "{framework: code}")),
    )
    gpus: dict[str, int] = field(
        default_factory=dict,
        metadata=meta("GPUs each kernel of a framework needs, e.g. ``{'pytorch': 1}``.",
                      GPUS),
    )
    gpu_ids: list[str] | None = field(
        default=None,
        metadata=meta("GPU ids to hand out; ``None`` detects them (``CUDA_VISIBLE_DEVICES``, "
                      "``nvidia-smi -L``).", GPU_IDS),
    )
    strict_gpu: bool = field(
        default=False,
        metadata=meta("Fail GPU frameworks when no GPU exists instead of running them on CPU.",
                      BOOL),
    )
    # a page's GPU need (gpu_need.py): its ``#@gpus N`` mark, else this rule, else d2l_gpus
    gpus_detect: bool = field(
        default=False,
        metadata=meta("Apply d2lbook's rule to the code each framework runs: a page that "
                      "calls ``try_gpu()``, ``gpu()``... needs 1 GPU, one that calls "
                      "``try_all_gpus()``, ``gpu(1)``... needs 2; where it finds nothing, "
                      "``d2l_gpus`` applies. A page's ``#@gpus N`` mark overrides both.",
                      BOOL, rebuild=""),
    )
    workers: int | None = field(
        default=None,
        metadata=meta("Kernels run at once (default: the number of CPUs).",
                      optional(POSITIVE)),
    )
    prestart: int | None = field(
        default=None,
        metadata=meta("Kernels of the next jobs started ahead, each running its setup code "
                      "while other jobs run (the warm pool; each still serves one page); "
                      "default: as many as ``d2l_workers``, but no more than the CPUs the "
                      "workers leave free; ``0``: none.", optional(NON_NEGATIVE)),
    )
    fork_kernels: bool = field(
        default=True,
        metadata=meta("Start IPython kernels by forking a process that has already imported "
                      "IPython and ipykernel (Linux; about 0.07 s of CPU a kernel instead "
                      "of 0.35 s); each kernel is still a process of its own that serves "
                      "one page. ``False``: start each from nothing.", BOOL, rebuild=""),
    )
    fork_setup_imports: bool = field(
        default=True,
        metadata=meta("With ``d2l_fork_kernels``: fork the kernels of a framework from a "
                      "process that has also run the leading ``import`` statements of its "
                      "``d2l_setup_code`` (``import torch``...), when that is safe (no thread "
                      "left running, no CUDA initialized, no module that asks for IPython "
                      "when imported); each kernel still runs the whole set-up code. "
                      "``False``: each kernel imports them itself.", BOOL, rebuild=""),
    )
    gc_freeze: bool = field(
        default=True,
        metadata=meta("Leave what exists when the build starts (Sphinx, the extensions, the "
                      "loaded environment) out of Python's garbage collections for the "
                      "build, and skip the interpreter's last collection at exit "
                      "(``gc.freeze()``; a no-op rebuild of d2l-en takes 19 % less). "
                      "``False``: leave the collector alone.", BOOL, rebuild=""),
    )
    # where jobs run (execution/executor.py, docs/distributed.md)
    executor: str = field(
        default="local",
        metadata=meta(
            "Where the kernels run: ``local`` (this machine, ``d2l_workers`` at once) or "
            "``dask:tcp://HOST:PORT``, a running ``dask.distributed`` scheduler whose "
            "workers run one job per thread (needs ``pip install "
            "'sphinx_d2ltabs[distributed]'`` here and on the workers).",
            # (the same rule as execution.executor.parse_executor)
            [STRING, rule(lambda v: re.fullmatch(
                r"local|dask:((tcp|tls|ucx|ws|wss)://[^\s/:]+(:\d+)?|inproc://\S+)",
                v.strip()) is not None,
                "is not 'local' or 'dask:tcp://HOST:PORT' (the address of a running Dask "
                "scheduler)")],
            rebuild=""),
    )
    executor_files: list[str] = field(
        default_factory=lambda: ["img/**", "data/**"],
        metadata=meta("Glob patterns (relative to the source folder) of the files Dask "
                      "workers get besides the ``#@save`` package and the "
                      "``d2l_dependencies`` files, at the same relative paths.",
                      STRING_LIST, rebuild=""),
    )
    executor_workspace: str = field(
        default="auto",
        metadata=meta(
            "How Dask workers get the book's files: ``auto`` (the source folder as it is "
            "where a worker sees it with the same files, else a copy sent by content "
            "hash), ``ship`` (always the copy) or the absolute path under which the "
            "workers see the source folder (a shared file system; checked, else shipped).",
            [STRING, rule(lambda v: v in ("auto", "ship") or os.path.isabs(v),
                          "must be 'auto', 'ship' or an absolute path")],
            rebuild=""),
    )
    executor_connect_timeout: float = field(
        default=10.0,
        metadata=meta("Seconds to reach the Dask scheduler of ``d2l_executor``.",
                      POSITIVE, rebuild=""),
    )
    timeout: float = field(
        default=600.0,
        metadata=meta("Per-cell timeout in seconds; ``-1``: no timeout (as MyST-NB's "
                      "``nb_execution_timeout``).",
                      rule(lambda v: number(v) and (v > 0 or v == -1),
                            "must be a positive number, or -1 for no timeout")),
    )
    allow_errors: bool = field(
        default=False,
        metadata=meta("Errors are allowed: a cell's exception is shown in place, the page "
                      "runs on, and there is no warning (as MyST-NB's "
                      "``nb_execution_allow_errors``; a timeout or a dead kernel is still "
                      "reported). One cell: ``#@allow_error``; one page: its front matter.",
                      BOOL),
    )
    raise_on_error: bool = field(
        default=False,
        metadata=meta("Fail the build when a cell fails (an error not allowed, a timeout, a "
                      "dead kernel): the build goes on, then ends with one line listing the "
                      "failing pages and exit status 1, without ``-W`` turning every other "
                      "warning into an error (MyST-NB's ``nb_execution_raise_on_error``).",
                      BOOL, rebuild=""),
    )
    publish_report: bool = field(  # (reporting.py)
        default=False,
        metadata=meta("Publish the execution report: HTML builds also write "
                      "``d2l_execution_report.json`` into the output folder. It is always "
                      "written to the doctree folder (``<outdir>/.doctrees/``, or "
                      "``_build/doctrees/`` with ``-M``), which no builder publishes.",
                      BOOL, rebuild=""),
    )
    cache_dir: str = field(
        default="",
        metadata=meta("Execution cache folder (default ``<outdir>/../.d2l_cache``); relative "
                      "paths are relative to the source folder.", STRING),
    )
    cache_max_age: float = field(
        default=30.0,
        metadata=meta("Days after which a cache entry that no build used is removed (at the "
                      "end of a build that executed); ``0`` keeps every entry. "
                      "``python -m sphinx_d2ltabs cache prune`` removes entries by hand.",
                      NON_NEGATIVE),
    )
    # the shared remote tier (execution/remote.py, docs/cache-sharing.md)
    cache_remote: str = field(
        default="",
        metadata=meta(
            "URL of a shared cache read behind the local folder: an HTTP(S) mirror (read "
            "only) or an fsspec URL (``file://``, ``s3://``, ``gs://``, ``memory://``...). "
            "Its entries are copied into the local folder. Empty: none. Needs "
            "``pip install 'sphinx_d2ltabs[distributed]'`` (and s3fs or gcsfs for S3, GCS).",
            [STRING, rule(lambda v: v == "" or "://" in v,
                          "must be a URL such as 'https://host/cache', "
                          "'file:///srv/cache' or 's3://bucket/cache' (or empty)")],
            rebuild=""),
    )
    cache_remote_options: dict[str, Any] = field(
        default_factory=dict,
        metadata=meta("fsspec storage options of ``d2l_cache_remote`` (e.g. "
                      "``{'anon': True}``, an endpoint URL); credentials belong in the "
                      "environment, not in conf.py.",
                      rule(lambda v: isinstance(v, Mapping), "must be a dict"), rebuild=""),
    )
    cache_push: bool = field(
        default=False,
        metadata=meta(
            "Also write the results this build executes to ``d2l_cache_remote`` (CI): an "
            "entry already there is never replaced. Not for an HTTP mirror (read only).",
            [BOOL,
             lambda inst, f, v, suffix="": check(
                 not v or bool(inst.cache_remote), "cache_push",
                 "needs d2l_cache_remote (the URL to push to)"),
             lambda inst, f, v, suffix="": check(
                 not v or not str(inst.cache_remote).lower().startswith(("http:", "https:")),
                 "cache_push", f"d2l_cache_remote = {inst.cache_remote!r} is an HTTP mirror, "
                 "which is read only: push to the storage it mirrors (file://, s3://, ...)")],
            rebuild=""),
    )
    cache_remote_timeout: float = field(
        default=10.0,
        metadata=meta("Seconds one request to ``d2l_cache_remote`` may take; a remote that "
                      "can't be reached is not asked again in that build.", POSITIVE,
                      rebuild=""),
    )
    env_fingerprint: str = field(
        default="",
        metadata=meta("A name of the execution environment mixed into every cache key (e.g. "
                      "``'torch-2.13-cu12'``): machines that declare different ones never "
                      "share results. Change it when the environment changes.", STRING,
                      rebuild=""),
    )
    dependencies: list[str] = field(
        default_factory=list,
        metadata=meta("Glob patterns (relative to the source folder) of files whose content is "
                      "part of every cache key (data files, local modules).",
                      STRING_LIST),
    )
