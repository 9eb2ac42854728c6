"""The Collector without a kernel: IOPub messages in, nbformat v4 outputs out."""

from __future__ import annotations

from typing import Any

from sphinx_d2ltabs.execution.kernel import CellRun, Collector

MESSAGES = 100_000


def message(msg_id: str, msg_type: str, **content: Any) -> dict[str, Any]:
    return {"parent_header": {"msg_id": msg_id}, "header": {"msg_type": msg_type},
            "content": content}


def stream(msg_id: str, text: str, name: str = "stdout") -> dict[str, Any]:
    return message(msg_id, "stream", name=name, text=text)


def collector(*msg_ids: str) -> tuple[Collector, list[CellRun]]:
    found = Collector()
    runs = [CellRun() for _ in msg_ids]
    found.cells.update(zip(msg_ids, runs, strict=True))
    return found, runs


def test_many_stream_messages_make_one_output() -> None:
    """100,000 flushed prints of one cell (joined in linear time)."""
    found, (run,) = collector("a")
    for i in range(MESSAGES):
        found.add(stream("a", f"line {i}\n"))
    found.flush()
    expected = "".join(f"line {i}\n" for i in range(MESSAGES))
    assert run.outputs == [{"output_type": "stream", "name": "stdout", "text": expected}]


def test_streams_split_by_name_other_outputs_and_clear() -> None:
    found, (first, second) = collector("a", "b")
    for msg in [stream("a", "1"), stream("a", "2"), stream("a", "e", "stderr"),
                stream("a", "3"), stream("a", "4"),
                message("a", "display_data", data={"text/plain": "d"}, metadata={}),
                stream("a", "5"), stream("b", "x"), stream("a", "6"),
                stream("b", "y"), message("b", "clear_output", wait=True),
                stream("b", "z"), stream("b", "w")]:
        found.add(msg)
    found.flush()
    assert [(o["output_type"], o.get("name"), o.get("text")) for o in first.outputs] == [
        ("stream", "stdout", "12"), ("stream", "stderr", "e"), ("stream", "stdout", "34"),
        ("display_data", None, None), ("stream", "stdout", "56")]
    assert second.outputs == [{"output_type": "stream", "name": "stdout", "text": "zw"}]
    # after a flush (a later cell's run), late output of a cell still joins its stream
    found.add(stream("a", "7"))
    found.add(stream("a", "8"))
    found.flush()
    assert first.outputs[-1]["text"] == "5678"
    assert all(isinstance(o.get("text", ""), str) for o in first.outputs)
