"""Nothing in the background fails in silence: the probes answer the load balancer; a nightly job
that fails, is dropped from cron, or keeps a broken seal, a stalled task worker and a failed task
become the system administrator's (and the auditor's) work item and a line on 运行状态, until a
later run passes; `manage.py ejia_health` gives monitoring the same answer as an exit code."""

from __future__ import annotations

import contextlib
import datetime as dt
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError, connections
from django.utils import timezone

from conftest import _unit, make_staff
from ejia.accounts.models import Role
from ejia.core import health
from ejia.core.audit import SEAL_ACTION, access_record, access_seal, audit_record
from ejia.core.models import AccessEvent, AuditEvent, JobRun

URL = "/staff/ops/health/"


@contextlib.contextmanager
def at(when: dt.datetime):
    with mock.patch.object(timezone, "now", return_value=when):
        yield


@pytest.fixture
def watchers(org):
    return {
        "admin": make_staff("ma", _unit("371600", "centre"), Role.SYSADMIN),
        "auditor": make_staff("ivy", _unit("371600", "centre"), Role.AUDITOR),
        "reviewer": make_staff("li", _unit("371602", "centre"), Role.COUNTY_REVIEWER),
    }


def _item(client, user):
    client.force_login(user)
    items = {item.key: item for item in client.get("/staff/").context["work_items"]}
    return items.get("ops_health")


def _checks(client, user) -> dict[str, health.Check]:
    client.force_login(user)
    answer = client.get(URL)
    assert answer.status_code == 200
    return {check.key: check for check in answer.context["checks"]}


# ---------------------------------------------------------------- probes


def test_healthz_answers_without_touching_the_database(client):
    answer = client.get("/healthz")  # no db fixture: any query would raise
    assert answer.status_code == 200 and answer.content == b"ok"
    assert "no-cache" in answer["Cache-Control"] or "max-age=0" in answer["Cache-Control"]


def test_readyz_is_ok_on_a_migrated_database_and_503_when_the_database_fails(client, db, monkeypatch):
    answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}}

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    with monkeypatch.context() as patched:
        patched.setattr(connections["default"], "cursor", refuse)
        answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json() == {"status": "fail", "checks": {"database": "fail"}}
    assert client.post("/readyz").status_code == 405


def test_readyz_reports_unapplied_migrations(db, monkeypatch):
    from django.db.migrations.executor import MigrationExecutor

    monkeypatch.setattr(health, "_migrated", set())
    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: [("core", False)])
    checks = {check.key: check for check in health.readiness()}
    assert not checks["migrations"].ok and "1 个数据库迁移" in checks["migrations"].detail


# ---------------------------------------------------------------- nightly jobs


def test_a_failed_chain_check_is_a_work_item_until_a_later_run_passes(client, watchers):
    event = audit_record(actor=None, action="demo.thing", object_type="core.thing", data={"a": 1})
    call_command("ejia_audit_verify", "--no-anchor")
    assert _item(client, watchers["admin"]) is None

    AuditEvent.objects.filter(pk=event.pk).update(data={"a": 2})  # tampered
    with pytest.raises(CommandError):
        call_command("ejia_audit_verify", "--no-anchor")
    run = JobRun.objects.get(name="audit_verify")
    assert run.ok is False and "哈希" in run.message

    for who in ("admin", "auditor"):
        item = _item(client, watchers[who])
        assert item is not None and item.count == 1 and "审计链核验" in item.label and item.url == URL
    assert _item(client, watchers["reviewer"]) is None
    client.force_login(watchers["reviewer"])
    assert client.get(URL).status_code == 403

    check = _checks(client, watchers["admin"])["audit_verify"]
    assert not check.ok and "未通过" in check.detail and "哈希" in check.detail
    page = client.get(URL).content.decode()
    assert 'data-testid="ops-failing"' in page and "审计链核验" in page

    AuditEvent.objects.filter(pk=event.pk).update(data={"a": 1})  # the auditor restored it
    call_command("ejia_audit_verify", "--no-anchor")
    assert _item(client, watchers["admin"]) is None
    assert _checks(client, watchers["admin"])["audit_verify"].ok


