#!/usr/bin/env bash
# Safety properties that need the whole controller (display, connection, signals), each a playbook here.
set -eux
# the jobs' own async dir, new for this run: nothing read from or left in the ~/.ansible_async this machine has
async_home="$(mktemp -d)"
export ANSIBLE_ASYNC_DIR="$async_home/async"
trap 'rm -rf "$async_home"' EXIT
inv=(-i inventory.ini)

# no_log: progress is shown, but nothing of the task's output, items or args, even at -vvvv
ansible-playbook "${inv[@]}" no_log.yml -vvvv "$@" >"$OUTPUT_DIR/no_log.out" 2>&1
# progress reaches the default callback (v2_runner_on_async_poll) for the job and for the batch
sed -n '/TASK \[A polled no_log job/,/TASK \[A no_log batch/p' "$OUTPUT_DIR/no_log.out" | grep -q 'ASYNC POLL on testhost'
sed -n '/TASK \[A no_log batch/,$p' "$OUTPUT_DIR/no_log.out" | grep -q 'ASYNC POLL on testhost'
if grep -n 'SECRET' "$OUTPUT_DIR/no_log.out"; then
    echo 'output of a no_log task was displayed' >&2
    exit 1
fi

# results delivered exactly once: the connection loses one reply that carries finished results
DROP_ONCE_FLAG="$OUTPUT_DIR/dropped" ansible-playbook "${inv[@]}" -e ansible_connection=drop_once delivery.yml "$@"

# job keys: re-running a task attaches to its job
OUTPUT_DIR="$OUTPUT_DIR" ansible-playbook "${inv[@]}" keys.yml "$@"

# results reach the controller whole: bytes that are not UTF-8, structured warnings of the module and plain ones of the engine
ansible-playbook "${inv[@]}" results.yml "$@" | tee "$OUTPUT_DIR/results.out"
grep -c "WARNED_BY_MODULE" "$OUTPUT_DIR/results.out"
grep -c "DEPRECATED_BY_MODULE" "$OUTPUT_DIR/results.out"
grep -c "trailing junk" "$OUTPUT_DIR/results.out"

# the controller stopped while polling: the job ids and the commands to follow them up are printed
interrupt() {
    local mode="$1" sig="$2" flag="$OUTPUT_DIR/started-$1" err="$OUTPUT_DIR/interrupt-$1.err" pid jid
    rm -f "$flag"
    rm -f "$err"
    # stderr appended to, as a terminal or a pipe would take it; unbuffered, so the progress lines reach the file at once
    OUTPUT_DIR="$OUTPUT_DIR" PYTHONUNBUFFERED=1 ansible-playbook "${inv[@]}" interrupt.yml -e "mode=$mode" \
        >"$OUTPUT_DIR/interrupt-$mode.out" 2>>"$err" &
    pid=$!
    # the job runs (its flag) and the task polls it (a progress line of a status round, printed once the launch is
    # back): stopped then, and not after a fixed sleep, which a loaded machine can spend on the launch alone
    for _ in $(seq 600); do
        [[ -e "$flag" ]] && grep -q 'ASYNC POLL on testhost' "$OUTPUT_DIR/interrupt-$mode.out" && break
        sleep 0.1
    done
    [[ -e "$flag" ]]
    grep -q 'ASYNC POLL on testhost' "$OUTPUT_DIR/interrupt-$mode.out"
    kill -s "$sig" "$pid"
    if wait "$pid"; then
        echo "ansible-playbook was not interrupted" >&2
        exit 1
    fi
    cat "$err"
    grep -q "interrupted while waiting on testhost for job(s) j" "$err"
    jid="$(sed -n 's/.*-a "jid=\([^ ]*\) mode=kill".*/\1/p' "$err" | head -n 1)"
    [[ -n "$jid" ]]
    # the printed command works: the job was still running, and is stopped now
    ansible testhost "${inv[@]}" -m asyncops.jobs.async_status -a "jid=$jid mode=kill" | tee "$OUTPUT_DIR/killed-$mode.out"
    grep -q '"killed": true' "$OUTPUT_DIR/killed-$mode.out"
    ansible testhost "${inv[@]}" -m asyncops.jobs.async_status -a "jid=$jid mode=cleanup"
}
interrupt run INT
interrupt batch TERM
