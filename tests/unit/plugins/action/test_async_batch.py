# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import json
import os
import re
import time

import pytest
from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure
from ansible.template import trust_as_template

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_protocol as protocol

# task arguments written in a playbook are trusted templates; built here, they are marked so


def records_left(async_dir):
    """Job records still holding a result: the notes of collected jobs (which say when they were collected) aside."""
    return sorted(name for name in os.listdir(async_dir) if not name.startswith('.') and not is_note(async_dir, name))


def is_note(async_dir, name):
    with open(os.path.join(async_dir, name)) as f:
        return json.load(f).get('asyncops_job', {}).get('state') == 'collected'


def test_results_in_item_order_with_loop_vars(make_action, async_dir):
    action, task_vars = make_action(
        'async_batch',
        {
            'module': 'ansible.builtin.command',
            'items': [3, 1, 2],
            'args': {'cmd': trust_as_template('echo {{ item }}-{{ item_index }}')},
            'concurrency': 3,
            'delay': 1,
        },
    )
    result = action.run(task_vars=task_vars)
    assert [r['stdout'] for r in result['results']] == ['3-0', '1-1', '2-2']
    assert [r['item'] for r in result['results']] == [3, 1, 2]
    assert result['summary']['ok'] == 3 and not result.get('failed')
    assert records_left(async_dir) == []
    assert [name for name in os.listdir(async_dir) if not name.startswith('.')] == [result['ansible_job_id']]  # a note


def test_a_lost_final_reply_is_read_again(make_action, async_dir):
    """The reply that brings the results back is lost once: the retried round reads the same results."""
    action, task_vars = make_action(
        'async_batch',
        {
            'module': 'ansible.builtin.command',
            'items': [1, 2],
            'args': {'cmd': trust_as_template('echo r{{ item }}')},
            'concurrency': 2,
            'delay': 1,
        },
    )
    real = action.run_target_module
    dropped = []

    def drop_first_finished_reply(name, args, task_vars):
        reply = real(name, args, task_vars)
        if not dropped and args.get('mode') == 'wait' and reply.get('finished'):
            dropped.append(json.dumps(reply))
            raise AnsibleConnectionFailure('test: the reply was lost')
        return reply

    action.run_target_module = drop_first_finished_reply
    result = action.run(task_vars=task_vars)
    assert dropped and [r['stdout'] for r in result['results']] == ['r1', 'r2']
    assert records_left(async_dir) == []


def test_no_log_marks_every_item_for_censoring(make_action):
    action, task_vars = make_action(
        'async_batch',
        {
            'module': 'ansible.builtin.command',
            'items': ['s1', 's2'],
            'args': {'cmd': trust_as_template('echo {{ item }}')},
            'concurrency': 2,
            'delay': 1,
        },
        no_log=True,
    )
    result = action.run(task_vars=task_vars)
    assert all(r['_ansible_no_log'] for r in result['results'])


def test_keep_leaves_the_records(make_action, async_dir):
    action, task_vars = make_action(
        'async_batch',
        {'module': 'ansible.builtin.command', 'items': [1], 'args': {'cmd': 'true'}, 'keep': True, 'delay': 1},
    )
    result = action.run(task_vars=task_vars)
    assert result['ansible_job_id'] in records_left(async_dir)


@pytest.mark.parametrize(
    'args, message',
    [
        ({'concurrency': 0}, 'concurrency must be 1 or more'),
        ({'delay': 0}, 'delay must be a positive number'),
        ({'loop_var': 'x', 'index_var': 'x'}, 'loop_var and index_var must differ'),
        ({'fail_fast': True, 'max_failures': 1}, 'fail_fast and max_failures exclude each other'),
        ({'max_failures': '20 percent'}, 'max_failures must be a whole number of items, 1 or more, or a percent'),
        ({'max_failures': 0}, 'max_failures must be a whole number'),
        ({'item_retries': -1}, 'item_retries must be 0 or more'),
        ({'item_retry_delay': -1}, 'item_retry_delay must be 0 or more seconds'),
        ({'retain': -1}, 'retain must be 0 or more seconds'),
        ({'on_halt': 'stop'}, 'value of on_halt must be one of: finish, kill'),
    ],
)
def test_bad_values_are_refused(make_action, args, message):
    action, task_vars = make_action(
        'async_batch', dict({'module': 'ansible.builtin.command', 'items': [1], 'args': {'cmd': 'true'}}, **args)
    )
    with pytest.raises(AnsibleActionFail, match=message):
        action.run(task_vars=task_vars)


