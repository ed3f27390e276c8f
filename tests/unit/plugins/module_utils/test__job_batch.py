# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Batches on this machine: a real scheduler process with real item supervisors."""

from __future__ import annotations

import errno
import threading
import time

import pytest

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_process as proc
from ansible_collections.asyncops.jobs.plugins.module_utils import _job_protocol as protocol
from ansible_collections.asyncops.jobs.plugins.module_utils import _job_status as job_status
from ansible_collections.asyncops.jobs.plugins.module_utils._job_batch import BatchScheduler, launch_batch
from ansible_collections.asyncops.jobs.plugins.module_utils._job_protocol import item_jid
from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import JobStore

pytestmark = pytest.mark.skipif(not proc.have_proc(), reason='needs /proc (Linux)')
# the scheduler's and the supervisor's longest sleep: what would happen without the wake-ups under test


@pytest.fixture
def store(tmp_path):
    return JobStore(str(tmp_path / 'async')).ensure()


def start_batch(store, commands, concurrency, fail_fast=False, time_limit=0, no_log=False, **options):
    """A batch of commands; options: the other batch options of the launch (item_retries, max_failures, ...)."""
    batch = 'j99.%d' % len(commands)
    specs = []
    for index, argv in enumerate(commands):
        jid = item_jid(batch, index)
        store.create_side_dir(jid)
        specs.append(
            {
                'jid': jid,
                'module': 'test',
                'argv': argv,
                'result_style': 'command',
                'cmd': argv,
                'time_limit': time_limit,
                'grace': 0.2,
                'batch_jid': batch,
                'index': index,
            }
        )
        if no_log:
            specs[-1]['no_log'] = True
    record = launch_batch(store, batch, specs, dict(options, concurrency=concurrency, fail_fast=fail_fast))
    return record, [spec['jid'] for spec in specs]


def test_sliding_window_refills_at_once(store):
    record, jids = start_batch(store, [['sleep', '1'], ['sleep', '0.2'], ['sleep', '0.2'], ['sleep', '0.2']], 2)
    assert record['jobs'] == jids and not record['finished']
    batch = job_status.Jobs(store).wait([record['ansible_job_id']], 20)[0]
    assert batch['finished'] and not batch['failed']
    items = job_status.Jobs(store).wait(jids, 5)
    starts = [i['asyncops_job']['started_at'] for i in items]
    ends = [i['asyncops_job']['ended_at'] for i in items]
    # a sliding window, refilled the moment an item ends: item 2 starts once item 1 ended and item 3 once item 2
    # ended, both while the long item 0 still runs (were the window refilled at the scheduler's next look, a second
    # later, or in barrier batches, they would start only after item 0 ended). Order only: how soon is a figure of
    # the benchmark, not of a test on a shared machine.
    assert ends[1] <= starts[2] < ends[0]
    assert ends[2] <= starts[3] < ends[0]
    for i, item in enumerate(items):
        running_at_start = sum(1 for j in range(4) if starts[j] <= starts[i] < ends[j])
        assert running_at_start <= 2
    assert batch['asyncops_job']['counts']['succeeded'] == 4


def test_fail_fast_skips_the_rest(store):
    record, jids = start_batch(store, [['false'], ['sleep', '0.3'], ['true'], ['true']], 1, fail_fast=True)
    batch = job_status.Jobs(store).wait([record['ansible_job_id']], 20)[0]
    assert batch['finished'] and batch['failed']
    items = job_status.Jobs(store).wait(jids, 5)
    assert items[0]['failed'] and items[0]['rc'] == 1
    assert all(i.get('skipped') for i in items[1:])
    assert [protocol.job_state(i) for i in items] == ['failed', 'skipped', 'skipped', 'skipped']
    # the reason, word for word as before max_failures existed (fail_fast is max_failures 1)
    assert {i['msg'] for i in items[1:]} == {'not started: an earlier item failed and fail_fast is set'}


