"""Per-snapshot facts kept between scans: what a committed department snapshot says of each
person, computed once and kept as Parquet under `$EJIA_VAR_DIR/discovery/snapshot-facts/`.

A committed snapshot's records never change: they are written in the transaction that commits
it, and a new file (even the same file again) is a new snapshot with a new key. So the per-person
aggregates `derive` takes of them (`bulk_export._kind_facts`) are the same on every night until
another snapshot of the source is committed, and the export reads them instead of every record.

A file is named by a digest of everything its rows depend on (`SnapshotKey`): the database and
the snapshot (key, commit time to the microsecond, file digest, accepted rows), the source kind
it is read as, and the version of the derivation (the generated SQL of that kind, the keys
`derive` reads, the Python functions odd values go through, DuckDB's version, the fact
catalogue, `VERSION`). A change to any of them gives another name: the old file is never read
again, and `sweep` removes it. The digest is also written into the file and checked on every
read; a file that cannot be read, or holds another digest or other columns, is rebuilt from the
database, with a warning in the log.
"""

# The SQL names tables of this module and a path quoted by `_quoted`.
# ruff: noqa: S608

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

# Raised when the stored shape or meaning of a file changes without the generated SQL changing.
VERSION = 1
PREFIX = "snapshot-"
# A temporary file older than this was left by a writer that died: `sweep` removes it.
STALE_TEMPORARY_SECONDS = 3600


def root() -> Path:
    """The folder of this database's files: one per database, so that `sweep` on one database
    (a test database, another city) never removes the files of another."""
    database = hashlib.blake2b(database_identity().encode(), digest_size=8).hexdigest()
    path = Path(settings.VAR_DIR) / "discovery" / "snapshot-facts" / database
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_identity() -> str:
    """Which database the snapshot keys count in (two databases may both hold a snapshot 7)."""
    params = connection.settings_dict
    return "|".join(str(params.get(k) or "") for k in ("ENGINE", "HOST", "PORT", "NAME"))


@dataclass(frozen=True)
class SnapshotKey:
    snapshot_id: int
    kind: str
    digest: str

    @classmethod
    def of(cls, *, snapshot: dict, kind: str, version: str) -> SnapshotKey:
        """`snapshot`: pk, committed_at, sha256 and rows_accepted of the committed snapshot;
        `version`: a digest of the derivation of `kind` (see the module's docstring)."""
        committed = snapshot["committed_at"].isoformat() if snapshot["committed_at"] else ""
        parts = (
            VERSION,
            database_identity(),
            snapshot["pk"],
            committed,
            snapshot["sha256"],
            snapshot["rows_accepted"],
            kind,
            version,
        )
        digest = hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()
        return cls(snapshot["pk"], kind, digest)

    @property
    def file_name(self) -> str:
        return f"{PREFIX}{self.snapshot_id}-{self.kind}-{self.digest}.parquet"


def load(
    con: duckdb.DuckDBPyConnection,
    *,
    table: str,
    key: SnapshotKey,
    columns: dict[str, str],
    build: Callable[[], None],
) -> bool:
    """Table `table` of `con` holding the snapshot's facts: read from the kept file, or, when
    there is none (or it is unreadable), made by `build` (which creates `table` with `columns`,
    in that order and of those types) and kept. Returns whether it was built."""
    path = root() / key.file_name
    if path.exists():
        try:
            _read(con, table, path, key, columns)
            return False
        except (duckdb.Error, OSError, ValueError) as exc:
            logger.warning("discovery: snapshot facts %s unreadable (%s), rebuilt from the database", path.name, exc)
            con.execute(f"DROP TABLE IF EXISTS {table}")
    build()
    _check(con, table, columns)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        con.execute(
            f"COPY {table} TO '{_quoted(temporary)}' (FORMAT parquet, KV_METADATA {{ejia_key: '{key.digest}'}})"
        )
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return True


def _read(con, table: str, path: Path, key: SnapshotKey, columns: dict[str, str]) -> None:
    (stored,) = con.execute(
        "SELECT decode(value) FROM parquet_kv_metadata(?) WHERE decode(key) = 'ejia_key'", [str(path)]
    ).fetchone() or (None,)
    if stored != key.digest:
        raise ValueError(f"the file holds key {stored!r}")
    con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet(?)", [str(path)])
    _check(con, table, columns)


def _check(con, table: str, columns: dict[str, str]) -> None:
    found = {name: kind for name, kind, *_ in con.execute(f"DESCRIBE {table}").fetchall()}
    if found != columns or list(found) != list(columns):
        raise ValueError(f"columns {found} instead of {columns}")


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def sweep(keep: Iterable[SnapshotKey]) -> list[str]:
    """Remove every kept file but those of `keep` (the keys of the snapshots committed now, with
    the code running now), and temporary files a dead writer left. Returns the names removed."""
    wanted = {key.file_name for key in keep}
    removed = []
    now = time.time()
    for path in root().iterdir():
        name = path.name
        stale_temporary = name.endswith(".tmp") and now - _mtime(path) > STALE_TEMPORARY_SECONDS
        if (name.startswith(PREFIX) and name.endswith(".parquet") and name not in wanted) or stale_temporary:
            path.unlink(missing_ok=True)
            removed.append(name)
    if removed:
        logger.info("discovery: removed %d snapshot facts file(s) no longer current: %s", len(removed), removed)
    return removed


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()
