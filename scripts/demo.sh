#!/usr/bin/env bash
# Command 1 of the README: install, migrate the embedded SQLite database, load the demo
# city, its department data and demo staff, then serve on http://127.0.0.1:${PORT:-8000}/
# with a background task worker.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh runtime
export DJANGO_SETTINGS_MODULE=config.settings
# The demo runs as staff would use it: no DEBUG pages (a missing page or a refusal shows the
# platform's own page, never Django's technical one); the ID card reader is the built-in mock.
export DJANGO_DEBUG="${DJANGO_DEBUG:-0}"
export EJIA_ID_READER_MOCK="${EJIA_ID_READER_MOCK:-1}"
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py ejia_demo_seed
.venv/bin/python manage.py collectstatic --noinput >/dev/null
PORT="${PORT:-8000}"
# The task worker runs the background jobs (一键核对's sources, batch re-verification) on every
# queue; it is stopped with the server (runserver is not exec'd, so that the trap still runs).
.venv/bin/python manage.py db_worker --queue-name '*' --no-reload &
WORKER_PID=$!
# What production runs from cron every minute (docs/operations.md): seal the API access log into
# the audit chain (else the auditor is told, after 10 minutes, that sealing stopped), send the
# outbox, deliver DCI callbacks. Output and failures go to var/demo-cron.log.
CRON_LOG="${EJIA_VAR_DIR:-var}/demo-cron.log"
mkdir -p "$(dirname "$CRON_LOG")"
(
  while sleep 60; do
    for job in ejia_audit_seal outbox_send ejia_dci_deliver; do
      .venv/bin/python manage.py "$job" >>"$CRON_LOG" 2>&1 || echo "$(date -Is) ${job} failed" >>"$CRON_LOG"
    done
  done
) &
CRON_PID=$!
stop_worker() {
  kill "$CRON_PID" 2>/dev/null || true
  kill "$WORKER_PID" 2>/dev/null || true
  wait "$WORKER_PID" 2>/dev/null || true
}
trap stop_worker EXIT
trap 'exit 130' INT TERM
echo
echo "e家大救助 is running at http://127.0.0.1:${PORT}/   (staff: http://127.0.0.1:${PORT}/staff/)"
echo "Second factor code for any demo login: .venv/bin/python manage.py ejia_demo_code (the demo secret is printed above)."
echo "A task worker for background jobs runs alongside (pid ${WORKER_PID}), and the every-minute jobs (access-log seal, outbox, DCI callbacks; log: var/demo-cron.log). Ctrl-C stops all."
.venv/bin/python manage.py runserver "127.0.0.1:${PORT}" --noreload
