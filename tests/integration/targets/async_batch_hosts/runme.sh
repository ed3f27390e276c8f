#!/usr/bin/env bash
# Six hosts (local connection), three forks: the linear and the free strategy.
set -eux
# the jobs' own async dir, new for this run: nothing read from or left in the ~/.ansible_async this machine has
async_home="$(mktemp -d)"
export ANSIBLE_ASYNC_DIR="$async_home/async"
trap 'rm -rf "$async_home"' EXIT
for strategy in linear free; do
    ANSIBLE_STRATEGY="$strategy" ansible-playbook -i inventory.ini -f 3 many_hosts.yml -e "strategy_name=$strategy" \
        -e "went_on_mark=$async_home/went-on-$strategy" "$@"
done
