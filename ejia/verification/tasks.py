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
