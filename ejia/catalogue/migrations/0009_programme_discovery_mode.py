from django.db import migrations, models


def seed_modes(apps, schema_editor):
    """The seed's setting (programmes.toml) for programmes loaded before the field existed; a
    programme the seed does not know keeps the default."""
    from ejia.catalogue.seed import load_programmes

    Programme = apps.get_model("catalogue", "Programme")
    by_mode: dict[str, list[str]] = {}
    for row in load_programmes():
        if row.get("discovery_mode"):
            by_mode.setdefault(row["discovery_mode"], []).append(row["code"])
    for mode, codes in by_mode.items():
        Programme.objects.filter(code__in=codes).update(discovery_mode=mode)


class Migration(migrations.Migration):
    dependencies = [
        ("catalogue", "0008_programme_gradual_exit"),
    ]

    operations = [
        migrations.AddField(
            model_name="programme",
            name="discovery_mode",
            field=models.CharField(
                choices=[
                    ("likely_possible", "“可能符合”和“需要核实”的家庭都列为线索"),
                    ("likely", "只把“可能符合”的家庭列为线索"),
                    ("never", "不列为主动发现线索"),
                ],
                default="likely",
                max_length=16,
                verbose_name="主动发现",
            ),
        ),
        migrations.RunPython(seed_modes, migrations.RunPython.noop),
    ]
