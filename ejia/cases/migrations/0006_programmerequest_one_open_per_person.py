"""One open request per household and programme — per person for a member programme. Apart
from the data migration before it: PostgreSQL builds no index while row changes of the same
transaction still wait for their constraint checks."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("cases", "0005_plan_typed")]

    operations = [
        migrations.RemoveConstraint(
            model_name="programmerequest",
            name="programmerequest_one_open",
        ),
        migrations.AddConstraint(
            model_name="programmerequest",
            constraint=models.UniqueConstraint(
                condition=models.Q(("is_open", True), ("person__isnull", True)),
                fields=("household", "programme"),
                name="programmerequest_one_open",
            ),
        ),
        migrations.AddConstraint(
            model_name="programmerequest",
            constraint=models.UniqueConstraint(
                condition=models.Q(("is_open", True), ("person__isnull", False)),
                fields=("household", "programme", "person"),
                name="programmerequest_one_open_per_person",
            ),
        ),
    ]
