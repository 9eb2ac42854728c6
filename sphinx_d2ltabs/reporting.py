"""What the execution phase tells the user: progress lines, failures (with the cells
they kept from running), the JSON report, and the end of a build that
``d2l_raise_on_error`` fails."""

from __future__ import annotations

import json
import logging as pylogging
import os
from collections.abc import Callable, Iterator, Mapping
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
#: the builders whose output folder gets the report with ``d2l_publish_report``
PUBLISHING_BUILDERS = frozenset({"html", "dirhtml", "singlehtml"})
#: the logger of every module of the extension (Sphinx's loggers are "sphinx." + name)
PACKAGE_LOGGER = "sphinx.sphinx_d2ltabs"


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
        head, newline, rest = message.partition("\n")
        text = f"[{fw}] {head}{_not_run(result)}{note}{newline}{rest}"
        if tb and tb not in message:  # (a start failure's message holds the kernel's log)
            text += "\n" + tb
        warn(logger, text, D2lWarning.EXECUTE, location=(docname, line or None))


def _not_run(result: JobResult) -> str:
    """`` (3 later cells of this page did not run)``: what the failure cost the page in
    its framework (nothing said for a kernel that did not start: no cell ran)."""
    count = result.cells_not_run()
    if not count or result.status == "start_failed":
        return ""
    cells = "1 cell" if count == 1 else f"{count} cells"
    if (result.error or {}).get("cell"):
        later = "1 later cell" if count == 1 else f"{count} later cells"
        return f" ({later} of this page did not run)"
    return f" (none of its {cells} ran)"


def failed_pages(results: Mapping[tuple[str, str], JobResult]) -> dict[str, list[str]]:
    """The pages with a failed job → their failed frameworks (sorted)."""
    pages: dict[str, list[str]] = {}
    for (doc, fw), result in sorted(results.items()):
        if not result.ok:
            pages.setdefault(doc, []).append(fw)
    return pages


def on_build_finished(app: Sphinx, exception: BaseException | None) -> None:
    """With ``d2l_raise_on_error``, a build whose cells failed ends with one line listing
    the failing pages and exit status 1 (the pages are written; each failure was a
    ``d2l.execute`` warning with its traceback)."""
    from .state import get_state

    if exception is not None or app.env is None:
        return
    state = get_state(app.env)
    if state.config is None or not state.cfg.raise_on_error:
        return
    failed = failed_pages(state.results)
    if failed:
        pages = ", ".join(f"{doc} [{', '.join(fws)}]" for doc, fws in failed.items())
        logger.error(f"[d2l] d2l_raise_on_error: cells failed on {len(failed)} page(s): "
                     f"{pages}")
        app.statuscode = 1


def progress_printer() -> Callable[[Progress], None]:
    """A progress callback that shows the execution as Sphinx shows its own phases, with
    :func:`sphinx.util.display.status_iterator`: ``[d2l] executing... [ 33%] page
    [framework]`` for each job that ends, one line rewritten in place on a colour
    terminal, a line per job in a log."""
    return _ProgressLine()


class _ProgressLine:
    """Drives one ``status_iterator`` from the executor's progress callbacks (called one
    at a time, from worker threads): each job that ends is the iterator's next item."""

    SUMMARY = "[d2l] executing... "

    def __init__(self) -> None:
        self.lines: Iterator[str] | None = None
        self.label = ""
        self.shown = 0
        self.failed = 0
        self.running: list[str] = []
        self.closed = False

    def _labels(self) -> Iterator[str]:
        while not self.closed:
            yield self.label

    def __call__(self, progress: Progress) -> None:
        if self.closed:
            return
        from sphinx.util.display import status_iterator

        ended = [label for label in self.running if label not in progress.running]
        self.running = list(progress.running)
        if self.lines is None:
            logger.info(f"[d2l] {progress.total} job(s) to execute")
            self.lines = status_iterator(self._labels(), self.SUMMARY, "darkgreen",
                                         max(progress.total, 1), stringify_func=str)
        while self.shown < progress.done:
            label = ended.pop(0) if ended else "..."
            if progress.failed > self.failed:
                label, self.failed = f"{label} (failed)", self.failed + 1
            eta = progress.eta if progress.done < progress.total else None
            self.label = label + (f"; ETA {eta:.0f} s" if eta is not None else "")
            next(self.lines)
            self.shown += 1
        if progress.done >= progress.total:
            self.close()

    def close(self) -> None:
        """End the line (``status_iterator`` prints its closing newline)."""
        if self.closed:
            return
        self.closed = True
        if self.lines is not None:
            next(self.lines, None)


def setup_phase_lines(app: Sphinx) -> None:
    """What the extension logs while Sphinx is "updating environment: " (the execution
    phase runs in ``env-get-outdated``, between Sphinx's words and its count of added
    and changed pages) goes on lines of its own; the count gets its prefix again."""
    watcher = _PhaseLines()
    app.connect("env-get-outdated", watcher.start, priority=0)
    app.connect("env-get-outdated", watcher.stop, priority=999)


class _PhaseLines(pylogging.Handler):
    """Sees the extension's records before Sphinx's own handlers print them (a handler
    of the ``sphinx.sphinx_d2ltabs`` logger runs before those of its parent ``sphinx``);
    the first one first ends the line Sphinx left open."""

    def __init__(self) -> None:
        super().__init__(level=pylogging.INFO)  # (what -v / -vv shows: not a line of ours)
        self.seen = False

    def emit(self, record: pylogging.LogRecord) -> None:
        if not self.seen:
            self.seen = True
            logger.info("")

    def start(self, app: Sphinx, env: Any, *args: Any) -> list[str]:
        self.seen = False
        pylogging.getLogger(PACKAGE_LOGGER).addHandler(self)
        return []

    def stop(self, app: Sphinx, env: Any, *args: Any) -> list[str]:
        pylogging.getLogger(PACKAGE_LOGGER).removeHandler(self)
        if self.seen:
            from sphinx.locale import __
            from sphinx.util.console import bold  # type: ignore[attr-defined,unused-ignore]

            logger.info(bold(__("updating environment: ")), nonl=True)
        return []


def report_path(app: Sphinx) -> str:
    """Where a build keeps its execution report: ``d2l_execution_report.json`` in the
    doctree folder, beside Sphinx's pickled environment (no builder publishes it, and
    sphinx-autobuild does not watch it). ``d2l_publish_report`` adds a copy to the
    output folder of HTML builds."""
    return os.path.join(str(app.doctreedir), REPORT_FILE)


def write_report(app: Sphinx, data: dict[str, Any]) -> None:
    """Write the JSON report (:func:`report_path`; with ``d2l_publish_report``, also into
    the output folder of an HTML build). A folder that can't be written is one warning,
    not a crashed build."""
    from .state import get_state

    paths = [report_path(app)]
    state = get_state(app.env)
    if (state.config is not None and state.cfg.publish_report and app.builder is not None
            and app.builder.name in PUBLISHING_BUILDERS):
        paths.append(os.path.join(str(app.outdir), REPORT_FILE))
    text = json.dumps(data, indent=1, sort_keys=True)
    for path in paths:
        try:
            atomic_write(path, text)
        except OSError as err:
            warn(logger, f"cannot write the execution report {path}: {err.strerror or err}",
                 D2lWarning.OUTPUT)


def read_report(path: str) -> dict[str, Any] | None:
    """The report at ``path``; None when it is missing or not a report."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None
