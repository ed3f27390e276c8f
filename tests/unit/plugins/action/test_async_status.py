# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


def test_status_reads_the_job_in_the_configured_async_dir(make_action, async_dir):
    start, task_vars = make_action(
        'async_run', {'module': 'ansible.builtin.command', 'args': {'cmd': 'echo x'}, 'poll': 0}
    )
    jid = start.run(task_vars=task_vars)['ansible_job_id']
    wait, task_vars = make_action('async_status', {'jid': jid, 'mode': 'wait', 'timeout': 30})
    result = wait.run(task_vars=task_vars)
    assert result['finished'] is True and result['stdout'] == 'x'
    assert result['results_file'].startswith(async_dir + '/')


def test_a_missing_job_is_a_failure(make_action):
    status, task_vars = make_action('async_status', {'jid': 'j1.1'})
    result = status.run(task_vars=task_vars)
    assert result['failed'] and 'could not find job j1.1' in result['msg']
