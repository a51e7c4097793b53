"""Rules are checked when saved, published versions are frozen, cycles never reach households."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction

from ejia.catalogue.models import Programme, ProgrammeVersion
from ejia.catalogue.selectors import engine_for, programme_current_version
from ejia.catalogue.services import (
    programme_draft_create,
    programme_draft_update,
    programme_update,
    programme_version_publish,
)
from ejia.core.models import AuditEvent

DIBAO_CRITERIA = [
    {"label": "家庭人均月收入低于低保标准", "expr": 'income_per_capita_month_fen < standard("dibao")'},
    {
        "label": "家庭人均金融资产不超过30个月的低保标准",
        "expr": 'financial_assets_per_capita_fen <= 30 * standard("dibao")',
    },
]


def dibao() -> Programme:
    return Programme.objects.get(code="dibao")


def test_a_rule_with_a_typo_is_rejected_on_save_with_the_chinese_message(catalogue, editor):
    criteria = [{"label": "家庭人均月收入低于低保标准", "expr": 'incom_per_capita_month_fen < standard("dibao")'}]
    with pytest.raises(ValidationError) as error:
        programme_draft_create(actor=editor, programme=dibao(), criteria=criteria, effective_from=dt.date(2025, 1, 1))
    message = error.value.message_dict["criteria"][0]
    assert message.startswith("第1条条件“家庭人均月收入低于低保标准”：第1行第1列：")
    assert "未知的事实“incom_per_capita_month_fen”" in message
    assert not ProgrammeVersion.objects.filter(status="draft").exists()


def test_a_bad_amount_formula_is_rejected_naming_the_amount(catalogue, editor):
    with pytest.raises(ValidationError) as error:
        programme_draft_create(
            actor=editor,
            programme=dibao(),
            criteria=DIBAO_CRITERIA,
            amount_expr='standard("dibao") * size -',
            effective_from=dt.date(2025, 1, 1),
        )
    assert error.value.message_dict["amount_expr"][0].startswith("金额公式：第1行")


def test_a_draft_is_numbered_after_the_published_version_and_audited(catalogue, editor):
    draft = programme_draft_create(
        actor=editor, programme=dibao(), criteria=DIBAO_CRITERIA, effective_from=dt.date(2025, 1, 1)
    )
    assert (draft.number, draft.status, draft.created_by) == (2, "draft", editor)
    event = AuditEvent.objects.get(action="catalogue.version_draft_create")
    assert event.actor == editor


def test_publishing_a_draft_puts_it_in_force_from_its_date(catalogue, editor):
    draft = programme_draft_create(
        actor=editor,
        programme=dibao(),
        criteria=DIBAO_CRITERIA,
        amount_expr='round_yuan(standard("dibao") * size - income_total_month_fen)',
        effective_from=dt.date(2025, 1, 1),
        change_note="放宽金融资产限额",
    )
    programme_version_publish(actor=editor, version=draft)
    draft.refresh_from_db()
    assert draft.is_published and draft.published_by == editor and draft.published_at is not None
    assert programme_current_version(dibao(), on=dt.date(2024, 12, 31)).number == 1
    assert programme_current_version(dibao(), on=dt.date(2025, 1, 1)).number == 2
    old = engine_for(dt.date(2024, 12, 31)).programmes["dibao"].spec
    new = engine_for(dt.date(2025, 1, 1)).programmes["dibao"].spec
    assert len(old.criteria) == 5 and len(new.criteria) == 2


def test_a_published_version_cannot_be_changed(catalogue, editor):
    version = programme_current_version(dibao(), on=dt.date(2024, 1, 1))
    version.amount_expr = "yuan(1)"
    with pytest.raises(ValidationError, match="已发布的版本不能修改"):
        version.save()
    with pytest.raises(ValidationError, match="已发布的版本不能修改"):
        programme_draft_update(actor=editor, version=version, amount_expr="yuan(1)")
    with pytest.raises(ValidationError, match="已发布"):
        programme_version_publish(actor=editor, version=version)
    with pytest.raises(ValidationError, match="不能删除"):
        version.delete()
    version.refresh_from_db()
    assert version.amount_expr.startswith("round_yuan(")


def test_the_database_refuses_to_change_a_published_version_behind_the_models_back(catalogue):
    version = programme_current_version(dibao(), on=dt.date(2024, 1, 1))
    with pytest.raises(DatabaseError), transaction.atomic():
        ProgrammeVersion.objects.filter(pk=version.pk).update(amount_expr="yuan(1)")
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError), transaction.atomic():
            ProgrammeVersion.objects.filter(pk=version.pk).delete()
    version.refresh_from_db()
    assert version.amount_expr.startswith("round_yuan(")


def test_a_draft_may_be_corrected_before_publication(catalogue, editor):
    draft = programme_draft_create(
        actor=editor, programme=dibao(), criteria=DIBAO_CRITERIA, effective_from=dt.date(2025, 1, 1)
    )
    programme_draft_update(actor=editor, version=draft, effective_from=dt.date(2025, 7, 1), change_note="推迟执行")
    draft.refresh_from_db()
    assert draft.effective_from == dt.date(2025, 7, 1)
    with pytest.raises(ValidationError):
        programme_draft_update(actor=editor, version=draft, criteria=[{"label": "坏", "expr": "size >"}])


def test_a_cycle_between_programmes_is_rejected_at_publication(catalogue, editor):
    # dibao_edge already depends on dibao; making dibao depend on dibao_edge closes a loop.
    criteria = [*DIBAO_CRITERIA, {"label": "不是低保边缘家庭", "expr": 'not eligible("dibao_edge")'}]
    draft = programme_draft_create(
        actor=editor, programme=dibao(), criteria=criteria, effective_from=dt.date(2025, 1, 1)
    )
    with pytest.raises(ValidationError) as error:
        programme_version_publish(actor=editor, version=draft)
    assert "循环引用" in error.value.messages[0]
    assert "dibao" in error.value.messages[0]
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_an_unknown_programme_reference_is_rejected_on_save(catalogue, editor):
    criteria = [{"label": "低保家庭", "expr": 'eligible("dibaoo")'}]
    with pytest.raises(ValidationError, match="未知的项目代码“dibaoo”"):
        programme_draft_create(
            actor=editor,
            programme=Programme.objects.get(code="linshi"),
            criteria=criteria,
            effective_from=dt.date(2025, 1, 1),
        )


def test_member_facts_outside_an_aggregate_are_refused_for_a_household_programme(catalogue, editor):
    with pytest.raises(ValidationError) as error:
        programme_draft_create(
            actor=editor,
            programme=dibao(),
            criteria=[{"label": "有老人", "expr": "age >= 60"}],
            effective_from=dt.date(2025, 1, 1),
        )
    assert "第1行第1列" in error.value.messages[0]


def test_editing_texts_refreshes_the_search_text(catalogue, editor):
    programme_update(actor=editor, programme=dibao(), keywords="低保 兜底保障")
    assert "兜底保障" in dibao().search_text
    assert "ddbz" in dibao().search_text
    with pytest.raises(ValidationError):
        programme_update(actor=editor, programme=dibao(), code="x")
