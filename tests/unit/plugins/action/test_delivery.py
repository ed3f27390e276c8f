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
import time

import pytest
from ansible.errors import AnsibleConnectionFailure
from ansible.template import trust_as_template

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_protocol as protocol
from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import RETAIN_STAMP


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


def side_dir(async_dir, jid):
    return os.path.join(async_dir, '.%s.job' % jid)


def note_of(async_dir, jid):
    with open(os.path.join(async_dir, jid)) as f:
        return json.load(f)


def test_async_batch_returns_and_collects_its_results_in_one_round(make_action, async_dir):
    result, calls, _dropped = run(make_action, 'async_batch', batch_args())
    assert [r['stdout'] for r in result['results']] == ['a', 'b']
    assert protocol.DELIVERED_KEY not in result
    assert [mode for _name, mode in calls if mode == 'collect'] == []  # no second round
    note = note_of(async_dir, result['ansible_job_id'])
    assert note['asyncops_job']['state'] == 'collected' and note['asyncops_job']['delivered_to']
    assert sorted(os.listdir(async_dir)) == sorted(
        [result['ansible_job_id'], '.%s.job' % result['ansible_job_id']] + [RETAIN_STAMP]
    )
    copy = os.path.join(side_dir(async_dir, result['ansible_job_id']), protocol.DELIVERED_FILE)
    assert stat.S_IMODE(os.lstat(copy).st_mode) == 0o600


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
    assert os.listdir(async_dir) == [RETAIN_STAMP]  # the note and the copy next to it went


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
    assert os.path.isdir(side_dir(async_dir, jid))
    # DELIVERY_KEEP seconds pass: the note says it was collected that long ago, and the last sweep was long ago
    path = os.path.join(async_dir, jid)
    note = note_of(async_dir, jid)
    then = time.time() - protocol.DELIVERY_KEEP - 1
    note['asyncops_job']['collected_at'] = then
    with open(path, 'w') as f:
        json.dump(note, f)
    os.utime(path, (then, then))
    os.utime(os.path.join(async_dir, RETAIN_STAMP), (then, then))
    listed, _calls, _dropped = run(make_action, 'async_status', {'mode': 'list'})
    assert [job['ansible_job_id'] for job in listed['jobs']] == [jid]
    assert not os.path.exists(side_dir(async_dir, jid))
    again, _calls, _dropped = run(make_action, 'async_status', {'jid': jid})
    assert again['collected'] and 'already collected at ' in again['msg']


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
