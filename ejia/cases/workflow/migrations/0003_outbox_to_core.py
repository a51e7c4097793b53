"""The outbox moves to core (every citizen message, not only the workflow's, goes through it).
Rows are copied to core's tables in order, each message with the area and case it concerns
(found from its dedup key, else from the case with that phone), then the old tables go."""

from django.db import migrations


def _case_for(key: str, recipient: str, Case, RequestProcedure):
    kind, _, rest = key.partition(":")
    ident = rest.split(":")[-1] if kind == "notice" else rest.split(":")[0]
    try:
        if kind in ("decision", "withdraw"):
            return Case.objects.filter(public_id=ident).select_related("division").first()
        if kind in ("start", "step", "return", "notice"):
            procedure = RequestProcedure.objects.filter(public_id=ident).select_related("case__division").first()
            if procedure is not None:
                return procedure.case
    except Exception:  # a key that is not a UUID: fall back to the phone
        pass
    if recipient:
        return Case.objects.filter(phone=recipient).select_related("division").order_by("-pk").first()
    return None


def copy_to_core(apps, schema_editor):
    OldTemplate = apps.get_model("workflow", "NotificationTemplate")
    OldMessage = apps.get_model("workflow", "OutboxMessage")
    Template = apps.get_model("core", "NotificationTemplate")
    Message = apps.get_model("core", "OutboxMessage")
    Case = apps.get_model("cases", "Case")
    RequestProcedure = apps.get_model("workflow", "RequestProcedure")
    Template.objects.bulk_create(
        [Template(code=t.code, name=t.name, text=t.text, active=t.active) for t in OldTemplate.objects.order_by("pk")],
        ignore_conflicts=True,
    )
    rows = []
    for old in OldMessage.objects.order_by("pk").iterator():
        case = _case_for(old.dedup_key, old.recipient, Case, RequestProcedure)
        rows.append(
            Message(
                dedup_key=old.dedup_key,
                channel=old.channel,
                recipient=old.recipient,
                template=old.template,
                text=old.text,
                area_path=case.division.path if case else "",
                subject=case.reference if case else "",
                status=old.status,
                attempts=old.attempts,
                last_error=old.last_error,
                claimed_until=old.claimed_until,
                sent_at=old.sent_at,
            )
        )
        if len(rows) >= 1000:
            Message.objects.bulk_create(rows, ignore_conflicts=True)
            rows = []
    Message.objects.bulk_create(rows, ignore_conflicts=True)
    # created_at is auto_now_add: keep the original times.
    for old in OldMessage.objects.order_by("pk").only("dedup_key", "created_at").iterator():
        Message.objects.filter(dedup_key=old.dedup_key).update(created_at=old.created_at)


def copy_back(apps, schema_editor):
    Template = apps.get_model("core", "NotificationTemplate")
    Message = apps.get_model("core", "OutboxMessage")
    OldTemplate = apps.get_model("workflow", "NotificationTemplate")
    OldMessage = apps.get_model("workflow", "OutboxMessage")
    OldTemplate.objects.bulk_create(
        [OldTemplate(code=t.code, name=t.name, text=t.text, active=t.active) for t in Template.objects.order_by("pk")]
    )
    OldMessage.objects.bulk_create(
        [
            OldMessage(
                dedup_key=m.dedup_key,
                channel=m.channel,
                recipient=m.recipient,
                template=m.template,
                text=m.text,
                status=m.status if m.status in ("pending", "sent", "failed") else "failed",
                attempts=m.attempts,
                last_error=m.last_error,
                claimed_until=m.claimed_until,
                sent_at=m.sent_at,
            )
            for m in Message.objects.order_by("pk")
        ]
    )


class Migration(migrations.Migration):
    dependencies = [
        ("workflow", "0002_claims"),
        ("cases", "0003_intakedraft_phone_alter_intakedraft_user_and_more"),
        ("core", "0003_outbox"),
    ]

    operations = [
        migrations.RunPython(copy_to_core, copy_back),
        migrations.DeleteModel(name="NotificationTemplate"),
        migrations.DeleteModel(name="OutboxMessage"),
    ]
