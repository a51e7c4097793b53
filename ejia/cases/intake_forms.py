"""The Django forms of the intake engine's steps that every channel shares: who applies (the
first step), what the family's difficulties are (needs) and which programmes are ticked (plan).

The templates draw their own inputs (large touch targets, the citizen's one-question pages); the
forms parse and validate what comes back, with Chinese messages."""

from __future__ import annotations

from django import forms

from ejia.cases.models import Need
from ejia.core import idnumber


class ApplicantForm(forms.Form):
    """The first step: the applicant's ID number (typed or read from the card) and name."""

    # Not `required`: an empty number gets the same Chinese message as a wrong one (idnumber.parse).
    id_number = forms.CharField(max_length=20, required=False)
    name = forms.CharField(max_length=40, required=False)
    address = forms.CharField(max_length=200, required=False)
    card_read = forms.CharField(max_length=1, required=False)  # set by the card reader's script
    authorised_here = forms.BooleanField(required=False)

    def __init__(self, *args, name_required: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.name_required = name_required

    def clean_id_number(self) -> str:
        try:
            return idnumber.parse(self.cleaned_data["id_number"]).number
        except idnumber.InvalidIdNumber as exc:
            raise forms.ValidationError(exc.message) from None

    def clean_name(self) -> str:
        name = self.cleaned_data.get("name", "").strip()
        if self.name_required and not name:
            raise forms.ValidationError("请填写申请人姓名。")
        return name

    @property
    def card_was_read(self) -> bool:
        return self.cleaned_data.get("card_read") == "1"

    def first_error(self) -> str:
        for errors in self.errors.values():
            return errors[0]
        return ""


class NeedsForm(forms.Form):
    """困难情况: in plain words; helps the clerk, never decides eligibility."""

    needs = forms.MultipleChoiceField(choices=Need.choices, required=False)
    needs_note = forms.CharField(max_length=2000, required=False, strip=True)

    def __init__(self, *args, **kwargs) -> None:
        data = args[0] if args else kwargs.get("data")
        if data is not None and hasattr(data, "getlist"):
            # Unknown codes (an old page, a hand-made post) are dropped, not refused.
            data = data.copy()
            data.setlist("needs", [n for n in data.getlist("needs") if n in Need.values])
            data["needs_note"] = data.get("needs_note", "")[:2000]
            args = (data, *args[1:]) if args else args
            if "data" in kwargs:
                kwargs["data"] = data
        super().__init__(*args, **kwargs)


class ProgrammesForm(forms.Form):
    """The plan step: the ticked plan keys, limited to what the channel offers."""

    programmes = forms.MultipleChoiceField(choices=(), required=False)

    def __init__(self, *args, offered: list, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        keys = {entry.key for entry in offered}
        self.fields["programmes"].choices = [(key, key) for key in sorted(keys)]
        if self.data is not None and hasattr(self.data, "getlist"):
            data = self.data.copy()
            data.setlist("programmes", [k for k in data.getlist("programmes") if k in keys])
            self.data = data
