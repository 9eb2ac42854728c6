"""Execution core (Sphinx-free): jobs, kernel sessions, the scheduler and the cache.

A :class:`Job` is one (document, framework) pair: that framework's cells of the
document, run in order in one fresh kernel (:func:`run_job`). The :class:`Scheduler`
runs many jobs in parallel with exclusive GPU slots; results are stored in a
:class:`Cache` (by default :class:`FileCache`) under :func:`cache_key`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

CACHE_VERSION = "1"


@dataclass(frozen=True)
class Job:
    """One (document, framework) execution."""

    docname: str
    framework: str
    cells: tuple[tuple[int, str], ...]
    """(cell id = 1-based source line of the cell, code), in execution order."""
    source_path: str = ""
    kernel: str = "python3"
    env: tuple[tuple[str, str], ...] = ()
    cwd: str = ""
    setup_code: str = ""
    timeout: float = 600.0
    gpus: int = 0
    allow_errors: bool = False
    allow_error_cells: frozenset[int] = frozenset()
    extra_key: str = ""

    @property
    def label(self) -> str:
        return f"{self.docname} [{self.framework}]"


def cache_key(job: Job) -> str:
    """Content hash of everything that decides a job's outputs.

    Not part of it: cell positions (adding prose above a cell must hit the cache), the
    working directory's absolute path, the timeout and the GPU count.
    """
    ids = [cid for cid, _ in job.cells]
    payload = {
        "version": CACHE_VERSION,
        "framework": job.framework,
        "kernel": job.kernel,
        "env": sorted(job.env),
        "setup": job.setup_code,
        "cells": [code for _, code in job.cells],
        "allow_errors": job.allow_errors,
        "allow_error_cells": sorted(ids.index(c) for c in job.allow_error_cells if c in ids),
        "extra": job.extra_key,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass
class JobResult:
    """What running a job produced."""

    docname: str
    framework: str
    status: str
    """``ok``, ``error``, ``timeout``, ``dead``, ``start_failed`` or ``interrupted``."""
    outputs: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    execution_counts: dict[int, int | None] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    seconds: float = 0.0
    kernel_start_seconds: float = 0.0
    cuda_visible_devices: str = ""
    gpu_fallback: bool = False
    cached: bool = False
    key: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        return {
            "docname": self.docname,
            "framework": self.framework,
            "status": self.status,
            "outputs": {str(k): v for k, v in self.outputs.items()},
            "execution_counts": {str(k): v for k, v in self.execution_counts.items()},
            "error": self.error,
            "seconds": self.seconds,
            "kernel_start_seconds": self.kernel_start_seconds,
            "cuda_visible_devices": self.cuda_visible_devices,
            "gpu_fallback": self.gpu_fallback,
            "key": self.key,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobResult:
        return cls(
            docname=data["docname"],
            framework=data["framework"],
            status=data["status"],
            outputs={int(k): v for k, v in data.get("outputs", {}).items()},
            execution_counts={int(k): v for k, v in data.get("execution_counts", {}).items()},
            error=data.get("error"),
            seconds=float(data.get("seconds", 0.0)),
            kernel_start_seconds=float(data.get("kernel_start_seconds", 0.0)),
            cuda_visible_devices=data.get("cuda_visible_devices", ""),
            gpu_fallback=bool(data.get("gpu_fallback", False)),
            key=data.get("key", ""),
        )


@dataclass
class Progress:
    done: int
    total: int
    running: list[str]
    failed: int
    elapsed: float
    eta: float | None


from .cache import Cache, FileCache  # noqa: E402
from .gpus import detect_gpus  # noqa: E402
from .kernel import run_job  # noqa: E402
from .scheduler import Scheduler  # noqa: E402

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
