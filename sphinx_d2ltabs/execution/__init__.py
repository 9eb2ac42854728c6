"""Execution core (Sphinx-free): jobs, kernel sessions, the scheduler and the cache.

A :class:`Job` is one (document, framework) pair: that framework's cells of the
document, run in order in one fresh kernel (:func:`run_job`). The :class:`Scheduler`
runs many jobs in parallel with exclusive GPU slots; results are stored in a
:class:`Cache` (by default :class:`FileCache`) under :func:`cache_key`.

The names are imported on first use, so a build that finds nothing to run never loads
the kernel and scheduler modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cache import Cache, FileCache
    from .gpus import detect_gpus
    from .kernel import run_job
    from .model import CACHE_VERSION, Job, JobResult, Progress, cache_key
    from .scheduler import Scheduler

_HOME = {
    "Cache": "cache", "FileCache": "cache", "detect_gpus": "gpus", "run_job": "kernel",
    "CACHE_VERSION": "model", "Job": "model", "JobResult": "model", "Progress": "model",
    "cache_key": "model", "Scheduler": "scheduler",
}

__all__ = [
    "CACHE_VERSION",
    "Cache",
    "FileCache",
    "Job",
    "JobResult",
    "Progress",
    "Scheduler",
    "cache_key",
    "detect_gpus",
    "run_job",
]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
