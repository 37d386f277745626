"""Allocation filters: OpenCost's v2 filter grammar and Kubecost's v1 `filterX=` parameters.

v2: `field:"value"`, `field[key]:"value"`, operators `:` (equals), `!:`, `~:` (contains),
`!~:`, `<~:` (starts with), `!<~:`, `~>:` (ends with), `!~>:`; several values separated by
commas match any of them; `+` is AND, `|` is OR, parentheses group (required to mix + and |).
Unquoted values (`namespace:cloudmart`, as the lab document writes it) are accepted too.
Errors carry the 0-based position of the offending character.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Union

FIELDS = {
    "cluster": "cluster",
    "node": "node",
    "namespace": "namespace",
    "controllerkind": "controllerKind",
    "controllername": "controller",
    "controller": "controller",
    "pod": "pod",
    "container": "container",
    "services": "services",
    "label": "label",
    "annotation": "annotation",
    "namespacelabel": "namespaceLabel",
}
KEYED = {"label", "annotation", "namespaceLabel"}
OPS = ["!<~:", "!~>:", "!~:", "<~:", "~>:", "!:", "~:", ":"]


class FilterError(ValueError):
    def __init__(self, message: str, position: int):
        self.position = position
        super().__init__(f"{message} at position {position}")


@dataclass(frozen=True)
class Cmp:
    field: str
    key: str | None
    op: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class And:
    parts: tuple["Node", ...]


@dataclass(frozen=True)
class Or:
    parts: tuple["Node", ...]


Node = Union[Cmp, And, Or]


class _Parser:
    def __init__(self, text: str):
        self.s = text
        self.i = 0

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i].isspace():
            self.i += 1

    def peek(self) -> str:
        self.ws()
        return self.s[self.i] if self.i < len(self.s) else ""

    def parse(self) -> Node:
        node = self.expr()
        self.ws()
        if self.i < len(self.s):
            raise FilterError(f"unexpected {self.s[self.i]!r}", self.i)
        return node

    def expr(self) -> Node:
        first = self.term()
        parts, joiner = [first], None
        while (c := self.peek()) in ("+", "|"):
            if joiner is not None and c != joiner:
                raise FilterError(f"cannot mix '+' and '|' without parentheses; found {c!r}", self.i)
            joiner = c
            self.i += 1
            parts.append(self.term())
        if joiner is None:
            return first
        return And(tuple(parts)) if joiner == "+" else Or(tuple(parts))

    def term(self) -> Node:
        if self.peek() == "(":
            self.i += 1
            node = self.expr()
            if self.peek() != ")":
                raise FilterError("expected ')'", self.i)
            self.i += 1
            return node
        return self.cmp()

    def ident(self) -> str:
        self.ws()
        start = self.i
        while self.i < len(self.s) and (self.s[self.i].isalnum() or self.s[self.i] in "_-./"):
            self.i += 1
        return self.s[start : self.i]

    def cmp(self) -> Node:
        self.ws()
        fpos = self.i
        name = self.ident()
        if not name:
            what = repr(self.s[self.i]) if self.i < len(self.s) else "end of filter"
            raise FilterError(f"expected a field name, found {what}", self.i)
        field = FIELDS.get(name.lower())
        if field is None:
            raise FilterError(f"unknown filter field {name!r} (known: {', '.join(sorted(set(FIELDS.values())))})", fpos)
        key = None
        if self.i < len(self.s) and self.s[self.i] == "[":
            if field not in KEYED:
                raise FilterError(f"field {field!r} takes no [key]", self.i)
            self.i += 1
            kstart = self.i
            end = self.s.find("]", self.i)
            if end < 0:
                raise FilterError("expected ']'", len(self.s))
            key = self.s[kstart:end].strip().strip('"')
            if not key:
                raise FilterError("empty [key]", kstart)
            self.i = end + 1
        elif field in KEYED:
            raise FilterError(f"field {field!r} needs a key, e.g. {field}[app]:\"web\"", self.i)
        self.ws()
        op = next((o for o in OPS if self.s.startswith(o, self.i)), None)
        if op is None:
            found = repr(self.s[self.i]) if self.i < len(self.s) else "end of filter"
            raise FilterError(f"expected an operator (:, !:, ~:, !~:, <~:, !<~:, ~>:, !~>:) after {name!r}, found {found}", self.i)
        self.i += len(op)
        values = [self.value()]
        while self.peek() == ",":
            self.i += 1
            values.append(self.value())
        return Cmp(field, key, op, tuple(values))

    def value(self) -> str:
        self.ws()
        if self.i < len(self.s) and self.s[self.i] == '"':
            start = self.i
            self.i += 1
            out = []
            while self.i < len(self.s) and self.s[self.i] != '"':
                if self.s[self.i] == "\\" and self.i + 1 < len(self.s):
                    self.i += 1
                out.append(self.s[self.i])
                self.i += 1
            if self.i >= len(self.s):
                raise FilterError("unterminated string", start)
            self.i += 1
            return "".join(out)
        start = self.i
        v = self.ident()
        if not v:
            found = repr(self.s[self.i]) if self.i < len(self.s) else "end of filter"
            raise FilterError(f"expected a value, found {found}", start)
        return v


def parse_filter(text: str) -> Node | None:
    if text is None or not text.strip():
        return None
    return _Parser(text).parse()


V1_PARAMS = {
    "filterClusters": "cluster",
    "filterNodes": "node",
    "filterNamespaces": "namespace",
    "filterControllerKinds": "controllerKind",
    "filterControllers": "controller",
    "filterPods": "pod",
    "filterContainers": "container",
    "filterServices": "services",
    "filterLabels": "label",
    "filterAnnotations": "annotation",
}


def parse_v1(params: Mapping[str, str]) -> Node | None:
    """v1 parameters: OR within one parameter, AND across parameters, trailing `*` = prefix."""
    ands: list[Node] = []
    for pname, field in V1_PARAMS.items():
        raw = params.get(pname)
        if raw is None or not raw.strip():
            continue
        ors: list[Node] = []
        for item in (x.strip() for x in raw.split(",")):
            if not item:
                continue
            key = None
            if field in KEYED:
                if ":" not in item:
                    raise FilterError(f"{pname}: {item!r} must be key:value", raw.find(item))
                key, item = (x.strip() for x in item.split(":", 1))
            if field == "controller" and ":" in item:
                item = item.split(":", 1)[1]
            op = ":"
            if item.endswith("*"):
                op, item = "<~:", item[:-1]
            ors.append(Cmp(field, key, op, (item,)))
        if ors:
            ands.append(ors[0] if len(ors) == 1 else Or(tuple(ors)))
    if not ands:
        return None
    return ands[0] if len(ands) == 1 else And(tuple(ands))


def combine(a: Node | None, b: Node | None) -> Node | None:
    if a is None:
        return b
    if b is None:
        return a
    return And((a, b))


_MATCH: dict[str, Callable[[str, str], bool]] = {
    ":": lambda have, want: have == want,
    "~:": lambda have, want: want in have,
    "<~:": lambda have, want: have.startswith(want),
    "~>:": lambda have, want: have.endswith(want),
}


def _cmp(node: Cmp, props: Mapping) -> bool:
    if node.field in KEYED:
        have = (props.get(node.field + "s") or {}).get(node.key)
    else:
        have = props.get(node.field)
    negate = node.op.startswith("!")
    base = _MATCH[node.op[1:] if negate else node.op]
    if isinstance(have, (list, tuple)):
        hit = any(base(h, v) for h in have for v in node.values)
    elif have is None:
        hit = any(v == "" for v in node.values) if base is _MATCH[":"] else False
    else:
        hit = any(base(str(have), v) for v in node.values)
    return not hit if negate else hit


def matches(node: Node | None, props: Mapping) -> bool:
    """Evaluate a filter on one allocation's properties (`labels`/`annotations`/`namespaceLabels` dicts)."""
    if node is None:
        return True
    if isinstance(node, Cmp):
        return _cmp(node, props)
    if isinstance(node, And):
        return all(matches(p, props) for p in node.parts)
    return any(matches(p, props) for p in node.parts)
