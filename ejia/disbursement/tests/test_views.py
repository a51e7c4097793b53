"""The pay screens: build, release with confirmation by another person, download, upload, reconcile."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from conftest import TEST_PASSWORD
from ejia.disbursement.models import ChangeReport, PaymentBatch
from ejia.disbursement.services import entitlement_create
from ejia.disbursement.tests.conftest import MAY, household

pytestmark = pytest.mark.django_db


def _login(client, user):
    client.force_login(user)
    return client


def test_pay_flow_through_the_screens(client, dave, grace, programmes):
    assert TEST_PASSWORD
    hh = household()
    entitlement_create(actor=dave, household=hh, programme=programmes["dibao"], amount_fen=60000, start_month=MAY)
    _login(client, dave)
    page = client.get(reverse("disbursement:batch_list"))
    assert page.status_code == 200 and "生成批次" in page.content.decode()
    response = client.post(reverse("disbursement:batch_list"), {"county": "371602", "period": "2026-05"})
    batch = PaymentBatch.objects.get()
    assert response.status_code == 302 and batch.status == "built"
    detail = client.get(reverse("disbursement:batch_detail", args=[batch.public_id])).content.decode()
    assert "须由生成人以外的另一位工作人员复核发放" in detail
    client.post(reverse("disbursement:batch_release", args=[batch.public_id]))
    batch.refresh_from_db()
    assert batch.status == "built"  # dave prepared it: refused
    _login(client, grace)
    confirm = client.get(reverse("disbursement:batch_release", args=[batch.public_id])).content.decode()
    assert "确认复核发放" in confirm and "¥600.00" in confirm
    client.post(reverse("disbursement:batch_release", args=[batch.public_id]))
    download = client.get(reverse("disbursement:batch_download", args=[batch.public_id, "csv"]))
    assert download.status_code == 200 and download["X-Checksum-SHA256"]
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    ref = rows[6][1]
    out = io.StringIO()
    csv.writer(out).writerows(
        [["交易流水号", "金额（元）", "结果", "银行流水号", "说明"], [ref, "600.00", "成功", "X1", ""]]
    )
    upload = SimpleUploadedFile("return.csv", out.getvalue().encode("utf-8"), content_type="text/csv")
    client.post(reverse("disbursement:batch_return", args=[batch.public_id]), {"file": upload})
    client.post(reverse("disbursement:batch_reconcile", args=[batch.public_id]))
    batch.refresh_from_db()
    assert batch.status == "reconciled"


def test_window_clerk_sees_no_batches_but_the_review_queue(client, bob, programmes):
    _login(client, bob)
    assert client.get(reverse("disbursement:batch_list")).status_code == 403
    assert client.get(reverse("disbursement:reviews_due")).status_code == 200


def test_change_report_screens(client, bob, dave, programmes):
    hh = household()
    entitlement_create(actor=dave, household=hh, programme=programmes["dibao"], amount_fen=60000, start_month=MAY)
    _login(client, bob)
    new = reverse("disbursement:change_report_new", args=[hh.public_id])
    kinds = client.get(new).content.decode()
    assert "收入变化" in kinds and "家庭成员死亡" in kinds and "新增或处置车辆" in kinds
    form = client.get(new + "?kind=income_change").content.decode()
    assert "个人月收入（元/月）" in form and "申报人或部门文件" in form
    head = hh.memberships.get().person
    data = {"person": str(head.public_id), "effective_on": "2026-06-01", "source": "household"}
    refused = client.post(new + "?kind=income_change", {**data, "fact_income_month_fen": "800"})
    assert refused.status_code == 200 and "请写明由谁申报" in refused.content.decode()
    data |= {"source_detail": "户主本人申报", "fact_income_month_fen": "800", "note": "打零工"}
    response = client.post(new + "?kind=income_change", data)
    assert response.status_code == 302
    report = ChangeReport.objects.get(household=hh)
    assert report.details["facts"] == {"household": {}, "members": {str(head.public_id): {"income_month_fen": 80000}}}
    assert report.source_detail == "户主本人申报"
    page = client.get(response["Location"]).content.decode()
    assert "按变更后情况重新评估" in page and "享受待遇（一卡发放）" in page and "个人月收入：¥800.00" in page
    # The household page offers 报告变化 to the township window.
    household_page = client.get(reverse("registry:household_detail", args=[hh.public_id])).content.decode()
    assert new in household_page


def test_suspend_and_terminate_from_the_entitlement_page(client, bob, dave, programmes):
    from ejia.disbursement.models import Entitlement, Notice

    hh = household()
    ent = entitlement_create(actor=dave, household=hh, programme=programmes["dibao"], amount_fen=60000, start_month=MAY)
    _login(client, bob)
    url = reverse("disbursement:entitlement", args=[ent.public_id])
    assert client.get(url).status_code == 200
    client.post(url, {"action": "suspend", "reason": "入户核查两次无人"})
    ent.refresh_from_db()
    assert ent.status == Entitlement.Status.SUSPENDED
    client.post(url, {"action": "terminate", "reason": "家庭已迁出本市", "from_month": "2026-07"})
    ent.refresh_from_db()
    assert ent.status == Entitlement.Status.ENDED and str(ent.end_month) == "2026-06-01"
    assert Notice.objects.filter(entitlement=ent).count() == 2
