"""A case's one-click check as the departments answered it, for workflow tests and the
browser journey: every seeded source done (deposits and medical costs with records), or
some failed, or one still running. Built through the findings functions the verification
system itself uses; needs the seeded data sources."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from ejia.verification import findings as fnd
from ejia.verification.models import CheckSource, CheckStatus, DataSource, VerificationCheck


def check_finished(case, *, failed=(), deposit_fen=100000, medical_fen=800000, running=False) -> VerificationCheck:
    members = (case.declared_facts or {}).get("members") or []
    persons = [m["person"] for m in members]
    declared = {
        "household": dict((case.declared_facts or {}).get("household") or {}),
        "members": {m["person"]: dict(m.get("facts") or {}) for m in members},
    }
    records = {
        "deposit": {persons[0]: [{"balance_fen": deposit_fen, "account_number": "6222020200112233445"}]},
        "medical": {persons[0]: [{"out_of_pocket_fen": medical_fen}]},
    }
    check = VerificationCheck.objects.create(
        household=case.household,
        reference=case.reference,
        reason=f"受理号 {case.reference} 家庭经济状况核对",
        members=[{"person": m["person"], "name": m["name"], "masked_id": m["masked_id"]} for m in members],
        declared=declared,
    )
    answers, rows = [], []
    for source in DataSource.objects.all():
        status = CheckSource.Status.FAILED if source.code in failed or source.kind in failed else "done"
        if running and source.kind == "medical":
            status = CheckSource.Status.RUNNING
        findings = records.get(source.kind, {}) if status == "done" else {}
        answers.append(fnd.Answer(source.code, source.kind, source.name, status, "2026-03-01", findings))
        rows.append(
            CheckSource(verification=check, source=source, status=status, findings=findings, as_of=dt.date(2026, 3, 1))
        )
    CheckSource.objects.bulk_create(rows)
    if running:
        return check
    facts = fnd.derive(answers, persons, on=case.rule_date)
    check.facts = facts
    check.differences = fnd.differences(declared, facts, {m["person"]: m["name"] for m in members})
    check.status = CheckStatus.PARTIAL if any(a.status == "failed" for a in answers) else CheckStatus.COMPLETE
    check.finished_at = timezone.now()
    check.save(update_fields=["facts", "differences", "status", "finished_at", "updated_at"])
    return check
