#!/usr/bin/env bash
# Full test run for the asyncops.jobs collection (this is what .ci/run executes).
#
# 1. scripts/setup.sh (pinned controller venvs, target interpreters, get-pip stand-in, shellcheck)
# 2. copies the work tree (tracked + untracked-not-ignored files) to
#    <scratch>/<series>/ansible_collections/asyncops/jobs, since ansible-test needs a real
#    ansible_collections/<ns>/<name> path (it resolves symlinks)
# 3. for each ansible-core series in ASYNCOPS_MATRIX:
#      ansible-test sanity --venv        (all tests; compile/import/... on every target Python found)
#      ansible-test units --venv         (every target Python found)
#      ansible-test integration --venv --python <controller Python>   (localhost)
#    and, on the first series only (2.19 by default):
#      integration with the oldest target Python(s) on localhost (ASYNCOPS_TARGET_PYTHONS)
#      ansible-galaxy collection build + install into a temp collections path
#      tests/smoke/fqcn.yml with ANSIBLE_COLLECTIONS_PATH = that temp path only
#      ansible-doc for every module in plugins/modules
#      antsibull-docs lint-collection-docs (plugin docs and the docsite in docs/docsite)
#      ansible-lint, production profile, on docs/examples and extensions/molecule
#      antsibull-changelog lint
#      molecule test -s jobs/batch/check_mode, then -s chaos (extensions/molecule: podman containers
#      built from debootstrap images, reached over SSH on 127.0.0.1 ports; needs root); the chaos
#      suite's figures are printed under its step
# 4. prints a summary table and "N passed, M failed"; exits non-zero if any step failed.
#
# Logs: tests/output/ci/<step>.log (+ ansible-test junit/bot output under tests/output/ci/<series>/).
#
# Environment:
#   ASYNCOPS_MATRIX            ansible-core series (default "2.19 2.20 2.21")
#   ASYNCOPS_VENV_DIR          cache dir for venvs and scratch trees (default ~/.cache/asyncops-jobs)
#   ASYNCOPS_SCRATCH_DIR       scratch dir (default <cache>/scratch; kept between runs so that
#                              ansible-test's venvs under tests/output/.tmp/delegation are reused)
#   ASYNCOPS_FRESH=1           wipe the scratch dir first
#   ASYNCOPS_TARGET_PYTHONS    extra integration runs with these target Pythons on the first series
#                              (default "3.8"; "" disables)
#   ASYNCOPS_SANITY_ARGS, ASYNCOPS_UNITS_ARGS, ASYNCOPS_INTEGRATION_ARGS
#                              (ASYNCOPS_INTEGRATION_ARGS defaults to --allow-destructive: the async_run
#                              target creates and removes the user asyncops_test to test become;
#                              set it to "" to skip that target)
#                              extra ansible-test arguments (e.g. "--allow-destructive", "-v")
#   ASYNCOPS_STEPS             only run steps whose name matches this extended regex (e.g. "sanity|units")
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
CACHE="${ASYNCOPS_VENV_DIR:-$HOME/.cache/asyncops-jobs}"
MATRIX="${ASYNCOPS_MATRIX:-2.19 2.20 2.21}"
SCRATCH="${ASYNCOPS_SCRATCH_DIR:-$CACHE/scratch}"
TARGET_PYTHONS="${ASYNCOPS_TARGET_PYTHONS-3.8}"
STEP_FILTER="${ASYNCOPS_STEPS:-}"
LOGDIR="$ROOT/tests/output/ci"
NAMESPACE='asyncops'
NAME='jobs'

export ASYNCOPS_VENV_DIR="$CACHE" ASYNCOPS_MATRIX="$MATRIX"
export PATH="$CACHE/pybin:$PATH"
export PIP_DISABLE_PIP_VERSION_CHECK=1
export ANSIBLE_NOCOLOR=1
export PYTHONDONTWRITEBYTECODE=1
if [[ -z "${LC_ALL:-}${LANG:-}" ]]; then
    export LANG=C.UTF-8
fi

controller_python() {
    case "$1" in
        2.19) echo 3.11 ;;
        2.20) echo 3.12 ;;
        2.21) echo 3.13 ;;
        *) return 1 ;;
    esac
}

# pip chatter left out of the failure excerpts printed to the console (the logs keep everything)
PIP_NOISE="^(WARNING: Location 'file:|Looking in (indexes|links)|Collecting |Processing |Installing collected|"
PIP_NOISE+="Successfully (installed|uninstalled)|Requirement already satisfied|Using cached|Downloading |INFO: pip is looking|"
PIP_NOISE+=" +(Downloading|Attempting uninstall|Found existing|Uninstalling|Successfully uninstalled|━))"

