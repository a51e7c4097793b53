"""Parse and type-check one rule expression into the typed tree of `nodes.py`.

Python's own parser (`ast.parse(mode="eval")`) reads the text; only the node kinds below are
accepted, so nothing is ever executed. Every problem becomes a `RuleError` with a Chinese
message and the line and column where it is.
"""

from __future__ import annotations

import ast
import difflib
import io
import re
import tokenize
import warnings
from collections.abc import Collection
from typing import Literal

from .errors import RuleError
from .facts import FACTS, STANDARD_KINDS, is_money
from .nodes import (
    NUMERIC,
    TYPE_LABELS,
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

MAX_LENGTH = 4000
MAX_INT = 2**53  # beyond this a double cannot hold the integer, and the SQL back-end would disagree

AGGREGATES = {"any_member": "any", "all_members": "all", "count_members": "count", "sum_members": "sum"}
FUNCTIONS = (
    "standard",
    "eligible",
    "known",
    *AGGREGATES,
    "min",
    "max",
    "round_yuan",
    "yuan",
)
_CMP = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_UNSUPPORTED = {
    ast.Attribute: "属性访问（.）",
    ast.Subscript: "下标（[]）",
    ast.Lambda: "lambda",
    ast.Dict: "字典",
    ast.Set: "集合",
    ast.ListComp: "列表推导",
    ast.GeneratorExp: "生成器",
    ast.JoinedStr: "f-字符串",
    ast.Starred: "星号展开",
    ast.NamedExpr: "赋值表达式（:=）",
    ast.Await: "await",
}
_OP_NAMES = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.MatMult: "@",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.Invert: "~",
    ast.Is: "is",
    ast.IsNot: "is not",
}


