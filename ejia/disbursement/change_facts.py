"""What a change report carries: each kind of change names the rule-engine facts it changes.

A change report is only as good as the facts it records: "收入变化" with a note re-evaluates
to "继续享受" because the engine never sees the new income. So every kind lists the facts of
the one registry (ejia.rules.facts) it may change, its form is made from those facts (labels,
types, units and choices come from the registry, never repeated here), and the facts go to
the one engine input builder as the household's declared facts, with their source and date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from django import forms
from django.utils.translation import gettext_lazy as _

from ejia.core.idnumber import InvalidIdNumber, parse
from ejia.registry.models import Relation
from ejia.rules.facts import FACTS, Fact

# Who the change is about: nobody in particular (a household fact), one current member, or a
# person who joins the household (named by ID number).
Subject = Literal["household", "member", "newcomer"]


@dataclass(frozen=True)
class ChangeKind:
    code: str
    label: str
    subject: Subject
    facts: tuple[str, ...]
    # What the change drives, in one sentence (the page and docs/dynamic.md say it).
    drives: str
    # A rise in income is what 渐退期 is for; other losses of eligibility end the benefit.
    income: bool = False


CHANGE_KINDS: dict[str, ChangeKind] = {
    k.code: k
    for k in (
        ChangeKind(
            "income_change",
            _("收入变化"),
            "member",
            ("income_month_fen", "pension_month_fen"),
            _("按新收入重新评估每个项目：调整金额；超过标准的进入渐退期（项目设有渐退期时）或终止；转入低保边缘等"),
            income=True,
        ),
        ChangeKind(
            "employment",
            _("就业或失业"),
            "member",
            ("employment", "income_month_fen"),
            _("就业收入超过标准进入渐退期；失业、收入下降时重新核定金额或转入低保"),
            income=True,
        ),
        ChangeKind(
            "member_joined",
            _("家庭成员增加"),
            "newcomer",
            ("income_month_fen", "employment", "disability_grade", "school_stage"),
            _("新成员计入家庭人口（出生、婚入、迁入），按新的人口和收入重新核定"),
        ),
        ChangeKind(
            "moved_out",
            _("家庭成员迁出"),
            "member",
            (),
            _("成员自迁出之日起不再计入家庭人口，本人的待遇自次月起终止，家庭的金额重新核定"),
        ),
        ChangeKind(
            "death",
            _("家庭成员死亡"),
            "member",
            (),
            _("成员不再计入家庭人口，本人的待遇自次月起终止，家庭的金额重新核定，死亡后已发放的列入待追回"),
        ),
        ChangeKind(
            "disability",
            _("残疾人证变化"),
            "member",
            ("disability_grade", "disability_kind", "self_care"),
            _("重新核定残疾人两项补贴、特困人员照料护理档次等"),
        ),
        ChangeKind(
            "vehicle",
            _("新增或处置车辆"),
            "household",
            ("vehicles",),
            _("有非生活必需车辆的不符合低保、低保边缘条件，重新评估后终止或恢复"),
        ),
        ChangeKind(
            "property",
            _("房产变化"),
            "household",
            ("housing_units", "housing_condition"),
            _("房产超过规定的不符合低保条件；住房状况影响住房救助"),
        ),
        ChangeKind(
            "business",
            _("经营主体登记"),
            "household",
            ("has_business",),
            _("有工商登记经营主体的不符合低保条件，重新评估"),
        ),
        ChangeKind(
            "assets",
            _("存款等金融资产变化"),
            "household",
            ("financial_assets_fen",),
            _("人均金融资产超过规定倍数的不符合低保、低保边缘条件"),
        ),
        ChangeKind(
            "medical_costs",
            _("大额医疗费用"),
            "household",
            ("medical_oop_year_fen",),
            _("医疗自付费用过大的可认定为支出型困难家庭，或转入低保"),
        ),
        ChangeKind(
            "illness",
            _("重病或慢性病"),
            "member",
            ("serious_illness", "chronic_illness", "medical_oop_year_member_fen"),
            _("重新评估医疗救助、临时救助和支出型困难认定"),
        ),
        ChangeKind(
            "school_stage",
            _("学段变化"),
            "member",
            ("school_stage", "boarding"),
            _("重新核定教育资助（升学、毕业、寄宿）"),
        ),
        ChangeKind(
            "other",
            _("其他变化"),
            "household",
            (),
            _("记录在案，按登记的情况重新评估"),
        ),
    )
}

DECLARED_BY_HOUSEHOLD = "household"
FOUND_ON_VISIT = "visit"
DEPARTMENT_FILE = "department"
SOURCE_CHOICES = (
    (DECLARED_BY_HOUSEHOLD, _("家庭成员申报")),
    (FOUND_ON_VISIT, _("入户走访或群众反映核实")),
    (DEPARTMENT_FILE, _("部门数据")),
)

_BOOL_CHOICES = (("", "—"), ("1", _("是")), ("0", _("否")))


def kind_choices() -> list[tuple[str, str]]:
    return [(k.code, k.label) for k in CHANGE_KINDS.values()]


def _fact_field(fact: Fact) -> forms.Field:
    """A form field for one fact of the registry: its label, unit and type."""
    label = f"{fact.label}（{fact.unit}）" if fact.unit else fact.label
    if fact.type == "money":
        return forms.DecimalField(
            label=label,
            required=False,
            min_value=0,
            max_digits=12,
            decimal_places=2,
            help_text=fact.help,
            error_messages={"invalid": _("请填写金额（元），如 3500 或 3500.50。")},
        )
    if fact.type == "int":
        return forms.IntegerField(label=label, required=False, min_value=0, max_value=99, help_text=fact.help)
    if fact.type == "bool":
        return forms.ChoiceField(label=label, required=False, choices=_BOOL_CHOICES, help_text=fact.help)
    if fact.type == "enum":
        return forms.ChoiceField(label=label, required=False, choices=(("", "—"), *fact.choices), help_text=fact.help)
    raise ValueError(f"fact {fact.name} of type {fact.type} has no change-report field")


def fact_value(fact: Fact, raw: Any) -> Any:
    """The engine's value of a cleaned form value (yuan → fen; "1"/"0" → bool); None if blank."""
    if raw in (None, ""):
        return None
    if fact.type == "money":
        return int((Decimal(raw) * 100).to_integral_value())
    if fact.type == "bool":
        return raw == "1"
    return raw


