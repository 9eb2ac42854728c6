extensions = ["sphinx_d2ltabs", "myst_nb"]
project = "mystnb"
# two cheap "frameworks", both run by the python3 kernel
d2l_tabs = ["alpha", "beta"]
d2l_lib_enable = False
# MyST-NB shows the notebooks' stored outputs (tests turn execution on where needed)
nb_execution_mode = "off"
exclude_patterns = ["_build"]
# shared by both parsers (the front matter of chapter/front.md sets a substitution)
myst_enable_extensions = ["substitution"]
