# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Chains (steps) on this machine: one real supervisor running real step processes, real signals, real files.

The steps coordinate with the test through flag files (a step waits for one, or makes one), so every assertion is
about outcomes and order, never about how long something took."""

from __future__ import annotations

import base64
import json
import os
import signal
import sys
import time

import pytest

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_process as proc
from ansible_collections.asyncops.jobs.plugins.module_utils import _job_protocol as protocol
from ansible_collections.asyncops.jobs.plugins.module_utils import _job_status as job_status
from ansible_collections.asyncops.jobs.plugins.module_utils._job_batch import launch_batch
from ansible_collections.asyncops.jobs.plugins.module_utils._job_chain import launch_job
from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import JobStore
from ansible_collections.asyncops.jobs.plugins.module_utils._wrapper_module import problems, spec_of

pytestmark = pytest.mark.skipif(not proc.have_proc(), reason='needs /proc (Linux)')


@pytest.fixture
def store(tmp_path):
    return JobStore(str(tmp_path / 'async')).ensure()


def sh(script, name=None, **step):
    """A step that runs a shell script as a plain command."""
    step.update(argv=['sh', '-c', script], result_style='command')
    if name:
        step['name'] = name
    return step


def start(store, jid, steps, always=(), time_limit=0, **params):
    params = dict({'timeout': time_limit, 'grace': 0.2, 'concurrency': None}, **params)
    return launch_job(store, spec_of(store, jid, {'steps': list(steps), 'always': list(always)}, params))


def wait_done(store, jid, timeout=60):
    return job_status.Jobs(store).wait([jid], timeout)[0]


def wait_for(path, timeout=30):
    deadline = time.time() + timeout
    while not os.path.exists(str(path)):
        assert time.time() < deadline, '%s never appeared' % path
        time.sleep(0.02)


def wait_until(check, timeout=30):
    deadline = time.time() + timeout
    while not check():
        assert time.time() < deadline, 'the condition never held'
        time.sleep(0.02)


def states(record):
    return [
        ('skipped' if entry.get('skipped') else 'failed' if entry.get('failed') else 'ok')
        for entry in record['results']
    ]


def pids_with(marker):
    found = []
    for pid in os.listdir('/proc'):
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                if pid.isdigit() and marker.encode() in f.read().replace(b'\0', b' '):
                    found.append(int(pid))
        except OSError:
            pass
    return found


def test_the_steps_run_one_after_another_and_the_result_holds_each(store, tmp_path):
    order = tmp_path / 'order'
    record = start(
        store,
        'j1.1',
        [
            sh('echo dump >> %s; echo dumped' % order, 'dump'),
            sh('echo compress >> %s; echo compressed' % order, 'compress'),
            sh('echo upload >> %s' % order, 'upload'),
        ],
    )
    assert record['asyncops_job']['current_step'] == {'index': 0, 'name': 'dump'}
    done = wait_done(store, 'j1.1')
    assert order.read_text().split() == ['dump', 'compress', 'upload']
    assert not done['failed'] and done['changed'] and done['asyncops_job']['state'] == 'succeeded'
    assert [(e['step_index'], e['step_name'], e['stdout']) for e in done['results']] == [
        (0, 'dump', 'dumped'),
        (1, 'compress', 'compressed'),
        (2, 'upload', ''),
    ]
    assert done['msg'] == 'all 3 step(s) ran'
    assert done['asyncops_job']['steps'][1] == {'index': 1, 'name': 'compress', 'module': 'command', 'always': False}
    assert 'current_step' not in done['asyncops_job']


def test_a_failing_step_ends_the_chain_there_and_always_runs(store, tmp_path):
    ran = tmp_path / 'ran'
    start(
        store,
        'j2.1',
        [sh('true', 'a'), sh('echo broken >&2; exit 3', 'b'), sh('touch %s' % ran, 'c')],
        always=[sh('echo cleaned', 'cleanup')],
    )
    done = wait_done(store, 'j2.1')
    assert states(done) == ['ok', 'failed', 'skipped', 'ok']
    assert done['failed'] and done['asyncops_job']['state'] == 'failed'
    assert done['msg'].startswith('step 1 (b) failed: non-zero return code')
    assert done['results'][2]['msg'] == 'not run: an earlier step failed'
    assert done['results'][3]['stdout'] == 'cleaned' and done['results'][3]['step_name'] == 'cleanup'
    assert not ran.exists()


def test_a_failing_step_with_ignore_errors_lets_the_chain_go_on(store):
    start(
        store,
        'j3.1',
        [sh('exit 2', 'may fail', ignore_errors=True), sh('echo next', 'next')],
        always=[sh('true', 'cleanup')],
    )
    done = wait_done(store, 'j3.1')
    assert states(done) == ['failed', 'ok', 'ok']
    assert not done['failed'] and done['asyncops_job']['state'] == 'succeeded'
    assert done['results'][1]['stdout'] == 'next'


def test_a_failing_always_step_fails_the_chain(store):
    done = wait_done(store, start(store, 'j4.1', [sh('true', 'a')], always=[sh('exit 4', 'cleanup')])['ansible_job_id'])
    assert states(done) == ['ok', 'failed'] and done['failed']
    assert done['msg'].startswith('step 1 (cleanup) failed')


def test_a_steps_own_time_limit_stops_that_step_only(store, tmp_path):
    """The step's whole tree (a child that ignores SIGTERM included) is stopped at its limit; the chain goes on when
    the step has ignore_errors, and ends there without."""
    marker = str(tmp_path / 'stubborn-step')
    stubborn = "trap '' TERM; (trap '' TERM; while :; do sleep 0.1; done) & while :; do sleep 0.1; done; : %s" % marker
    start(
        store,
        'j5.1',
        [sh(stubborn, 'slow', timeout=1, ignore_errors=True), sh('echo after', 'after')],
        always=[sh('echo always', 'cleanup')],
    )
    done = wait_done(store, 'j5.1')
    assert states(done) == ['failed', 'ok', 'ok'] and not done['failed']
    slow = done['results'][0]
    assert slow['timedout'] and 'step 0 (slow) ran longer than its time limit of 1s' in slow['msg']
    assert pids_with(marker) == []
    start(
        store,
        'j5.2',
        [sh('sleep 30', 'slow', timeout=1), sh('echo after', 'after')],
        always=[sh('echo always', 'cleanup')],
    )
    done = wait_done(store, 'j5.2')
    assert states(done) == ['failed', 'skipped', 'ok'] and done['failed']
    assert done['asyncops_job']['state'] == 'failed' and not done['timedout']
    assert done['msg'].startswith('step 0 (slow) failed: Timeout exceeded')


def test_the_chains_time_limit_stops_the_running_step_skips_the_rest_and_runs_always(store, tmp_path):
    cleaned = tmp_path / 'cleaned'
    start(
        store,
        'j6.1',
        [sh('true', 'quick'), sh('sleep 30', 'long'), sh('true', 'never')],
        always=[sh('touch %s; echo cleaned' % cleaned, 'cleanup')],
        time_limit=1,
    )
    done = wait_done(store, 'j6.1')
    assert states(done) == ['ok', 'failed', 'skipped', 'ok'] and cleaned.exists()
    assert done['failed'] and done['timedout'] and done['asyncops_job']['state'] == 'timedout'
    assert done['results'][1]['timedout']
    assert done['msg'].startswith("Timeout exceeded: the chain's time limit of 1s was reached while step 1 (long) ran")
    assert done['results'][2]['msg'] == "not run: the chain's time limit was reached before"
    meta = done['asyncops_job']
    assert meta['stopped_at'] - meta['started_at'] >= 1.0  # at the limit, never before


def test_a_kill_stops_the_running_steps_tree_skips_the_rest_and_runs_always(store, tmp_path):
    """mode=kill on a chain: the running step's tree (a grandchild that ignores SIGTERM included) is stopped, the
    later steps never start, and the always step runs to its end (a kill does not stop it)."""
    started, marker = tmp_path / 'started', str(tmp_path / 'kill-tree')
    release, cleaned = tmp_path / 'release', tmp_path / 'cleaned'
    script = "(trap '' TERM; while :; do sleep 0.1; done; : %s) & touch %s; while :; do sleep 0.1; done" % (
        marker,
        started,
    )
    cleanup = 'touch %s.started; while [ ! -e %s ]; do sleep 0.05; done; touch %s' % (cleaned, release, cleaned)
    start(
        store, 'j7.1', [sh('true', 'first'), sh(script, 'long'), sh('true', 'never')], always=[sh(cleanup, 'cleanup')]
    )
    wait_for(started)
    assert pids_with(marker)
    jobs = job_status.Jobs(store)
    running = jobs.status('j7.1')
    assert running['current_step'] == {'index': 1, 'name': 'long'}
    os.kill(running['asyncops_job']['supervisor_pid'], signal.SIGTERM)
    wait_for(str(cleaned) + '.started')
    assert pids_with(marker) == []
    assert jobs.status('j7.1')['current_step'] == {'index': 3, 'name': 'cleanup'}
    os.kill(running['asyncops_job']['supervisor_pid'], signal.SIGTERM)  # a second kill: the always step goes on
    (tmp_path / 'release').touch()
    done = wait_done(store, 'j7.1')
    assert cleaned.exists()
    assert states(done) == ['ok', 'failed', 'skipped', 'ok']
    assert done['failed'] and done['killed'] and done['asyncops_job']['state'] == 'killed'
    assert done['results'][1]['killed'] and done['results'][2]['msg'] == 'not run: the chain was killed before'
    assert done['msg'].startswith('the chain was killed on request (asyncops.jobs.async_status mode=kill) while step 1')


def test_kill_through_status_returns_the_finished_chain(store, tmp_path):
    started = tmp_path / 'started'
    start(store, 'j8.1', [sh('touch %s; sleep 30' % started, 'long')], always=[sh('echo cleanup', 'cleanup')])
    wait_for(started)
    killed = job_status.Jobs(store).kill('j8.1', max_wait=30)
    assert killed['finished'] and killed['killed'] and not killed['failed']
    assert states(killed) == ['failed', 'ok'] and killed['results'][1]['stdout'] == 'cleanup'


def test_status_shows_the_current_step_and_the_tail_of_its_output(store, tmp_path):
    go = tmp_path / 'go'
    start(
        store,
        'j9.1',
        [
            sh('echo first-step-line', 'first'),
            sh('echo second-step-line; while [ ! -e %s ]; do sleep 0.05; done' % go, 'second'),
        ],
    )
    jobs = job_status.Jobs(store)
    wait_until(lambda: jobs.status('j9.1').get('stdout_tail') == ['second-step-line'])
    running = jobs.status('j9.1')
    assert running['current_step'] == {'index': 1, 'name': 'second'} and not running['finished']
    go.touch()
    assert not wait_done(store, 'j9.1')['failed']


def test_each_steps_payload_runs_through_a_held_descriptor_and_is_removed_when_its_step_ends(store, tmp_path):
    """A module step's payload and args are handed over as /proc/<supervisor>/fd/N (never inherited) and removed the
    moment that step ended; a later step's are there until it runs; those of steps never run go with the chain."""
    go = tmp_path / 'go'
    script = b'#!/bin/sh\necho "payload $0 args $(cat "$1")"\n'
    step = {
        'argv': ['{payload}', '{args}'],
        'payload': base64.b64encode(script).decode(),
        'args_data': 'ARGS',
        'result_style': 'command',
    }
    record = start(
        store,
        'j10.1',
        [
            dict(step, name='one'),
            sh('while [ ! -e %s ]; do sleep 0.05; done' % go, 'wait'),
            dict(step, name='two'),
            sh('exit 1', 'fail'),
            dict(step, name='never'),
        ],
    )
    side = store.side_dir('j10.1')
    wait_until(lambda: job_status.Jobs(store).status('j10.1').get('current_step', {}).get('index') == 1)
    present = sorted(name for name in os.listdir(side) if name.startswith(('payload', 'args')))
    assert present == ['args.2', 'args.4', 'payload.2', 'payload.4']
    go.touch()
    done = wait_done(store, 'j10.1')
    held = 'payload /proc/%d/fd/' % record['asyncops_job']['supervisor_pid']
    assert done['results'][0]['stdout'].startswith(held) and done['results'][0]['stdout'].endswith('args ARGS')
    assert done['results'][2]['stdout'].startswith(held)
    assert states(done) == ['ok', 'ok', 'ok', 'failed', 'skipped']
    assert [name for name in os.listdir(side) if name.startswith(('payload', 'args'))] == []


