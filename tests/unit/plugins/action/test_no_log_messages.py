# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A no_log task's messages and warnings: nothing of its items, keys, arguments, output or item messages.

ansible-core shows a no_log task's `warnings` and, in 2.19, the `msg` of a failure, so what this collection puts
there must not be derived from the task."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure
from ansible.template import trust_as_template

from ansible_collections.asyncops.jobs.plugins.plugin_utils import _job_action


def warning_texts(result):
    """The text of each warning in a result: strings in 2.19 and 2.20, WarningSummary objects in 2.21."""
    return [w if isinstance(w, str) else w.event.msg for w in result.get('warnings', [])]


def test_leftovers_of_a_no_log_job_are_named_by_pid_only(make_action):
    action, task_vars = make_action(
        'async_run',
        {
            'module': 'ansible.builtin.shell',
            'leftovers': 'keep',
            'poll': 1,
            'args': {'cmd': "sh -c 'sleep 7.777; : --token=SECRET_LEFTOVER_C' >/dev/null 2>&1 & exit 0"},
        },
        no_log=True,
    )
    result = action.run(task_vars=task_vars)
    try:
        warnings = warning_texts(result)
        assert result['leftovers'] and any('process(es) running when it ended' in w for w in warnings)
        assert all(str(pid) in ' '.join(warnings) for pid in result['leftovers'])
        assert 'SECRET' not in json.dumps(warnings) and 'sleep 7.777' not in json.dumps(warnings)
    finally:
        for pid in result.get('leftovers', []):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def test_leftovers_of_other_jobs_are_still_named_with_their_command(make_action):
    action, task_vars = make_action(
        'async_run',
        {
            'module': 'ansible.builtin.shell',
            'leftovers': 'stop',
            'poll': 1,
            'args': {'cmd': "sh -c 'sleep 7.778' >/dev/null 2>&1 & exit 0"},
        },
    )
    result = action.run(task_vars=task_vars)
    assert 'sleep 7.778' in ' '.join(warning_texts(result))


def test_an_undefined_variable_in_a_no_log_batch_names_no_item(make_action):
    action, task_vars = make_action(
        'async_batch',
        {
            'module': 'ansible.builtin.command',
            'items': ['SECRET_ITEM_E'],
            'args': {'cmd': trust_as_template('echo {{ item }} {{ undefined_SECRET_VAR }}')},
        },
        no_log=True,
    )
    with pytest.raises(AnsibleActionFail) as failure:
        action.run(task_vars=task_vars)
    assert 'args of item 0 (censored, no_log) use an undefined variable' in str(failure.value)
    assert 'SECRET' not in str(failure.value)


def test_a_key_of_a_no_log_batch_is_not_named(make_action, async_dir):
    args = {
        'module': 'ansible.builtin.command',
        'items': [1],
        'args': {'cmd': 'sleep 0.1'},
        'key': 'SECRET_KEY_J',
        'wait': False,
    }
    action, task_vars = make_action('async_batch', args, no_log=True)
    action.run(task_vars=task_vars)
    action, task_vars = make_action('async_batch', dict(args, items=[1, 2]), no_log=True)
    with pytest.raises(AnsibleActionFail) as failure:
        action.run(task_vars=task_vars)
    assert 'the key (censored, no_log) names batch' in str(failure.value) and 'SECRET' not in str(failure.value)


def test_a_failed_item_of_a_no_log_batch_gives_no_msg(make_action):
    action, task_vars = make_action(
        'async_batch',
        {
            'module': 'ansible.builtin.file',
            'items': ['SECRET_MSG_F'],
            'args': {'path': trust_as_template('/nonexistent/{{ item }}'), 'state': 'file'},
            'delay': 1,
        },
        no_log=True,
    )
    result = action.run(task_vars=task_vars)
    assert result['failed'] and result['msg'].startswith('1 of 1 item(s) failed (first: item 0')
    assert 'SECRET' not in result['msg']
    assert 'SECRET' in json.dumps(result['results'])  # there, marked for censoring (_ansible_no_log)
    assert all(item['_ansible_no_log'] for item in result['results'])


def test_a_failed_item_is_quoted_otherwise(make_action):
    action, task_vars = make_action(
        'async_batch',
        {
            'module': 'ansible.builtin.file',
            'items': ['visible'],
            'args': {'path': trust_as_template('/nonexistent/{{ item }}'), 'state': 'file'},
            'delay': 1,
        },
    )
    result = action.run(task_vars=task_vars)
    assert '/nonexistent/visible' in result['msg']


