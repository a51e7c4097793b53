"""Writes of the dashboards app outside the refresh: the audit trail of what left the platform
as a file (an exported table, a printed monthly report). The numbers are aggregates, but who took
which area's figures away, and when, is still for the audit log to say."""

from __future__ import annotations

from django.db import transaction

from ejia.core.audit import audit_record
from ejia.dashboards.types import Dashboard

EXPORT = "dashboards.export"
REPORT = "dashboards.report"


def download_record(*, actor, action: str, dashboard: Dashboard, data: dict) -> None:
    """One audit event naming `actor` for a download of `dashboard`'s area (`action` is EXPORT
    or REPORT; `data` says what: the table and format, or the report's month)."""
    if action not in (EXPORT, REPORT):
        raise ValueError(action)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=action,
            object_type="dashboards.area",
            object_id=dashboard.area_code,
            data={
                "area": dashboard.area_name,
                "from": f"{dashboard.start_month:%Y-%m}",
                "to": f"{dashboard.end_month:%Y-%m}",
                "department": dashboard.department,
                **data,
            },
        )
