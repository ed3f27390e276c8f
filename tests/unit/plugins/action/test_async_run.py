# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import os

import pytest

from ansible.errors import AnsibleActionFail


def test_run_polls_to_the_result_and_collects_it(make_action, async_dir):
    action, task_vars = make_action('async_run', {'module': 'ansible.builtin.command', 'args': {'cmd': 'echo hi'},
                                                  'poll': 1})
    result = action.run(task_vars=task_vars)
    assert result['stdout'] == 'hi' and result['rc'] == 0 and result['finished']
    assert not [name for name in os.listdir(async_dir) if not name.startswith('.')]  # collected


def test_poll_zero_returns_the_job_id(make_action, async_dir):
    action, task_vars = make_action('async_run', {'module': 'ansible.builtin.command', 'args': {'cmd': 'true'},
                                                  'poll': 0})
    result = action.run(task_vars=task_vars)
    assert result['started'] and not result['finished'] and result['changed']
    assert os.path.dirname(result['results_file']) == async_dir


def test_bad_values_are_refused_before_anything_starts(make_action, async_dir):
    action, task_vars = make_action('async_run', {'module': 'ansible.builtin.command', 'args': {'cmd': 'true'},
                                                  'timeout': -1, 'grace': float('nan')})
    with pytest.raises(AnsibleActionFail, match='timeout must be .*; grace must be'):
        action.run(task_vars=task_vars)
    assert not os.path.exists(async_dir)


def test_progress_of_a_no_log_job_shows_no_output(make_action, capsys):
    action, task_vars = make_action('async_run', {'module': 'ansible.builtin.shell',
                                                  'args': {'cmd': 'echo SECRET_TOKEN_123; sleep 2'}, 'poll': 1},
                                    no_log=True)
    action.run(task_vars=task_vars)
    out = capsys.readouterr().out
    assert 'ASYNC POLL on localhost' in out and 'SECRET' not in out


def test_progress_shows_the_last_output_line_otherwise(make_action, capsys):
    action, task_vars = make_action('async_run', {'module': 'ansible.builtin.shell',
                                                  'args': {'cmd': 'echo visible-line; sleep 2'}, 'poll': 1})
    action.run(task_vars=task_vars)
    assert 'last output: visible-line' in capsys.readouterr().out
