"""Fixtures shared with the disbursement tests."""

from ejia.disbursement.tests.conftest import grace, programmes  # noqa: F401
