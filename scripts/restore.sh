#!/usr/bin/env bash
# Restore a dump made by scripts/backup.sh into a FRESH database, then check the invariants.
#
#   DATABASE_URL=postgres://user:password@host:5432/ejia_restored scripts/restore.sh DUMP
#
# 1. checks DUMP against DUMP.sha256 (a changed or cut-off dump is refused);
# 2. creates the database named in DATABASE_URL if it does not exist, and refuses one that
#    already has tables (a restore never mixes with live data);
# 3. pg_restore, stopping at the first error;
# 4. runs `manage.py ejia_check_invariants` against it (audit chain, import counts, batch totals,
#    memberships, approved cash) — the same field and audit keys as the backed-up system must be
#    in the environment (EJIA_FIELD_KEYS, EJIA_BLIND_INDEX_KEY, EJIA_AUDIT_KEY).
# Exit code: 0 restored and every invariant holds; non-zero otherwise (the message says which step).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"

dump="${1:-}"
if [ -z "$dump" ] || [ ! -f "$dump" ]; then
  echo "restore.sh: usage: DATABASE_URL=postgres://…/fresh_db scripts/restore.sh DUMP" >&2
  exit 2
fi
url="${DATABASE_URL:-}"
case "$url" in
  postgres://* | postgresql://*) ;;
  *) echo "restore.sh: DATABASE_URL must name the PostgreSQL database to restore into" >&2; exit 2 ;;
esac

if [ ! -f "$dump.sha256" ]; then
  echo "restore.sh: $dump.sha256 is missing: the dump cannot be checked" >&2
  exit 3
fi
if ! (cd "$(dirname "$dump")" && sha256sum --check --status "$(basename "$dump").sha256"); then
  echo "restore.sh: $dump does not match its SHA-256: refused" >&2
  exit 3
fi

# The database's name is the URL's last path segment (without ?options); the server's
# maintenance database "postgres" is used to create it.
base="${url%%\?*}"
dbname="${base##*/}"
server="${base%/*}"
if ! psql --dbname="$url" -tAc "SELECT 1" >/dev/null 2>&1; then
  psql --dbname="$server/postgres" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE \"$dbname\"" >/dev/null
fi
tables="$(psql --dbname="$url" -tAc "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")"
if [ "$tables" != "0" ]; then
  echo "restore.sh: database $dbname already has $tables tables: restore only into a fresh database" >&2
  exit 4
fi

pg_restore --no-owner --no-privileges --exit-on-error --dbname="$url" "$dump"
echo "restored $dump into $dbname"
DATABASE_URL="$url" "$PYTHON" manage.py ejia_check_invariants
