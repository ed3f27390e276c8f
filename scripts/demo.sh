#!/usr/bin/env bash
# Copyright (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Run docs/examples/demo.yml against localhost with the collection straight from this work tree, its jobs
# in an async dir of their own (the nox session demo-<series> of noxfile.py, which scripts/test.sh runs too).
#
#   bash scripts/demo.sh [extra ansible-playbook args, e.g. -v]
#
# Environment:
#   ASYNCOPS_VENV_DIR       cache dir (default ~/.cache/asyncops-jobs)
#   ASYNCOPS_DEMO_CORE      ansible-core series to use (default 2.19)
#   ASYNCOPS_DEMO_PLAYBOOK  playbook to run (default docs/examples/demo.yml)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
CACHE="${ASYNCOPS_VENV_DIR:-$HOME/.cache/asyncops-jobs}"

bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec "$CACHE/venv-nox/bin/nox" --envdir "$CACHE/nox-demo" -s "demo-${ASYNCOPS_DEMO_CORE:-2.19}" -- "$@"
