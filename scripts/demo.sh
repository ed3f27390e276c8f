#!/usr/bin/env bash
# Run docs/examples/demo.yml against localhost with the collection straight from this work tree.
#
#   bash scripts/demo.sh [extra ansible-playbook args, e.g. -v]
#
# Environment:
#   ASYNCOPS_VENV_DIR     cache dir (default ~/.cache/asyncops-jobs)
#   ASYNCOPS_DEMO_CORE    ansible-core series to use (default 2.19)
#   ASYNCOPS_DEMO_PLAYBOOK  playbook to run (default docs/examples/demo.yml)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
CACHE="${ASYNCOPS_VENV_DIR:-$HOME/.cache/asyncops-jobs}"
SERIES="${ASYNCOPS_DEMO_CORE:-2.19}"
PLAYBOOK="${ASYNCOPS_DEMO_PLAYBOOK:-$ROOT/docs/examples/demo.yml}"

ASYNCOPS_VENV_DIR="$CACHE" ASYNCOPS_MATRIX="$SERIES" bash "$ROOT/scripts/setup.sh"

if [[ ! -f "$PLAYBOOK" ]]; then
    echo "demo: $PLAYBOOK does not exist (yet)" >&2
    exit 1
fi

# ansible-playbook follows a symlink here (unlike ansible-test), so no copy is needed.
COLLECTIONS="$(mktemp -d "${TMPDIR:-/tmp}/asyncops-jobs-demo.XXXXXX")"
trap 'rm -rf "$COLLECTIONS"' EXIT
mkdir -p "$COLLECTIONS/ansible_collections/asyncops"
ln -s "$ROOT" "$COLLECTIONS/ansible_collections/asyncops/jobs"

printf '%s\n' '[all]' \
    'localhost ansible_connection=local ansible_python_interpreter="{{ ansible_playbook_python }}"' \
    >"$COLLECTIONS/inventory.ini"

export ANSIBLE_COLLECTIONS_PATH="$COLLECTIONS"
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
if [[ -z "${LC_ALL:-}${LANG:-}" ]]; then
    export LANG=C.UTF-8
fi

"$CACHE/venv-$SERIES/bin/ansible-playbook" -i "$COLLECTIONS/inventory.ini" "$PLAYBOOK" "$@"