def test_without_fail_fast_every_item_runs(store):
    record, jids = start_batch(store, [['false'], ['true']], 1)
    job_status.Jobs(store).wait([record['ansible_job_id']], 20)
    items = job_status.Jobs(store).wait(jids, 5)
    assert items[0]['failed'] and items[1]['rc'] == 0


def test_pending_items_are_visible_and_kill_stops_the_batch(store):
    record, jids = start_batch(store, [['sleep', '30'], ['sleep', '30'], ['sleep', '30']], 1)
    deadline = time.time() + 5
    while protocol.job_state(job_status.Jobs(store).status(jids[0])) != 'running' and time.time() < deadline:
        time.sleep(0.02)
    statuses = job_status.Jobs(store).wait(jids, 0)
    assert protocol.job_state(statuses[0]) == 'running'
    assert [protocol.job_state(s) for s in statuses][1:] == ['pending', 'pending']
    killed = job_status.Jobs(store).kill(record['ansible_job_id'], max_wait=10)
    assert killed['killed'] and killed['finished']
    items = job_status.Jobs(store).wait(jids, 5)
    assert protocol.job_state(items[0]) == 'killed'
    assert [protocol.job_state(i) for i in items[1:]] == ['skipped', 'skipped']


def test_item_time_limit(store):
    record, jids = start_batch(store, [['sleep', '30'], ['true']], 2, time_limit=1)
    job_status.Jobs(store).wait([record['ansible_job_id']], 20)
    items = job_status.Jobs(store).wait(jids, 5)
    assert items[0]['timedout'] and not items[1].get('failed')


def test_collecting_keeps_everything_while_an_item_runs(store):
    record, jids = start_batch(store, [['true'], ['sleep', '1']], 2)
    deadline = time.time() + 5
    while not job_status.Jobs(store).status(jids[0])['finished'] and time.time() < deadline:
        time.sleep(0.02)
    early = job_status.Jobs(store).wait([record['ansible_job_id']] + jids, 0)
    assert not job_status.Jobs(store).collect_finished(early)
    assert store.exists(record['ansible_job_id']) and all(store.exists(jid) for jid in jids)
    final = job_status.Jobs(store).wait([record['ansible_job_id']] + jids, 20)
    assert all(r['finished'] for r in final) and final[2]['rc'] == 0
    assert job_status.Jobs(store).collect_finished(final)
    assert protocol.is_note(store.read(record['ansible_job_id']))  # the batch's note
    assert not any(store.exists(jid) for jid in jids)  # its items go with it
    assert store.jids() == [record['ansible_job_id']] and store.engine_dirs() == []


def test_wait_returns_when_the_last_item_ends(store):
    record, jids = start_batch(store, [['sleep', '0.2']] * 3 + [['sleep', '0.6']], 4)
    statuses = job_status.Jobs(store).wait([record['ansible_job_id']] + jids, 20)
    batch_end = statuses[0]['asyncops_job']['ended_at']
    last_item_end = max(s['asyncops_job']['ended_at'] for s in statuses[1:])
    # the batch ends with its last item (never before), and wait returns once it has
    assert batch_end >= last_item_end
    assert all(s['finished'] for s in statuses)


def test_killing_one_pending_item_stops_only_that_item(store):
    record, jids = start_batch(store, [['sleep', '0.5'], ['sleep', '30'], ['true'], ['true']], 1)
    jobs = job_status.Jobs(store)
    assert protocol.job_state(jobs.status(jids[1])) == 'pending'
    killed = jobs.kill(jids[1], max_wait=10)
    assert killed['killed'] and killed['finished'] and not killed['failed']
    batch = jobs.wait([record['ansible_job_id']], 20)[0]
    items = jobs.wait(jids, 5)
    assert [protocol.job_state(i) for i in items] == ['succeeded', 'killed', 'succeeded', 'succeeded']
    assert items[1]['started'] is False and 'killed before it started' in items[1]['msg']
    assert batch['finished'] and batch['failed'] and batch['asyncops_job']['counts']['killed'] == 1


