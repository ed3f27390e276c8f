# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Delivery in one round: the status round that finds a job of async_run / async_batch finished collects it as it
answers (no separate mode=collect round), a round retried after its reply was lost gets the same answer from the
copy kept next to the note, every other reader reads that the result was collected, and the copy goes by itself."""

from __future__ import annotations

import json
import os
import re
import stat
import threading
import time

import pytest
from ansible.errors import AnsibleConnectionFailure
from ansible.template import trust_as_template

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_protocol as protocol
from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import DELIVERED_STAMP


def recording(action, drop_first_finished=False):
    """Make the action's target module runs go through a recorder: [(module name, mode)]; optionally the first
    reply that says finished is lost in transit (the module ran, the controller never got its answer)."""
    real = action.run_target_module
    calls, dropped = [], []

    def run_target_module(name, args, task_vars):
        calls.append((name.rsplit('.', 1)[-1], args.get('mode')))
        reply = real(name, args, task_vars)
        if drop_first_finished and not dropped and args.get('mode') == 'wait' and reply.get('finished'):
            dropped.append(json.loads(json.dumps(reply)))
            raise AnsibleConnectionFailure('test: the reply was lost')
        return reply

    action.run_target_module = run_target_module
    return calls, dropped


def run(make_action, name, args, drop_first_finished=False, **fields):
    action, task_vars = make_action(name, args, **fields)
    calls, dropped = recording(action, drop_first_finished)
    return action.run(task_vars=task_vars), calls, dropped


def batch_args(**extra):
    return dict(
        {
            'module': 'ansible.builtin.command',
            'items': ['a', 'b'],
            'args': {'cmd': trust_as_template('echo {{ item }}')},
            'concurrency': 2,
            'delay': 1,
        },
        **extra,
    )


def copy_dir(async_dir, jid):
    return os.path.join(async_dir, '.%s.delivered' % jid)


def note_of(async_dir, jid):
    with open(os.path.join(async_dir, jid)) as f:
        return json.load(f)


def test_async_batch_returns_and_collects_its_results_in_one_round(make_action, async_dir):
    result, calls, _dropped = run(make_action, 'async_batch', batch_args())
    assert [r['stdout'] for r in result['results']] == ['a', 'b']
    assert protocol.DELIVERED_KEY not in result
    assert [mode for _name, mode in calls if mode == 'collect'] == []  # no second round
    jid = result['ansible_job_id']
    assert note_of(async_dir, jid)['asyncops_job']['state'] == 'collected'
    assert sorted(os.listdir(async_dir)) == sorted([jid, '.%s.delivered' % jid, DELIVERED_STAMP])
    assert stat.S_IMODE(os.lstat(copy_dir(async_dir, jid)).st_mode) == 0o700
    assert stat.S_IMODE(os.lstat(os.path.join(copy_dir(async_dir, jid), 'answer')).st_mode) == 0o600


def test_async_run_returns_and_collects_its_result_in_one_round(make_action, async_dir):
    result, calls, _dropped = run(
        make_action, 'async_run', {'module': 'ansible.builtin.command', 'args': {'cmd': 'echo once'}, 'poll': 1}
    )
    assert result['stdout'] == 'once' and protocol.DELIVERED_KEY not in result
    assert [mode for _name, mode in calls if mode == 'collect'] == []
    assert note_of(async_dir, result['ansible_job_id'])['asyncops_job']['state'] == 'collected'


def test_async_status_wait_returns_and_collects_in_one_round(make_action, async_dir):
    started, _calls, _dropped = run(
        make_action, 'async_run', {'module': 'ansible.builtin.command', 'args': {'cmd': 'echo later'}, 'poll': 0}
    )
    jid = started['ansible_job_id']
    done, calls, _dropped = run(make_action, 'async_status', {'jid': jid, 'mode': 'wait', 'timeout': 30})
    assert done['stdout'] == 'later' and protocol.DELIVERED_KEY not in done
    assert [mode for _name, mode in calls] == ['wait']
    cleaned, _calls, _dropped = run(make_action, 'async_status', {'jid': jid, 'mode': 'cleanup'})
    assert not cleaned.get('failed'), cleaned.get('msg')
    assert os.listdir(async_dir) == [DELIVERED_STAMP]  # the note and the copy went


def test_a_round_retried_after_its_reply_was_lost_gets_the_same_answer_and_others_read_collected(
    make_action, async_dir
):
    result, calls, dropped = run(make_action, 'async_batch', batch_args(), drop_first_finished=True)
    assert dropped, 'the test lost no reply'
    assert [r['stdout'] for r in result['results']] == ['a', 'b']
    assert [mode for _name, mode in calls if mode == 'collect'] == []
    # the lost reply had collected the batch already: the retried round was answered from the copy
    assert [mode for _name, mode in calls].count('wait') >= 2
    other, _calls, _dropped = run(make_action, 'async_status', {'jid': result['ansible_job_id']})
    assert other['collected'] and 'already collected at ' in other['msg']


def test_a_no_log_batch_answered_again_from_the_copy_is_still_censored(make_action, async_dir):
    """async_status (itself without no_log) loses the reply that collected the batch; its retried round is answered
    from the copy, censored as the job's no_log says, and every other reader reads collected."""
    started, _calls, _dropped = run(make_action, 'async_batch', batch_args(wait=False, items=['S3CRET_A']), no_log=True)
    jid = started['ansible_job_id']
    done, calls, dropped = run(
        make_action, 'async_status', {'jid': jid, 'mode': 'wait', 'timeout': 30}, drop_first_finished=True
    )
    assert dropped and [mode for _name, mode in calls] == ['wait', 'wait']
    assert done['results'][0]['stdout'] == 'S3CRET_A'
    assert done['_ansible_no_log'] and all(entry['_ansible_no_log'] for entry in done['results'])
    other, _calls, _dropped = run(make_action, 'async_status', {'jid': jid, 'mode': 'wait', 'timeout': 30})
    assert other['collected'] and 'S3CRET_A' not in repr(other)