# ---------------------------------------------------------------------------------------------------------
STEP_NAMES=()
STEP_RESULTS=()
STEP_SECONDS=()
RUN_START=$SECONDS
PRIVATE_SCRATCH=

record() {
    STEP_NAMES+=("$1")
    STEP_RESULTS+=("$2")
    STEP_SECONDS+=("$3")
}

# run_step NAME COMMAND...: run COMMAND with output to $LOGDIR/NAME.log, time it, record PASS/FAIL.
run_step() {
    local name="$1" log="$LOGDIR/$1.log" start rc dur
    shift
    if [[ -n "$STEP_FILTER" && "$name" != setup ]] && ! [[ "$name" =~ $STEP_FILTER ]]; then
        return 0
    fi
    printf '==> %-34s ' "$name"
    start=$SECONDS
    "$@" >"$log" 2>&1 </dev/null
    rc=$?
    dur=$((SECONDS - start))
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
    return 0
}

skip_step() {
    local name="$1" reason="$2"
    if [[ -n "$STEP_FILTER" ]] && ! [[ "$name" =~ $STEP_FILTER ]]; then
        return 0
    fi
    record "$name" SKIP 0
    printf '==> %-34s SKIP  (%s)\n' "$name" "$reason"
}

summary() {
    local i passed=0 failed=0 skipped=0
    echo
    echo "Summary (logs in ${LOGDIR#"$ROOT"/}/):"
    printf '  %-34s %-6s %8s\n' STEP RESULT SECONDS
    for i in "${!STEP_NAMES[@]}"; do
        printf '  %-34s %-6s %8s\n' "${STEP_NAMES[$i]}" "${STEP_RESULTS[$i]}" "${STEP_SECONDS[$i]}"
        case "${STEP_RESULTS[$i]}" in
            PASS) passed=$((passed + 1)) ;;
            FAIL) failed=$((failed + 1)) ;;
            *) skipped=$((skipped + 1)) ;;
        esac
    done
    printf '  %-34s %-6s %8s\n' "total wall time" "" "$((SECONDS - RUN_START))"
    if ((skipped)); then
        echo "($skipped step(s) skipped, see above)"
    fi
    echo "$passed passed, $failed failed"
    ((failed == 0))
}

