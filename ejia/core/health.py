"""Is the platform working: the checks behind the load balancer's probes (`/healthz`,
`/readyz`), the system administrator's 运行状态 page and work item, and `manage.py ejia_health`.

Two kinds of check:

- **serving** (`readiness`): the database answers and every migration is applied. A probe
  needs nothing else to decide whether to send traffic here.
- **operations** (`operations`): what keeps working in the background and would otherwise fail
  in silence. The task worker is taking tasks; no task failed in the last day; the access log's
  seal job keeps up; each nightly job (`NIGHTLY`) ran within `EJIA_NIGHTLY_JOB_HOURS` and its
  last run passed. A nightly job records its own outcome (`job_run`), one row per job
  (`core.JobRun`), in short transactions of its own, so a failure it rolls back is still on
  record.

Every check reads counts, times and job names only: no person's data, so the page can be shown
to the system administrator and the auditor.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ejia.core.models import AccessEvent, AuditEvent, JobRun

# The nightly jobs whose outcome is watched: name → label (and the command cron runs).
NIGHTLY: dict[str, tuple[str, str]] = {
    "audit_verify": (gettext_lazy("审计链核验"), "ejia_audit_verify"),
    "check_invariants": (gettext_lazy("数据不变式检查"), "ejia_check_invariants"),
    "access_purge": (gettext_lazy("接口访问记录到期清理"), "ejia_access_purge"),
}
MESSAGE_CHARS = 2000


@dataclass(frozen=True)
class Check:
    key: str  # stable name (tests, the command's output)
    label: str
    ok: bool
    detail: str  # what was found, in plain Chinese; what to do when it failed
    last_ok: dt.datetime | None = None  # for jobs: when it last passed
    pending: bool = False  # a job that has not run yet on a platform too young to have missed it


# ---------------------------------------------------------------- jobs record their outcome


class JobReport:
    """What a running job reports about itself; a job that ends without calling `failed` passed."""

    def __init__(self) -> None:
        self.ok = True
        self.message = ""

    def passed(self, message: str = "") -> None:
        self.ok, self.message = True, message

    def failed(self, message: str) -> None:
        self.ok, self.message = False, message


def _save(name: str, **fields) -> None:
    JobRun.objects.update_or_create(name=name, defaults=fields)


@contextmanager
def job_run(name: str) -> Iterator[JobReport]:
    """Record a run of the nightly job `name`: started now; finished with what the job reported
    through the yielded JobReport, or failed with the exception that ended it (re-raised)."""
    if name not in NIGHTLY:
        raise KeyError(name)
    _save(name, started_at=timezone.now())
    report = JobReport()
    try:
        yield report
    except BaseException as exc:
        _save(name, finished_at=timezone.now(), ok=False, message=(str(exc) or type(exc).__name__)[:MESSAGE_CHARS])
        raise
    now = timezone.now()
    fields = {"finished_at": now, "ok": report.ok, "message": report.message[:MESSAGE_CHARS]}
    if report.ok:
        fields["last_ok_at"] = now
    _save(name, **fields)


# ---------------------------------------------------------------- serving


_migrated: set[str] = set()  # aliases found fully migrated (a running process never un-applies one)


def _database_ok(alias: str = DEFAULT_DB_ALIAS) -> tuple[bool, str]:
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # the probe reports it; it must not raise
        return False, type(exc).__name__
    return True, ""


def _migrations_ok(alias: str = DEFAULT_DB_ALIAS) -> tuple[bool, str]:
    if alias in _migrated:
        return True, ""
    from django.db.migrations.executor import MigrationExecutor

    try:
        executor = MigrationExecutor(connections[alias])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        return False, type(exc).__name__
    if plan:
        return False, _("有 %(count)s 个数据库迁移尚未执行（manage.py migrate）") % {"count": len(plan)}
    _migrated.add(alias)
    return True, ""


def readiness() -> list[Check]:
    """May this process take traffic: the database answers and is fully migrated."""
    db_ok, db_detail = _database_ok()
    checks = [Check("database", _("数据库连接"), db_ok, db_detail or _("正常"))]
    if db_ok:
        mig_ok, mig_detail = _migrations_ok()
        checks.append(Check("migrations", _("数据库迁移"), mig_ok, mig_detail or _("已全部执行")))
    return checks


# ---------------------------------------------------------------- operations


def _db_tasks() -> bool:
    return settings.TASKS["default"]["BACKEND"] == "django_tasks_db.DatabaseBackend"


def _task_checks(now: dt.datetime) -> list[Check]:
    if not _db_tasks():
        return []
    from django.db.models import Q
    from django_tasks.base import TaskResultStatus
    from django_tasks_db.models import DBTaskResult, get_date_max

    minutes = int(settings.EJIA_TASK_STALL_MINUTES)
    since = now - dt.timedelta(minutes=minutes)
    # Ready for longer than the limit: enqueued before it, and (if deferred) due before it.
    waiting = (
        DBTaskResult.objects.filter(status=TaskResultStatus.READY, enqueued_at__lt=since)
        .filter(Q(run_after=get_date_max()) | Q(run_after__lt=since))
        .count()
    )
    queue = Check(
        "task_queue",
        _("后台任务队列"),
        not waiting,
        _("有 %(count)s 个后台任务等待超过 %(minutes)s 分钟：任务进程（manage.py db_worker）可能已停止，请检查。")
        % {"count": waiting, "minutes": minutes}
        if waiting
        else _("没有等待超过 %(minutes)s 分钟的任务") % {"minutes": minutes},
    )
    failed = list(
        DBTaskResult.objects.filter(status=TaskResultStatus.FAILED, finished_at__gte=now - dt.timedelta(hours=24))
        .order_by("-finished_at")
        .values_list("task_path", "exception_class_path")[:200]
    )
    if failed:
        names = sorted({path.rsplit(".", 1)[-1] for path, _exc in failed})
        detail = _("最近 24 小时有 %(count)s 个后台任务失败（%(names)s）：请按任务进程日志查明原因后重新运行。") % {
            "count": len(failed),
            "names": "、".join(names[:10]),
        }
    else:
        detail = _("最近 24 小时没有失败的后台任务")
    return [queue, Check("task_failures", _("后台任务失败"), not failed, detail)]


def _seal_check(now: dt.datetime) -> Check:
    minutes = int(settings.EJIA_ACCESS_SEAL_ALERT_MINUTES)
    stale = AccessEvent.objects.filter(
        sealed_seq__isnull=True, created_at__lt=now - dt.timedelta(minutes=minutes)
    ).count()
    if stale:
        detail = _(
            "有 %(count)s 条接口访问记录超过 %(minutes)s 分钟未封存进审计链（manage.py ejia_audit_seal 应每分钟运行）。"
        ) % {
            "count": stale,
            "minutes": minutes,
        }
    else:
        detail = _("没有超过 %(minutes)s 分钟未封存的接口访问记录") % {"minutes": minutes}
    return Check("access_seal", _("接口访问记录封存"), not stale, detail)


def _job_checks(now: dt.datetime) -> list[Check]:
    hours = int(settings.EJIA_NIGHTLY_JOB_HOURS)
    due_since = now - dt.timedelta(hours=hours)
    runs = {run.name: run for run in JobRun.objects.filter(name__in=list(NIGHTLY))}
    # A platform younger than the period has not missed a night yet.
    first = AuditEvent.objects.order_by("seq").values_list("created_at", flat=True).first()
    young = first is None or first > due_since
    checks = []
    for name, (label, command) in NIGHTLY.items():
        run = runs.get(name)
        if run is not None and run.ok is False:
            ok = False
            detail = _("最近一次运行（%(when)s）未通过：%(message)s") % {
                "when": timezone.localtime(run.finished_at).strftime("%Y-%m-%d %H:%M"),
                "message": run.message or "—",
            }
        elif run is None or run.finished_at is None:
            ok = young
            detail = (
                _("尚未运行过（manage.py %(command)s，每天一次）") % {"command": command}
                if ok
                else _("超过 %(hours)s 小时从未运行：请在定时任务中加入 manage.py %(command)s。")
                % {"hours": hours, "command": command}
            )
        elif run.finished_at < due_since:
            ok = False
            detail = _("超过 %(hours)s 小时未运行（上次 %(when)s）：请检查定时任务 manage.py %(command)s。") % {
                "hours": hours,
                "when": timezone.localtime(run.finished_at).strftime("%Y-%m-%d %H:%M"),
                "command": command,
            }
        else:
            ok = True
            detail = _("最近一次运行 %(when)s，通过%(message)s") % {
                "when": timezone.localtime(run.finished_at).strftime("%Y-%m-%d %H:%M"),
                "message": f"：{run.message}" if run.message else "",
            }
        pending = ok and (run is None or run.finished_at is None)
        checks.append(Check(name, str(label), ok, detail, run.last_ok_at if run else None, pending))
    return checks


def operations(now: dt.datetime | None = None) -> list[Check]:
    """The background work's checks, platform-wide (counts, times and job names only)."""
    now = now or timezone.now()
    return [*_task_checks(now), _seal_check(now), *_job_checks(now)]


def failing(checks: list[Check]) -> list[Check]:
    return [check for check in checks if not check.ok]


def access_purge_recorded(*, days: int | None = None):
    """`access_purge` as the nightly job (the command and the task): a seal found broken and
    kept fails the job, so the 运行状态 page and the work item show it until a later run passes."""
    from ejia.core.audit import access_purge

    with job_run("access_purge") as job:
        result = access_purge(days=days)
        if result.broken:
            seqs = "、".join(str(seq) for seq in result.broken[:20])
            job.failed(
                _(
                    "%(count)s 批接口访问记录与封存摘要不符，已保留未清理（审计链第 %(seqs)s 条）：请审计员运行审计链核验查明。"
                )
                % {"count": len(result.broken), "seqs": seqs}
            )
        else:
            job.passed(_("删除 %(rows)s 条过期记录") % {"rows": result.rows})
    return result
