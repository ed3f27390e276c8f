# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A full file system under the async dir: real small tmpfs mounts, filled for real (root only)."""

from __future__ import annotations

import os
import subprocess

import pytest

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_process as proc
from ansible_collections.asyncops.jobs.plugins.module_utils import _job_status as job_status
from ansible_collections.asyncops.jobs.plugins.module_utils._job_batch import launch_batch
from ansible_collections.asyncops.jobs.plugins.module_utils._job_protocol import item_jid
from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import JobStore
from ansible_collections.asyncops.jobs.plugins.module_utils._job_supervisor import LaunchError, launch

pytestmark = [
    pytest.mark.skipif(not proc.have_proc(), reason='needs /proc (Linux)'),
    pytest.mark.skipif(os.geteuid() != 0, reason='needs root to mount a small tmpfs'),
]

# prints until the file system is full (head fails), then ends with code 3
FILL_THEN_EXIT_3 = ['sh', '-c', 'yes 0123456789abcdef | head -c 8000000; exit 3']


@pytest.fixture
def small_fs(tmp_path):
    """mount(size, inodes) -> a new tmpfs of that size (and inode count), unmounted after the test."""
    mounted = []

    def mount(size='1m', inodes=None):
        where = tmp_path / ('fs%d' % len(mounted))
        where.mkdir(mode=0o700)
        options = 'size=%s,mode=0700' % size + (',nr_inodes=%d' % inodes if inodes else '')
        done = subprocess.run(
            ['mount', '-t', 'tmpfs', '-o', options, 'asyncops-test', str(where)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            pytest.skip('root, but this system refuses to mount a tmpfs: %s' % done.stderr.strip())
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        if subprocess.run(['umount', str(where)], capture_output=True, check=False).returncode:
            subprocess.run(['umount', '-l', str(where)], capture_output=True, check=False)


def leave_free(fs, pages=None, inodes=None):
    """Fill the file system fs so that exactly `pages` blocks and/or `inodes` inodes stay free."""
    if inodes is not None:
        fillers = fs / 'inodes'
        fillers.mkdir()
        for index in range(os.statvfs(str(fs)).f_ffree - inodes):
            (fillers / str(index)).touch()
        assert os.statvfs(str(fs)).f_ffree == inodes
    if pages is not None:
        st = os.statvfs(str(fs))
        with open(str(fs / 'filler'), 'wb') as filler:
            filler.write(b'\xff' * ((st.f_bavail - pages) * st.f_frsize))
        assert os.statvfs(str(fs)).f_bavail == pages


def pids_with(marker):
    found = []
    for pid in os.listdir('/proc'):
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                if pid.isdigit() and marker.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def kill_all(pids):
    for pid in pids:
        try:
            os.kill(pid, 9)
        except OSError:
            pass


@pytest.mark.parametrize(
    'room, stopped',
    [
        ({'pages': 1}, False),  # room for a small file, not for what the job needs: nothing starts
        ({'inodes': 3}, False),  # room for three new files
        ({'inodes': 4}, True),  # room for the files a job needs before it starts, none for its record: stopped at once
    ],
)
def test_a_job_whose_record_cannot_be_written_does_not_run(small_fs, tmp_path, room, stopped):
    """The start is all or nothing: when the record cannot be written, the job does not run on without one (a re-run
    would run it twice), and the message says what became of it."""
    fs = small_fs(inodes=64 if 'inodes' in room else None)
    store = JobStore(str(fs / 'async')).ensure()
    store.create_side_dir('j60.1')
    leave_free(fs, **room)
    marker = 'asyncops-unrecorded-%s' % tmp_path.name
    try:
        with pytest.raises(LaunchError) as failed:
            launch(
                store,
                {
                    'jid': 'j60.1',
                    'module': 'test',
                    'argv': ['sh', '-c', 'sleep 60', marker],
                    'result_style': 'command',
                    'cmd': 'x',
                    'time_limit': 2,
                    'grace': 0.2,
                },
            )
        assert pids_with(marker) == []
        assert not store.exists('j60.1')
        message = str(failed.value)
        assert 'No space left on device' in message and store.path in message
        if stopped:
            assert 'the job had started and was stopped at once' in message and 'nothing of it runs' in message
        else:
            assert 'nothing was started' in message
    finally:
        kill_all(pids_with(marker))


@pytest.mark.parametrize(
    'argv, time_limit, state',
    [
        (FILL_THEN_EXIT_3, 0, 'failed'),
        (['sh', '-c', 'yes 0123456789abcdef | head -c 8000000; sleep 60'], 1, 'timedout'),
    ],
)
def test_output_that_fills_the_disk_leaves_a_record_with_rc_state_and_elapsed(small_fs, argv, time_limit, state):
    """The job's output fills the file system: its full record cannot be written, the small one that says so is
    (from the room reserved when it started), with its exit code, state and elapsed time; never 'lost'."""
    fs = small_fs()
    store = JobStore(str(fs / 'async')).ensure()
    store.create_side_dir('j61.1')
    launch(
        store,
        {
            'jid': 'j61.1',
            'module': 'test',
            'argv': argv,
            'result_style': 'command',
            'cmd': 'x',
            'time_limit': time_limit,
            'grace': 0.2,
        },
    )
    done = job_status.Jobs(store).wait(['j61.1'], 60)[0]
    meta = done['asyncops_job']
    assert done['finished'] and done['failed'] and not done.get('lost'), done['msg']
    assert meta['state'] == state and meta['elapsed'] >= 0
    assert 'result could not be stored in %s: No space left on device' % store.path in done['msg']
    if state == 'failed':
        assert done['rc'] == 3 and meta['rc'] == 3 and 'rc 3' in done['msg']
    else:
        assert done['timedout'] is True and 'timed out' in done['msg']
    assert os.listdir(store.side_dir('j61.1')).count('reserve') == 0  # released


def test_a_batch_item_that_fills_the_disk_is_failed_not_lost_and_the_batch_finishes(small_fs):
    """Item 0 fills the file system; item 1 then finds it full. Each is recorded failed, saying why, and the batch's
    final record is written: nothing reads as lost because the disk filled."""
    fs = small_fs()
    store = JobStore(str(fs / 'async')).ensure()
    batch = 'j62.1'
    specs = []
    for index, argv in enumerate([FILL_THEN_EXIT_3, ['true']]):
        jid = item_jid(batch, index)
        store.create_side_dir(jid)
        specs.append(
            {
                'jid': jid,
                'module': 'test',
                'argv': argv,
                'result_style': 'command',
                'cmd': 'x',
                'time_limit': 0,
                'grace': 0.2,
                'batch_jid': batch,
                'index': index,
            }
        )
    launch_batch(store, batch, specs, {'concurrency': 1})
    jobs = job_status.Jobs(store)
    final = jobs.wait([batch], 60)[0]
    first, second = jobs.wait([spec['jid'] for spec in specs], 10)
    assert final['finished'] and not final.get('lost'), final.get('msg')
    assert final['asyncops_job']['counts'] == {'pending': 0, 'running': 0, 'failed': 2}
    assert first['failed'] and first['rc'] == 3 and not first.get('lost'), first['msg']
    assert 'result could not be stored' in first['msg']
    assert second['failed'] and not second.get('lost'), second['msg']
    assert 'nothing was started' in second['msg'] or 'result could not be stored' in second['msg'], second['msg']
