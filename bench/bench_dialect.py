"""Build time of the d2l dialect against plain Sphinx + myst-parser on the same pages.

Two books, each built both ways (execution off), clean builds, runs interleaved:

* ``seeds``: the Vietnamese d2l seed chapters (tests/roots/test-seeds);
* ``gen<N>``: N generated pages with tabs, cells, labels, equations and tables, written
  once in the d2l dialect and once as the equivalent plain MyST markdown.

Usage: ``python bench/bench_dialect.py [--pages 100] [--runs 5]``; prints medians and ratios.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def d2l_page(i: int) -> str:
    return f"""# Page {i}
:label:`sec_p{i}`

Some prose that refers to :numref:`sec_p{i}` and to :eqref:`eq_p{i}`, with *emphasis*.

:begin_tab:`pytorch`
PyTorch users write tensors.
:end_tab:

:begin_tab:`jax`
JAX users write arrays.
:end_tab:

```{{.python .input}}
import torch
x = torch.ones(3)
```

```{{.python .input}}
#@tab jax
import jax.numpy as jnp
x = jnp.ones(3)
```

$$y_{i} = \\sum_j x_j$$
:eqlabel:`eq_p{i}`

```{{.python .input}}
#@tab all
print(x.sum())
```

: Sizes of page {i}
:label:`tab_p{i}`

| a | b |
|---|---|
| 1 | 2 |

More prose with a list:

- one
- two
"""


def myst_page(i: int) -> str:
    return f"""(sec_p{i})=
# Page {i}

Some prose that refers to {{numref}}`sec_p{i}` and to {{eq}}`eq_p{i}`, with *emphasis*.

PyTorch users write tensors.

JAX users write arrays.

```python
import torch
x = torch.ones(3)
```

```python
import jax.numpy as jnp
x = jnp.ones(3)
```

$$y_{i} = \\sum_j x_j$$ (eq_p{i})

```python
print(x.sum())
```

```{{table}} Sizes of page {i}
:name: tab_p{i}

| a | b |
|---|---|
| 1 | 2 |
```

More prose with a list:

- one
- two
"""


def write_generated(dest: Path, pages: int, dialect: bool) -> None:
    dest.mkdir(parents=True)
    if dialect:
        conf = ("extensions = ['sphinx_d2ltabs']\nd2l_tabs = ['pytorch', 'jax']\n"
                "d2l_execute = 'off'\nd2l_lib_enable = False\n")
        toc = "```toc\n:maxdepth: 1\n\n" + "\n".join(f"p{i}" for i in range(pages)) + "\n```\n"
        make = d2l_page
    else:
        conf = ("extensions = ['myst_parser']\nmyst_enable_extensions = ['dollarmath']\n"
                "numfig = True\n")
        entries = "\n".join(f"p{i}" for i in range(pages))
        toc = "```{toctree}\n:maxdepth: 1\n\n" + entries + "\n```\n"
        make = myst_page
    (dest / "conf.py").write_text("project = 'bench'\n" + conf)
    (dest / "index.md").write_text("# Bench\n\n" + toc)
    for i in range(pages):
        (dest / f"p{i}.md").write_text(make(i))


def write_seeds(dest: Path, dialect: bool) -> None:
    shutil.copytree(ROOT / "tests" / "roots" / "test-seeds", dest)
    if not dialect:
        (dest / "conf.py").write_text(
            "project = 'seeds'\nextensions = ['myst_parser', 'sphinxcontrib.bibtex']\n"
            "myst_enable_extensions = ['dollarmath']\nbibtex_bibfiles = ['refs.bib']\n"
        )


def build_once(src: Path) -> float:
    out = src.parent / (src.name + "_out")
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "sphinx", "-q", "-b", "html", str(src), str(out)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        books = {
            "seeds": (base / "seeds_d2l", base / "seeds_myst"),
            f"gen{args.pages}": (base / "gen_d2l", base / "gen_myst"),
        }
        write_seeds(books["seeds"][0], True)
        write_seeds(books["seeds"][1], False)
        write_generated(books[f"gen{args.pages}"][0], args.pages, True)
        write_generated(books[f"gen{args.pages}"][1], args.pages, False)
        print(f"clean HTML builds, execution off, {args.runs} interleaved runs, medians")
        print(f"{'book':<10} {'d2ltabs s':>10} {'plain MyST s':>13} {'ratio':>7}")
        for name, (d2l, myst) in books.items():
            d2l_times, myst_times = [], []
            for _ in range(args.runs):
                d2l_times.append(build_once(d2l))
                myst_times.append(build_once(myst))
            a, b = statistics.median(d2l_times), statistics.median(myst_times)
            print(f"{name:<10} {a:>10.2f} {b:>13.2f} {a / b:>7.2f}")


if __name__ == "__main__":
    main()
