# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A full file system under the async dir: real small tmpfs mounts, filled for real (root only)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_process as proc
from ansible_collections.asyncops.jobs.plugins.module_utils import _job_protocol as protocol
from ansible_collections.asyncops.jobs.plugins.module_utils import _job_status as job_status
from ansible_collections.asyncops.jobs.plugins.module_utils._job_batch import launch_batch
from ansible_collections.asyncops.jobs.plugins.module_utils._job_chain import ChainSupervisor
from ansible_collections.asyncops.jobs.plugins.module_utils._job_protocol import item_jid
from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import JobStore
from ansible_collections.asyncops.jobs.plugins.module_utils._job_supervisor import LaunchError, Supervisor, launch
from ansible_collections.asyncops.jobs.plugins.module_utils._wrapper_module import spec_of

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


# the files a command job needs in its side dir before it starts: the room for its final record, the room for its
# running record, its token, its stdout and its stderr
FILES_BEFORE_START = 5


@pytest.mark.parametrize(
    'room, stopped',
    [
        ({'pages': 1}, False),  # room for a small file, not for what the job needs: nothing starts
        ({'inodes': 3}, False),  # room for three new files
        ({'inodes': FILES_BEFORE_START - 1}, False),
        (None, True),  # room enough, but a directory where the record goes: started, then stopped at once
    ],
)
def test_a_job_whose_record_cannot_be_written_does_not_run(small_fs, tmp_path, room, stopped):
    """The start is all or nothing: when the record cannot be written, the job does not run on without one (a re-run
    would run it twice), and the message says what became of it."""
    fs = small_fs(inodes=64 if room and 'inodes' in room else None)
    store = JobStore(str(fs / 'async')).ensure()
    store.create_side_dir('j60.1')
    if room:
        leave_free(fs, **room)
    else:
        os.mkdir(store.record_path('j60.1'))
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
        message = str(failed.value)
        if stopped:
            assert 'Is a directory' in message and store.record_path('j60.1') in message
            assert 'the job had started and was stopped at once' in message and 'nothing of it runs' in message
        else:
            assert not store.exists('j60.1')
            assert 'No space left on device' in message and store.path in message
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


def test_a_job_started_on_a_file_system_left_just_enough_files_runs_with_its_record(small_fs):
    """No new file is left once the job's own files exist: its running record is written into the room held for it
    (not a new file), so the job runs, and its end is recorded from the room reserved for its final record."""
    fs = small_fs(inodes=64)
    store = JobStore(str(fs / 'async')).ensure()
    store.create_side_dir('j63.1')
    leave_free(fs, inodes=FILES_BEFORE_START)
    running = launch(store, command_spec('j63.1', ['sh', '-c', 'exit 3']))
    assert running['asyncops_job']['state'] == 'running'
    done = job_status.Jobs(store).wait(['j63.1'], 60)[0]
    assert done['finished'] and done['failed'] and done['rc'] == 3 and not done.get('lost'), done['msg']
    assert 'result could not be stored in %s: No space left on device' % store.path in done['msg']


class FillsBeforeItsRecord(Supervisor):
    """A supervisor that writes the running record only once the job's own output filled the file system (the job
    makes the flag file after that): the order a slow machine may give, made certain."""

    flag = ''

    def _start_process(self, out, err):
        super()._start_process(out, err)
        deadline = time.time() + 60
        while not os.path.exists(self.flag) and time.time() < deadline:
            time.sleep(0.01)


def test_a_job_whose_output_fills_the_disk_before_its_record_is_written_runs_and_is_recorded(small_fs, tmp_path):
    """The job fills the file system before its supervisor wrote the running record: that record still goes in (into
    the room held for it), the job is not stopped as unrecorded, and it ends failed with its exit code, not lost."""
    fs = small_fs()
    store = JobStore(str(fs / 'async')).ensure()
    store.create_side_dir('j64.1')
    FillsBeforeItsRecord.flag = str(tmp_path / 'filled')
    script = 'yes 0123456789abcdef | head -c 8000000; touch %s; exit 3' % FillsBeforeItsRecord.flag
    running = launch(store, command_spec('j64.1', ['sh', '-c', script]), supervisor=FillsBeforeItsRecord)
    assert os.path.exists(FillsBeforeItsRecord.flag)  # the record went in after the file system was full
    assert running['asyncops_job']['state'] == 'running'
    done = job_status.Jobs(store).wait(['j64.1'], 60)[0]
    assert done['finished'] and done['failed'] and done['rc'] == 3 and not done.get('lost'), done['msg']
    assert 'result could not be stored in %s: No space left on device' % store.path in done['msg']


