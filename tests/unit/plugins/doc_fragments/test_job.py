# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The documented defaults of the shared options are the ones the code uses."""
from __future__ import annotations

import yaml

from ansible_collections.asyncops.jobs.plugins.doc_fragments.job import ModuleDocFragment
from ansible_collections.asyncops.jobs.plugins.module_utils._job_protocol import DEFAULTS


def test_documented_defaults_are_the_code_defaults():
    options = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options']
    documented = {name: spec['default'] for name, spec in options.items() if 'default' in spec}
    assert documented == {name: DEFAULTS[name] for name in documented}
    assert set(documented) == {'grace', 'output_limit', 'leftovers'}
