# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""JobActionBase: which module a job runs, found the way ansible-core finds it under `async:`."""
from __future__ import annotations

import pytest

from ansible.errors import AnsibleActionFail


@pytest.mark.parametrize('module, facts, args, expected', [
    ('ansible.builtin.package', {'pkg_mgr': 'dnf'}, {'name': 'docker-io', 'state': 'present'}, 'ansible.legacy.dnf'),
    ('ansible.builtin.package', {'pkg_mgr': 'dnf5'}, {'name': 'x'}, 'ansible.legacy.dnf5'),
    ('ansible.builtin.package', {'pkg_mgr': 'apt'}, {'name': 'x'}, 'ansible.legacy.apt'),
    ('ansible.builtin.package', {'pkg_mgr': 'apt'}, {'name': 'x', 'use': 'dnf'}, 'ansible.legacy.dnf'),
    ('ansible.builtin.service', {'service_mgr': 'systemd'}, {'name': 'x', 'state': 'started'}, 'ansible.legacy.systemd'),
    ('ansible.builtin.service', {'service_mgr': 'sysvinit'}, {'name': 'x', 'state': 'started'}, 'ansible.legacy.sysvinit'),
    ('ansible.builtin.service', {'service_mgr': 'unknown-init'}, {'name': 'x'}, 'ansible.legacy.service'),
])
def test_package_and_service_resolve_to_the_backend_of_the_host(make_action, module, facts, args, expected):
    action, task_vars = make_action('async_run', {'module': module, 'args': args})
    task_vars['ansible_facts'] = facts
    action._templar.available_variables = task_vars
    name, module_args = action.through_action(module, args, task_vars)
    assert name == expected
    assert 'use' not in module_args and module_args['name'] == args['name']


def test_dnf_resolves_its_own_backend(make_action):
    action, task_vars = make_action('async_run', {'module': 'ansible.builtin.dnf', 'args': {'name': 'x'}})
    task_vars['ansible_facts'] = {'pkg_mgr': 'dnf'}
    name, _args = action.through_action('ansible.builtin.dnf', {'name': 'x'}, task_vars)
    assert name in ('ansible.legacy.dnf', 'ansible.legacy.dnf5')


@pytest.mark.parametrize('module', ['ansible.builtin.template', 'ansible.builtin.copy', 'ansible.builtin.fetch'])
def test_actions_without_async_support_are_refused(make_action, module):
    action, task_vars = make_action('async_run', {'module': module, 'args': {'src': 'x', 'dest': 'y'}})
    with pytest.raises(AnsibleActionFail, match='does not support running in the background'):
        action.build_job(module, {'src': 'x', 'dest': 'y'}, task_vars)


def test_plain_modules_are_not_run_through_an_action(make_action):
    action, _task_vars = make_action('async_run', {'module': 'ansible.builtin.ping'})
    assert action.resolve_module('ansible.builtin.ping') == ('ansible.builtin.ping', False)
    assert action.resolve_module('ansible.builtin.command') == ('ansible.builtin.command', False)
    assert action.resolve_module('ansible.builtin.package') == ('ansible.builtin.package', True)
