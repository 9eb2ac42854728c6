"""Scan a built d2l book's HTML for d2lbook constructs that leaked through unrendered.

    python bench/realbooks/check_html.py BOOK/_build/html [--frameworks pytorch,mxnet,...]

Prints the number of pages, tab sets and cells per framework, and every leftover
construct (raw marks, tab markers, slide marks, setup cells) with page and context.
Exit status 1 when something leaked.
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
from pathlib import Path

from bs4 import BeautifulSoup

#: (name, regex) of constructs that must not reach the reader.
LEAKS = [
    ("tab prose mark", re.compile(r":(?:begin|end)_tab:")),
    ("tab marker", re.compile(r"%%tab\b|#\s*@tab\b")),
    ("tab.selected branch", re.compile(r"\btab\.selected\(")),
    ("setup cell", re.compile(r"%load_ext d2lbook|tab\.interact_select")),
    ("slide mark", re.compile(r"\[\*\*|\*\*\]|\(\*\*|\*\*\)")),
    ("slide-only text", re.compile(r"\[~~|~~\]|\(~~|~~\)")),
    ("raw role", re.compile(r":(?:numref|ref|eqref|cite|citet|citep|label|eqlabel|width|height|"
                            r"bibliography):`")),
    ("eval_rst fence", re.compile(r"```\s*eval_rst")),
    ("toc fence", re.compile(r"```\s*toc")),
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("html")
    args = ap.parse_args(argv)
    root = Path(args.html)
    pages = [p for p in sorted(root.rglob("*.html"))
             if not p.relative_to(root).parts[0].startswith("_")
             and p.name not in ("genindex.html", "search.html", "py-modindex.html")]
    leaks: list[tuple[str, str, str]] = []
    cells: collections.Counter[str] = collections.Counter()
    tabsets = 0
    for page in pages:
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        body = soup.select_one('div[role="main"]') or soup.body or soup
        tabsets += len(body.select("div.sd-tab-set"))
        for cell in body.select("div.d2l-cell"):
            fw = next((c[len("d2l-framework-"):] for c in cell.get("class", [])
                       if c.startswith("d2l-framework-")), "?")
            cells[fw] += 1
        text = body.get_text("\n")
        for name, rx in LEAKS:
            for m in rx.finditer(text):
                ctx = text[max(0, m.start() - 40): m.end() + 40].replace("\n", " ")
                leaks.append((str(page.relative_to(root)), name, ctx))
    print(f"pages: {len(pages)}  tab sets: {tabsets}  cells: {dict(sorted(cells.items()))}")
    by_kind = collections.Counter(kind for _, kind, _ in leaks)
    print(f"leftover constructs: {sum(by_kind.values())} {dict(by_kind)}")
    for page, kind, ctx in leaks[:200]:
        print(f"  {page}: {kind}: ...{ctx}...")
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main())
