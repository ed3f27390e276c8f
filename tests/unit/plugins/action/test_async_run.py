# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import json
import os
import re
import time

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_protocol as protocol


def test_run_polls_to_the_result_and_collects_it(make_action, async_dir):
    action, task_vars = make_action(
        'async_run', {'module': 'ansible.builtin.command', 'args': {'cmd': 'echo hi'}, 'poll': 1}
    )
    result = action.run(task_vars=task_vars)
    assert result['stdout'] == 'hi' and result['rc'] == 0 and result['finished']
    with open(result['results_file']) as f:
        note = json.load(f)  # collected: the record gave way to a note saying so, without the output
    assert note['asyncops_job']['state'] == 'collected' and 'stdout' not in note
    assert [name for name in os.listdir(async_dir) if not name.startswith('.')] == [result['ansible_job_id']]


def test_poll_zero_returns_the_job_id(make_action, async_dir):
    action, task_vars = make_action(
        'async_run', {'module': 'ansible.builtin.command', 'args': {'cmd': 'true'}, 'poll': 0}
    )
    result = action.run(task_vars=task_vars)
    assert result['started'] and not result['finished'] and result['changed']
    assert os.path.dirname(result['results_file']) == async_dir


def test_bad_values_are_refused_before_anything_starts(make_action, async_dir):
    action, task_vars = make_action(
        'async_run',
        {'module': 'ansible.builtin.command', 'args': {'cmd': 'true'}, 'timeout': -1, 'grace': float('nan')},
    )
    with pytest.raises(AnsibleActionFail, match='timeout must be .*; grace must be'):
        action.run(task_vars=task_vars)
    assert not os.path.exists(async_dir)


def release_after(action, flag, progress_events, enough):
    """Let the job end (it waits for flag) once enough(progress_events) holds: progress is seen whatever the load."""
    real = action.report_progress

    def reporting(data, line):
        real(data, line)
        if enough(progress_events):
            flag.touch()

    action.report_progress = reporting


def test_progress_of_a_no_log_job_carries_no_output(make_action, progress_events, tmp_path, give_up_after):
    give_up_after(120)
    flag = tmp_path / 'flag'
    action, task_vars = make_action(
        'async_run',
        {
            'module': 'ansible.builtin.shell',
            'poll': 1,
            'args': {'cmd': 'echo SECRET_TOKEN_123; while [ ! -e %s ]; do sleep 0.05; done' % flag},
        },
        no_log=True,
    )
    release_after(action, flag, progress_events, lambda events: len(events) >= 2)
    action.run(task_vars=task_vars)
    assert len(progress_events) >= 2 and all(name == 'v2_runner_on_async_poll' for name, _data in progress_events)
    assert 'SECRET' not in repr(progress_events)


def test_progress_carries_the_last_output_lines_otherwise(make_action, progress_events, tmp_path, give_up_after):
    give_up_after(120)
    flag = tmp_path / 'flag'
    action, task_vars = make_action(
        'async_run',
        {
            'module': 'ansible.builtin.shell',
            'poll': 1,
            'args': {'cmd': 'echo visible-line; while [ ! -e %s ]; do sleep 0.05; done' % flag},
        },
    )
    release_after(
        action,
        flag,
        progress_events,
        lambda events: any('visible-line' in data.get('stdout_tail', []) for _name, data in events),
    )
    action.run(task_vars=task_vars)
    assert any('visible-line' in data.get('stdout_tail', []) for _name, data in progress_events)
    assert all(data['ansible_job_id'] and data['finished'] is False for _name, data in progress_events)


NOBODY = 65534


