# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engine end to end on this machine: real forks, real signals, real files."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import stat
import sys
import time

import pytest

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_process as proc
from ansible_collections.asyncops.jobs.plugins.module_utils import _job_protocol as protocol
from ansible_collections.asyncops.jobs.plugins.module_utils import _job_status as job_status
from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import JobStore
from ansible_collections.asyncops.jobs.plugins.module_utils._job_supervisor import LaunchError, launch

pytestmark = pytest.mark.skipif(not proc.have_proc(), reason='needs /proc (Linux)')
NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason='needs root to start a process as another user')


@pytest.fixture
def store(tmp_path):
    return JobStore(str(tmp_path / 'async')).ensure()


def start(store, jid, argv, time_limit=0, style='command', grace=0.3):
    store.create_side_dir(jid)
    return launch(
        store,
        {
            'jid': jid,
            'module': 'test',
            'argv': argv,
            'result_style': style,
            'cmd': argv,
            'time_limit': time_limit,
            'grace': grace,
        },
    )


def wait_done(store, jid, timeout=20):
    return job_status.Jobs(store).wait([jid], timeout)[0]


def pids_with(marker):
    return [int(p) for p in os.listdir('/proc') if p.isdigit() and _cmdline_has(p, marker)]


def _cmdline_has(pid, marker):
    try:
        with open('/proc/%s/cmdline' % pid, 'rb') as f:
            return marker.encode() in f.read().replace(b'\0', b' ')
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
    start(
        store,
        'j2.2',
        [sys.executable, '-c', 'import json; print(json.dumps({"changed": False, "x": 1}))'],
        style='module',
    )
    done = wait_done(store, 'j2.2')
    assert done['x'] == 1 and done['changed'] is False and not done.get('failed')


def test_timeout_kills_stubborn_tree_on_time(store, tmp_path):
    marker = str(tmp_path / 'stubborn-marker')
    script = (
        "trap '' TERM; (setsid sh -c 'trap \"\" TERM; while :; do sleep 0.2; done' %s &); "
        "while :; do sleep 0.2; done" % marker
    )
    start(store, 'j3.3', ['sh', '-c', script, marker], time_limit=1)
    done = wait_done(store, 'j3.3')
    meta = done['asyncops_job']
    assert done['timedout'] and done['failed']
    # stopped once the limit was reached, never before, and the whole tree (a TERM-ignoring setsid grandchild
    # included) gone when the record says so. How soon after the limit is a figure of the chaos scenario.
    assert meta['stopped_at'] - meta['started_at'] >= 1.0
    assert meta['ended_at'] >= meta['stopped_at']
    assert pids_with(marker) == []


def test_supervisor_killed_means_lost(store, tmp_path):
    marker = str(tmp_path / 'orphan-marker')
    record = start(store, 'j4.4', ['sh', '-c', 'sleep 30', marker])
    os.kill(record['asyncops_job']['supervisor_pid'], signal.SIGKILL)
    deadline = time.time() + 5
    while proc.is_alive(protocol.supervisor_identity(record['asyncops_job'])) and time.time() < deadline:
        time.sleep(0.05)
    lost = job_status.Jobs(store).status('j4.4')
    assert lost['finished'] and lost['failed'] and lost['lost']
    assert 'job lost' in lost['msg']
    assert store.read('j4.4')['lost'] is True  # persisted for ansible.builtin.async_status
    for _attempt in range(200):  # stopped: gone once init reaped them
        if pids_with(marker) == []:
            break
        time.sleep(0.05)
    assert pids_with(marker) == []


def test_kill_mode_and_cleanup(store):
    start(store, 'j5.5', ['sleep', '30'])
    killed = job_status.Jobs(store).kill('j5.5', max_wait=5)
    assert killed['killed'] and not killed['failed'] and killed['changed']
    assert job_status.Jobs(store).status('j5.5')['failed']
    assert protocol.job_state(job_status.Jobs(store).status('j5.5')) == 'killed'
    cleaned = job_status.Jobs(store).cleanup('j5.5')
    assert cleaned['erased'] == store.record_path('j5.5')
    assert not os.path.exists(store.side_dir('j5.5'))


def test_cleanup_while_running_never_reappears(store):
    start(store, 'j6.6', ['sleep', '0.5'])
    cleaned = job_status.Jobs(store).cleanup('j6.6')
    assert cleaned['warnings']
    time.sleep(1.0)
    assert not store.exists('j6.6')