def form_value(fact: Fact, value: Any) -> Any:
    """The form's initial value of an engine value (fen → yuan)."""
    if value is None:
        return None
    if fact.type == "money":
        return Decimal(int(value)) / 100
    if fact.type == "bool":
        return "1" if value else "0"
    return value


class ChangeFactsForm(forms.Form):
    """The form of one kind of change: who, the new facts, their source and the date."""

    effective_on = forms.DateField(
        label=_("发生日期"),
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"required": _("请填写变化发生的日期。"), "invalid": _("请填写有效的日期。")},
    )
    source = forms.ChoiceField(label=_("信息来源"), choices=SOURCE_CHOICES)
    source_detail = forms.CharField(
        label=_("申报人或部门文件"),
        max_length=120,
        help_text=_("如：户主本人申报；民政局死亡登记（2026年11月）"),
        error_messages={"required": _("请写明由谁申报，或来自哪个部门的哪份数据。")},
    )
    note = forms.CharField(label=_("情况说明"), widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def __init__(self, *args, kind: ChangeKind, members=(), today: dt.date, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.members = list(members)
        self.today = today
        head: dict[str, forms.Field] = {}
        if kind.subject == "member":
            head["person"] = forms.ChoiceField(
                label=_("涉及成员"),
                choices=[("", "—"), *((str(p.public_id), p.name) for p in self.members)],
                error_messages={"required": _("请选择发生变化的家庭成员。")},
            )
        elif kind.subject == "newcomer":
            head["new_name"] = forms.CharField(label=_("新成员姓名"), max_length=40)
            head["new_id_number"] = forms.CharField(label=_("新成员身份证号码"), max_length=18)
            head["new_relation"] = forms.ChoiceField(label=_("与户主关系"), choices=Relation.choices)
        self.fields = {**head, **self.fields}
        for name in kind.facts:
            self.fields[f"fact_{name}"] = _fact_field(FACTS[name])
        for field in self.fields.values():
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs.setdefault("class", css)

    def fact_fields(self):
        return [self[f"fact_{name}"] for name in self.kind.facts]

    def clean_effective_on(self):
        day = self.cleaned_data["effective_on"]
        if day > self.today:
            raise forms.ValidationError(_("发生日期不能晚于今天。"))
        return day

    def clean_new_id_number(self):
        try:
            return parse(self.cleaned_data["new_id_number"]).number
        except InvalidIdNumber as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_person(self):
        wanted = self.cleaned_data["person"]
        person = next((p for p in self.members if str(p.public_id) == wanted), None)
        if person is None:
            raise forms.ValidationError(_("请选择本户现有的家庭成员。"))
        return person

    def clean(self):
        cleaned = super().clean()
        if self.kind.facts and not self.errors and not self.new_facts():
            raise forms.ValidationError(_("请至少填写一项变化后的情况。"))
        return cleaned

    def new_facts(self) -> dict[str, Any]:
        """The facts entered, by name, as the engine takes them."""
        out = {}
        for name in self.kind.facts:
            value = fact_value(FACTS[name], self.cleaned_data.get(f"fact_{name}"))
            if value is not None:
                out[name] = value
        return out


def facts_for_report(kind: ChangeKind, facts: dict[str, Any], member_ref: str | None) -> dict:
    """The report's facts in the shape the engine input builder takes as declared facts."""
    household = {n: v for n, v in facts.items() if FACTS[n].scope == "household"}
    member = {n: v for n, v in facts.items() if FACTS[n].scope == "member"}
    out: dict[str, Any] = {"household": household, "members": {}}
    if member and member_ref:
        out["members"][member_ref] = member
    return out


def describe_facts(facts: dict | None, names: dict[str, str] | None = None) -> list[str]:
    """Plain Chinese lines for a report's facts: "个人月收入（张三）：3500.00 元/月"."""
    from ejia.core.money import format_fen

    lines = []
    facts = facts or {}

    def one(name: str, value: Any) -> str:
        fact = FACTS.get(name)
        if fact is None:
            return f"{name}：{value}"
        if fact.type == "money":
            shown = format_fen(int(value))
        elif fact.type == "bool":
            shown = "是" if value else "否"
        elif fact.type == "enum":
            shown = fact.choice_label(str(value))
        else:
            shown = f"{value}{fact.unit}"
        return f"{fact.label}：{shown}"

    for name, value in (facts.get("household") or {}).items():
        lines.append(one(name, value))
    for ref, member in (facts.get("members") or {}).items():
        who = (names or {}).get(ref, "")
        for name, value in member.items():
            line = one(name, value)
            lines.append(f"{line}（{who}）" if who else line)
    return lines
