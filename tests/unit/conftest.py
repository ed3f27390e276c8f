# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-core's collection loader, before any test module imports this collection.

ansible-test units and pytest-ansible install it themselves; a plain `pytest` with this collection's
ansible_collections/ parent on PYTHONPATH gets it here, so that the plugin loader finds this
collection's modules when an action plugin's run() builds them."""

from __future__ import annotations

import os
import sys

try:
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
except ImportError:  # the target side of ansible-test units: module_utils only, and its own finder already
    _AnsibleCollectionFinder = None

# <root>/ansible_collections/asyncops/jobs/tests/unit/conftest.py
COLLECTIONS_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *(['..'] * 5)))

if _AnsibleCollectionFinder is not None and not any(isinstance(f, _AnsibleCollectionFinder) for f in sys.meta_path):
    _AnsibleCollectionFinder(paths=[COLLECTIONS_ROOT])._install()
