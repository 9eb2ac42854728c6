# The example book: NumPy (the default tab) and PyTorch, executed at build time.
project = "Dive into sphinx_d2ltabs"
author = "sphinx_d2ltabs developers"
copyright = "2026, sphinx_d2ltabs developers"
# sphinx_d2ltabs.local_mathjax: MathJax from the book itself, not from a CDN
extensions = ["sphinx_d2ltabs", "sphinx_d2ltabs.local_mathjax", "sphinxcontrib.bibtex"]
html_theme = "sphinx_book_theme"
html_title = "Dive into sphinx_d2ltabs"
exclude_patterns = ["_build", "d2l"]

d2l_tabs = ["numpy", "pytorch"]
d2l_gpus = {"pytorch": 1}          # PyTorch kernels get a GPU when the machine has one
d2l_lib_modules = {"numpy": "numpy", "pytorch": "torch"}   # d2l/numpy.py, d2l/torch.py
d2l_kernel_env = {"*": {"PYTHONWARNINGS": "ignore"}}
d2l_lib_api_page = "api"           # generated: every #@save name, linked to its cell

bibtex_bibfiles = ["refs.bib"]
bibtex_reference_style = "author_year"