@pytest.mark.parametrize('no_log', [True, False])
def test_an_unreachable_host_under_no_log_hides_the_connection_text(make_action, monkeypatch, no_log):
    action, task_vars = make_action(
        'async_run', {'module': 'ansible.builtin.command', 'args': {'cmd': 'true'}}, no_log=no_log
    )
    warnings = []
    monkeypatch.setattr(_job_action.display, 'warning', lambda msg, *args, **kwargs: warnings.append(msg))
    monkeypatch.setattr(_job_action.time, 'sleep', lambda seconds: None)

    def unreachable(*args, **kwargs):
        raise AnsibleConnectionFailure('ssh: connect failed, banner SECRET_CONN_U')

    monkeypatch.setattr(action, 'query', unreachable)
    with pytest.raises(AnsibleConnectionFailure) as failure:
        action.status_round(task_vars, 'j1.1', 1.0, mode='wait')
    assert 'host unreachable during status rounds' in failure.value.message
    assert len(warnings) == 2
    shown = failure.value.message + ' '.join(warnings)
    assert ('SECRET' in shown) is not no_log


@pytest.mark.parametrize('no_log', [True, False])
def test_a_crashed_status_round_of_a_no_log_task_shows_no_stderr(make_action, no_log):
    """The stderr of a status module that crashed can hold anything; a no_log task's failure message keeps the
    module's own message and leaves the stderr out."""
    action, _task_vars = make_action(
        'async_run', {'module': 'ansible.builtin.command', 'args': {'cmd': 'true'}}, no_log=no_log
    )
    reply = {'failed': True, 'msg': 'MODULE FAILURE', 'module_stderr': 'Traceback ...\nKeyError: SECRET_STDERR_K'}
    with pytest.raises(AnsibleActionFail) as failure:
        action.check_round(reply, 'job', 'j1.2')
    assert str(failure.value).startswith('checking on job j1.2 failed: MODULE FAILURE (module stderr')
    assert ('SECRET' in str(failure.value)) is not no_log


def later_read(make_action, **args):
    """A later async_status task, not no_log itself."""
    action, task_vars = make_action('async_status', args)
    return action.run(task_vars=task_vars)


def test_every_later_reader_of_a_no_log_job_censors_it(make_action):
    """The record carries the no_log of the task that started the job: status, wait, a list of jids, an item's jid,
    kill, a running batch, cleanup=true: each answer is marked for censoring (as ansible-core marks a no_log task's)."""
    job, task_vars = make_action(
        'async_run',
        {'module': 'ansible.builtin.shell', 'poll': 0, 'timeout': 60, 'args': {'cmd': 'echo SECRET_LATER_O; sleep 30'}},
        no_log=True,
    )
    jid = job.run(task_vars=task_vars)['ansible_job_id']
    batch, task_vars = make_action(
        'async_batch',
        {
            'module': 'ansible.builtin.shell',
            'wait': False,
            'concurrency': 2,
            'items': ['SECRET_LATER_I1', 'SECRET_LATER_I2'],
            'timeout': 60,
            'args': {'cmd': trust_as_template('echo {{ item }}; sleep 30')},
        },
        no_log=True,
    )
    started = batch.run(task_vars=task_vars)
    batch_jid, item_jid = started['ansible_job_id'], started['jobs'][0]['ansible_job_id']
    for _attempt in range(100):
        running = later_read(make_action, jid=jid, tail=5)
        if running.get('stdout_tail'):
            break
        time.sleep(0.1)
    assert running['stdout_tail'] == ['SECRET_LATER_O'] and running['_ansible_no_log'] is True
    answers = [
        later_read(make_action, jid=[jid, batch_jid]),
        later_read(make_action, jid=batch_jid),
        later_read(make_action, jid=item_jid),
        later_read(make_action, jid=item_jid, mode='kill'),
        later_read(make_action, jid=jid, mode='kill'),
        later_read(make_action, jid=jid, mode='wait', cleanup=True, timeout=30),
        later_read(make_action, jid=batch_jid, mode='wait', timeout=30),
    ]
    assert all(answer.get('_ansible_no_log') is True for answer in answers), [a.get('_ansible_no_log') for a in answers]
    assert 'SECRET_LATER_I' not in repr(answers[1]['asyncops_job'])  # a running batch's record shows no item values


def test_other_jobs_are_not_censored(make_action):
    job, task_vars = make_action(
        'async_run', {'module': 'ansible.builtin.command', 'poll': 0, 'args': {'cmd': 'echo visible'}}
    )
    jid = job.run(task_vars=task_vars)['ansible_job_id']
    answer = later_read(make_action, jid=jid, mode='wait', timeout=30)
    assert answer['stdout'] == 'visible' and not answer.get('_ansible_no_log')
