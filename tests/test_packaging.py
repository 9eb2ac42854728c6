"""What an installed (non-editable) sphinx_d2ltabs holds: every file of the package that is
not Python source is listed in pyproject.toml's package-data, so a pip-installed book gets
its stylesheets, scripts, reveal.js and message catalogs."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "sphinx_d2ltabs"


def test_every_data_file_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["sphinx_d2ltabs"]
    data = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc")
            and "__pycache__" not in p.parts]
    assert data, "no data files found"
    missing = [f for f in data
               # setuptools' globs: "*" does not cross "/" (fnmatch's does: compare parts)
               if not any(fnmatch.fnmatch(f, pat) and f.count("/") == pat.count("/")
                          for pat in patterns)]
    assert missing == []