def test_wait_returns_once_the_job_ended(store):
    start(store, 'j7.7', ['sleep', '0.5'])
    done = wait_done(store, 'j7.7', timeout=10)
    assert done['finished'] and done['rc'] == 0
    assert time.time() >= done['asyncops_job']['ended_at'] >= done['asyncops_job']['started_at'] + 0.5


def test_huge_output_does_not_deadlock_and_is_clipped_in_the_record(store):
    start(store, 'j8.8', ['sh', '-c', "head -c 10485760 /dev/zero | tr '\\0' a; echo END"])
    done = wait_done(store, 'j8.8', timeout=60)
    assert done['rc'] == 0 and done['output_truncated']
    # the record holds a bounded head and tail (4 MiB by default), the whole output stays on the target
    assert 4 * 1024 * 1024 <= len(done['stdout']) < 4 * 1024 * 1024 + 100
    assert done['stdout'].endswith('END') and 'bytes of output left out' in done['stdout']
    assert os.path.getsize(done['stdout_file']) == 10485764
    assert stat.S_IMODE(os.stat(done['stdout_file']).st_mode) == 0o600
    assert any('output_limit' in w and done['stdout_file'] in w for w in done['warnings'])
    assert os.path.getsize(store.record_path('j8.8')) < 5 * 1024 * 1024


def test_running_status_has_tail_and_elapsed(store):
    start(store, 'j9.9', ['sh', '-c', 'echo one; echo two; sleep 5'])
    time.sleep(0.3)
    running = job_status.Jobs(store).status('j9.9', tail=1)
    assert not running['finished']
    assert running['stdout_tail'] == ['two']
    assert running['elapsed'] > 0
    job_status.Jobs(store).kill('j9.9')


def test_exec_failure_is_reported(store):
    start(store, 'j10.1', ['/nonexistent/program'])
    done = wait_done(store, 'j10.1')
    assert done['failed'] and done['rc'] == 127
    assert 'could not start' in done['stderr']


def test_prune_keeps_running_jobs(store):
    start(store, 'j11.1', ['true'])
    wait_done(store, 'j11.1')
    start(store, 'j12.1', ['sleep', '5'])
    assert job_status.Jobs(store).prune(0)[0] == ['j11.1']
    assert store.exists('j12.1')
    job_status.Jobs(store).kill('j12.1')


def test_core_style_records(store):
    with open(store.record_path('j13.1'), 'w') as f:
        f.write('{"started": 1, "finished": 0, "ansible_job_id": "j13.1"}')
    running = job_status.Jobs(store).status('j13.1')
    assert not running['finished']
    with open(store.record_path('j13.1'), 'w') as f:
        f.write('{"rc": 0, "changed": true}')
    done = job_status.Jobs(store).status('j13.1')
    assert done['finished'] and done['rc'] == 0
    assert job_status.Jobs(store).describe('j13.1')['wrapper'] == 'ansible.builtin'


def test_payload_and_args_are_gone_the_moment_the_job_process_ends(store):
    store.create_side_dir('j20.1')
    store.write_side_file('j20.1', 'payload', b'SECRET_ARGS', mode=0o700)
    store.write_side_file('j20.1', 'args', b'password=SECRET_ARGS')
    launch(
        store,
        {
            'jid': 'j20.1',
            'module': 'test',
            'argv': ['sleep', '0.3'],
            'result_style': 'command',
            'cmd': 'sleep',
            'time_limit': 0,
            'grace': 0.2,
        },
    )
    listed = sorted(os.listdir(store.side_dir('j20.1')))
    assert listed == ['.asyncops', 'args', 'payload', 'reserve', 'stderr', 'stdout', 'token']
    wait_done(store, 'j20.1')
    # before any cleanup: what carried the arguments went before the final record was written
    assert {'args', 'payload'}.isdisjoint(os.listdir(store.side_dir('j20.1')))
    # the room reserved for the record is given back just after it is written
    for _attempt in range(600):
        if 'reserve' not in os.listdir(store.side_dir('j20.1')):
            break
        time.sleep(0.05)
    assert sorted(os.listdir(store.side_dir('j20.1'))) == ['.asyncops', 'stderr', 'stdout', 'token']


def test_processes_left_running_are_reported_and_kept_by_default(store):
    start(store, 'j21.1', ['sh', '-c', 'nohup sleep 1007 >/dev/null 2>&1 & exit 0'])
    done = wait_done(store, 'j21.1')
    try:
        assert done['rc'] == 0 and not done.get('failed')
        assert len(done['leftovers']) == 1
        assert any(
            'left 1 process(es) running' in w and 'sleep 1007' in w and 'leftovers=stop' in w for w in done['warnings']
        )
        assert pids_with('sleep 1007') == done['leftovers']
    finally:
        for pid in pids_with('sleep 1007'):
            os.kill(pid, signal.SIGKILL)


