"""A cell's stream outputs as shown: stderr kept, removed or reported
(``d2l_output_stderr``), interleaved streams merged (``d2l_merge_streams``).

They work on the outputs :func:`.render._merge_streams` gives (consecutive outputs of one
stream already joined, names ``stdout``/``stderr``, text a string), before rendering.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .render import OutputContext

#: ``d2l_output_stderr`` modes that drop stderr, and those that report it (log level)
REMOVE = frozenset({"remove", "remove-warn"})
REPORT = {"remove-warn": "warning", "warn": "warning", "error": "error", "severe": "critical"}


def _stream(out: dict[str, Any], name: str | None = None) -> bool:
    return out.get("output_type") == "stream" and (name is None or out.get("name") == name)


def arrange_streams(outputs: list[dict[str, Any]], ctx: OutputContext,
                    ) -> list[dict[str, Any]]:
    """The outputs to render: stderr as ``ctx.stderr`` says (reported once per cell),
    then, with ``ctx.merge_streams``, each run of stream outputs as one stdout and one
    stderr output (in the order they first appear)."""
    errs = [out for out in outputs if _stream(out, "stderr") and out["text"].strip()]
    if errs and ctx.stderr in REPORT:
        _report(errs[0]["text"], ctx)
    if ctx.stderr in REMOVE:
        outputs = _joined([out for out in outputs if not _stream(out, "stderr")])
    return _merged_runs(outputs) if ctx.merge_streams else outputs


def _joined(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive outputs of one stream as one (stdout around a removed stderr)."""
    out: list[dict[str, Any]] = []
    for item in outputs:
        if out and _stream(item) and _stream(out[-1], item["name"]):
            out[-1] = {**out[-1], "text": out[-1]["text"] + item["text"]}
        else:
            out.append(item)
    return out


def _merged_runs(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every run of consecutive stream outputs as one output per stream."""
    out: list[dict[str, Any]] = []
    run: dict[str, dict[str, Any]] = {}
    for item in outputs:
        if not _stream(item):
            run = {}
            out.append(item)
        elif item["name"] in run:
            run[item["name"]]["text"] += item["text"]
        else:
            run[item["name"]] = {**item}
            out.append(run[item["name"]])
    return out


def _report(text: str, ctx: OutputContext) -> None:
    """The ``d2l.stderr`` message of a cell that wrote to stderr, at the log level of the
    mode (``warn``, ``remove-warn``: a warning; ``error``; ``severe``: critical)."""
    from sphinx.util import logging

    from ..warnings_ import WARNING_TYPE, D2lWarning

    first = next(line.strip() for line in text.splitlines() if line.strip())
    snippet = first if len(first) <= 80 else first[:77] + "..."
    where = f"cell at line {ctx.line}" if ctx.line else "a cell"
    message = f"{where} wrote to stderr: {snippet!r} (d2l_output_stderr = {ctx.stderr!r})"
    location = (ctx.docname, ctx.line) if ctx.docname else None
    log = getattr(logging.getLogger(__name__), REPORT[ctx.stderr])
    log(message, location=location, type=WARNING_TYPE, subtype=D2lWarning.STDERR.value)
