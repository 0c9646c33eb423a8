#!/usr/bin/env bash
# Sets up a virtual environment from the project's own files and runs the whole test suite.
# Usage: bash tests/run.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
# Optional real-client judges (the official Go CLI, tmux, cloud-init, kubectl). Where they cannot be
# installed, the tests that need them skip with a visible reason.
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  missing=""
  command -v hcloud >/dev/null 2>&1 || missing="$missing hcloud-cli"
  command -v tmux >/dev/null 2>&1 || missing="$missing tmux"
  command -v cloud-init >/dev/null 2>&1 || missing="$missing cloud-init"
  command -v kubectl >/dev/null 2>&1 || missing="$missing kubernetes-client"
  if [ -n "$missing" ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing) >/dev/null 2>&1 \
      || echo "note: could not install$missing; tests needing them will skip" >&2
  fi
fi
# Habits the suite keeps (configured in pyproject.toml): lint clean, types checked (strict for plan and engine).
.venv/bin/python -m ruff check --quiet khz_tui tests screenshots
.venv/bin/python -m mypy --no-error-summary
exec .venv/bin/python -m pytest -n 2 -q -rs "$@"
