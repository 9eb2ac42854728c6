extensions = ["sphinx_d2ltabs", "sphinxcontrib.bibtex"]
project = "originals"
d2l_execute = "off"
d2l_show_original = True
bibtex_bibfiles = ["refs.bib"]
bibtex_reference_style = "author_year"
# d2l-vn's placeholders (a paragraph, a heading's text, an image's caption)
d2l_translation_placeholder = r"^\*dịch (đoạn|tiêu đề|chú thích ảnh) phía trên\*$"
