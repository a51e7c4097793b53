"""Background tasks of 一卡发放: thin wrappers over services."""

from __future__ import annotations

from django_tasks import task


@task(queue_name="bulk")
def run_batch_build(batch_id: int, actor_id: int) -> str:
    """Build one county's monthly batch as the staff member who queued it (long: progress is
    written on the batch row per chunk)."""
    from ejia.disbursement.batch_jobs import batch_build_run

    return batch_build_run(batch_id=batch_id, actor_id=actor_id).status


@task(queue_name="bulk")
def scan_alerts(snapshot_id: int) -> str:
    """动态监测: compare a committed department file with the recipients (a failure stays visible
    as a failed scan in the 动态管理 queue)."""
    from ejia.disbursement.alerts import alerts_scan

    return alerts_scan(snapshot_id=snapshot_id).status


def snapshot_committed_receiver(sender, snapshot_id: int, **kwargs) -> None:
    """The verification app committed a department file: queue the alert scan. A scan that
    cannot even be queued is recorded as failed, so the queue shows it."""
    try:
        scan_alerts.enqueue(snapshot_id)
    except Exception as exc:
        from ejia.disbursement.models import AlertScan

        AlertScan.objects.create(
            snapshot_id=snapshot_id,
            source_name=f"#{snapshot_id}",
            status=AlertScan.Status.FAILED,
            error=f"未能排队比对（{type(exc).__name__}），请重新比对。",
        )
