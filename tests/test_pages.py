"""PageReader: parse once, reuse while unchanged."""

from __future__ import annotations

import os
from pathlib import Path

from sphinx_d2ltabs import pages
from sphinx_d2ltabs.pages import PageReader
from sphinx_d2ltabs.warnings_ import D2lWarning

PAGE = "# P\n\n```toc\na\n```\n\n```{.python .input}\n#@tab jax\n#@hide_output\nx = 1\n```\n"


def test_index_reuses_unchanged_pages(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    page = tmp_path / "p.md"
    page.write_text(PAGE)
    index = tmp_path / "cache" / "pages.json"
    first = PageReader(["pytorch", "jax"], str(index)).read(str(page))
    assert first is not None and first.toc == ["a"]
    reader = PageReader(["pytorch", "jax"], str(index))
    reader.read(str(page))
    reader.save()
    assert index.exists()

    calls = []
    real = pages.read_document
    monkeypatch.setattr(pages, "read_document", lambda *a: calls.append(a) or real(*a))
    again = PageReader(["pytorch", "jax"], str(index)).read(str(page))
    assert calls == []  # served from the index
    assert again == first and again.cells[0].hide_output and again.cells[0].frameworks == ("jax",)

    # a change of content (size/mtime) is parsed again
    page.write_text(PAGE.replace("x = 1", "x = 22"))
    os.utime(page, ns=(1, 2))
    changed = PageReader(["pytorch", "jax"], str(index)).read(str(page))
    assert len(calls) == 1 and changed is not None
    assert changed.cells[0].code_for("jax") == "x = 22"

    # another framework list invalidates the whole index
    PageReader(["jax"], str(index)).read(str(page))
    assert len(calls) == 2


def test_unreadable_pages(tmp_path: Path) -> None:
    bad = tmp_path / "bad.md"
    bad.write_bytes(b"\xff\xfe\x00 not utf-8")
    reader = PageReader(["python"])
    assert reader.read(str(bad)) is None
    assert reader.read(str(tmp_path / "missing.md")) is None


def test_index_keeps_diagnostic_subtypes(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("```{.python .input}\n#@tab mxnet\nx = 1\n```\n\n```python\nnever closed\n")
    index = tmp_path / "pages.json"
    reader = PageReader(["pytorch"], str(index))
    first = reader.read(str(page))
    reader.save()
    again = PageReader(["pytorch"], str(index)).read(str(page))
    assert first is not None and again == first
    assert [(d.line, d.subtype) for d in again.diagnostics] == [
        (1, D2lWarning.TAB), (6, D2lWarning.SYNTAX)]
    assert all(isinstance(d.subtype, D2lWarning) for d in again.diagnostics)
    # an entry with a subtype that is no warning subtype: the page is parsed again
    index.write_text(index.read_text().replace('"tab"', '"no-such-subtype"'))
    fresh = PageReader(["pytorch"], str(index)).read(str(page))
    assert fresh == first
