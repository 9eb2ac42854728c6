"""Compare a generated ``#@save`` module with a reference one (e.g. d2l-en's ``d2l/torch.py``).

    python bench/realbooks/compare_lib.py OURS.py REFERENCE.py [--verbose]

Top-level functions, classes (method by method) and assignments are compared by name and
body: the source is parsed and unparsed (formatting and comments do not count), and
d2lbook's ``Defined in :numref:`...``` docstring notes are removed first. A name defined
twice counts with its last definition, the one an import sees. Names only in the reference
(defined in chapters that were not built, or above d2lbook's WARNING banner) are listed.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

DEFINED_IN = re.compile(r"\s*Defined in :numref:`[^`]*`\s*")


def _strip_doc(node: ast.AST) -> None:
    for sub in ast.walk(node):
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and sub.body:
            first = sub.body[0]
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                doc = DEFINED_IN.sub("\n", first.value.value).strip()
                if doc:
                    first.value.value = doc
                else:
                    sub.body = sub.body[1:] or [ast.Pass()]


def definitions(path: str | Path, banner_only: bool = False) -> dict[str, str]:
    """name → normalized source; methods as ``Class.method``."""
    text = Path(path).read_text(encoding="utf-8")
    if banner_only and "#################   WARNING" in text:
        text = text.split("#################   WARNING", 1)[1]
        text = text.split("\n", 1)[1] if "\n" in text else ""
    tree = ast.parse(text)
    out: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            _strip_doc(node)
            out[node.name] = ast.unparse(node)
        elif isinstance(node, ast.ClassDef):
            _strip_doc(node)
            methods: dict[str, str] = {}
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    methods[item.name] = ast.unparse(item)  # the last one wins, as in Python
            head = ast.unparse(ast.ClassDef(
                name=node.name, bases=node.bases, keywords=node.keywords, body=[ast.Pass()],
                decorator_list=node.decorator_list, type_params=[]))
            out[node.name] = head
            for name, src in methods.items():
                out[f"{node.name}.{name}"] = src
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = ast.unparse(node.value)
    return out


def compare(ours: dict[str, str], ref: dict[str, str]) -> dict[str, list[str]]:
    both = sorted(set(ours) & set(ref))
    return {
        "same": [n for n in both if ours[n] == ref[n]],
        "different": [n for n in both if ours[n] != ref[n]],
        "only_ours": sorted(set(ours) - set(ref)),
        "only_reference": sorted(set(ref) - set(ours)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("ours")
    ap.add_argument("reference")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    ours = definitions(args.ours, banner_only=True)
    ref = definitions(args.reference, banner_only=True)
    result = compare(ours, ref)
    print(f"ours: {len(ours)} names, reference: {len(ref)} names")
    for key, names in result.items():
        print(f"{key}: {len(names)}")
        if key != "same" and names:
            print("   " + ", ".join(names))
    if args.verbose:
        import difflib

        for name in result["different"]:
            print(f"--- {name}")
            print("\n".join(difflib.unified_diff(ref[name].splitlines(), ours[name].splitlines(),
                                                 "reference", "ours", lineterm="")))
    return 1 if result["different"] or result["only_ours"] else 0


if __name__ == "__main__":
    sys.exit(main())
