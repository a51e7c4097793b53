"""Background tasks of 一卡发放: thin wrappers over services."""

from __future__ import annotations

from django_tasks import task


@task(queue_name="bulk")
def run_batch_build(batch_id: int, actor_id: int) -> str:
    """Build one county's monthly batch as the staff member who queued it (long: progress is
    written on the batch row per chunk)."""
    from ejia.disbursement.batch_jobs import batch_build_run

    return batch_build_run(batch_id=batch_id, actor_id=actor_id).status
