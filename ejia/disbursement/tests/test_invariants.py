"""manage.py ejia_check_invariants: a database built by the services passes every invariant, and
each kind of damage (a line's amount, a lost record, an edited audit event, a second open
membership, an approval that became no money) fails its own invariant with a non-zero exit."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import F

from ejia.cases.workflow import services as wf
from ejia.cases.workflow.models import RequestProcedure
from ejia.cases.workflow.tests.conftest import procedures, submit_case  # noqa: F401
from ejia.core.invariants import registered, run_invariants
from ejia.core.models import AuditEvent
from ejia.disbursement.bankfiles import bank_return_import
from ejia.disbursement.models import Entitlement, PaymentLine
from ejia.disbursement.reconciliation import batch_reconcile
from ejia.disbursement.tests.conftest import bank_answer
from ejia.disbursement.tests.test_reconciliation import exported  # noqa: F401
from ejia.registry.models import Household, Membership
from ejia.verification.models import DataSource, SourceRecord
from ejia.verification.services import snapshot_import
from ejia.verification.tests.conftest import _staging_in_tmp, sources, write_csv  # noqa: F401
from ejia.verification.tests.test_commit_guard import HEADER, bad_rows, rows

pytestmark = pytest.mark.django_db

NAMES = {"audit_chain", "import_rows_add_up", "batch_totals", "one_open_membership", "approved_cash_paid_or_held"}


@pytest.fixture
def city(grace, exported, sources, tmp_path):  # noqa: F811
    """A reconciled May batch, a department file with a refused row, an approved urgent aid."""
    batch, first, second = exported
    bank_return_import(
        actor=grace,
        batch=batch,
        data=bank_answer(
            [first.reference, "829.00", "成功", "B1", ""], [second.reference, "1212.00", "成功", "B2", ""]
        ),
    )
    batch_reconcile(actor=grace, batch=batch)
    civil = DataSource.objects.get(code="mz_civil")
    snapshot_import(actor=None, source=civil, path=write_csv(tmp_path / "m.csv", HEADER, rows(6) + bad_rows(1)))
    return batch


def failed(capsys) -> set[str]:
    with pytest.raises(CommandError, match="不变量不成立"):
        call_command("ejia_check_invariants")
    out = capsys.readouterr().out
    return {line.split()[1] for line in out.splitlines() if line.startswith("FAIL")}


def test_the_list_names_every_invariant_in_chinese(capsys):
    call_command("ejia_check_invariants", "--list")
    out = capsys.readouterr().out
    assert {line.split()[0] for line in out.splitlines()} == NAMES
    assert "审计日志" in out and "发放批次" in out


def test_a_database_built_by_the_services_passes(city, capsys):
    call_command("ejia_check_invariants")
    out = capsys.readouterr().out
    assert "5 invariants, 0 failed" in out
    assert all(result.ok for result in run_invariants())


def test_a_line_amount_changed_behind_the_batch_fails_batch_totals(city, capsys):
    PaymentLine.objects.filter(pk=city.lines.order_by("pk").first().pk).update(amount_fen=F("amount_fen") + 100)
    assert failed(capsys) == {"batch_totals"}


def test_a_lost_department_record_fails_the_import_counts(city, capsys):
    SourceRecord.objects.filter(pk=SourceRecord.objects.order_by("pk").first().pk).delete()
    assert failed(capsys) == {"import_rows_add_up"}


def test_an_edited_audit_event_fails_the_chain(city, capsys):
    AuditEvent.objects.filter(seq=2).update(reason="改过的理由")
    assert failed(capsys) == {"audit_chain"}


def test_a_second_open_membership_fails(city, capsys):
    # The database refuses it with a partial unique index; a restore without that index would not.
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX membership_one_open_per_person")
    person = Membership.objects.filter(date_out__isnull=True).first().person
    other = Household.objects.exclude(memberships__person=person).first()
    Membership.objects.create(household=other, person=person, relation="10", date_in=other.created_at.date())
    assert failed(capsys) == {"one_open_membership"}


def test_an_approved_urgent_aid_without_entitlement_fails(submit_case, bob, capsys):  # noqa: F811
    case = submit_case(programmes=("linshi",))
    procedure = RequestProcedure.objects.get(case=case, request__programme__code="linshi")
    wf.procedure_approve(
        actor=bob, procedure_id=procedure.pk, expected_version=procedure.version, amount_fen=80000,
        amount_change_reason="先行救助",
    )  # fmt: skip
    assert all(result.ok for result in run_invariants())
    Entitlement.objects.filter(request__case=case).delete()
    assert failed(capsys) == {"approved_cash_paid_or_held"}


def test_every_invariant_is_registered():
    assert {i.name for i in registered()} == NAMES