@pytest.mark.parametrize('items', ['a,b,c', 'a', 3])
def test_items_that_are_not_a_list_are_refused_as_loop_refuses_them(make_action, async_dir, items):
    """A string used to be split at its commas ('a,b,c' ran 3 items) and a number became one string item."""
    action, task_vars = make_action(
        'async_batch', {'module': 'ansible.builtin.command', 'items': items, 'args': {'cmd': 'true'}}
    )
    with pytest.raises(AnsibleActionFail, match=r"items must be a list, not '(str|int)'.*split\(','\)"):
        action.run(task_vars=task_vars)
    assert not os.path.exists(async_dir)  # refused before anything started


def test_no_items_is_not_an_error(make_action):
    action, task_vars = make_action(
        'async_batch', {'module': 'ansible.builtin.command', 'items': [], 'args': {'cmd': 'true'}}
    )
    result = action.run(task_vars=task_vars)
    assert result['results'] == [] and result['changed'] is False


def scripted_rounds(action, running_rounds):
    """The target as a script: `running_rounds` rounds in which the item still runs, then it is finished."""
    calls = []

    def status_round(task_vars, jids, pause, **args):
        calls.append(args)
        if len(calls) <= running_rounds:
            return {
                'finished': False,
                'jobs': [
                    {'ansible_job_id': jids[0], 'state': 'running'},
                    {'ansible_job_id': jids[1], 'state': 'running'},
                ],
            }
        return {
            'finished': True,
            'jobs': [
                {'ansible_job_id': jids[0], 'finished': True, 'asyncops_job': {'elapsed': 1.0}},
                {
                    'ansible_job_id': jids[1],
                    'finished': True,
                    'rc': 0,
                    'asyncops_job': {'elapsed': 1.0, 'state': 'succeeded'},
                },
            ],
        }

    action.status_round = status_round
    return calls


def test_without_retries_waiting_follows_the_time_limit_not_300_rounds(make_action):
    """The old default gave up after 300 rounds (retries x delay) while the job still ran under its limit."""
    action, task_vars = make_action(
        'async_batch',
        {'module': 'ansible.builtin.command', 'items': [1], 'args': {'cmd': 'true'}, 'timeout': 3600, 'keep': True},
    )
    calls = scripted_rounds(action, 400)
    result = action.run(task_vars=task_vars)
    assert len(calls) == 401 and result['summary']['ok'] == 1


def test_retries_when_given_bound_the_wait(make_action):
    action, task_vars = make_action(
        'async_batch',
        {
            'module': 'ansible.builtin.command',
            'items': [1],
            'args': {'cmd': 'true'},
            'retries': 5,
            'delay': 1,
            'keep': True,
        },
    )
    calls = scripted_rounds(action, 400)
    with pytest.raises(AnsibleActionFail, match='still runs after 5 status rounds'):
        action.run(task_vars=task_vars)
    assert len(calls) == 5


def test_progress_goes_to_the_callbacks_from_a_worker(make_action, progress_events):
    action, task_vars = make_action(
        'async_batch', {'module': 'ansible.builtin.command', 'items': [1], 'args': {'cmd': 'true'}, 'keep': True}
    )
    scripted_rounds(action, 2)
    action.run(task_vars=task_vars)
    assert [name for name, _data in progress_events] == ['v2_runner_on_async_poll'] * 2
    assert [data['asyncops_progress']['running'] for _name, data in progress_events] == [1, 1]


def test_a_failing_status_round_stops_the_batch_with_its_message(make_action, async_dir, give_up_after):
    """It used to fail with "'finished'" (a KeyError) instead of the status module's message."""
    give_up_after(60)
    action, task_vars = make_action(
        'async_batch',
        {
            'module': 'ansible.builtin.shell',
            'items': [1],
            'args': {'cmd': 'chmod 777 %s; sleep 6' % async_dir},
            'delay': 1,
            'timeout': 10,
        },
    )
    replies = []
    real = action.run_target_module

    def recording(name, args, task_vars):
        reply = real(name, args, task_vars)
        if args.get('mode') == 'wait':
            replies.append(dict(reply))
        return reply

    action.run_target_module = recording
    with pytest.raises(
        AnsibleActionFail,
        match=r'checking on batch j\S+ failed: refusing to use %s: it is writable by' % re.escape(async_dir),
    ):
        action.run(task_vars=task_vars)
    # the task stopped at the first failed round: no round was made after it
    assert ['finished' in reply for reply in replies][-1:] == [False]
    assert sum(1 for reply in replies if 'finished' not in reply) == 1


