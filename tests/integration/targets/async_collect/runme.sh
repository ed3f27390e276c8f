#!/usr/bin/env bash
# Collecting batches and jobs (issue: fleets larger than forks), the hint for hosts > forks, the default wait,
# and progress through the callbacks.
set -eux
# the jobs' own async dir, new for this run: nothing read from or left in the ~/.ansible_async this machine has
async_home="$(mktemp -d)"
export ANSIBLE_ASYNC_DIR="$async_home/async"
trap 'rm -rf "$async_home"' EXIT
inv=(-i inventory.ini)

# three hosts, two forks: async_batch with wait=true says once that hosts run in waves, and how to avoid it
ansible-playbook "${inv[@]}" -f 2 collect.yml "$@" 2>&1 | tee "$OUTPUT_DIR/collect.out"
test "$(grep -c 'holds one fork per host for the whole batch' "$OUTPUT_DIR/collect.out")" -eq 1

# progress events reach a callback plugin, without anything of no_log tasks
export RECORD_EVENTS_FILE="$OUTPUT_DIR/events.jsonl"
rm -f "$RECORD_EVENTS_FILE"
ANSIBLE_CALLBACKS_ENABLED=record_events ansible-playbook "${inv[@]}" progress.yml "$@" | tee "$OUTPUT_DIR/progress.out"
python - "$RECORD_EVENTS_FILE" <<'PY'
import json, sys
events = [json.loads(line) for line in open(sys.argv[1])]
by_task = {}
for event in events:
    by_task.setdefault(event['task'], []).append(event['result'])
assert any('visible-progress' in ' '.join(r.get('stdout_tail', [])) for r in by_task['A polled job']), by_task
assert all(r['ansible_job_id'] and r['finished'] is False for r in by_task['A polled job'])
batch = by_task['A polled batch']
assert batch and all(r['asyncops_progress']['total'] == 2 for r in batch), batch
assert 'A polled no_log job and batch' in by_task and 'A polled no_log batch' in by_task
text = json.dumps(events)
assert 'SECRET' not in text, text
print('%d progress events, none with no_log output' % len(events))
PY
grep -q 'ASYNC POLL on h1' "$OUTPUT_DIR/progress.out"
if grep -q 'SECRET' "$OUTPUT_DIR/progress.out"; then exit 1; fi

ansible-playbook "${inv[@]}" wait.yml "$@"
