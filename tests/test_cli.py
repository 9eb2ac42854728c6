"""The command line (issue #17): relative paths, a missing book or conf.py, the report
of a build wherever the build kept it, a book with no translations, plain help texts
that describe every argument, and the program name the user typed."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sphinx_d2ltabs.cli import build_parser, main, prog_name

ROOTS = Path(__file__).parent / "roots"


def test_lib_with_a_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(ROOTS / "test-api", tmp_path / "books" / "api")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(["lib", os.path.join("..", "books", "api")]) == 0
    out = capsys.readouterr().out
    assert f"alpha: {os.path.join('..', 'books', 'api', 'd2l', 'alpha.py')} (written)" in out
    assert "def helper(x, y=2)" in (tmp_path / "books" / "api" / "d2l" / "alpha.py").read_text()
    monkeypatch.chdir(tmp_path / "books")
    assert main(["lib", "api"]) == 0
    assert "alpha: api/d2l/alpha.py (unchanged)" in capsys.readouterr().out


def test_a_missing_book_or_conf_py(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lib", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no such folder" in capsys.readouterr().err
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "index.md").write_text("# A page\n")
    assert main(["lib", str(tmp_path / "pages")]) == 2
    assert "pages: no conf.py in this folder" in capsys.readouterr().err
    assert not (tmp_path / "pages" / "d2l").exists()


def test_a_bad_conf_py_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "conf.py").write_text("d2l_tabs = ['a', 'a']\n")
    assert main(["lib", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "error: d2l_tabs: framework 'a' is listed twice\n"


REPORT = {"pages": [{"docname": "index", "framework": "python", "status": "ok",
                     "seconds": 1.5, "cached": False, "error": ""}],
          "executed": 1, "cached": 0, "failed": 0, "seconds": 1.5}


@pytest.mark.parametrize("where", [".doctrees", "../doctrees", "."])
def test_report_where_the_build_kept_it(tmp_path: Path, where: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "_build" / "html"
    folder = (out / where).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "d2l_execution_report.json").write_text(json.dumps(REPORT))
    out.mkdir(parents=True, exist_ok=True)
    assert main(["report", str(out)]) == 0
    text = capsys.readouterr().out
    assert "index [python]" in text and "1 executed, 0 cached, 0 failed" in text


def test_report_missing_or_broken(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert "no execution report here" in capsys.readouterr().err
    (tmp_path / "d2l_execution_report.json").write_text('{"pages": [{"docname": 1}]}')
    assert main(["report", str(tmp_path)]) == 2
    assert "not an execution report" in capsys.readouterr().err


def test_status_of_a_book_without_translations(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", str(ROOTS / "test-exec")]) == 0
    captured = capsys.readouterr()
    assert "no translations" in captured.err and "missing original" not in captured.out
    assert main(["status", str(ROOTS / "test-exec"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def _parsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser("sphinx-d2ltabs")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {"": parser, **sub.choices}


def test_help_is_plain_text_and_describes_every_argument() -> None:
    for name, parser in _parsers().items():
        text = parser.format_help()
        assert "``" not in text and ":class:" not in text, name
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"{name or 'the command'}: {action.dest} has no help"
    assert "sphinx-d2ltabs cache" in _parsers()["cache"].format_usage()


def test_prog_is_the_command_the_user_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    python = sys.executable
    monkeypatch.setattr(sys, "argv", [os.path.join("bin", "sphinx-d2ltabs"), "--help"])
    assert prog_name() == "sphinx-d2ltabs"
    monkeypatch.setattr(sys, "argv", [os.path.join("x", "sphinx_d2ltabs", "__main__.py")])
    monkeypatch.setattr(sys, "executable", os.path.join("venv", "bin", "python3"))
    assert prog_name() == "python3 -m sphinx_d2ltabs"
    proc = subprocess.run([python, "-m", "sphinx_d2ltabs", "lib", "--help"],
                          capture_output=True, text=True, timeout=120, check=True)
    name = os.path.basename(python)
    assert proc.stdout.startswith(f"usage: {name} -m sphinx_d2ltabs lib [-h] src")
