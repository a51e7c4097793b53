"""Home-visit photos show on the procedure page for the staff handling it, sealed on disk,
audited on every view, and never reach a department approver or another township."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from conftest import TEST_PASSWORD
from ejia.cases.workflow import services as wf
from ejia.cases.workflow.models import HomeVisitPhoto, RequestProcedure
from ejia.core import crypto
from ejia.core.audit import AuditEvent

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=TEST_PASSWORD)
    return client


def _photo(name="visit.jpg") -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 90, 60)).save(out, "JPEG")
    return SimpleUploadedFile(name, out.getvalue(), content_type="image/jpeg")


@pytest.fixture
def visited(submit_case, bob, bob2, finished_check, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    case = submit_case()
    p = RequestProcedure.objects.get(case=case)
    p = wf.procedure_complete(actor=bob, procedure_id=p.pk, expected_version=p.version)
    check = finished_check(case)
    p = wf.procedure_complete(actor=bob, procedure_id=p.pk, expected_version=p.version, check_id=check.public_id)
    photo = _photo()
    original = photo.read()
    photo.seek(0)
    wf.home_visit_record(
        actor=bob,
        procedure_id=p.pk,
        visit_date=dt.date.today(),
        staff_1=bob,
        staff_2=bob2,
        findings="住房简陋",
        photos=[photo],
    )
    return p, HomeVisitPhoto.objects.get(), original, tmp_path


def test_the_clerk_sees_the_photo_from_the_procedure_page_and_each_view_is_audited(bob, visited):
    p, photo, original, media = visited
    assert (media / photo.image.name).read_bytes().startswith(crypto.SEALED_MAGIC)
    client = client_for(bob)
    url = f"/staff/work/r/{p.public_id}/photos/{photo.pk}/"
    assert url in client.get(f"/staff/work/r/{p.public_id}/").content.decode()
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content) == original
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    assert AuditEvent.objects.filter(action="workflow.home_visit_photo_view", actor=bob).count() == 1


def test_a_department_approver_and_another_township_get_no_photo(erin, carol, visited):
    p, photo, _, _ = visited
    url = f"/staff/work/r/{p.public_id}/photos/{photo.pk}/"
    for user in (erin, carol):
        assert client_for(user).get(url).status_code in (403, 404)
    assert not AuditEvent.objects.filter(action="workflow.home_visit_photo_view").exists()


def test_a_photo_of_another_procedure_is_not_found(bob, visited, submit_case):
    _, photo, _, _ = visited
    other = RequestProcedure.objects.get(case=submit_case())
    assert client_for(bob).get(f"/staff/work/r/{other.public_id}/photos/{photo.pk}/").status_code == 404
