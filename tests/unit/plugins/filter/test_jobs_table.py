# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rows and the table of the fleet view."""

from __future__ import annotations

from ansible_collections.asyncops.jobs.plugins.filter.jobs_rows import jobs_rows
from ansible_collections.asyncops.jobs.plugins.filter.jobs_table import jobs_table


def job(jid, **fields):
    return dict(
        {
            'ansible_job_id': jid,
            'kind': 'job',
            'key': None,
            'module': 'ansible.builtin.shell',
            'state': 'running',
            'finished': False,
            'failed': False,
            'age': 5,
            'elapsed': 75,
            'no_log': False,
            'last_line': 'working',
            'wrapper': 'asyncops.jobs',
        },
        **fields,
    )


HOSTVARS = {
    'web1': {
        'listed': {
            'jobs': [
                job('j1.1', key='nightly-web1'),
                job('j1.2.i0', kind='item', batch_jid='j1.2'),
                job('j1.2', kind='batch', key='b', items={'done': 1, 'total': 3}),
                job('j1.3', no_log=True, last_line=None),
            ]
        },
        'killed': {'jobs': [{'ansible_job_id': 'j1.1', 'killed': True, 'changed': True}], 'changed': True},
    },
    'web2': {'listed': {'unreachable': True, 'msg': 'ssh: connect to host 127.0.0.1 port 1: Connection refused'}},
    'web3': {'listed': {'failed': True, 'msg': 'refusing to use /tmp/x: it belongs to nobody'}},
    'db1': {},  # not in this run
}


def test_rows_one_per_job_batches_whole_hosts_that_could_not_say_never_dropped():
    rows = jobs_rows(['web1', 'web2', 'web3', 'db1'], HOSTVARS, 'listed', 'killed')
    assert [(row['host'], row['jid'], row['state']) for row in rows] == [
        ('web1', 'j1.1', 'killed'),
        ('web1', 'j1.2', 'running'),
        ('web1', 'j1.3', 'running'),
        ('web2', None, 'unreachable'),
        ('web3', None, 'error'),
    ]
    assert rows[0]['stopped'] is True and 'stopped' not in rows[1]
    assert rows[1]['items'] == {'done': 1, 'total': 3}
    assert 'Connection refused' in rows[3]['msg']


def test_the_table_shows_what_runs_and_never_a_no_log_jobs_output():
    table = jobs_table(jobs_rows(['web1', 'web2'], HOSTVARS, 'listed', 'killed'))
    lines = table.splitlines()
    assert lines[0].split() == ['host', 'jid', 'key', 'what', 'state', 'age', 'elapsed', 'last', 'line']
    assert 'nightly-web1' in lines[1] and 'killed' in lines[1] and '1m15s' in lines[1]
    assert 'ansible.builtin.shell [1/3]' in lines[2]
    assert '(censored, no_log)' in lines[3]
    assert 'unreachable' in lines[4] and 'Connection refused' in lines[4]


def test_no_jobs():
    assert jobs_table([]) == 'no jobs'
