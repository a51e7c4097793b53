"""The exchange pages: only the data-exchange operator gets in; upload → preview → commit."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from ejia.verification.models import SourceRecord, SourceSnapshot

from .conftest import VALID_IDS, write_csv

HEADER = ["姓名", "身份证号", "残疾证号", "残疾类别", "残疾等级", "发证日期"]
ROWS = [
    ["张三", VALID_IDS[0], VALID_IDS[0] + "42", "肢体残疾", "二级", "20200101"],
    ["李四", VALID_IDS[1], VALID_IDS[1] + "51", "智力残疾", "五级", "20200101"],
]


def upload(client, tmp_path, encoding="gbk"):
    data = write_csv(tmp_path / "cl.csv", HEADER, ROWS, encoding).read_bytes()
    return client.post(
        reverse("verification:upload", args=["cl_disability"]),
        {"file": SimpleUploadedFile("残联.csv", data, content_type="text/csv")},
    )


def test_staff_without_the_operator_role_are_refused_in_chinese(client, sources, bob, dave):
    for user in (bob, dave):
        client.force_login(user)
        for url in (reverse("verification:sources"), reverse("verification:upload", args=["cl_disability"])):
            response = client.get(url)
            assert response.status_code == 403
            assert "数据交换操作员" in response.content.decode()


def test_anonymous_visitors_are_sent_to_login(client, sources):
    response = client.get(reverse("verification:sources"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_the_operator_sees_every_source(client, sources, olga):
    client.force_login(olga)
    page = client.get(reverse("verification:sources")).content.decode()
    assert page.count("上传文件") >= 12
    assert "残疾人联合会" in page and "尚未入库" in page


def test_upload_previews_then_commits_once(client, sources, olga, tmp_path):
    client.force_login(olga)
    response = upload(client, tmp_path)
    assert response.status_code == 302
    snapshot = SourceSnapshot.objects.get()
    assert snapshot.status == SourceSnapshot.Status.PREVIEW

    page = client.get(response["Location"]).content.decode()
    assert "确认入库" in page
    assert "「残疾等级」“五级”不在允许的代码中" in page
    assert VALID_IDS[1] not in page  # the refused row shows the ID masked
    assert VALID_IDS[1][:6] + "********" in page

    commit = reverse("verification:commit", args=[snapshot.public_id])
    assert client.post(commit).status_code == 302
    assert client.post(commit).status_code == 302  # double click
    snapshot.refresh_from_db()
    assert snapshot.status == SourceSnapshot.Status.COMMITTED
    assert SourceRecord.objects.filter(snapshot=snapshot).count() == 1
    record = SourceRecord.objects.get()
    assert record.data["disability_grade"] == "2" and record.data["disability_kind"] == "4"
    assert VALID_IDS[0] not in str(record.data)

    csv = client.get(reverse("verification:rejected", args=[snapshot.public_id, "csv"]))
    assert csv.status_code == 200 and "五级" in csv.content.decode("utf-8-sig")
    xlsx = client.get(reverse("verification:rejected", args=[snapshot.public_id, "xlsx"]))
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"

    listing = client.get(reverse("verification:sources")).content.decode()
    assert "残联.csv" in listing


def test_a_refused_upload_shows_the_reason_and_keeps_nothing(client, sources, olga, tmp_path):
    client.force_login(olga)
    response = client.post(
        reverse("verification:upload", args=["cl_disability"]),
        {"file": SimpleUploadedFile("x.csv", "姓名,别的\n张三,1\n".encode(), content_type="text/csv")},
    )
    assert response.status_code == 400
    assert "缺少必需的列：身份证号" in response.content.decode()
    assert not SourceSnapshot.objects.exists()


def test_others_cannot_commit_or_download(client, sources, olga, bob, tmp_path):
    client.force_login(olga)
    upload(client, tmp_path)
    snapshot = SourceSnapshot.objects.get()
    client.force_login(bob)
    assert client.post(reverse("verification:commit", args=[snapshot.public_id])).status_code == 403
    assert client.get(reverse("verification:rejected", args=[snapshot.public_id, "csv"])).status_code == 403
    snapshot.refresh_from_db()
    assert snapshot.status == SourceSnapshot.Status.PREVIEW