def test_the_copy_goes_once_its_time_passed_and_the_note_stays(make_action, async_dir):
    result, _calls, _dropped = run(make_action, 'async_batch', batch_args())
    jid = result['ansible_job_id']
    assert os.path.isdir(copy_dir(async_dir, jid))
    # DELIVERY_KEEP seconds pass: the copy was made that long ago, and the copies were last swept long ago
    then = time.time() - protocol.DELIVERY_KEEP - 1
    os.utime(copy_dir(async_dir, jid), (then, then))
    os.utime(os.path.join(async_dir, DELIVERED_STAMP), (then, then))
    listed, _calls, _dropped = run(make_action, 'async_status', {'mode': 'list'})
    assert [job['ansible_job_id'] for job in listed['jobs']] == [jid]
    assert not os.path.exists(copy_dir(async_dir, jid))
    again, _calls, _dropped = run(make_action, 'async_status', {'jid': jid})
    assert again['collected'] and 'already collected at ' in again['msg']


def test_a_copy_not_made_by_the_engine_is_never_read_nor_removed(make_action, async_dir):
    """A directory named as a copy but without the engine's marker (or a link there): the retried round does not
    answer from it, the sweep leaves it alone."""
    result, _calls, _dropped = run(make_action, 'async_batch', batch_args())
    jid = result['ansible_job_id']
    os.remove(os.path.join(copy_dir(async_dir, jid), '.asyncops'))
    then = time.time() - protocol.DELIVERY_KEEP - 1
    os.utime(copy_dir(async_dir, jid), (then, then))
    os.utime(os.path.join(async_dir, DELIVERED_STAMP), (then, then))
    run(make_action, 'async_status', {'mode': 'list'})
    assert os.path.isdir(copy_dir(async_dir, jid))


