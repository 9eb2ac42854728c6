"""Time ``generate_library`` on a generated book.

The book: ``--pages`` pages (default 200) in chapters of 20, each page with ~10 code
cells of which 3 carry ``#@save`` (a whole-cell save, a line-level ``def`` and an
``@d2l.add_to_class`` method), for the frameworks pytorch and jax. Every run starts from a
fresh page reader and an empty package folder (cold: every page parsed, every module
written).

Usage: ``python bench/bench_library.py [--pages 200] [--runs 5]``; prints the median.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sphinx_d2ltabs.library import LibraryConfig, generate_library

TABS = ["pytorch", "jax"]
PER_CHAPTER = 20


def page(i: int) -> str:
    plain = "\n".join(
        f"Some prose {k} about page {i}, :numref:`sec_p{i}`.\n\n"
        f"```{{.python .input}}\n#@tab all\nx{k} = {k} * {i}\nprint(x{k})\n```\n"
        for k in range(7)
    )
    return f"""# Page {i}
:label:`sec_p{i}`

```{{.python .input}}
#@tab all
#@save
import math
import collections

def helper_{i}(x):
    return math.sqrt(x) + {i}

class Model{i}:
    def __init__(self):
        self.n = {i}
```

:begin_tab:`pytorch`
PyTorch users write tensors.
:end_tab:

```{{.python .input}}
def scale_{i}(x, factor=2):  #@save
    \"\"\"Scale ``x``.\"\"\"
    return [v * factor for v in x]

print(scale_{i}([1, 2]))
```

```{{.python .input}}
#@tab jax
@d2l.add_to_class(Model{i})  #@save
def forward(self, x):
    return x + self.n
```

{plain}
"""


def make_book(root: Path, pages: int) -> None:
    chapters = (pages + PER_CHAPTER - 1) // PER_CHAPTER
    (root / "index.md").write_text(
        "# Book\n\n```toc\n:maxdepth: 2\n\n"
        + "\n".join(f"chapter_{c}/index" for c in range(chapters)) + "\n```\n")
    for c in range(chapters):
        folder = root / f"chapter_{c}"
        folder.mkdir()
        names = [f"p{i}" for i in range(c * PER_CHAPTER, min(pages, (c + 1) * PER_CHAPTER))]
        (folder / "index.md").write_text(f"# Chapter {c}\n\n```toc\n" + "\n".join(names)
                                         + "\n```\n")
        for name in names:
            (folder / f"{name}.md").write_text(page(int(name[1:])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    config = LibraryConfig(modules={"pytorch": "torch"})
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_book(root, args.pages)
        times = []
        for _ in range(args.runs):
            shutil.rmtree(root / "d2l", ignore_errors=True)
            start = time.perf_counter()
            result = generate_library(root, TABS, config)
            times.append(time.perf_counter() - start)
        assert len(result.written) == len(TABS), result.written
        assert not result.issues, result.issues[:3]
        sizes = {fw: Path(p).stat().st_size for fw, p in result.files.items()}
        start = time.perf_counter()
        again = generate_library(root, TABS, config)
        unchanged = time.perf_counter() - start
        assert again.written == []
    print(f"{args.pages} pages, {len(TABS)} frameworks, module bytes {sizes}")
    print(f"generate_library: median {statistics.median(times):.3f} s over {args.runs} runs "
          f"(min {min(times):.3f}, max {max(times):.3f}); unchanged rerun {unchanged:.3f} s")


if __name__ == "__main__":
    main()
