"""One household, one open application per programme, whatever the channel: the open case is
shown at the first step, a second application for the same programme is refused naming the
reference (window and online), and two channels submitting at once make one case."""

import re

import pytest
from django.db import connection
from django.urls import reverse

from conftest import race
from ejia.cases.models import Case, Channel
from ejia.cases.selectors import open_cases_of_household
from ejia.cases.services import CaseError, case_submit
from ejia.cases.tests.conftest import application, member
from ejia.cases.tests.test_self_service import PHONE, login
from ejia.core.models import AuditEvent
from ejia.registry.models import Person

pytestmark = pytest.mark.django_db


def first_case(bob, *, programmes=("dibao",)):
    head = member("张大山", income_month_fen=30000)
    case = case_submit(
        actor=bob, channel=Channel.WINDOW, idempotency_key="first", data=application(head, programmes=programmes)
    )
    return head, case


def test_the_window_shows_the_open_case_and_refuses_the_same_programme_again(client, bob, catalogue):
    head, case = first_case(bob)
    client.force_login(bob)
    client.post(reverse("cases:intake_start"), {"id_number": head["id_number"]})
    page = client.get(reverse("cases:intake_household"))
    shown = page.content.decode()
    assert 'data-testid="open-cases"' in shown and case.reference in shown and "最低生活保障" in shown
    refused = client.post(reverse("cases:intake_plan"), {"programmes": ["dibao"]}, follow=True)
    assert case.reference in refused.content.decode() and "不能重复申请" in refused.content.decode()
    assert refused.redirect_chain[-1][0] == reverse("cases:intake_plan")


def test_open_cases_name_the_stage_of_each_open_programme(bob, catalogue):
    _head, case = first_case(bob, programmes=("dibao", "linshi"))
    (found,) = open_cases_of_household(case.household)
    assert found.reference == case.reference
    assert [name for name, _stage in found.programmes] == ["最低生活保障（低保）", "临时救助"]
    assert all(stage for _name, stage in found.programmes)


def test_a_citizen_online_is_refused_a_programme_the_household_has_open(
    client, bob, catalogue, django_capture_on_commit_callbacks
):
    head, case = first_case(bob)
    login(client, django_capture_on_commit_callbacks)
    client.post(reverse("citizen:apply"), {"id_number": head["id_number"], "name": "张大山"})
    members = client.get(reverse("citizen:apply_members"))
    assert case.reference in members.content.decode()
    key = members.context["rows"][0]["m"]["key"]
    client.post(reverse("citizen:apply_members"), {f"income_{key}": "300", "action": "next"})
    client.post(reverse("citizen:apply_needs"), {"needs": ["daily_living"]})
    offered = {e.key for e in client.get(reverse("citizen:apply_programmes")).context["plan"]}
    assert "dibao" in offered
    refused = client.post(reverse("citizen:apply_programmes"), {"programmes": ["dibao"]}, follow=True)
    assert case.reference in refused.content.decode()
    assert refused.redirect_chain[-1][0] == reverse("citizen:apply_programmes")


def test_a_changed_phone_is_saved_back_only_with_consent(bob, catalogue):
    head = member("张大山", income_month_fen=30000)
    data = application(head, programmes=("dibao",), phone="13911112222")
    case = case_submit(actor=bob, channel=Channel.WINDOW, idempotency_key="a", data=data)
    person = Person.objects.get(pk=case.applicant_id)
    assert case.phone == "13911112222" and person.phone == ""
    again = application({**head, "key": "x1"}, programmes=("linshi",), phone="13933334444", phone_consent=True)
    again["applicant"] = "x1"
    second = case_submit(actor=bob, channel=Channel.WINDOW, idempotency_key="b", data=again)
    person.refresh_from_db()
    assert second.phone == "13933334444" and person.phone == "13933334444"
    event = AuditEvent.objects.get(action="registry.person_phone_update")
    assert event.actor == bob and "13933334444" not in str(event.data)


def test_the_case_sms_goes_to_the_registry_phone_when_the_form_leaves_it_empty(bob, catalogue):
    from ejia.core.models import OutboxMessage

    head = member("张大山", income_month_fen=30000)
    first = case_submit(
        actor=bob, channel=Channel.WINDOW, idempotency_key="a", data=application(head, phone="13955556666")
    )
    again = application({**head, "key": "x1"}, programmes=("linshi",), phone="")
    again["applicant"] = "x1"
    Person.objects.filter(pk=first.applicant_id).update(phone="13955556666")
    second = case_submit(actor=bob, channel=Channel.WINDOW, idempotency_key="b", data=again)
    assert second.phone == "13955556666"
    assert OutboxMessage.objects.filter(subject=second.reference, recipient="13955556666").exists()


@pytest.mark.django_db(transaction=True)
def test_window_and_citizen_at_once_make_one_case(bob, catalogue):
    if connection.vendor == "sqlite":
        pytest.skip("SQLite serialises writers anyway; the household row lock matters on PostgreSQL")
    head, first = first_case(bob, programmes=("linshi",))
    window = application({**head, "key": "w1"}, programmes=("dibao",))
    window["applicant"] = "w1"
    online = application({**head, "key": "c1"}, programmes=("dibao",), phone=PHONE, channel="self_service")
    online["applicant"] = "c1"

    def by_window():
        return case_submit(actor=bob, channel=Channel.WINDOW, idempotency_key="w", data=window).reference

    def by_citizen():
        return case_submit(actor=None, channel=Channel.SELF_SERVICE, idempotency_key="c", data=online).reference

    outcomes = race(by_window, by_citizen, expected={CaseError: lambda exc: "refused:" + exc.message})
    made = [o for o in outcomes if re.fullmatch(r"\d{6}-\d{8}-\d{4}", o)]
    refused = [o for o in outcomes if o.startswith("refused:")]
    assert len(made) == 1 and len(refused) == 1, outcomes
    assert made[0] in refused[0]  # the refusal names the case that won
    assert Case.objects.filter(household=first.household).count() == 2
