"""The window flow through the real views (Django test client), and who may see what."""

import pytest
from django.urls import reverse

from ejia.cases.models import Case, IntakeDraft
from ejia.cases.tests.conftest import signature_data_url
from ejia.registry.population import population_import
from ejia.registry.tests.factories import new_id, village

pytestmark = pytest.mark.django_db


@pytest.fixture
def population(tmp_path, org):
    head, wife = new_id(), new_id(female=True)
    path = tmp_path / "pop.csv"
    path.write_text(
        "公民身份号码,姓名,性别,出生日期,住址,户号,与户主关系,行政区划代码\n"
        f"{head},王大山,男,1980-05-17,滨城区市中街道幸福路1号,H0001,02,{village().code}\n"
        f"{wife},刘小花,女,1980-05-17,滨城区市中街道幸福路1号,H0001,10,{village().code}\n",
        encoding="utf-8",
    )
    population_import(path=path)
    return head, wife


def household_post(client, **extra):
    page = client.get(reverse("cases:intake_household"))
    rows = page.context["rows"]
    data = {"division_code": page.context["data"]["division_code"], "address": "幸福路1号", "phone": "13800000001"}
    data["applicant"] = next(r["m"]["key"] for r in rows if r["is_applicant"])
    for r in rows:
        data[r["prefix"] + "name"] = r["name"]
        data[r["prefix"] + "relation"] = r["relation"]
        data[r["prefix"] + "income_month_fen"] = "300"
    data.update(
        {"h_financial_assets_fen": "1000", "h_vehicles": "0", "h_housing_units": "1", "h_has_business": "false"}
    )
    data.update(extra)
    return client.post(reverse("cases:intake_household"), data)


def test_a_window_clerk_takes_an_id_only_application_to_the_receipt(client, bob, population, catalogue):
    head, _wife = population
    client.force_login(bob)
    response = client.post(reverse("cases:intake_start"), {"id_number": head})
    assert response.status_code == 302
    page = client.get(reverse("cases:intake_household"))
    assert "王大山" in page.content.decode() and "刘小花" in page.content.decode()  # pre-filled from 人口库
    assert head not in page.content.decode()  # masked on screen
    assert household_post(client).url == reverse("cases:intake_needs")
    client.post(reverse("cases:intake_needs"), {"needs": ["illness", "daily_living"], "needs_note": "看病花钱多"})
    plan = client.get(reverse("cases:intake_plan"))
    assert "最低生活保障" in plan.content.decode() and "可能符合" in plan.content.decode()
    client.post(reverse("cases:intake_plan"), {"programmes": ["dibao", "linshi"]})
    adults = client.get(reverse("cases:intake_authorise")).context["rows"]
    refused = client.post(reverse("cases:intake_authorise"), {f"sig_{adults[0]['m']['key']}": signature_data_url()})
    assert refused.status_code == 400 and "尚未签署" in refused.content.decode()
    signed = client.post(reverse("cases:intake_authorise"), {f"sig_{adults[1]['m']['key']}": signature_data_url()})
    assert signed.url == reverse("cases:intake_materials")
    page = client.get(reverse("cases:intake_materials"))
    key = page.context["draft"].idempotency_key
    assert "家庭经济状况核对授权书" in page.content.decode()
    done = client.post(
        reverse("cases:intake_submit"), {"idempotency_key": key, "materials_received": ["申请人身份证或户口簿"]}
    )
    case = Case.objects.get()
    assert done.url == reverse("cases:case_detail", args=[case.public_id])
    again = client.post(reverse("cases:intake_submit"), {"idempotency_key": key})  # double click
    assert again.url == done.url and Case.objects.count() == 1
    assert not IntakeDraft.objects.exists()
    detail = client.get(done.url).content.decode()
    assert case.reference in detail and "最低生活保障" in detail
    pdf = client.get(reverse("cases:case_receipt", args=[case.public_id]))
    assert pdf["Content-Type"] == "application/pdf" and pdf.getvalue().startswith(b"%PDF")
    queue = client.get(reverse("cases:queue")).content.decode()
    assert case.reference in queue
    household = client.get(reverse("registry:household_detail", args=[case.household.public_id])).content.decode()
    assert "王大山" in household and case.reference in household


def test_a_bad_id_number_keeps_what_was_typed_with_a_chinese_message(client, bob):
    client.force_login(bob)
    bad = new_id()[:17] + "0"
    if bad == new_id():
        bad = bad[:17] + "1"
    page = client.post(reverse("cases:intake_start"), {"id_number": "37160219800517", "name": "张三"})
    assert "身份证号码应为18位" in page.content.decode() and 'value="37160219800517"' in page.content.decode()


