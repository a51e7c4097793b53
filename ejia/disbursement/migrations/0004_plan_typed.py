"""Stored plans in disbursement become the one plan type (schema 2): change-report
evaluations (keyed by person pk before) and the plan entry an entitlement keeps in its facts."""

from django.db import migrations, models

import ejia.catalogue.fields
from ejia.catalogue.migrations import _legacy_plan as legacy


def forwards(apps, schema_editor):
    ChangeReport = apps.get_model("disbursement", "ChangeReport")
    Entitlement = apps.get_model("disbursement", "Entitlement")
    Membership = apps.get_model("registry", "Membership")
    Person = apps.get_model("registry", "Person")
    info = legacy.programme_info(apps.get_model("catalogue", "Programme"))
    for report in ChangeReport.objects.iterator(chunk_size=200):
        if not report.evaluation:
            if report.evaluation is not None:
                ChangeReport.objects.filter(pk=report.pk).update(evaluation=None)
            continue
        rows = (
            Membership.objects.filter(household_id=report.household_id, date_out__isnull=True)
            .order_by("relation", "pk")
            .values_list("person_id", "person__public_id", "person__name")
        )
        members = [(str(public_id), name) for _pk, public_id, name in rows]
        persons = {str(pk): str(public_id) for pk, public_id, _name in rows}
        new = legacy.evaluation(report.evaluation, info=info, members=members, persons=persons)
        ChangeReport.objects.filter(pk=report.pk).update(evaluation=new)
    for ent in Entitlement.objects.select_related("request__case").iterator(chunk_size=500):
        old = (ent.facts or {}).get("plan")
        if not isinstance(old, dict) or ("outcome" in old and "period" in old):
            continue
        person = Person.objects.filter(pk=ent.person_id).values_list("public_id", "name").first()
        if ent.request_id is not None:
            declared = (ent.request.case.declared_facts or {}).get("members") or []
            members = [(str(m.get("person") or ""), str(m.get("name") or "")) for m in declared]
        else:
            members = [(str(person[0]), person[1])] if person else []
        entries = legacy.entries(old, info.get(old.get("code") or "", {}), members)
        mine = [e for e in entries if person and e["person"] == str(person[0])]
        Entitlement.objects.filter(pk=ent.pk).update(facts={**ent.facts, "plan": (mine or entries)[0]})


class Migration(migrations.Migration):
    dependencies = [
        ("disbursement", "0003_payments_that_end"),
        ("cases", "0005_plan_typed"),
        ("catalogue", "0005_combination_rules"),
    ]

    operations = [
        migrations.AlterField(
            model_name="changereport",
            name="evaluation",
            field=models.JSONField(blank=True, default=None, null=True),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="changereport",
            name="evaluation",
            field=ejia.catalogue.fields.PlanField(blank=True, default=None, null=True),
        ),
    ]
