#!/usr/bin/env bash
# Set-up for a fresh machine or an existing checkout: every step checks before it acts, so running it
# again only does what is missing or out of date. Called by every Makefile target through `make setup`.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
CHECKOV_VENV=${CHECKOV_VENV:-.venv-checkov}
SYSTEM_PACKAGES=(postgresql prometheus prometheus-alertmanager prometheus-pushgateway openssl wrk)

# The machine-wide pip configuration may name local indexes that do not exist; PyPI and the lock are all we use.
export PIP_CONFIG_FILE=/dev/null

log() { printf 'setup: %s\n' "$*"; }

# --- 1. System packages the end-to-end tests use (real servers on 127.0.0.1) -------------------------
missing_system_packages() {
  local missing=()
  command -v openssl >/dev/null || missing+=(openssl)
  command -v promtool >/dev/null && command -v prometheus >/dev/null || missing+=(prometheus)
  command -v amtool >/dev/null && command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
  compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null && command -v pg_dump >/dev/null || missing+=(postgresql)
  command -v wrk >/dev/null || missing+=(wrk)
  command -v prometheus-pushgateway >/dev/null || missing+=(prometheus-pushgateway)
  echo "${missing[@]}"
}
missing=$(missing_system_packages)
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing system packages: $missing"
    apt-get update -qq
    # shellcheck disable=SC2086  # word splitting of the package list is intended
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    log "WARNING: missing system packages: $missing"
    log "  install them with: sudo apt-get install $missing"
    log "  until then the tests that need them are skipped, each naming what is missing"
  fi
else
  log "system packages present (${SYSTEM_PACKAGES[*]})"
fi

# --- 2. Python virtual environment from the pinned lock ---------------------------------------------
lock_stamp() { sha256sum requirements/lock.txt pyproject.toml | sha256sum | cut -d' ' -f1; }
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
if [ "$(cat "$VENV/.lock-stamp" 2>/dev/null)" != "$(lock_stamp)" ]; then
  log "installing Python dependencies from requirements/lock.txt"
  # --no-deps: the lock is complete; pip must not resolve (unpinned resolution backtracks for >10 minutes).
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps --require-hashes \
    -r requirements/lock.txt
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
  lock_stamp >"$VENV/.lock-stamp"
else
  log "Python dependencies up to date ($VENV)"
fi

# --- 3. helm / kubectl (pinned, sha256-checked) ------------------------------------------------------
"$VENV/bin/python" scripts/install_binaries.py "$VENV/bin"

# --- 4. checkov in its own environment (its pins conflict with the main set) -------------------------
checkov_stamp() { sha256sum requirements/checkov-lock.txt | cut -d' ' -f1; }
if [ "$(cat "$CHECKOV_VENV/.lock-stamp" 2>/dev/null)" != "$(checkov_stamp)" ]; then
  log "installing checkov into $CHECKOV_VENV"
  [ -x "$CHECKOV_VENV/bin/python" ] || "$PYTHON" -m venv "$CHECKOV_VENV"
  "$CHECKOV_VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps --require-hashes \
    -r requirements/checkov-lock.txt
  checkov_stamp >"$CHECKOV_VENV/.lock-stamp"
else
  log "checkov up to date ($CHECKOV_VENV)"
fi

# --- 5. Node tools: the README parameter-table generator (pinned in package-lock.json) ---------------
if command -v npm >/dev/null; then
  if [ "$(cat node_modules/.lock-stamp 2>/dev/null)" != "$(sha256sum package-lock.json | cut -d' ' -f1)" ]; then
    log "installing node tools (npm ci)"
    npm ci --no-audit --no-fund --silent
    sha256sum package-lock.json | cut -d' ' -f1 >node_modules/.lock-stamp
  else
    log "node tools up to date"
  fi
else
  log "WARNING: npm not found; the chart README check is skipped (install nodejs and npm)"
fi

log "done: $("$VENV/bin/helm" version --short 2>/dev/null || helm version --short), python $("$VENV/bin/python" -c 'import platform; print(platform.python_version())')"
