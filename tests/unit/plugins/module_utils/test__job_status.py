# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Status, kill, list and prune on this machine, including records planted by someone else."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_process as proc
from ansible_collections.asyncops.jobs.plugins.module_utils import _job_protocol as protocol
from ansible_collections.asyncops.jobs.plugins.module_utils import _job_status as job_status
from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import JobStore, JobStoreError
from ansible_collections.asyncops.jobs.plugins.module_utils._job_supervisor import launch

pytestmark = pytest.mark.skipif(not proc.have_proc(), reason='needs /proc (Linux)')
NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason='needs root to act as two users')


@pytest.fixture
def victim():
    """A process of 'root' that must never be signalled: its own session and group, like `setsid sleep 1000`."""
    child = subprocess.Popen(['sleep', '1000'], start_new_session=True)
    yield child
    child.kill()
    child.wait()


def planted_record(victim_pid, **extra):
    meta = {
        'supervisor_pid': victim_pid,
        'supervisor_start_ticks': proc.start_ticks(victim_pid),
        'boot_id': proc.boot_id(),
        'stdout_file': '/etc/shadow',
        'stderr_file': '/etc/shadow',
        'started_at': time.time(),
    }
    meta.update(extra)
    return json.dumps({'started': 1, 'finished': 0, 'asyncops_job': meta})


def plant(path, content, owner=None, mode=0o644):
    with open(path, 'w') as f:
        f.write(content)
    os.chmod(path, mode)
    if owner is not None:
        os.chown(path, owner, owner)


@as_root
@pytest.mark.parametrize('layout', ['dir of another user', 'sticky shared dir'])
def test_an_async_dir_that_is_not_ours_is_refused_before_anything_is_read(tmp_path, victim, layout):
    """The attack of the issue: probeuser's dir (or a 1777 one) holding a record that names root's process."""
    shared = tmp_path / 's'
    shared.mkdir()
    os.chmod(shared, 0o1777)
    async_dir = shared
    if layout == 'dir of another user':
        async_dir = shared / 'd'
        async_dir.mkdir()
        os.chown(async_dir, NOBODY, NOBODY)
    plant(str(async_dir / 'jx'), planted_record(victim.pid), owner=NOBODY)
    with pytest.raises(JobStoreError, match='refusing to use %s: it (belongs to nobody|is writable by)' % async_dir):
        JobStore(str(async_dir)).open()
    time.sleep(0.1)
    assert victim.poll() is None and (async_dir / 'jx').exists()


@as_root
def test_a_record_of_another_user_is_never_read_signalled_or_removed(tmp_path, victim):
    async_dir = tmp_path / 'mine'
    async_dir.mkdir(mode=0o700)
    plant(str(async_dir / 'j71.1'), planted_record(victim.pid), owner=NOBODY)
    plant(
        str(async_dir / 'j71.2'),
        planted_record(
            victim.pid, supervisor_pid=999999, pgid=victim.pid, job_start_ticks=proc.start_ticks(victim.pid)
        ),
        owner=NOBODY,
    )
    jobs = job_status.Jobs(JobStore(str(async_dir)).open())
    for call in (
        lambda: jobs.status('j71.1', tail=3),
        lambda: jobs.kill('j71.1', max_wait=1),
        lambda: jobs.status('j71.2'),
        lambda: jobs.cleanup('j71.1'),
        lambda: jobs.describe('j71.2'),
    ):
        with pytest.raises(JobStoreError, match='belongs to nobody'):
            call()
    assert jobs.prune(0) == ([], [])
    assert any('skipped: refusing to use' in warning for warning in jobs.store.warnings)
    assert jobs.list_all() == []
    time.sleep(0.1)
    assert victim.poll() is None
    assert (async_dir / 'j71.1').exists() and (async_dir / 'j71.2').exists()


def test_output_tail_comes_from_the_side_dir_never_from_a_path_in_the_record(tmp_path):
    secret = tmp_path / 'shadow'
    secret.write_text('root:SECRET_HASH:1:0:99999:7:::\n')
    store = JobStore(str(tmp_path / 'async')).ensure()
    record = launch_sleep(store, 'j1.1')
    record['asyncops_job']['stdout_file'] = str(secret)
    store.write('j1.1', record)
    running = job_status.Jobs(store).status('j1.1', tail=3)
    assert not running['finished'] and 'SECRET' not in json.dumps(running)
    job_status.Jobs(store).kill('j1.1')


def test_a_signal_only_goes_to_the_process_a_record_names(tmp_path, victim):
    """A record of ours whose supervisor died, with a pgid whose leader is now another process: nothing is hit."""
    store = JobStore(str(tmp_path / 'async')).ensure()
    store.create_side_dir('j2.2')
    store.release_starting('j2.2')
    store.write('j2.2', json.loads(planted_record(999999, pgid=victim.pid, job_start_ticks=1)))
    lost = job_status.Jobs(store).status('j2.2')
    assert lost['lost'] and lost['finished']
    assert (
        proc.signal_identity({'pid': victim.pid, 'start_ticks': 1, 'boot_id': proc.boot_id()}, signal.SIGTERM) is False
    )
    time.sleep(0.1)
    assert victim.poll() is None


