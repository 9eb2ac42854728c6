"""The markdown-it plugins, Sphinx-free: d2lbook's markdown_test / notebook_test ported."""

from __future__ import annotations

from markdown_it.token import Token

from sphinx_d2ltabs.dialect import read_document, toc_entries
from sphinx_d2ltabs.mdit_d2l import dialect_md_parser

MD = dialect_md_parser()

# d2lbook markdown_test.py `_markdown_src` (M1)
MARKDOWN_SRC = """# Test

first para

:begin_tab:`python2`
python is good
:end_tab:

another para

:eqref:`sec_1`

:begin_tab:`python 3`
python3 is better

```python 3
print(3)
```
:end_tab:

````bash
```bash
$ ls
```
````
"""

# d2lbook notebook_test.py `_markdown_src` (N1-N4a)
NOTEBOOK_SRC = """# Test

first para

:begin_tab:`python2`
python is good
:end_tab:

another para

This is :eqref:`sec_1`

:begin_tab:`python2`
```python2
1+2+3
```
:end_tab:

:begin_tab:`python3`
python3 is better

- here
- haha
:end_tab:

```{.input .python}
1+2+3
```

```{.input .python}
#@tab python2
1+2+3
```

```bash
````
aa
````
```
"""


def top(tokens: list[Token]) -> list[str]:
    return [t.type for t in tokens if t.level == 0 and t.nesting >= 0]


def parse(text: str) -> tuple[list[Token], dict]:  # type: ignore[type-arg]
    env: dict = {}  # type: ignore[type-arg]
    return MD.parse(text, env), env


def test_m1_split_blocks() -> None:
    tokens, env = parse(MARKDOWN_SRC)
    assert top(tokens) == [
        "heading_open", "paragraph_open",
        "d2l_group_open",
        "paragraph_open", "paragraph_open",
        "d2l_group_open",
        "fence",
    ]
    prose = [t for t in tokens if t.type == "d2l_tab_prose_open"]
    assert [p.meta["tabs"] for p in prose] == [["python2"], ["python 3"]]
    # the fenced block inside the tab block stays inside it (level 2: in group and tab block)
    inner = [t for t in tokens if t.type == "fence" and t.level == 2]
    assert [t.info for t in inner] == ["python 3"]
    # the 4-backtick fence holds the 3-backtick lines as content
    outer = [t for t in tokens if t.type == "fence" and t.level == 0]
    assert outer[0].info == "bash" and "```bash\n$ ls\n```" in outer[0].content
    # an :eqref: line is a role, not a tab delimiter
    roles = [c for t in tokens if t.type == "inline" for c in t.children or []
             if c.type == "d2l_role"]
    assert [(r.meta["name"], r.content) for r in roles] == [("eqref", "sec_1")]
    assert not env.get("d2l_diagnostics")


def test_n1_cells_and_prose() -> None:
    doc = read_document(NOTEBOOK_SRC, ["python3", "python2"])
    assert [(c.frameworks, c.code_for(c.frameworks[0])) for c in doc.cells] == [
        (("python3",), "1+2+3"),
        (("python2",), "1+2+3"),
    ]
    tokens, _ = parse(NOTEBOOK_SRC)
    prose = [t.meta["tabs"] for t in tokens if t.type == "d2l_tab_prose_open"]
    assert prose == [["python2"], ["python2"], ["python3"]]
    # a plain ```bash fence (with a 4-backtick fence inside) is not a cell
    assert not any(c.attributes.language == "bash" for c in doc.cells)


def test_n2_per_tab_views() -> None:
    doc = read_document(NOTEBOOK_SRC, ["python3", "python2"])
    python2 = [c for c in doc.cells if c.belongs_to("python2")]
    python3 = [c for c in doc.cells if c.belongs_to("python3")]
    assert len(python2) == 1 and python2[0].code_for("python2") == "1+2+3"
    assert len(python3) == 1 and python3[0].source == "1+2+3"  # the unmarked cell