def test_what_an_earlier_step_left_running_is_no_part_of_a_later_steps_tree(store, tmp_path):
    """leftovers=keep: a daemon started by step 0 goes on (reported by step 0), and step 1's time limit, which stops
    step 1's tree, leaves it running."""
    marker = 'sleep 1017'
    start(
        store, 'j11.1', [sh('nohup %s >/dev/null 2>&1 & exit 0' % marker, 'daemon'), sh('sleep 30', 'slow', timeout=1)]
    )
    done = wait_done(store, 'j11.1')
    try:
        assert states(done) == ['ok', 'failed'] and done['results'][1]['timedout']
        assert len(done['results'][0]['leftovers']) == 1 and 'leftovers' not in done['results'][1]
        assert pids_with(marker) == done['results'][0]['leftovers']
        assert any(w.startswith('step 0 (daemon): the job left 1 process(es) running') for w in done['warnings'])
    finally:
        for pid in pids_with(marker):
            os.kill(pid, signal.SIGKILL)


def test_a_lost_chain_names_its_step_and_its_orphans_are_stopped(store, tmp_path):
    started, marker = tmp_path / 'started', str(tmp_path / 'lost-chain')
    record = start(
        store,
        'j12.1',
        [sh('true', 'first'), sh('touch %s; while :; do sleep 0.1; done; : %s' % (started, marker), 'second')],
    )
    wait_for(started)
    # the running record names a step once its process runs (it holds the step's process group): wait for it
    wait_until(lambda: job_status.Jobs(store).status('j12.1').get('current_step', {}).get('index') == 1)
    os.kill(record['asyncops_job']['supervisor_pid'], signal.SIGKILL)
    wait_until(lambda: not proc.is_alive(protocol.supervisor_identity(record['asyncops_job'])))
    lost = job_status.Jobs(store).status('j12.1')
    assert lost['lost'] and 'it was running step 1 (second)' in lost['msg']
    wait_until(lambda: pids_with(marker) == [])


