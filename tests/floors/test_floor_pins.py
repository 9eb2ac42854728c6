"""The dependency floors that CI installs (tests/floors/floor_pins.py)."""

from __future__ import annotations

import tomllib

import pytest
from floor_pins import PYPROJECT, floor_pins


def test_every_dependency_has_a_floor() -> None:
    dependencies = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"][
        "dependencies"]
    pins = floor_pins(dependencies)
    assert len(pins) == len(dependencies)
    assert all("==" in pin and ">" not in pin and "<" not in pin for pin in pins)


def test_pins_keep_the_name_and_drop_extras_and_upper_bounds() -> None:
    assert floor_pins(["sphinx>=8.0,<10", "dask[distributed] >= 2024.8",
                       "foo<2,>=1.5; python_version >= '3.12'"]) == [
        "sphinx==8.0", "dask==2024.8", "foo==1.5"]


def test_a_dependency_without_floor_is_named() -> None:
    with pytest.raises(ValueError, match="'numpy' has no '>=' floor"):
        floor_pins(["sphinx>=8.0", "numpy"])
