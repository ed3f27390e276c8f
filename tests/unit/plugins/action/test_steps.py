# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Steps through the real actions on this machine: async_run and async_batch build each step as they build a job,
and the chain's result, progress, no_log, check mode, keys and later collection are what the issue asks for."""

from __future__ import annotations

import json
import os

import pytest
from ansible.errors import AnsibleActionFail
from ansible.template import trust_as_template


def run(make_action, name, args, **fields):
    action, task_vars = make_action(name, args, **fields)
    return action.run(task_vars=task_vars)


def step(name, module, **args):
    return {'name': name, 'module': module, 'args': args}


def test_async_run_runs_the_steps_and_returns_each_result(make_action, async_dir, tmp_path):
    dump = tmp_path / 'app.sql'
    result = run(
        make_action,
        'async_run',
        {
            'poll': 1,
            'steps': [
                step('dump', 'ansible.builtin.shell', cmd='echo data > %s' % dump),
                step('compress', 'ansible.builtin.command', cmd='gzip --force %s' % dump),
                step('check', 'ansible.builtin.stat', path='%s.gz' % dump),
            ],
            'always': [step('tidy', 'ansible.builtin.file', path=str(dump), state='absent')],
        },
    )
    assert not result.get('failed') and result['changed'] and result['finished']
    assert [entry['step_name'] for entry in result['results']] == ['dump', 'compress', 'check', 'tidy']
    assert [entry['step_index'] for entry in result['results']] == [0, 1, 2, 3]
    assert result['results'][2]['stat']['exists']  # a module step's own result, built on the controller
    assert result['asyncops_job']['module'] == (
        'steps: ansible.builtin.shell, ansible.builtin.command, ansible.builtin.stat (always: ansible.builtin.file)'
    )
    with open(result['results_file']) as f:
        assert json.load(f)['asyncops_job']['state'] == 'collected'


def test_a_failing_step_fails_the_task_naming_it_and_always_runs(make_action, async_dir, tmp_path):
    cleaned = tmp_path / 'cleaned'
    result = run(
        make_action,
        'async_run',
        {
            'poll': 1,
            'steps': [
                step('first', 'ansible.builtin.command', cmd='true'),
                step('broken', 'ansible.builtin.command', cmd='false'),
                step('never', 'ansible.builtin.command', cmd='touch %s' % (tmp_path / 'never')),
            ],
            'always': [step('cleanup', 'ansible.builtin.file', path=str(cleaned), state='touch')],
        },
    )
    assert result['failed'] and result['msg'].startswith('step 1 (broken) failed: non-zero return code')
    assert result['results'][2]['skipped'] and cleaned.exists() and not (tmp_path / 'never').exists()


@pytest.mark.parametrize(
    'args, message',
    [
        ({'module': 'ansible.builtin.ping', 'steps': [step('a', 'ansible.builtin.ping')]}, 'give module .* not both'),
        ({'steps': [step('a', 'ansible.builtin.ping')], 'args': {'x': 1}}, 'args goes with module'),
        ({'module': 'ansible.builtin.ping', 'always': [step('a', 'ansible.builtin.ping')]}, 'always runs after steps'),
        ({'steps': []}, 'steps is empty'),
        ({}, r'give module \(the module to run, with its args\), or steps'),
        (
            {
                'steps': [step('a', 'ansible.builtin.ping')],
                'always': [dict(step('b', 'ansible.builtin.ping'), timeout=0)],
            },
            r'always\[0\].timeout must be a positive number of seconds \(or none: 60s\)',
        ),
        ({'steps': [dict(step('a', 'ansible.builtin.ping'), timeout=-1)]}, r'steps\[0\].timeout must be 0'),
        ({'steps': [{'name': 'no module'}]}, 'missing required arguments: module'),
    ],
)
def test_what_runs_is_a_module_or_steps_and_nothing_starts_otherwise(make_action, async_dir, args, message):
    with pytest.raises(AnsibleActionFail, match=message):
        run(make_action, 'async_run', dict(args, poll=0))
    assert not os.path.exists(async_dir) or os.listdir(async_dir) == []


def test_progress_names_the_running_step_and_under_no_log_only_its_index(
    make_action, async_dir, progress_events, tmp_path, give_up_after
):
    give_up_after(120)
    for no_log in (False, True):
        flag = tmp_path / ('flag-%s' % no_log)
        action, task_vars = make_action(
            'async_run',
            {
                'poll': 1,
                'steps': [
                    step('quick', 'ansible.builtin.command', cmd='true'),
                    step(
                        'wait SECRET_NAME',
                        'ansible.builtin.shell',
                        cmd='echo SECRET_OUTPUT; while [ ! -e %s ]; do sleep 0.05; done' % flag,
                    ),
                ],
            },
            no_log=no_log,
        )
        real = action.report_progress

        def reporting(data, line, real=real, flag=flag):
            real(data, line)
            if data.get('current_step', {}).get('index') == 1:
                flag.touch()

        action.report_progress = reporting
        result = action.run(task_vars=task_vars)
        events = [data for _name, data in progress_events if data['ansible_job_id'] == result['ansible_job_id']]
        if no_log:
            assert {'index': 1} in [data.get('current_step') for data in events]
            assert 'SECRET' not in repr(events) and 'SECRET' not in result['msg']
            assert all(entry['_ansible_no_log'] for entry in result['results']) and result['_ansible_no_log']
        else:
            assert {'index': 1, 'name': 'wait SECRET_NAME'} in [data.get('current_step') for data in events]


