# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""async_status on an async dir holding what is not a readable job record: one bad file blocks nothing."""
from __future__ import annotations

import json
import os
import time

from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import JobStore
from ansible_collections.asyncops.jobs.plugins.module_utils._job_supervisor import launch


def finished_job(store, jid):
    store.create_side_dir(jid)
    launch(store, {'jid': jid, 'module': 'test', 'argv': ['true'], 'result_style': 'command', 'cmd': 'true',
                   'time_limit': 0, 'grace': 0.2})
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