def test_killing_a_running_item_stops_only_that_item(store):
    record, jids = start_batch(store, [['sleep', '30'], ['true']], 2)
    jobs = job_status.Jobs(store)
    deadline = time.time() + 5
    while protocol.job_state(jobs.status(jids[0])) != 'running' and time.time() < deadline:
        time.sleep(0.02)
    jobs.kill(jids[0], max_wait=10)
    jobs.wait([record['ansible_job_id']], 20)
    assert [protocol.job_state(i) for i in jobs.wait(jids, 5)] == ['killed', 'succeeded']


def test_pruning_while_batches_start_never_breaks_a_launch(store):
    """`cleanup older_than=0` in a loop while batches start: a side dir is never removed before its record exists."""
    stop = threading.Event()
    errors = []

    def prune_forever():
        while not stop.is_set():
            pruner_store = JobStore(store.path).open()
            try:
                job_status.Jobs(pruner_store).prune(0)
            except Exception as exc:  # noqa: BLE001 - any failure of the pruner is a test failure
                errors.append(exc)
            finally:
                pruner_store.close()

    pruner = threading.Thread(target=prune_forever)
    pruner.start()
    try:
        batches = []
        for round_ in range(20):
            batch = 'j77.%d' % round_
            specs = []
            for index in range(5):
                jid = item_jid(batch, index)
                store.create_side_dir(jid)
                store.write_side_file(jid, 'payload', b'#!/bin/sh\n', mode=0o700)
                specs.append(
                    {
                        'jid': jid,
                        'module': 'test',
                        'argv': ['true'],
                        'result_style': 'command',
                        'cmd': 'true',
                        'time_limit': 0,
                        'grace': 0.2,
                        'batch_jid': batch,
                        'index': index,
                    }
                )
            batches.append(launch_batch(store, batch, specs, {'concurrency': 2}))
    finally:
        stop.set()
        pruner.join()
    assert errors == []
    finished = job_status.Jobs(store).wait([batch['ansible_job_id'] for batch in batches], 30)
    assert all(record['finished'] for record in finished)  # nothing of these jobs still writes here


def process_limit(monkeypatch, processes):
    """fork() of an item's supervisor fails with EAGAIN, as under a process limit (ulimit -u, a pids cgroup), while
    `processes` items of the batch hold theirs (the scheduler is a fork of this process: it inherits the patch)."""
    real = BatchScheduler.start_item

    def limited(self, spec):
        if len(self.running) + len(self.finishing) >= processes:
            raise BlockingIOError(errno.EAGAIN, 'Resource temporarily unavailable')
        return real(self, spec)

    monkeypatch.setattr(BatchScheduler, 'start_item', limited)


def test_at_the_process_limit_items_wait_for_a_process(store, monkeypatch):
    """A fork that failed at the process limit killed the scheduler (or the launch), leaving the items not started
    'pending' for ever; now they wait until an item of the batch ends and frees its processes."""
    process_limit(monkeypatch, 1)
    record, jids = start_batch(store, [['sleep', '0.3']] * 3, 3)
    batch = job_status.Jobs(store).wait([record['ansible_job_id']], 20)[0]
    assert batch['finished'] and not batch['failed']
    items = job_status.Jobs(store).wait(jids, 5)
    assert [protocol.job_state(i) for i in items] == ['succeeded'] * 3
    starts = [i['asyncops_job']['started_at'] for i in items]
    ends = [i['asyncops_job']['ended_at'] for i in items]
    assert starts[1] >= ends[0] and starts[2] >= ends[1]  # one at a time: what the limit allowed


def test_at_the_process_limit_with_nothing_running_items_fail_with_the_reason(store, monkeypatch):
    process_limit(monkeypatch, 0)
    record, jids = start_batch(store, [['true']] * 2, 2)
    batch = job_status.Jobs(store).wait([record['ansible_job_id']], 20)[0]
    assert batch['finished'] and batch['failed'] and batch['asyncops_job']['counts']['failed'] == 2
    items = job_status.Jobs(store).wait(jids, 5)
    assert [protocol.job_state(i) for i in items] == ['failed', 'failed']
    assert all(
        i['started'] is False and 'process limit' in i['msg'] and 'Resource temporarily' in i['msg'] for i in items
    )


