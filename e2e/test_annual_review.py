"""刘芳 at the 滨城区 centre works through the annual re-verification: she opens the finished
batch, handles a flagged 低保 household by suspending its entitlement with a written reason,
records that she acted, and finds the batch with nothing left to handle."""

from __future__ import annotations

import pytest

from e2e.conftest import go, login, screenshot
from ejia.disbursement.models import Entitlement
from ejia.disbursement.services import entitlement_create
from ejia.disbursement.tests.conftest import MAY, household
from ejia.verification.tests.factories import flagged_batch

pytestmark = pytest.mark.e2e


@pytest.fixture
def flag(catalogue, dave):
    from ejia.catalogue.models import Programme

    hh = household()
    entitlement_create(
        actor=dave, household=hh, programme=Programme.objects.get(code="dibao"), amount_fen=60000, start_month=MAY
    )
    return flagged_batch(
        actor=dave,
        household=hh,
        reasons=["家庭人均金融资产 ¥54,328.28 ≤ （24 × 低保标准 ¥1,001.00） = ¥24,024.00 ✘"],
        differences=[
            {
                "who": "家庭",
                "fact": "financial_assets_fen",
                "label": "家庭金融资产",
                "declared": 200000,
                "verified": 5432828,
                "sources": ["存款及理财"],
                "as_of": "2026-06-30",
            }
        ],
    )


def test_a_reviewer_suspends_a_flagged_entitlement_and_records_it(page, live_server, dave, flag):
    login(page, live_server, dave)
    go(page, page.get_by_role("link", name="年度复核核对"))
    go(page, page.locator("main table a").first)
    assert "待处理 1" in page.inner_text("[data-testid=flag-tabs]")
    go(page, "[data-testid=handle]")
    assert "家庭金融资产" in page.inner_text("[data-testid=differences]")
    screenshot(page, "annual-review-flag")

    # Recording "acted" before acting is refused, and what was typed stays.
    page.check("#r-acted")
    page.fill("#note", "已暂停发放，待户主说明存款来源")
    go(page, "[data-testid=resolve-form] button[type=submit]")
    assert "请先在待遇页面" in page.inner_text("[data-testid=error]")
    assert page.input_value("#note") == "已暂停发放，待户主说明存款来源"

    flag_url = page.url
    go(page, "[data-testid=entitlement]")
    page.fill("#reason", "年度复核：银行存款超过标准，待核实")
    go(page, "button[value=suspend]")
    assert Entitlement.objects.get().status == Entitlement.Status.SUSPENDED

    page.goto(flag_url)
    assert "暂停" in page.inner_text("[data-testid=entitlements]")
    page.check("#r-acted")
    page.fill("#note", "已暂停发放，待户主说明存款来源")
    go(page, "[data-testid=resolve-form] button[type=submit]")
    assert "本批次需复核的家庭都已处理" in page.inner_text(".alert-success")
    assert "待处理 0" in page.inner_text("[data-testid=flag-tabs]")
    go(page, "[data-testid=tab-done]")
    assert "已调整、暂停或终止待遇" in page.inner_text("[data-testid=flags]")
    screenshot(page, "annual-review-done")
