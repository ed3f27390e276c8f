#!/usr/bin/env bash
# Steps (issue 17): several modules as one detached job, with per-step results, a time limit for the whole chain and
# for each step, always steps however the chain ended, kill mid-chain, no_log at -vvvv, check mode and become.
set -eux
# the jobs' own async dir and work dir, new for this run: nothing read from or left in this machine's ~/.ansible_async
work="$(mktemp -d)"
export ANSIBLE_ASYNC_DIR="$work/async"
trap 'rm -rf "$work"' EXIT
inv=(-i inventory.ini -e "work_dir=$work/files")

# how a chain ends (every way), and always after each; kill and time limit mid-chain; a batch of chains
ansible-playbook "${inv[@]}" chains.yml "$@"

# check mode passes to every step
ansible-playbook "${inv[@]}" check_mode.yml --check "$@"

# become applies to the chain: every step runs as the become user, the record is in that user's home
ansible-playbook "${inv[@]}" become.yml "$@"

# no_log covers every step's args and output, in progress, results, messages and later status, even at -vvvv
ansible-playbook "${inv[@]}" no_log.yml -vvvv "$@" >"$OUTPUT_DIR/no_log.out" 2>&1 || {
    tail -n 80 "$OUTPUT_DIR/no_log.out"
    exit 1
}
# the progress of the chain reached the default callback
sed -n '/TASK \[A polled no_log chain/,/TASK \[/p' "$OUTPUT_DIR/no_log.out" | grep -q 'ASYNC POLL on testhost'
if grep -n 'SECRET' "$OUTPUT_DIR/no_log.out"; then
    echo 'something of a no_log chain was displayed' >&2
    exit 1
fi