def test_an_item_whose_job_process_cannot_start_says_why(store, monkeypatch):
    """The supervisor could not start the job process (EAGAIN at the process limit): its record said 'pending' until
    the batch ended, then 'lost ... killed (kill -9, OOM killer) or crashed'; now it is failed with the reason."""
    from ansible_collections.asyncops.jobs.plugins.module_utils import _job_supervisor as job_supervisor

    def no_process(self, opened):
        raise BlockingIOError(errno.EAGAIN, 'Resource temporarily unavailable')

    monkeypatch.setattr(job_supervisor.Supervisor, '_argv_through_fds', no_process)
    record, jids = start_batch(store, [['true']], 1)
    batch = job_status.Jobs(store).wait([record['ansible_job_id']], 20)[0]
    assert batch['finished'] and batch['failed']
    item = job_status.Jobs(store).wait(jids, 5)[0]
    assert protocol.job_state(item) == 'failed' and item['started'] is False
    assert item['msg'].startswith('could not start the job: Resource temporarily unavailable')
    assert batch['asyncops_job']['counts'] == {'pending': 0, 'running': 0, 'failed': 1}


# -- item_retries --------------------------------------------------------------------------------------------------
def flaky(tmp_path, name, failures, fail='exit 3'):
    """A command that fails its first `failures` runs (by running `fail`), then succeeds; each run prints its number."""
    counter = tmp_path / name
    return [
        'sh',
        '-c',
        'n=$(cat %s 2>/dev/null || echo 0); n=$((n+1)); echo $n > %s; echo run $n; '
        '[ $n -gt %d ] || %s' % (counter, counter, failures, fail),
    ]


def wait_for_state(jobs, jid, state, seconds=20):
    deadline = time.time() + seconds
    while protocol.job_state(jobs.status(jid)) != state and time.time() < deadline:
        time.sleep(0.02)
    return jobs.status(jid)


def test_a_failed_item_starts_again_until_it_succeeds(store, tmp_path):
    record, jids = start_batch(store, [flaky(tmp_path, 'a', 2), ['true']], 1, item_retries=2, item_retry_delay=0)
    batch = job_status.Jobs(store).wait([record['ansible_job_id']], 30)[0]
    assert batch['finished'] and not batch['failed']
    item = job_status.Jobs(store).status(jids[0])
    assert protocol.job_state(item) == 'succeeded' and item['stdout'] == 'run 3'
    assert item['ansible_job_id'] == jids[0] and item['attempts'] == 3 and item['asyncops_job']['attempts'] == 3
    assert [(p['attempt'], p['state'], p['rc'], p['msg']) for p in item['previous_attempts']] == [
        (1, 'failed', 3, 'non-zero return code'),
        (2, 'failed', 3, 'non-zero return code'),
    ]
    assert all(isinstance(p['elapsed'], float) for p in item['previous_attempts'])
    assert job_status.Jobs(store).status(jids[1])['attempts'] == 1
    assert batch['asyncops_job']['counts'] == {'pending': 0, 'running': 0, 'retrying': 0, 'succeeded': 2}
    assert not store.has_side_file(jids[0], 'payload')  # what a retry needed is gone with the last attempt


def test_an_item_that_fails_every_attempt_fails_with_its_history(store):
    record, jids = start_batch(store, [['false']], 1, item_retries=2, item_retry_delay=0)
    batch = job_status.Jobs(store).wait([record['ansible_job_id']], 30)[0]
    item = job_status.Jobs(store).status(jids[0])
    assert batch['failed'] and protocol.job_state(item) == 'failed' and item['rc'] == 1
    assert item['attempts'] == 3 and [p['attempt'] for p in item['previous_attempts']] == [1, 2]


