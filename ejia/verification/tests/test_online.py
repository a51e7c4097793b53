"""The online adapter against the department simulator, for real over loopback HTTP: answers,
latency, retries, failures that show as failures (never as "nothing found"), the circuit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from django.conf import settings

from ejia.core import crypto
from ejia.core.models import AuditEvent
from ejia.verification.models import PERSON_INDEX_PURPOSE, DataSource, SourceCircuit
from ejia.verification.online import SourceFailed, query_online
from ejia.verification.services import snapshot_import
from ejia.verification.simulator import Behaviour, MemoryProvider, start_in_thread

from .conftest import VALID_IDS, write_csv

HOLDER = VALID_IDS[0]
NOBODY = VALID_IDS[9]


@pytest.fixture
def fast_backoff(settings):
    settings.EJIA_EXCHANGE_BACKOFF_SECONDS = 0.01
    settings.EJIA_EXCHANGE_BREAKER_THRESHOLD = 3
    settings.EJIA_EXCHANGE_BREAKER_COOLDOWN_SECONDS = 60


@pytest.fixture
def bank_data(sources, tmp_path):
    header = ["证件号码", "姓名", "银行名称", "账号", "账户类型", "余额(元)", "余额日期"]
    rows = [
        [HOLDER, "张三", "滨州农商银行", "6222000011112222", "活期储蓄", "12000.50", "2025-12-31"],
        [HOLDER, "张三", "中国银行", "6222000033334444", "定期储蓄", "30000", "2025-12-31"],
    ]
    for code in ("bank_deposit", "gongan_vehicles"):
        source = DataSource.objects.get(code=code)
        if code == "bank_deposit":
            snapshot_import(actor=None, source=source, path=write_csv(tmp_path / "bank.csv", header, rows))
    return MemoryProvider.from_committed_snapshots()


def simulator(provider, **behaviour):
    server, url = start_in_thread(provider, Behaviour(**behaviour))
    DataSource.objects.filter(online_enabled=True).update(base_url=url, retries=2, timeout_seconds=2.0)
    return server


def source(code="bank_deposit") -> DataSource:
    return DataSource.objects.get(code=code)


def test_a_holder_is_found_with_typed_records_and_the_query_is_audited(bank_data, fast_backoff):
    server = simulator(bank_data)
    try:
        result = query_online(source=source(), id_number=HOLDER)
    finally:
        server.shutdown()
    assert result.found and len(result.records) == 2
    assert sorted(r["balance_fen"] for r in result.records) == [1200050, 3000000]
    assert all("6222000011112222" not in str(r) for r in result.records)  # account numbers masked
    event = AuditEvent.objects.get(action="exchange.online_query")
    assert event.data["outcome"] == "found"
    assert HOLDER not in str(event.data)


def test_someone_without_records_is_not_found_which_is_not_a_failure(bank_data, fast_backoff):
    server = simulator(bank_data)
    try:
        result = query_online(source=source(), id_number=NOBODY)
    finally:
        server.shutdown()
    assert result.found is False and result.records == []


def test_latency_is_waited_for_and_banks_are_slow(bank_data, fast_backoff):
    server = simulator(bank_data, latency_ms=50, slow={"bank": 400})
    try:
        t = time.monotonic()
        bank = query_online(source=source(), id_number=HOLDER)
        bank_s = time.monotonic() - t
        t = time.monotonic()
        query_online(source=source("gongan_vehicles"), id_number=HOLDER)
        vehicles_s = time.monotonic() - t
    finally:
        server.shutdown()
    assert bank.found
    assert bank_s >= 0.45 and vehicles_s < bank_s
    assert bank.elapsed_ms >= 450


def test_a_transient_outage_is_retried(bank_data, fast_backoff):
    server = simulator(bank_data, fail_first={"bank_deposit": 2})
    try:
        result = query_online(source=source(), id_number=HOLDER)
    finally:
        server.shutdown()
    assert result.found and result.attempts == 3
    assert SourceCircuit.objects.get(source=source()).state == SourceCircuit.State.CLOSED


def test_a_failing_source_shows_as_failed_never_as_nothing_found(bank_data, fast_backoff):
    server = simulator(bank_data, failure_rate=1.0)
    try:
        with pytest.raises(SourceFailed) as exc:
            query_online(source=source(), id_number=HOLDER)
    finally:
        server.shutdown()
    assert exc.value.kind == "http" and exc.value.attempts == 3
    assert "查询失败" in exc.value.message and "503" in exc.value.message
    assert AuditEvent.objects.filter(action="exchange.online_query", data__outcome="failed").exists()


def test_a_timeout_is_a_failure(bank_data, fast_backoff):
    server = simulator(bank_data, slow={"bank": 1500})
    DataSource.objects.filter(code="bank_deposit").update(timeout_seconds=0.3, retries=0)
    try:
        with pytest.raises(SourceFailed) as exc:
            query_online(source=source(), id_number=HOLDER)
    finally:
        server.shutdown()
    assert exc.value.kind == "timeout" and "超时" in exc.value.message


def test_the_circuit_opens_after_repeated_failures_and_stops_calling(bank_data, fast_backoff):
    server = simulator(bank_data, failure_rate=1.0)
    DataSource.objects.filter(code="bank_deposit").update(retries=0)
    try:
        for _ in range(3):
            with pytest.raises(SourceFailed):
                query_online(source=source(), id_number=HOLDER)
        calls = server.requests["bank_deposit"]
        with pytest.raises(SourceFailed) as exc:
            query_online(source=source(), id_number=HOLDER)
        assert server.requests["bank_deposit"] == calls  # refused without calling the department
    finally:
        server.shutdown()
    assert exc.value.kind == "circuit_open" and "熔断" in exc.value.message
    assert SourceCircuit.objects.get(source=source()).state == SourceCircuit.State.OPEN


def test_after_the_cool_down_one_trial_closes_the_circuit(bank_data, fast_backoff, settings):
    settings.EJIA_EXCHANGE_BREAKER_COOLDOWN_SECONDS = 0.2
    server = simulator(bank_data, fail_first={"bank_deposit": 3})
    DataSource.objects.filter(code="bank_deposit").update(retries=0)
    try:
        for _ in range(3):
            with pytest.raises(SourceFailed):
                query_online(source=source(), id_number=HOLDER)
        time.sleep(0.3)
        assert query_online(source=source(), id_number=HOLDER).found
    finally:
        server.shutdown()
    assert SourceCircuit.objects.get(source=source()).state == SourceCircuit.State.CLOSED


def test_the_rate_limit_spaces_requests(bank_data, fast_backoff):
    server = simulator(bank_data)
    DataSource.objects.filter(code="bank_deposit").update(rate_limit_per_second=10)
    try:
        t = time.monotonic()
        for _ in range(4):
            query_online(source=source(), id_number=NOBODY)
        spent = time.monotonic() - t
    finally:
        server.shutdown()
    assert spent >= 0.28


def test_the_id_number_never_travels_in_the_url(bank_data):
    server = simulator(bank_data)
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.server_address[1]}/sources/bank_deposit/query?id={HOLDER}"
        )
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=2)
        assert exc.value.code == 404
    finally:
        server.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_simulator_command_serves_the_city_files_in_its_own_process(sources, tmp_path, fast_backoff):
    import json

    city = tmp_path / "departments"
    city.mkdir()
    write_csv(city / "残联.csv", ["姓名", "身份证号", "残疾证号", "残疾类别", "残疾等级", "发证日期"], [["张三", HOLDER, HOLDER + "42", "肢体残疾", "二级", "20200101"]], "gbk")  # fmt: skip
    (city / "manifest.json").write_text(
        json.dumps({"as_of": "2025-12-31", "files": [{"source": "cl_disability", "file": "残联.csv"}]}), "utf-8"
    )
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "ejia_dept_simulator",
            "--port",
            str(port),
            "--city-dir",
            str(city),
            "--latency-ms",
            "20",
        ],
        cwd=settings.BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'sim.sqlite3'}"},
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.2)
        DataSource.objects.filter(code="cl_disability").update(base_url=f"http://127.0.0.1:{port}")
        result = query_online(source=source("cl_disability"), id_number=HOLDER)
        assert result.found and result.records[0]["disability_grade"] == "2"
        assert result.as_of == "2025-12-31"
        assert result.records[0]["certificate_no"].startswith("371602*")
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert crypto.blind_index(HOLDER, purpose=PERSON_INDEX_PURPOSE)  # the same index on both sides


def test_the_simulator_refuses_to_listen_beyond_loopback():
    from ejia.verification.simulator import make_server

    with pytest.raises(ValueError):
        make_server(MemoryProvider({}), Behaviour(), host="0.0.0.0")  # noqa: S104


@pytest.mark.django_db(transaction=True)
def test_the_database_provider_answers_from_the_committed_snapshot(tmp_path, settings):
    from ejia.verification.simulator import DatabaseProvider
    from ejia.verification.sources import sources_seed

    settings.EJIA_EXCHANGE_BACKOFF_SECONDS = 0.01
    sources_seed()
    header = ["证件号码", "姓名", "银行名称", "账号", "账户类型", "余额(元)", "余额日期"]
    rows = [[HOLDER, "张三", "滨州农商银行", "6222000011112222", "活期储蓄", "88.80", "2025-12-31"]]
    snapshot_import(actor=None, source=source(), path=write_csv(tmp_path / "bank.csv", header, rows))
    server = simulator(DatabaseProvider())
    try:
        result = query_online(source=source(), id_number=HOLDER)
        nobody = query_online(source=source(), id_number=NOBODY)
    finally:
        server.shutdown()
    assert result.found and result.records[0]["balance_fen"] == 8880 and result.as_of
    assert not nobody.found
