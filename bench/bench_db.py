"""What the PostgreSQL benchmarks share: their database, created when it is missing."""

from __future__ import annotations


def ensure_database(url: str) -> None:
    """Create the database named at the end of `url` (postgres://…/NAME) unless it exists."""
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(base + "/postgres", autocommit=True) as con:
        if not con.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            con.execute(f'CREATE DATABASE "{name}"')
