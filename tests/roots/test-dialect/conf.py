extensions = ["sphinx_d2ltabs"]
project = "dialect"
d2l_tabs = ["pytorch", "jax", ("tensorflow", "TF")]
d2l_execute = "off"
