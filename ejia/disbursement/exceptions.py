from __future__ import annotations


class DisbursementError(Exception):
    """A refused move, with a message a clerk can act on (Chinese)."""


class ReconciliationError(DisbursementError):
    def __init__(self, message: str, differences: list[str]) -> None:
        super().__init__(message)
        self.differences = differences