def test_under_no_log_messages_name_no_step_and_every_entry_is_marked(store):
    start(
        store,
        'j13.1',
        [sh('echo SECRET_OUT; exit 1', 'dump SECRET_DB')],
        always=[sh('true', 'rm SECRET_DB')],
        no_log=True,
    )
    done = wait_done(store, 'j13.1')
    assert done['failed'] and 'SECRET' not in done['msg'] and done['msg'].startswith('step 0 failed: details censored')
    assert all(entry['_ansible_no_log'] for entry in done['results'])
    assert protocol.record_no_log(done)


def test_chains_as_batch_items_each_run_whole_and_concurrency_counts_chains(store, tmp_path):
    """concurrency 1: item 1's first step starts after item 0's always step ended."""
    log = tmp_path / 'log'
    batch = 'j14.2'
    specs = []
    for index in range(2):
        jid = protocol.item_jid(batch, index)
        job = {
            'steps': [sh('echo %d-a >> %s' % (index, log)), sh('echo %d-b >> %s' % (index, log))],
            'always': [sh('echo %d-always >> %s' % (index, log))],
        }
        specs.append(protocol.batch_item_spec(spec_of(store, jid, job, {'grace': 0.2, 'concurrency': 1}), batch, index))
    launch_batch(store, batch, specs, {'concurrency': 1})
    done = job_status.Jobs(store).wait([batch], 60)[0]
    assert done['finished'] and not done['failed']
    assert log.read_text().split() == ['0-a', '0-b', '0-always', '1-a', '1-b', '1-always']
    items = job_status.Jobs(store).wait(done['jobs'], 5)
    assert [states(item) for item in items] == [['ok', 'ok', 'ok']] * 2


