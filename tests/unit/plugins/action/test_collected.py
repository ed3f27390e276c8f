# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collected jobs: the pattern of ansible-core's documentation (start with poll=0, an until-loop on finished, then
mode=cleanup) passes with every way of starting a job, and a job whose result was already delivered says so."""

from __future__ import annotations

import os

import pytest
from ansible.template import trust_as_template


def run(make_action, name, args, **fields):
    action, task_vars = make_action(name, args, **fields)
    return action.run(task_vars=task_vars)


def status(make_action, **args):
    return run(make_action, 'async_status', args)


def until_finished(make_action, jid, retries=100):
    """The until-loop of ansible-core's documentation: async_status on the jid until `finished`."""
    for _attempt in range(retries):
        reply = status(make_action, jid=jid)
        if reply.get('finished'):
            return reply
    raise AssertionError('job %s never finished' % jid)


def start_run(make_action, cmd='echo out', **extra):
    return run(
        make_action, 'async_run', dict({'module': 'ansible.builtin.shell', 'args': {'cmd': cmd}, 'poll': 0}, **extra)
    )['ansible_job_id']


def start_batch(make_action, items=('a', 'b')):
    return run(
        make_action,
        'async_batch',
        {
            'module': 'ansible.builtin.command',
            'items': list(items),
            'args': {'cmd': trust_as_template('echo {{ item }}')},
            'wait': False,
            'concurrency': 2,
        },
    )['ansible_job_id']


@pytest.mark.parametrize('wait', ['until-loop', 'mode=wait'])
def test_the_documented_flow_passes_for_a_job_of_async_run(make_action, async_dir, wait):
    jid = start_run(make_action)
    if wait == 'until-loop':
        done = until_finished(make_action, jid)
    else:
        done = status(make_action, jid=jid, mode='wait', timeout=30)
    assert done['finished'] and done['stdout'] == 'out' and not done.get('failed')
    cleaned = status(make_action, jid=jid, mode='cleanup')
    assert not cleaned.get('failed'), cleaned.get('msg')
    assert cleaned['erased'] == os.path.join(async_dir, jid)
    assert not os.path.exists(os.path.join(async_dir, jid))


def test_the_documented_flow_passes_for_a_batch_of_async_batch(make_action, async_dir):
    jid = start_batch(make_action)
    done = until_finished(make_action, jid)
    assert [r['stdout'] for r in done['results']] == ['a', 'b']
    cleaned = status(make_action, jid=jid, mode='cleanup')
    assert not cleaned.get('failed'), cleaned.get('msg')
    assert [name for name in os.listdir(async_dir) if not name.startswith('.')] == []


def test_a_collected_job_says_so_and_when_not_that_it_never_started(make_action, async_dir):
    jid = start_run(make_action, cmd='echo SECRET_OUTPUT_7')
    status(make_action, jid=jid, mode='wait', timeout=30)  # collects it
    again = status(make_action, jid=jid)
    assert again['failed'] and again['finished'] and again['collected']
    assert 'already collected at ' in again['msg'] and 'never started' not in again['msg']
    assert again['asyncops_job']['result_state'] == 'succeeded'
    assert 'SECRET_OUTPUT_7' not in repr(again)  # the note keeps no output
    waited = status(make_action, jid=jid, mode='wait', timeout=5)
    assert waited['collected'] and 'already collected' in waited['msg']


def test_the_items_of_a_collected_batch_say_so(make_action, async_dir):
    jid = start_batch(make_action)
    done = status(make_action, jid=jid, mode='wait', timeout=30)
    item = done['results'][1]['ansible_job_id']
    answer = status(make_action, jid=item)
    assert answer['collected'] and 'is an item of batch %s, whose results were already collected' % jid in answer['msg']
    cleaned = status(make_action, jid=item, mode='cleanup')
    assert not cleaned.get('failed'), cleaned.get('msg')


def test_a_job_waited_for_by_async_run_says_it_was_collected(make_action, async_dir):
    result = run(make_action, 'async_run', {'module': 'ansible.builtin.command', 'args': {'cmd': 'true'}, 'poll': 1})
    answer = status(make_action, jid=result['ansible_job_id'])
    assert answer['collected'] and 'already collected' in answer['msg']
    cleaned = status(make_action, jid=result['ansible_job_id'], mode='cleanup')
    assert not cleaned.get('failed'), cleaned.get('msg')


def test_status_with_cleanup_true_leaves_a_note(make_action, async_dir):
    jid = start_run(make_action)
    done = status(make_action, jid=jid, mode='wait', timeout=30, cleanup=True)
    assert done['stdout'] == 'out'
    assert status(make_action, jid=jid)['collected']
    assert not status(make_action, jid=jid, mode='cleanup').get('failed')


def test_collecting_again_finds_nothing_to_do_and_is_fine(make_action, async_dir):
    jid = start_run(make_action)
    status(make_action, jid=jid, mode='wait', timeout=30)
    for _attempt in range(2):  # a collection retried after a lost reply
        again = status(make_action, jid=jid, mode='collect')
        assert not again.get('failed') and not again['changed'] and again['collected']
    gone = status(make_action, jid='j1.1', mode='collect')
    assert not gone.get('failed') and not gone['collected']


def test_a_running_job_is_not_collected(make_action, async_dir):
    jid = start_run(make_action, cmd='sleep 30', timeout=60)
    try:
        answer = status(make_action, jid=jid, mode='collect')
        assert not answer['changed'] and not answer['collected'] and answer['state'] == 'running'
        assert status(make_action, jid=jid)['finished'] is False
    finally:
        status(make_action, jid=jid, mode='kill')


def test_a_key_starts_a_new_job_once_its_job_was_collected(make_action, async_dir):
    first = run(
        make_action,
        'async_run',
        {'module': 'ansible.builtin.command', 'args': {'cmd': 'true'}, 'poll': 0, 'key': 'nightly'},
    )
    status(make_action, jid=first['ansible_job_id'], mode='wait', timeout=30)
    second = run(
        make_action,
        'async_run',
        {'module': 'ansible.builtin.command', 'args': {'cmd': 'true'}, 'poll': 0, 'key': 'nightly'},
    )
    assert not second.get('attached') and second['ansible_job_id'] != first['ansible_job_id']
