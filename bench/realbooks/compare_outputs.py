"""Compare cell outputs of a sphinx_d2ltabs build with d2lbook's evaluated notebooks.

    python bench/realbooks/compare_outputs.py OURS_CACHE_DIR D2LBOOK_EVAL_DIR [--framework F]

OURS_CACHE_DIR is the build's ``.d2l_cache`` (one JSON result per page and framework);
D2LBOOK_EVAL_DIR is ``_build/eval`` of ``d2lbook build eval`` on the same pages. Cells are
paired in order (both hold the framework's cells of a page, set-up cells dropped), and each
pair is classed as: ``exact`` (same text outputs), ``normalized`` (same once memory
addresses, timings and floating-point numbers are masked), ``random`` (only integers or
booleans differ: random draws, ``id()``), ``images`` (same kinds of image outputs), or
``different``.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
from pathlib import Path
from typing import Any

ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
NUMBER = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?|-?\d+e[-+]?\d+")
LOOSE = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?|True|False")
TIMING = re.compile(r"\d+(?:\.\d+)? ?(?:ns|µs|us|ms|s|sec)\b")


def text_of(outputs: list[dict[str, Any]]) -> str:
    parts = []
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            text = out.get("text", "")
            parts.append("".join(text) if isinstance(text, list) else text)
        elif kind in ("execute_result", "display_data"):
            data = out.get("data", {})
            if "text/plain" in data and not any(k.startswith("image/") for k in data):
                text = data["text/plain"]
                parts.append("".join(text) if isinstance(text, list) else text)
        elif kind == "error":
            parts.append(f"ERROR {out.get('ename')}")
    return "".join(parts).strip()


def images_of(outputs: list[dict[str, Any]]) -> list[str]:
    return sorted(k for out in outputs for k in out.get("data", {}) if k.startswith("image/"))


def normalize(text: str) -> str:
    text = ADDRESS.sub("0x?", text)
    text = TIMING.sub("<time>", text)
    return NUMBER.sub("<num>", text)


def ours_pages(cache: Path, framework: str) -> dict[str, list[list[dict[str, Any]]]]:
    pages = {}
    for path in cache.rglob("*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or data.get("framework") != framework:
            continue
        outs = data["outputs"]
        pages[data["docname"]] = [outs[k] for k in sorted(outs, key=int)] if outs else []
        counts = data.get("execution_counts", {})
        if counts:  # every executed cell, with or without outputs
            pages[data["docname"]] = [outs.get(k, []) for k in sorted(counts, key=int)]
    return pages


def d2lbook_pages(eval_dir: Path) -> dict[str, list[list[dict[str, Any]]]]:
    pages = {}
    for path in eval_dir.rglob("*.ipynb"):
        if path.stat().st_size == 0:
            continue
        nb = json.loads(path.read_text())
        doc = str(path.relative_to(eval_dir).with_suffix(""))
        pages[doc] = [c.get("outputs", []) for c in nb["cells"] if c["cell_type"] == "code"]
    return pages


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("ours")
    ap.add_argument("d2lbook")
    ap.add_argument("--framework", default="pytorch")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    ours = ours_pages(Path(args.ours), args.framework)
    theirs = d2lbook_pages(Path(args.d2lbook))
    totals: collections.Counter[str] = collections.Counter()
    for doc in sorted(set(ours) | set(theirs)):
        a, b = ours.get(doc), theirs.get(doc)
        if a is None or b is None:
            print(f"{doc}: only in {'d2lbook' if a is None else 'ours'}")
            continue
        page: collections.Counter[str] = collections.Counter()
        if len(a) != len(b):
            print(f"{doc}: {len(a)} cells here, {len(b)} in d2lbook")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            tx, ty = text_of(x), text_of(y)
            if images_of(x) != images_of(y):
                kind = "different"
            elif tx == ty:
                kind = "exact" if tx or not images_of(x) else "images"
            elif normalize(tx) == normalize(ty):
                kind = "normalized"
            elif LOOSE.sub("#", tx) == LOOSE.sub("#", ty):
                kind = "random"  # only integers / booleans differ (random draws, id())
            else:
                kind = "different"
            page[kind] += 1
            if kind == "different" or (args.verbose and kind == "normalized"):
                print(f"  {doc} cell {i + 1}: {kind}\n    ours:    {tx[:300]!r}\n"
                      f"    d2lbook: {ty[:300]!r}")
        totals.update(page)
        print(f"{doc}: {dict(page)}")
    print(f"total: {sum(totals.values())} cells {dict(totals)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
