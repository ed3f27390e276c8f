#!/usr/bin/env bash
# Keyword mode: plain async/poll tasks (playbooks and ad hoc -B/-P) on the engine, enabled by the library and
# action_plugins paths of the installed collection, as docs/docsite/rst/guide_keyword_mode.rst says.
set -eux
# a user's playbook lives outside any collection: run from a copy, so that short names resolve as they do there
# (inside the collection, `async_status` would resolve to asyncops.jobs.async_status first)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp keyword.yml keyword_no_log.yml inventory.ini "$work/"
# the jobs' own async dir, new for this run: nothing read from or left in the ~/.ansible_async this machine has
export ANSIBLE_ASYNC_DIR="$work/async"
cd "$work"
inv=(-i inventory.ini)

collection="$(ansible-galaxy collection list asyncops.jobs --format json |
    python -c 'import json, sys; paths = json.load(sys.stdin); print(next(p for p in paths if "asyncops.jobs" in paths[p]))')"
export ANSIBLE_LIBRARY="$collection/asyncops/jobs/extensions/keyword_mode/library"
export ANSIBLE_ACTION_PLUGINS="$collection/asyncops/jobs/extensions/keyword_mode/action_plugins"
test -f "$ANSIBLE_LIBRARY/async_wrapper.py"

ansible-playbook "${inv[@]}" keyword.yml "$@"

# a job started under no_log stays censored for every later reader, whatever the reading task says
ansible-playbook "${inv[@]}" keyword_no_log.yml -vvvv "$@" >"$OUTPUT_DIR/keyword_no_log.out" 2>&1 || { cat "$OUTPUT_DIR/keyword_no_log.out"; exit 1; }
grep -q 'visible-keyword-output' "$OUTPUT_DIR/keyword_no_log.out"
if grep -n 'SECRET' "$OUTPUT_DIR/keyword_no_log.out"; then
    echo 'output of a no_log job was displayed by a later reader' >&2
    exit 1
fi

# ad hoc: -B 2 -P 1 on a command that runs longer is stopped at the limit, as a timeout
if ansible testhost "${inv[@]}" -m ansible.builtin.command -a 'sleep 30' -B 2 -P 1 >"$OUTPUT_DIR/adhoc.out" 2>&1; then
    echo "the ad hoc job was not stopped at its limit" >&2
    exit 1
fi
cat "$OUTPUT_DIR/adhoc.out"
grep -q 'Timeout exceeded' "$OUTPUT_DIR/adhoc.out"
grep -q 'FAILED | rc=-15' "$OUTPUT_DIR/adhoc.out"
