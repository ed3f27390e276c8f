# -*- coding: utf-8 -*-
# Copyright (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ansible-runner (AWX's engine) runs the fleet view playbook: its job events carry the rows.

Two local-connection hosts with an async dir each (one job per host started first) and one that cannot be reached;
the playbook asyncops.jobs.jobs runs through ansible_runner.run(), and the rows are read back from the events:
the stats event's artifact_data (set_stats) and the result of the task that gathers them. Exits non-zero when a
check fails. Usage: python run.py --work DIR (ANSIBLE_COLLECTIONS_PATH must reach this collection)."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import textwrap

import ansible_runner  # pylint: disable=import-error  # installed by the runner-events nox session

INVENTORY = """\
[fleet]
r1 ansible_async_dir={work}/async1
r2 ansible_async_dir={work}/async2

[fleet:vars]
ansible_connection=local
ansible_python_interpreter={python}

[down]
gone ansible_host=127.0.0.1 ansible_port=1 ansible_connection=ssh ansible_ssh_common_args='-o ConnectTimeout=3'
"""

START = """\
- name: A keyed job on each host of the fleet
  hosts: fleet
  gather_facts: false
  tasks:
    - name: Start it
      asyncops.jobs.async_run:
        module: ansible.builtin.command
        args:
          cmd: sleep 120
        key: runner-{{ inventory_hostname }}
        poll: 0
        timeout: 300
"""

VIEW = """\
- name: The fleet view
  ansible.builtin.import_playbook: asyncops.jobs.jobs
"""


def run(work: str, playbook: str, extravars: dict[str, str] | None = None) -> ansible_runner.Runner:
    """ansible_runner.run() of one playbook of the project, quietly; the runner (its events)."""
    return ansible_runner.run(
        private_data_dir=work,
        playbook=playbook,
        extravars=extravars or {},
        quiet=True,
        envvars={
            'ANSIBLE_COLLECTIONS_PATH': os.environ['ANSIBLE_COLLECTIONS_PATH'],
            'ANSIBLE_COLLECTIONS_SCAN_SYS_PATH': 'false',
        },
    )


def rows_in_events(runner: ansible_runner.Runner) -> tuple[list[dict], list[dict]]:
    """The rows as the stats event carries them (set_stats) and as the gathering task's result does."""
    stats, gathered = [], []
    for event in runner.events:
        data = event.get('event_data') or {}
        if event.get('event') == 'playbook_on_stats':
            stats = (data.get('artifact_data') or {}).get('asyncops_jobs') or []
        if event.get('event') == 'runner_on_ok' and data.get('task') == 'Gather the rows of every host':
            gathered = ((data.get('res') or {}).get('ansible_facts') or {}).get('asyncops_jobs_rows') or []
    return stats, gathered


def check(condition: bool, what: str) -> None:
    print('%s: %s' % ('ok' if condition else 'FAILED', what))
    if not condition:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--work', required=True)
    work = os.path.abspath(parser.parse_args().work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, 'inventory'))
    os.makedirs(os.path.join(work, 'project'))
    with open(os.path.join(work, 'inventory', 'hosts'), 'w') as f:
        f.write(INVENTORY.format(work=work, python=sys.executable))
    for name, text in (('start.yml', START), ('view.yml', VIEW)):
        with open(os.path.join(work, 'project', name), 'w') as f:
            f.write(textwrap.dedent(text))
    try:
        started = run(work, 'start.yml')
        check(started.status == 'successful', 'the jobs started (%s)' % started.status)
        viewed = run(work, 'view.yml')
        check(
            viewed.status == 'successful',
            'the view ran through ansible-runner (%s, rc %s)' % (viewed.status, viewed.rc),
        )
        stats, gathered = rows_in_events(viewed)
        for name, rows in (('stats event (set_stats)', stats), ('result of the gathering task', gathered)):
            hosts = sorted({row['host'] for row in rows})
            check(hosts == ['gone', 'r1', 'r2'], 'the %s has the rows of every host: %s' % (name, hosts))
            check(
                all({'host', 'jid', 'key', 'state'} <= set(row) for row in rows),
                'every row of the %s has host, jid, key and state' % name,
            )
            keys = sorted((row['host'], row['key'], row['state']) for row in rows if row['host'] != 'gone')
            check(keys == [('r1', 'runner-r1', 'running'), ('r2', 'runner-r2', 'running')], 'the jobs: %s' % keys)
            check(
                [row['state'] for row in rows if row['host'] == 'gone'] == ['unreachable'],
                'the unreachable host is listed as such',
            )
    finally:
        run(work, 'view.yml', {'jobs_action': 'kill', 'jobs_hosts': 'fleet'})
    print('the job events of ansible-runner carry the rows of the fleet view')


if __name__ == '__main__':
    main()
