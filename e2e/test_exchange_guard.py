"""Olga, the city's data-exchange operator, uploads two bad 民政 files over good data: the one
whose every row is refused cannot be committed and says why; the one with a quarter of the
rows goes in only once she writes down the reason. The good data stays until then."""

from __future__ import annotations

import pytest

from e2e.conftest import go, login, screenshot
from ejia.core.models import AuditEvent
from ejia.verification.models import DataSource, SourceRecord, SourceSnapshot
from ejia.verification.services import snapshot_import
from ejia.verification.sources import sources_seed
from ejia.verification.tests.conftest import olga, write_csv  # noqa: F401
from ejia.verification.tests.test_commit_guard import HEADER, bad_rows, rows

pytestmark = pytest.mark.e2e


@pytest.fixture
def good_data(transactional_db, org, settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    sources_seed()
    source = DataSource.objects.get(code="mz_civil")
    return snapshot_import(actor=None, source=source, path=write_csv(tmp_path / "good.csv", HEADER, rows(20)))


def upload(page, live_server, path) -> None:
    page.goto(f"{live_server.url}/staff/exchange/sources/mz_civil/upload/")
    page.set_input_files("#id_file", str(path))
    go(page, "form[enctype='multipart/form-data'] button[type=submit]")
    page.wait_for_selector("[data-testid=status]:has-text('待确认')")


def test_a_bad_file_never_replaces_good_data_without_a_reason(page, live_server, olga, good_data, tmp_path):  # noqa: F811
    login(page, live_server, olga)

    upload(page, live_server, write_csv(tmp_path / "全部错误.csv", HEADER, bad_rows(20)))
    guard = page.inner_text("[data-testid=guard]")
    assert "没有一行通过校验" in guard and "20 行" in guard and "保持不变" in guard
    assert page.locator("[data-testid=commit]").count() == 0
    screenshot(page, "exchange-guard-all-rejected")

    upload(page, live_server, write_csv(tmp_path / "五行.csv", HEADER, rows(5)))
    assert "25.0%" in page.inner_text("[data-testid=guard]")
    go(page, "[data-testid=commit]")  # without a reason
    assert "入库未完成" in page.inner_text("[data-testid=error]")
    assert page.inner_text("[data-testid=status]") == "待确认"
    good_data.refresh_from_db()
    assert good_data.status == SourceSnapshot.Status.COMMITTED
    assert SourceRecord.objects.filter(snapshot=good_data).count() == 20

    page.fill("[data-testid=override-reason]", "本月民政局只移交了滨城区的登记")
    go(page, "[data-testid=commit]")
    page.wait_for_selector("[data-testid=committed]")
    assert "本月民政局只移交了滨城区的登记" in page.inner_text("[data-testid=override]")
    screenshot(page, "exchange-guard-override")
    good_data.refresh_from_db()
    assert good_data.status == SourceSnapshot.Status.SUPERSEDED
    assert AuditEvent.objects.filter(action="exchange.commit_override", actor=olga).count() == 1
    assert AuditEvent.objects.filter(action="exchange.commit_refused", actor=olga).count() == 1
