"""Forms of the public portal: the catalogue filter and the self-check questions.

Each self-check question is one small form. `cleaned_data` of every form is plain JSON
(ints, strings, booleans, lists, None for "不清楚") because the answers travel in a signed
cookie, never in the database.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from ejia.core.money import InvalidAmount, yuan_to_fen
from ejia.portal import selectors
from ejia.rules.facts import HOUSING_CONDITION

UNKNOWN = "unknown"
YES_NO_UNKNOWN = (("yes", _("有")), ("no", _("没有")), (UNKNOWN, _("不清楚")))


class CatalogueFilterForm(forms.Form):
    q = forms.CharField(label=_("搜索"), required=False, max_length=40)
    department = forms.ChoiceField(label=_("部门"), required=False)
    category = forms.ChoiceField(label=_("类别"), required=False)
    group = forms.ChoiceField(label=_("对象"), required=False)

    def __init__(self, *args, departments=(), categories=(), groups=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].choices = [("", _("全部部门")), *departments]
        self.fields["category"].choices = [("", _("全部类别")), *categories]
        self.fields["group"].choices = [("", _("全部对象")), *[(g, g) for g in groups]]


class CountyForm(forms.Form):
    county = forms.ChoiceField(label=_("您所在的县（市、区）"))
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["county"].choices = [(c.code, c.name) for c in selectors.counties()]


def count_field(label, *, help_text: str = "", max_value: int = 20) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        min_value=0,
        max_value=max_value,
        initial=0,
        required=False,  # blank means none
        help_text=help_text,
        error_messages={
            "invalid": _("请填写一个整数。"),
            "min_value": _("人数不能小于 0。"),
            "max_value": _("人数太多了，请检查。"),
        },
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "class": "form-control count-input"}),
    )


class StepForm(forms.Form):
    """A self-check question. `answers` are the answers given so far (for cross-checks)."""

    template_name_div = "portal/selfcheck/form.html"

    def __init__(self, *args, answers: dict[str, dict] | None = None, **kwargs):
        self.answers = answers or {}
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        for name, field in self.fields.items():
            if isinstance(field, forms.IntegerField) and not field.required and data.get(name) is None:
                data[name] = 0
        return data

    def size(self) -> int:
        return int(self.answers.get("size", {}).get("size") or 0)

    def people(self) -> dict[str, int]:
        return {k: int(v or 0) for k, v in self.answers.get("ages", {}).items()}


class PlaceForm(StepForm):
    township = forms.ChoiceField(
        label=_("乡镇（街道）"),
        help_text=_("按户口或常住地选择。不同地方的救助标准不一样。"),
        error_messages={"required": _("请选择您家所在的乡镇（街道）。")},
        widget=forms.Select(attrs={"class": "form-select form-select-lg"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["township"].choices = [("", _("请选择")), *self.township_choices()]

    @staticmethod
    def township_choices() -> list:
        return [(county.name, [(t.code, t.name) for t in towns]) for county, towns in selectors.townships_by_county()]


class SizeForm(StepForm):
    size = forms.IntegerField(
        label=_("人数"),
        min_value=1,
        max_value=20,
        help_text=_("算上您自己。包括配偶、未成年子女、在读的子女，以及长期一起生活、互相有赡养扶养义务的亲人。"),
        error_messages={
            "required": _("请填写家里一起生活的人数。"),
            "invalid": _("请填写一个整数，例如 3。"),
            "min_value": _("至少是 1 人（您自己）。"),
            "max_value": _("人数太多了，请检查。"),
        },
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "class": "form-control count-input"}),
    )


class AgesForm(StepForm):
    elderly80 = count_field(_("80岁及以上的老人"))
    elderly60 = count_field(_("60–79岁的老人"))
    children = count_field(_("未满18岁的孩子"))
    college = count_field(_("在读大专、本科的学生"))
    jobless = count_field(_("18–59岁没有工作的人"), help_text=_("不含在读学生。务农、打零工都算有工作。"))

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        size = self.size()
        counted = data["elderly80"] + data["elderly60"] + data["children"] + data["college"]
        if size and counted > size:
            raise forms.ValidationError(
                _("老人、孩子和学生加起来有 %(counted)s 人，比家里的 %(size)s 口人还多，请检查。"),
                params={"counted": counted, "size": size},
            )
        if size and data["jobless"] > size - counted:
            raise forms.ValidationError(
                _("18–59岁的只有 %(n)s 人，没有工作的人数不能比这还多。"), params={"n": size - counted}
            )
        return data


class SchoolForm(StepForm):
    """How the children under 18 are schooled; the stage fixes an age for the estimate."""

    not_yet = count_field(_("还没上幼儿园"))
    preschool = count_field(_("上幼儿园"))
    primary = count_field(_("上小学"))
    junior = count_field(_("上初中"))
    senior = count_field(_("上普通高中"))
    vocational = count_field(_("上中专、职高、技校"))
    out_of_school = count_field(_("已经不上学了"))

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        children = self.people().get("children", 0)
        total = sum(data.values())
        if total != children:
            raise forms.ValidationError(
                _("您前面说家里有 %(children)s 个未满18岁的孩子，这里一共填了 %(total)s 个，请让两个数一致。"),
                params={"children": children, "total": total},
            )
        return data


class ExclusiveChecklistForm(StepForm):
    """Tick what applies, or tick 'none'. An answer is required, so that a blank page never
    silently means 'no'."""

    choices: tuple = ()
    none_label = _("以上都没有")
    none_value = "none"
    empty_message = _("请选择符合的情况；如果都没有，请选“以上都没有”。")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["items"] = forms.MultipleChoiceField(
            label=_("请选择（可以多选）"),
            choices=[*self.available_choices(), (self.none_value, self.none_label)],
            widget=forms.CheckboxSelectMultiple,
            required=False,
        )

    def available_choices(self) -> list:
        return list(self.choices)

    def clean(self):
        data = super().clean()
        items = data.get("items") or []
        if not items:
            raise forms.ValidationError(self.empty_message)
        if self.none_value in items and len(items) > 1:
            raise forms.ValidationError(_("“以上都没有”不能和其他选项同时选。"))
        return data


class SituationForm(ExclusiveChecklistForm):
    choices = (
        ("on_dibao", _("已经是低保家庭")),
        ("on_tekun", _("家里有人是特困供养人员（五保）")),
        ("on_dibao_edge", _("已经是低保边缘家庭")),
        ("on_expense_hardship", _("已经是支出型困难家庭")),
        ("lifted_from_poverty", _("脱贫户")),
        ("relapse_monitoring", _("防止返贫监测户")),
        ("veteran", _("家里有退役军人或其他优抚对象")),
        ("party_member", _("家里有中共党员")),
        ("union_member", _("家里有在职职工（工会会员）")),
        ("single_parent_mother", _("我是单亲母亲")),
        ("orphan", _("家里有孤儿或没人抚养的孩子")),
    )

    def available_choices(self) -> list:
        if self.people().get("children", 0) == 0:
            return [c for c in self.choices if c[0] != "orphan"]
        return list(self.choices)


class MoneyForm(StepForm):
    """An amount in yuan, or 'I don't know' (which keeps the fact unknown)."""

    amount_label = _("金额（元）")
    amount_help = ""
    required_message = _("请填写金额，没有就填 0；实在不清楚请勾选“不清楚”。")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["amount"] = forms.CharField(
            label=self.amount_label,
            help_text=self.amount_help,
            required=False,
            max_length=20,
            widget=forms.TextInput(attrs={"inputmode": "decimal", "class": "form-control money-input"}),
        )
        self.fields["unknown"] = forms.BooleanField(label=_("不清楚"), required=False)

    def clean(self):
        data = super().clean()
        text = (data.get("amount") or "").strip()
        if data.get("unknown"):
            return {"amount_fen": None, "unknown": True}
        if not text:
            raise forms.ValidationError(self.required_message)
        try:
            fen = yuan_to_fen(text)
        except InvalidAmount as exc:
            self.add_error("amount", str(exc))
            return data
        if fen < 0:
            self.add_error("amount", _("金额不能是负数。"))
            return data
        return {"amount_fen": fen, "unknown": False}

    def initial_from(self, stored: dict[str, Any]) -> dict[str, Any]:
        fen = stored.get("amount_fen")
        return {"amount": "" if fen is None else f"{fen / 100:g}", "unknown": stored.get("unknown", False)}