def test_n2c_multi_tab_cell() -> None:
    doc = read_document("# Test\n\n```{.python .input}\n#@tab python2, python3\n1+2\n```\n\n"
                        "The end\n", ["python3", "python2"])
    (cell,) = doc.cells
    assert cell.targets(["python3", "python2"]) == ["python3", "python2"]
    assert cell.code_for("python2") == cell.code_for("python3") == "1+2"


def test_n3_only_markers_stripped() -> None:
    doc = read_document(NOTEBOOK_SRC, ["python3", "python2"])
    for cell in doc.cells:
        for fw in cell.frameworks:
            assert cell.code_for(fw) in cell.source


def test_groups_wrap_consecutive_cells_and_prose() -> None:
    tokens, _ = parse(NOTEBOOK_SRC)
    groups = []
    current: list[str] | None = None
    for t in tokens:
        if t.type == "d2l_group_open":
            current = []
        elif t.type == "d2l_group_close":
            groups.append(current)
            current = None
        elif current is not None and t.level == 1 and t.nesting >= 0 and t.type in (
                "fence", "d2l_tab_prose_open"):
            current.append(t.type)
    assert groups == [
        ["d2l_tab_prose_open"],
        ["d2l_tab_prose_open", "d2l_tab_prose_open", "fence", "fence"],
    ]


def test_comments_do_not_break_groups() -> None:
    text = "```{.python .input}\n1\n```\n\n<!-- x -->\n\n```{.python .input}\n#@tab b\n2\n```\n"
    tokens, _ = parse(text)
    assert [t.type for t in tokens].count("d2l_group_open") == 1


def test_label_after_heading_becomes_target() -> None:
    tokens, _ = parse("# Title\n:label:`sec_x`\n\ntext\n")
    assert tokens[0].type == "myst_target" and tokens[0].content == "sec_x"
    assert tokens[1].type == "heading_open"


def test_figure_marks() -> None:
    tokens, _ = parse("![cap](a.png)\n:width:`400px`\n:label:`fig_a`\n")
    assert tokens[0].meta["d2l_figure"] == {"width": "400px", "label": "fig_a"}


def test_eqlabel() -> None:
    tokens, _ = parse("$$a + b = c$$\n:eqlabel:`eq_sum`\n")
    assert tokens[0].type == "math_block_label" and tokens[0].info == "eq_sum"
    tokens, _ = parse("$$\na + b\n$$\n\n:eqlabel:`eq_two`\n")
    assert tokens[0].type == "math_block_label" and tokens[0].info == "eq_two"


def test_table_caption_before_and_after() -> None:
    before, _ = parse(": Cap\n:label:`tab_a`\n\n| a |\n|---|\n| 1 |\n")
    table = next(t for t in before if t.type == "table_open")
    assert table.meta["d2l_caption"].content == ": Cap" and table.meta["d2l_label"] == "tab_a"
    after, _ = parse("| a |\n|---|\n| 1 |\n\n: Cap after\n\n:label:`tab_b`\n")
    table = next(t for t in after if t.type == "table_open")
    assert table.meta["d2l_caption"].content == ": Cap after"
    assert table.meta["d2l_label"] == "tab_b"
    assert not any(t.type == "paragraph_open" for t in after)


def test_bilingual_original_between_caption_table_and_label() -> None:
    # d2l-vn: translated caption, the original table in a comment, the table, the label
    src = (": Chú thích.\n\n<!--\n| a |\n|---|\n| 1 |\n-->\n\n| b |\n|---|\n| 2 |\n\n"
           "<!-- an original note -->\n\n:label:`tab_vn`\n\n<!--\n## Heading\n-->\n"
           "## Tiêu đề\n\n<!-- x -->\n:label:`sec_vn`\n")
    tokens, env = parse(src)
    table = next(t for t in tokens if t.type == "table_open")
    assert table.meta["d2l_caption"].content == ": Chú thích."
    assert table.meta["d2l_label"] == "tab_vn"
    assert [t.content for t in tokens if t.type == "myst_target"] == ["sec_vn"]
    # the comments are kept (the show-original option renders them)
    assert sum(t.type == "html_block" for t in tokens) == 4
    assert not env.get("d2l_diagnostics")


