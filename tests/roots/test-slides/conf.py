# Slides of the slide marks (tests/test_slides.py).
project = "Slides Book"
extensions = ["sphinx_d2ltabs"]
# two cheap "frameworks", both run by the python3 kernel
d2l_tabs = ["alpha", "beta"]
d2l_lib_enable = False
d2l_slides = ["alpha"]