def test_a_draft_survives_a_new_login(client, bob, population):
    head, _ = population
    client.force_login(bob)
    client.post(reverse("cases:intake_start"), {"id_number": head})
    client.logout()
    client.force_login(bob)
    page = client.get(reverse("cases:intake_start"))
    assert "继续填写" in page.content.decode()
    assert "王大山" in client.get(reverse("cases:intake_household")).content.decode()


def test_adding_a_member_who_lives_in_another_household_is_refused(client, bob, population, catalogue):
    from ejia.cases.services import case_submit
    from ejia.cases.tests.conftest import application, member

    other = member("陈某", relation="02")
    case_submit(actor=bob, channel="window", idempotency_key="x", data=application(other, programmes=()))
    head, _ = population
    client.force_login(bob)
    client.post(reverse("cases:intake_start"), {"id_number": head})
    page = household_post(client, new_id_number=other["id_number"], new_name="", new_relation="20")
    assert page.status_code == 200 and "另一户家庭的成员" in page.content.decode()


def test_carol_cannot_open_bobs_household_or_case(client, bob, carol, catalogue):
    from ejia.cases.services import case_submit
    from ejia.cases.tests.conftest import application

    case = case_submit(actor=bob, channel="window", idempotency_key="x", data=application())
    client.force_login(carol)
    assert client.get(reverse("registry:household_detail", args=[case.household.public_id])).status_code == 403
    assert client.get(reverse("cases:case_detail", args=[case.public_id])).status_code == 403
    assert client.get(reverse("cases:case_receipt", args=[case.public_id])).status_code == 403
    assert case.reference not in client.get(reverse("cases:queue")).content.decode()
    search = client.get(reverse("registry:household_search"), {"q": case.reference}).content.decode()
    assert "不在您的数据权限范围内" in search
    import uuid

    assert client.get(reverse("cases:case_detail", args=[uuid.uuid4()])).status_code == 404


def test_a_village_clerk_sees_the_cases_she_started_and_the_county_reviewer_all(client, alice, dave, bob, catalogue):
    from ejia.cases.services import case_submit
    from ejia.cases.tests.conftest import application

    bobs = case_submit(actor=bob, channel="window", idempotency_key="x", data=application())
    hers = case_submit(actor=alice, channel="window", idempotency_key="y", data=application())
    client.force_login(dave)
    for case in (bobs, hers):
        assert client.get(reverse("cases:case_detail", args=[case.public_id])).status_code == 200
    # The village clerk reads the files she started or holds, not every file of her village.
    client.force_login(alice)
    assert client.get(reverse("cases:case_detail", args=[hers.public_id])).status_code == 200
    assert client.get(reverse("cases:case_detail", args=[bobs.public_id])).status_code == 403
    queue = client.get(reverse("cases:queue")).content.decode()
    assert hers.reference in queue and bobs.reference not in queue


def test_the_mock_card_reader_answers_json(client, bob, settings):
    settings.EJIA_ID_READER_MOCK = True
    assert client.get(reverse("cases:id_reader_mock")).status_code == 302  # staff only: sign in first
    client.force_login(bob)
    card = client.get(reverse("cases:id_reader_mock")).json()
    assert card["name"] and len(card["id_number"]) == 18
    settings.EJIA_ID_READER_MOCK = False
    settings.DEBUG = False
    assert client.get(reverse("cases:id_reader_mock")).status_code == 404


def test_reading_a_case_and_its_signed_authorisation_is_audited(client, bob, carol, catalogue):
    from ejia.cases.services import case_submit
    from ejia.cases.tests.conftest import application
    from ejia.core.audit import AuditEvent

    case = case_submit(actor=bob, channel="window", idempotency_key="x", data=application())
    auth = case.authorisations.first()
    client.force_login(bob)
    assert client.get(reverse("cases:case_detail", args=[case.public_id])).status_code == 200
    image = client.get(reverse("cases:authorisation_image", args=[case.public_id, auth.public_id]))
    assert image.status_code == 200 and b"".join(image.streaming_content).startswith(b"\x89PNG")
    events = AuditEvent.objects.filter(actor=bob, object_id=str(case.public_id))
    assert set(events.values_list("action", flat=True)) >= {"cases.view", "cases.authorisation_image_view"}
    client.force_login(carol)
    assert client.get(reverse("cases:authorisation_image", args=[case.public_id, auth.public_id])).status_code == 403
    assert not AuditEvent.objects.filter(actor=carol, action__startswith="cases.").exists()