def test_a_slow_launch_does_not_give_up_on_a_healthy_batch(make_action, async_dir, monkeypatch, give_up_after):
    """The give-up deadline counted from before the launch: a launch slower than the items' time limit (800 items
    took 35 s to start) made the task fail "its scheduler is not enforcing it" while the batch ran as it should.

    Here the launch reply arrives after the old deadline (its margin shrunk to 1 s): the items start at the end of
    the launch, as the last items of a big launch do, and run within their limit."""
    give_up_after(60)
    monkeypatch.setattr(protocol, 'DEADLINE_MARGIN', 1)
    action, task_vars = make_action(
        'async_batch',
        {
            'module': 'ansible.builtin.command',
            'items': ['a', 'b'],
            'args': {'cmd': trust_as_template('sleep 2')},
            'concurrency': 2,
            'timeout': 3,
            'grace': 0,
            'delay': 1,
        },
    )
    slow_launch(action, 4.5)  # old deadline: 1 window x (3 s + 0) + 1 s after the launch began
    result = action.run(task_vars=task_vars)
    assert not result.get('failed') and result['summary']['ok'] == 2
    assert [r['rc'] for r in result['results']] == [0, 0]
    assert records_left(async_dir) == []  # collected


def slow_launch(action, seconds):
    """The launch round trip of action takes `seconds` more before it starts the jobs (a slow launch)."""
    real = action.run_target_module

    def slow(name, args, task_vars):
        if name == 'asyncops.jobs.async_wrapper':
            time.sleep(seconds)
        return real(name, args, task_vars)

    action.run_target_module = slow


def rounds_of_states(action, states_per_round):
    """The target as a script: each round long-polls 1 s, then reports the items in the states given for it; after
    the last one, every item is finished."""
    calls = []

    def status_round(task_vars, jids, pause, **args):
        calls.append(args)
        time.sleep(1)
        if len(calls) <= len(states_per_round):
            return {
                'finished': False,
                'jobs': [{'ansible_job_id': jids[0], 'state': 'running'}]
                + [
                    {'ansible_job_id': jid, 'state': state}
                    for jid, state in zip(jids[1:], states_per_round[len(calls) - 1])
                ],
            }
        return {
            'finished': True,
            'jobs': [{'ansible_job_id': jids[0], 'finished': True, 'asyncops_job': {'elapsed': 1.0}}]
            + [
                {
                    'ansible_job_id': jid,
                    'finished': True,
                    'rc': 0,
                    'asyncops_job': {'elapsed': 1.0, 'state': 'succeeded'},
                }
                for jid in jids[1:]
            ],
        }

    action.status_round = status_round
    return calls


def test_items_that_start_after_the_launch_reply_are_waited_for(make_action, monkeypatch):
    """The scheduler answers the launch once every item has a record, before it forks the first window: items that
    start later than the launch reply (1,000 forks take a while) are given their time limit from when the rounds see
    them start, not from the launch alone."""
    monkeypatch.setattr(protocol, 'DEADLINE_MARGIN', 0)
    action, task_vars = make_action(
        'async_batch',
        {
            'module': 'ansible.builtin.command',
            'items': [1, 2, 3],
            'args': {'cmd': 'true'},
            'concurrency': 3,
            'timeout': 2,
            'grace': 0,
            'delay': 1,
            'keep': True,
        },
    )
    # deadline from the launch: 1 window x 2 s; the items start one per round, the last one 3 s after the launch
    calls = rounds_of_states(
        action,
        [
            ['running', 'pending', 'pending'],
            ['running', 'running', 'pending'],
            ['running', 'running', 'running'],
            ['succeeded', 'running', 'running'],
        ],
    )
    result = action.run(task_vars=task_vars)
    assert len(calls) == 5 and result['summary']['ok'] == 3 and not result.get('failed')


