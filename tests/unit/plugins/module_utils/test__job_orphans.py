# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which processes a job adopts: a reused process group id or a copied environment marker is never enough."""

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
from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import JobStore
from ansible_collections.asyncops.jobs.plugins.module_utils._job_supervisor import launch

pytestmark = pytest.mark.skipif(not proc.have_proc(), reason='needs /proc (Linux)')
NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason='needs root to act as two users')


@pytest.fixture
def store(tmp_path):
    return JobStore(str(tmp_path / 'async')).ensure()


def as_user(user):
    """A preexec_fn that makes the child `user` (uid and gid), or None. Popen's own `user=` needs Python 3.9, and
    these tests also run on the 3.8 targets."""
    if user is None:
        return None

    def switch():
        os.setgroups([])
        os.setgid(user)
        os.setuid(user)

    return switch


def leaderless_group(user=None, env=None):
    """A `setsid sh -c 'sleep & exit'`: a group (and session) whose leader is gone and whose one member is a sleep,
    like a double-forked daemon whose group id happens to be a lost job's old one. Returns the sleep's pid."""
    leader = subprocess.Popen(
        ['sh', '-c', 'sleep 1000 >/dev/null 2>&1 & echo $!'],
        stdout=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=as_user(user),
        env=env,
        cwd='/',
    )
    out, _err = leader.communicate()
    pid = int(out)
    for _attempt in range(100):
        if proc.start_ticks(pid) is not None and leader.pid not in proc.ProcessTable().procs:
            break
        time.sleep(0.01)
    assert proc.ProcessTable().procs[pid][1] == leader.pid  # its group is the leader's, which is gone
    return pid, leader.pid


def lost_record(store, jid, **meta):
    """A record of ours whose supervisor is gone (a lost job), with the given process identities."""
    store.create_side_dir(jid)
    store.release_starting(jid)
    base = {
        'version': 1,
        'supervisor_pid': 999999,
        'supervisor_start_ticks': 1,
        'boot_id': proc.boot_id(),
        'started_at': time.time(),
        'grace': 0.2,
        'state': 'running',
    }
    base.update(meta)
    store.write(jid, {'started': True, 'finished': False, 'ansible_job_id': jid, 'asyncops_job': base})


def judge(store, jid, how):
    jobs = job_status.Jobs(JobStore(store.path).open())
    if how == 'list':
        return [jobs.describe(found) for found in jobs.store.jids() if found == jid][0]
    return jobs.status(jid)


def alive(pid, ticks):
    return proc.is_alive({'pid': pid, 'start_ticks': ticks, 'boot_id': proc.boot_id()})


