"""The seed's combination rules for a catalogue loaded before they existed (特困 over 低保 for
the same person, 低保边缘 and 支出型 not with 低保, the medical-aid tiers following the family's
status, …). Only missing rules are added; a fresh database gets them from catalogue_seed."""

from django.db import migrations


def forwards(apps, schema_editor):
    from ejia.catalogue.seed import combinations_seed

    combinations_seed(apps.get_model("catalogue", "Programme"), apps.get_model("catalogue", "CombinationRule"))


class Migration(migrations.Migration):
    dependencies = [("catalogue", "0005_combination_rules")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
