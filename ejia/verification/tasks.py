"""Background tasks of the verification system: thin wrappers over services."""

from __future__ import annotations

from django_tasks import task


@task(queue_name="verification")
def run_check_source(check_source_id: int) -> str:
    """One source of one 一键核对 (each source is its own task so that slow ones wait alone)."""
    from ejia.verification.checks import check_source_run

    return check_source_run(check_source_id=check_source_id).status
