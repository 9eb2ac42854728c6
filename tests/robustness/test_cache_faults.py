"""Fault injection into the execution cache and the pages index, in real builds.

Every fault must end with the page's outputs shown (the job runs again, in the same
build, and the page is read again) or, in ``cache-only``, with one ``d2l.cache``
warning that names the page; never a crashed build, never a page silently without
outputs.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from robust_helpers import cell, write_book

from helpers import body, copy_root, warnings_of
from sphinx_d2ltabs.execution import cache as cache_module
from sphinx_d2ltabs.execution import stamps
from sphinx_d2ltabs.execution.cache import FileCache, fallback_dir

FAST = "nothing changed since the last build"
#: text each page of tests/roots/test-exec shows only when its outputs are there
OUTPUTS = {"chapter/one": "alpha-out", "chapter/two": "two-alpha"}


@pytest.fixture
def fresh_book(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    src = copy_root(tmp_path, "exec")
    page = src / "chapter" / "two.md"
    if "two-alpha" not in page.read_text():
        page.write_text(page.read_text() + "\n```{.python .input}\nprint('two' + '-alpha')\n```\n")
    return src


@pytest.fixture
def book(fresh_book: Path, prime_cache: Callable[..., None]) -> Path:
    """The book with its cache filled (see conftest's ``prime_cache``): the tests' first
    build, which only makes the cache the faults are injected into, starts no kernel."""
    prime_cache(fresh_book)
    return fresh_book


def build(make_app: Any, src: Path, **conf: Any) -> tuple[Any, dict[str, Any], str]:
    app = make_app("html", srcdir=src, confoverrides=conf, freshenv=False)
    app.build()
    report = json.loads(Path(app.doctreedir, "d2l_execution_report.json").read_text())
    return app, report, app.status.getvalue()


def cache_dir(src: Path) -> Path:
    return src / "_build" / ".d2l_cache"


def entries(src: Path) -> dict[tuple[str, str], Path]:
    """(docname, framework) → its cache entry file."""
    found = {}
    for path in cache_dir(src).glob("??/*.json"):
        data = json.loads(path.read_text())
        found[(data["docname"], data["framework"])] = path
    return found


def assert_outputs_shown(app: Any) -> None:
    for docname, text in OUTPUTS.items():
        assert text in body(app, docname + ".html").get_text(), docname


def cache_warnings(app: Any) -> list[str]:
    return [w for w in warnings_of(app) if "[d2l.cache]" in w]


DEEP = b"[" * 100_000 + b"]" * 100_000
WRONG_TYPES = {
    "text is a number": lambda d: d["outputs"][next(iter(d["outputs"]))][0].update(text=42),
    "outputs is a list": lambda d: d.update(outputs=[1, 2]),
    "unknown output type": lambda d: d["outputs"][next(iter(d["outputs"]))][0].update(
        output_type="bogus"),
    "cell id not a number": lambda d: d.update(outputs={"x": []}),
    "status unknown": lambda d: d.update(status="great"),
    "error of wrong shape": lambda d: d.update(error={"cell": "three", "traceback": 7}),
    "data of wrong type": lambda d: d["outputs"].update({"1": [
        {"output_type": "display_data", "data": {"text/plain": 5}, "metadata": {}}]}),
}
CORRUPTIONS: dict[str, Callable[[Path], None]] = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
    "empty": lambda p: p.write_bytes(b""),
    "garbage": lambda p: p.write_bytes(os.urandom(512)),
    "not JSON": lambda p: p.write_text("this is not JSON"),
    "deep nesting": lambda p: p.write_bytes(DEEP),
    "JSON list": lambda p: p.write_text("[1, 2, 3]"),
    "JSON string": lambda p: p.write_text('"hello"'),
    **{name: (lambda p, f=f: p.write_text(json.dumps(_mutated(p, f))))
       for name, f in WRONG_TYPES.items()},
}


def _mutated(path: Path, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    change(data)
    return data


def test_corrupt_entries_run_again_and_pages_show_outputs(make_app: Any,
                                                          tmp_path: Path) -> None:
    """One page per kind of corruption, all in one book: each entry is found corrupt,
    reported once at its page, run again in the same build and shown; then the book
    is a no-op again."""
    names = {f"p{i}": kind for i, kind in enumerate(CORRUPTIONS)}
    src = write_book(tmp_path / "src", {
        name: f"# {kind}\n\n" + cell(f"print('out' + '-{name}')") for name, kind in names.items()
    })
    build(make_app, src)
    found = entries(src)
    for name, kind in names.items():
        CORRUPTIONS[kind](found[(name, "alpha")])
    app, report, status = build(make_app, src)
    assert FAST not in status
    assert sorted(e["docname"] for e in report["pages"] if not e["cached"]) == sorted(names)
    warned = {w.split(":")[0]: w for w in cache_warnings(app)}
    assert sorted(warned) == sorted(f"{name}.md" for name in names)
    for name, kind in names.items():
        warning = warned[f"{name}.md"]
        assert "WARNING: [alpha] cache entry" in warning and "is corrupt" in warning, kind
        assert "it runs again" in warning
        assert f"out-{name}" in body(app, f"{name}.html").get_text(), kind
    _, report, status = build(make_app, src)
    assert FAST in status and report["executed"] == 0


@pytest.mark.parametrize("corruption", ["truncated", "deep nesting", "text is a number"])
def test_corrupt_entry_in_cache_only_names_the_page(make_app: Any, book: Path,
                                                    corruption: str) -> None:
    build(make_app, book)
    CORRUPTIONS[corruption](entries(book)[("chapter/one", "alpha")])
    app, report, _ = build(make_app, book, d2l_execute="cache-only")
    assert report["executed"] == 0
    (warning,) = cache_warnings(app)
    assert warning.startswith("chapter/one.md: WARNING: [alpha] cache entry")
    assert "cache-only" in warning
    assert "two-alpha" in body(app, "chapter/two.html").get_text()


def test_missing_entries_in_cache_only_are_named(make_app: Any, book: Path) -> None:
    build(make_app, book)
    victims = sorted(entries(book).items())[::2]  # delete half
    for _, path in victims:
        path.unlink()
    app, report, _ = build(make_app, book, d2l_execute="cache-only")
    assert report["executed"] == 0
    warned = cache_warnings(app)
    assert sorted(w.split(":")[0] for w in warned) == sorted(f"{d}.md" for (d, _), _ in victims)
    assert all("no cached outputs" in w for w in warned)


def test_delete_half_runs_them_again(make_app: Any, book: Path) -> None:
    build(make_app, book)
    victims = sorted(entries(book).items())[::2]
    for _, path in victims:
        path.unlink()
    app, report, _ = build(make_app, book)
    ran = sorted((e["docname"], e["framework"]) for e in report["pages"] if not e["cached"])
    assert ran == sorted(k for k, _ in victims)
    assert cache_warnings(app) == []  # a plain miss is no problem
    assert_outputs_shown(app)


def test_config_change_rereads_pages_but_checks_entries(make_app: Any, book: Path) -> None:
    """A conf.py change that makes Sphinx read every page again: a corrupt entry is
    still found (the no-op check loads entries), run again, and shown."""
    build(make_app, book)
    CORRUPTIONS["truncated"](entries(book)[("chapter/two", "alpha")])
    app, report, status = build(make_app, book, rst_prolog=".. |x| replace:: y")
    assert FAST not in status
    assert [e["docname"] for e in report["pages"] if not e["cached"]] == ["chapter/two"]
    assert_outputs_shown(app)


def test_entry_lost_while_pages_are_read_is_a_warning(make_app: Any, book: Path) -> None:
    """An entry that disappears after the execution phase (another build, a user) while
    Sphinx reads the pages again: the page says so, and the next build runs it."""
    build(make_app, book)
    conf = book / "conf.py"
    conf.write_text(conf.read_text() + (
        "\nimport shutil\n\ndef setup(app):\n"
        "    def drop(app, env, docnames):\n"
        "        shutil.rmtree(app.outdir.parent / '.d2l_cache', ignore_errors=True)\n"
        "    app.connect('env-before-read-docs', drop)\n"))
    app, _, _ = build(make_app, book, rst_prolog=".. |x| replace:: y")
    warned = cache_warnings(app)
    assert warned and all("is missing" in w and "the next build runs it again" in w
                          for w in warned)
    assert {w.split(":")[0] for w in warned} == {"chapter/one.md", "chapter/two.md"}
    conf.write_text(conf.read_text().split("\nimport shutil")[0])
    app, report, _ = build(make_app, book, rst_prolog=".. |x| replace:: y")
    assert report["executed"] == 3 and cache_warnings(app) == []
    assert_outputs_shown(app)


@pytest.mark.parametrize("code", [errno.EMFILE, errno.EACCES, errno.EIO])
def test_transient_read_errors_never_delete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            code: int) -> None:
    from sphinx_d2ltabs.execution.model import JobResult

    cache = FileCache(tmp_path)
    key = "ab" * 32
    cache.put(key, JobResult("p", "fw", "ok", outputs={3: []}, cell_ids=[3]))
    real_open = open

    def failing_open(path: Any, *args: Any, **kwargs: Any) -> Any:
        if str(path).endswith(key + ".json"):
            raise OSError(code, os.strerror(code))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", failing_open)
    lookup = cache.load(key)
    monkeypatch.undo()
    assert lookup.result is None and not lookup.corrupt
    assert "cannot be read" in lookup.problem
    assert Path(cache.path(key)).exists()
    assert cache.get(key) is not None


def test_transient_read_error_in_a_build(make_app: Any, book: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """EMFILE while reading an entry: a miss, reported, run again; the entry is
    replaced by the new result, never deleted."""
    # no stamps (execution/stamps.py): the second build must read the entry, whether or
    # not the first wrote it in the last clock tick before stamping (a loaded machine)
    monkeypatch.setattr(stamps, "racy", lambda ctime_ns, now_ns: True)
    build(make_app, book)
    monkeypatch.undo()
    victim = entries(book)[("chapter/one", "beta")]
    real_open = open

    def failing_open(path: Any, *args: Any, **kwargs: Any) -> Any:
        if str(path) == str(victim) and args[:1] == ("rb",):
            raise OSError(errno.EMFILE, "Too many open files")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", failing_open)
    app, report, _ = build(make_app, book)
    monkeypatch.undo()
    assert [(e["docname"], e["framework"]) for e in report["pages"] if not e["cached"]] == [
        ("chapter/one", "beta")]
    (warning,) = cache_warnings(app)
    assert "cannot be read (Too many open files)" in warning
    assert victim.exists()
    assert "beta-out" in body(app, "chapter/one.html").get_text()


def read_only(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make writes under ``folder`` fail as on a read-only file system (the tests run as
    root, where permission bits do not stop writes)."""
    real = cache_module.atomic_write

    def refuse(path: str, data: Any) -> None:
        if os.path.abspath(path).startswith(str(folder)):
            raise OSError(errno.EROFS, "Read-only file system")
        real(path, data)

    monkeypatch.setattr(cache_module, "atomic_write", refuse)


@pytest.mark.parametrize("mode", ["auto", "force", "cache-only", "off"])
def test_read_only_cache_works_in_every_mode(make_app: Any, book: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             mode: str) -> None:
    build(make_app, book)
    sorted(entries(book).values())[0].unlink()  # one job to run again
    read_only(monkeypatch, cache_dir(book))
    app, report, status = build(make_app, book, d2l_execute=mode)
    assert [w for w in warnings_of(app) if "d2l.cache" in w and "cache-only" not in w] == []
    fallback = Path(fallback_dir(str(cache_dir(book))))
    if mode in ("auto", "force"):
        assert f"the cache folder {cache_dir(book)} is read-only" in status
        assert str(fallback) in status and status.count("is read-only") == 1
        assert list(fallback.glob("??/*.json"))
        assert_outputs_shown(app)
        # the next build reads both folders: nothing to run
        _, report, _ = build(make_app, book, d2l_execute="auto")
        assert report["executed"] == 0
    elif mode == "cache-only":
        assert report["executed"] == 0
    else:
        assert not body(app, "chapter/one.html").select(".cell_output")


def test_read_only_cache_and_no_fallback(make_app: Any, fresh_book: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing can be written at all: one notice, outputs still shown in this build."""
    read_only(monkeypatch, tmp_path)
    app, report, status = build(make_app, fresh_book)
    assert report["executed"] == 3
    assert status.count("results of this build are not kept") == 1
    assert_outputs_shown(app)


def test_cache_path_that_is_a_file(make_app: Any, book: Path, tmp_path: Path) -> None:
    from sphinx.errors import ConfigError

    blocker = tmp_path / "cache-file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        make_app("html", srcdir=book, confoverrides={"d2l_cache_dir": str(blocker)})


@pytest.mark.parametrize(("content", "warned"), [
    (b"garbage\x00", 1), (b"[1]", 1), (DEEP, 1), (b'{"pages": []}', 1), (b"", 1),
    (b'{"version": "1", "tabs": ["alpha", "beta"], "pages": {"x": 5}}', 0),
])
def test_corrupt_pages_index(make_app: Any, book: Path, content: bytes, warned: int) -> None:
    build(make_app, book)
    index = cache_dir(book) / "pages.json"
    index.write_bytes(content)
    page = book / "chapter" / "one.md"
    os.utime(page, ns=(page.stat().st_atime_ns, page.stat().st_mtime_ns + 10**9))
    app, _, _ = build(make_app, book)
    assert len(cache_warnings(app)) == warned, cache_warnings(app)
    assert all("the pages index" in w for w in cache_warnings(app))
    assert_outputs_shown(app)
    json.loads(index.read_text())  # written anew


def test_group_permissions_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sphinx_d2ltabs import fileio
    from sphinx_d2ltabs.execution.model import JobResult

    monkeypatch.setattr(fileio, "UMASK", 0o002)
    cache = FileCache(tmp_path)
    key = "ef" * 32
    cache.put(key, JobResult("p", "fw", "ok"))
    assert stat.S_IMODE(os.stat(cache.path(key)).st_mode) == 0o664
    monkeypatch.setattr(fileio, "UMASK", 0o022)
    cache.put(key, JobResult("p", "fw", "ok"))
    assert stat.S_IMODE(os.stat(cache.path(key)).st_mode) == 0o644


def test_machinery_failures_are_not_cached(make_app: Any, book: Path) -> None:
    page = book / "chapter" / "two.md"
    page.write_text(page.read_text() + "\n```{.python .input}\nimport os, signal\n"
                    "os.kill(os.getpid(), signal.SIGKILL)\n```\n")
    app, report, _ = build(make_app, book)
    assert [e["status"] for e in report["pages"] if e["docname"] == "chapter/two"] == ["dead"]
    assert any("not cached: the next build runs it again" in w for w in warnings_of(app))
    assert "two-alpha" in body(app, "chapter/two.html").get_text()  # what ran before
    _, report, _ = build(make_app, book)
    assert [e["docname"] for e in report["pages"] if not e["cached"]] == ["chapter/two"]
