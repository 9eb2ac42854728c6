# Three pages of d2l-vn (github.com/d2l-ai/d2l-vi at 3f2d8e69, the last commit of the
# community translation; CC BY-SA 4.0), unchanged: their translation status is counted by
# hand in tests/test_bilingual_status.py.
extensions = ["sphinx_d2ltabs"]
project = "d2l-vn pages"
d2l_tabs = ["mxnet", "pytorch", "tensorflow"]
d2l_execute = "off"
exclude_patterns = ["_build", "drafts"]
# the source of each untranslated line is linked (PyData-style edit keys)
html_context = {"github_user": "d2l-ai", "github_repo": "d2l-vi",
                "github_version": "3f2d8e69", "doc_path": ""}