def test_a_timed_out_attempt_starts_again(store, tmp_path):
    record, jids = start_batch(
        store, [flaky(tmp_path, 't', 1, fail='sleep 30')], 1, time_limit=1, item_retries=1, item_retry_delay=0
    )
    job_status.Jobs(store).wait([record['ansible_job_id']], 60)
    item = job_status.Jobs(store).status(jids[0])
    assert protocol.job_state(item) == 'succeeded' and item['attempts'] == 2
    assert item['previous_attempts'][0]['state'] == 'timedout'


def test_a_killed_item_is_not_started_again(store):
    record, jids = start_batch(store, [['sleep', '30']], 1, item_retries=3, item_retry_delay=0)
    jobs = job_status.Jobs(store)
    wait_for_state(jobs, jids[0], 'running')
    jobs.kill(jids[0], max_wait=10)
    batch = jobs.wait([record['ansible_job_id']], 20)[0]
    item = jobs.status(jids[0])
    assert batch['finished'] and protocol.job_state(item) == 'killed' and item['attempts'] == 1
    assert 'previous_attempts' not in item


def test_an_item_waiting_for_its_retry_holds_no_slot_and_can_be_killed(store, tmp_path):
    """Item 0 fails and waits 600 s for its retry: items 1 and 2 run meanwhile in the window of 1, its record says
    retrying (not finished, with its failed attempt's result), and a kill ends it at once, never started again."""
    record, jids = start_batch(
        store, [flaky(tmp_path, 'w', 1), ['true'], ['true']], 1, item_retries=1, item_retry_delay=600
    )
    jobs = job_status.Jobs(store)
    others = jobs.wait(jids[1:], 30)
    assert [protocol.job_state(i) for i in others] == ['succeeded', 'succeeded']
    waiting = jobs.status(jids[0])
    meta = waiting['asyncops_job']
    assert protocol.job_state(waiting) == 'retrying' and not waiting['finished']
    assert meta['attempt_state'] == 'failed' and meta['retry_at'] > time.time() + 500 and waiting['rc'] == 3
    assert meta['supervisor_pid'] == record['asyncops_job']['supervisor_pid']  # the scheduler answers for it
    assert jobs.wait([record['ansible_job_id']], 0)[0]['asyncops_job']['counts']['retrying'] == 1
    killed = jobs.kill(jids[0], max_wait=10)
    assert killed['killed'] and killed['finished']
    batch = jobs.wait([record['ansible_job_id']], 20)[0]
    item = jobs.status(jids[0])
    assert batch['finished'] and protocol.job_state(item) == 'killed' and item['attempts'] == 1
    assert 'killed while waiting to be started again' in item['msg'] and item['rc'] == 3
    assert (tmp_path / 'w').read_text().strip() == '1'  # never started again


def test_previous_attempts_of_a_no_log_item_have_no_msg(store, tmp_path):
    record, jids = start_batch(store, [flaky(tmp_path, 'n', 1)], 1, no_log=True, item_retries=1, item_retry_delay=0)
    job_status.Jobs(store).wait([record['ansible_job_id']], 30)
    item = job_status.Jobs(store).status(jids[0])
    assert item['attempts'] == 2 and item['previous_attempts'] == [
        {'attempt': 1, 'state': 'failed', 'rc': 3, 'elapsed': item['previous_attempts'][0]['elapsed']}
    ]


# -- max_failures, on_halt -----------------------------------------------------------------------------------------
@pytest.mark.parametrize('max_failures', [2, '2', '50%'])
def test_max_failures_skips_the_rest_with_the_reason(store, max_failures):
    record, jids = start_batch(store, [['false'], ['false'], ['true'], ['true']], 1, max_failures=max_failures)
    batch = job_status.Jobs(store).wait([record['ansible_job_id']], 20)[0]
    items = job_status.Jobs(store).wait(jids, 5)
    assert [protocol.job_state(i) for i in items] == ['failed', 'failed', 'skipped', 'skipped']
    reason = 'not started: 2 item(s) failed, max_failures is %s' % max_failures
    assert [i['msg'] for i in items[2:]] == [reason, reason]
    assert (
        batch['asyncops_job']['halt_after'] == 2 and batch['asyncops_job']['halted'] == reason[len('not started: ') :]
    )


