"""The plan type: one codec, materials once per plan with notes apart, totals per household and member."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from ejia.catalogue.models import Programme
from ejia.catalogue.plan import SCHEMA_VERSION, Plan, PlanError, PlanMember, PlanOutcome, Received
from ejia.catalogue.planning import entry_for

pytestmark = pytest.mark.django_db
ON = dt.date(2026, 11, 28)


class Someone:
    def __init__(self, public_id: str, name: str) -> None:
        self.public_id, self.name = public_id, name


GRANDMA, SON = Someone("p-1", "刘秀兰"), Someone("p-2", "王建军")


def _plan(catalogue_codes: dict[str, tuple]) -> Plan:
    programmes = {p.code: p for p in Programme.objects.filter(code__in=catalogue_codes)}
    entries = []
    for code, (outcome, amount, person, *held) in catalogue_codes.items():
        entry = entry_for(programmes[code], outcome, amount_fen=amount, person=person)
        if held:
            entry = replace(entry, received=Received(since=held[0], amount_fen=amount))
        entries.append(entry)
    return Plan(on=ON, entries=tuple(entries), members=(PlanMember("p-1", "刘秀兰"), PlanMember("p-2", "王建军")))


def test_one_codec_round_trips_and_refuses_other_shapes(catalogue):
    plan = _plan(
        {
            "tekun": (PlanOutcome.ALREADY_RECEIVED, 150900, GRANDMA, dt.date(2026, 6, 1)),
            "dibao": (PlanOutcome.LIKELY, 110200, None),
        }
    )
    data = plan.to_json()
    assert data["schema_version"] == SCHEMA_VERSION and data["entries"][0]["outcome"] == "already_received"
    assert Plan.from_json(data) == plan
    with pytest.raises(PlanError, match="格式版本"):
        Plan.from_json([{"code": "dibao", "result": "eligible"}])


def test_materials_are_listed_once_and_notes_are_not_missing_papers(catalogue):
    plan = _plan(
        {
            "dibao": (PlanOutcome.LIKELY, 110200, None),
            "tekun": (PlanOutcome.LIKELY, 150900, GRANDMA),
            "critical_illness_insurance_tilt": (PlanOutcome.LIKELY, None, SON),
            "disease_emergency_aid": (PlanOutcome.POSSIBLE, None, None),
            "medical_premium_subsidy": (PlanOutcome.LIKELY, 38000, GRANDMA),
        }
    )
    papers, notes = plan.materials([e.key for e in plan])
    names = [m.name for m in papers]
    # 低保 and 特困 both ask for the authorisation: once, signed on screen, naming both.
    [auth] = [m for m in papers if "授权书" in m.name]
    assert auth.online and set(auth.programmes) == {"最低生活保障（低保）", "特困人员救助供养"}
    assert len(names) == len(set(names))
    assert not any("无需" in n or "医疗机构申报" in n for n in names if "（" not in n)
    assert "大病保险倾斜支付：无需另行申请，医保系统自动识别" in notes
    assert any(n.startswith("疾病应急救助") and "由医疗机构申报" in n for n in notes)
    # A paper with a note in brackets is still a paper to bring.
    assert any(n.startswith("身份证或户口簿（由民政部门推送") for n in names)


def test_totals_add_what_is_received_and_what_is_newly_likely_per_member(catalogue):
    plan = _plan(
        {
            "tekun": (PlanOutcome.ALREADY_RECEIVED, 150900, GRANDMA, dt.date(2026, 6, 1)),
            "dibao": (PlanOutcome.EXCLUDED, 110200, None),
            "disability_living_subsidy": (PlanOutcome.LIKELY, 15000, SON),
            "linshi": (PlanOutcome.LIKELY, 300000, None),
            "medical_premium_subsidy": (PlanOutcome.LIKELY, 38000, GRANDMA),
            "elderly_allowance": (PlanOutcome.POSSIBLE, 10000, GRANDMA),
        }
    )
    totals = plan.totals()
    assert (totals.monthly_received_fen, totals.monthly_new_fen, totals.one_off_fen) == (150900, 15000, 300000)
    assert totals.monthly_fen == 165900 and totals.in_kind == ("城乡居民医保参保资助（刘秀兰）",)
    rows = {row.name: row.totals for row in plan.member_totals()}
    assert rows["刘秀兰"].monthly_fen == 150900 and rows["王建军"].monthly_fen == 15000
    assert rows["全家"].one_off_fen == 300000
    # Only what was chosen is counted as new; what is held always is.
    assert plan.totals(["linshi"]).monthly_fen == 150900
