"""影响测算 over the small city: a draft that raises the 低保 line gains households in 市中街道 with
exactly the money the engine gives them one by one; a draft that tightens loses them; only the
programme's own department runs it; the export is reused while the snapshots stay the same."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from ejia.accounts.models import Division
from ejia.catalogue.models import Programme
from ejia.catalogue.selectors import programme_current_version, published_specs, version_spec, with_dependencies
from ejia.catalogue.services import programme_draft_create
from ejia.core.models import AuditEvent
from ejia.discovery.export import Reader, engine_inputs, sources_committed
from ejia.discovery.models import WhatIfRun
from ejia.discovery.whatif import whatif_run, whatif_start
from ejia.rules import Engine

pytestmark = pytest.mark.django_db

RAISED = [
    {"label": "家庭人均月收入低于低保标准的1.5倍", "expr": 'income_per_capita_month_fen < 1.5 * standard("dibao")'},
    {
        "label": "家庭人均金融资产不超过24个月的低保标准",
        "expr": 'financial_assets_per_capita_fen <= 24 * standard("dibao")',
    },
    {"label": "没有非生活必需的机动车辆", "expr": "vehicles == 0"},
    {"label": "家庭住房不超过一套", "expr": "housing_units <= 1"},
    {"label": "没有工商登记的经营主体", "expr": "not has_business"},
]
RAISED_AMOUNT = 'round_yuan(1.5 * standard("dibao") * size - income_total_month_fen)'


def draft(actor, criteria, amount):
    return programme_draft_create(
        actor=actor,
        programme=Programme.objects.get(code="dibao"),
        criteria=criteria,
        amount_expr=amount,
        effective_from=timezone.localdate(),
        change_note="测算",
    )


def run(actor, version) -> WhatIfRun:
    return whatif_run(run_id=whatif_start(actor=actor, version=version, run=False).pk)


def engine_delta(household_ids: list[int], version, on) -> int:
    """The money difference recomputed household by household with the rule engine."""
    programme = version.programme
    published = {s.code: s for s in published_specs(on)}
    before = Engine(with_dependencies(version_spec(programme, programme_current_version(programme, on=on)), published))
    after = Engine(with_dependencies(version_spec(programme, version), published))
    area = Division.objects.filter(level=Division.Level.CITY).get()
    inputs = engine_inputs(Reader.for_area(area, on, sources_committed()), household_ids)
    total = 0
    for item in inputs.values():
        b = before.evaluate(item.input, on=on)["dibao"]
        a = after.evaluate(item.input, on=on)["dibao"]
        total += (a.amount_fen or 0 if a.outcome == "eligible" else 0) - (
            b.amount_fen or 0 if b.outcome == "eligible" else 0
        )
    return total


def test_a_raised_line_gains_households_in_the_township_with_the_engines_money(demo_city):
    editor = demo_city["editor_mz"]
    version = draft(editor, RAISED, RAISED_AMOUNT)
    item = run(editor, version)
    assert item.status == WhatIfRun.Status.FINISHED, item.error
    result = item.result
    totals = result["totals"]
    assert totals["gained"] > 0 and totals["lost"] == 0 and totals["gained_fen"] > 0 and totals["lost_fen"] == 0
    assert result["after"] - result["before"] == totals["gained"]
    [county] = result["counties"]
    assert county["code"] == "371602"
    [township] = county["townships"]
    assert township["name"] == "市中街道" and township["gained"] == totals["gained"]
    # The money equals the engine's, recomputed on the households that changed.
    from ejia.discovery.whatif import diff_export, latest_export

    changes, _ = diff_export(
        latest_export(),
        published=version_spec(version.programme, programme_current_version(version.programme, on=item.on)),
        draft=version_spec(version.programme, version),
        on=item.on,
    )
    assert sum(c.delta_fen for c in changes) == totals["gained_fen"] - totals["lost_fen"]
    assert engine_delta([c.household_id for c in changes], version, item.on) == totals["gained_fen"]
    assert AuditEvent.objects.filter(action="catalogue.whatif_start", object_id=str(item.public_id)).exists()
    assert AuditEvent.objects.filter(action="catalogue.whatif_finish", object_id=str(item.public_id)).exists()

    # The editor's live count reads the same export.
    from ejia.catalogue.views import population

    assert population().is_registry and population().size == result["households"]

    # A tightened line loses households; the second run reuses the export of the first.
    tightened = [dict(c) for c in RAISED]
    tightened[0] = {
        "label": "家庭人均月收入低于低保标准的一半",
        "expr": 'income_per_capita_month_fen < 0.5 * standard("dibao")',
    }
    version.refresh_from_db()
    from ejia.catalogue.services import programme_draft_update

    version = programme_draft_update(
        actor=editor,
        version=version,
        criteria=tightened,
        amount_expr='round_yuan(standard("dibao") * size - income_total_month_fen)',
        effective_from=version.effective_from,
        change_note="收紧",
    )
    second = run(editor, version)
    assert second.export_reused and second.export_at == item.export_at
    assert second.result["totals"]["lost"] > 0 and second.result["totals"]["gained"] == 0
    assert second.result["totals"]["lost_fen"] > 0


def test_only_the_programmes_department_runs_and_reads_a_what_if(client, demo_city):
    version = draft(demo_city["editor_mz"], RAISED, RAISED_AMOUNT)
    client.force_login(demo_city["editor_jy"])
    url = reverse("catalogue:whatif_start", args=["dibao"])
    assert client.post(url).status_code == 403
    assert not WhatIfRun.objects.exists()
    item = whatif_start(actor=demo_city["editor_mz"], version=version, run=False)
    page = reverse("catalogue:whatif", args=["dibao", item.public_id])
    assert client.get(page).status_code == 403
    client.logout()
    client.force_login(demo_city["window_clerk"])
    assert client.post(url).status_code == 403
    client.logout()
    client.force_login(demo_city["editor_mz"])
    response = client.get(page)
    assert response.status_code == 200
    assert "测算中" in response.content.decode() or "排队中" in response.content.decode()
