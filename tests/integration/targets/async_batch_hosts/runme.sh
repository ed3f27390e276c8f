#!/usr/bin/env bash
# Six hosts (local connection), three forks: the linear and the free strategy.
set -eux
for strategy in linear free; do
    ANSIBLE_STRATEGY="$strategy" ansible-playbook -i inventory.ini -f 3 many_hosts.yml -e "strategy_name=$strategy" "$@"
done
