"""``sphinx-build -D d2l_<option>=value``: command-line values reach the options.

``confoverrides`` of sphinx.testing are what ``-D`` gives Sphinx: strings.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from sphinx.errors import ConfigError

from helpers import warnings_of

ROOTS = Path(__file__).parent / "roots"


@pytest.fixture
def book(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    shutil.copytree(ROOTS / "test-exec", src)
    return src


@pytest.mark.parametrize(("given", "timeout", "cell_timeout"), [
    ("30", 30.0, 30.0), ("2.5", 2.5, 2.5), ("-1", -1.0, math.inf)])
def test_float_option_from_the_command_line(make_app: Any, book: Path, given: str,
                                            timeout: float, cell_timeout: float) -> None:
    app = make_app("html", srcdir=book, confoverrides={"d2l_timeout": given,
                                                       "d2l_execute": "off"})
    assert app.d2l_config.timeout == timeout
    assert app.d2l_config.cell_timeout == cell_timeout
    assert app.config.d2l_timeout == timeout  # the number is stored back, not the string
    app.build()
    assert warnings_of(app) == []  # no "unsupported type, ignoring", no type warning


def test_bad_number_is_a_configuration_error(make_app: Any, book: Path) -> None:
    with pytest.raises(ConfigError, match=r"d2l_timeout: 'soon' must be a positive number"):
        make_app("html", srcdir=book, confoverrides={"d2l_timeout": "soon"})
    with pytest.raises(ConfigError, match="or -1 for no timeout"):
        make_app("html", srcdir=book, confoverrides={"d2l_timeout": "0"})


def test_no_timeout_runs_the_cells(make_app: Any, book: Path) -> None:
    """``d2l_timeout = -1`` (as MyST-NB's ``nb_execution_timeout``): cells run, unbounded."""
    (book / "conf.py").write_text((book / "conf.py").read_text() + "d2l_timeout = -1\n")
    app = make_app("html", srcdir=book)
    app.build()
    assert warnings_of(app) == []
    report = json.loads(Path(app.doctreedir, "d2l_execution_report.json").read_text())
    assert report["executed"] == 3 and report["failed"] == 0


def test_unchanged_command_line_value_keeps_the_build(make_app: Any, book: Path) -> None:
    """The same ``-D`` value twice: the second build reads no page again (the converted
    number is what Sphinx compares)."""
    conf = {"d2l_timeout": "45", "d2l_execute": "off"}
    make_app("html", srcdir=book, confoverrides=conf).build()
    app = make_app("html", srcdir=book, confoverrides=conf)
    app.build()
    status = app._status.getvalue()
    assert "0 added, 0 changed, 0 removed" in status, status
    assert "configuration changed" not in status, status
