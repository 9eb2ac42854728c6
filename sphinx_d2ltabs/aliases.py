"""Framework aliases of d2lbook's ``[library-<tab>]`` sections (Sphinx-free).

d2l-en writes framework-neutral code such as ``d2l.reshape(d2l.arange(4), (2, 2))`` and
rewrites it per framework before it is shown and run:

``simple_alias``  ``ones, concat -> cat, rand(``: ``d2l.concat`` → ``torch.cat`` (whole
                  names only, unlike d2lbook's prefix-greedy text replace; a trailing ``(``
                  restricts the rule to calls).
``fluent_alias``  ``reshape, numpy -> detach().numpy``: ``d2l.reshape(x, s)`` → ``x.reshape(s)``,
                  found by parsing the code (nested calls too), not by text.
``args_alias``    ``randn(size, device=None) -> np.random.randn(size=size, ctx=device)``:
                  arguments mapped by name; parameters not given are left out.
``reverse_alias`` one ``pattern -> replacement`` regex rewrite per line (d2lbook applies them as
                  plain text, so its regex-looking entries never matched; here they do).
``alias``         lines copied into the generated library only.

:meth:`AliasSet.library_code` gives the definitions d2lbook appends to the library, so the
neutral names also work when the package is imported.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

KEYS = ("lib_name", "simple_alias", "fluent_alias", "args_alias", "alias", "reverse_alias")


def _pairs(text: str, per_line: bool = False) -> list[tuple[str, str]]:
    items = text.splitlines() if per_line else re.split(r"[,\n]", text)
    out = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        if "->" in item:
            a, b = item.split("->", 1)
            out.append((a.strip(), b.strip()))
        else:
            out.append((item, item))
    return out


class AliasError(ValueError):
    """An alias definition that can't be understood."""


@dataclass
class ArgsAlias:
    name: str
    params: list[str]
    defaults: dict[str, ast.expr]
    target: ast.Call
    signature: str
    target_src: str


