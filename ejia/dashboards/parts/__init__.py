"""The summary parts beyond money, coverage and population: each module defines its summary
queries and registers a `refresh.Part` when imported (refresh_month imports this package)."""

from ejia.dashboards.parts import (
    cases,  # noqa: F401
    data,  # noqa: F401
)
