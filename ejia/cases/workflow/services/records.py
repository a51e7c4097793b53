"""What a step records: home visit, appraisal, self-care assessment."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import transaction

from ejia.cases.workflow.models import (
    DAILY_ACTIVITIES,
    Appraisal,
    HomeVisit,
    HomeVisitPhoto,
    RequestProcedure,
    SelfCareAssessment,
    self_care_level,
)
from ejia.cases.workflow.services.moves import (
    WorkflowError,
    _lock,
)
from ejia.core.audit import audit_record

# ---------------------------------------------------------------- records at a step


def _require_step(procedure: RequestProcedure, actor, flag: str, label: str) -> None:
    if not procedure.is_open or not getattr(procedure.step, flag):
        raise WorkflowError(f"当前环节不是{label}环节。")
    if actor.unit_id != procedure.acting_unit_id or not actor.has_role(procedure.step.role):
        raise WorkflowError(f"{label}由{procedure.acting_unit.name}办理。")
    if procedure.claimed_by_id is not None and procedure.claimed_by_id != actor.pk:
        # The holder answers for the step, records included; a colleague takes the claim back first.
        raise WorkflowError(
            f"该事项已由{procedure.claimed_by.get_full_name()}认领办理，{label}由其登记；如需代为登记，请先收回认领。"
        )


MAX_PHOTO_BYTES = 5 * 1024 * 1024


def validate_photo(upload) -> None:
    from PIL import Image, UnidentifiedImageError

    if upload.size > MAX_PHOTO_BYTES:
        raise WorkflowError(f"照片“{upload.name}”超过 5 MB。")
    try:
        upload.seek(0)
        with Image.open(upload) as img:
            img.verify()
        upload.seek(0)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise WorkflowError(f"“{upload.name}”不是有效的图片文件。") from None


def home_visit_record(
    *,
    actor,
    procedure_id: int,
    visit_date: dt.date,
    staff_1,
    staff_2,
    findings: str,
    photos: Iterable = (),
) -> HomeVisit:
    """入户调查 by two distinct staff of the acting unit (or a village station below it)."""
    if staff_1 is None or staff_2 is None or staff_1.pk == staff_2.pk:
        raise WorkflowError("入户调查须由两名不同的工作人员进行。")
    if not (findings or "").strip():
        raise WorkflowError("请填写调查情况。")
    photos = list(photos)
    for photo in photos:
        validate_photo(photo)
    with transaction.atomic():
        procedure = _lock(procedure_id)
        _require_step(procedure, actor, "needs_home_visit", "入户调查")
        for person in (staff_1, staff_2):
            if person.unit is None or not person.unit.division.path.startswith(procedure.acting_unit.division.path):
                raise WorkflowError(f"{person.get_full_name()}不是本乡镇（街道）的工作人员。")
        visit = HomeVisit.objects.create(
            procedure=procedure,
            visit_date=visit_date,
            staff_1=staff_1,
            staff_2=staff_2,
            findings=findings.strip(),
            recorded_by=actor,
        )
        for photo in photos:
            HomeVisitPhoto.objects.create(visit=visit, image=photo)
        audit_record(
            actor=actor,
            action="workflow.home_visit",
            obj=procedure,
            data={"date": visit_date.isoformat(), "staff": [staff_1.username, staff_2.username], "photos": len(photos)},
        )
    return visit


def appraisal_record(
    *, actor, procedure_id: int, held_on: dt.date, participants: int, votes_for: int, opinion: str
) -> Appraisal:
    if votes_for > participants:
        raise WorkflowError("同意票数不能多于参加人数。")
    with transaction.atomic():
        procedure = _lock(procedure_id)
        if not procedure.is_open or actor.unit_id != procedure.acting_unit_id:
            raise WorkflowError("民主评议由当前办理单位登记。")
        appraisal = Appraisal.objects.create(
            procedure=procedure,
            held_on=held_on,
            participants=participants,
            votes_for=votes_for,
            opinion=opinion.strip(),
            recorded_by=actor,
        )
        audit_record(
            actor=actor, action="workflow.appraisal", obj=procedure, data={"for": votes_for, "of": participants}
        )
    return appraisal


def self_care_record(
    *, actor, procedure_id: int, person_name: str, assessed_on: dt.date, can_do: dict[str, bool]
) -> SelfCareAssessment:
    """Six daily activities; the number failed gives the level (0 full, ≤3 partial, ≥4 none)."""
    activities = {key: bool(can_do.get(key)) for key, _ in DAILY_ACTIVITIES}
    failed = sum(1 for ok in activities.values() if not ok)
    with transaction.atomic():
        procedure = _lock(procedure_id)
        _require_step(procedure, actor, "needs_self_care_assessment", "生活自理能力评估")
        assessment = SelfCareAssessment.objects.create(
            procedure=procedure,
            person_name=person_name,
            assessed_on=assessed_on,
            activities=activities,
            failed_count=failed,
            level=self_care_level(failed),
            recorded_by=actor,
        )
        audit_record(
            actor=actor, action="workflow.self_care", obj=procedure, data={"failed": failed, "level": assessment.level}
        )
    return assessment
