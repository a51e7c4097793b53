"""The demo's 动态管理 work in 市中街道: one household in 渐退期, one alert from a death
registration, one from a new vehicle — made by the real services, visible to the township
window's queue; a second run adds nothing."""

from __future__ import annotations

import pytest

from ejia.demo.dynamic import demo_dynamic_ensure
from ejia.disbursement.models import AlertReason, ChangeReport, Entitlement, Notice, Outcome
from ejia.disbursement.selectors import alerts_for_user

pytestmark = pytest.mark.django_db


def test_the_demo_leaves_a_gradual_exit_and_two_alerts_for_the_township(demo_city):
    from ejia.catalogue.selectors import engine_cache_clear

    engine_cache_clear()
    clerk = demo_city["window_clerk"]
    assert demo_dynamic_ensure() == 3
    report = ChangeReport.objects.get()
    assert report.outcome == Outcome.GRADUAL_EXIT
    ent = Entitlement.objects.get(household=report.household, programme__code="dibao")
    assert ent.status == Entitlement.Status.GRADUAL_EXIT
    assert Notice.objects.filter(entitlement=ent, title__contains="渐退告知书").exists()
    alerts = alerts_for_user(user=clerk)
    assert sorted(a.reason for a in alerts) == sorted([AlertReason.DEATH, AlertReason.VEHICLE])
    assert all(a.household.division.parent.code == "371602001" for a in alerts)
    assert demo_dynamic_ensure() == 0
