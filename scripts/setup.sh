#!/usr/bin/env bash
# Set-up for a fresh machine or an existing checkout: every step checks before it acts, so running it
# again only does what is missing or out of date. Called by every Makefile target through `make setup`.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
CHECKOV_VENV=${CHECKOV_VENV:-.venv-checkov}
# PostgreSQL runs its archive_command as the postgres user when set-up runs as root: barman-cloud and its
# interpreter must then live where that user can execute them (not under /root or a 0700 checkout).
if [ "$(id -u)" = 0 ]; then
  BARMAN_VENV=${BARMAN_VENV:-/opt/archangel-helm/barman-venv}
  BARMAN_PYTHON=${BARMAN_PYTHON:-/usr/bin/python3}
else
  BARMAN_VENV=${BARMAN_VENV:-.venv-barman}
  BARMAN_PYTHON=${BARMAN_PYTHON:-$PYTHON}
fi
SYSTEM_PACKAGES=(postgresql prometheus prometheus-alertmanager prometheus-pushgateway openssl wrk python3-venv)

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
  # barman-cloud's environment is built with Debian's python3 when running as root (see step 4)
  if [ "$(id -u)" = 0 ]; then
    /usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
  fi
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

# --- 4. Tools whose pins conflict with the main set, each in its own environment ---------------------
# tool_venv NAME VENV PYTHON LOCK: (re)install LOCK into VENV when the lock changed.
tool_venv() {
  local name=$1 venv=$2 python=$3 lock=$4 stamp
  stamp=$(sha256sum "$lock" | cut -d' ' -f1)
  if [ "$(cat "$venv/.lock-stamp" 2>/dev/null)" != "$stamp" ]; then
    log "installing $name into $venv"
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --require-hashes -r "$lock"
    echo "$stamp" >"$venv/.lock-stamp"
  else
    log "$name up to date ($venv)"
  fi
}
tool_venv checkov "$CHECKOV_VENV" "$PYTHON" requirements/checkov-lock.txt
# barman-cloud for the point-in-time recovery tests (psycopg2-binary stands in for psycopg2)
tool_venv barman-cloud "$BARMAN_VENV" "$BARMAN_PYTHON" requirements/barman-lock.txt

# --- 4b. cert-manager's CRDs (validation and the local cluster), from the Go module proxy ------------
if command -v go >/dev/null; then
  "$VENV/bin/python" -m archangel_helm.crds.gomod
else
  log "WARNING: go not found: no cert-manager CRDs (validating a cert-manager environment fails; install golang)"
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