@pytest.mark.parametrize('unsafe', ['others can write it', 'another user owns it'])
def test_launch_and_status_refuse_an_async_dir_below_an_unsafe_dir(make_action, async_dir, unsafe):
    """Whoever can write the directory above the async dir can swap the async dir (and the payloads in it)."""
    if unsafe == 'another user owns it' and os.geteuid() != 0:
        pytest.skip('needs root to give a directory to another user')
    start, task_vars = make_action(
        'async_run', {'module': 'ansible.builtin.command', 'args': {'cmd': 'echo x'}, 'poll': 0}
    )
    jid = start.run(task_vars=task_vars)['ansible_job_id']
    parent = os.path.dirname(async_dir)
    if unsafe == 'others can write it':
        os.chmod(parent, 0o777)
    else:
        os.chown(parent, NOBODY, NOBODY)
    try:
        status, task_vars = make_action('async_status', {'jid': jid, 'mode': 'wait', 'timeout': 5})
        result = status.run(task_vars=task_vars)
        assert (
            result['failed']
            and 'refusing to use the async dir %s: the directory %s' % (async_dir, parent) in result['msg']
        )
        again, task_vars = make_action(
            'async_run', {'module': 'ansible.builtin.command', 'args': {'cmd': 'echo x'}, 'poll': 0}
        )
        with pytest.raises(
            AnsibleActionFail,
            match='could not start the background job: refusing to use the async dir %s' % re.escape(async_dir),
        ):
            again.run(task_vars=task_vars)
    finally:
        os.chown(parent, os.geteuid(), -1)
        os.chmod(parent, 0o700)
    assert len(os.listdir(async_dir)) == 2  # the first job's record and side dir, nothing more


@pytest.mark.parametrize('breaks', ['async dir others can write', 'corrupt record'])
def test_a_failing_status_round_stops_the_task_with_its_message(
    make_action, async_dir, give_up_after, breaks, tmp_path
):
    """Asked again, a status round that failed fails again: the task stops at once and says why (it used to poll
    forever without showing the error). The job breaks its own record or async dir, then waits until the test
    releases it, so no final record can replace what it broke before a round sees it, whatever the load."""
    give_up_after(60)
    flag = tmp_path / 'release'
    wait = 'while [ ! -e %s ]; do sleep 0.05; done' % flag
    if breaks == 'async dir others can write':
        cmd, message = (
            'chmod 777 %s; %s' % (async_dir, wait),
            'refusing to use %s: it is writable by group and others' % async_dir,
        )
    else:
        # once the supervisor wrote the running record (it would replace the garbage otherwise)
        cmd = (
            'until grep -q started "$ASYNCOPS_JOB_ID"; do sleep 0.05; done; printf garbage > "$ASYNCOPS_JOB_ID"; %s'
            % wait
        )
        message = 'is not valid JSON'
    action, task_vars = make_action(
        'async_run', {'module': 'ansible.builtin.shell', 'args': {'cmd': cmd}, 'poll': 1, 'timeout': 30}
    )
    replies = record_status_replies(action)
    try:
        with pytest.raises(AnsibleActionFail, match=r'checking on job j\S+ failed: .*%s' % re.escape(message)):
            action.run(task_vars=task_vars)
    finally:
        flag.touch()
        os.chmod(async_dir, 0o700)
    # the task stopped at the first failed round: no round was made after it
    assert ['finished' in reply for reply in replies][-1:] == [False]
    assert sum(1 for reply in replies if 'finished' not in reply) == 1


def record_status_replies(action):
    """The replies of the status rounds the action makes, in order."""
    replies = []
    real = action.run_target_module

    def recording(name, args, task_vars):
        reply = real(name, args, task_vars)
        if args.get('mode') == 'wait':
            replies.append(dict(reply))
        return reply

    action.run_target_module = recording
    return replies


def test_a_slow_launch_does_not_give_up_on_a_healthy_job(make_action, async_dir, monkeypatch, give_up_after):
    """The poll deadline counted from before the launch: a launch slower than the job's time limit made the task
    fail "its supervisor is not enforcing it" while the job ran as it should. Here the launch reply arrives after
    the old deadline (its margin shrunk to 1 s), and the job then runs within its limit."""
    give_up_after(60)
    monkeypatch.setattr(protocol, 'DEADLINE_MARGIN', 1)
    action, task_vars = make_action(
        'async_run',
        {'module': 'ansible.builtin.command', 'args': {'cmd': 'sleep 2'}, 'poll': 1, 'timeout': 3, 'grace': 0},
    )
    real = action.run_target_module

    def slow_launch(name, args, task_vars):
        if name == 'asyncops.jobs.async_wrapper':
            time.sleep(4.5)  # old deadline: 3 s + 0 + 1 s after the launch began
        return real(name, args, task_vars)

    action.run_target_module = slow_launch
    result = action.run(task_vars=task_vars)
    assert not result.get('failed') and result['rc'] == 0 and result['finished']
    with open(result['results_file']) as f:
        assert json.load(f)['asyncops_job']['state'] == 'collected'
