from __future__ import annotations

from django import forms
from django.utils import timezone

from ejia.accounts.models import User
from ejia.cases.workflow.models import DAILY_ACTIVITIES
from ejia.core.money import InvalidAmount, yuan_to_fen


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.ImageField):
    """Several photos in one input; each is checked by Pillow (ImageField) and for size."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*", "class": "form-control"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(d, initial) for d in data if d]
        return [single(data, initial)] if data else []


class HomeVisitForm(forms.Form):
    visit_date = forms.DateField(
        label="调查日期", widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}, format="%Y-%m-%d")
    )
    staff_1 = forms.ModelChoiceField(label="调查人员一", queryset=User.objects.none())
    staff_2 = forms.ModelChoiceField(label="调查人员二", queryset=User.objects.none())
    findings = forms.CharField(label="调查情况", widget=forms.Textarea(attrs={"rows": 4, "class": "form-control"}))
    photos = MultipleImageField(label="现场照片（每张不超过5 MB）", required=False)

    def __init__(self, *args, staff_qs=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["staff_1"].queryset = staff_qs
        for name in ("staff_1", "staff_2"):
            self.fields[name].widget.attrs["class"] = "form-select"
        self.fields["staff_2"].queryset = staff_qs
        self.fields["staff_1"].label_from_instance = lambda u: f"{u.get_full_name()}（{u.unit.name}）"
        self.fields["staff_2"].label_from_instance = lambda u: f"{u.get_full_name()}（{u.unit.name}）"
        self.initial.setdefault("visit_date", timezone.localdate())

    def clean(self):
        data = super().clean()
        if data.get("staff_1") and data.get("staff_1") == data.get("staff_2"):
            raise forms.ValidationError("入户调查须由两名不同的工作人员进行。")
        for photo in data.get("photos") or []:
            if photo.size > 5 * 1024 * 1024:
                raise forms.ValidationError(f"照片“{photo.name}”超过 5 MB。")
        return data


class SelfCareForm(forms.Form):
    person_name = forms.CharField(label="被评估人", max_length=40)
    assessed_on = forms.DateField(
        label="评估日期", widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}, format="%Y-%m-%d")
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for key, label in DAILY_ACTIVITIES:
            self.fields[key] = forms.BooleanField(label=f"能{label.removeprefix('自主')}", required=False)
        self.initial.setdefault("assessed_on", timezone.localdate())

    def activities(self) -> dict[str, bool]:
        return {key: bool(self.cleaned_data.get(key)) for key, _ in DAILY_ACTIVITIES}


def parse_amount(raw: str) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return yuan_to_fen(raw)
    except InvalidAmount as exc:
        raise forms.ValidationError(str(exc)) from None
