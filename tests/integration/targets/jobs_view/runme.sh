#!/usr/bin/env bash
# The fleet view (ansible-playbook asyncops.jobs.jobs): three local hosts with an async dir each and an unreachable one.
set -eux
work="$(mktemp -d)"
cleanup() {
    ansible-playbook -i "$work/inventory.ini" asyncops.jobs.jobs -e jobs_action=kill -e jobs_hosts=fleet >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
cat >"$work/inventory.ini" <<INVENTORY
[fleet]
host1 ansible_async_dir=$work/async1
host2 ansible_async_dir=$work/async2
host3 ansible_async_dir=$work/async3

[fleet:vars]
ansible_connection=local
ansible_python_interpreter={{ ansible_playbook_python }}

[down]
gone ansible_host=127.0.0.1 ansible_port=1 ansible_connection=ssh ansible_ssh_common_args='-o ConnectTimeout=3'
INVENTORY
inv=(-i "$work/inventory.ini")

ansible-playbook "${inv[@]}" start_jobs.yml "$@"

# every job of every host, the unreachable one listed as such, at any verbosity nothing of the no_log job
ansible-playbook "${inv[@]}" asyncops.jobs.jobs -e "jobs_report=$work/all.json" -vvv "$@" | tee "$OUTPUT_DIR/view.out"
python check.py "$work/all.json" all
grep -q 'nightly started on host1' "$OUTPUT_DIR/view.out"
grep -q 'unreachable' "$OUTPUT_DIR/view.out"
if grep -n 'SECRET' "$OUTPUT_DIR/view.out"; then
    echo 'the output of a no_log job was shown' >&2
    exit 1
fi

# a filter by state
ansible-playbook "${inv[@]}" asyncops.jobs.jobs -e jobs_state=running -e "jobs_report=$work/running.json" "$@"
python check.py "$work/running.json" running-only

# kill by key across hosts: only those jobs stop
ansible-playbook "${inv[@]}" asyncops.jobs.jobs -e jobs_hosts=fleet -e 'jobs_key=nightly-*' -e jobs_action=kill \
    -e "jobs_report=$work/killed.json" "$@"
python check.py "$work/killed.json" killed
ansible-playbook "${inv[@]}" asyncops.jobs.jobs -e jobs_hosts=fleet -e "jobs_report=$work/after.json" "$@"
python check.py "$work/after.json" after
