# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Defaults and choices are written once in code (_job_protocol); where the documentation repeats them (yamllint reads
doc fragments and module docs as literal strings), it says the same."""

from __future__ import annotations

import yaml

from ansible_collections.asyncops.jobs.plugins.doc_fragments.job import ModuleDocFragment
from ansible_collections.asyncops.jobs.plugins.module_utils import _job_protocol as protocol
from ansible_collections.asyncops.jobs.plugins.modules import async_status, async_wrapper
from ansible_collections.asyncops.jobs.plugins.plugin_utils._argspec import argument_spec


def test_documented_defaults_are_the_code_defaults():
    options = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options']
    documented = {name: spec['default'] for name, spec in options.items() if 'default' in spec}
    assert documented == {name: protocol.DEFAULTS[name] for name in documented}
    assert set(documented) == {'grace', 'output_limit', 'leftovers'}
    assert options['leftovers']['choices'] == list(protocol.LEFTOVERS)


def spec_as_documented(module):
    """name: (type, default, choices) of every option a module documents."""
    options = yaml.safe_load(module.DOCUMENTATION)['options']
    return {name: (o.get('type'), o.get('default'), o.get('choices')) for name, o in options.items()}


def spec_in_code(spec):
    return {name: (o.get('type'), o.get('default'), o.get('choices')) for name, o in spec.items()}


def test_the_status_modules_documented_options_are_its_spec():
    assert spec_as_documented(async_status) == spec_in_code(protocol.STATUS_SPEC)


def test_the_wrappers_documented_options_are_its_spec():
    documented = spec_as_documented(async_wrapper)
    documented.update(
        {
            name: (o.get('type'), o.get('default'), o.get('choices'))
            for name, o in yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options'].items()
        }
    )
    assert documented == spec_in_code(protocol.WRAPPER_SPEC)
    jobs = yaml.safe_load(async_wrapper.DOCUMENTATION)['options']['jobs']['suboptions']
    assert spec_in_code(jobs) == spec_in_code(protocol.WRAPPER_JOB_SPEC)
    for chain_option in ('steps', 'always'):
        assert spec_in_code(jobs[chain_option]['suboptions']) == spec_in_code(protocol.WRAPPER_STEP_SPEC)
        assert {name for name, o in jobs[chain_option]['suboptions'].items() if o.get('required')} == {'argv'}


def test_the_actions_take_the_shared_options_with_the_codes_defaults():
    for action in ('async_run', 'async_batch'):
        spec = argument_spec(action)
        assert spec['grace']['default'] == protocol.DEFAULTS['grace']
        assert spec['output_limit']['default'] == protocol.DEFAULTS['output_limit']
        assert spec['leftovers']['choices'] == list(protocol.LEFTOVERS)


def test_retain_is_documented_once_for_the_three_ways_of_starting_a_job():
    options = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options']
    assert (options['retain']['type'], options['retain'].get('default')) == ('float', None)
    assert options['retain']['type'] == protocol.WRAPPER_SPEC['retain']['type']
    for action in ('async_run', 'async_batch'):
        assert argument_spec(action)['retain'] == {'type': 'float'}


def test_the_batch_options_of_async_batch_are_the_wrappers():
    """item_retries, item_retry_delay, max_failures and on_halt: async_batch passes them to the wrapper as they are."""
    spec = argument_spec('async_batch')
    for name in ('item_retries', 'item_retry_delay', 'max_failures', 'on_halt'):
        documented = (spec[name].get('type'), spec[name].get('default'), spec[name].get('choices'))
        assert documented == spec_in_code({name: protocol.WRAPPER_SPEC[name]})[name], name
    assert spec['on_halt']['choices'] == list(protocol.ON_HALT)
    assert spec['item_retries']['default'] == protocol.DEFAULTS['item_retries']
    assert spec['item_retry_delay']['default'] == protocol.DEFAULTS['item_retry_delay']


def test_the_states_async_status_documents_are_the_codes():
    options = yaml.safe_load(async_status.RETURN)['asyncops_job']['contains']['state']['choices']
    assert set(options) == set(protocol.STATES) - {protocol.FINISHED}
