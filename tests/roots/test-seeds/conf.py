extensions = ["sphinx_d2ltabs", "sphinxcontrib.bibtex"]
project = "seeds"
d2l_tabs = ["mxnet", "pytorch", "tensorflow"]
d2l_execute = "off"
bibtex_bibfiles = ["refs.bib"]
bibtex_reference_style = "author_year"
