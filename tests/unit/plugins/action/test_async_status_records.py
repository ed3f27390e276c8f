# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""async_status on an async dir holding what is not a readable job record: one bad file blocks nothing."""

from __future__ import annotations

import json
import os
import time

from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import DELIVERED_STAMP, JobStore
from ansible_collections.asyncops.jobs.plugins.module_utils._job_supervisor import launch


def finished_job(store, jid):
    store.create_side_dir(jid)
    launch(
        store,
        {
            'jid': jid,
            'module': 'test',
            'argv': ['true'],
            'result_style': 'command',
            'cmd': 'true',
            'time_limit': 0,
            'grace': 0.2,
        },
    )
    for _attempt in range(200):
        record = store.read(jid)
        if record and record.get('finished'):
            return
        time.sleep(0.02)
    raise AssertionError('job %s did not finish' % jid)


def plant(async_dir, name, content):
    fd = os.open(os.path.join(async_dir, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(content)


def status(make_action, **args):
    action, task_vars = make_action('async_status', args)
    return action.run(task_vars=task_vars)


def test_an_unreadable_record_is_skipped_by_list_and_prune_and_removed_by_its_jid(make_action, async_dir):
    store = JobStore(async_dir).ensure()
    finished_job(store, 'j40.1')
    plant(async_dir, 'j41.1', '{"started": 1, "finished": 0, "stdout": "SECRET_CORRUPT_6')  # cut short
    listed = status(make_action, mode='list')
    assert not listed.get('failed'), listed.get('msg')
    assert [job['ansible_job_id'] for job in listed['jobs']] == ['j40.1']
    assert 'skipped job j41.1' in repr(listed['warnings'])
    assert 'SECRET' not in repr(listed)
    pruned = status(make_action, mode='cleanup', older_than=0)
    assert not pruned.get('failed'), pruned.get('msg')
    assert pruned['jobs'] == ['j40.1'] and 'skipped job j41.1' in repr(pruned['warnings'])
    assert 'SECRET' not in repr(pruned)
    assert os.path.exists(os.path.join(async_dir, 'j41.1'))
    removed = status(make_action, jid='j41.1', mode='cleanup')
    assert not removed.get('failed'), removed.get('msg')
    assert not os.path.exists(os.path.join(async_dir, 'j41.1'))
    assert 'SECRET' not in repr(removed)


def test_prune_leaves_files_that_are_not_job_records(make_action, async_dir):
    """An async dir pointed at a directory that holds other JSON files: only job records are pruned."""
    store = JobStore(async_dir).ensure()
    finished_job(store, 'j42.1')
    plant(async_dir, 'package.json', '{"name": "app", "version": "1.0.0"}')
    plant(async_dir, 'j43.1', '{"name": "app", "version": "1.0.0"}')  # a job's name, not a record's content
    pruned = status(make_action, mode='cleanup', older_than=0)
    assert pruned['jobs'] == ['j42.1']
    assert sorted(name for name in os.listdir(async_dir) if not name.startswith('.')) == ['j43.1', 'package.json']
    listed = status(make_action, mode='list')
    assert listed['jobs'] == []


def test_records_of_ansible_core_and_of_batch_items_are_still_pruned(make_action, async_dir):
    JobStore(async_dir).ensure()
    plant(async_dir, 'j123456.789', json.dumps({'changed': False, 'ping': 'pong', 'invocation': {'module_args': {}}}))
    plant(async_dir, '4242.77', json.dumps({'rc': 0, 'stdout': 'x', 'changed': True}))  # an older core's job id
    pruned = status(make_action, mode='cleanup', older_than=0)
    assert sorted(pruned['jobs']) == ['4242.77', 'j123456.789']


def age(path, seconds):
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


TWO_DAYS = 2 * 86400


def test_prune_never_removes_what_the_engine_did_not_make(make_action, async_dir, tmp_path):
    """An async dir pointed at a private directory holding the user's own files with names like the engine's."""
    os.makedirs(async_dir, mode=0o700)
    plant(async_dir, '.build.stdout', 'the build log')
    os.makedirs(os.path.join(async_dir, '.deploy.job'))
    plant(async_dir, '.deploy.job/config', 'deploy config')
    plant(async_dir, '.key-backup', 'a backup key')
    os.makedirs(os.path.join(async_dir, '.photos.removed.2024'))
    plant(async_dir, '.photos.removed.2024/img1', 'a photo')
    os.makedirs(os.path.join(async_dir, '.j7.7.job'))  # named as a side dir of ours, made by someone else
    plant(async_dir, '.j7.7.job/notes', 'notes')
    plant(async_dir, '.key-' + 'a' * 40, 'not a job id')  # named as a key file, not written as one
    for name in (
        '.build.stdout',
        '.deploy.job/config',
        '.deploy.job',
        '.key-backup',
        '.photos.removed.2024/img1',
        '.photos.removed.2024',
        '.j7.7.job/notes',
        '.j7.7.job',
        '.key-' + 'a' * 40,
    ):
        age(os.path.join(async_dir, name), TWO_DAYS)
    before = sorted(
        os.path.relpath(os.path.join(root, name), async_dir)
        for root, dirs, files in os.walk(async_dir)
        for name in dirs + files
    )
    pruned = status(make_action, mode='cleanup', older_than=3600)
    assert not pruned.get('failed'), pruned.get('msg')
    after = sorted(
        os.path.relpath(os.path.join(root, name), async_dir)
        for root, dirs, files in os.walk(async_dir)
        for name in dirs + files
    )
    assert after == before
    assert pruned['jobs'] == [] and pruned['removed'] == [] and not pruned['changed']


def test_prune_removes_and_reports_what_the_engine_made_and_left(make_action, async_dir):
    """A side dir whose record is gone, the whole output of a clipped result kept after its record went, a key file
    whose job is gone, the note of a collected job: removed once old enough, and said."""
    store = JobStore(async_dir).ensure()
    store.create_side_dir('j50.1')  # a launch that died before the record was written
    store.release_starting('j50.1')
    run, task_vars = make_action(
        'async_run',
        {
            'module': 'ansible.builtin.shell',
            'poll': 1,
            'output_limit': 1024,
            'args': {'cmd': 'head -c 5000 /dev/zero | tr "\\0" x'},
            'key': 'K',
        },
    )
    clipped = run.run(task_vars=task_vars)  # collected: a note, and the kept output
    assert clipped['output_truncated'] and os.path.isfile(clipped['stdout_file'])
    kept_dir = os.path.dirname(clipped['stdout_file'])
    plant(async_dir, '.key-' + 'b' * 40, 'asyncops.jobs key of job:\nj999.1\n')  # its job is gone
    for name in os.listdir(async_dir):
        age(os.path.join(async_dir, name), TWO_DAYS)
    pruned = status(make_action, mode='cleanup', older_than=3600)
    assert pruned['jobs'] == [clipped['ansible_job_id']] and pruned['changed']
    assert sorted(pruned['removed']) == sorted(
        [os.path.join(async_dir, '.j50.1.job'), kept_dir, os.path.join(async_dir, '.key-' + 'b' * 40)]
    )
    # what stays is the stamp of delivered copies (it says when they were last swept; no job's data)
    assert os.listdir(async_dir) == [DELIVERED_STAMP]
