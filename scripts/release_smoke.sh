#!/usr/bin/env bash
# Release smoke (CI runs it; it runs by hand too): the release steps under production settings
# (collectstatic, migrate), then gunicorn with production settings on a free loopback port, and
# the security headers checked on the login page and on signed-in staff pages
# (scripts/release_smoke.py). gunicorn is stopped however this ends.
#
# The database is a fresh SQLite file in a temporary directory unless RELEASE_SMOKE_DATABASE_URL
# names another (e.g. postgres://postgres@127.0.0.1:5432/ejia_smoke). Secrets are generated for
# the run, as for CI's `check --deploy`. Static files are collected into STATIC_ROOT (staticfiles/).
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
work=$(mktemp -d)
gunicorn_pid=""

stop() {
  local rc=$?
  if [ -n "$gunicorn_pid" ] && kill -0 "$gunicorn_pid" 2>/dev/null; then
    kill -TERM "$gunicorn_pid" 2>/dev/null || true
    wait "$gunicorn_pid" 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ] && [ -s "$work/gunicorn.log" ]; then
    echo "-- gunicorn log (last lines)"
    tail -n 30 "$work/gunicorn.log"
  fi
  rm -rf "$work"
  exit "$rc"
}
trap stop EXIT
trap 'exit 130' INT TERM

secret() { head -c "$1" /dev/urandom | base64 | tr -d '\n'; }
export DJANGO_SETTINGS_MODULE=config.settings_production
export DJANGO_SECRET_KEY="smoke-$(secret 48)"
export EJIA_FIELD_KEYS="k1:$(secret 32)" EJIA_FIELD_KEY_ID=k1
export EJIA_BLIND_INDEX_KEY="smoke-$(secret 32)" EJIA_AUDIT_KEY="smoke-$(secret 32)"
export EJIA_API_SIGNING_KEY="$($py -m ejia.api.keys)"
export DJANGO_ALLOWED_HOSTS=127.0.0.1
export EJIA_VAR_DIR="$work/var"
export EJIA_AUDIT_ANCHOR_FILE="$work/var/audit-anchor.json"
export DATABASE_URL="${RELEASE_SMOKE_DATABASE_URL:-sqlite:///$work/smoke.sqlite3}"

started=$SECONDS
echo "== release smoke: collectstatic (production storage)"
$py manage.py collectstatic --noinput --verbosity 0
echo "== release smoke: migrate"
$py manage.py migrate --noinput --verbosity 0
cookie=$($py scripts/release_smoke.py session | tail -n 1)

port=$($py -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "== release smoke: gunicorn on 127.0.0.1:$port"
# The production configuration (masked access logs, trusted proxies), with the smoke's port.
EJIA_TRUSTED_PROXIES=127.0.0.1 EJIA_ACCESS_LOG="$work/gunicorn.log" EJIA_ERROR_LOG="$work/gunicorn.log" \
  .venv/bin/gunicorn -c config/gunicorn.conf.py --bind "127.0.0.1:$port" --workers 2 --no-control-socket &
gunicorn_pid=$!

$py scripts/release_smoke.py check "http://127.0.0.1:$port" "$cookie"
echo "== release smoke passed in $((SECONDS - started)) s"
