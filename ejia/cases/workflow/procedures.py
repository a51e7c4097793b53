"""The seeded procedure templates (办理流程) and the command-free seeding service.

Steps are data: (key, name, unit level, role, deadline in working days, flags). The
templates follow 社会救助暂行办法 Art. 11 and 民发〔2021〕57号 for 低保 (investigation,
2+ staff home visit, 7-day notice, county decision), 民发〔2021〕43号 for 特困 (with the
self-care assessment) and 民发〔2018〕23号 for urgent 临时救助 (先行救助: the township
decides at once, paperwork after).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from ejia.accounts.models import Role
from ejia.cases.workflow.models import ProcedureStep, ProcedureTemplate, UnitLevel


@dataclass(frozen=True)
class StepSpec:
    key: str
    name: str
    unit_level: str
    role: str
    deadline_days: int
    flags: frozenset[str] = field(default_factory=frozenset)


def _s(key: str, name: str, level: str, role: str, days: int, *flags: str) -> StepSpec:
    return StepSpec(key, name, level, role, days, frozenset(flags))


T, C, D = UnitLevel.TOWNSHIP, UnitLevel.COUNTY_CENTRE, UnitLevel.DEPARTMENT
W, R, A = Role.WINDOW_CLERK, Role.COUNTY_REVIEWER, Role.DEPT_APPROVER

DIBAO = (
    _s("accept", "乡镇受理", T, W, 3),
    _s("verify", "家庭经济状况核对", T, W, 5, "needs_verification"),
    _s("home_visit", "入户调查", T, W, 10, "needs_home_visit"),
    _s("township_review", "乡镇审核", T, W, 3),
    # Seven calendar days of notice fit in nine working days with a weekend inside.
    _s("public_notice", "公示（7天）", T, W, 9, "needs_public_notice"),
    _s("county_decision", "县级审批确认", C, R, 5, "decides"),
)
TEKUN = (
    _s("accept", "乡镇受理", T, W, 3),
    _s("verify", "家庭经济状况核对", T, W, 5, "needs_verification"),
    _s("home_visit", "入户调查", T, W, 10, "needs_home_visit"),
    _s("self_care", "生活自理能力评估", T, W, 5, "needs_self_care_assessment"),
    _s("township_review", "乡镇审核", T, W, 3),
    _s("public_notice", "公示（7天）", T, W, 9, "needs_public_notice"),
    _s("county_decision", "县级审批确认", C, R, 5, "decides"),
)
LINSHI_URGENT = (_s("urgent_decision", "先行救助（乡镇即时审批）", T, W, 1, "decides"),)
DEPARTMENT = (
    _s("dept_review", "部门审核", D, A, 10),
    _s("dept_decision", "部门审批", D, A, 5, "decides"),
)

SPECIAL: dict[str, tuple[str, tuple[StepSpec, ...]]] = {
    "dibao": ("最低生活保障审核确认流程", DIBAO),
    "tekun": ("特困人员认定流程", TEKUN),
    "linshi": ("临时救助（急难型先行救助）流程", LINSHI_URGENT),
}
FLAGS = (
    "needs_verification",
    "needs_home_visit",
    "needs_appraisal",
    "needs_public_notice",
    "needs_self_care_assessment",
    "decides",
)


def steps_for(code: str) -> tuple[str, tuple[StepSpec, ...]]:
    return SPECIAL.get(code, ("部门审核审批流程", DEPARTMENT))


@transaction.atomic
def procedures_seed() -> dict[str, int]:
    """Version 1 of every programme's template; running it again changes nothing.
    A few set-based queries whatever the number of programmes."""
    from ejia.catalogue.models import Programme

    programmes = list(Programme.objects.all())
    have = set(ProcedureTemplate.objects.filter(version=1).values_list("programme_id", flat=True))
    new_templates = [
        ProcedureTemplate(programme=p, version=1, name=f"{p.name}：{steps_for(p.code)[0]}")
        for p in programmes
        if p.pk not in have
    ]
    ProcedureTemplate.objects.bulk_create(new_templates)
    templates = {t.programme_id: t for t in ProcedureTemplate.objects.filter(version=1)}
    have_steps = set(ProcedureStep.objects.filter(template__version=1).values_list("template_id", "key"))
    new_steps = [
        ProcedureStep(
            template=templates[p.pk],
            order=order,
            key=spec.key,
            name=spec.name,
            unit_level=spec.unit_level,
            role=spec.role,
            deadline_days=spec.deadline_days,
            **{flag: flag in spec.flags for flag in FLAGS},
        )
        for p in programmes
        for order, spec in enumerate(steps_for(p.code)[1], start=1)
        if (templates[p.pk].pk, spec.key) not in have_steps
    ]
    ProcedureStep.objects.bulk_create(new_steps)
    return {"templates": len(new_templates), "steps": len(new_steps)}


def template_for(programme) -> ProcedureTemplate | None:
    return ProcedureTemplate.objects.filter(programme=programme).order_by("-version").first()