def test_processes_left_running_are_stopped_with_leftovers_stop(store):
    store.create_side_dir('j22.1')
    launch(
        store,
        {
            'jid': 'j22.1',
            'module': 'test',
            'argv': ['sh', '-c', 'nohup sleep 1008 >/dev/null 2>&1 & exit 0'],
            'result_style': 'command',
            'cmd': 'x',
            'time_limit': 0,
            'grace': 0.2,
            'leftovers': 'stop',
        },
    )
    done = wait_done(store, 'j22.1')
    assert done['rc'] == 0 and len(done['leftovers_stopped']) == 1
    assert any('they were stopped' in w for w in done['warnings'])
    assert pids_with('sleep 1008') == []


def test_a_module_killed_after_printing_its_result_is_failed(store):
    start(
        store,
        'j23.1',
        [
            sys.executable,
            '-c',
            'import json, os, sys; print(json.dumps({"changed": True})); sys.stdout.flush(); '
            'os.kill(os.getpid(), 9)',
        ],
        style='module',
    )
    done = wait_done(store, 'j23.1')
    assert done['failed'] and done['rc'] == -9 and 'killed by SIGKILL' in done['msg']
    assert done['asyncops_job']['state'] == 'failed'


def test_invalid_utf8_in_a_module_result_is_stored_readable(store):
    start(store, 'j24.1', ['sh', '-c', r'printf "{\"msg\": \"a\377b\"}"'], style='module')
    done = wait_done(store, 'j24.1')
    raw = open(store.record_path('j24.1'), 'rb').read()
    raw.decode('utf-8')  # strict
    assert '\\ud' not in raw.decode('utf-8')
    assert done['msg'] == 'a\ufffdb' and not done.get('failed')


def test_the_payload_runs_from_the_file_checked_at_start_even_if_its_path_is_swapped(store):
    """The job gets its payload (and args) as descriptors opened through the side dir's descriptor: whatever its path
    names once the job runs (another file renamed over it), the job reads the file that was checked."""
    store.create_side_dir('j30.1')
    payload = store.write_side_file('j30.1', 'payload', b'ORIGINAL\n', mode=0o700)
    args = store.write_side_file('j30.1', 'args', b'ORIGINAL_ARGS\n')
    argv = ['sh', '-c', 'sleep 1; cat "$1" "$2"', 'sh', payload, args]
    launch(
        store,
        {
            'jid': 'j30.1',
            'module': 'test',
            'argv': argv,
            'result_style': 'command',
            'cmd': argv,
            'time_limit': 0,
            'grace': 0.2,
        },
    )
    side = store.side_dir('j30.1')
    for name in ('payload', 'args'):
        with open(os.path.join(side, 'swapped'), 'w') as f:
            f.write('SWAPPED\n')
        os.rename(os.path.join(side, 'swapped'), os.path.join(side, name))
    done = wait_done(store, 'j30.1')
    assert done['stdout'] == 'ORIGINAL\nORIGINAL_ARGS', done


def test_a_payload_executed_directly_runs_through_its_descriptor(store):
    store.create_side_dir('j31.1')
    payload = store.write_side_file('j31.1', 'payload', b'#!/bin/sh\necho "ran $0"\n', mode=0o700)
    record = launch(
        store,
        {
            'jid': 'j31.1',
            'module': 'test',
            'argv': [payload],
            'result_style': 'command',
            'cmd': 'payload',
            'time_limit': 0,
            'grace': 0.2,
        },
    )
    done = wait_done(store, 'j31.1')
    held_by_supervisor = 'ran /proc/%d/fd/' % record['asyncops_job']['supervisor_pid']
    assert done['rc'] == 0 and done['stdout'].startswith(held_by_supervisor), done


def test_a_payload_that_is_a_symlink_is_refused_and_not_run(store, tmp_path):
    store.create_side_dir('j32.1')
    elsewhere = tmp_path / 'elsewhere.sh'
    flag = tmp_path / 'ran'
    elsewhere.write_text('#!/bin/sh\ntouch %s\n' % flag)
    elsewhere.chmod(0o700)
    payload = store.side_file('j32.1', 'payload')
    os.symlink(str(elsewhere), payload)
    with pytest.raises(LaunchError, match='symbolic link'):
        launch(
            store,
            {
                'jid': 'j32.1',
                'module': 'test',
                'argv': ['sh', payload],
                'result_style': 'command',
                'cmd': 'payload',
                'time_limit': 0,
                'grace': 0.2,
            },
        )
    time.sleep(0.3)
    assert not flag.exists()