def test_a_retried_round_that_overlaps_the_one_that_collected_gets_the_answer_too(make_action, async_dir):
    """Two rounds with the same token wait on the job at once (a retry while the lost round still runs remotely):
    whichever collects it, the other one returns the result too, never the note."""
    started, _calls, _dropped = run(
        make_action,
        'async_run',
        {'module': 'ansible.builtin.shell', 'args': {'cmd': 'sleep 2; echo both'}, 'poll': 0},
    )
    jid = started['ansible_job_id']
    action, task_vars = make_action('async_status', {'jid': jid, 'mode': 'wait', 'timeout': 30})
    token = action.delivery_token(task_vars)
    answers = []

    def one_round():
        answers.append(action.query(task_vars, jid=jid, mode='wait', timeout=30, delivery=token))

    rounds = [threading.Thread(target=one_round) for _index in range(2)]
    for thread in rounds:
        thread.start()
    for thread in rounds:
        thread.join(60)
    assert [answer.get('stdout') for answer in answers] == ['both', 'both'], answers
    assert note_of(async_dir, jid)['asyncops_job']['state'] == 'collected'


def test_overlapping_rounds_of_a_batch_asked_with_its_items_both_get_every_item(make_action, async_dir):
    """As async_batch asks (the batch and its items, in one round): two rounds with the same token wait at once;
    whichever collects the batch, the other returns every item's result too, never an item that is gone."""
    started, _calls, _dropped = run(
        make_action,
        'async_batch',
        batch_args(wait=False, args={'cmd': trust_as_template('sh -c "sleep 2; echo {{ item }}"')}),
    )
    jids = [started['ansible_job_id']] + [job['ansible_job_id'] for job in started['jobs']]
    action, task_vars = make_action('async_status', {'jid': jids[0]})
    token = action.delivery_token(task_vars)
    answers = []

    def one_round():
        answers.append(action.query(task_vars, jid=jids, mode='wait', timeout=30, delivery=token, tail=0))

    rounds = [threading.Thread(target=one_round) for _index in range(2)]
    for thread in rounds:
        thread.start()
    for thread in rounds:
        thread.join(60)
    assert len(answers) == 2
    for answer in answers:
        assert [job.get('stdout') for job in answer['jobs'][1:]] == ['a', 'b'], answer


def test_async_status_on_a_batch_delivered_by_async_batch_gets_the_batch_result(make_action, async_dir):
    """The token named by a lost async_batch round, given to async_status: async_batch's result (results, summary)."""
    action, task_vars = make_action('async_batch', batch_args())
    token = action.delivery_token(task_vars)
    result = action.run(task_vars=task_vars)
    again, _calls, _dropped = run(make_action, 'async_status', {'jid': result['ansible_job_id'], 'delivery': token})
    assert [entry['stdout'] for entry in again['results']] == ['a', 'b'] and again['summary']['ok'] == 2


def test_a_host_that_stays_unreachable_after_a_lost_delivery_names_the_token_that_gets_the_answer(
    make_action, async_dir
):
    """The round that collected the job lost its reply, and the host stays unreachable for the retried rounds: the
    task fails saying how to get that answer, and a status call with the token it names returns it."""
    started, _calls, _dropped = run(
        make_action, 'async_run', {'module': 'ansible.builtin.command', 'args': {'cmd': 'echo kept-for-you'}, 'poll': 0}
    )
    jid = started['ansible_job_id']
    action, task_vars = make_action('async_status', {'jid': jid, 'mode': 'wait', 'timeout': 30})
    real = action.run_target_module
    attempts = []

    def lost_then_unreachable(name, args, task_vars):
        attempts.append(args.get('mode'))
        if len(attempts) == 1:
            real(name, args, task_vars)  # it ran, and collected the job; its reply never arrives
        raise AnsibleConnectionFailure('test: connection lost')

    action.run_target_module = lost_then_unreachable
    with pytest.raises(AnsibleConnectionFailure) as failure:
        action.run(task_vars=task_vars)
    assert len(attempts) == 3
    token = re.search(r' delivery=(\S+) returns that answer', str(failure.value)).group(1)
    assert note_of(async_dir, jid)['asyncops_job']['state'] == 'collected'
    again, _calls, _dropped = run(make_action, 'async_status', {'jid': jid, 'delivery': token})
    assert again['stdout'] == 'kept-for-you' and not again.get('failed')