@pytest.mark.parametrize(
    'job, expected',
    [
        ({'argv': ['true'], 'steps': [{'argv': ['true']}]}, 'has both argv and steps'),
        ({'always': [{'argv': ['true']}]}, 'has always steps but no steps'),
        ({}, 'needs argv (what to run), or steps'),
        ({'steps': [{'argv': ['true'], 'timeout': -1}]}, 'jobs[0].steps[0].timeout must be 0'),
        (
            {'steps': [{'argv': ['true']}], 'always': [{'argv': ['true'], 'timeout': 0}]},
            'jobs[0].always[0].timeout must be a positive number of seconds (or none: 60s)',
        ),
    ],
)
def test_the_wrapper_refuses_jobs_that_are_not_a_command_nor_a_chain(job, expected):
    found = problems({'jobs': [job], 'concurrency': None, 'timeout': 0})
    assert len(found) == 1 and expected in found[0], found


def test_an_always_step_without_a_timeout_is_bounded_by_the_default(store):
    spec = spec_of(
        store,
        'j15.1',
        {'steps': [sh('true')], 'always': [sh('true'), sh('true', timeout=5)]},
        {'grace': 0.2, 'concurrency': None},
    )
    assert [step['time_limit'] for step in spec['steps']] == [0.0, protocol.DEFAULTS['always_timeout'], 5.0]
    assert spec['module'] == 'steps: command (always: command, command)'
    assert protocol.always_bound([{}, {'timeout': 5}], 0.5) == protocol.DEFAULTS['always_timeout'] + 5 + 1.0