def test_a_fifo_put_in_place_of_its_output_does_not_stop_the_job_being_recorded(store):
    """The job replaces its stdout file with a FIFO: the supervisor still records its result (no blocking open,
    no crash on a file that is not a regular file)."""
    side = store.side_dir('j50.1')
    done_record = start(
        store, 'j50.1', ['sh', '-c', 'echo before; rm -f "$0/stdout"; mkfifo "$0/stdout"; echo after >&2', side]
    )
    assert done_record['started']
    done = wait_done(store, 'j50.1', timeout=10)
    assert done['finished'] and done['asyncops_job']['state'] == 'succeeded', done.get('msg')
    assert done['rc'] == 0 and done['stderr'] == 'after'


def test_a_fifo_in_place_of_an_output_file_before_the_start_is_refused_without_hanging(store):
    store.create_side_dir('j51.1')
    os.mkfifo(os.path.join(store.side_dir('j51.1'), 'stdout'), 0o600)

    def too_long(_sig, _frame):
        raise TimeoutError('the launch hangs on the FIFO')

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(10)
    try:
        with pytest.raises(LaunchError, match='not a regular file'):
            launch(
                store,
                {
                    'jid': 'j51.1',
                    'module': 'test',
                    'argv': ['true'],
                    'result_style': 'command',
                    'cmd': 'true',
                    'time_limit': 0,
                    'grace': 0.2,
                },
            )
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# What a process the job starts finds of the job's payload and args: the descriptors it inherited that read them, and
# the paths given to the job that it can read. It becomes `uid` first (as `su otheruser -c ...` in a module would),
# keeping every descriptor it inherited; it prints no secret, only where it found one.
PROBE = r'''
import json, os, sys
uid = int(sys.argv[1])
if uid != os.geteuid():
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
held = []
for name in os.listdir('/proc/self/fd'):
    try:
        if int(name) > 2 and b'SECRET' in os.pread(int(name), 4096, 0):
            held.append(int(name))
    except OSError:
        pass
readable = []
for path in sys.argv[2:]:
    try:
        with open(path, 'rb') as f:
            if b'SECRET' in f.read():
                readable.append(path)
    except OSError:
        pass
print(json.dumps({'uid': os.geteuid(), 'held': held, 'readable': readable}))
'''


@as_root
def test_no_process_the_job_starts_inherits_or_can_open_its_payload_and_args(store, tmp_path):
    """A WANT_JSON-like payload run by a root job hands work to another user: that user's process finds no descriptor
    of the payload or args and cannot open the paths the job got; a child of the job's own user inherits none either
    (it may open the paths: they are its own user's files)."""
    probe = tmp_path / 'probe.py'
    probe.write_text(PROBE)
    store.create_side_dir('j40.1')
    payload = store.write_side_file(
        'j40.1',
        'payload',
        (
            '#!/bin/sh\n# SECRET_PAYLOAD\n"%s" "%s" 0 "$0" "$1"\n"%s" "%s" %d "$0" "$1"\n'
            % (sys.executable, probe, sys.executable, probe, NOBODY)
        ).encode(),
        mode=0o700,
    )
    args = store.write_side_file('j40.1', 'args', b'password=SECRET_ARGS')
    argv = ['sh', payload, args]
    launch(
        store,
        {
            'jid': 'j40.1',
            'module': 'test',
            'argv': argv,
            'result_style': 'command',
            'cmd': 'x',
            'time_limit': 0,
            'grace': 0.2,
        },
    )
    done = wait_done(store, 'j40.1')
    assert done['rc'] == 0, done
    same, other = [json.loads(line) for line in done['stdout'].splitlines()]
    assert other == {'uid': NOBODY, 'held': [], 'readable': []}
    assert same['uid'] == 0 and same['held'] == []
    assert len(same['readable']) == 2  # the paths the job got work for its own user: the probe can see secrets


PR_SET_DUMPABLE = 4


def set_dumpable(value):
    libc = ctypes.CDLL(None, use_errno=True)
    assert (
        libc.prctl(PR_SET_DUMPABLE, ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)) == 0
    )


