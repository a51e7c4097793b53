from __future__ import annotations

from django import forms

from ejia.disbursement.models import Outcome, parse_period, period_label


class BuildForm(forms.Form):
    county = forms.ChoiceField(label="县（区、市）", widget=forms.Select(attrs={"class": "form-select"}))
    period = forms.ChoiceField(label="发放月份", error_messages={"invalid_choice": "请选择列出的发放月份。"})

    def __init__(self, *args, counties=(), months=None, **kwargs):
        """`months`: {month: [county names with unpaid entitlements]} plus next month."""
        super().__init__(*args, **kwargs)
        self.fields["county"].choices = [(c.code, c.name) for c in counties]
        choices = []
        for month, names in sorted((months or {}).items()):
            label = period_label(month)
            if names:
                label += "（" + "、".join(names) + " 有未发放的待遇）"
            choices.append((period_label(month), label))
        self.fields["period"].choices = choices

    def clean_period(self):
        try:
            return parse_period(self.cleaned_data["period"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


class ReturnUploadForm(forms.Form):
    file = forms.FileField(label="银行回盘文件（CSV）")

    def clean_file(self):
        f = self.cleaned_data["file"]
        if f.size > 50 * 1024 * 1024:
            raise forms.ValidationError("文件过大（上限 50 MB）。")
        return f


class AcceptForm(forms.Form):
    reason = forms.CharField(
        label="确认理由",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "请填写确认理由。"},
    )


class ReissueForm(forms.Form):
    period = forms.ChoiceField(label="转入批次", error_messages={"invalid_choice": "请选择可以加入明细的后续批次。"})
    reason = forms.CharField(label="说明", max_length=200, required=False)

    def __init__(self, *args, targets=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["period"].choices = [(period_label(t.period), t.label) for t in targets]

    def clean_period(self):
        return parse_period(self.cleaned_data["period"])


class HouseholdAccountForm(forms.Form):
    """The household's one account for 一卡发放 and its holder (户名): the bank file needs both."""

    bank_name = forms.CharField(label="开户银行", max_length=60)
    account_number = forms.CharField(label="银行账号", max_length=40)
    holder = forms.ChoiceField(label="户名（账户所有人）")

    def __init__(self, *args, members=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["holder"].choices = [(str(p.public_id), p.name) for p in members]
        for field in self.fields.values():
            field.widget.attrs.setdefault(
                "class", "form-select" if isinstance(field, forms.ChoiceField) else "form-control"
            )


class DecideForm(forms.Form):
    from_month = forms.CharField(label="自何月起执行", max_length=7, help_text="YYYY-MM（变化核实后的次月起）")
    reason = forms.CharField(
        label="书面理由",
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "须填写书面理由（将写入给家庭的通知书）。"},
    )

    def clean_from_month(self):
        try:
            return parse_period(self.cleaned_data["from_month"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


class ReviewForm(forms.Form):
    outcome = forms.ChoiceField(
        label="核查结论", choices=[(Outcome.CONTINUE, Outcome.CONTINUE.label), ("changed", "情况有变化（另行报告）")]
    )
    note = forms.CharField(label="核查记录", widget=forms.Textarea(attrs={"rows": 2}))


class DismissForm(forms.Form):
    reason = forms.CharField(
        label="排除理由",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "请填写排除的理由。"},
    )


class RecoveryCloseForm(forms.Form):
    note = forms.CharField(
        label="处理情况",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="如：已由家属退回；已在后续发放中抵扣；经批准核销及理由",
        error_messages={"required": "请填写追回或核销的处理情况。"},
    )
