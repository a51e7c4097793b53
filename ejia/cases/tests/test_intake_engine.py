"""The one intake engine: each channel is a configuration (its steps and what it skips or adds),
and the plan step, the authorisation check, the refusal map and the submission are shared."""

import datetime as dt

import pytest

from ejia.cases import intake_engine as engine
from ejia.cases.models import Case, Channel
from ejia.cases.services import CaseError
from ejia.cases.tests.conftest import application, member

pytestmark = pytest.mark.django_db


def test_every_channel_is_a_configuration_of_the_same_steps():
    assert set(engine.RULES) == set(Channel.values)
    for rules in engine.RULES.values():
        assert rules.keys[0] == "start" and {"household", "needs", "plan", "authorise", "materials"} <= set(rules.keys)
    grid, window, citizen = (engine.rules_for(c) for c in ("grid_proxy", "window", "self_service"))
    assert grid.proxy_consent and not window.proxy_consent and not citizen.proxy_consent
    assert window.card_reader and engine.rules_for("station").card_reader and not grid.card_reader
    assert citizen.sms_identity and not citizen.prefill_from_registry and not citizen.moves_members


def test_the_citizen_is_not_offered_what_cannot_apply_to_an_old_person(catalogue):
    old = member("王奶奶", birth=dt.date(1949, 3, 1), female=True, income_month_fen=20000)
    data = application(old, programmes=())
    data["needs"] = ["daily_living", "illness", "other"]
    plan = engine.plan_for(data)
    possible = {e.code for e in plan if e.outcome == "possible"}
    assert {"worker_hardship_aid", "wandering_relief"} <= possible  # the window still sees them
    staff = {e.code for e in engine.offered_entries(plan, data, engine.rules_for("window"))}
    online = {e.code for e in engine.offered_entries(plan, data, engine.rules_for("self_service"))}
    assert {"worker_hardship_aid", "wandering_relief"} <= staff
    assert not {"worker_hardship_aid", "wandering_relief"} & online
    assert "temporary_relief" in online or "linshi" in online


def test_a_working_age_member_keeps_the_workers_programme_online(catalogue):
    young = member("王强", birth=dt.date(1990, 3, 1), income_month_fen=20000)
    data = application(young, programmes=())
    data["needs"] = ["daily_living", "other"]
    plan = engine.plan_for(data)
    entry = next(e for e in plan if e.code == "worker_hardship_aid")
    assert engine.citizen_may_apply(entry, data, dt.date.today())


def test_the_authorisation_check_asks_the_proxy_only_of_the_grid_worker(catalogue):
    data = application()
    assert engine.authorisation_problems(data, engine.rules_for("window")) == {}
    assert set(engine.authorisation_problems(data, engine.rules_for("grid_proxy"))) == {"proxy"}
    unsigned = application(sign=False)
    assert "missing" in engine.authorisation_problems(unsigned, engine.rules_for("self_service"))


def test_a_refusal_sends_each_channel_to_its_own_step():
    refused = CaseError("x", step="plan")
    assert engine.step_for_refusal(engine.rules_for("window"), refused) == "cases:intake_plan"
    assert engine.step_for_refusal(engine.rules_for("self_service"), refused) == "citizen:apply_programmes"
    other = CaseError("x")
    assert engine.step_for_refusal(engine.rules_for("station"), other) == "cases:intake_materials"


def test_one_submit_for_every_channel(bob, alice, gina, catalogue):
    made = []
    for n, (actor, channel) in enumerate(
        [(bob, "window"), (alice, "station"), (gina, "grid_proxy"), (None, "self_service")]
    ):
        data = application(township="371602001", programmes=("linshi",), phone=f"1390000000{n}")
        if channel == "grid_proxy":
            data.update(proxy_consent=True, proxy_signature=data["auth"][data["applicant"]]["file"])
        case = engine.submit(rules=engine.rules_for(channel), actor=actor, idempotency_key=f"k{n}", data=data)
        made.append(case.channel)
    assert made == ["window", "station", "grid_proxy", "self_service"] and Case.objects.count() == 4


def test_the_shared_forms_parse_with_chinese_messages():
    from django.http import QueryDict

    from ejia.cases.intake_forms import ApplicantForm, NeedsForm, ProgrammesForm
    from ejia.registry.tests.factories import new_id

    good = new_id()
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    form = ApplicantForm({"id_number": bad, "name": "周敏"})
    assert not form.is_valid() and "校验位" in form.first_error()
    nameless = ApplicantForm({"id_number": good}, name_required=True)
    assert not nameless.is_valid() and nameless.first_error() == "请填写申请人姓名。"
    card = ApplicantForm({"id_number": good.lower(), "card_read": "1"})
    assert card.is_valid() and card.card_was_read and card.cleaned_data["id_number"] == good.upper()
    needs = NeedsForm(QueryDict("needs=illness&needs=made_up&needs_note=看病"))
    assert needs.is_valid() and needs.cleaned_data == {"needs": ["illness"], "needs_note": "看病"}

    class Offered:
        def __init__(self, key):
            self.key = key

    ticked = ProgrammesForm(QueryDict("programmes=dibao&programmes=not_offered"), offered=[Offered("dibao")])
    assert ticked.is_valid() and ticked.cleaned_data["programmes"] == ["dibao"]