class StepFillsBeforeItsRecord(ChainSupervisor):
    """A chain's supervisor that writes the running record naming its second step only once that step's output filled
    the file system (the step makes the flag file after that)."""

    flag = ''

    def _start_process(self, out, err):
        super()._start_process(out, err)
        deadline = time.time() + 60
        while self.job.get('index') == 1 and not os.path.exists(self.flag) and time.time() < deadline:
            time.sleep(0.01)


def test_a_step_whose_output_fills_the_disk_before_the_record_names_it_runs_to_its_end(small_fs, tmp_path):
    """The second step of a chain fills the file system before the running record that names it is written: that
    record goes in all the same (the room held for it), so the step is not stopped as unrecorded: it goes on to its
    end (exit 3), and the chain is recorded failed, not lost."""
    fs = small_fs()
    store = JobStore(str(fs / 'async')).ensure()
    filled, go, ran_on = (str(tmp_path / name) for name in ('filled', 'go', 'ran_on'))
    StepFillsBeforeItsRecord.flag = filled
    fill = (
        'yes 0123456789abcdef | head -c 8000000; touch {0}; while [ ! -e {1} ]; do sleep 0.01; done; touch {2}; exit 3'
    )
    steps = [
        {'argv': ['true'], 'result_style': 'command'},
        {'argv': ['sh', '-c', fill.format(filled, go, ran_on)], 'result_style': 'command'},
    ]
    spec = spec_of(store, 'j65.1', {'steps': steps, 'always': []}, {'timeout': 0, 'grace': 0.2, 'concurrency': None})
    launch(store, spec, supervisor=StepFillsBeforeItsRecord)
    jobs = job_status.Jobs(store)

    def names_step_2_or_ended():
        record = store.read('j65.1') or {}
        meta = protocol.job_meta(record) or {}
        return record.get('finished') or (meta.get('current_step') or {}).get('index') == 1

    wait_until(names_step_2_or_ended)
    with open(go, 'w'):
        pass
    done = jobs.wait(['j65.1'], 60)[0]
    assert os.path.exists(ran_on), done  # the step was not stopped: it went on once told to
    assert done['finished'] and done['failed'] and not done.get('lost'), done['msg']
    assert done['asyncops_job']['state'] == 'failed', done['asyncops_job']


def wait_until(check, timeout=60):
    deadline = time.time() + timeout
    while not check():
        assert time.time() < deadline, 'the condition never held'
        time.sleep(0.01)


def command_spec(jid, argv):
    return {
        'jid': jid,
        'module': 'test',
        'argv': argv,
        'result_style': 'command',
        'cmd': 'x',
        'time_limit': 0,
        'grace': 0.2,
    }


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


def test_a_delivery_that_finds_no_room_for_its_copy_collects_nothing(small_fs):
    """Delivery in one round keeps a copy of the answer before it collects: on a full file system the copy cannot be
    written, so the job is left as it was (its reader collects it later), and no partial copy stays."""
    fs = small_fs()
    store = JobStore(str(fs / 'async')).ensure()
    store.create_side_dir('j66.1')
    launch(store, command_spec('j66.1', ['sh', '-c', 'echo delivered-once']))
    jobs = job_status.Jobs(store)
    done = jobs.wait(['j66.1'], 60)[0]
    assert done['finished'] and done['stdout'] == 'delivered-once'
    leave_free(fs, pages=0)
    assert not jobs.deliver('j66.1', [done], 'task:host')
    again = jobs.status('j66.1')
    assert again['stdout'] == 'delivered-once' and not again.get('collected')
    assert not [name for name in os.listdir(store.path) if 'delivered' in name]
