#!/usr/bin/env bash
# Copyright (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Full test run for the asyncops.jobs collection (this is what .ci/run executes): scripts/setup.sh, then
# the nox sessions of noxfile.py / antsibull-nox.toml one by one as steps, then a summary table of the
# steps with PASS/FAIL and seconds, and "N passed, M failed"; exits non-zero if any step failed.
# `nox -l` (with <cache>/venv-nox/bin on PATH) lists and describes every session.
#
# Logs: tests/output/ci/<step>.log; reports of the sessions (ansible-test junit/bot, tarball contents,
# chaos figures) under tests/output/<session>/.
#
# Environment:
#   ASYNCOPS_MATRIX          ansible-core series (default "2.19 2.20 2.21")
#   ASYNCOPS_VENV_DIR        cache dir for venvs and nox's environments (default ~/.cache/asyncops-jobs)
#   ASYNCOPS_FRESH=1         recreate nox's environments (<cache>/nox) first
#   ASYNCOPS_TARGET_PYTHONS  "" skips the integration run against a Python 3.8 target (default "3.8")
#   ASYNCOPS_INTEGRATION_ARGS  extra ansible-test integration arguments (default --allow-destructive:
#                            the async_run target adds and removes the user asyncops_test to test become)
#   ASYNCOPS_STEPS           only run steps whose name matches this extended regex (e.g. "sanity|units")
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
CACHE="${ASYNCOPS_VENV_DIR:-$HOME/.cache/asyncops-jobs}"
MATRIX="${ASYNCOPS_MATRIX:-2.19 2.20 2.21}"
LOGDIR="$ROOT/tests/output/ci"
ENVDIR="$CACHE/nox"

export ASYNCOPS_VENV_DIR="$CACHE" PIP_DISABLE_PIP_VERSION_CHECK=1 ANSIBLE_NOCOLOR=1 PYTHONDONTWRITEBYTECODE=1
[[ -n "${LC_ALL:-}${LANG:-}" ]] || export LANG=C.UTF-8

# pip chatter left out of the failure excerpts printed to the console (the logs keep everything)
PIP_NOISE="^(WARNING: Location 'file:|Looking in (indexes|links)|Collecting |Processing |Installing collected|"
PIP_NOISE+="Successfully (installed|uninstalled)|Requirement already satisfied|Using cached|Downloading |INFO: pip is looking|"
PIP_NOISE+=" +(Downloading|Attempting uninstall|Found existing|Uninstalling|Successfully uninstalled|━))"

STEP_NAMES=() STEP_RESULTS=() STEP_SECONDS=()

record() { STEP_NAMES+=("$1") STEP_RESULTS+=("$2") STEP_SECONDS+=("$3"); }

# run_step NAME COMMAND...: run COMMAND with output to $LOGDIR/NAME.log, time it, record PASS/FAIL.
run_step() {
    local name="$1" log="$LOGDIR/$1.log" start=$SECONDS rc dur
    shift
    [[ -z "${ASYNCOPS_STEPS:-}" || "$name" == setup || "$name" =~ ${ASYNCOPS_STEPS:-} ]] || return 0
    printf '==> %-40s ' "$name"
    "$@" >"$log" 2>&1 </dev/null
    rc=$? dur=$((SECONDS - start))
    if ((rc == 0)); then
        record "$name" PASS "$dur"
        printf 'PASS  %4ss\n' "$dur"
    else
        record "$name" FAIL "$dur"
        printf 'FAIL  %4ss  (exit %s, log: %s)\n' "$dur" "$rc" "${log#"$ROOT"/}"
        echo "---- last 60 lines of ${log#"$ROOT"/} ----"
        grep -Ev "$PIP_NOISE" "$log" | tail -n 60
        echo "---- end of ${log#"$ROOT"/} ----"
    fi
}

skip_step() {
    [[ -z "${ASYNCOPS_STEPS:-}" || "$1" =~ ${ASYNCOPS_STEPS:-} ]] || return 0
    record "$1" SKIP 0
    printf '==> %-40s SKIP  (%s)\n' "$1" "$2"
}

# session NAME: one nox session as a step of the same name
session() { run_step "$1" "$CACHE/venv-nox/bin/nox" --envdir "$ENVDIR" --no-color -s "$1"; }

summary() {
    local i passed=0 failed=0 skipped=0
    printf '\nSummary (logs in %s/):\n' "${LOGDIR#"$ROOT"/}"
    printf '  %-40s %-6s %8s\n' STEP RESULT SECONDS
    for i in "${!STEP_NAMES[@]}"; do
        printf '  %-40s %-6s %8s\n' "${STEP_NAMES[$i]}" "${STEP_RESULTS[$i]}" "${STEP_SECONDS[$i]}"
        case "${STEP_RESULTS[$i]}" in
            PASS) passed=$((passed + 1)) ;;
            FAIL) failed=$((failed + 1)) ;;
            *) skipped=$((skipped + 1)) ;;
        esac
    done
    printf '  %-40s %-6s %8s\n' "total wall time" "" "$SECONDS"
    ((skipped == 0)) || echo "($skipped step(s) skipped, see above)"
    echo "$passed passed, $failed failed"
    ((failed == 0))
}

main() {
    local series name first=1
    rm -rf "$LOGDIR"
    mkdir -p "$LOGDIR" "$CACHE"
    echo "asyncops.jobs tests: matrix [$MATRIX], logs in ${LOGDIR#"$ROOT"/}/"
    run_step setup bash "$ROOT/scripts/setup.sh"
    [[ "${STEP_RESULTS[0]}" == PASS ]] || { summary; exit 1; }

    # one run at a time per nox envdir; a concurrent run gets a private (cold) one
    [[ "${ASYNCOPS_FRESH:-}" != 1 ]] || rm -rf "$ENVDIR"
    mkdir -p "$ENVDIR"
    exec 8>"$ENVDIR/.lock"
    if ! flock -n 8; then
        ENVDIR="$(mktemp -d "${TMPDIR:-/tmp}/asyncops-jobs-nox.XXXXXX")"
        trap 'rm -rf "$ENVDIR"' EXIT
        echo "note: $CACHE/nox is in use by another run; using $ENVDIR"
    fi

    # antsibull-nox's lint links the work tree into <env>/tmp/collection-root once: a link left by a run in
    # another checkout would make it check that one (or fail, once that checkout is gone)
    rm -rf "$ENVDIR"/*/tmp/collection-root
    for series in $MATRIX; do
        session "ansible-test-sanity-$series"
        session "ansible-test-units-$series"
        session "ansible-test-integration-$series"
        session "core-targets-$series"
        session "demo-$series"
        if ((first)); then
            first=0
            session pytest-ansible
            if [[ "$series" == 2.19 && -n "${ASYNCOPS_TARGET_PYTHONS-3.8}" ]]; then
                session ansible-test-integration-2.19-target3.8
            fi
            for name in runner-events collection-tarball build-import-check docs-check lint extra-checks license-check ansible-lint changelog; do
                session "$name"
            done
            if [[ "$(id -u)" != 0 ]]; then
                skip_step docs-examples "needs root (debootstrap and rootful podman)"
                skip_step molecule "needs root (debootstrap and rootful podman)"
                skip_step chaos "needs root (debootstrap and rootful podman)"
            else
                session docs-examples
                session molecule
                session chaos
                [[ ! -s "$ROOT/tests/output/chaos/figures.txt" ]] || sed 's/^/    /' "$ROOT/tests/output/chaos/figures.txt"
            fi
        fi
    done
    summary
}

main "$@"