def suggest(name: str, candidates: Collection[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.4)
    return f"，您是否想写“{close[0]}”？" if close else "。"


def _tname(node: Node) -> str:
    return TYPE_LABELS.get(node.type, node.type)


class Checker:
    """Checks one expression for one programme target.

    In a household programme member facts may be named only inside a member aggregate; in a
    member programme the expression is evaluated once per member, so both scopes are open.
    """

    def __init__(
        self,
        source: str,
        *,
        target: str,
        programme_codes: Collection[str] | None = None,
    ) -> None:
        self.source = source
        self.target = target
        self.programme_codes = programme_codes
        self._line_shift = 0
        self._lines: list[str] = []
        self._aggregate_depth = 0

    # ---- entry point
    def check(self, kind: Literal["criterion", "amount"]) -> Node:
        if not isinstance(self.source, str):
            raise RuleError("表达式必须是文本")
        if not self.source.strip():
            raise RuleError("表达式为空")
        if len(self.source) > MAX_LENGTH:
            raise RuleError(f"表达式过长（超过{MAX_LENGTH}个字符）")
        tree = self._parse()
        try:
            node = self._expr(tree.body)
        except RecursionError:
            raise RuleError("表达式嵌套过深") from None
        if kind == "criterion" and node.type != "bool":
            raise self._error(tree.body, f"条件必须是真/假判断，这里得到的是{_tname(node)}")
        if kind == "amount" and node.type not in NUMERIC:
            raise self._error(tree.body, f"金额公式必须得到数值，这里得到的是{_tname(node)}")
        return node

    def _parse(self) -> ast.Expression:
        text = self.source.strip()
        lead = self.source[: len(self.source) - len(self.source.lstrip())]
        if "\x00" in text:
            raise RuleError("表达式含有不可见的空字符")
        # A rule written over several lines is read as if it were in parentheses, as a clerk
        # would expect; the position of an error is still told in the clerk's own lines.
        first_line = lead.count("\n") + 1
        multi = "\n" in text
        src = f"(\n{text}\n)" if multi else text
        self._line_shift = (1 if multi else 0) - (first_line - 1)
        self._lines = src.split("\n")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # “1if x” warns in Python; the clerk sees our errors only
                tree = ast.parse(src, mode="eval")
        except SyntaxError as exc:
            line = (exc.lineno or 1) - self._line_shift
            col = exc.offset or 1
            reason = _syntax_reason(exc)
            if reason == "无法识别的写法" and re.search(r"(?<![=<>!])=(?!=)", text):
                reason = "比较是否相等请用 ==，不能用 ="
            raise RuleError(f"语法错误：{reason}", line=max(line, 1), col=max(col, 1)) from None
        except (ValueError, RecursionError, MemoryError, OverflowError):
            raise RuleError("表达式无法解析") from None
        if multi:
            self._check_wrapping(src)
        return tree

    def _check_wrapping(self, src: str) -> None:
        # The added parentheses must not pair with the clerk's own: “a) or (b” is an error.
        depth = 0
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(src).readline))
        except (tokenize.TokenError, SyntaxError, IndentationError):
            return
        opening = [t for t in tokens if t.type == tokenize.OP and t.string in "([{)]}"]
        for i, tok in enumerate(opening):
            depth += 1 if tok.string in "([{" else -1
            if depth == 0 and i != len(opening) - 1:
                raise RuleError("括号不匹配", line=max(tok.start[0] - self._line_shift, 1), col=tok.start[1] + 1)

    # ---- positions and errors
    def _pos(self, node: ast.AST) -> tuple[int, int]:
        lineno = getattr(node, "lineno", 1) or 1
        offset = getattr(node, "col_offset", 0) or 0
        text = self._lines[lineno - 1] if 0 < lineno <= len(self._lines) else ""
        col = len(text.encode("utf-8")[:offset].decode("utf-8", errors="ignore")) + 1
        return max(lineno - self._line_shift, 1), col

    def _error(self, node: ast.AST, problem: str) -> RuleError:
        line, col = self._pos(node)
        return RuleError(problem, line=line, col=col)

    def _snippet(self, node: ast.AST) -> str:
        try:
            text = ast.get_source_segment("\n".join(self._lines), node) or ""
        except Exception:  # a snippet is a courtesy, never a reason to fail
            text = ""
        return text if len(text) <= 40 else text[:37] + "…"

    # ---- expressions
    def _expr(self, node: ast.AST) -> Node:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            what = _UNSUPPORTED.get(type(node))
            snippet = self._snippet(node)
            if what:
                raise self._error(node, f"不支持的写法：{what}“{snippet}”")
            raise self._error(node, f"不支持的写法“{snippet}”")
        return method(node)

    def _Constant(self, node: ast.Constant) -> Node:
        line, col = self._pos(node)
        value = node.value
        if isinstance(value, bool):
            return Const("bool", line, col, value)
        if isinstance(value, int):
            if abs(value) >= MAX_INT:
                raise self._error(node, "数字过大")
            return Const("int", line, col, value)
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")) or abs(value) >= MAX_INT:
                raise self._error(node, "数字无效或过大")
            return Const("float", line, col, value)
        if isinstance(value, str):
            return Const("str", line, col, value)
        if value is None:
            raise self._error(node, "不支持 None：未知的值由系统自动按“未知”处理，可用 known(事实) 判断")
        raise self._error(node, f"不支持的常量“{self._snippet(node)}”")

    def _Name(self, node: ast.Name) -> Node:
        line, col = self._pos(node)
        fact = FACTS.get(node.id)
        if fact is None:
            if node.id in FUNCTIONS:
                raise self._error(node, f"函数“{node.id}”需要加括号调用，如 {node.id}(…)")
            raise self._error(node, f"未知的事实“{node.id}”" + suggest(node.id, FACTS))
        self._check_scope(node, fact.name, fact.scope, fact.label)
        return FactRef(fact.type, line, col, fact.name, fact.scope, money=is_money(fact))

    def _check_scope(self, node: ast.AST, name: str, scope: str, label: str) -> None:
        if scope == "member" and self.target == "household" and self._aggregate_depth == 0:
            raise self._error(
                node,
                f"成员事实“{name}”（{label}）在家庭项目中只能写在 any_member、all_members、"
                "count_members 或 sum_members 之内",
            )

    def _BoolOp(self, node: ast.BoolOp) -> Node:
        op = "and" if isinstance(node.op, ast.And) else "or"
        items = tuple(self._expr(v) for v in node.values)
        for raw, item in zip(node.values, items, strict=True):
            if item.type != "bool":
                word = "并且（and）" if op == "and" else "或者（or）"
                raise self._error(raw, f"类型错误：{word}的两边必须是真/假判断，这里是{_tname(item)}")
        line, col = self._pos(node)
        return BoolOp("bool", line, col, op, items)

    def _UnaryOp(self, node: ast.UnaryOp) -> Node:
        operand = self._expr(node.operand)
        line, col = self._pos(node)
        if isinstance(node.op, ast.Not):
            if operand.type != "bool":
                raise self._error(node, f"类型错误：not 只能用于真/假判断，这里是{_tname(operand)}")
            return Not("bool", line, col, operand)
        if isinstance(node.op, ast.USub | ast.UAdd):
            if operand.type not in NUMERIC:
                raise self._error(node, f"类型错误：正负号只能用于数值，这里是{_tname(operand)}")
            if isinstance(node.op, ast.UAdd):
                return operand
            if isinstance(operand, Const):
                return Const(operand.type, line, col, -operand.value, money=operand.money)
            return Neg(operand.type, line, col, operand, money=operand.money)
        raise self._error(node, f"不支持的运算“{_OP_NAMES.get(type(node.op), '?')}”")

    def _BinOp(self, node: ast.BinOp) -> Node:
        op = _ARITH.get(type(node.op))
        if op is None:
            name = _OP_NAMES.get(type(node.op), "?")
            hint = "，除法请用 /，取整请用 round_yuan()" if name in ("//", "%") else ""
            raise self._error(node, f"不支持的运算“{name}”{hint}")
        left = self._expr(node.left)
        right = self._expr(node.right)
        for raw, side, where in ((node.left, left, "左边"), (node.right, right, "右边")):
            if side.type not in NUMERIC:
                raise self._error(raw, f"类型错误：“{op}”的{where}必须是数值，这里是{_tname(side)}")
        if op == "/" or "float" in (left.type, right.type):
            rtype = "float"
        elif "money" in (left.type, right.type):
            rtype = "money"
        else:
            rtype = "int"
        money = (left.money and not right.money) if op == "/" else (left.money or right.money)
        line, col = self._pos(node)
        return Arith(rtype, line, col, op, left, right, money=money)

    def _Compare(self, node: ast.Compare) -> Node:
        line, col = self._pos(node)
        parts: list[Node] = []
        left_raw = node.left
        left = self._expr(node.left)
        for op_ast, right_raw in zip(node.ops, node.comparators, strict=True):
            if isinstance(op_ast, ast.In | ast.NotIn):
                parts.append(self._in(node, left, left_raw, right_raw, negate=isinstance(op_ast, ast.NotIn)))
                left_raw, left = right_raw, None  # a list cannot be chained further
                continue
            op = _CMP.get(type(op_ast))
            if op is None:
                raise self._error(node, f"不支持的比较“{_OP_NAMES.get(type(op_ast), '?')}”，请用 == 或 !=")
            if left is None:
                raise self._error(right_raw, "in 之后不能再接比较")
            right = self._expr(right_raw)
            self._check_compare(left_raw, op, left, right)
            parts.append(Compare("bool", line, col, op, left, right))
            left_raw, left = right_raw, right
        if len(parts) == 1:
            return parts[0]
        return BoolOp("bool", line, col, "and", tuple(parts))

    def _check_compare(self, raw: ast.AST, op: str, left: Node, right: Node) -> None:
        lt, rt = left.type, right.type
        if lt in NUMERIC and rt in NUMERIC:
            return
        if lt == rt == "date":
            return
        if {lt, rt} <= {"str", "enum"} or lt == rt == "bool":
            if op not in ("==", "!="):
                raise self._error(raw, f"类型错误：{TYPE_LABELS[lt]}只能用 == 或 != 比较")
            for fact_side, lit in ((left, right), (right, left)):
                self._check_choice(raw, fact_side, lit)
            return
        raise self._error(raw, f"类型错误：不能比较{_tname(left)}与{_tname(right)}")

    def _check_choice(self, raw: ast.AST, fact_side: Node, lit: Node) -> None:
        if isinstance(fact_side, FactRef) and fact_side.type == "enum" and isinstance(lit, Const):
            fact = FACTS[fact_side.name]
            codes = [c for c, _ in fact.choices]
            if lit.value not in codes:
                options = "、".join(f"{c}（{label}）" for c, label in fact.choices)
                raise self._error(raw, f"“{fact.name}”（{fact.label}）没有取值“{lit.value}”，可选：{options}")

    def _in(self, node: ast.AST, left: Node | None, left_raw: ast.AST, raw: ast.AST, *, negate: bool) -> Node:
        if left is None:
            raise self._error(raw, "in 之后不能再接比较")
        if not isinstance(raw, ast.Tuple | ast.List):
            raise self._error(raw, "in 后面必须是用括号写出的取值列表，如 (1, 2)")
        if not raw.elts:
            raise self._error(raw, "in 后面的取值列表不能为空")
        values = []
        for elt in raw.elts:
            item = self._expr(elt)
            if not isinstance(item, Const):
                raise self._error(elt, "in 后面的列表只能写常量")
            values.append(item)
        if left.type in ("str", "enum"):
            want = "str"
        elif left.type in ("int", "money"):
            want = "int"
        else:
            raise self._error(left_raw, f"类型错误：in 只能用于整数、文本或选项，这里是{_tname(left)}")
        for elt, item in zip(raw.elts, values, strict=True):
            if item.type != want:
                raise self._error(elt, f"类型错误：列表中的“{self._snippet(elt)}”应是{TYPE_LABELS[want]}")
            self._check_choice(elt, left, item)
        line, col = self._pos(node)
        return InList("bool", line, col, left, tuple(v.value for v in values), negate)

    def _IfExp(self, node: ast.IfExp) -> Node:
        cond = self._expr(node.test)
        if cond.type != "bool":
            raise self._error(node.test, f"类型错误：if 后的条件必须是真/假判断，这里是{_tname(cond)}")
        then = self._expr(node.body)
        other = self._expr(node.orelse)
        if then.type in NUMERIC and other.type in NUMERIC:
            if "float" in (then.type, other.type):
                rtype = "float"
            elif "money" in (then.type, other.type):
                rtype = "money"
            else:
                rtype = "int"
        elif then.type == other.type or {then.type, other.type} <= {"str", "enum"}:
            rtype = then.type if then.type == other.type else "str"
        else:
            raise self._error(node, f"类型错误：if/else 两个分支的类型不一致（{_tname(then)}与{_tname(other)}）")
        line, col = self._pos(node)
        return IfElse(rtype, line, col, cond, then, other, money=then.money or other.money)

    def _Call(self, node: ast.Call) -> Node:
        if not isinstance(node.func, ast.Name):
            raise self._error(node, f"不支持的函数调用“{self._snippet(node.func)}”")
        name = node.func.id
        if name not in FUNCTIONS:
            raise self._error(node, f"未知的函数“{name}”" + suggest(name, FUNCTIONS))
        if node.keywords:
            raise self._error(node, f"函数“{name}”不接受 名称=值 形式的参数")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self._error(arg, "不支持星号展开")
        return getattr(self, f"_fn_{name}")(node)

    def _arity(self, node: ast.Call, low: int, high: int | None = None) -> None:
        n = len(node.args)
        high = low if high is None else high
        if n < low or (high >= 0 and n > high):
            name = node.func.id  # type: ignore[attr-defined]
            if low == high:
                want = f"{low} 个参数"
            elif high < 0:
                want = f"至少 {low} 个参数"
            else:
                want = f"{low}–{high} 个参数"
            raise self._error(node, f"函数“{name}”需要{want}，这里给了 {n} 个")

    def _string_arg(self, node: ast.Call, what: str) -> str:
        arg = node.args[0]
        if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
            raise self._error(arg, f"{node.func.id}() 的参数必须是{what}，用引号写出")  # type: ignore[attr-defined]
        return arg.value

    def _fn_standard(self, node: ast.Call) -> Node:
        self._arity(node, 1)
        kind = self._string_arg(node, '救助标准种类，如 "dibao"')
        if kind not in STANDARD_KINDS:
            raise self._error(node.args[0], f"未知的救助标准种类“{kind}”" + suggest(kind, STANDARD_KINDS))
        line, col = self._pos(node)
        return Standard("money", line, col, kind, money=True)

    def _fn_eligible(self, node: ast.Call) -> Node:
        self._arity(node, 1)
        code = self._string_arg(node, '项目代码，如 "dibao"')
        if self.programme_codes is not None and code not in self.programme_codes:
            raise self._error(node.args[0], f"未知的项目代码“{code}”" + suggest(code, self.programme_codes))
        line, col = self._pos(node)
        return Eligible("bool", line, col, code)

    def _fn_known(self, node: ast.Call) -> Node:
        self._arity(node, 1)
        arg = node.args[0]
        if isinstance(arg, ast.Name):
            name = arg.id
        elif isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            name = arg.value
        else:
            raise self._error(arg, "known() 的参数必须是一个事实名称，如 known(income_month_fen)")
        fact = FACTS.get(name)
        if fact is None:
            raise self._error(arg, f"未知的事实“{name}”" + suggest(name, FACTS))
        self._check_scope(arg, fact.name, fact.scope, fact.label)
        line, col = self._pos(node)
        return Known("bool", line, col, fact.name, fact.scope)

    def _aggregate(self, node: ast.Call, kind: str) -> Node:
        name = node.func.id  # type: ignore[attr-defined]
        if self._aggregate_depth:
            raise self._error(node, f"成员聚合函数不能嵌套（{name} 写在了另一个聚合函数之内）")
        self._aggregate_depth += 1
        try:
            args = [self._expr(a) for a in node.args]
        finally:
            self._aggregate_depth -= 1
        line, col = self._pos(node)
        if kind == "sum":
            expr, cond = args[0], (args[1] if len(args) > 1 else None)
            if expr.type not in NUMERIC:
                raise self._error(node.args[0], f"类型错误：sum_members 的第一个参数必须是数值，这里是{_tname(expr)}")
            if cond is not None and cond.type != "bool":
                raise self._error(node.args[1], f"类型错误：sum_members 的条件必须是真/假判断，这里是{_tname(cond)}")
            return Aggregate(expr.type, line, col, "sum", expr, cond, money=expr.money)
        if args[0].type != "bool":
            raise self._error(node.args[0], f"类型错误：{name} 的参数必须是真/假判断，这里是{_tname(args[0])}")
        return Aggregate("int" if kind == "count" else "bool", line, col, kind, args[0], None)

    def _fn_any_member(self, node: ast.Call) -> Node:
        self._arity(node, 1)
        return self._aggregate(node, "any")

    def _fn_all_members(self, node: ast.Call) -> Node:
        self._arity(node, 1)
        return self._aggregate(node, "all")

    def _fn_count_members(self, node: ast.Call) -> Node:
        self._arity(node, 1)
        return self._aggregate(node, "count")

    def _fn_sum_members(self, node: ast.Call) -> Node:
        self._arity(node, 1, 2)
        return self._aggregate(node, "sum")

    def _numeric_args(self, node: ast.Call) -> list[Node]:
        args = [self._expr(a) for a in node.args]
        for raw, arg in zip(node.args, args, strict=True):
            if arg.type not in NUMERIC:
                raise self._error(raw, f"类型错误：{node.func.id}() 的参数必须是数值，这里是{_tname(arg)}")  # type: ignore[attr-defined]
        return args

    def _minmax(self, node: ast.Call, fn: str) -> Node:
        self._arity(node, 2, -1)
        args = self._numeric_args(node)
        types = {a.type for a in args}
        rtype = "float" if "float" in types else "money" if "money" in types else "int"
        line, col = self._pos(node)
        return MinMax(rtype, line, col, fn, tuple(args), money=any(a.money for a in args))

    def _fn_min(self, node: ast.Call) -> Node:
        return self._minmax(node, "min")

    def _fn_max(self, node: ast.Call) -> Node:
        return self._minmax(node, "max")

    def _fn_round_yuan(self, node: ast.Call) -> Node:
        self._arity(node, 1)
        (arg,) = self._numeric_args(node)
        line, col = self._pos(node)
        return RoundYuan("money", line, col, arg, money=True)

    def _fn_yuan(self, node: ast.Call) -> Node:
        self._arity(node, 1)
        (arg,) = self._numeric_args(node)
        line, col = self._pos(node)
        rtype = "float" if arg.type == "float" else "money"
        if isinstance(arg, Const):
            value = arg.value * 100
            if abs(value) >= MAX_INT:
                raise self._error(node, "数字过大")
            return Const(rtype, line, col, value, money=True)
        hundred = Const("int", line, col, 100)
        return Arith(rtype, line, col, "*", arg, hundred, money=True)


