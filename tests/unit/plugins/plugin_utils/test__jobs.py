# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

from ansible_collections.asyncops.jobs.plugins.plugin_utils._jobs import native_command_job, normalise_status, poll_line


def test_command_string_is_split_and_expanded_on_target():
    job = native_command_job(False, 'ansible.builtin.command', {'_raw_params': 'echo "a b" $HOME'})
    assert job['argv'] == ['echo', 'a b', '$HOME']
    assert job['expand_argument_vars'] is True
    assert job['result_style'] == 'command'
    assert job['cmd'] == ['echo', 'a b', '$HOME']


def test_shell_runs_through_sh_and_keeps_the_string():
    job = native_command_job(
        False, 'ansible.builtin.command', {'cmd': 'echo $HOME | wc -c', '_uses_shell': True, 'chdir': '/tmp'}
    )
    assert job['argv'] == ['/bin/sh', '-c', 'echo $HOME | wc -c']
    assert job['cmd'] == 'echo $HOME | wc -c'
    assert job['expand_argument_vars'] is False
    assert job['chdir'] == '/tmp'
    assert job['module'] == 'ansible.builtin.shell'


def test_shell_executable():
    job = native_command_job(
        False, 'ansible.builtin.command', {'cmd': 'echo', '_uses_shell': True, 'executable': '/bin/bash'}
    )
    assert job['argv'][0] == '/bin/bash'


@pytest.mark.parametrize(
    'args',
    [
        {'cmd': 'touch x', 'creates': 'x'},
        {'cmd': 'cat', 'stdin': 'data'},
        {'cmd': 'a', 'argv': ['b']},
        {},
        {'cmd': 'ls', 'executable': '/bin/bash'},
    ],
)
def test_module_only_options_fall_back_to_the_module(args):
    assert native_command_job(False, 'ansible.builtin.command', args) is None


def test_check_mode_and_other_modules_use_the_module():
    assert native_command_job(True, 'ansible.builtin.command', {'cmd': 'ls'}) is None
    assert native_command_job(False, 'ansible.builtin.ping', {}) is None


def test_normalise_status_and_poll_line():
    assert normalise_status({'started': 1, 'finished': 0}) == {'started': True, 'finished': False}
    line = poll_line('web1', {'ansible_job_id': 'j1.2', 'elapsed': 3.5, 'stdout_tail': ['50%']})
    assert 'ASYNC POLL on web1' in line and 'j1.2' in line and '50%' in line
