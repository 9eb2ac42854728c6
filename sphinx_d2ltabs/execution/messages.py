"""Kernel messages → cell results: IOPub messages become nbformat v4 outputs of the cell
whose execution they answer.

Rich outputs (``display_data``, ``execute_result``, ``error``) are made by nbformat's
:func:`nbformat.v4.output_from_msg`, which also checks them against the notebook schema:
what is stored in the cache is what ``check_output`` of :mod:`.model` accepts when it is
read back. A message the schema rejects (e.g. a ``text/plain`` that is not a string, from
a buggy kernel) becomes a note on stderr instead of an output no notebook tool could read.

Stream messages are converted here: ``output_from_msg`` validates every message (about
0.4 ms each: 40 s for a cell that prints 100,000 flushed lines) and we join consecutive
ones into one output anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

RICH_TYPES = ("display_data", "execute_result", "error")


class CellRun:
    """One cell's execution: outputs, count, error, how it ended."""

    def __init__(self) -> None:
        self.outputs: list[dict[str, Any]] = []
        self.execution_count: int | None = None
        self.error: dict[str, Any] | None = None
        self.reply: dict[str, Any] | None = None
        self.idle = False
        self.timed_out = False
        self.died = False
        self.clear_pending = False

    def failure(self) -> dict[str, Any] | None:
        """The cell's error (from IOPub, else from the execute reply)."""
        if self.error is not None:
            return self.error
        reply = self.reply or {}
        if reply.get("status") == "error":
            return {"ename": reply.get("ename", ""), "evalue": reply.get("evalue", ""),
                    "traceback": list(reply.get("traceback", []))}
        return None


def error_fields(content: dict[str, Any]) -> dict[str, Any]:
    """``ename``, ``evalue`` and ``traceback`` of an error message, as strings."""
    return {"ename": str(content.get("ename", "")), "evalue": str(content.get("evalue", "")),
            "traceback": [str(t) for t in content.get("traceback", [])]}


def to_output(msg: dict[str, Any]) -> dict[str, Any] | None:
    """The nbformat v4 output of an IOPub message (None: not an output)."""
    msg_type = msg["header"]["msg_type"]
    content = msg["content"]
    if msg_type == "stream":
        return {"output_type": "stream", "name": str(content.get("name", "stdout")),
                "text": str(content.get("text", ""))}
    if msg_type not in RICH_TYPES:
        return None
    from nbformat.v4 import output_from_msg
    from nbformat.validator import ValidationError

    convert: Callable[[dict[str, Any]], dict[str, Any]] = output_from_msg  # (untyped)
    try:
        output = convert(msg)
    except (KeyError, TypeError, ValueError, ValidationError) as err:
        reason = str(getattr(err, "message", None) or err).split("\n", 1)[0]
        return {"output_type": "stream", "name": "stderr",
                "text": f"[an invalid {msg_type} message of the kernel is not shown: "
                        f"{type(err).__name__}: {reason}]\n"}
    return output


def _display_id(content: dict[str, Any]) -> str:
    return str((content.get("transient") or {}).get("display_id") or "")


class Collector:
    """Turns IOPub messages into nbformat v4 outputs, per cell of a job.

    Messages go to the cell whose execution they answer (output from a thread started
    in an earlier cell goes to that cell, as in Jupyter); ``update_display_data``
    updates the displays with its id in every cell. Consecutive stream messages of one
    name make one output: their texts are kept in a list and joined by :meth:`flush`
    (joining each time would take quadratic time), so call it before reading outputs.
    """

    def __init__(self) -> None:
        self.cells: dict[str, CellRun] = {}
        """Execute request id → the cell it runs."""
        self.displays: dict[str, list[dict[str, Any]]] = {}
        """Display id → the outputs showing it (updated by ``update_display_data``)."""
        self.streams: dict[int, tuple[dict[str, Any], list[str]]] = {}
        """Stream outputs whose text is being joined: id → (output, texts)."""

    def flush(self) -> None:
        """Join the texts of the stream outputs into their ``text``."""
        for output, texts in self.streams.values():
            output["text"] = "".join(texts)
        self.streams.clear()

    def add(self, msg: dict[str, Any]) -> None:
        """Take one IOPub message into the cell it answers (others: dropped)."""
        msg_type = msg["header"]["msg_type"]
        content = msg["content"]
        if msg_type == "update_display_data":
            self._update_display(content)
            return
        run = self.cells.get(msg.get("parent_header", {}).get("msg_id", ""))
        if run is None:
            return
        if msg_type == "status":
            if content.get("execution_state") == "idle":
                run.idle = True
        elif msg_type == "execute_input":
            run.execution_count = content.get("execution_count")
        elif msg_type == "clear_output":
            self._clear(run, wait=bool(content.get("wait")))
        else:
            output = to_output(msg)
            if output is not None:
                self._append(run, msg_type, content, output)

    def _append(self, run: CellRun, msg_type: str, content: dict[str, Any],
                output: dict[str, Any]) -> None:
        if run.clear_pending:
            self._clear(run, wait=False)
        if output["output_type"] == "stream" and self._join_stream(run, output):
            return
        if msg_type == "error" and run.error is None:
            run.error = error_fields(content)
        if msg_type == "execute_result":
            run.execution_count = content.get("execution_count")
        display_id = _display_id(content)
        if display_id and output["output_type"] in ("display_data", "execute_result"):
            self.displays.setdefault(display_id, []).append(output)
        run.outputs.append(output)

    @staticmethod
    def _clear(run: CellRun, wait: bool) -> None:
        """``clear_output``: now, or (``wait``) when the cell's next output comes."""
        if wait:
            run.clear_pending = True
        else:
            run.outputs.clear()
            run.clear_pending = False

    def _join_stream(self, run: CellRun, output: dict[str, Any]) -> bool:
        """Add a stream output to the cell's last output if it is the same stream."""
        if not run.outputs:
            return False
        last = run.outputs[-1]
        if last["output_type"] != "stream" or last["name"] != output["name"]:
            return False
        joined = self.streams.get(id(last))
        if joined is None or joined[0] is not last:
            joined = self.streams[id(last)] = (last, [last["text"]])
        joined[1].append(output["text"])
        return True

    def _update_display(self, content: dict[str, Any]) -> None:
        """``update_display_data``: new data for every output of its display id."""
        outputs = self.displays.get(_display_id(content), [])
        if not outputs:
            return
        new = to_output({"header": {"msg_type": "display_data"}, "content": content})
        if new is None or new["output_type"] != "display_data":
            return  # (invalid: the displays keep their data)
        for output in outputs:
            output["data"] = new["data"]
            output["metadata"] = new["metadata"]
