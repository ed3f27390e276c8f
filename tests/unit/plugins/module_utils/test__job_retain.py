# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""retain: what jobs started with it leave is removed by a later call once it passed, and nothing else, cheaply.

Real jobs, real files; time is moved by setting the mtimes of the records and of the retention stamp back, never by
waiting."""

from __future__ import annotations

import json
import os
import time

import pytest

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_process as proc
from ansible_collections.asyncops.jobs.plugins.module_utils import _job_protocol as protocol
from ansible_collections.asyncops.jobs.plugins.module_utils import _job_status as job_status
from ansible_collections.asyncops.jobs.plugins.module_utils._job_batch import launch_batch
from ansible_collections.asyncops.jobs.plugins.module_utils._job_keys import claim_key, key_name
from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import RETAIN_STAMP, JobStore
from ansible_collections.asyncops.jobs.plugins.module_utils._job_supervisor import launch

pytestmark = pytest.mark.skipif(not proc.have_proc(), reason='needs /proc (Linux)')


@pytest.fixture
def store(tmp_path):
    return JobStore(str(tmp_path / 'async')).ensure()


def run_job(store, jid, argv=('true',), wait=True, **spec):
    store.create_side_dir(jid)
    launch(
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
    return job_status.Jobs(store).wait([jid], 20)[0] if wait else None


def age(store, name, seconds):
    """What the async dir holds under name was last written `seconds` ago."""
    path = os.path.join(store.path, name)
    os.utime(path, (time.time(), time.time() - seconds), follow_symlinks=False)


def sweep(store, keep=(), read_only=False):
    """A sweep as the next call makes it, the last one long ago."""
    age(store, RETAIN_STAMP, 3600)
    return job_status.Jobs(store, read_only=read_only).sweep_retained(keep)


def test_a_finished_record_older_than_its_retain_goes_with_its_files(store):
    store.note_retain(60)
    record = run_job(
        store, 'j1.1', ('sh', '-c', 'head -c 5000 /dev/zero | tr "\\0" x'), retain=60, output_limit=1024, key='nightly'
    )
    claim_key(store, 'nightly', 'j1.1')
    assert record['output_truncated'] and record['asyncops_job']['retain'] == 60
    names = {'j1.1', '.j1.1.job', '.j1.1.output', key_name('nightly')}
    assert names <= set(os.listdir(store.path))
    assert sweep(store) == []  # not old enough
    age(store, 'j1.1', 61)
    assert sweep(store) == ['j1.1']
    assert not names & set(os.listdir(store.path))


def test_a_sweep_leaves_what_it_must(store, tmp_path):
    """No retain, not old enough, still running, asked about, not a job record, or someone else's file: kept."""
    store.note_retain(10)
    run_job(store, 'j2.1')  # no retain: kept as today, however old
    run_job(store, 'j2.2', retain=3600)  # older than the shortest retain, not than its own
    run_job(store, 'j2.3', ('sleep', '30'), wait=False, retain=10)  # running
    run_job(store, 'j2.4', retain=10)  # asked about by the call that sweeps
    with open(os.path.join(store.path, 'j2.5'), 'w') as f:
        json.dump({'name': 'not a job record'}, f)  # named like one
    os.mkdir(os.path.join(store.path, '.deploy.job'))
    with open(os.path.join(store.path, '.build.stdout'), 'w') as f:
        f.write('theirs')
    for name in ('j2.1', 'j2.2', 'j2.3', 'j2.4', 'j2.5', '.deploy.job', '.build.stdout'):
        age(store, name, 100)
    before = sorted(os.listdir(store.path))
    assert sweep(store, keep=['j2.4']) == []
    assert sorted(os.listdir(store.path)) == before
    job_status.Jobs(store).kill('j2.3', max_wait=10)


def test_check_mode_reports_and_removes_nothing(store):
    store.note_retain(5)
    run_job(store, 'j3.1', retain=5)
    age(store, 'j3.1', 6)
    assert sweep(store, read_only=True) == ['j3.1'] and store.exists('j3.1')
    assert sweep(store) == ['j3.1'] and not store.exists('j3.1')


def start_batch(store, jid, commands, **options):
    specs = []
    for index, argv in enumerate(commands):
        item = protocol.item_jid(jid, index)
        store.create_side_dir(item)
        specs.append(
            {
                'jid': item,
                'module': 'test',
                'argv': argv,
                'result_style': 'command',
                'cmd': argv,
                'time_limit': 0,
                'grace': 0.2,
                'batch_jid': jid,
                'index': index,
            }
        )
    launch_batch(store, jid, specs, dict(options, concurrency=2))
    job_status.Jobs(store).wait([jid], 20)
    return [spec['jid'] for spec in specs]


