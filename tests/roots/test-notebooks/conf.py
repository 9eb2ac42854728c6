# Notebooks per framework, their zips and the links of each page (tests/test_notebooks.py).
project = "NB Book"
extensions = ["sphinx_d2ltabs", "sphinxcontrib.bibtex"]
bibtex_bibfiles = ["refs.bib"]
bibtex_reference_style = "author_year"
# two cheap "frameworks", both run by the python3 kernel
d2l_tabs = ["alpha", "beta"]
d2l_lib_enable = False
d2l_aliases = {"beta": {"lib_name": "math", "simple_alias": "sqrt"}}
d2l_colab = {"alpha": "me/nb-alpha-colab"}
d2l_studiolab = {"beta": "me/nb-beta-lab@dev"}
