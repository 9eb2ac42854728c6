"""Framework aliases: d2lbook's library_test cases L1-L18 (comparison ignores whitespace)."""

from __future__ import annotations

import re

import pytest

from sphinx_d2ltabs.aliases import AliasError, AliasSet

TORCH = AliasSet.from_config({
    "lib_name": "torch",
    "simple_alias": "ones, zeros, tensor, arange, meshgrid, sin, sinh, cos, cosh, tanh, "
                    "linspace, exp, log, normal, rand(, matmul, int32, float32, concat -> cat, "
                    "stack, abs, eye",
    "fluent_alias": "numpy -> detach().numpy, reshape, size -> numel, to, reduce_sum -> sum, "
                    "argmax, astype -> type, transpose -> t",
    "args_alias": "randn(size, device=None) -> np.random.randn(size=size, ctx=device)",
})

CASES = [
    ("X = d2l.reshape(d2l.arange(10,20),(2,3))", "X = torch.arange(10, 20).reshape((2, 3))"),
    ("d2l.numpy(a)", "a.detach().numpy()"),
    ("d2l.transpose(a)", "a.t()"),
    ("metric.add(l * d2l.size(y), d2l.size(y))", "metric.add(l * y.numel(), y.numel())"),
    ("float(d2l.reduce_sum(cmp.astype(y.dtype)))", "float(cmp.astype(y.dtype).sum())"),
    ("d2l.numpy(nn.LeakyReLU(alpha)(x))", "nn.LeakyReLU(alpha)(x).detach().numpy()"),
    ("d2l.reshape(X_tile(1 - d2l.eye(n_train)).astype('bool'), (1,2))",
     "X_tile(1 - torch.eye(n_train)).astype('bool').reshape((1, 2))"),
    ("float(d2l.reduce_sum(d2l.astype(cmp, y.dtype)))", "float(cmp.type(y.dtype).sum())"),
    ("d2l.reshape(\n d2l.concat(net.encoder.attention_weights, 0),\n"
     " (num_layers, num_heads, -1, num_steps))\nnext_statement()",
     "torch.cat(net.encoder.attention_weights, 0).reshape(\n"
     " (num_layers, num_heads, -1, num_steps))\nnext_statement()"),
    ("float(d2l.reduce_sum(d2l.abs(Y1 - Y2))) < 1e-6", "float(torch.abs(Y1 - Y2).sum()) < 1e-6"),
    ("d2l.plt.scatter(d2l.numpy(features[:, a + b]), d2l.numpy(labels), 1);",
     "d2l.plt.scatter(features[:, a + b].detach().numpy(),labels.detach().numpy(), 1);"),
    ("d2l.reshape(multistep_preds[i - tau: i], (1, -1))",
     "multistep_preds[i - tau:i].reshape((1, -1))"),
    ("X = d2l.reshape(d2l.arange(16, dtype=d2l.float32), (1, 1, 4, 4))",
     "X = torch.arange(16, dtype=torch.float32).reshape((1, 1, 4, 4))"),
    ("# comments\nX = d2l.reshape(a)", "# comments\nX = a.reshape()"),
    ("X = d2l.reshape(a)  # comments", "X = a.reshape()  # comments"),
    ("Y[i, j] = d2l.reduce_sum((X[i: i + h, j: j + w] * K))",
     "Y[i, j] = (X[i:i + h, j:j + w] * K).sum()"),
    ("d2l.randn(size=(1,2)) * 0.01", "np.random.randn(size=(1,2)) * 0.01"),
    ("d2l.randn(size=(1,2), device=d2l.try_gpu()) * 0.01",
     "np.random.randn(size=(1,2), ctx=d2l.try_gpu()) * 0.01"),
]


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize(("before", "after"), CASES, ids=[f"L{i + 1}" for i in range(len(CASES))])
def test_d2lbook_alias_cases(before: str, after: str) -> None:
    assert squash(TORCH.apply(before)) == squash(after)


def test_simple_alias_matches_whole_names_only() -> None:
    # d2lbook's text replace turned d2l.concatenate into torch.catenate
    assert TORCH.apply("d2l.concatenate(a)") == "d2l.concatenate(a)"
    assert TORCH.apply("d2l.rand(3) + d2l.rand") == "torch.rand(3) + d2l.rand"


def test_reverse_alias_is_a_regex() -> None:
    aliases = AliasSet.from_config({"reverse_alias": r"d2l.size\(([\w\_\d]+)\) -> \1.size"})
    assert aliases.apply("n = d2l.size(X)") == "n = X.size"


def test_magic_line_kept_and_non_python_left_alone() -> None:
    assert TORCH.apply("%%time\nd2l.reshape(a, 2)") == "%%time\na.reshape(2)"
    assert TORCH.apply("!pip install x\nd2l.reshape(a, 2)") == "!pip install x\nd2l.reshape(a, 2)"


def test_library_code() -> None:
    code = TORCH.library_code()
    assert "concat = torch.cat" in code and "rand = torch.rand" in code
    assert "reshape = lambda x, *args, **kwargs: x.reshape(*args, **kwargs)" in code
    assert "def randn(size, device=None): return np.random.randn(size=size, ctx=device)" in code
    compile(code, "<aliases>", "exec")


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"simple_alias": "ones"}, "needs lib_name"),
        ({"args_alias": "f(x -> g(x)"}, "args_alias"),
        ({"reverse_alias": "a( -> b"}, "reverse_alias"),
        ({"colour": "x"}, "unknown alias keys"),
    ],
)
def test_bad_alias_config(section: dict[str, str], message: str) -> None:
    with pytest.raises(AliasError, match=re.escape(message)):
        AliasSet.from_config(section)


def test_aliases_apply_to_shown_code(make_app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from helpers import body

    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(
        "extensions = ['sphinx_d2ltabs']\nd2l_execute = 'off'\nd2l_lib_enable = False\n"
        "d2l_tabs = ['pytorch', 'numpy']\n"
        "d2l_aliases = {'pytorch': {'lib_name': 'torch', 'simple_alias': 'arange',\n"
        "                           'fluent_alias': 'reshape'},\n"
        "               'numpy': {'lib_name': 'np', 'simple_alias': 'arange'}}\n")
    (src / "index.md").write_text(
        "# A\n\n```{.python .input}\n#@tab all\nX = d2l.reshape(d2l.arange(4), (2, 2))\n```\n")
    app = make_app("html", srcdir=src)
    app.build()
    page = body(app, "index.html")
    shown = {next(c for c in div["class"] if c.startswith("d2l-framework-")):
             div.get_text().strip() for div in page.select("div.d2l-cell")}
    assert shown == {
        "d2l-framework-pytorch": "X = torch.arange(4).reshape((2, 2))",
        "d2l-framework-numpy": "X = d2l.reshape(np.arange(4), (2, 2))",
    }


def test_bad_aliases_are_a_config_error(make_app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sphinx.errors import ConfigError

    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text("extensions = ['sphinx_d2ltabs']\nd2l_tabs = ['pytorch']\n"
                                 "d2l_aliases = {'pytorch': {'simple_alias': 'ones'}}\n")
    (src / "index.md").write_text("# A\n")
    with pytest.raises(ConfigError, match=r"d2l_aliases\['pytorch'\]: simple_alias needs"):
        make_app("html", srcdir=src)
