"""Forms of the department editor: a programme's texts, and a new version of its rules."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ejia.catalogue.models import Programme


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class LinesField(forms.CharField):
    """A list of short texts edited as one per line."""

    widget = forms.Textarea(attrs={"rows": 4, "class": "form-control"})

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return "\n".join(value)
        return value

    def to_python(self, value):
        return _lines(super().to_python(value))


class ProgrammeTextForm(forms.ModelForm):
    """What the public catalogue shows. Rules are not here: they change through versions."""

    target_groups = LinesField(label=_("适用对象（每行一个）"), required=False)
    materials = LinesField(label=_("申请材料（每行一项）"), required=False)
    unchecked_conditions = LinesField(
        label=_("系统无法核对的条件（每行一条）"),
        required=False,
        help_text=_("群众还需满足、但没有部门数据可以核对的条件，由工作人员了解核实。"),
    )

    class Meta:
        model = Programme
        fields = [
            "name",
            "category",
            "benefit_form",
            "amount_period",
            "pay_from",
            "gradual_exit",
            "gradual_exit_months",
            "discovery_mode",
            "summary",
            "description",
            "how_much",
            "target_groups",
            "materials",
            "unchecked_conditions",
            "legal_basis",
            "contact_unit",
            "contact_phone",
            "keywords",
        ]
        labels = {
            "name": _("项目名称"),
            "category": _("类别"),
            "benefit_form": _("救助方式"),
            "amount_period": _("金额周期"),
            "pay_from": _("起始发放月份"),
            "gradual_exit": _("收入超过标准时设渐退期"),
            "gradual_exit_months": _("渐退期月数"),
            "discovery_mode": _("主动发现线索"),
            "summary": _("一句话说明"),
            "description": _("详细说明"),
            "how_much": _("救助标准（群众能看懂的说法）"),
            "legal_basis": _("政策依据"),
            "contact_unit": _("经办单位"),
            "contact_phone": _("咨询电话"),
            "keywords": _("搜索关键词（空格分隔）"),
        }
        help_texts = {
            "discovery_mode": _(
                "每晚数据比对后，哪些家庭列为本项目的走访线索。无需申请即由部门按名单办理、"
                "或须在办事现场提出的项目，请选“不列为主动发现线索”；修改后下次比对时自动关闭不再列入的线索。"
            ),
        }
        widgets = {
            "description": forms.Textarea(attrs={"rows": 4}),
            "how_much": forms.Textarea(attrs={"rows": 3}),
            "legal_basis": forms.Textarea(attrs={"rows": 2}),
        }

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("gradual_exit") and not cleaned.get("gradual_exit_months"):
            self.add_error("gradual_exit_months", _("设渐退期的项目须填写渐退期月数（至少1个月）。"))
        return cleaned

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if isinstance(field.widget, forms.CheckboxInput):
                field.widget.attrs.setdefault("class", "form-check-input")
                continue
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs.setdefault("class", css)


class CriterionForm(forms.Form):
    label = forms.CharField(
        label=_("条件（群众看得懂的说法）"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"class": "form-control", "placeholder": _("如：家庭人均月收入低于低保标准")}),
    )
    expr = forms.CharField(
        label=_("规则表达式"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(
            attrs={
                "class": "form-control font-monospace rule-expr",
                "rows": 2,
                "spellcheck": "false",
                "autocapitalize": "off",
            }
        ),
    )

    def clean(self):
        data = super().clean()
        label, expr = (data.get("label") or "").strip(), (data.get("expr") or "").strip()
        if bool(label) != bool(expr) and not data.get("DELETE"):
            raise forms.ValidationError(_("条件的说法和规则表达式要同时填写。"))
        return {**data, "label": label, "expr": expr}


CriterionFormSet = forms.formset_factory(CriterionForm, extra=2, can_delete=True, max_num=30)


class RulesForm(forms.Form):
    """The version-level fields next to the criteria."""

    amount_expr = forms.CharField(
        label=_("金额公式（分）"),
        required=False,
        max_length=2000,
        help_text=_('可不填。结果以分为单位，例如 round_yuan(standard("dibao") * size - income_total_month_fen)。'),
        widget=forms.Textarea(
            attrs={"class": "form-control font-monospace rule-expr", "rows": 2, "spellcheck": "false"}
        ),
    )
    effective_from = forms.DateField(
        label=_("生效日期"),
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date", "class": "form-control"}),
        error_messages={"required": _("请填写生效日期。"), "invalid": _("日期格式应为 年-月-日。")},
    )
    change_note = forms.CharField(
        label=_("修改说明"),
        required=False,
        max_length=500,
        help_text=_("写明改了什么、依据哪个文件，会显示在版本历史中。"),
        widget=forms.Textarea(attrs={"class": "form-control", "rows": 2}),
    )

    def clean_effective_from(self) -> dt.date:
        value = self.cleaned_data["effective_from"]
        if value < timezone.localdate() and self.data.get("action") == "publish":
            raise forms.ValidationError(_("发布的新版本不能早于今天生效：已作出的决定不能被追溯改变。"))
        return value


def criteria_from(formset) -> list[dict[str, str]]:
    """The criteria a (valid) formset holds, blank and deleted rows left out."""
    rows = []
    for form in formset.forms:
        data = getattr(form, "cleaned_data", None) or {}
        if data.get("DELETE") or not data.get("label") or not data.get("expr"):
            continue
        rows.append({"label": data["label"], "expr": data["expr"]})
    return rows


def criteria_from_post(data, prefix: str = "criteria") -> list[dict[str, str]]:
    """The criteria as typed, for the live check (no validation beyond trimming)."""
    try:
        total = int(data.get(f"{prefix}-TOTAL_FORMS", 0))
    except (TypeError, ValueError):
        total = 0
    rows = []
    for i in range(min(total, 30)):
        if data.get(f"{prefix}-{i}-DELETE"):
            continue
        label = (data.get(f"{prefix}-{i}-label") or "").strip()
        expr = (data.get(f"{prefix}-{i}-expr") or "").strip()
        if label or expr:
            rows.append({"label": label, "expr": expr, "index": i})
    return rows


class CombinationForm(forms.Form):
    """One combination rule of the programme being edited (blank rows are not saved)."""

    kind = forms.ChoiceField(label=_("规则"), choices=[])
    other = forms.ChoiceField(label=_("另一项目"), choices=[], required=False)
    scope = forms.ChoiceField(label=_("适用范围"), choices=[])
    note = forms.CharField(label=_("依据或说明"), max_length=200, required=False)

    def __init__(self, *args, programmes=(), **kwargs):
        from ejia.catalogue.models import CombinationRule

        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = CombinationRule.Kind.choices
        self.fields["scope"].choices = CombinationRule.Scope.choices
        self.fields["other"].choices = [("", "—")] + [(p.code, p.name) for p in programmes]
        for field in self.fields.values():
            choice = isinstance(field, forms.ChoiceField)
            field.widget.attrs["class"] = "form-select form-select-sm" if choice else "form-control form-control-sm"


CombinationFormSet = forms.formset_factory(CombinationForm, extra=2, can_delete=True)


def combination_rows(formset) -> list[dict[str, str]]:
    return [
        {k: f.cleaned_data.get(k, "") for k in ("kind", "other", "scope", "note")}
        for f in formset.forms
        if f.is_valid() and f.cleaned_data.get("other") and not f.cleaned_data.get("DELETE")
    ]
