extensions = ["sphinx_d2ltabs"]
project = "api"
d2l_tabs = ["alpha", "beta"]
d2l_execute = "off"
d2l_lib_api_page = "api"
