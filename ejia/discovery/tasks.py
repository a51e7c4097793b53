"""Background tasks of proactive discovery: thin wrappers over services."""

from __future__ import annotations

from django_tasks import task


@task(queue_name="bulk")
def run_scan(scan_id: int) -> str:
    """One discovery scan of an area (long: export, bulk evaluation, leads)."""
    from ejia.discovery.scan import scan_run

    return scan_run(scan_id=scan_id).status


@task(queue_name="bulk")
def run_whatif(run_id: int) -> str:
    """One what-if of a catalogue draft over the registry export (seconds at city scale)."""
    from ejia.discovery.whatif import whatif_run

    return whatif_run(run_id=run_id).status