@dataclass
class AliasSet:
    """The aliases of one framework."""

    lib_name: str = ""
    simple: list[tuple[str, str]] = field(default_factory=list)
    fluent: dict[str, str] = field(default_factory=dict)
    args: dict[str, ArgsAlias] = field(default_factory=dict)
    reverse: list[tuple[re.Pattern[str], str]] = field(default_factory=list)
    raw: str = ""

    @classmethod
    def from_config(cls, section: Mapping[str, str]) -> AliasSet:
        unknown = set(section) - set(KEYS)
        if unknown:
            raise AliasError(f"unknown alias keys {sorted(unknown)} (known: {', '.join(KEYS)})")
        out = cls(lib_name=section.get("lib_name", "").strip(),
                  raw=section.get("alias", "").strip())
        out.simple = _pairs(section.get("simple_alias", ""))
        if out.simple and not out.lib_name:
            raise AliasError("simple_alias needs lib_name (e.g. lib_name = torch)")
        out.fluent = dict(_pairs(section.get("fluent_alias", "")))
        for left, right in _pairs(section.get("args_alias", ""), per_line=True):
            try:
                sig = ast.parse(f"def {left}: pass").body[0]
                target = ast.parse(right, mode="eval").body
            except SyntaxError as err:
                raise AliasError(f"args_alias {left!r} -> {right!r}: {err.msg}") from None
            assert isinstance(sig, ast.FunctionDef)
            if not isinstance(target, ast.Call):
                raise AliasError(f"args_alias {right!r} must be a call")
            params = [a.arg for a in sig.args.args]
            defaults = dict(zip(params[len(params) - len(sig.args.defaults):],
                                sig.args.defaults, strict=True))
            out.args[sig.name] = ArgsAlias(sig.name, params, defaults, target, left, right)
        for left, right in _pairs(section.get("reverse_alias", ""), per_line=True):
            try:
                out.reverse.append((re.compile(left), right))
            except re.error as err:
                raise AliasError(f"reverse_alias {left!r}: {err}") from None
        return out

    def __bool__(self) -> bool:
        return bool(self.simple or self.fluent or self.args or self.reverse)

    # ---------------------------------------------------------------- rewriting
    def apply(self, code: str) -> str:
        """The code as shown and run in this framework."""
        if not self or ("d2l." not in code and not self.reverse):
            return code
        for pattern, repl in self.reverse:
            code = pattern.sub(repl, code)
        code = self._rewrite_calls(code)
        for a, b in self.simple:
            if a.endswith("("):
                code = re.sub(rf"\bd2l\.{re.escape(a[:-1])}\(", f"{self.lib_name}.{b.rstrip('(')}(",
                              code)
            else:
                code = re.sub(rf"\bd2l\.{re.escape(a)}\b", f"{self.lib_name}.{b}", code)
        return code

    def _rewrite_calls(self, code: str) -> str:
        if not (self.fluent or self.args) or not any(
                f"d2l.{n}" in code for n in [*self.fluent, *self.args]):
            return code
        magic, body = _split_magic(code)
        for _ in range(100):
            try:
                tree = ast.parse(body)
            except SyntaxError:
                return code  # not Python (shell escapes, other magics): left as written
            call = self._first_call(tree)
            if call is None:
                break
            segment = ast.get_source_segment(body, call)
            if segment is None:
                break
            new = ast.unparse(self._rewritten(call))
            start = _offset(body, call.lineno, call.col_offset)
            end = _offset(body, call.end_lineno or call.lineno, call.end_col_offset or 0)
            body = body[:start] + new + body[end:]
        return magic + body

    def _first_call(self, tree: ast.AST) -> ast.Call | None:
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "d2l"):
                name = node.func.attr
                if name in self.args or (name in self.fluent and node.args):
                    return node
        return None

    def _rewritten(self, call: ast.Call) -> ast.expr:
        assert isinstance(call.func, ast.Attribute)
        name = call.func.attr
        if name in self.args:
            return self._args_call(self.args[name], call)
        obj: ast.expr = call.args[0]
        parts = self.fluent[name].split(".")
        for part in parts[:-1]:
            if part.endswith("()"):
                obj = ast.Call(func=ast.Attribute(value=obj, attr=part[:-2], ctx=ast.Load()),
                               args=[], keywords=[])
            else:
                obj = ast.Attribute(value=obj, attr=part, ctx=ast.Load())
        return ast.Call(func=ast.Attribute(value=obj, attr=parts[-1], ctx=ast.Load()),
                        args=call.args[1:], keywords=call.keywords)

    @staticmethod
    def _args_call(alias: ArgsAlias, call: ast.Call) -> ast.expr:
        bound: dict[str, ast.expr] = dict(zip(alias.params, call.args, strict=False))
        for kw in call.keywords:
            if kw.arg is not None:
                bound[kw.arg] = kw.value
        target = ast.parse(alias.target_src, mode="eval").body
        assert isinstance(target, ast.Call)

        class Sub(ast.NodeTransformer):
            def visit_Name(self, node: ast.Name) -> ast.expr:
                return bound.get(node.id, node)

        keywords = []
        for kw in target.keywords:
            if isinstance(kw.value, ast.Name) and kw.value.id in alias.params and (
                    kw.value.id not in bound):
                continue  # a parameter the call did not give: left out
            keywords.append(Sub().visit(kw))
        args = [Sub().visit(a) for a in target.args
                if not (isinstance(a, ast.Name) and a.id in alias.params and a.id not in bound)]
        return ast.Call(func=target.func, args=args, keywords=keywords)

    # ---------------------------------------------------------------- library
    def library_code(self) -> str:
        """Definitions appended to the generated module (as d2lbook's save_alias)."""
        lines = []
        for a, b in self.simple:
            a, b = a.rstrip("("), b.rstrip("(")
            lines.append(f"{a} = {self.lib_name}.{b}")
        for a, b in self.fluent.items():
            lines.append(f"{a} = lambda x, *args, **kwargs: x.{b}(*args, **kwargs)")
        for alias in self.args.values():
            lines.append(f"def {alias.signature}: return {alias.target_src}")
        if self.raw:
            lines.extend(self.raw.splitlines())
        return "\n".join(lines)


def _split_magic(code: str) -> tuple[str, str]:
    if code.startswith("%"):
        first, _, rest = code.partition("\n")
        return first + "\n", rest
    return "", code


def _offset(text: str, lineno: int, col: int) -> int:
    lines = text.splitlines(keepends=True)
    return sum(len(line) for line in lines[: lineno - 1]) + len(
        lines[lineno - 1].encode("utf-8")[:col].decode("utf-8", "ignore")) if lines else 0


def alias_sets(config: Mapping[str, Mapping[str, str]]) -> dict[str, AliasSet]:
    return {fw: AliasSet.from_config(section) for fw, section in config.items()}
