extensions = ["sphinx_d2ltabs"]
project = "pdf"
d2l_tabs = ["numpy", "pytorch"]
d2l_execute = "off"
latex_documents = [("index", "pdf.tex", "PDF", "me", "manual")]
