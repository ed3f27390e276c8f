# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engine end to end on this machine: real forks, real signals, real files."""
from __future__ import annotations

import os
import signal
import stat
import sys
import time

import pytest

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_process as proc
from ansible_collections.asyncops.jobs.plugins.module_utils import _job_status as job_status
from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import JobStore
from ansible_collections.asyncops.jobs.plugins.module_utils._job_supervisor import launch

pytestmark = pytest.mark.skipif(not proc.have_proc(), reason='needs /proc (Linux)')


@pytest.fixture
def store(tmp_path):
    return JobStore(str(tmp_path / 'async')).ensure()


def start(store, jid, argv, time_limit=0, style='command', grace=0.3):
    store.create_side_dir(jid)
    return launch(store, {'jid': jid, 'module': 'test', 'argv': argv, 'result_style': style, 'cmd': argv,
                          'time_limit': time_limit, 'grace': grace})


def wait_done(store, jid, timeout=20):
    return job_status.wait(store, [jid], timeout)[0]


def pids_with(marker):
    return [int(p) for p in os.listdir('/proc') if p.isdigit() and _cmdline_has(p, marker)]


def _cmdline_has(pid, marker):
    try:
        with open('/proc/%s/cmdline' % pid, 'rb') as f:
            return marker.encode() in f.read()
    except OSError:
        return False


def test_launch_returns_running_record_with_identity(store):
    record = start(store, 'j1.1', ['sleep', '0.3'])
    meta = record['asyncops_job']
    assert record['started'] and not record['finished']
    assert meta['pid'] == meta['pgid']
    assert meta['supervisor_start_ticks'] is not None
    assert stat.S_IMODE(os.stat(store.record_path('j1.1')).st_mode) == 0o600
    done = wait_done(store, 'j1.1')
    assert done['finished'] and done['rc'] == 0
    assert done['asyncops_job']['state'] == 'succeeded'


def test_module_style_result(store):
    start(store, 'j2.2', [sys.executable, '-c', 'import json; print(json.dumps({"changed": False, "x": 1}))'],
          style='module')
    done = wait_done(store, 'j2.2')
    assert done['x'] == 1 and done['changed'] is False and not done.get('failed')


def test_timeout_kills_stubborn_tree_on_time(store, tmp_path):
    marker = str(tmp_path / 'stubborn-marker')
    script = ("trap '' TERM; (setsid sh -c 'trap \"\" TERM; while :; do sleep 0.2; done' %s &); "
              "while :; do sleep 0.2; done" % marker)
    start(store, 'j3.3', ['sh', '-c', script, marker], time_limit=1)
    done = wait_done(store, 'j3.3')
    meta = done['asyncops_job']
    assert done['timedout'] and done['failed']
    assert 1.0 <= meta['stopped_at'] - meta['started_at'] < 1.5
    assert meta['ended_at'] - meta['started_at'] < 2.5
    time.sleep(0.1)
    assert pids_with(marker) == []


def test_supervisor_killed_means_lost(store, tmp_path):
    marker = str(tmp_path / 'orphan-marker')
    record = start(store, 'j4.4', ['sh', '-c', 'sleep 30', marker])
    os.kill(record['asyncops_job']['supervisor_pid'], signal.SIGKILL)
    deadline = time.time() + 5
    while proc.is_alive(job_status.supervisor_identity(record['asyncops_job'])) and time.time() < deadline:
        time.sleep(0.05)
    lost = job_status.status(store, 'j4.4')
    assert lost['finished'] and lost['failed'] and lost['lost']
    assert 'job lost' in lost['msg']
    assert store.read('j4.4')['lost'] is True  # persisted for ansible.builtin.async_status
    time.sleep(0.1)
    assert pids_with(marker) == []


def test_kill_mode_and_cleanup(store):
    start(store, 'j5.5', ['sleep', '30'])
    killed = job_status.kill(store, 'j5.5', timeout=5)
    assert killed['killed'] and not killed['failed'] and killed['changed']
    assert job_status.status(store, 'j5.5')['failed']
    assert job_status.job_state(job_status.status(store, 'j5.5')) == 'killed'
    cleaned = job_status.cleanup(store, 'j5.5')
    assert cleaned['erased'] == store.record_path('j5.5')
    assert not os.path.exists(store.side_dir('j5.5'))


def test_cleanup_while_running_never_reappears(store):
    start(store, 'j6.6', ['sleep', '0.5'])
    cleaned = job_status.cleanup(store, 'j6.6')
    assert cleaned['warnings']
    time.sleep(1.0)
    assert not store.exists('j6.6')


def test_wait_returns_promptly(store):
    start(store, 'j7.7', ['sleep', '0.5'])
    done = wait_done(store, 'j7.7', timeout=10)
    lag = time.time() - done['asyncops_job']['ended_at']
    assert lag < 0.25


def test_huge_output_does_not_deadlock(store):
    start(store, 'j8.8', ['sh', '-c', 'head -c 10485760 /dev/zero'])
    done = wait_done(store, 'j8.8', timeout=60)
    assert done['rc'] == 0 and len(done['stdout']) == 10485760


def test_running_status_has_tail_and_elapsed(store):
    start(store, 'j9.9', ['sh', '-c', 'echo one; echo two; sleep 5'])
    time.sleep(0.3)
    running = job_status.status(store, 'j9.9', tail=1)
    assert not running['finished']
    assert running['stdout_tail'] == ['two']
    assert running['elapsed'] > 0
    job_status.kill(store, 'j9.9')


def test_exec_failure_is_reported(store):
    start(store, 'j10.1', ['/nonexistent/program'])
    done = wait_done(store, 'j10.1')
    assert done['failed'] and done['rc'] == 127
    assert 'could not start' in done['stderr']


def test_prune_keeps_running_jobs(store):
    start(store, 'j11.1', ['true'])
    wait_done(store, 'j11.1')
    start(store, 'j12.1', ['sleep', '5'])
    assert job_status.prune(store, 0) == ['j11.1']
    assert store.exists('j12.1')
    job_status.kill(store, 'j12.1')


def test_core_style_records(store):
    with open(store.record_path('j13.1'), 'w') as f:
        f.write('{"started": 1, "finished": 0, "ansible_job_id": "j13.1"}')
    running = job_status.status(store, 'j13.1')
    assert not running['finished']
    with open(store.record_path('j13.1'), 'w') as f:
        f.write('{"rc": 0, "changed": true}')
    done = job_status.status(store, 'j13.1')
    assert done['finished'] and done['rc'] == 0
    assert job_status.describe(store, 'j13.1')['wrapper'] == 'ansible.builtin'
