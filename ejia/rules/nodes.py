"""The checked form of a rule: a small typed tree that both back-ends walk.

The checker (`checker.py`) turns Python's `ast` into these nodes after whitelisting and
type-checking; the evaluator and the SQL compiler never see Python syntax.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NUMERIC = frozenset({"int", "money", "float"})
TYPE_LABELS = {
    "int": "整数",
    "money": "金额",
    "float": "数值",
    "bool": "真/假",
    "str": "文本",
    "enum": "选项",
    "date": "日期",
}


@dataclass(eq=False)
class Node:
    type: str
    line: int
    col: int
    money: bool = field(default=False, kw_only=True)

    def children(self) -> tuple[Node, ...]:
        return ()

    def walk(self):
        yield self
        for child in self.children():
            yield from child.walk()


@dataclass(eq=False)
class Const(Node):
    value: Any


@dataclass(eq=False)
class FactRef(Node):
    name: str
    scope: str  # "household" | "member"


@dataclass(eq=False)
class Standard(Node):
    kind: str


@dataclass(eq=False)
class Eligible(Node):
    code: str


@dataclass(eq=False)
class Known(Node):
    name: str
    scope: str


@dataclass(eq=False)
class Not(Node):
    operand: Node

    def children(self):
        return (self.operand,)


@dataclass(eq=False)
class BoolOp(Node):
    op: str  # "and" | "or"
    items: tuple[Node, ...]

    def children(self):
        return self.items


@dataclass(eq=False)
class Compare(Node):
    op: str  # < <= > >= == !=
    left: Node
    right: Node

    def children(self):
        return (self.left, self.right)


@dataclass(eq=False)
class InList(Node):
    operand: Node
    values: tuple[Any, ...]
    negate: bool

    def children(self):
        return (self.operand,)


@dataclass(eq=False)
class Arith(Node):
    op: str  # + - * /
    left: Node
    right: Node

    def children(self):
        return (self.left, self.right)


@dataclass(eq=False)
class Neg(Node):
    operand: Node

    def children(self):
        return (self.operand,)


@dataclass(eq=False)
class IfElse(Node):
    cond: Node
    then: Node
    other: Node

    def children(self):
        return (self.cond, self.then, self.other)


@dataclass(eq=False)
class Aggregate(Node):
    kind: str  # any | all | count | sum
    expr: Node
    cond: Node | None

    def children(self):
        return (self.expr,) if self.cond is None else (self.expr, self.cond)


@dataclass(eq=False)
class MinMax(Node):
    fn: str  # min | max
    items: tuple[Node, ...]

    def children(self):
        return self.items


@dataclass(eq=False)
class RoundYuan(Node):
    operand: Node

    def children(self):
        return (self.operand,)