def reap_later(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


@pytest.mark.parametrize('how', ['status', 'list'])
@pytest.mark.parametrize(
    'case',
    [
        pytest.param('another user, same group and session ids', marks=as_root),
        'another session of ours',
        'started before the job',
    ],
)
def test_a_reused_group_id_of_a_lost_job_is_never_signalled(store, how, case):
    """The job's group is gone; after the pids wrapped, another group got its id (here: we make one and point the
    record at it). Only our processes of the job's session that started with or after the job are the job's."""
    pid, pgid = leaderless_group(user=NOBODY if case.startswith('another user') else None)
    try:
        ticks = proc.start_ticks(pid)
        sid = {'another session of ours': os.getsid(0)}.get(case, pgid)  # the record's session
        job_start = ticks + 1000 if case == 'started before the job' else ticks - 1
        lost_record(store, 'j31.1', pid=pgid, pgid=pgid, sid=sid, job_start_ticks=job_start)
        verdict = judge(store, 'j31.1', how)
        assert verdict['state'] == 'lost' if how == 'list' else verdict['lost']
        time.sleep(0.1)
        assert alive(pid, ticks)
        assert 'no process of the job was left running' in store.read('j31.1')['msg']
    finally:
        reap_later(pid)


def test_a_lost_jobs_own_group_is_still_stopped(store):
    """The same layout, but the group is the job's: ours, its session, started with the job."""
    pid, pgid = leaderless_group()
    try:
        ticks = proc.start_ticks(pid)
        lost_record(store, 'j32.1', pid=pgid, pgid=pgid, sid=pgid, job_start_ticks=ticks)
        lost = job_status.Jobs(store).status('j32.1')
        assert '1 orphaned job process(es) still running were stopped' in lost['msg']
        for _attempt in range(200):  # stopped: gone once reaped
            if not alive(pid, ticks):
                break
            time.sleep(0.05)
        assert not alive(pid, ticks)
    finally:
        reap_later(pid)


def test_a_record_without_the_jobs_session_trusts_no_group(store):
    """Records written before the session was recorded: their group id alone proves nothing."""
    pid, pgid = leaderless_group()
    try:
        ticks = proc.start_ticks(pid)
        lost_record(store, 'j33.1', pid=pgid, pgid=pgid, job_start_ticks=ticks)
        assert 'no process of the job was left running' in job_status.Jobs(store).status('j33.1')['msg']
        time.sleep(0.1)
        assert alive(pid, ticks)
    finally:
        reap_later(pid)


def launch_job(store, jid, argv, **spec):
    store.create_side_dir(jid)
    return launch(
        store,
        dict(
            {
                'jid': jid,
                'module': 'test',
                'argv': list(argv),
                'result_style': 'command',
                'cmd': list(argv),
                'time_limit': 0,
                'grace': 0.2,
            },
            **spec,
        ),
    )


def kill_supervisor(record):
    os.kill(record['asyncops_job']['supervisor_pid'], signal.SIGKILL)
    deadline = time.time() + 5
    while proc.is_alive(protocol.supervisor_identity(record['asyncops_job'])) and time.time() < deadline:
        time.sleep(0.02)


def fake_marker_process(store, jid, token, user=None):
    """Someone else's process that copied the job's marker: the record path is visible in ps, the token is not."""
    env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), proc.JOB_ENV_MARKER: store.record_path(jid)}
    if token is not None:
        env[proc.JOB_ENV_TOKEN] = token
    child = subprocess.Popen(
        ['sh', '-c', 'sleep 1002; : FAKE_MARKER_CMD'],
        env=env,
        start_new_session=True,
        preexec_fn=as_user(user),
        cwd='/',
    )
    # its sh runs once Popen returns; wait for the sleep it starts too (the tests count both)
    for _attempt in range(500):
        if proc.start_ticks(child.pid) is not None and children_of(child.pid):
            break
        time.sleep(0.01)
    return child


def children_of(pid):
    """The pids of the processes whose parent is pid (the engine's own scan of /proc)."""
    return [child for child, (ppid, _pgrp, _ticks, _sid) in proc.ProcessTable().procs.items() if ppid == pid]


def stop_fake(fake):
    try:
        os.killpg(fake.pid, signal.SIGKILL)  # its sh and its sleep: a group of their own
    except OSError:
        pass
    fake.wait()


@pytest.mark.parametrize('token', [None, 'wrong', pytest.param('right token, another user', marks=as_root)])
def test_a_copied_marker_is_not_adopted_by_a_lost_job(store, token):
    record = launch_job(store, 'j34.1', ['sleep', '100'])
    job_pid = record['asyncops_job']['pid']
    real_token = open(store.side_file('j34.1', 'token')).read()
    user = NOBODY if token and token.startswith('right') else None
    fake = fake_marker_process(store, 'j34.1', real_token if user else token, user=user)
    try:
        kill_supervisor(record)
        lost = job_status.Jobs(store).status('j34.1')
        assert '1 orphaned job process(es) still running were stopped' in lost['msg']  # the job itself
        time.sleep(0.1)
        assert fake.poll() is None
        assert not proc.is_alive({'pid': job_pid})
    finally:
        stop_fake(fake)


def test_the_marker_with_its_token_is_adopted_by_a_lost_job(store):
    """What the marker is for: a process of the job that left its session, found after the supervisor died."""
    record = launch_job(store, 'j35.1', ['sleep', '100'])
    token = open(store.side_file('j35.1', 'token')).read()
    escaped = fake_marker_process(store, 'j35.1', token)
    try:
        kill_supervisor(record)
        lost = job_status.Jobs(store).status('j35.1')
        assert '3 orphaned job process(es) still running were stopped' in lost['msg']  # the job, sh and its sleep
        escaped.wait(timeout=5)
    finally:
        stop_fake(escaped)


