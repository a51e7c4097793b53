"""A build killed (SIGKILL) at random points and restarted ends exactly like a clean build."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from ejia.accounts.models import Division
from ejia.disbursement.batches import batch_build
from ejia.disbursement.models import Entitlement, PaymentBatch, PaymentItem, PaymentLine
from ejia.disbursement.tests.conftest import MAY
from ejia.registry.models import Household, Person

HOUSEHOLDS = 3000


def _population(programmes):
    village = Division.objects.filter(parent__code="371602001", level="village").order_by("code").first()
    # Account holders: a line goes to the bank only with the holder's name (户名).
    holders = Person.objects.bulk_create(
        [
            Person(
                id_number_ciphertext="k1:x",
                id_number_index=f"kill-test-{n}",
                id_number_masked="371602********0001",
                name=f"户主{n}",
                sex="1",
                birth_date=dt.date(1960, 1, 1),
            )
            for n in range(HOUSEHOLDS)
        ],
        batch_size=1000,
    )
    Household.objects.bulk_create(
        [
            Household(
                division=village,
                urban=village.urban,
                account_ciphertext="k1:x",
                account_masked="6228****0001",
                account_holder=holder,
            )
            for holder in holders
        ],
        batch_size=1000,
    )
    ids = list(Household.objects.order_by("pk").values_list("pk", flat=True))
    rows = []
    for n, hh in enumerate(ids):
        rows.append(
            Entitlement(
                household_id=hh,
                programme=programmes["dibao"],
                county_code="371602",
                amount_fen=50000 + n,
                start_month=MAY,
            )
        )
        if n % 3 == 0:
            rows.append(
                Entitlement(
                    household_id=hh,
                    programme=programmes["linshi"],
                    county_code="371602",
                    amount_fen=100000,
                    start_month=MAY,
                    end_month=MAY,
                )
            )
    Entitlement.objects.bulk_create(rows, batch_size=2000)


def _snapshot():
    lines = sorted(PaymentLine.objects.values_list("household_id", "amount_fen", "status"))
    items = sorted(PaymentItem.objects.values_list("entitlement_id", "period", "amount_fen", "line__household_id"))
    return lines, items


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_killed_builds_restart_to_the_clean_result(dave, programmes, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the worker subprocess shares the test database on PostgreSQL only")
    _population(programmes)
    db = connection.settings_dict
    url = f"postgres://{db['USER']}{':' + db['PASSWORD'] if db.get('PASSWORD') else ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "EJIA_AUDIT_ANCHOR_FILE": str(tmp_path / "anchor.json"),
    }
    cmd = [
        sys.executable,
        str(Path(settings.BASE_DIR) / "manage.py"),
        "ejia_batch_build",
        "371602",
        "2026-05",
        "--user",
        dave.username,
        "--chunk-size",
        "40",
    ]
    rng = random.Random(8)
    kills, partial = 0, 0
    for _ in range(6):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Wait until the worker is inside the build, then kill it at a random moment.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            if PaymentBatch.objects.filter(status=PaymentBatch.Status.BUILDING).exists():
                break
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.4))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=30)
        if PaymentBatch.objects.filter(status=PaymentBatch.Status.BUILDING).exists() and PaymentLine.objects.exists():
            partial += 1  # killed with part of the lines written
        if PaymentBatch.objects.filter(status=PaymentBatch.Status.BUILT).exists():
            break
    assert kills >= 1 and partial >= 1
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    batch = PaymentBatch.objects.get()
    assert batch.status == PaymentBatch.Status.BUILT
    resumed = _snapshot()
    # The clean build: same data, built at once in-process.
    PaymentItem.objects.all().delete()
    PaymentLine.objects.all().delete()
    PaymentBatch.objects.all().delete()
    clean_batch = batch_build(actor=dave, county="371602", period=MAY)
    assert _snapshot() == resumed
    assert (clean_batch.line_count, clean_batch.total_fen) == (batch.line_count, batch.total_fen)
    assert batch.line_count == HOUSEHOLDS
