"""A staff member reading the screens in English still writes Chinese official records: the
handling record, the decision notice (and its SMS) and the PDFs are in the platform's language."""

from __future__ import annotations

import pytest
from django.utils import translation

from ejia.cases.workflow import services as wf
from ejia.cases.workflow.models import ProcedureState, RequestProcedure
from ejia.cases.workflow.services.notices import decision_content
from ejia.core.i18n import official_language
from ejia.verification.models import CheckStatus

pytestmark = pytest.mark.django_db


def test_the_decorator_switches_to_the_platform_language_and_back():
    @official_language
    def which() -> str:
        return translation.get_language()

    with translation.override("en"):
        assert which() == "zh-hans"
        assert translation.get_language() == "en"


def test_an_english_screen_writes_chinese_records_and_notices(submit_case, bob, finished_check):
    case = submit_case()
    with translation.override("en"):
        assert str(ProcedureState.PENDING.label) != "办理中"  # English is really active here
        rows = decision_content(case)
        assert rows[0]["outcome_label"] == "办理中"

        p = RequestProcedure.objects.get(case=case)
        p = wf.procedure_complete(actor=bob, procedure_id=p.pk, expected_version=p.version)
        check = finished_check(case)
        wf.procedure_complete(actor=bob, procedure_id=p.pk, expected_version=p.version, check_id=check.public_id)
    with translation.override("zh-hans"):
        chinese = str(CheckStatus(check.status).label)
    record = p.records.filter(comment__contains="依据一键核对").get()
    assert f"（{chinese}" in record.comment