def test_max_failures_counts_items_after_their_retries(store, tmp_path):
    record, jids = start_batch(
        store, [flaky(tmp_path, 'm', 1), ['true'], ['true']], 1, max_failures=1, item_retries=1, item_retry_delay=0
    )
    batch = job_status.Jobs(store).wait([record['ansible_job_id']], 30)[0]
    items = job_status.Jobs(store).wait(jids, 5)
    assert not batch['failed'] and [protocol.job_state(i) for i in items] == ['succeeded'] * 3
    assert 'halted' not in batch['asyncops_job']


def test_on_halt_finish_lets_the_running_items_end(store):
    record, jids = start_batch(store, [['sleep', '1'], ['false'], ['true']], 2, max_failures=1)
    job_status.Jobs(store).wait([record['ansible_job_id']], 20)
    assert [protocol.job_state(i) for i in job_status.Jobs(store).wait(jids, 5)] == ['succeeded', 'failed', 'skipped']


def test_on_halt_kill_stops_the_running_items_and_says_why(store):
    record, jids = start_batch(store, [['sleep', '30'], ['false'], ['true']], 2, max_failures=1, on_halt='kill')
    batch = job_status.Jobs(store).wait([record['ansible_job_id']], 20)[0]
    items = job_status.Jobs(store).wait(jids, 5)
    assert [protocol.job_state(i) for i in items] == ['killed', 'failed', 'skipped']
    assert items[0]['killed'] and items[0]['attempts'] == 1
    assert items[0]['msg'].startswith(
        'Job stopped: the batch halted (1 item(s) failed, max_failures is 1), and on_halt is kill'
    )
    assert batch['finished'] and batch['asyncops_job']['counts']['killed'] == 1


def test_an_item_waiting_for_its_retry_when_the_batch_halts_ends_with_its_last_attempt(store, tmp_path):
    record, jids = start_batch(
        store, [flaky(tmp_path, 'h', 5), ['sleep', '30']], 2, max_failures=1, item_retries=3, item_retry_delay=600
    )
    jobs = job_status.Jobs(store)
    wait_for_state(jobs, jids[0], 'retrying')
    wait_for_state(jobs, jids[1], 'running')
    jobs.kill(jids[1], max_wait=10)  # a killed item is a failure, and is never started again: the batch halts
    jobs.wait([record['ansible_job_id']], 20)
    items = jobs.wait(jids, 5)
    assert [protocol.job_state(i) for i in items] == ['failed', 'killed']
    assert items[0]['finished'] and items[0]['rc'] == 3 and items[0]['attempts'] == 1
    assert items[0]['msg'] == 'non-zero return code; not started again: 1 item(s) failed, max_failures is 1'


def test_a_retry_that_cannot_get_a_process_ends_with_its_last_attempt(store, tmp_path, monkeypatch):
    """At the process limit with nothing running, a retry is not recorded 'not started' (started: false, 0 attempts)
    as an item that never ran would be: it ends with the result of the attempt it made, and says why."""
    real = BatchScheduler.start_item

    def no_second_start(self, spec):
        if spec['attempt'] > 1:
            raise BlockingIOError(errno.EAGAIN, 'Resource temporarily unavailable')
        return real(self, spec)

    monkeypatch.setattr(BatchScheduler, 'start_item', no_second_start)
    record, jids = start_batch(store, [flaky(tmp_path, 'p', 1)], 1, item_retries=1, item_retry_delay=0)
    job_status.Jobs(store).wait([record['ansible_job_id']], 20)
    item = job_status.Jobs(store).status(jids[0])
    assert protocol.job_state(item) == 'failed' and item['started'] is True and item['attempts'] == 1
    assert item['rc'] == 3 and item['msg'].startswith(
        'non-zero return code; not started again: could not start its supervisor process'
    )
