"""Print the dependency floors of pyproject.toml as pip constraints (``name==floor``).

``python3 tests/floors/floor_pins.py > constraints.txt``, then ``pip install -e . -c
constraints.txt``: the package installed with the lowest versions it declares (see
``tests/floors/build_example.sh``). A dependency without a ``>=`` floor is an error.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
#: the distribution name, its extras (if any), then the ``>=`` bound among the specifiers
FLOOR = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?[^;]*?>=\s*([^,;\s]+)")


def floor_pins(dependencies: list[str]) -> list[str]:
    """``name==floor`` for each requirement; ValueError naming one without a floor."""
    pins = []
    for requirement in dependencies:
        match = FLOOR.match(requirement)
        if match is None:
            raise ValueError(f"pyproject.toml: dependency {requirement!r} has no '>=' floor")
        pins.append(f"{match.group(1)}=={match.group(2)}")
    return pins


def main() -> int:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    try:
        print("\n".join(floor_pins(project["dependencies"])))
    except ValueError as err:
        print(err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