def launch_sleep(store, jid, argv=('sleep', '30')):
    store.create_side_dir(jid)
    return launch(
        store,
        {
            'jid': jid,
            'module': 'test',
            'argv': list(argv),
            'result_style': 'command',
            'cmd': list(argv),
            'time_limit': 0,
            'grace': 0.2,
        },
    )


def kill_supervisor(record):
    os.kill(record['asyncops_job']['supervisor_pid'], signal.SIGKILL)
    deadline = time.time() + 5
    while proc.is_alive(protocol.supervisor_identity(record['asyncops_job'])) and time.time() < deadline:
        time.sleep(0.02)


def test_check_mode_judges_a_lost_job_without_writing_or_killing(tmp_path):
    store = JobStore(str(tmp_path / 'async')).ensure()
    record = launch_sleep(store, 'j3.3')
    job_pid = record['asyncops_job']['pid']
    kill_supervisor(record)
    before = open(store.record_path('j3.3'), 'rb').read()
    seen = job_status.Jobs(store, read_only=True).status('j3.3')
    assert seen['lost'] and seen['finished'] and 'check mode' in seen['msg']
    listed = job_status.Jobs(store, read_only=True).describe('j3.3')
    assert listed['state'] == 'lost'
    assert open(store.record_path('j3.3'), 'rb').read() == before  # not rewritten
    assert proc.is_alive({'pid': job_pid})  # orphan not stopped
    done = job_status.Jobs(store).status('j3.3')
    assert done['lost'] and '1 orphaned job process(es) still running were stopped' in done['msg']
    for _attempt in range(200):  # stopped: gone once init reaped it
        if not proc.is_alive({'pid': job_pid}):
            break
        time.sleep(0.05)
    assert not proc.is_alive({'pid': job_pid})


def children_of(pid):
    """The pids of the processes whose parent is pid (the engine's own scan of /proc)."""
    return [child for child, (ppid, _pgrp, _ticks, _sid) in proc.ProcessTable().procs.items() if ppid == pid]


def test_a_lost_job_says_exactly_what_was_and_was_not_stopped(tmp_path):
    """kill -9 of the supervisor; an `env -i setsid` child left the job's group and environment: it cannot be
    found, and the message says so instead of claiming every orphan was stopped."""
    store = JobStore(str(tmp_path / 'async')).ensure()
    marker = '100.%d' % os.getpid()  # a sleep duration nothing else uses
    record = launch_sleep(store, 'j4.4', ('sh', '-c', 'env -i setsid sleep %s & sleep 100' % marker))
    sh_pid = record['asyncops_job']['pid']
    for _attempt in range(200):  # both of sh's children run: the escaped sleep and its own
        if sorted(proc.command_of(pid) for pid in children_of(sh_pid)) == ['sleep 100', 'sleep %s' % marker]:
            break
        time.sleep(0.05)
    kill_supervisor(record)
    lost = job_status.Jobs(store).status('j4.4')
    assert lost['lost']
    assert '2 orphaned job process(es) still running were stopped' in lost['msg']  # sh and its sleep
    assert 'cleared its environment' in lost['msg'] and 'cannot be found' in lost['msg']
    escaped = [int(pid) for pid in os.listdir('/proc') if pid.isdigit() and marker in proc.command_of(int(pid))]
    for pid in escaped:
        os.kill(pid, signal.SIGKILL)
    assert len(escaped) == 1  # the documented boundary: this one is out of reach


def test_records_from_another_boot_are_lost_without_scanning_processes(tmp_path, monkeypatch):
    store = JobStore(str(tmp_path / 'async')).ensure()
    for index in range(1000):
        jid = 'j%d.9' % index
        store.create_side_dir(jid)
        store.release_starting(jid)
        store.write(jid, json.loads(planted_record(1, boot_id='another-boot', pgid=1, job_start_ticks=1)))
    scans = []
    monkeypatch.setattr(proc.ProcessTable, '_scan', lambda self: scans.append(1))
    jobs = job_status.Jobs(store)
    listed = [jobs.describe(jid) for jid in store.jids()]
    assert [job['state'] for job in listed] == ['lost'] * 1000
    assert scans == []  # the cost is not timed here: no process scan at all is what makes it cheap
    assert 'rebooted' in store.read('j0.9')['msg']


def test_lost_verdicts_share_one_process_scan_per_call(tmp_path, monkeypatch):
    store = JobStore(str(tmp_path / 'async')).ensure()
    for index in range(50):
        jid = 'j%d.8' % index
        store.create_side_dir(jid)
        store.release_starting(jid)
        store.write(jid, json.loads(planted_record(999999, pgid=999998, job_start_ticks=1)))
    scans = []
    real_scan = proc.ProcessTable._scan
    monkeypatch.setattr(proc.ProcessTable, '_scan', lambda self: (scans.append(1), real_scan(self)))
    jobs = job_status.Jobs(store)
    assert [jobs.describe(jid)['state'] for jid in store.jids()] == ['lost'] * 50
    assert len(scans) == 1


def test_prune_in_check_mode_reports_and_removes_nothing(tmp_path):
    store = JobStore(str(tmp_path / 'async')).ensure()
    launch_sleep(store, 'j5.5', ('true',))
    job_status.Jobs(store).wait(['j5.5'], 10)
    assert job_status.Jobs(store, read_only=True).prune(0)[0] == ['j5.5']
    assert store.exists('j5.5')
    assert job_status.Jobs(store).prune(0)[0] == ['j5.5']
    assert not store.exists('j5.5')
