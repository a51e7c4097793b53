"""全市通办: any window or station of the city accepts a resident of the city; the case goes to
the household's township, the accepting clerk keeps the done page and the receipt only."""

import pytest
from django.urls import reverse

from ejia.cases.intake import intake_prefill
from ejia.cases.models import Case, Channel
from ejia.cases.services import case_submit
from ejia.cases.tests.conftest import application, member, signature_data_url
from ejia.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def registered(bob):
    """A 市中街道 family, registered by its own window."""
    head = member("张大山", income_month_fen=30000)
    wife = member("李小花", female=True, relation="10", income_month_fen=0)
    case = case_submit(
        actor=bob, channel=Channel.WINDOW, idempotency_key="home", data=application(head, wife, programmes=("linshi",))
    )
    return head, case.household


def test_another_township_sees_only_what_the_applicant_brings(bob, carol, catalogue):
    head, household = registered(bob)
    blind = intake_prefill(user=carol, id_number=head["id_number"], name="张大山")
    assert blind["blind"] and [m["name"] for m in blind["members"]] == ["张大山"]
    assert blind["household_id"] == str(household.public_id) and blind["address"] == ""
    assert blind["home_township"] == household.division.parent.name
    # With the ID card read here, or the authorisation signed here, the registry pre-fills.
    for flag in ("card_read", "authorised_here"):
        full = intake_prefill(user=carol, id_number=head["id_number"], **{flag: True})
        assert not full.get("blind") and {m["name"] for m in full["members"]} == {"张大山", "李小花"}
    # At home nothing changes.
    assert "home_township" not in intake_prefill(user=bob, id_number=head["id_number"])


def test_a_blind_application_moves_nobody_out_of_the_household(bob, carol, catalogue):
    head, household = registered(bob)
    data = intake_prefill(user=carol, id_number=head["id_number"], name="张大山")
    applicant = data["members"][0]
    data.update(
        programmes=["dibao"],
        auth={applicant["key"]: application(member("x"))["auth"].popitem()[1]},
    )
    case = case_submit(actor=carol, channel=Channel.WINDOW, idempotency_key="blind", data=data)
    assert case.household == household and case.handed_over
    assert household.current_memberships().count() == 2  # 李小花 was not declared, and stays


def test_the_window_flow_across_townships_ends_on_the_done_page(client, bob, carol, catalogue):
    head, household = registered(bob)
    client.force_login(carol)
    client.post(reverse("cases:intake_start"), {"id_number": head["id_number"], "name": "张大山"})
    page = client.get(reverse("cases:intake_household"))
    html = page.content.decode()
    assert 'data-testid="city-wide"' in html and household.division.parent.name in html
    assert "李小花" not in html and household.division.name not in html and household.division.code not in html
    rows = page.context["rows"]
    key = rows[0]["m"]["key"]
    client.post(
        reverse("cases:intake_household"),
        {
            "applicant": key,
            f"m_{key}_name": "张大山",
            f"m_{key}_relation": "02",
            f"m_{key}_income_month_fen": "300",
            "phone": "13800000009",
        },
    )
    client.post(reverse("cases:intake_needs"), {"needs": ["daily_living"]})
    client.post(reverse("cases:intake_plan"), {"programmes": ["dibao"]})
    client.post(reverse("cases:intake_authorise"), {f"sig_{key}": signature_data_url()})
    idem = client.get(reverse("cases:intake_materials")).context["draft"].idempotency_key
    done = client.post(reverse("cases:intake_submit"), {"idempotency_key": idem})
    case = Case.objects.get(idempotency_key=idem)
    assert done.url == reverse("cases:intake_done", args=[case.public_id])
    assert client.post(reverse("cases:intake_submit"), {"idempotency_key": idem}).url == done.url  # twice
    assert case.window.division == household.division.parent and case.accepted_unit == carol.unit
    shown = client.get(done.url).content.decode()
    assert case.reference in shown and case.window.name in shown and carol.unit.name in shown
    receipt = client.get(reverse("cases:intake_done_receipt", args=[case.public_id]))
    assert receipt["Content-Type"] == "application/pdf"
    # The case file itself is the home township's.
    assert client.get(reverse("cases:case_detail", args=[case.public_id])).status_code == 403
    client.force_login(bob)
    assert client.get(reverse("cases:intake_done", args=[case.public_id])).status_code == 403
    progress = client.get(reverse("workflow:case_progress", args=[case.public_id])).content.decode()
    assert 'data-testid="handover"' in progress and carol.unit.name in progress
    assert AuditEvent.objects.filter(action="cases.case_handover", object_id=str(case.public_id)).exists()


def test_a_village_clerk_takes_applications_as_a_station(alice, catalogue):
    case = case_submit(
        actor=alice, channel=Channel.STATION, idempotency_key="st", data=application(programmes=("linshi",))
    )
    assert case.channel == "station" and not case.handed_over
    from ejia.cases.intake import channel_for

    assert channel_for(alice) == Channel.STATION


def test_the_household_step_lists_another_townships_villages_only_when_asked(client, carol, catalogue):
    from ejia.registry.tests.factories import new_id, village

    client.force_login(carol)
    client.post(reverse("cases:intake_start"), {"id_number": new_id(), "name": "孙立"})
    own = client.get(reverse("cases:intake_household"))
    home = village("371602001")
    assert home.code not in {v.code for v in own.context["villages"]}
    assert all(v.parent.code == "371602105" for v in own.context["villages"])
    asked = client.get(reverse("cases:intake_household"), {"township": "371602001"})
    assert home.code in {v.code for v in asked.context["villages"]}
    key = asked.context["rows"][0]["m"]["key"]
    form = {"applicant": key, f"m_{key}_name": "孙立", f"m_{key}_relation": "02", "division_code": home.code}
    assert client.post(reverse("cases:intake_household"), form).url == reverse("cases:intake_needs")
    again = client.get(reverse("cases:intake_household"))  # the chosen village stays listed
    assert home.code in {v.code for v in again.context["villages"]}
    outside = client.post(reverse("cases:intake_household"), {**form, "division_code": "110101001001"})
    assert "请选择本市的村（社区）" in outside.content.decode()


def test_the_registry_phone_fills_the_contact_field(client, bob, catalogue):
    from ejia.registry.models import Person

    head = member("张大山", income_month_fen=30000)
    case = case_submit(actor=bob, channel=Channel.WINDOW, idempotency_key="p", data=application(head, phone=""))
    Person.objects.filter(pk=case.applicant_id).update(phone="13966667777")
    client.force_login(bob)
    client.post(reverse("cases:intake_start"), {"id_number": head["id_number"]})
    page = client.get(reverse("cases:intake_household"))
    assert page.context["data"]["phone"] == "13966667777" and 'value="13966667777"' in page.content.decode()
