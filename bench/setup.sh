#!/usr/bin/env bash
# Create the separate virtual environments that bench/bench_builds.py compares against.
#
#   bench/.venvs/mystnb   MyST-NB (+ ipykernel), Python 3.11
#   bench/.venvs/d2lbook  d2lbook + pybtex 0.24.0 (+ ipykernel), Python 3.11
#   bench/.venvs/realpages (with --realpages only) the project's .venv plus what d2l-en's
#                         d2l/torch.py imports beyond it (pandas, scipy, torchvision for
#                         the installed torch), for bench/bench_realpages.py
#
# The extension itself and plain Sphinx + myst-parser are run from the project's own
# environment (the Python that runs bench_builds.py, normally .venv).
# d2lbook also needs pandoc; pass --apt to install it with apt-get (needs root).
#
# Usage: bash bench/setup.sh [--apt] [--python python3.11] [--realpages [--only-realpages]]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENVS="$HERE/.venvs"
PY="python3.11"
APT=0
REALPAGES=0
OTHERS=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --apt) APT=1 ;;
    --python) PY="$2"; shift ;;
    --realpages) REALPAGES=1 ;;
    --only-realpages) REALPAGES=1; OTHERS=0 ;;
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

if [[ $OTHERS == 1 ]]; then
  make_venv mystnb myst-nb ipykernel
  make_venv d2lbook d2lbook "pybtex==0.24.0" ipykernel
fi

if [[ $REALPAGES == 1 ]]; then
  # the project's environment (its site-packages, .pth files included) under this one's
  PROJECT_PY="$HERE/../.venv/bin/python"
  SITE="$("$PROJECT_PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  TORCH="$("$PROJECT_PY" -c 'import torch; print(torch.__version__.split("+")[0])')"
  BASE="$("$PROJECT_PY" -c 'import sys; print(sys.base_prefix)')/bin/python3"
  [[ -x "$VENVS/realpages/bin/python" ]] || "$BASE" -m venv "$VENVS/realpages"
  OWN="$("$VENVS/realpages/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  echo "import site; site.addsitedir('$SITE')" > "$OWN/zz_project_venv.pth"
  "$VENVS/realpages/bin/python" -m pip install -q pandas scipy
  # torchvision: PyPI has CUDA builds only, which do not load with a CPU torch; d2l/torch.py
  # imports it (and its transforms) but the pages of the benchmarked chapters never use
  # it: a stub package stands in
  mkdir -p "$OWN/torchvision"
  echo '"""Stub (bench/setup.sh): d2l/torch.py imports it; the benchmarked pages do not use it."""' \
    > "$OWN/torchvision/__init__.py"
  echo '"""Stub (bench/setup.sh)."""' > "$OWN/torchvision/transforms.py"
  echo "== realpages: $("$VENVS/realpages/bin/python" -c 'import torch, torchvision, pandas, scipy, sphinx; print(torch.__version__, pandas.__version__, scipy.__version__, sphinx.__version__)')"
fi

command -v pandoc >/dev/null && pandoc --version | head -1 || echo "pandoc: not installed (run with --apt)"