def _syntax_reason(exc: SyntaxError) -> str:
    msg = (exc.msg or "").lower()
    if "never closed" in msg or "unexpected eof" in msg or "was not closed" in msg:
        return "括号没有闭合"
    if "unmatched" in msg or "does not match" in msg:
        return "括号不匹配"
    if "unterminated string" in msg or "eol while scanning" in msg:
        return "引号没有闭合"
    if "indent" in msg:
        return "缩进不正确"
    if "invalid character" in msg:
        return "含有无效字符（请使用英文半角符号）"
    if "cannot assign" in msg or "maybe you meant '=='" in msg:
        return "比较是否相等请用 ==，不能用 ="
    return "无法识别的写法"


def parse_expression(
    expr: str,
    *,
    target: str,
    kind: Literal["criterion", "amount"],
    programme_codes: Collection[str] | None = None,
) -> Node:
    if target not in ("household", "member"):
        raise RuleError(f"未知的项目对象“{target}”，应为 household 或 member")
    return Checker(expr, target=target, programme_codes=programme_codes).check(kind)


def check_expression(
    expr: str,
    *,
    target: str,
    kind: Literal["criterion", "amount"],
    programme_codes: Collection[str] | None = None,
) -> None:
    """Raise `RuleError` if `expr` is not a valid rule of this kind for this target."""
    parse_expression(expr, target=target, kind=kind, programme_codes=programme_codes)