def test_a_batch_that_stops_moving_past_its_time_limit_is_given_up_on(make_action, monkeypatch):
    monkeypatch.setattr(protocol, 'DEADLINE_MARGIN', 0)
    action, task_vars = make_action(
        'async_batch',
        {
            'module': 'ansible.builtin.command',
            'items': [1, 2],
            'args': {'cmd': 'true'},
            'concurrency': 2,
            'timeout': 1,
            'grace': 0,
            'delay': 1,
            'keep': True,
        },
    )
    calls = rounds_of_states(action, [['running', 'running']] * 20)
    with pytest.raises(AnsibleActionFail, match='its scheduler is not enforcing it'):
        action.run(task_vars=task_vars)
    # the items started by the first round: given up once their window (1 s) is over, not after 20 rounds
    assert len(calls) < 5


def test_failed_items_start_again_and_say_how_often(make_action, async_dir, tmp_path):
    """Item 1 fails its first attempt (a counter file), item 2 every one: the results say attempts and what the
    earlier attempts returned; summary.retried counts both."""
    counter = tmp_path / 'runs'
    flaky = 'n=$(cat %s 2>/dev/null || echo 0); n=$((n+1)); echo $n > %s; [ $n -gt 1 ] || exit 4' % (counter, counter)
    action, task_vars = make_action(
        'async_batch',
        {
            'module': 'ansible.builtin.shell',
            'items': ['true', flaky, 'exit 5'],
            'args': {'cmd': trust_as_template('{{ item }}')},
            'concurrency': 2,
            'item_retries': 1,
            'item_retry_delay': 0,
            'allow_failures': True,
            'delay': 1,
        },
    )
    result = action.run(task_vars=task_vars)
    assert [r['attempts'] for r in result['results']] == [1, 2, 2]
    assert [r['state'] for r in result['results']] == ['succeeded', 'succeeded', 'failed']
    assert result['results'][1]['previous_attempts'] == [
        {
            'attempt': 1,
            'state': 'failed',
            'rc': 4,
            'msg': 'non-zero return code',
            'elapsed': result['results'][1]['previous_attempts'][0]['elapsed'],
        }
    ]
    assert result['results'][2]['rc'] == 5 and result['results'][2]['previous_attempts'][0]['rc'] == 5
    assert result['summary']['retried'] == 2 and result['summary']['failed_count'] == 1
    assert records_left(async_dir) == []


def test_max_failures_as_a_percent_skips_the_rest_with_the_reason(make_action):
    action, task_vars = make_action(
        'async_batch',
        {
            'module': 'ansible.builtin.command',
            'items': ['false', 'false', 'true', 'true', 'true'],
            'args': {'cmd': trust_as_template('{{ item }}')},
            'concurrency': 1,
            'max_failures': '40%',
            'allow_failures': True,
            'delay': 1,
        },
    )
    result = action.run(task_vars=task_vars)
    assert [r['state'] for r in result['results']] == ['failed', 'failed', 'skipped', 'skipped', 'skipped']
    assert result['results'][4]['msg'] == 'not started: 2 item(s) failed, max_failures is 40%'
    assert result['summary']['skipped'] == 3 and result['results'][4]['attempts'] == 0


def test_a_retrying_item_counts_as_neither_done_nor_failed_in_the_progress(make_action, progress_events):
    action, task_vars = make_action(
        'async_batch', {'module': 'ansible.builtin.command', 'items': [1], 'args': {'cmd': 'true'}, 'keep': True}
    )
    replies = iter(
        [
            {'finished': False, 'jobs': [{'state': 'running'}, {'state': 'retrying'}]},
            {
                'finished': True,
                'jobs': [
                    {'ansible_job_id': 'b', 'finished': True, 'asyncops_job': {'elapsed': 1.0}},
                    {
                        'ansible_job_id': 'i',
                        'finished': True,
                        'rc': 0,
                        'attempts': 2,
                        'asyncops_job': {'elapsed': 1.0, 'state': 'succeeded'},
                    },
                ],
            },
        ]
    )
    action.status_round = lambda task_vars, jids, pause, **args: next(replies)
    result = action.run(task_vars=task_vars)
    assert [data['asyncops_progress'] for _name, data in progress_events] == [
        {'total': 1, 'done': 0, 'failed': 0, 'running': 0, 'pending': 0, 'retrying': 1}
    ]
    assert result['summary']['retried'] == 1
