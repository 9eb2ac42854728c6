"""What the execution phase tells the user: progress lines, failures, the JSON report."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from sphinx.util import logging

from .fileio import atomic_write
from .outputs import strip_ansi
from .warnings_ import D2lWarning, warn

if TYPE_CHECKING:
    from sphinx.application import Sphinx

    from .execution.model import JobResult, Progress

logger = logging.getLogger(__name__)

REPORT_FILE = "d2l_execution_report.json"


def report_failures(results: Mapping[tuple[str, str], JobResult]) -> None:
    """One ``d2l.execute`` warning per failed job, at the failing cell's line."""
    for (docname, fw), result in sorted(results.items()):
        if result.ok:
            continue
        err = result.error or {}
        # a kernel that did not start: the line of the framework's first cell
        line = int(err.get("cell") or 0) or (result.cell_ids[0] if result.cell_ids else 0)
        tb = "\n".join(strip_ansi(t) for t in err.get("traceback") or [])
        if result.cached:
            note = " (cached result; edit the page or use d2l_execute='force' to re-run)"
        elif result.machinery_failure:
            note = " (not cached: the next build runs it again)"
        else:
            note = ""
        message = err.get("message") or f"execution {result.status}"
        text = f"[{fw}] {message}{note}"
        if tb and tb not in message:  # (a start failure's message holds the kernel's log)
            text += "\n" + tb
        warn(logger, text, D2lWarning.EXECUTE, location=(docname, line or None))


def progress_printer() -> Callable[[Progress], None]:
    """A progress callback that logs a line when the progress changes."""
    last: dict[str, Any] = {"done": -1}

    def show(progress: Progress) -> None:
        if progress.done == last["done"] and progress.running == last.get("running"):
            return
        last["done"], last["running"] = progress.done, list(progress.running)
        eta = f", ETA {progress.eta:.0f} s" if progress.eta is not None else ""
        running = ", ".join(progress.running[:4]) + (" ..." if len(progress.running) > 4 else "")
        failed = f", {progress.failed} failed" if progress.failed else ""
        logger.info(f"[d2l] executed {progress.done}/{progress.total}{failed}{eta}"
                    + (f"; running {running}" if running else ""))

    return show


def write_report(app: Sphinx, data: dict[str, Any]) -> None:
    """Write the JSON report into the output folder (a folder that can't be written is
    one warning, not a crashed build)."""
    path = os.path.join(app.outdir, REPORT_FILE)
    try:
        atomic_write(path, json.dumps(data, indent=1, sort_keys=True))
    except OSError as err:
        warn(logger, f"cannot write the execution report {path}: {err.strerror or err}",
             D2lWarning.OUTPUT)
