from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("catalogue", "0007_tekun_income_below_dibao"),
    ]

    operations = [
        migrations.AddField(
            model_name="programme",
            name="gradual_exit",
            field=models.BooleanField(default=False, verbose_name="设渐退期"),
        ),
        migrations.AddField(
            model_name="programme",
            name="gradual_exit_months",
            field=models.PositiveSmallIntegerField(default=0, verbose_name="渐退期月数"),
        ),
        # The seed's setting for programmes loaded before the fields existed (see programmes.toml).
        migrations.RunSQL(
            "UPDATE catalogue_programme SET gradual_exit = TRUE, gradual_exit_months = 6 WHERE code = 'dibao'",
            migrations.RunSQL.noop,
        ),
    ]
