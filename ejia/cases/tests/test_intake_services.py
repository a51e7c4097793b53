import re
import threading

import pytest
from django.db import connection

from ejia.cases.models import Authorisation, Case, Channel, ProgrammeRequest
from ejia.cases.services import CaseError, case_submit, reference_allocate
from ejia.cases.tests.conftest import application, member, signature_data_url
from ejia.cases.uploads import UploadError, store_photo, store_signature
from ejia.catalogue.plan import PlanOutcome
from ejia.registry.models import Household, Membership

pytestmark = pytest.mark.django_db


def submit(actor, data, key="k1", channel=Channel.WINDOW):
    return case_submit(actor=actor, channel=channel, idempotency_key=key, data=data)


def test_a_window_application_makes_a_case_with_requests_authorisations_and_a_household(bob, catalogue):
    data = application(programmes=("dibao", "linshi"))
    case = submit(bob, data)
    assert re.fullmatch(r"371602-\d{8}-0001", case.reference)
    assert case.window.kind == "window" and case.window.division.code == "371602001"
    assert [r.programme.code for r in case.requests.all()] == ["dibao", "linshi"]
    assert case.authorisations.count() == 2
    assert all(a.valid_until > a.signed_at.date() for a in Authorisation.objects.all())
    household = case.household
    assert household.current_memberships().count() == 2 and household.urban
    assert {e.code for e in case.plan} >= {"dibao", "linshi"}
    dibao = case.plan.get("dibao")
    assert dibao.outcome == PlanOutcome.LIKELY and dibao.amount_fen > 0
    assert data["members"][0]["id_number"] not in str(case.declared_facts)


def test_the_same_idempotency_key_returns_the_first_case(bob, catalogue):
    data = application()
    first = submit(bob, data, key="double-click")
    again = submit(bob, data, key="double-click")
    assert first.pk == again.pk and Case.objects.count() == 1


def test_one_open_request_per_household_per_programme_names_the_existing_case(bob, catalogue):
    head = member("张大山", income_month_fen=30000)
    first = submit(bob, application(head, programmes=("dibao",)), key="a")
    again = application({**head, "key": "x1"}, programmes=("dibao",))
    again["applicant"] = "x1"
    with pytest.raises(CaseError) as exc:
        submit(bob, again, key="b")
    assert first.reference in exc.value.message and "最低生活保障" in exc.value.message
    assert Case.objects.count() == 1
    # Another programme for the same household is fine.
    again["programmes"] = ["linshi"]
    assert submit(bob, again, key="c").household == first.household


def test_a_person_in_another_household_is_refused_and_nothing_is_saved(bob, catalogue):
    child = member("张小宝", relation="20", birth=__import__("datetime").date(2015, 1, 1))
    submit(bob, application(member("张大山"), child, programmes=()), key="a")
    cases, households = Case.objects.count(), Household.objects.count()
    other = application(member("王二"), {**child, "key": "c2", "relation": "20"}, programmes=("linshi",))
    with pytest.raises(CaseError) as exc:
        submit(bob, other, key="b")
    assert "另一户家庭的成员" in exc.value.message and "张小宝" in exc.value.message
    assert (Case.objects.count(), Household.objects.count()) == (cases, households)


def test_every_adult_member_must_sign_the_authorisation(bob, catalogue):
    data = application()
    data["auth"].pop(data["members"][1]["key"])
    with pytest.raises(CaseError) as exc:
        submit(bob, data)
    assert "李小花" in exc.value.message and exc.value.step == "authorise"
    assert not Case.objects.exists()


def test_children_need_no_authorisation(bob, catalogue):
    import datetime as dt

    kid = member("张小宝", relation="20", birth=dt.date(2016, 6, 1))
    data = application(member("张大山"), kid)
    data["auth"].pop(kid["key"])
    assert submit(bob, data).authorisations.count() == 1


def test_a_grid_worker_needs_the_applicants_consent(gina, catalogue):
    data = application()
    with pytest.raises(CaseError, match="同意"):
        submit(gina, data, channel=Channel.GRID_PROXY)
    data.update(proxy_consent=True, proxy_signature=store_signature(signature_data_url()))
    case = submit(gina, data, channel=Channel.GRID_PROXY)
    assert case.channel == Channel.GRID_PROXY and case.proxy_consent and case.submitted_by == gina


def test_a_clerk_of_another_township_accepts_and_the_case_goes_home(bob, carol, catalogue):
    """全市通办: 三河湖镇's window takes a 市中街道 family's application; 市中街道 handles it."""
    from ejia.core.models import AuditEvent

    case = submit(carol, application(township="371602001"))
    assert case.window.division.code == "371602001" and case.accepted_unit == carol.unit
    assert case.handed_over and case.division.parent.code == "371602001"
    handover = AuditEvent.objects.get(action="cases.case_handover")
    assert handover.actor == carol and handover.data["to_unit"] == case.window.name
    own = submit(bob, application(township="371602001"), key="k2")
    assert own.accepted_unit == bob.unit and not own.handed_over
    assert not AuditEvent.objects.filter(action="cases.case_handover", object_id=str(own.public_id)).exists()


def test_reference_numbers_count_per_county_and_day(org):
    import datetime as dt

    day = dt.date(2026, 5, 1)
    assert reference_allocate(county_code="371602", day=day) == "371602-20260501-0001"
    assert reference_allocate(county_code="371602", day=day) == "371602-20260501-0002"
    assert reference_allocate(county_code="371621", day=day) == "371621-20260501-0001"
    assert reference_allocate(county_code="371602", day=dt.date(2026, 5, 2)) == "371602-20260502-0001"


@pytest.mark.django_db(transaction=True)
def test_concurrent_allocations_never_repeat_a_number(org):
    import datetime as dt

    if connection.vendor == "sqlite":
        pytest.skip("SQLite serialises writers anyway; the row lock matters on PostgreSQL")
    day, got, errors = dt.date(2026, 5, 3), [], []

    def worker():
        try:
            for _ in range(10):
                got.append(reference_allocate(county_code="371602", day=day))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(got) == 40 and len(set(got)) == 40


def test_uploads_are_checked_by_content_and_size():
    from django.core.files.uploadedfile import SimpleUploadedFile

    with pytest.raises(UploadError, match="不是有效的图片"):
        store_photo(SimpleUploadedFile("auth.jpg", b"%PDF-1.4 not an image", content_type="image/jpeg"))
    big = SimpleUploadedFile("big.jpg", b"\xff" * (5 * 1024 * 1024 + 1), content_type="image/jpeg")
    with pytest.raises(UploadError, match="5 MB"):
        store_photo(big)
    with pytest.raises(UploadError, match="空白"):
        import base64
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.new("RGBA", (50, 20), (0, 0, 0, 0)).save(buf, format="PNG")
        store_signature("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode())
    with pytest.raises(UploadError):
        store_signature("data:text/html;base64,PHNjcmlwdD4=")


def test_requests_hold_the_open_constraint_in_the_database(bob, catalogue):
    from django.db import IntegrityError, transaction

    case = submit(bob, application())
    request = case.requests.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        ProgrammeRequest.objects.create(case=case, household=case.household, programme=request.programme)
    assert Membership.objects.filter(household=case.household).count() == 2