class IncomeForm(MoneyForm):
    amount_label = _("每月收入合计（元）")
    amount_help = _(
        "把全家每个人每月的收入加在一起：工资、做生意或打零工挣的钱、种地养殖的收入、房租利息、"
        "养老金、子女或亲戚给的赡养费等。不算：低保金等政府救助金、抚恤金、奖学金、见义勇为奖金。"
        "收入不固定的，按最近一年平均每月估算。"
    )


class AssetsForm(MoneyForm):
    amount_label = _("存款等合计（元）")
    amount_help = _("包括全家的银行存款、理财、股票、基金、商业保险里的钱，以及借给别人还没还的钱。")


class HousingForm(StepForm):
    housing_condition = forms.ChoiceField(
        label=_("现在住的房子"),
        choices=[*HOUSING_CONDITION, (UNKNOWN, _("不清楚"))],
        widget=forms.RadioSelect,
        error_messages={"required": _("请选择现在住的房子的情况。")},
    )
    other_houses = forms.ChoiceField(
        label=_("除了现在住的，还有别的房子（含商铺）吗？"),
        choices=YES_NO_UNKNOWN,
        widget=forms.RadioSelect,
        error_messages={"required": _("请选择有没有别的房子。")},
    )
    car = forms.ChoiceField(
        label=_("有小汽车吗？"),
        help_text=_("残疾人代步车、农用三轮车、摩托车不算。"),
        choices=YES_NO_UNKNOWN,
        widget=forms.RadioSelect,
        error_messages={"required": _("请选择有没有小汽车。")},
    )
    business = forms.ChoiceField(
        label=_("开了公司或个体工商户吗？"),
        choices=YES_NO_UNKNOWN,
        widget=forms.RadioSelect,
        error_messages={"required": _("请选择有没有开公司或个体工商户。")},
    )