def test_misplaced_marks_are_reported() -> None:
    _, env = parse("Some text.\n\n:label:`lonely`\n\n:width:`3px`\n")
    messages = [(d.line, d.subtype) for d in env["d2l_diagnostics"]]
    assert messages == [(3, "label"), (5, "mark")]


def test_tab_block_errors() -> None:
    _, env = parse(":end_tab:\n\n:begin_tab:`a`\ntext\n\n:begin_tab:`b`\nmore\n:end_tab:\n"
                   ":begin_tab:`c`\nopen to the end\n")
    diags = [(d.line, d.subtype, d.message.split(" ")[0]) for d in env["d2l_diagnostics"]]
    assert diags == [
        (1, "tab", "':end_tab:'"),
        (3, "tab", "':begin_tab:`a`'"),
        (9, "tab", "':begin_tab:`c`'"),
    ]


def test_unterminated_fence_reported() -> None:
    doc = read_document("text\n\n```{.python .input}\nx = 1\n", ["python"])
    assert [(d.line, d.subtype) for d in doc.diagnostics] == [(3, "syntax")]
    assert doc.cells[0].source == "x = 1"


def test_last_block_without_trailing_newline_is_a_cell() -> None:
    # d2lbook bug 4: it silently became markdown
    doc = read_document("```{.python .input}\nx = 1\n```", ["python"])
    assert len(doc.cells) == 1 and not doc.diagnostics


def test_unknown_tab_reported_with_line() -> None:
    doc = read_document("x\n\n```{.python .input}\n#@tab nope\n1\n```\n", ["pytorch"])
    assert [(d.line, d.subtype) for d in doc.diagnostics] == [(3, "tab")]


def test_toc_entries() -> None:
    options, entries = toc_entries(":maxdepth: 2\n:numbered:\n\nchapter_a/index\n\nchapter_b\n")
    assert options == {"maxdepth": "2", "numbered": ""}
    assert entries == ["chapter_a/index", "chapter_b"]
    doc = read_document("```toc\n:maxdepth: 1\n\na\nb/index\n```\n", ["python"])
    assert doc.toc == ["a", "b/index"]


def test_roles_need_a_word_boundary() -> None:
    tokens, _ = parse("see http://a:b:`c` and :numref:`x`.\n")
    roles = [c.meta["name"] for c in tokens[1].children if c.type == "d2l_role"]
    assert roles == ["numref"]


def _inline_text(text: str) -> str:
    from markdown_it.renderer import RendererHTML

    tokens, env = parse(text)
    return RendererHTML().render(tokens, MD.options, env)


def test_slide_marks() -> None:
    # d2lbook slides_test fixture: marks are unwrapped in the book, slide-only spans removed
    html = _inline_text(
        "(**A tensor represents a (possibly multi-dimensional) array.**)\n\n"
        "[**Many**] more (**operations can be applied elementwise,**) including\n"
        "unary operators like exponentiation (~~e.g. `exp`~~).\n\n"
        "A [**bold link**](https://example.org) stays a link; [~~gone~~] and a *normal* one.\n"
    )
    assert "<p>A tensor represents a (possibly multi-dimensional) array.</p>" in html
    assert "<p>Many more operations can be applied elementwise, including\n" in html
    assert "exponentiation .</p>" in html and "exp" not in html.split("exponentiation")[1]
    assert '<a href="https://example.org"><strong>bold link</strong></a>' in html
    assert "gone" not in html and "<em>normal</em>" in html
