"""The data of the execution core: jobs, their results, progress reports, cache keys."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

CACHE_VERSION = "2"
"""Bumped whenever the cached data or the key's content changes; part of every key."""

STATUSES = ("ok", "error", "timeout", "dead", "start_failed", "interrupted")


@dataclass(frozen=True)
class Job:
    """One (document, framework) execution: its cells, run in order in one fresh kernel."""

    docname: str
    framework: str
    cells: tuple[tuple[int, str], ...]
    """(cell id = 1-based source line of the cell, code), in execution order."""
    source_path: str = ""
    kernel: str = "python3"
    """The kernelspec name."""
    env: tuple[tuple[str, str], ...] = ()
    """Extra environment variables of the kernel."""
    cwd: str = ""
    """The kernel's working directory; empty: the current one."""
    setup_code: str = ""
    """Run silently before the cells; a failure in it fails the job."""
    timeout: float = 600.0
    """Per-cell timeout in seconds."""
    gpus: int = 0
    allow_errors: bool = False
    """Record a failing cell's error and go on with the next cells (the job still fails)."""
    allow_error_cells: frozenset[int] = frozenset()
    """Cells whose errors are expected: recorded, not a failure, the job goes on."""
    extra_key: str = ""
    """Opaque text mixed into the cache key by the caller."""

    @property
    def label(self) -> str:
        """``docname [framework]``, for progress reports and messages."""
        return f"{self.docname} [{self.framework}]"


def cache_key(job: Job) -> str:
    """Content hash (sha256 hex) of everything that decides a job's outputs.

    Not part of it: the cell ids (source lines: adding prose above a cell must hit the
    cache), the working directory (machine-specific), the timeout and the GPU count.
    """
    ids = [cid for cid, _ in job.cells]
    payload = {
        "version": CACHE_VERSION,
        "framework": job.framework,
        "kernel": job.kernel,
        "env": sorted([name, value] for name, value in job.env),
        "setup": job.setup_code,
        "cells": [code for _, code in job.cells],
        "allow_errors": job.allow_errors,
        "allow_error_cells": sorted(ids.index(c) for c in job.allow_error_cells if c in ids),
        "extra": job.extra_key,
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class JobResult:
    """What running a job produced."""

    docname: str
    framework: str
    status: str
    """``ok``, ``error``, ``timeout``, ``dead``, ``start_failed`` or ``interrupted``."""
    outputs: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    """Cell id → nbformat v4 output dicts."""
    execution_counts: dict[int, int | None] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    """The first failure: ``cell`` (0: not a cell), ``ename``, ``evalue``, ``traceback``,
    ``message`` (a one-line human-readable summary)."""
    seconds: float = 0.0
    """Wall time of the whole job, kernel start-up included."""
    kernel_start_seconds: float = 0.0
    cuda_visible_devices: str = ""
    gpu_fallback: bool = False
    """GPUs were wanted but none exists: it ran on the CPU."""
    cached: bool = False
    """Set by callers when the result comes from a cache (not stored)."""
    key: str = ""
    cell_ids: list[int] = field(default_factory=list)
    """The ids of the job's cells when it ran, in order (see :meth:`for_job`)."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def for_job(self, job: Job) -> JobResult:
        """This result (e.g. from the cache) as a result of ``job``, whose cells may sit
        on other lines (prose added above them) or in another document with the same code:
        cell ids are mapped by position. ``self`` if nothing changes."""
        new_ids = [cid for cid, _ in job.cells]
        mapping = dict(zip(self.cell_ids, new_ids, strict=False)) if (
            len(self.cell_ids) == len(new_ids)) else {}
        if (job.docname, job.framework) == (self.docname, self.framework) and all(
                old == new for old, new in mapping.items()):
            return self
        error = self.error
        if error is not None and error.get("cell") in mapping:
            old, new = error["cell"], mapping[error["cell"]]
            error = {**error, "cell": new, "source": job.source_path or error.get("source", "")}
            prefix = f"cell at line {old}:"
            if isinstance(error.get("message"), str) and error["message"].startswith(prefix):
                error["message"] = f"cell at line {new}:" + error["message"][len(prefix):]
        return replace(
            self,
            docname=job.docname,
            framework=job.framework,
            outputs={mapping.get(k, k): v for k, v in self.outputs.items()},
            execution_counts={mapping.get(k, k): v for k, v in self.execution_counts.items()},
            error=error,
            cell_ids=new_ids if mapping else list(self.cell_ids),
        )

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
            "cell_ids": list(self.cell_ids),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobResult:
        """The inverse of :meth:`to_json`; raises ``KeyError``/``TypeError``/``ValueError``
        on data of the wrong shape."""
        if not isinstance(data, dict):
            raise TypeError(f"a job result is a JSON object, not {type(data).__name__}")
        outputs = data.get("outputs") or {}
        counts = data.get("execution_counts") or {}
        error = data.get("error")
        if not isinstance(outputs, dict) or not isinstance(counts, dict) or not (
                error is None or isinstance(error, dict)):
            raise TypeError("malformed job result")
        result = cls(
            docname=str(data["docname"]),
            framework=str(data["framework"]),
            status=str(data["status"]),
            outputs={int(k): list(v) for k, v in outputs.items()},
            execution_counts={int(k): (None if v is None else int(v)) for k, v in counts.items()},
            error=error,
            seconds=float(data.get("seconds", 0.0)),
            kernel_start_seconds=float(data.get("kernel_start_seconds", 0.0)),
            cuda_visible_devices=str(data.get("cuda_visible_devices", "")),
            gpu_fallback=bool(data.get("gpu_fallback", False)),
            key=str(data.get("key", "")),
            cell_ids=[int(c) for c in data.get("cell_ids") or []],
        )
        if result.status not in STATUSES:
            raise ValueError(f"unknown status {result.status!r}")
        return result


@dataclass
class Progress:
    """A snapshot of a :class:`~.Scheduler` run."""

    done: int
    total: int
    running: list[str]
    """Labels (``docname [framework]``) of the jobs running now."""
    failed: int
    elapsed: float
    eta: float | None
    """Estimated seconds left; None before the first job has finished."""
