# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What keyword mode's async_status returns: ansible-core's shapes, our details under asyncops_job."""

from __future__ import annotations

from ansible_collections.asyncops.jobs.plugins.module_utils._status_module import core_compatible


def test_a_missing_job_is_said_as_ansible_core_says_it():
    record = core_compatible(
        {'failed': True, 'finished': True, 'msg': 'could not find job j1.1 in /x: it was never ...'}
    )
    assert record['msg'] == 'could not find job'
    assert record['asyncops_job']['detail'].startswith('could not find job j1.1')


def test_a_time_out_is_said_as_ansible_core_says_it():
    record = core_compatible(
        {
            'failed': True,
            'timedout': True,
            'msg': 'Timeout exceeded: the job ran longer ...',
            'asyncops_job': {'pid': 42, 'state': 'timedout'},
        }
    )
    assert record['msg'] == 'Timeout exceeded' and record['timedout'] and record['child_pid'] == 42
    assert (
        record['asyncops_job']['detail'].startswith('Timeout exceeded: the job')
        and record['asyncops_job']['state'] == 'timedout'
    )


def test_module_stderr_is_stderr_unless_the_module_returned_its_own():
    assert core_compatible({'module_stderr': 'warned\n'})['stderr'] == 'warned\n'
    assert core_compatible({'module_stderr': 'warned\n', 'stderr': 'own'})['stderr'] == 'own'


def test_other_records_are_left_alone():
    record = {'rc': 0, 'stdout': 'x', 'msg': ''}
    assert core_compatible(dict(record)) == record
