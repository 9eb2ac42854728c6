extensions = ["sphinx_d2ltabs"]
project = "exec-options"
# two cheap "frameworks", both run by the python3 kernel
d2l_tabs = ["alpha", "beta"]
d2l_lib_enable = False