def test_a_batch_goes_with_its_items_and_an_item_never_alone(store):
    store.note_retain(5)
    items = start_batch(store, 'j4.1', [['true'], ['false']], retain=5)
    for name in ['j4.1'] + items:
        age(store, name, 6)
    assert store.read(items[0])['asyncops_job'].get('retain') is None  # the batch's record keeps it, once
    assert sweep(store, keep=[items[1]]) == []  # an item asked about keeps its batch, and the batch its items
    assert sweep(store) == ['j4.1']
    assert not any(store.exists(jid) for jid in ['j4.1'] + items)
    assert [name for name in os.listdir(store.path) if name.startswith('.j4.')] == []


def test_the_note_of_a_collected_job_goes_after_its_retain(store):
    store.note_retain(5)
    run_job(store, 'j5.1', retain=5)
    job_status.Jobs(store).collect('j5.1')
    note = store.read('j5.1')
    assert protocol.is_note(note) and note['asyncops_job']['retain'] == 5
    age(store, 'j5.1', 6)
    assert sweep(store) == ['j5.1'] and not store.exists('j5.1')


def test_a_job_whose_supervisor_died_ends_lost_then_goes(store):
    store.note_retain(5)
    record = run_job(store, 'j6.1', ('sleep', '30'), wait=False, retain=5)
    os.kill(store.read('j6.1')['asyncops_job']['supervisor_pid'], 9)
    deadline = time.time() + 5
    while proc.is_alive(protocol.supervisor_identity(store.read('j6.1')['asyncops_job'])) and time.time() < deadline:
        time.sleep(0.02)
    age(store, 'j6.1', 6)
    assert record is None and sweep(store) == []  # judged lost now: its retain counts from now
    assert protocol.job_state(store.read('j6.1')) == 'lost'
    age(store, 'j6.1', 6)
    assert sweep(store) == ['j6.1']


def counting(monkeypatch, cls, name):
    """Calls of cls.name, the real one running: what a sweep costs, counted."""
    calls = []
    real = getattr(cls, name)

    def counted(*args, **kwargs):
        calls.append(args[1:])
        return real(*args, **kwargs)

    monkeypatch.setattr(cls, name, counted)
    return calls


def test_a_sweep_costs_one_lstat_where_no_job_had_retain(store, monkeypatch):
    for index in range(200):
        run_job(store, 'j7.%d' % index, wait=False)
    job_status.Jobs(store).wait(['j7.%d' % index for index in range(200)], 30)
    entries = counting(monkeypatch, JobStore, 'entries')
    reads = counting(monkeypatch, JobStore, 'read')
    assert job_status.Jobs(store).sweep_retained() == []
    assert entries == [] and reads == []


def test_a_sweep_reads_only_records_old_enough_and_runs_once_per_interval(store, monkeypatch):
    store.note_retain(30)
    for index in range(20):
        run_job(store, 'j8.%d' % index, retain=30)
    for index in range(3):
        age(store, 'j8.%d' % index, 31)
    reads = counting(monkeypatch, JobStore, 'read')
    assert sorted(sweep(store)) == ['j8.0', 'j8.1', 'j8.2']
    assert sorted(args[0] for args in reads) == ['j8.0', 'j8.1', 'j8.2']
    age(store, 'j8.3', 31)
    del reads[:]
    # swept just now: the next call within min(60 s, shortest retain) does not look
    assert job_status.Jobs(store).sweep_retained() == [] and reads == [] and store.exists('j8.3')


def test_one_sweep_at_a_time(store):
    store.note_retain(0)
    first = store.sweep_due(time.time())
    assert first is not None
    try:
        assert store.sweep_due(time.time()) is None
    finally:
        os.close(first[0])
    assert store.sweep_due(time.time()) is not None


def test_the_stamp_keeps_the_shortest_retain_and_its_sweep_time(store):
    store.note_retain(100)
    path = os.path.join(store.path, RETAIN_STAMP)
    assert os.stat(path).st_mtime == 0  # never swept
    assert oct(os.stat(path).st_mode & 0o777) == '0o600'
    os.utime(path, (1000, 5000))
    store.note_retain(50)
    store.note_retain(80)
    with open(path, 'rb') as f:
        assert f.read().endswith(b'min_retain 50.000\n')
    assert os.stat(path).st_mtime == 5000


def test_a_stamp_the_engine_did_not_make_is_left_alone(store):
    path = os.path.join(store.path, RETAIN_STAMP)
    with open(path, 'w') as f:
        f.write('mine')
    store.note_retain(10)
    with open(path) as f:
        assert f.read() == 'mine'
    assert any('not made by asyncops.jobs' in warning for warning in store.warnings)
    assert job_status.Jobs(store).sweep_retained() == []
