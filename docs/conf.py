# Documentation of sphinx_d2ltabs, built with the extension itself.
project = "sphinx_d2ltabs"
author = "sphinx_d2ltabs developers"
# MathJax from the site itself, not from a CDN (sphinx_d2ltabs.local_mathjax)
extensions = ["sphinx_d2ltabs", "sphinx_d2ltabs.local_mathjax"]
html_theme = "sphinx_book_theme"
html_title = "sphinx_d2ltabs"
exclude_patterns = ["_build"]

# two "frameworks" that both run in the plain python3 kernel: the live examples stay cheap
d2l_tabs = [("python", "Python"), ("numpy", "NumPy")]
d2l_lib_enable = False
