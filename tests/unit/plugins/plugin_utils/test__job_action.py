# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""JobActionBase: which module a job runs, found the way ansible-core finds it under `async:`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.asyncops.jobs.plugins.plugin_utils._job_action import BULK_STDIN


@pytest.mark.parametrize(
    'module, facts, args, expected',
    [
        (
            'ansible.builtin.package',
            {'pkg_mgr': 'dnf'},
            {'name': 'docker-io', 'state': 'present'},
            'ansible.legacy.dnf',
        ),
        ('ansible.builtin.package', {'pkg_mgr': 'dnf5'}, {'name': 'x'}, 'ansible.legacy.dnf5'),
        ('ansible.builtin.package', {'pkg_mgr': 'apt'}, {'name': 'x'}, 'ansible.legacy.apt'),
        ('ansible.builtin.package', {'pkg_mgr': 'apt'}, {'name': 'x', 'use': 'dnf'}, 'ansible.legacy.dnf'),
        (
            'ansible.builtin.service',
            {'service_mgr': 'systemd'},
            {'name': 'x', 'state': 'started'},
            'ansible.legacy.systemd',
        ),
        (
            'ansible.builtin.service',
            {'service_mgr': 'sysvinit'},
            {'name': 'x', 'state': 'started'},
            'ansible.legacy.sysvinit',
        ),
        ('ansible.builtin.service', {'service_mgr': 'unknown-init'}, {'name': 'x'}, 'ansible.legacy.service'),
    ],
)
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


PROGRAM_SIZE = 200 * 1024
# a program of PROGRAM_SIZE bytes that says how it was run and how many read(2) calls its process made to get there
SELF_REPORT = '''import json, sys
with open('/proc/self/io') as f:
    reads = int([line for line in f if line.startswith('syscr:')][0].split()[1])
print(json.dumps({'name': __name__, 'argv': sys.argv, 'path0': sys.path[0], 'reads': reads}))
'''


def run_program(argv):
    """What SELF_REPORT, padded to PROGRAM_SIZE bytes with a comment, says when piped to argv with PYTHONUNBUFFERED=1."""
    program = SELF_REPORT + '#' * (PROGRAM_SIZE - len(SELF_REPORT) - 1) + '\n'
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    out = subprocess.run(argv, input=program.encode(), stdout=subprocess.PIPE, env=env, check=True).stdout
    return json.loads(out)


@pytest.mark.skipif(not os.path.exists('/proc/self/io'), reason='needs /proc/<pid>/io (Linux)')
def test_the_bulk_reader_runs_a_program_from_stdin_as_python_does_in_a_few_reads():
    """With stdin unbuffered, python reads a program from stdin one byte per read(2) call (a 230 KB module payload:
    230,000 calls); BULK_STDIN runs it the same way (as __main__, sys.path[0] '') after reading it at once."""
    plain = run_program([sys.executable])
    bulk = run_program([sys.executable, '-c', BULK_STDIN])
    assert plain['reads'] > PROGRAM_SIZE  # what the bulk reader avoids, on this Python
    assert bulk['reads'] < PROGRAM_SIZE // 100
    assert bulk['name'] == plain['name'] == '__main__'
    assert bulk['path0'] == plain['path0']
    assert len(bulk['argv']) == len(plain['argv']) == 1  # AnsiballZ runs its debug commands when given an argument


def recording_interpreter(tmp_path):
    """An interpreter that writes its arguments to a file, then runs this Python with them."""
    log = tmp_path / 'interpreter-args'
    script = tmp_path / 'python'
    script.write_text('#!/bin/sh\nprintf "%%s\\n" "$@" >> %s\nexec %s "$@"\n' % (log, sys.executable))
    script.chmod(0o700)
    return str(script), log


@pytest.mark.parametrize('pipelining, bulk', [(True, True), (False, False)])
def test_our_pipelined_modules_read_their_program_at_once(make_action, tmp_path, pipelining, bulk):
    """A pipelined run of our modules starts the interpreter with BULK_STDIN; with asyncops_jobs_pipelining=false
    (ansible-core's own way: the module file transferred, then run) the interpreter is run as ansible-core runs it."""
    interpreter, log = recording_interpreter(tmp_path)
    status, task_vars = make_action('async_status', {'mode': 'list'})
    task_vars.update(ansible_python_interpreter=interpreter, asyncops_jobs_pipelining=pipelining)
    result = status.run(task_vars=task_vars)
    assert not result.get('failed') and result['jobs'] == []
    args = log.read_text().splitlines()
    assert (args == ['-c', BULK_STDIN]) is bulk
