"""scripts/backup.sh and scripts/restore.sh on PostgreSQL: a dump of a database built by the
services restores into a fresh database and passes every invariant; the dump is private (0600)
and holds no key and no plaintext ID number; a changed dump or a non-empty target is refused."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from ejia.verification.models import DataSource
from ejia.verification.services import snapshot_import
from ejia.verification.sources import sources_seed
from ejia.verification.tests.conftest import VALID_IDS, write_csv
from ejia.verification.tests.test_commit_guard import HEADER, bad_rows, rows

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="backup and restore are PostgreSQL's"),
    pytest.mark.skipif(not shutil.which("pg_dump"), reason="pg_dump is not installed"),
]

SCRIPTS = Path(settings.BASE_DIR) / "scripts"


def url_for(name: str) -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{name}"


def run(script: str, *args: str, database: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": url_for(database),
        # The restored system checks its audit chain against the same anchor as the original.
        "EJIA_AUDIT_ANCHOR_FILE": str(settings.EJIA_AUDIT_ANCHOR_FILE),
    }
    return subprocess.run(
        [str(SCRIPTS / script), *args], capture_output=True, text=True, env=env, cwd=settings.BASE_DIR, timeout=300
    )


@pytest.fixture
def fresh_name():
    name = f"ejia_restore_{uuid.uuid4().hex[:8]}"
    yield name
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def built(transactional_db, org, tmp_path, settings):
    """Committed data the dump must carry: the sources, a department file with a refused row."""
    settings.VAR_DIR = tmp_path / "var"
    sources_seed()
    civil = DataSource.objects.get(code="mz_civil")
    snapshot_import(actor=None, source=civil, path=write_csv(tmp_path / "m.csv", HEADER, rows(8) + bad_rows(1)))


def test_a_dump_restores_into_a_fresh_database_and_passes_the_invariants(built, tmp_path, fresh_name):
    backup = run("backup.sh", str(tmp_path / "backups"), database=connection.settings_dict["NAME"])
    assert backup.returncode == 0, backup.stderr
    dump = Path(backup.stdout.strip().splitlines()[-1])
    checksum = Path(f"{dump}.sha256")
    assert dump.stat().st_mode & 0o777 == 0o600 and checksum.stat().st_mode & 0o777 == 0o600
    assert (dump.parent.stat().st_mode & 0o777) == 0o700

    sql = subprocess.run(["pg_restore", "-f", "-", str(dump)], capture_output=True, text=True, check=True).stdout
    assert "verification_sourcerecord" in sql
    secrets = [key.split(":", 1)[1] for key in settings.EJIA_FIELD_KEYS.split(",")]
    secrets += [settings.EJIA_BLIND_INDEX_KEY, settings.EJIA_AUDIT_KEY]
    assert not [s for s in secrets if s in sql]
    assert VALID_IDS[0] not in sql  # ID numbers are in the dump only as ciphertext

    restore = run("restore.sh", str(dump), database=fresh_name)
    assert restore.returncode == 0, restore.stdout + restore.stderr
    assert "5 invariants, 0 failed" in restore.stdout

    again = run("restore.sh", str(dump), database=fresh_name)  # the target is no longer fresh
    assert again.returncode == 4 and "fresh database" in again.stderr


def test_a_changed_dump_is_refused_before_anything_is_restored(built, tmp_path, fresh_name):
    backup = run("backup.sh", str(tmp_path / "backups"), database=connection.settings_dict["NAME"])
    dump = Path(backup.stdout.strip().splitlines()[-1])
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    restore = run("restore.sh", str(dump), database=fresh_name)
    assert restore.returncode == 3 and "SHA-256" in restore.stderr
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [fresh_name])
        assert cursor.fetchone()[0] == 0
