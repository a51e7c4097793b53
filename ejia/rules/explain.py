"""Chinese explanations of one criterion with the values used, and money shown in yuan."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from .evaluator import Env
from .facts import DERIVED_FROM, FACTS, standard_label
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

MARKS = {True: "✔", False: "✘", None: "？"}
_CMP = {"<": "<", "<=": "≤", ">": ">", ">=": "≥", "==": "=", "!=": "≠"}
_ARITH = {"+": "+", "-": "−", "*": "×", "/": "÷"}
_COMPOSITE = (Arith, Neg, MinMax, RoundYuan, IfElse)


def money(fen: float | int) -> str:
    """¥1,001.00 from 100100 fen."""
    sign = "−" if fen < 0 else ""
    return f"{sign}¥{abs(fen) / 100:,.2f}"


def fmt(value: Any, *, is_money: bool = False, unit: str = "") -> str:
    if value is None:
        return "未知"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int | float):
        if is_money:
            return money(value)
        text = f"{value:,.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
        unit = unit.split("/")[0] if unit else ""
        return f"{text} {unit}".rstrip() if unit else text
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def tri(value: bool | None) -> str:
    return {True: "是", False: "否", None: "待定"}[value]


class Explainer:
    def __init__(self, env: Env, names: Mapping[str, str]) -> None:
        self.env = env
        self.names = names  # programme code → Chinese name

    def criterion(self, node: Node, result: bool | None) -> str:
        return f"{self.render(node, template=False)} {MARKS[result]}"

    # ---------------------------------------------------------------- plain sentences

    def sentence(self, node: Node, result: bool | None) -> str:
        """What a person reads when a condition is not met: "年龄 78 岁，不满 80 岁" rather than
        the formal line; "" when it is met. An unknown condition names what is missing."""
        if result is True:
            return ""
        if result is None:
            missing = self._missing(node)
            return f"还不知道{'、'.join(missing)}，需要核实" if missing else "暂时无法判断，需要核实"
        return self._plain(node) or self.render(node, template=False)

    def _missing(self, node: Node) -> list[str]:
        labels: list[str] = []
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, FactRef) and self._value(n) is None:
                for name in DERIVED_FROM.get(n.name, (n.name,)):
                    label = FACTS[name].label
                    if label not in labels:
                        labels.append(label)
            if isinstance(n, Aggregate):
                continue  # member facts inside an aggregate need the member's scope
            stack.extend(reversed(n.children()))
        return labels

    def _plain(self, node: Node) -> str:
        """A failed condition as a plain sentence, or "" when it has no simple form."""
        if isinstance(node, Compare):
            return self._plain_compare(node)
        if isinstance(node, Not) and isinstance(node.operand, FactRef):
            return FACTS[node.operand.name].label
        if isinstance(node, Not) and isinstance(node.operand, Eligible):
            return f"已符合“{self.names.get(node.operand.code, node.operand.code)}”"
        if isinstance(node, FactRef) and FACTS[node.name].type == "bool":
            return f"{FACTS[node.name].label}：否"
        if isinstance(node, Eligible):
            return f"不符合“{self.names.get(node.code, node.code)}”"
        if isinstance(node, InList) and isinstance(node.operand, FactRef):
            fact = FACTS[node.operand.name]
            items = "、".join(fact.choice_label(v) if fact.type == "enum" else str(v) for v in node.values)
            word = "属于" if node.negate else "不属于"
            return f"{self._FactRef(node.operand, False)}，{word}{items}"
        if isinstance(node, BoolOp):
            parts = [self._plain(item) for item in node.items if self._value(item) is False]
            parts = [p for p in parts if p]
            return "；".join(parts[:3])
        if isinstance(node, Aggregate) and node.kind in ("any", "all"):
            inner = self.render(node.expr, template=True)
            return f"没有成员{inner}" if node.kind == "any" else f"并非所有成员都{inner}"
        return ""

    _FAILED = {">=": "不满", ">": "未超过", "<": "不低于", "<=": "超过", "==": "应为", "!=": "不应为"}

    def _plain_compare(self, node: Compare) -> str:
        left, right = node.left, node.right
        if not isinstance(left, FactRef):
            return ""
        fact = FACTS[left.name]
        if fact.type == "enum" and isinstance(right, Const):
            other = fact.choice_label(right.value)
        elif isinstance(right, Const):
            other = fmt(right.value, is_money=left.money, unit=fact.unit)
        elif isinstance(right, Standard):
            value = self._value(right)
            label = standard_label(right.kind).split("（")[0]
            other = f"{label} {money(value)}" if value is not None else f"{label}（未设置）"
        else:
            value = self._value(right)
            # "24 × 低保标准（元/人·月）" reads as "24 × 低保标准" in a sentence.
            text = re.sub(r"（元[^）]*）", "", self.render(right, template=True))
            other = f"{text}（{fmt(value, is_money=right.money, unit=fact.unit)}）"
        gap = " " if other[:1].isdigit() or other[:1] in "¥−-" else ""
        return f"{self._FactRef(left, False)}，{self._FAILED[node.op]}{gap}{other}"

    def render(self, node: Node, *, template: bool) -> str:
        return getattr(self, f"_{type(node).__name__}")(node, template)

    def _value(self, node: Node) -> Any:
        return node.run(self.env)  # type: ignore[attr-defined]

    def _side(self, node: Node, template: bool) -> str:
        text = self.render(node, template=template)
        if isinstance(node, Arith | Neg | IfElse | BoolOp):
            text = f"（{text}）"
        if not template and isinstance(node, _COMPOSITE):
            text += f" = {fmt(self._value(node), is_money=node.money)}"
        return text

    def _Const(self, node: Const, template: bool) -> str:
        if isinstance(node.value, str):
            return f"“{node.value}”"
        return fmt(node.value, is_money=node.money)

    def _FactRef(self, node: FactRef, template: bool) -> str:
        fact = FACTS[node.name]
        if template:
            return fact.label
        value = self._value(node)
        if value is None:
            missing = [FACTS[s].label for s in DERIVED_FROM.get(node.name, ())]
            return f"{fact.label} 未知" + (f"（缺少：{'、'.join(missing)}）" if missing else "")
        if fact.type == "bool":
            return f"{fact.label}：{fmt(value)}"
        if fact.type == "enum":
            return f"{fact.label} {fact.choice_label(value)}"
        return f"{fact.label} {fmt(value, is_money=node.money, unit=fact.unit)}"

    def _Standard(self, node: Standard, template: bool) -> str:
        label = standard_label(node.kind)
        if template:
            return label
        value = self._value(node)
        return f"{label} {money(value)}" if value is not None else f"{label} 未知（未设置）"

    def _Eligible(self, node: Eligible, template: bool) -> str:
        name = self.names.get(node.code, node.code)
        if template:
            return f"符合“{name}”"
        return f"符合“{name}”：{tri(self._value(node))}"

    def _Known(self, node: Known, template: bool) -> str:
        label = FACTS[node.name].label
        if template:
            return f"{label}已知"
        return f"{label}{'已知' if self._value(node) else '未知'}"

    def _Not(self, node: Not, template: bool) -> str:
        inner = node.operand
        if isinstance(inner, FactRef | Eligible):
            # “not has_business” reads best as the fact with its value; the mark tells pass.
            return self.render(inner, template=template) + ("（否）" if template else "")
        return f"并非（{self.render(inner, template=template)}）"

    def _BoolOp(self, node: BoolOp, template: bool) -> str:
        word = " 且 " if node.op == "and" else " 或 "
        parts = []
        for item in node.items:
            text = self.render(item, template=template)
            parts.append(f"（{text}）" if isinstance(item, BoolOp) else text)
        return word.join(parts)

    def _Compare(self, node: Compare, template: bool) -> str:
        left, right = node.left, node.right
        if isinstance(left, FactRef) and isinstance(right, Const) and FACTS[left.name].type == "enum":
            rtext = f"“{FACTS[left.name].choice_label(right.value)}”"
        else:
            rtext = self._side(right, template)
        return f"{self._side(left, template)} {_CMP[node.op]} {rtext}"

    def _InList(self, node: InList, template: bool) -> str:
        operand = node.operand
        fact = FACTS.get(operand.name) if isinstance(operand, FactRef) else None
        items = "、".join(fact.choice_label(v) if fact and fact.type == "enum" else str(v) for v in node.values)
        return f"{self._side(operand, template)} {'不' if node.negate else ''}属于（{items}）"

    def _Arith(self, node: Arith, template: bool) -> str:
        parts = []
        for side in (node.left, node.right):
            text = self.render(side, template=template)
            parts.append(f"（{text}）" if isinstance(side, Arith | IfElse) else text)
        return f" {_ARITH[node.op]} ".join(parts)

    def _Neg(self, node: Neg, template: bool) -> str:
        return f"−{self.render(node.operand, template=template)}"

    def _IfElse(self, node: IfElse, template: bool) -> str:
        c = self.render(node.cond, template=True)
        t = self.render(node.then, template=True)
        o = self.render(node.other, template=True)
        return f"若{c}则{t}否则{o}"

    def _MinMax(self, node: MinMax, template: bool) -> str:
        word = "较小值" if node.fn == "min" else "较大值"
        return f"{word}（{'、'.join(self.render(i, template=template) for i in node.items)}）"

    def _RoundYuan(self, node: RoundYuan, template: bool) -> str:
        return f"取整到元（{self.render(node.operand, template=template)}）"

    def _Aggregate(self, node: Aggregate, template: bool) -> str:
        inner = self.render(node.expr, template=True)
        value = None if template else self._value(node)
        if node.kind == "any":
            text = f"有成员满足［{inner}］"
            return text if template else f"{text}：{tri(value)}"
        if node.kind == "all":
            text = f"全部成员满足［{inner}］"
            return text if template else f"{text}：{tri(value)}"
        if node.kind == "count":
            text = f"满足［{inner}］的成员人数"
            return text if template else f"{text} {fmt(value, unit='人')}"
        cond = f"（限［{self.render(node.cond, template=True)}］的成员）" if node.cond is not None else ""
        text = f"成员［{inner}］合计{cond}"
        return text if template else f"{text} {fmt(value, is_money=node.money)}"
