# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

from ansible_collections.asyncops.jobs.plugins.module_utils._job_protocol import range_problems


@pytest.mark.parametrize('params', [
    {'timeout': float('nan')}, {'timeout': float('inf')}, {'timeout': -1.0}, {'grace': float('-inf')},
    {'delay': 0}, {'delay': float('nan')}, {'retries': 0}, {'concurrency': 0}, {'older_than': -5.0}, {'tail': -1},
    {'output_limit': 10},
])
def test_out_of_range_and_non_finite_numbers_are_refused(params):
    (name, value), = params.items()
    problems = range_problems(params)
    assert len(problems) == 1 and problems[0].startswith('%s must be ' % name) and str(value) in problems[0]


def test_values_in_range_and_unset_options_pass():
    assert range_problems({'timeout': 0, 'grace': 0.0, 'delay': 0.1, 'retries': 1, 'concurrency': 1,
                           'older_than': 0.0, 'tail': 0, 'output_limit': 1024, 'poll': None}) == []


def test_only_the_named_options_are_checked():
    assert range_problems({'timeout': -1, 'grace': -1}, ('grace',)) == ['grace must be 0 or more seconds, got -1']