@pytest.mark.parametrize('token', [None, 'wrong', pytest.param('right token, another user', marks=as_root)])
def test_a_copied_marker_is_neither_listed_nor_stopped_as_a_leftover(store, token):
    """A process of another user (or of ours, without the token) that carries the job's record path is not one
    of the job's leftovers: never signalled, never named with its command line in the job's warnings."""
    user = NOBODY if token and token.startswith('right') else None
    launch_job(store, 'j36.1', ['sleep', '0.5'], leftovers='stop')
    fake = fake_marker_process(
        store, 'j36.1', open(store.side_file('j36.1', 'token')).read() if user else token, user=user
    )
    try:
        done = job_status.Jobs(store).wait(['j36.1'], 20)[0]
        assert done['finished'] and not done.get('failed')
        assert 'leftovers_stopped' not in done and 'leftovers' not in done
        assert 'FAKE_MARKER_CMD' not in json.dumps(done)
        time.sleep(0.1)
        assert fake.poll() is None
    finally:
        stop_fake(fake)


def exec_name(pid):
    """The program a process runs now (its argv[0])."""
    with open('/proc/%d/cmdline' % pid, 'rb') as f:
        return f.read().split(b'\0')[0]


def process_with_environment(entries):
    """A sleep of ours (a session of its own) whose environment is exactly `entries` (NAME=value strings), in order."""
    child = subprocess.Popen(['env', '-i'] + list(entries) + ['sleep', '1003'], start_new_session=True, cwd='/')
    for _attempt in range(200):
        # env itself runs first, with the test's environment, and 'sleep' among its arguments: wait for sleep's exec
        if proc.start_ticks(child.pid) is not None and exec_name(child.pid) == b'sleep':
            break
        time.sleep(0.01)
    return child


@pytest.mark.parametrize(
    'entries, found',
    [
        (['ASYNCOPS_JOB_ID=/a/j1', 'ASYNCOPS_JOB_TOKEN=t1'], ('/a/j1', 't1')),  # first and last entries
        (['A=1', 'ASYNCOPS_JOB_TOKEN=t2', 'B=2', 'ASYNCOPS_JOB_ID=/a/j2', 'C=3'], ('/a/j2', 't2')),  # in between
        (['ASYNCOPS_JOB_ID=/a/j3', 'ASYNCOPS_JOB_TOKEN='], None),  # no token
        (['ASYNCOPS_JOB_ID=/a/j4'], None),  # the path alone
        (['X=ASYNCOPS_JOB_ID=/a/j5', 'ASYNCOPS_JOB_TOKEN=t5'], None),  # only inside another variable's value
        (['ASYNCOPS_JOB_ID=/a/j6', 'Y=ASYNCOPS_JOB_TOKEN=t6'], None),
    ],
)
def test_the_marker_is_read_from_whole_environment_entries_wherever_they_are(entries, found):
    """A scan finds the marker of a process from its two entries in any place of its environment, and never from text
    inside another entry."""
    child = process_with_environment(entries)
    try:
        markers = proc.ProcessTable().markers()
        owners = {marker: pids for marker, pids in markers.items() if child.pid in pids}
        assert owners == ({proc.Marker(*found): [child.pid]} if found else {})
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize(
    'environ, found',
    [
        (b'ASYNCOPS_JOB_ID=/a/j1\0ASYNCOPS_JOB_TOKEN=t1\0', ('/a/j1', 't1')),
        (b'ASYNCOPS_JOB_ID=/a/j1\0ASYNCOPS_JOB_TOKEN=t1', ('/a/j1', 't1')),  # no final NUL
        (
            b'ASYNCOPS_JOB_ID=/old\0ASYNCOPS_JOB_TOKEN=t0\0ASYNCOPS_JOB_ID=/a/j2\0ASYNCOPS_JOB_TOKEN=t2\0',
            ('/a/j2', 't2'),
        ),
        (b'XASYNCOPS_JOB_ID=/a/j3\0ASYNCOPS_JOB_TOKEN=t3\0', None),  # another variable's name ends like it
        (b'', None),
    ],
)
def test_the_last_entry_of_a_marker_variable_set_twice_counts(environ, found):
    """An environment that sets a variable twice (execve allows it): its last entry counts, as it always did."""
    assert proc.marker_in(environ) == (proc.Marker(*found) if found else None)