def test_a_supervisor_whose_descriptors_others_of_its_user_cannot_open_gives_the_side_dir_paths(store):
    """A supervisor that is not dumpable (prctl PR_GET_DUMPABLE != 1): a process of its user cannot open its
    /proc/<pid>/fd/N, so the job gets the paths in its private side dir, never a descriptor it would inherit."""
    store.create_side_dir('j41.1')
    payload = store.write_side_file('j41.1', 'payload', b'PAYLOAD\n', mode=0o700)
    argv = ['sh', '-c', 'echo "$1"; ls /proc/self/fd | wc -l; cat "$1"', 'sh', payload]
    set_dumpable(0)  # the supervisor, forked from here, inherits it
    try:
        launch(
            store,
            {
                'jid': 'j41.1',
                'module': 'test',
                'argv': argv,
                'result_style': 'command',
                'cmd': 'x',
                'time_limit': 0,
                'grace': 0.2,
            },
        )
    finally:
        set_dumpable(1)
    done = wait_done(store, 'j41.1')
    path, fds, content = done['stdout'].splitlines()
    assert (path, content) == (payload, 'PAYLOAD'), done
    assert int(fds) == 4  # stdin, stdout, stderr and ls's own: nothing inherited


def test_a_module_printing_more_than_is_parsed_is_a_bounded_failure_with_its_whole_output_kept(store):
    """40 MB of non-JSON output (more than the 32 MiB a module's output is parsed up to with the default output_limit):
    not read into memory, a failure record with its head and tail, and the whole of it kept on the target."""
    size = 40 * 1000 * 1000
    start(store, 'j42.1', ['sh', '-c', 'yes 0123456789abcdef | head -c %d; echo END' % size], style='module')
    done = wait_done(store, 'j42.1', timeout=120)
    assert done['failed'] and done['output_truncated'] and done['rc'] == 0
    assert 'MODULE FAILURE' in done['msg'] and 'not parsed' in done['msg']
    assert done['module_stdout'].startswith('0123456789abcdef\n') and done['module_stdout'].endswith('END\n')
    assert 'bytes of output left out' in done['module_stdout']
    assert os.path.getsize(done['stdout_file']) == size + 4
    assert stat.S_IMODE(os.stat(done['stdout_file']).st_mode) == 0o600
    assert any(done['stdout_file'] in w for w in done['warnings'])
    assert os.path.getsize(store.record_path('j42.1')) < 1024 * 1024


def test_a_module_failure_record_that_clips_its_raw_output_says_where_the_whole_of_it_is(store):
    """Non-JSON output small enough to be parsed but bigger than what a failure record shows (256 KiB)."""
    start(store, 'j43.1', ['sh', '-c', 'yes 0123456789abcdef | head -c 1000000; echo END >&2; exit 2'], style='module')
    done = wait_done(store, 'j43.1', timeout=60)
    assert done['failed'] and done['output_truncated'] and done['rc'] == 2
    assert 'bytes of output left out' in done['module_stdout'] and done['module_stderr'] == 'END\n'
    assert os.path.getsize(done['stdout_file']) == 1000000
    assert 'stderr_file' not in done  # shown whole
    assert any(done['stdout_file'] in w for w in done['warnings'])


def test_a_module_result_somewhat_bigger_than_output_limit_still_parses(store):
    """A command module's result with 5 MB of stdout (stdout + stdout_lines: about 10 MB of JSON, more than the
    default output_limit of 4 MiB) is a result: parsed, its stdout clipped, the raw output kept."""
    code = (
        'import json; out = "\\n".join(["x" * 79] * 62500); '
        'print(json.dumps({"changed": True, "rc": 0, "stdout": out, "stdout_lines": out.splitlines()}))'
    )
    start(store, 'j44.1', [sys.executable, '-c', code], style='module')
    done = wait_done(store, 'j44.1', timeout=60)
    assert not done.get('failed') and done['rc'] == 0 and done['changed'] is True, done.get('msg')
    assert done['output_truncated'] and 'bytes of output left out' in done['stdout']
    assert os.path.getsize(done['stdout_file']) > 10 * 1000 * 1000


def test_a_stopped_job_always_has_its_exit_status(store):
    """The job process of a timed-out job dies of the SIGTERM: its record says so (rc -15). It used to be missing more
    often than not (the job process was found dead before it was reaped), which ansible-core shows as rc=-1."""
    jids = ['j30.%d' % index for index in range(10)]
    for jid in jids:
        start(store, jid, ['sleep', '30'], time_limit=0.3)
    done = job_status.Jobs(store).wait(jids, 60)
    assert [record.get('rc') for record in done] == [-15] * len(jids)
    assert all(record['timedout'] for record in done)
