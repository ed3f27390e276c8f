# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible_collections.asyncops.jobs.plugins.module_utils._job_protocol import DEFAULTS
from ansible_collections.asyncops.jobs.plugins.plugin_utils._argspec import argument_spec, option_spec


def test_the_spec_of_an_action_comes_from_its_stub_and_fragments():
    spec = argument_spec('async_run')
    assert spec['module'] == {'type': 'str'}  # module, or steps (checked by the action: one of the two)
    assert spec['steps']['options']['module'] == {'type': 'str', 'required': True}
    assert spec['always']['options'] == spec['steps']['options'] | {'timeout': {'type': 'int'}}
    assert spec['poll'] == {'type': 'int', 'default': 10}
    assert spec['grace'] == {'type': 'float', 'default': DEFAULTS['grace']}  # from the doc fragment
    assert spec['leftovers']['choices'] == ['keep', 'stop']


def test_suboptions_become_options():
    spec = option_spec({'type': 'list', 'elements': 'dict', 'description': 'x',
                        'suboptions': {'a': {'type': 'str', 'default': 'b', 'description': 'y'}}})
    assert spec == {'type': 'list', 'elements': 'dict', 'options': {'a': {'type': 'str', 'default': 'b'}}}
