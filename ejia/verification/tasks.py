"""Background tasks of the verification system: thin wrappers over services."""

from __future__ import annotations

from django_tasks import task


@task(queue_name="verification")
def run_check_source(check_source_id: int) -> str:
    """One source of one 一键核对 (each source is its own task so that slow ones wait alone)."""
    from ejia.verification.checks import check_source_run

    return check_source_run(check_source_id=check_source_id).status


@task(queue_name="bulk")
def run_review_batch(batch_id: int) -> str:
    """One county's 年度复核批量核对 (long: it reports progress on the batch row)."""
    from ejia.verification.reviews import review_batch_run

    return review_batch_run(batch_id=batch_id).status


@task(queue_name="bulk")
def analyse_snapshot(snapshot_id: int) -> str:
    """Row-by-row validation of an uploaded department file (the preview)."""
    from ejia.verification.services import snapshot_analyse

    return snapshot_analyse(snapshot_id=snapshot_id).status


@task(queue_name="bulk")
def commit_snapshot(snapshot_id: int) -> str:
    """Write a confirmed preview's accepted rows as the source's current snapshot."""
    from ejia.verification.models import SourceSnapshot
    from ejia.verification.services import ExchangeError, snapshot_commit, snapshot_commit_failed

    snapshot = SourceSnapshot.objects.select_related("committed_by").get(pk=snapshot_id)
    try:
        return snapshot_commit(actor=snapshot.committed_by, snapshot_id=snapshot_id).status
    except ExchangeError as exc:
        snapshot_commit_failed(snapshot_id=snapshot_id, message=exc.message)
        return "failed"
    except Exception as exc:
        snapshot_commit_failed(
            snapshot_id=snapshot_id, message=f"入库时出错（{type(exc).__name__}），请重试或联系管理员。"
        )
        raise


@task(queue_name="verification")
def run_check_snapshots(check_id: int) -> int:
    """Every snapshot source of one 一键核对 at once (local reads; online sources have a task each)."""
    from ejia.verification.checks import check_snapshots_run

    return check_snapshots_run(check_id=check_id)