def test_check_mode_passes_to_every_step(make_action, async_dir, tmp_path):
    touched = [tmp_path / 'one', tmp_path / 'two']
    result = run(
        make_action,
        'async_run',
        {
            'poll': 1,
            'steps': [
                step('one', 'ansible.builtin.file', path=str(touched[0]), state='touch'),
                step('two', 'ansible.builtin.file', path=str(touched[1]), state='touch'),
            ],
            'always': [step('three', 'ansible.builtin.command', cmd='touch %s' % (tmp_path / 'three'))],
        },
        check_mode=True,
    )
    assert not result.get('failed') and not any(path.exists() for path in touched + [tmp_path / 'three'])
    assert [entry['changed'] for entry in result['results'][:2]] == [True, True]
    assert result['results'][2]['skipped']  # the command module skips in check mode


def test_a_key_names_the_chain_and_attaches_only_to_the_same_steps(make_action, async_dir, tmp_path):
    flag = tmp_path / 'flag'
    steps = [step('wait', 'ansible.builtin.shell', cmd='while [ ! -e %s ]; do sleep 0.05; done' % flag)]
    first = run(make_action, 'async_run', {'steps': steps, 'key': 'K', 'poll': 0})
    again = run(make_action, 'async_run', {'steps': steps, 'key': 'K', 'poll': 0})
    assert again['attached'] and again['ansible_job_id'] == first['ansible_job_id']
    with pytest.raises(AnsibleActionFail, match=r'does other work \(its module, args differ\)'):
        run(
            make_action,
            'async_run',
            {'steps': steps, 'always': [step('x', 'ansible.builtin.ping')], 'key': 'K', 'poll': 0},
        )
    flag.touch()
    done = run(make_action, 'async_status', {'jid': first['ansible_job_id'], 'mode': 'wait', 'timeout': 30})
    assert done['results'][0]['step_name'] == 'wait' and not done.get('failed')


def test_a_chain_started_with_poll_0_is_collected_later_with_the_same_shape(make_action, async_dir):
    started = run(
        make_action,
        'async_run',
        {
            'poll': 0,
            'steps': [
                step('a', 'ansible.builtin.command', cmd='echo a'),
                step('b', 'ansible.builtin.command', cmd='echo b'),
            ],
        },
        no_log=True,
    )
    done = run(make_action, 'async_status', {'jid': started['ansible_job_id'], 'mode': 'wait', 'timeout': 30})
    assert [entry['stdout'] for entry in done['results']] == ['a', 'b'] and done['finished']
    assert done['_ansible_no_log'] and all(entry['_ansible_no_log'] for entry in done['results'])
    again = run(make_action, 'async_status', {'jid': started['ansible_job_id']})
    assert again['collected']


def test_async_batch_runs_a_chain_per_item_templated_with_the_item(make_action, async_dir, tmp_path):
    out = str(tmp_path / 'out')
    os.mkdir(out)
    result = run(
        make_action,
        'async_batch',
        {
            'items': ['app', 'crm', 'wiki'],
            'loop_var': 'db',
            'concurrency': 2,
            'delay': 0.5,
            'steps': [
                {
                    'name': trust_as_template('dump {{ db }}'),
                    'module': 'ansible.builtin.shell',
                    'args': {'cmd': trust_as_template('echo {{ db }}-{{ item_index }} > %s/{{ db }}.sql' % out)},
                },
                {
                    'name': 'compress',
                    'module': 'ansible.builtin.command',
                    'args': {'cmd': trust_as_template('gzip --force %s/{{ db }}.sql' % out)},
                },
            ],
            'always': [{'name': 'list', 'module': 'ansible.builtin.command', 'args': {'cmd': 'ls %s' % out}}],
        },
    )
    assert not result.get('failed') and result['summary']['ok'] == 3
    assert [item['db'] for item in result['results']] == ['app', 'crm', 'wiki']
    assert [[entry['step_name'] for entry in item['results']] for item in result['results']] == [
        ['dump app', 'compress', 'list'],
        ['dump crm', 'compress', 'list'],
        ['dump wiki', 'compress', 'list'],
    ]
    assert sorted(os.listdir(out)) == ['app.sql.gz', 'crm.sql.gz', 'wiki.sql.gz']


def test_async_batch_fails_naming_the_item_and_its_step(make_action, async_dir):
    with pytest.raises(AnsibleActionFail, match=r'always of item 0: always\[0\].timeout must be a positive'):
        run(
            make_action,
            'async_batch',
            {
                'items': [1],
                'steps': [step('a', 'ansible.builtin.ping')],
                'always': [dict(step('b', 'ansible.builtin.ping'), timeout=0)],
            },
        )
    result = run(
        make_action,
        'async_batch',
        {
            'items': [0, 3],
            'allow_failures': True,
            'delay': 0.5,
            'steps': [
                {
                    'name': 'exit',
                    'module': 'ansible.builtin.shell',
                    'args': {'cmd': trust_as_template('exit {{ item }}')},
                }
            ],
        },
    )
    assert [item['failed'] for item in result['results']] == [False, True]
    assert result['results'][1]['msg'] == 'step 0 (exit) failed: non-zero return code'