def test_a_running_chains_record_is_json_readable_by_ansible_core(store, tmp_path):
    go = tmp_path / 'go'
    start(store, 'j16.1', [sh('while [ ! -e %s ]; do sleep 0.05; done' % go, 'wait')])
    with open(store.record_path('j16.1')) as f:
        raw = json.load(f)
    assert raw['started'] and not raw['finished']  # what ansible.builtin.async_status needs
    go.touch()
    assert not wait_done(store, 'j16.1')['failed']


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to start a process as another user')
def test_no_process_a_step_starts_inherits_or_can_open_any_steps_payload_and_args(store, tmp_path):
    """As for a job (test__job_supervisor): a root step that hands work to another user gives that user no descriptor
    of its payload or args, nor of a later step's (not opened yet), and no path it can open; a child of the step's
    own user inherits none either."""
    from ansible_collections.asyncops.jobs.tests.unit.plugins.module_utils.test__job_supervisor import NOBODY, PROBE

    probe = tmp_path / 'probe.py'
    probe.write_text(PROBE)
    later = [store.side_file('j17.1', name) for name in ('payload.1', 'args.1')]
    script = '#!/bin/sh\n# SECRET_PAYLOAD\n"%s" "%s" 0 "$0" "$1" %s\n"%s" "%s" %d "$0" "$1" %s\n' % (
        sys.executable,
        probe,
        ' '.join(later),
        sys.executable,
        probe,
        NOBODY,
        ' '.join(later),
    )
    step = {
        'argv': ['sh', '{payload}', '{args}'],
        'payload': base64.b64encode(script.encode()).decode(),
        'args_data': 'password=SECRET_ARGS',
        'result_style': 'command',
    }
    start(store, 'j17.1', [dict(step, name='probe'), dict(step, name='later')])
    done = wait_done(store, 'j17.1')
    assert states(done) == ['ok', 'ok'], done
    same, other = [json.loads(line) for line in done['results'][0]['stdout'].splitlines()]
    assert other == {'uid': NOBODY, 'held': [], 'readable': []}
    assert same['uid'] == 0 and same['held'] == []
    assert len(same['readable']) == 4  # its own user may open the paths: its own, and the later step's files


def test_a_chain_item_that_fails_is_started_again_whole_with_its_steps_inputs(store, tmp_path):
    """item_retries with steps: a chain whose last step fails the first time is started again from its first step;
    each step's payload and args are still there for the second attempt (a payload step runs in both), and every
    input file is gone once the item ended."""
    counter = tmp_path / 'runs'
    script = b'#!/bin/sh\necho "payload args $(cat "$1")"\n'
    payload_step = {
        'argv': ['{payload}', '{args}'],
        'payload': base64.b64encode(script).decode(),
        'args_data': 'ARGS',
        'result_style': 'command',
        'name': 'module',
    }
    flaky = 'n=$(cat %s 2>/dev/null || echo 0); n=$((n+1)); echo $n > %s; [ $n -gt 1 ]' % (counter, counter)
    batch = 'j18.1'
    jid = protocol.item_jid(batch, 0)
    job = {'steps': [payload_step, sh(flaky, 'flaky')], 'always': [sh('true', 'always')]}
    specs = [protocol.batch_item_spec(spec_of(store, jid, job, {'grace': 0.2, 'concurrency': 1}), batch, 0)]
    launch_batch(store, batch, specs, {'concurrency': 1, 'item_retries': 1, 'item_retry_delay': 0})
    done = job_status.Jobs(store).wait([batch], 60)[0]
    assert done['finished'] and not done['failed'], done
    item = job_status.Jobs(store).wait(done['jobs'], 5)[0]
    assert item['attempts'] == 2 and item['previous_attempts'][0]['state'] == 'failed'
    assert states(item) == ['ok', 'ok', 'ok']
    assert item['results'][0]['stdout'] == 'payload args ARGS'
    assert counter.read_text().strip() == '2'
    assert [name for name in os.listdir(store.side_dir(jid)) if name.startswith(('payload', 'args'))] == []
