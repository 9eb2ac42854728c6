"""``d2l_gc_freeze``: what exists when the build starts is left out of the collector's
walks for the build, given back at its end, and frozen for good at the process's exit."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from helpers import copy_root


def _freeze_counts(make_app: Any, src: Path, **conf: Any) -> tuple[int, int, int]:
    """The number of frozen objects before the build, while it reads its pages, after.
    (A build that an earlier test interrupted, KeyboardInterrupt: no ``build-finished``,
    left its objects frozen: given back first.)"""
    gc.unfreeze()
    before = gc.get_freeze_count()
    app = make_app("html", srcdir=src, confoverrides=conf)
    during: list[int] = []
    app.connect("source-read", lambda *args: during.append(gc.get_freeze_count()))
    app.build()
    assert during, "no page was read"
    return before, min(during), gc.get_freeze_count()


def test_the_build_freezes_what_exists_and_gives_it_back(make_app: Any,
                                                         tmp_path: Path) -> None:
    before, during, after = _freeze_counts(make_app, copy_root(tmp_path, "dialect"))
    # Sphinx, the extensions and the environment (tens of thousands of objects)
    assert before == 0 and during > 10_000
    assert after == before  # unfrozen: a process that builds again collects them again


def test_it_can_be_turned_off(make_app: Any, tmp_path: Path) -> None:
    before, during, after = _freeze_counts(make_app, copy_root(tmp_path, "dialect"),
                                           d2l_gc_freeze=False)
    assert during == before and after == before


@pytest.mark.parametrize("enabled", [True, False])
def test_the_process_freezes_everything_at_exit(tmp_path: Path, enabled: bool) -> None:
    """At exit (the interpreter's last collection comes after :mod:`atexit`'s handlers,
    which run last registered first), everything is frozen: nothing left to walk."""
    src = copy_root(tmp_path, "dialect")
    seen = tmp_path / "frozen-at-exit.txt"
    script = textwrap.dedent(f"""
        import atexit, gc, sys
        atexit.register(lambda: open({str(seen)!r}, "w").write(str(gc.get_freeze_count())))
        from sphinx.cmd.build import main
        sys.exit(main(["-q", "-b", "html", "-D", "d2l_gc_freeze={int(enabled)}",
                       {str(src)!r}, {str(src / "_build" / "html")!r}]))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    frozen = int(seen.read_text())
    assert (frozen > 10_000) if enabled else (frozen == 0)
    assert (src / "_build" / "html" / "chapter.html").is_file()