# ---------------------------------------------------------------------------------------------------------
# Copy of the work tree: tracked + untracked-not-ignored files (what the next commit would contain).
make_tree_tar() {
    local out="$1"
    if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (
            cd "$ROOT" || exit 1
            git ls-files -z -co --exclude-standard |
                while IFS= read -r -d '' f; do
                    # skip tracked files deleted from the work tree, and anything under tests/output
                    [[ "$f" == tests/output/* ]] && continue
                    [[ -e "$f" || -L "$f" ]] && printf '%s\0' "$f"
                done | tar --null --no-recursion -T - -cf "$out"
        )
    else
        tar -C "$ROOT" --exclude=./tests/output --exclude=./.git -cf "$out" .
    fi
}

# sync_tree SERIES: (re)populate the series' scratch collection, keeping only ansible-test's venvs.
sync_tree() {
    local dest="$1" d
    mkdir -p "$dest"
    find "$dest" -mindepth 1 -maxdepth 1 ! -name tests -exec rm -rf {} +
    for d in "$dest/tests:output" "$dest/tests/output:.tmp" "$dest/tests/output/.tmp:delegation"; do
        [[ -d "${d%:*}" ]] && find "${d%:*}" -mindepth 1 -maxdepth 1 ! -name "${d##*:}" -exec rm -rf {} +
    done
    tar -C "$dest" -xf "$SCRATCH/tree.tar"
}

# ---------------------------------------------------------------------------------------------------------
# Steps. Each runs in a subshell so that cd/exports stay local.
step_setup() ( bash "$ROOT/scripts/setup.sh"; )

step_sanity() (
    cd "$1" || exit 1
    # shellcheck disable=SC2086
    "$2/bin/ansible-test" sanity --venv --color no ${ASYNCOPS_SANITY_ARGS:-}
)

step_units() (
    cd "$1" || exit 1
    # shellcheck disable=SC2086
    "$2/bin/ansible-test" units --venv --color no ${ASYNCOPS_UNITS_ARGS:-}
)

# step_integration DEST VENV CONTROLLER_PY [TARGET_PY]
step_integration() (
    cd "$1" || exit 1
    local hosts=(--venv --python "$3")
    if [[ -n "${4:-}" ]]; then
        hosts=(--controller "origin:python=venv/$3" --target "controller:python=venv/$4")
    fi
    # shellcheck disable=SC2086
    "$2/bin/ansible-test" integration "${hosts[@]}" --color no ${ASYNCOPS_INTEGRATION_ARGS---allow-destructive}
)

step_build() (
    cd "$1" || exit 1
    rm -rf "$WORK/dist" "$WORK/collections"
    "$2/bin/ansible-galaxy" collection build --output-path "$WORK/dist"
)

step_install() (
    local tarball
    tarball="$(find "$WORK/dist" -maxdepth 1 -name "$NAMESPACE-$NAME-*.tar.gz" | head -n 1)"
    [[ -n "$tarball" ]] || { echo "no collection tarball in $WORK/dist (did the build step fail?)"; exit 1; }
    "$2/bin/ansible-galaxy" collection install --offline --force -p "$WORK/collections" "$tarball"
    tar -tzf "$tarball" | sort >"$LOGDIR/collection-tarball-contents.txt"
    test -f "$WORK/collections/ansible_collections/$NAMESPACE/$NAME/MANIFEST.json"
)

# Environment in which only the collection installed from the tarball is visible.
installed_env() {
    env ANSIBLE_COLLECTIONS_PATH="$WORK/collections" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false \
        ANSIBLE_HOME="$WORK/ansible-home" "$@"
}

step_smoke() (
    # run from a copy outside any ansible_collections tree, so that nothing but the installed
    # collection can be picked up
    rm -rf "$WORK/smoke"
    cp -a "$1/tests/smoke" "$WORK/smoke"
    cd "$WORK/smoke" || exit 1
    printf '%s\n' '[all]' \
        'localhost ansible_connection=local ansible_python_interpreter="{{ ansible_playbook_python }}"' \
        >"$WORK/inventory.ini"
    installed_env "$2/bin/ansible-playbook" -i "$WORK/inventory.ini" fqcn.yml
)

step_ansible_doc() (
    cd "$WORK" || exit 1
    local f mod failed=0 out
    installed_env "$2/bin/ansible-doc" -t module -l "$NAMESPACE.$NAME" || failed=1
    for f in "$1"/plugins/modules/*.py; do
        mod="$(basename "$f" .py)"
        [[ "$mod" == __init__ ]] && continue
        echo "===== ansible-doc -t module $NAMESPACE.$NAME.$mod"
        if ! out="$(installed_env "$2/bin/ansible-doc" -t module "$NAMESPACE.$NAME.$mod" 2>&1)"; then
            echo "$out"; echo "FAILED: ansible-doc exited non-zero for $mod"; failed=1; continue
        fi
        echo "$out"
        # ansible-doc exits 0 even when a plugin is missing or its docs fail to load
        if ! grep -q "$NAMESPACE\.$NAME\.$mod" <<<"$out" ||
            grep -Eq '\[ERROR\]|was not found|Error loading plugin|module documentation failed|Unable to retrieve documentation' <<<"$out"; then
            echo "FAILED: documentation of $mod did not render"; failed=1
        fi
    done
    exit "$failed"
)

# Molecule scenarios (extensions/molecule) against podman containers reached over SSH on 127.0.0.1,
# with the collection installed from the built tarball. Needs root (debootstrap, podman).
step_molecule() (
    cd "$1" || exit 1
    shift 2
    local scenario
    for scenario in "$@"; do
        installed_env env PATH="$CACHE/venv-tools/bin:$PATH" NO_COLOR=1 ASYNCOPS_FIGURES_FILE="$LOGDIR/chaos-figures.txt" \
            molecule --base-config extensions/molecule/config.yml test -s "$scenario" || exit 1
    done
)

# ansible-lint (production profile, .ansible-lint) on the playbooks users read or copy.
step_ansible_lint() (
    cd "$1" || exit 1
    installed_env env PATH="$CACHE/venv-tools/bin:$PATH" ansible-lint docs/examples extensions/molecule
)

step_docs_lint() (
    cd "$1" || exit 1
    PATH="$CACHE/venv-tools/bin:$PATH" antsibull-docs lint-collection-docs --plugin-docs .
)

step_changelog() (
    cd "$1" || exit 1
    "$CACHE/venv-tools/bin/antsibull-changelog" lint -v &&
        "$CACHE/venv-tools/bin/antsibull-changelog" lint-changelog-yaml changelogs/changelog.yaml
)

# ---------------------------------------------------------------------------------------------------------
main() {
    rm -rf "$LOGDIR"
    mkdir -p "$LOGDIR"
    echo "asyncops.jobs tests: matrix [$MATRIX], logs in ${LOGDIR#"$ROOT"/}/"

    run_step setup step_setup
    if [[ "${STEP_RESULTS[0]:-PASS}" == FAIL ]]; then
        summary
        exit 1
    fi

    if [[ "${ASYNCOPS_FRESH:-}" == 1 ]]; then
        rm -rf "$SCRATCH"
    fi
    mkdir -p "$SCRATCH"
    # one run at a time per scratch dir; a concurrent run gets a private (cold) one
    exec 8>"$SCRATCH/.lock"
    if ! flock -n 8; then
        SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/asyncops-jobs-scratch.XXXXXX")"
        PRIVATE_SCRATCH="$SCRATCH"
        echo "note: $CACHE/scratch is in use by another run; using $SCRATCH"
    fi
    if ! make_tree_tar "$SCRATCH/tree.tar" >"$LOGDIR/copy.log" 2>&1; then
        cat "$LOGDIR/copy.log"
        record copy-tree FAIL 0
        summary
        exit 1
    fi

    WORK="$(mktemp -d "${TMPDIR:-/tmp}/asyncops-jobs-ci.XXXXXX")"
    trap 'rm -rf "$WORK" ${PRIVATE_SCRATCH:+"$PRIVATE_SCRATCH"}' EXIT

    local series first=1 venv py dest tpy has_units has_targets
    for series in $MATRIX; do
        venv="$CACHE/venv-$series"
        py="$(controller_python "$series")"
        dest="$SCRATCH/$series/ansible_collections/$NAMESPACE/$NAME"
        if ! sync_tree "$dest" >"$LOGDIR/copy-$series.log" 2>&1; then
            cat "$LOGDIR/copy-$series.log"
            record "copy-$series" FAIL 0
            continue
        fi
        has_units="$(find "$dest/tests/unit" -name 'test_*.py' -print -quit 2>/dev/null)"
        has_targets="$(find "$dest/tests/integration/targets" -mindepth 1 -maxdepth 1 -type d -print -quit 2>/dev/null)"

        run_step "sanity-$series" step_sanity "$dest" "$venv"
        if [[ -n "$has_units" ]]; then
            run_step "units-$series" step_units "$dest" "$venv"
        else
            skip_step "units-$series" "no tests/unit/**/test_*.py"
        fi
        if [[ -n "$has_targets" ]]; then
            run_step "integration-$series" step_integration "$dest" "$venv" "$py"
            if ((first)); then
                for tpy in $TARGET_PYTHONS; do
                    if [[ -x "$CACHE/pybin/python$tpy" ]]; then
                        run_step "integration-$series-target$tpy" step_integration "$dest" "$venv" "$py" "$tpy"
                    else
                        skip_step "integration-$series-target$tpy" "python$tpy not found"
                    fi
                done
            fi
        else
            skip_step "integration-$series" "no tests/integration/targets/*"
        fi

        if ((first)); then
            first=0
            run_step "build" step_build "$dest" "$venv"
            run_step "install" step_install "$dest" "$venv"
            if [[ -f "$dest/tests/smoke/fqcn.yml" ]]; then
                run_step "smoke-fqcn" step_smoke "$dest" "$venv"
            else
                skip_step "smoke-fqcn" "tests/smoke/fqcn.yml does not exist yet"
            fi
            if compgen -G "$dest/plugins/modules/*.py" >/dev/null; then
                run_step "ansible-doc" step_ansible_doc "$dest" "$venv"
            else
                skip_step "ansible-doc" "no modules in plugins/modules"
            fi
            run_step "docs-lint" step_docs_lint "$dest" "$venv"
            run_step "ansible-lint" step_ansible_lint "$dest" "$venv"
            if [[ "$(id -u)" != 0 ]]; then
                skip_step "molecule" "needs root (debootstrap and rootful podman)"
                skip_step "chaos" "needs root (debootstrap and rootful podman)"
            elif [[ -d "$dest/extensions/molecule" ]]; then
                run_step "molecule" step_molecule "$dest" "$venv" jobs batch check_mode
                rm -f "$LOGDIR/chaos-figures.txt"
                run_step "chaos" step_molecule "$dest" "$venv" chaos
                if [[ -s "$LOGDIR/chaos-figures.txt" ]]; then
                    sed 's/^/    /' "$LOGDIR/chaos-figures.txt"
                fi
            fi
            run_step "changelog-lint" step_changelog "$dest" "$venv"
        fi

        # keep ansible-test's junit/bot reports next to the logs
        mkdir -p "$LOGDIR/$series"
        for d in junit bot; do
            [[ -d "$dest/tests/output/$d" ]] && cp -a "$dest/tests/output/$d" "$LOGDIR/$series/"
        done
    done

    summary
}

main "$@"
