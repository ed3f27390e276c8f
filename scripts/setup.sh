#!/usr/bin/env bash
# Copyright (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Prepare what scripts/test.sh and scripts/demo.sh need. Idempotent: a second run only checks.
#   - Debian packages: shellcheck (ansible-test's shellcheck sanity test), git
#   - <cache>/pybin/pythonX.Y links to every interpreter found for 3.8 - 3.14 (nox picks the controller
#     Pythons there, ansible-test the target Pythons)
#   - <cache>/venv-nox: nox + antsibull-nox, pinned in tests/requirements-nox.txt
# Everything else (ansible-core per series, the tools, the get-pip stand-in ansible-test needs offline)
# is set up by the nox sessions themselves (noxfile.py, antsibull-nox.toml).
#
# Environment: ASYNCOPS_VENV_DIR  cache directory (default: ~/.cache/asyncops-jobs)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
CACHE="${ASYNCOPS_VENV_DIR:-$HOME/.cache/asyncops-jobs}"
PYENV_DIR="${PYENV_ROOT:-$HOME/.pyenv}"

log() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# Print a real (non-shim) interpreter for Python X.Y, preferring pyenv's newest patch release.
find_python() {
    local cand
    cand="$(find "$PYENV_DIR/versions" -mindepth 3 -maxdepth 3 -path "*/versions/$1.*/bin/python$1" 2>/dev/null | sort -V | tail -n 1 || true)"
    [[ -n "$cand" ]] || cand="$(type -P -a "python$1" 2>/dev/null | grep -v '/shims/' | head -n 1 || true)"
    [[ -n "$cand" ]] && "$cand" -c 'import sys' >/dev/null 2>&1 && printf '%s\n' "$cand"
}

ensure_apt_packages() {
    local missing=()
    command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
    command -v git >/dev/null 2>&1 || missing+=(git)
    ((${#missing[@]})) || return 0
    if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        log "WARNING: missing ${missing[*]} and cannot apt-get install them (not root or no apt-get)"
        return 0
    fi
    log "installing Debian packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

ensure_pybin() {
    local v py found=()
    mkdir -p "$CACHE/pybin"
    for v in 3.8 3.9 3.10 3.11 3.12 3.13 3.14; do
        if py="$(find_python "$v")"; then
            ln -sfn "$py" "$CACHE/pybin/python$v"
            found+=("$v")
        else
            rm -f "$CACHE/pybin/python$v"
        fi
    done
    log "interpreters in $CACHE/pybin: ${found[*]:-none}"
}

# The nox venv, rebuilt when the interpreter or tests/requirements-nox.txt change.
ensure_nox() {
    local venv="$CACHE/venv-nox" req="$ROOT/tests/requirements-nox.txt" py want
    py="$(find_python 3.11)" || die "Python 3.11 not found (needed for nox)"
    want="$py $(sha256sum <"$req" | cut -c1-16)"
    if [[ "$(cat "$venv/.asyncops-stamp" 2>/dev/null)" == "$want" ]] && "$venv/bin/python" -c 'import nox, antsibull_nox' 2>/dev/null; then
        log "venv-nox: up to date ($py)"
        return 0
    fi
    log "venv-nox: creating with $py (pip log: $CACHE/venv-nox.log)"
    rm -rf "$venv"
    if ! { "$py" -m venv "$venv" && "$venv/bin/python" -m pip install --disable-pip-version-check -r "$req"; } >"$CACHE/venv-nox.log" 2>&1; then
        tail -n 30 "$CACHE/venv-nox.log" >&2
        die "venv-nox: installing tests/requirements-nox.txt failed"
    fi
    printf '%s\n' "$want" >"$venv/.asyncops-stamp"
}

mkdir -p "$CACHE"
# serialize concurrent setups (e.g. a developer run and a CI run sharing the cache)
exec 9>"$CACHE/.setup.lock"
flock -w 1800 9 || die "timed out waiting for $CACHE/.setup.lock"
ensure_apt_packages
ensure_pybin
ensure_nox
log "done"
