# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import json
import os

import pytest


def test_the_wrapper_as_a_task_uses_the_shell_plugins_async_dir(make_action, async_dir):
    action, task_vars = make_action('async_wrapper', {'jobs': [{'argv': ['true']}]})
    result = action.run(task_vars=task_vars)
    assert result['async_dir'] == async_dir and result['started']


def test_an_explicit_async_dir_wins(make_action, tmp_path):
    action, task_vars = make_action('async_wrapper', {'jobs': [{'argv': ['true']}], 'async_dir': str(tmp_path / 'x')})
    assert action.run(task_vars=task_vars)['async_dir'] == str(tmp_path / 'x')


@pytest.mark.parametrize(
    'args, message',
    [
        ({'item_retries': 2}, 'item_retries concerns the items of a batch: start the jobs as a batch (concurrency)'),
        ({'on_halt': 'kill', 'max_failures': 1}, 'max_failures, on_halt concern the items of a batch'),
        ({'concurrency': 2, 'fail_fast': True, 'max_failures': 2}, 'fail_fast and max_failures exclude each other'),
        (
            {'concurrency': 2, 'max_failures': '0%'},
            'max_failures must be a whole number of items, 1 or more, or a percent',
        ),
        ({'concurrency': 2, 'item_retries': -1}, 'item_retries must be 0 or more'),
        ({'retain': -1}, 'retain must be 0 or more seconds'),
    ],
)
def test_the_wrapper_checks_the_options_of_issue_18_itself(make_action, async_dir, args, message):
    """The wrapper is also called as a task and by other means: it refuses what the actions refuse, before anything."""
    action, task_vars = make_action('async_wrapper', dict({'jobs': [{'argv': ['true']}]}, **args))
    result = action.run(task_vars=task_vars)
    assert result['failed'] and message in result['msg']
    assert not os.path.exists(async_dir)


def test_a_batch_started_by_the_wrapper_keeps_its_options(make_action, async_dir):
    action, task_vars = make_action(
        'async_wrapper',
        {
            'jobs': [{'argv': ['true']}] * 5,
            'concurrency': 1,
            'max_failures': '20%',
            'on_halt': 'kill',
            'item_retries': 2,
            'item_retry_delay': 0.5,
            'retain': 3600,
        },
    )
    result = action.run(task_vars=task_vars)
    with open(os.path.join(async_dir, result['ansible_job_id'])) as f:
        meta = json.load(f)['asyncops_job']
    assert {
        key: meta[key]
        for key in ('max_failures', 'halt_after', 'on_halt', 'item_retries', 'item_retry_delay', 'retain')
    } == {
        'max_failures': '20%',
        'halt_after': 1,
        'on_halt': 'kill',
        'item_retries': 2,
        'item_retry_delay': 0.5,
        'retain': 3600.0,
    }
