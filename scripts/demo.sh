#!/usr/bin/env bash
# Command 1 of the README: install, migrate the embedded SQLite database, load the demo
# city and demo staff, then serve on http://127.0.0.1:${PORT:-8000}/ .
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh runtime
export DJANGO_SETTINGS_MODULE=config.settings
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py ejia_demo_seed
.venv/bin/python manage.py collectstatic --noinput >/dev/null
PORT="${PORT:-8000}"
echo
echo "e家大救助 is running at http://127.0.0.1:${PORT}/   (staff: http://127.0.0.1:${PORT}/staff/)"
echo "Stop with Ctrl-C. A task worker for background jobs: .venv/bin/python manage.py db_worker"
exec .venv/bin/python manage.py runserver "127.0.0.1:${PORT}" --noreload
