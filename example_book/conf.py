# The example book: two frameworks, NumPy first (the default tab).
project = "Dive into sphinx_d2ltabs"
author = "sphinx_d2ltabs developers"
extensions = ["sphinx_d2ltabs", "sphinxcontrib.bibtex"]
html_theme = "sphinx_book_theme"
exclude_patterns = ["_build", "d2l"]

d2l_tabs = ["numpy", "pytorch"]
d2l_gpus = {"pytorch": 1}          # PyTorch kernels get a GPU when there is one
d2l_lib_modules = {"numpy": "numpy", "pytorch": "torch"}

bibtex_bibfiles = ["refs.bib"]
bibtex_reference_style = "author_year"
