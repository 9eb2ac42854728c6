#!/usr/bin/env bash
# The dependency floors really work: a second venv with exactly pyproject's lower bounds
# (tests/floors/floor_pins.py) builds the example book, warnings as errors. One line when
# it passes; the whole log, and exit status 1, otherwise. Usage: bash tests/floors/build_example.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if { python3 tests/floors/floor_pins.py > "$work/constraints.txt" \
    && python3 -m venv "$work/venv" \
    && "$work/venv/bin/pip" install -e . -r example_book/requirements.txt -c "$work/constraints.txt" \
    && "$work/venv/bin/sphinx-build" -W --keep-going -b html example_book "$work/html"
   } > "$work/log" 2>&1; then
    echo "dependency floors: the example book builds with $(tr '\n' ' ' < "$work/constraints.txt")"
    exit 0
fi
cat "$work/log"
echo "the example book does not build with the dependency floors: $(tr '\n' ' ' < "$work/constraints.txt")"
exit 1
