# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_protocol as protocol
from ansible_collections.asyncops.jobs.plugins.module_utils._job_protocol import range_problems


@pytest.mark.parametrize(
    'params',
    [
        {'timeout': float('nan')},
        {'timeout': float('inf')},
        {'timeout': -1.0},
        {'grace': float('-inf')},
        {'delay': 0},
        {'delay': float('nan')},
        {'retries': 0},
        {'concurrency': 0},
        {'older_than': -5.0},
        {'tail': -1},
        {'output_limit': 10},
    ],
)
def test_out_of_range_and_non_finite_numbers_are_refused(params):
    ((name, value),) = params.items()
    problems = range_problems(params)
    assert len(problems) == 1 and problems[0].startswith('%s must be ' % name) and str(value) in problems[0]


def test_values_in_range_and_unset_options_pass():
    assert (
        range_problems(
            {
                'timeout': 0,
                'grace': 0.0,
                'delay': 0.1,
                'retries': 1,
                'concurrency': 1,
                'older_than': 0.0,
                'tail': 0,
                'output_limit': 1024,
                'poll': None,
            }
        )
        == []
    )


def test_only_the_named_options_are_checked():
    assert range_problems({'timeout': -1, 'grace': -1}, ('grace',)) == ['grace must be 0 or more seconds, got -1']


@pytest.mark.parametrize(
    'params', [{'item_retries': -1}, {'item_retry_delay': -0.5}, {'retain': -1.0}, {'retain': float('nan')}]
)
def test_the_options_of_issue_18_have_ranges(params):
    ((name, _value),) = params.items()
    problems = range_problems(params)
    assert len(problems) == 1 and problems[0].startswith('%s must be ' % name)


@pytest.mark.parametrize(
    'given, items, after',
    [
        (1, 10, 1),
        (3, 10, 3),
        ('3', 10, 3),
        ('20%', 100, 20),
        ('20%', 7, 2),
        ('1%', 10, 1),
        ('100%', 4, 4),
        ('12.5%', 8, 1),
        (' 50 % ', 4, 2),
        (2.0, 5, 2),
    ],
)
def test_max_failures_as_a_number_or_a_percent_of_the_items(given, items, after):
    assert protocol.halt_after(given, items) == after


@pytest.mark.parametrize('given', [0, -1, '0', '0%', '101%', 'abc', '20 percent', '%', True, 2.5, [], None])
def test_max_failures_that_is_neither_is_refused_saying_what_is_allowed(given):
    with pytest.raises(ValueError, match='max_failures must be a whole number of items, 1 or more, or a percent'):
        protocol.halt_after(given, 10)


def test_fail_fast_and_max_failures_exclude_each_other():
    assert protocol.halt_problems({'fail_fast': True, 'max_failures': 1}) == [
        'fail_fast and max_failures exclude each other: fail_fast: true means max_failures: 1; give one of them'
    ]
    assert protocol.halt_problems({'fail_fast': False, 'max_failures': '20%'}) == []
    assert protocol.halt_problems({'fail_fast': True}) == []


def test_the_options_of_a_batch_need_a_batch():
    assert protocol.batch_only_problems({'item_retries': 0, 'on_halt': 'finish', 'item_retry_delay': 1.0}) == []
    assert protocol.batch_only_problems({'item_retries': 2, 'max_failures': 1, 'on_halt': 'kill'}) == [
        'item_retries, max_failures, on_halt concern the items of a batch: start the jobs as a batch (concurrency)'
    ]


def test_a_retrying_item_is_unfinished_and_waits():
    record = {'started': True, 'finished': False, 'asyncops_job': {'state': 'retrying', 'kind': 'item'}}
    assert protocol.job_state(record) == 'retrying'
    assert protocol.RETRYING in protocol.UNFINISHED_STATES and protocol.RETRYING not in protocol.FAILED_STATES
    # what a record of ansible-core (or of an item that started its retry) says, as before
    assert protocol.job_state({'started': True, 'finished': False}) == 'running'


def test_retries_lengthen_the_give_up_deadline_by_every_attempt_and_wait():
    plain = protocol.give_up_deadline(0.0, 10, 1.0, pending=4, concurrency=2)
    assert plain == 2 * 11 + protocol.DEADLINE_MARGIN
    # 2 windows, each item may run 3 times (2 retries) and wait 5 + 10 s between its attempts
    assert (
        protocol.give_up_deadline(0.0, 10, 1.0, pending=4, concurrency=2, item_retries=2, item_retry_delay=5.0)
        == 2 * 3 * 11 + 2 * 15 + protocol.DEADLINE_MARGIN
    )
    assert [protocol.retry_delay(5.0, attempt) for attempt in (1, 2, 3)] == [5.0, 10.0, 20.0]


def test_previous_attempts_are_short_and_say_no_msg_of_a_no_log_job():
    record = {'rc': 2, 'msg': 'x' * 1000, 'asyncops_job': {'attempts': 2, 'attempt_state': 'timedout', 'elapsed': 1.5}}
    assert protocol.previous_attempt(record) == {
        'attempt': 2,
        'state': 'timedout',
        'rc': 2,
        'elapsed': 1.5,
        'msg': 'x' * protocol.PREVIOUS_MSG_CHARS,
    }
    record['asyncops_job']['no_log'] = True
    assert 'msg' not in protocol.previous_attempt(record)


def test_batch_options_keep_a_retain_of_0():
    assert protocol.batch_options({'retain': 0.0, 'concurrency': 2, 'fail_fast': False, 'key': None}) == {
        'retain': 0.0,
        'concurrency': 2,
    }
