"""A published rule version is frozen in the database too, so no bulk UPDATE, raw SQL or
admin slip can rewrite the grounds of past decisions (the model and services refuse first)."""

from django.db import migrations

TABLE = "catalogue_programmeversion"

POSTGRES_UP = f"""
CREATE OR REPLACE FUNCTION catalogue_version_frozen() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'published programme version % is immutable', OLD.id;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER catalogue_version_frozen
    BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW WHEN (OLD.status = 'published')
    EXECUTE FUNCTION catalogue_version_frozen();
"""
POSTGRES_DOWN = f"""
DROP TRIGGER IF EXISTS catalogue_version_frozen ON {TABLE};
DROP FUNCTION IF EXISTS catalogue_version_frozen();
"""
# SQLite guards updates only: Django flushes SQLite tables with DELETE (transactional tests,
# `flush`), which a delete trigger would block; PostgreSQL flushes with TRUNCATE.
SQLITE_UP = [
    f"""CREATE TRIGGER catalogue_version_frozen_update BEFORE UPDATE ON {TABLE}
    WHEN OLD.status = 'published'
    BEGIN SELECT RAISE(ABORT, 'published programme version is immutable'); END;"""
]
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS catalogue_version_frozen_update;"]


def up(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_UP:
            schema_editor.execute(statement, params=None)


def down(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_DOWN:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("catalogue", "0002_programme_amount_period")]

    operations = [migrations.RunPython(up, down)]