def test_a_broken_seal_kept_by_the_purge_is_a_work_item(client, watchers, settings):
    settings.EJIA_ACCESS_RETENTION_DAYS = 190
    old = timezone.now() - dt.timedelta(days=200)
    with at(old):
        for i in range(2):
            access_record(actor=None, action="api.call", object_type="api.apiclient", object_id="c", data={"i": i})
        access_seal()
    seal = AuditEvent.objects.get(action=SEAL_ACTION)
    AccessEvent.objects.filter(sealed_seq=seal.seq).update(data={"i": 99})
    with pytest.raises(CommandError):
        call_command("ejia_access_purge")
    run = JobRun.objects.get(name="access_purge")
    assert run.ok is False and str(seal.seq) in run.message and "封存摘要不符" in run.message
    item = _item(client, watchers["auditor"])
    assert item is not None and "接口访问记录到期清理" in item.label
    assert not _checks(client, watchers["admin"])["access_purge"].ok


def test_a_failed_invariant_and_a_job_that_raised_are_recorded(db, monkeypatch):
    from ejia.core import invariants

    real = invariants.run_invariants

    def one_fails(**kwargs):
        results = real(**kwargs)
        first = results[0]
        results[0] = type(first)(**{**first.__dict__, "problems": ["x"], "error": ""})
        return results

    monkeypatch.setattr("ejia.core.management.commands.ejia_check_invariants.run_invariants", one_fails)
    with pytest.raises(CommandError):
        call_command("ejia_check_invariants")
    run = JobRun.objects.get(name="check_invariants")
    assert run.ok is False and "1 项不变量不成立" in run.message

    with pytest.raises(ZeroDivisionError), health.job_run("check_invariants"):
        1 / 0  # noqa: B018
    run.refresh_from_db()
    assert run.ok is False and run.message == "division by zero" and run.last_ok_at is None


def test_a_job_dropped_from_cron_is_overdue(db, settings):
    settings.EJIA_NIGHTLY_JOB_HOURS = 26
    with at(timezone.now() - dt.timedelta(hours=30)):
        audit_record(actor=None, action="demo.first", object_type="core.thing", data={})
        call_command("ejia_audit_verify", "--no-anchor")
    checks = {check.key: check for check in health.operations()}
    assert not checks["audit_verify"].ok and "超过 26 小时未运行" in checks["audit_verify"].detail
    # never run, on a platform older than the period: cron was never set up
    assert not checks["check_invariants"].ok and "从未运行" in checks["check_invariants"].detail
    call_command("ejia_check_invariants")
    call_command("ejia_audit_verify", "--no-anchor")
    checks = {check.key: check for check in health.operations()}
    assert checks["audit_verify"].ok and checks["check_invariants"].ok
    assert checks["audit_verify"].last_ok is not None


def test_a_young_platform_has_missed_nothing_yet(db):
    audit_record(actor=None, action="demo.first", object_type="core.thing", data={})
    checks = health.operations()
    assert health.failing(checks) == []
    assert {check.key for check in checks if check.pending} == set(health.NIGHTLY)
    call_command("ejia_check_invariants")
    assert {check.key for check in health.operations() if check.pending} == {"audit_verify", "access_purge"}


# ---------------------------------------------------------------- background tasks


def test_a_stalled_worker_and_a_failed_task_are_reported(client, watchers, settings, monkeypatch):
    from django_tasks_db.models import DBTaskResult

    from ejia.core.tasks import purge_access_events, seal_access_events

    # The production backend (the settings fixture resets django_tasks' handler both ways).
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default", "verification", "bulk"]}
    }
    seal_access_events.enqueue()
    enqueued = timezone.now()
    assert health.failing(health.operations()) == []  # just enqueued
    with at(enqueued + dt.timedelta(minutes=16)):
        checks = {check.key: check for check in health.operations()}
        assert not checks["task_queue"].ok and "1 个后台任务" in checks["task_queue"].detail
        item = _item(client, watchers["admin"])
        assert item is not None and "后台任务队列" in item.label

    # The worker runs it; then a purge that finds a broken seal fails as a task.
    settings.EJIA_ACCESS_RETENTION_DAYS = 190
    with at(timezone.now() - dt.timedelta(days=200)):
        access_record(actor=None, action="api.call", object_type="api.apiclient", object_id="c", data={"i": 1})
        access_seal()
    AccessEvent.objects.update(data={"i": 2})
    purge_access_events.enqueue()
    # The real worker, once through the queue; it may not close the test's connection (the test
    # runs in one transaction).
    monkeypatch.setattr("django_tasks_db.management.commands.db_worker.close_old_connections", lambda: None)
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", "-v", "0")
    assert DBTaskResult.objects.failed().count() == 1
    checks = {check.key: check for check in health.operations()}
    assert checks["task_queue"].ok
    assert not checks["task_failures"].ok and "purge_access_events" in checks["task_failures"].detail
    assert not checks["access_purge"].ok
