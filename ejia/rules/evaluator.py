"""The explained back-end: each checked node becomes a Python closure with SQL's NULL logic.

Unknown is `None` and behaves exactly like SQL NULL (Kleene logic): it propagates through
comparisons and arithmetic, `False and unknown` is False, `True or unknown` is True. The SQL
back-end (`sql.py`) must agree on every value, so numeric rules mirror what a database does:
true division in doubles, division by zero is unknown, integers stay integers.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from .household import STD_PREFIX
from .nodes import (
    Aggregate,
    Arith,
    BoolOp,
    Compare,
    Const,
    Eligible,
    FactRef,
    IfElse,
    InList,
    Known,
    MinMax,
    Neg,
    Node,
    Not,
    RoundYuan,
    Standard,
)

Fn = Callable[["Env"], Any]

_CMP = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


class Env:
    """What a rule can see while one household is evaluated."""

    __slots__ = ("elig_h", "elig_m", "h", "m", "members", "mi")

    def __init__(self, h: dict[str, Any], members: list[dict[str, Any]]) -> None:
        self.h = h
        self.members = members
        self.m: dict[str, Any] | None = None
        self.mi = -1
        self.elig_h: dict[str, bool | None] = {}
        self.elig_m: dict[str, list[bool | None]] = {}


def kleene_and(values) -> bool | None:
    unknown = False
    for v in values:
        if v is False:
            return False
        if v is None:
            unknown = True
    return None if unknown else True


def kleene_any(values) -> bool | None:
    unknown = False
    for v in values:
        if v is True:
            return True
        if v is None:
            unknown = True
    return None if unknown else False


def round_yuan(x: float | int) -> int:
    # Half up to whole yuan, in doubles like the database: floor((x + 50) / 100) × 100.
    return math.floor((x + 50) / 100) * 100


def to_fen(value: Any, type_: str) -> int | None:
    """An amount as whole fen; a fractional amount is rounded half up, as in SQL."""
    if value is None:
        return None
    if type_ == "float":
        return math.floor(value + 0.5)
    return int(value)


class Compiler:
    """Compiles nodes of one programme; `targets` says which programmes are per member."""

    def __init__(self, *, target: str, targets: Mapping[str, str]) -> None:
        self.target = target
        self.targets = targets
        self._in_member = target == "member"

    def compile(self, node: Node) -> Fn:
        fn = getattr(self, f"_{type(node).__name__}")(node)
        node.run = fn  # type: ignore[attr-defined] — the explainer recomputes parts with it
        return fn

    def _Const(self, node: Const) -> Fn:
        value = node.value
        return lambda e: value

    def _FactRef(self, node: FactRef) -> Fn:
        name = node.name
        if node.scope == "member":
            return lambda e: e.m[name]
        return lambda e: e.h[name]

    def _Standard(self, node: Standard) -> Fn:
        key = STD_PREFIX + node.kind
        return lambda e: e.h.get(key)

    def _Eligible(self, node: Eligible) -> Fn:
        code = node.code
        if self._in_member and self.targets.get(code) == "member":
            return lambda e: e.elig_m[code][e.mi]
        return lambda e: e.elig_h[code]

    def _Known(self, node: Known) -> Fn:
        name = node.name
        if node.scope == "member":
            return lambda e: e.m[name] is not None
        return lambda e: e.h[name] is not None

    def _Not(self, node: Not) -> Fn:
        f = self.compile(node.operand)

        def fn(e):
            v = f(e)
            return None if v is None else not v

        return fn

    def _BoolOp(self, node: BoolOp) -> Fn:
        fs = [self.compile(i) for i in node.items]
        stop = node.op != "and"  # and stops at False, or stops at True

        def fn(e):
            unknown = False
            for f in fs:
                v = f(e)
                if v is None:
                    unknown = True
                elif v is stop:
                    return stop
            return None if unknown else not stop

        return fn

    def _Compare(self, node: Compare) -> Fn:
        lf, rf, op = self.compile(node.left), self.compile(node.right), _CMP[node.op]

        def fn(e):
            a = lf(e)
            if a is None:
                return None
            b = rf(e)
            if b is None:
                return None
            return op(a, b)

        return fn

    def _InList(self, node: InList) -> Fn:
        f, values, negate = self.compile(node.operand), frozenset(node.values), node.negate

        def fn(e):
            v = f(e)
            if v is None:
                return None
            return (v in values) != negate

        return fn

    def _Arith(self, node: Arith) -> Fn:
        lf, rf, op = self.compile(node.left), self.compile(node.right), node.op

        if op == "/":

            def fn(e):
                a, b = lf(e), rf(e)
                if a is None or b is None or b == 0:
                    return None
                return a / b

            return fn
        binop = {"+": operator.add, "-": operator.sub, "*": operator.mul}[op]

        def fn(e):
            a = lf(e)
            if a is None:
                return None
            b = rf(e)
            if b is None:
                return None
            return binop(a, b)

        return fn

    def _Neg(self, node: Neg) -> Fn:
        f = self.compile(node.operand)

        def fn(e):
            v = f(e)
            return None if v is None else -v

        return fn

    def _IfElse(self, node: IfElse) -> Fn:
        cf, tf, of = self.compile(node.cond), self.compile(node.then), self.compile(node.other)

        def fn(e):
            c = cf(e)
            if c is None:
                return None
            return tf(e) if c else of(e)

        return fn

    def _MinMax(self, node: MinMax) -> Fn:
        fs = [self.compile(i) for i in node.items]
        pick = min if node.fn == "min" else max

        def fn(e):
            values = [f(e) for f in fs]
            if any(v is None for v in values):
                return None
            return pick(values)

        return fn

    def _RoundYuan(self, node: RoundYuan) -> Fn:
        f = self.compile(node.operand)

        def fn(e):
            v = f(e)
            return None if v is None else round_yuan(v)

        return fn

    def _Aggregate(self, node: Aggregate) -> Fn:
        was = self._in_member
        self._in_member = True
        try:
            ef = self.compile(node.expr)
            cf = self.compile(node.cond) if node.cond is not None else None
        finally:
            self._in_member = was
        kind = node.kind

        def over_members(e, step):
            saved = e.m, e.mi
            out = []
            try:
                for i, m in enumerate(e.members):
                    e.m, e.mi = m, i
                    out.append(step(e))
            finally:
                e.m, e.mi = saved
            return out

        if kind == "any":
            return lambda e: kleene_any(over_members(e, ef))
        if kind == "all":

            def all_fn(e):
                negated = kleene_any(None if v is None else not v for v in over_members(e, ef))
                return None if negated is None else not negated

            return all_fn
        if kind == "count":

            def count_fn(e):
                n = 0
                for v in over_members(e, ef):
                    if v is None:
                        return None
                    n += v
                return n

            return count_fn

        def sum_step(e):
            c = True if cf is None else cf(e)
            if c is None:
                return None
            if not c:
                return 0
            return ef(e)

        def sum_fn(e):
            total = 0
            for v in over_members(e, sum_step):
                if v is None:
                    return None
                total += v
            return total

        return sum_fn
