"""Execution core (Sphinx-free): jobs, kernel sessions, the scheduler and the cache.

A :class:`Job` is one (document, framework) pair: that framework's cells of the
document, run in order in one fresh kernel (:func:`run_job`). The :class:`Scheduler`
runs many jobs in parallel with exclusive GPU slots; results are stored in a
:class:`Cache` (by default :class:`FileCache`) under :func:`cache_key`.
"""

from __future__ import annotations

from .cache import Cache, FileCache
from .gpus import detect_gpus
from .kernel import run_job
from .model import CACHE_VERSION, Job, JobResult, Progress, cache_key
from .scheduler import Scheduler

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