class HealthGateForm(ExclusiveChecklistForm):
    choices = (
        ("disabled", _("有人有残疾证")),
        ("serious", _("有人得了大病、重病（如癌症、尿毒症）")),
        ("chronic", _("有人有慢性病，要长期吃药治疗")),
        ("care", _("有人生活不能完全自理（吃饭、穿衣、上下床、上厕所要人帮）")),
    )


class HealthDetailForm(StepForm):
    """Counts for what the previous question said exists; fields appear only for those."""

    GROUPS = {
        "disabled": (
            ("grade1", _("残疾一级")),
            ("grade2", _("残疾二级")),
            ("grade3", _("残疾三级")),
            ("grade4", _("残疾四级")),
        ),
        "serious": (
            ("serious", _("得大病、重病的人数")),
            ("cancer_two", _("其中患宫颈癌或乳腺癌的妇女")),
        ),
        "chronic": (("chronic", _("有慢性病的人数")),),
        "care": (
            ("care_none", _("完全不能自理的人数")),
            ("care_partial", _("部分不能自理的人数")),
        ),
    }
    GROUP_TITLES = {
        "disabled": _("有残疾证的人数（按残疾等级）"),
        "serious": _("大病、重病"),
        "chronic": _("慢性病"),
        "care": _("生活不能自理"),
    }
    # At least one person in each ticked group, counted over these fields.
    GROUP_TOTALS = {
        "disabled": ("grade1", "grade2", "grade3", "grade4"),
        "serious": ("serious",),
        "chronic": ("chronic",),
        "care": ("care_none", "care_partial"),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for group in self.groups():
            for name, label in self.GROUPS[group]:
                self.fields[name] = count_field(label)

    def groups(self) -> list[str]:
        ticked = self.answers.get("health", {}).get("items") or []
        return [g for g in self.GROUPS if g in ticked]

    def fieldsets(self) -> list[tuple[str, list]]:
        return [(self.GROUP_TITLES[g], [self[name] for name, _label in self.GROUPS[g]]) for g in self.groups()]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        size = self.size()
        for group in self.groups():
            total = sum(data.get(name, 0) for name in self.GROUP_TOTALS[group])
            if total == 0:
                raise forms.ValidationError(
                    _("您前面选了“%(title)s”，这里至少要填 1 人；如果选错了，请返回上一题修改。"),
                    params={"title": self.GROUP_TITLES[group]},
                )
            if size and total > size:
                raise forms.ValidationError(
                    _("“%(title)s”填了 %(total)s 人，比家里的 %(size)s 口人还多。"),
                    params={"title": self.GROUP_TITLES[group], "total": total, "size": size},
                )
        if data.get("cancer_two", 0) > data.get("serious", 0):
            self.add_error("cancer_two", _("不能多于得大病、重病的人数。"))
        return data


class SupporterForm(StepForm):
    supporter = forms.ChoiceField(
        label=_("有没有能供养他们的亲人"),
        help_text=_("指不在一起生活、但有能力而且依法应当赡养、抚养他们的子女、父母或其他亲人。"),
        choices=YES_NO_UNKNOWN,
        widget=forms.RadioSelect,
        error_messages={"required": _("请选择有没有能供养他们的亲人。")},
    )


class CostsForm(StepForm):
    EVENTS = (
        ("sudden_hardship", _("遇到火灾、交通事故、突发重病等意外")),
        ("disaster", _("遭受自然灾害，房子、庄稼等受了损失")),
        ("death_in_household_year", _("有家人去世")),
    )

    medical = forms.CharField(
        label=_("看病自己花的钱（元）"),
        help_text=_("医保报销以后，自己掏的医药费。"),
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "class": "form-control money-input"}),
    )
    medical_unknown = forms.BooleanField(label=_("不清楚"), required=False)
    education = forms.CharField(
        label=_("上学自己花的钱（元）"),
        help_text=_("学费、住宿费等。"),
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "class": "form-control money-input"}),
    )
    education_unknown = forms.BooleanField(label=_("不清楚"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["events"] = forms.MultipleChoiceField(
            label=_("最近一年，家里有没有遇到下面的事？（可以多选）"),
            choices=[*self.EVENTS, ("none", _("都没有"))],
            widget=forms.CheckboxSelectMultiple,
            required=False,
        )
        if not self.has_students():
            del self.fields["education"]
            del self.fields["education_unknown"]

    def has_students(self) -> bool:
        people = self.people()
        return bool(people.get("children") or people.get("college"))

    def _money(self, data: dict, name: str, label: str) -> int | None:
        if data.get(f"{name}_unknown"):
            return None
        text = (data.get(name) or "").strip()
        if not text:
            self.add_error(name, _("请填写%(label)s，没有就填 0；不清楚请勾选“不清楚”。") % {"label": label})
            return None
        try:
            fen = yuan_to_fen(text)
        except InvalidAmount as exc:
            self.add_error(name, str(exc))
            return None
        if fen < 0:
            self.add_error(name, _("金额不能是负数。"))
        return fen

    def clean(self):
        data = super().clean()
        result: dict[str, Any] = {"medical_fen": self._money(data, "medical", _("看病花的钱"))}
        result["medical_unknown"] = bool(data.get("medical_unknown"))
        if self.has_students():
            result["education_fen"] = self._money(data, "education", _("上学花的钱"))
            result["education_unknown"] = bool(data.get("education_unknown"))
        events = data.get("events") or []
        if not events:
            raise forms.ValidationError(_("请选择遇到过的事；如果都没有，请选“都没有”。"))
        if "none" in events and len(events) > 1:
            raise forms.ValidationError(_("“都没有”不能和其他选项同时选。"))
        result["events"] = events
        return result

    def initial_from(self, stored: dict[str, Any]) -> dict[str, Any]:
        def yuan(fen):
            return "" if fen is None else f"{fen / 100:g}"

        return {
            "medical": yuan(stored.get("medical_fen")),
            "medical_unknown": stored.get("medical_unknown", False),
            "education": yuan(stored.get("education_fen")),
            "education_unknown": stored.get("education_unknown", False),
            "events": stored.get("events", []),
        }
