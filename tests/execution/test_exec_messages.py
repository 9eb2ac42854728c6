"""Kernel messages → nbformat v4 outputs (nbformat's ``output_from_msg`` for rich
outputs), without a kernel: the outputs are the ones the renderer and the cache expect."""

from __future__ import annotations

import json
from typing import Any

import nbformat

from sphinx_d2ltabs.execution import JobResult, kernel, messages, session
from sphinx_d2ltabs.execution.messages import CellRun, Collector, to_output
from sphinx_d2ltabs.execution.model import check_output


def message(msg_id: str, msg_type: str, **content: Any) -> dict[str, Any]:
    return {"parent_header": {"msg_id": msg_id}, "header": {"msg_type": msg_type},
            "content": content}


def run_messages(*msgs: dict[str, Any]) -> CellRun:
    found = Collector()
    run = found.cells["a"] = CellRun()
    for msg in msgs:
        found.add(msg)
    found.flush()
    return run


def test_rich_outputs() -> None:
    run = run_messages(
        message("a", "execute_input", code="x", execution_count=4),
        message("a", "display_data", data={"text/plain": "d", "image/png": "iVBOR"},
                metadata={"image/png": {"width": 10}}, transient={"display_id": "x1"}),
        message("a", "execute_result", data={"text/plain": "42"}, metadata={},
                execution_count=4),
        message("a", "error", ename="ValueError", evalue="bad",
                traceback=["\x1b[31mValueError\x1b[0m: bad"]),
        message("a", "status", execution_state="idle"))
    assert run.outputs == [
        {"output_type": "display_data", "data": {"text/plain": "d", "image/png": "iVBOR"},
         "metadata": {"image/png": {"width": 10}}},
        {"output_type": "execute_result", "data": {"text/plain": "42"}, "metadata": {},
         "execution_count": 4},
        {"output_type": "error", "ename": "ValueError", "evalue": "bad",
         "traceback": ["\x1b[31mValueError\x1b[0m: bad"]}]
    assert run.execution_count == 4 and run.idle
    assert run.error == {"ename": "ValueError", "evalue": "bad",
                         "traceback": ["\x1b[31mValueError\x1b[0m: bad"]}
    assert run.failure() == run.error
    for output in run.outputs:
        check_output(output)
        nbformat.validate(output, ref=output["output_type"], version=4)


def test_update_display_data_updates_every_cell() -> None:
    found = Collector()
    first, second = found.cells["a"], found.cells["b"] = CellRun(), CellRun()
    shown = {"transient": {"display_id": "p"}, "metadata": {}}
    found.add(message("a", "display_data", data={"text/plain": "0%"}, **shown))
    found.add(message("b", "display_data", data={"text/plain": "0%"}, **shown))
    found.add(message("c", "update_display_data", data={"text/plain": "100%"}, **shown))
    assert first.outputs[0]["data"] == second.outputs[0]["data"] == {"text/plain": "100%"}
    # an invalid update leaves the displays as they are
    found.add(message("c", "update_display_data", data={"text/plain": 7}, **shown))
    assert first.outputs[0]["data"] == {"text/plain": "100%"}


def test_invalid_rich_output_becomes_a_note() -> None:
    run = run_messages(message("a", "display_data", data={"text/plain": 1}, metadata={}),
                       message("a", "execute_result", data={}, metadata={}))
    assert [o["output_type"] for o in run.outputs] == ["stream"]
    note = run.outputs[0]
    assert note["name"] == "stderr" and note["text"].count("\n") == 2
    assert "invalid display_data message" in note["text"]
    assert "invalid execute_result message" in note["text"]
    check_output(note)


def test_not_outputs() -> None:
    for msg_type in ("status", "execute_input", "comm_open", "clear_output"):
        assert to_output(message("a", msg_type)) is None


def test_outputs_survive_the_cache_round_trip() -> None:
    run = run_messages(
        message("a", "stream", name="stdout", text="1\n"),
        message("a", "execute_result", data={"text/plain": "2", "application/json": {"k": [1]}},
                metadata={}, execution_count=1))
    result = JobResult("p", "fw", "ok", outputs={3: run.outputs}, execution_counts={3: 1},
                       cell_ids=[3])
    again = JobResult.from_json(json.loads(json.dumps(result.to_json())))
    assert again.outputs == {3: run.outputs}


def test_kernel_module_re_exports() -> None:
    assert kernel.KernelSession is session.KernelSession
    assert kernel.Collector is messages.Collector and kernel.CellRun is messages.CellRun
    assert kernel.kill_all_kernels is session.kill_all_kernels
    assert kernel.StartError is session.StartError
