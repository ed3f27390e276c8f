# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import importlib

import pytest
import yaml

from ansible_collections.asyncops.jobs.plugins.module_utils._job_protocol import DEFAULTS
from ansible_collections.asyncops.jobs.plugins.plugin_utils._argspec import argument_spec, option_spec
from ansible_collections.asyncops.jobs.plugins.plugin_utils._job_action import JobActionBase


def test_the_spec_of_an_action_comes_from_its_stub_and_fragments():
    spec = argument_spec('async_run')
    assert spec['module'] == {'type': 'str'}  # module, or steps (checked by the action: one of the two)
    assert spec['steps']['options']['module'] == {'type': 'str', 'required': True}
    assert spec['always']['options'] == spec['steps']['options'] | {'timeout': {'type': 'int'}}
    assert spec['poll'] == {'type': 'int', 'default': 10}
    assert spec['grace'] == {'type': 'float', 'default': DEFAULTS['grace']}  # from the doc fragment
    assert spec['leftovers']['choices'] == ['keep', 'stop']


def test_suboptions_become_options():
    spec = option_spec(
        {
            'type': 'list',
            'elements': 'dict',
            'description': 'x',
            'suboptions': {'a': {'type': 'str', 'default': 'b', 'description': 'y'}},
        }
    )
    assert spec == {'type': 'list', 'elements': 'dict', 'options': {'a': {'type': 'str', 'default': 'b'}}}


@pytest.mark.parametrize('stub', ['async_batch', 'async_run'])
def test_the_fast_loader_reads_the_docs_as_the_pure_python_one_does(stub):
    """The spec made with libyaml's loader (where there is one) is the one the pure-Python loader makes."""
    pure = {name: option_spec(option) for name, option in documentation_with(yaml.SafeLoader, stub).items()}
    assert argument_spec(stub) == pure


def documentation_with(loader, stub):
    module = importlib.import_module('ansible_collections.asyncops.jobs.plugins.modules.%s' % stub)
    doc = yaml.load(module.DOCUMENTATION, Loader=loader)
    options = dict(doc.get('options') or {})
    for name in doc.get('extends_documentation_fragment') or []:
        if name.startswith('asyncops.jobs.'):
            fragment = importlib.import_module(
                'ansible_collections.asyncops.jobs.plugins.doc_fragments.%s' % name.split('.')[-1]
            )
            for option, spec in (
                (yaml.load(fragment.ModuleDocFragment.DOCUMENTATION, Loader=loader) or {}).get('options', {}).items()
            ):
                options.setdefault(option, spec)
    return options


def test_an_action_class_derives_its_spec_when_it_is_made():
    """ansible-core makes an action's class in its main process, then forks a worker per host: the spec is derived
    there, once, and every worker finds it made (no worker parses the docs)."""
    argument_spec.cache_clear()

    class Action(JobActionBase):
        STUB = 'async_run'

    made = argument_spec.cache_info()
    assert made.misses == 1 and made.currsize == 1
    argument_spec(Action.STUB)
    assert argument_spec.cache_info().hits == made.hits + 1
