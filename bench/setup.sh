#!/usr/bin/env bash
# Create the separate virtual environments that bench/bench_builds.py compares against.
#
#   bench/.venvs/mystnb   MyST-NB (+ ipykernel), Python 3.11
#   bench/.venvs/d2lbook  d2lbook + pybtex 0.24.0 (+ ipykernel), Python 3.11
#
# The extension itself and plain Sphinx + myst-parser are run from the project's own
# environment (the Python that runs bench_builds.py, normally .venv).
# d2lbook also needs pandoc; pass --apt to install it with apt-get (needs root).
#
# Usage: bash bench/setup.sh [--apt] [--python python3.11]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENVS="$HERE/.venvs"
PY="python3.11"
APT=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --apt) APT=1 ;;
    --python) PY="$2"; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

mkdir -p "$VENVS"

if [[ $APT == 1 ]] && ! command -v pandoc >/dev/null; then
  apt-get update
  apt-get install -y pandoc
fi

make_venv() {  # name, packages...
  local name="$1"; shift
  if [[ ! -x "$VENVS/$name/bin/python" ]]; then
    "$PY" -m venv "$VENVS/$name"
  fi
  "$VENVS/$name/bin/python" -m pip install -q --upgrade pip
  "$VENVS/$name/bin/python" -m pip install -q "$@"
  echo "== $name: $("$VENVS/$name/bin/python" --version)"
  "$VENVS/$name/bin/python" -m pip freeze | grep -i -E '^(sphinx|myst|jupyter|ipykernel|d2lbook|pybtex|nbformat|notedown|sphinxcontrib-bibtex)' || true
}

make_venv mystnb myst-nb ipykernel
make_venv d2lbook d2lbook "pybtex==0.24.0" ipykernel

command -v pandoc >/dev/null && pandoc --version | head -1 || echo "pandoc: not installed (run with --apt)"
