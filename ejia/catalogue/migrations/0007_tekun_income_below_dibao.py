"""特困人员认定办法 (民发〔2021〕43号): a person has no source of living when their income is
below the local 低保 standard — not the 特困 basic-living standard the first seed used. A
catalogue loaded before the correction gets a new published version of `tekun` with the
corrected criterion, in force from the same date as the version it corrects."""

from django.db import migrations
from django.utils import timezone

OLD = 'income_month_fen < standard("tekun_basic")'
NEW = {"label": "无生活来源（本人月收入低于当地低保标准）", "expr": 'income_month_fen < standard("dibao")'}


def forwards(apps, schema_editor):
    ProgrammeVersion = apps.get_model("catalogue", "ProgrammeVersion")
    versions = ProgrammeVersion.objects.filter(programme__code="tekun")
    current = versions.filter(status="published").order_by("-effective_from", "-number").first()
    if current is None or not any(c.get("expr") == OLD for c in current.criteria or []):
        return
    number = max(versions.values_list("number", flat=True)) + 1
    ProgrammeVersion.objects.create(
        programme_id=current.programme_id,
        number=number,
        status="published",
        criteria=[NEW if c.get("expr") == OLD else c for c in current.criteria],
        amount_expr=current.amount_expr,
        effective_from=current.effective_from,
        published_at=timezone.now(),
        change_note="更正：无生活来源按本人收入低于当地低保标准认定（《特困人员认定办法》，民发〔2021〕43号）",
    )


class Migration(migrations.Migration):
    dependencies = [("catalogue", "0006_seed_combination_rules")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
