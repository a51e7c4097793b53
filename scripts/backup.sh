#!/usr/bin/env bash
# Back up the platform's PostgreSQL database.
#
#   DATABASE_URL=postgres://user:password@host:5432/ejia scripts/backup.sh [DIRECTORY]
#
# Writes DIRECTORY/ejia-<UTC time>.dump (pg_dump custom format: compressed, restorable table by
# table with pg_restore) and ejia-<UTC time>.dump.sha256 next to it, both mode 0600 in a 0700
# directory (default $EJIA_BACKUP_DIR, else var/backups). Prints the dump's path.
#
# What is NOT in the dump, on purpose: the field keys (EJIA_FIELD_KEYS, EJIA_BLIND_INDEX_KEY) and
# the audit key (EJIA_AUDIT_KEY) live only in the environment. The dump holds ID numbers and bank
# accounts as AES-GCM ciphertext; without the keys it reveals neither, and with the keys stored
# beside it, it would reveal both. Keep the keys in their own store (see docs/operations.md,
# "Backup and restore") and keep every key id any row may name. Sealed uploads ($EJIA_MEDIA_ROOT)
# and the audit anchor file ($EJIA_AUDIT_ANCHOR_FILE) are files, backed up with the file system.
set -euo pipefail
umask 077

url="${DATABASE_URL:-}"
case "$url" in
  postgres://* | postgresql://*) ;;
  *) echo "backup.sh: DATABASE_URL must name the PostgreSQL database (postgres://…)" >&2; exit 2 ;;
esac

directory="${1:-${EJIA_BACKUP_DIR:-$(cd "$(dirname "$0")/.." && pwd)/var/backups}}"
mkdir -p "$directory"
chmod 700 "$directory"

name="ejia-$(date -u +%Y%m%dT%H%M%SZ).dump"
partial="$directory/.$name.partial"
trap 'rm -f "$partial"' EXIT

# --no-owner/--no-privileges: the dump restores into a fresh database owned by whoever restores.
pg_dump --format=custom --compress=6 --no-owner --no-privileges --file="$partial" --dbname="$url"
mv "$partial" "$directory/$name"
(cd "$directory" && sha256sum "$name" > "$name.sha256")
chmod 600 "$directory/$name" "$directory/$name.sha256"
echo "$directory/$name"
