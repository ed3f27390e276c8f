#!/usr/bin/env bash
# The collection's main paths under mitogen's strategy (mitogen pinned in tests/requirements-mitogen.txt).
set -eux
# the jobs' own async dir, new for this run: nothing read from or left in the ~/.ansible_async this machine has
async_home="$(mktemp -d)"
export ANSIBLE_ASYNC_DIR="$async_home/async"
trap 'rm -rf "$async_home"' EXIT
inv=(-i inventory.ini)
root="$(ansible-galaxy collection list asyncops.jobs --format json |
    python -c 'import json, sys; paths = json.load(sys.stdin); print(next(p for p in paths if "asyncops.jobs" in paths[p]))')/asyncops/jobs"
python -m pip install --quiet --disable-pip-version-check --target "$OUTPUT_DIR/mitogen" -r "$root/tests/requirements-mitogen.txt"
export PYTHONPATH="$OUTPUT_DIR/mitogen${PYTHONPATH:+:$PYTHONPATH}"
export ANSIBLE_STRATEGY_PLUGINS="$OUTPUT_DIR/mitogen/ansible_mitogen/plugins/strategy"
export ANSIBLE_STRATEGY=mitogen_linear

# the main paths; the play ends while a job it started still runs: no inherited mitogen socket keeps it waiting
start=$SECONDS
ansible-playbook "${inv[@]}" mitogen.yml "$@" 2>&1 | tee "$OUTPUT_DIR/mitogen.out"
elapsed=$((SECONDS - start))
grep -q 'mitogen_linear\|Mitogen\|mitogen' "$OUTPUT_DIR/mitogen.out" || grep -q 'ok=' "$OUTPUT_DIR/mitogen.out"
if grep -q 'pending work still existed' "$OUTPUT_DIR/mitogen.out"; then
    echo 'mitogen waited for a connection a job inherited' >&2
    exit 1
fi
ANSIBLE_STRATEGY=linear ansible testhost "${inv[@]}" -m asyncops.jobs.async_status -a "jid=$(cat "$OUTPUT_DIR/left_running") mode=kill"
echo "mitogen play took ${elapsed}s"

# keyword mode under mitogen: async: tasks run on mitogen's runner, and an async_status task says so; run from
# outside the collection, as a user's playbook (inside, `async_status` would resolve to asyncops.jobs.async_status)
work="$(mktemp -d)"
trap 'rm -rf "$work" "$async_home"' EXIT
cp keyword.yml inventory.ini "$work/"
(cd "$work" && ANSIBLE_LIBRARY="$root/extensions/keyword_mode/library" \
    ANSIBLE_ACTION_PLUGINS="$root/extensions/keyword_mode/action_plugins" \
    ansible-playbook "${inv[@]}" keyword.yml "$@") 2>&1 | tee "$OUTPUT_DIR/keyword.out"
grep -q 'keyword mode is not active under the mitogen strategy' "$OUTPUT_DIR/keyword.out"
