"""Signals other apps may listen to; the verification app knows nothing of its listeners."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after the transaction that committed a department file (keyword: snapshot_id).
snapshot_committed = Signal()
