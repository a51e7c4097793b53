#!/usr/bin/env bash
# Create .venv and install the pinned dependencies. Usage: scripts/bootstrap.sh [runtime|dev]
set -euo pipefail
cd "$(dirname "$0")/.."
want="${1:-runtime}"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
req=requirements.txt
[ "$want" = "dev" ] && req=requirements-dev.txt
stamp=".venv/.installed-$want-$(sha256sum requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$req" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import django" # fail loudly if the install did not work
  touch "$stamp"
fi
