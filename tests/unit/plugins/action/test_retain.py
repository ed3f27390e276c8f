# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""retain through the real actions and modules: a later launch or status call removes what outlived it, and says so."""

from __future__ import annotations

import os


def test_a_later_call_removes_an_uncollected_job_after_its_retain_and_says_so(make_action, async_dir):
    run, task_vars = make_action(
        'async_run',
        {'module': 'ansible.builtin.command', 'args': {'cmd': 'true'}, 'poll': 0, 'cleanup': False, 'retain': 0},
    )
    jid = run.run(task_vars=task_vars)['ansible_job_id']
    wait, task_vars = make_action('async_status', {'jid': jid, 'mode': 'wait', 'timeout': 20})
    waited = wait.run(task_vars=task_vars)
    assert waited['finished'] and 'retained_removed' not in waited  # the job a call asks about stays
    assert os.path.exists(os.path.join(async_dir, jid))
    listing, task_vars = make_action('async_status', {'mode': 'list'})
    listed = listing.run(task_vars=task_vars)
    assert listed['retained_removed'] == [jid] and listed['jobs'] == []
    assert not os.path.exists(os.path.join(async_dir, jid))
    assert not os.path.exists(os.path.join(async_dir, '.%s.job' % jid))


def test_a_launch_removes_what_outlived_its_retain(make_action, async_dir):
    first, task_vars = make_action(
        'async_run',
        {'module': 'ansible.builtin.command', 'args': {'cmd': 'true'}, 'poll': 1, 'cleanup': False, 'retain': 0},
    )
    done = first.run(task_vars=task_vars)
    assert done['rc'] == 0 and os.path.exists(os.path.join(async_dir, done['ansible_job_id']))
    second, task_vars = make_action(
        'async_batch', {'module': 'ansible.builtin.command', 'items': [1], 'args': {'cmd': 'true'}, 'delay': 1}
    )
    result = second.run(task_vars=task_vars)
    assert result['retained_removed'] == [done['ansible_job_id']] and result['summary']['ok'] == 1
    assert not os.path.exists(os.path.join(async_dir, done['ansible_job_id']))


def test_without_retain_nothing_is_removed(make_action, async_dir):
    first, task_vars = make_action(
        'async_run', {'module': 'ansible.builtin.command', 'args': {'cmd': 'true'}, 'poll': 1, 'cleanup': False}
    )
    jid = first.run(task_vars=task_vars)['ansible_job_id']
    listing, task_vars = make_action('async_status', {'mode': 'list'})
    listed = listing.run(task_vars=task_vars)
    assert 'retained_removed' not in listed and [job['ansible_job_id'] for job in listed['jobs']] == [jid]
    assert not os.path.exists(os.path.join(async_dir, '.asyncops-retain'))
