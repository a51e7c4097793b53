"""The plan becomes one type (ejia.catalogue.plan, schema 2): every stored case plan is
converted, requests for a member programme name their member, and the plan field reads and
writes the type."""

from django.db import migrations, models

import ejia.catalogue.fields
from ejia.catalogue.migrations import _legacy_plan as legacy


def forwards(apps, schema_editor):
    Case = apps.get_model("cases", "Case")
    ProgrammeRequest = apps.get_model("cases", "ProgrammeRequest")
    Person = apps.get_model("registry", "Person")
    info = legacy.programme_info(apps.get_model("catalogue", "Programme"))
    for case in Case.objects.all().only("pk", "plan", "declared_facts", "rule_date").iterator(chunk_size=500):
        members = [
            (str(m.get("person") or ""), str(m.get("name") or ""))
            for m in (case.declared_facts or {}).get("members") or []
        ]
        new = legacy.plan(case.plan, on=case.rule_date.isoformat(), info=info, members=members)
        if new != case.plan:
            Case.objects.filter(pk=case.pk).update(plan=new)
        # A member programme's request names the member the plan found for it (when it is one).
        for request in ProgrammeRequest.objects.filter(
            case=case, programme__target="member", person__isnull=True
        ).select_related("programme"):
            people = [
                e["person"]
                for e in new["entries"]
                if e["code"] == request.programme.code and e["person"] and e["outcome"] in ("likely", "possible")
            ]
            if len(set(people)) == 1:
                person = Person.objects.filter(public_id=people[0]).first()
                if person is not None:
                    ProgrammeRequest.objects.filter(pk=request.pk).update(person=person)
    for before, after in (("eligible", "likely"), ("possibly_eligible", "possible"), ("not_eligible", "unlikely")):
        ProgrammeRequest.objects.filter(outcome_at_intake=before).update(outcome_at_intake=after)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0004_programmerequest_person"),
        ("catalogue", "0005_combination_rules"),
    ]

    operations = [
        migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="case",
            name="plan",
            field=ejia.catalogue.fields.PlanField(),
        ),
    ]
