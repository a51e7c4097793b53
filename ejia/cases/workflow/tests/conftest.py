import pytest

from conftest import _unit, make_staff
from ejia.accounts.models import Role
from ejia.cases.models import Channel
from ejia.cases.services import case_submit
from ejia.cases.tests.conftest import application


@pytest.fixture
def procedures(org):
    from ejia.cases.workflow.notifications import templates_seed
    from ejia.cases.workflow.procedures import procedures_seed
    from ejia.catalogue.seed import catalogue_seed

    catalogue_seed()
    procedures_seed()
    templates_seed()


@pytest.fixture
def bob2(org):
    """A second clerk of 市中街道's window: home visits need two staff."""
    return make_staff("bob2", _unit("371602001", "window"), Role.WINDOW_CLERK, display_name="陈刚")


@pytest.fixture
def jy(org):
    """教育 approver of 滨城区."""
    return make_staff("jy", _unit("371602", "department", "jy"), Role.DEPT_APPROVER, display_name="吴老师")


@pytest.fixture
def submit_case(bob, procedures):
    counter = iter(range(1, 1000))

    def submit(programmes=("dibao",), actor=None, **extra):
        data = application(programmes=programmes, **extra)
        case = case_submit(actor=actor or bob, channel=Channel.WINDOW, idempotency_key=f"wf-{next(counter)}", data=data)
        from ejia.cases.workflow.services import procedures_start_for_case

        procedures_start_for_case(case)
        return case

    return submit


@pytest.fixture
def finished_check(procedures):
    """A case's one-click check as the departments answered it: every seeded source done
    (deposits and medical costs with records), or some failed. Built through the findings
    functions the verification system itself uses."""
    import datetime as dt

    from django.utils import timezone

    from ejia.verification import findings as fnd
    from ejia.verification.models import CheckSource, CheckStatus, DataSource, VerificationCheck
    from ejia.verification.sources import sources_seed

    sources_seed()

    def make(case, *, failed=(), deposit_fen=100000, medical_fen=800000, running=False):
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
                CheckSource(
                    verification=check, source=source, status=status, findings=findings, as_of=dt.date(2026, 3, 1)
                )
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

    return make
