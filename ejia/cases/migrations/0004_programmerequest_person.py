"""A request for a member programme names its member. Its own migration: the index and the
foreign key are created at the end of a migration, and PostgreSQL creates no index while row
changes of the same transaction (the data migration that follows) wait for their checks."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0003_intakedraft_phone_alter_intakedraft_user_and_more"),
        ("registry", "0002_alter_membership_relation"),
    ]

    operations = [
        migrations.AddField(
            model_name="programmerequest",
            name="person",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="programme_requests",
                to="registry.person",
            ),
        ),
    ]
