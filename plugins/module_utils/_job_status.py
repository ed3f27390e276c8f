# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Reading a job's state: status (with lost-job detection and output tail), wait, kill, list, cleanup.

Works on records written by this collection's wrapper and by ansible-core's own
async_wrapper (those carry no process identity, so they cannot be judged lost or killed).
"""

from __future__ import annotations

import signal
import time

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_process as proc
from ansible_collections.asyncops.jobs.plugins.module_utils._job_result import clip_text, read_bytes
from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import META_KEY, JobStoreError, read_tail, tail_lines

WAIT_INTERVAL = 0.05
TAIL_BYTES = 64 * 1024


def job_meta(record):
    meta = record.get(META_KEY)
    return meta if isinstance(meta, dict) else None


def supervisor_identity(meta):
    return {'pid': meta.get('supervisor_pid'), 'start_ticks': meta.get('supervisor_start_ticks'),
            'boot_id': meta.get('boot_id')}


def is_finished(record):
    """ansible.builtin.async_status's rule: a record without 'started' is a finished module result."""
    if 'started' not in record:
        return True
    return bool(record.get('finished'))


def missing_job(store, jid):
    return {'failed': True, 'started': True, 'finished': True, 'ansible_job_id': jid,
            'results_file': store.record_path(jid),
            'msg': 'could not find job %s in %s: it was never started here, was already cleaned up, or was started '
                   'as another user (use the same become settings for launch and status)' % (jid, store.path)}


def status(store, jid, tail=10):
    """The job's current record, normalised like ansible.builtin.async_status's, judging lost jobs."""
    record = store.read(jid)
    if record is None:
        return missing_job(store, jid)
    if not record:  # ansible-core's wrapper is between creating and writing the file
        return {'started': True, 'finished': False, 'ansible_job_id': jid, 'results_file': store.record_path(jid)}
    if is_finished(record):
        return _finished(record, jid)
    meta = job_meta(record)
    if meta is None:
        record.setdefault('ansible_job_id', jid)
        return record
    if not proc.is_alive(supervisor_identity(meta)):
        again = store.read(jid)  # the supervisor may have finished between our two looks
        if again and is_finished(again):
            return _finished(again, jid)
        return mark_lost(store, jid, record, meta)
    return _running(record, meta, tail)


def _finished(record, jid):
    record['finished'] = True
    record.setdefault('started', True)
    record.setdefault('ansible_job_id', jid)
    return record


def _running(record, meta, tail):
    now = time.time()
    record['elapsed'] = round(now - meta.get('started_at', now), 3)
    if meta.get('time_limit'):
        record['remaining'] = round(max(0.0, meta['started_at'] + meta['time_limit'] - now), 3)
    if tail:
        out, _cut = read_tail(meta.get('stdout_file', ''), TAIL_BYTES)
        err, _cut = read_tail(meta.get('stderr_file', ''), TAIL_BYTES)
        record['stdout_tail'] = tail_lines(out, tail)
        record['stderr_tail'] = tail_lines(err, tail)
    return record


def mark_lost(store, jid, record, meta):
    """Record a job whose supervisor is gone (kill -9, OOM, reboot) as finished and failed; stop its orphans."""
    termed, _killed = proc.stop_tree(pgid=_trusted_pgid(meta), marker=store.record_path(jid),
                                     grace=meta.get('grace', 0.5))
    out, _cut = clip_text(read_bytes(meta.get('stdout_file') or ''))
    err, _cut = clip_text(read_bytes(meta.get('stderr_file') or ''))
    rebooted = meta.get('boot_id') and proc.boot_id() and meta['boot_id'] != proc.boot_id()
    cause = 'the host rebooted' if rebooted else 'it was killed (kill -9, OOM killer) or crashed'
    msg = ('job lost: its supervisor (pid %s) is gone because %s before the job finished, so no result was '
           'recorded' % (meta.get('supervisor_pid'), cause))
    if termed:
        msg += '; %d orphaned job process(es) still running were stopped' % termed
    now = time.time()
    meta = dict(meta, state='lost', ended_at=now, elapsed=round(now - meta.get('started_at', now), 3))
    lost = {'started': True, 'finished': True, 'failed': True, 'lost': True, 'changed': True,
            'ansible_job_id': jid, 'results_file': store.record_path(jid), 'msg': msg,
            'stdout': out, 'stderr': err, META_KEY: meta}
    try:
        store.write(jid, lost)
    except OSError:
        pass  # cleaned up meanwhile, or unwritable: the verdict is still returned
    return lost


def _trusted_pgid(meta):
    pgid = meta.get('pgid')
    return pgid if pgid and _group_is_ours(pgid, meta) else None


def _group_is_ours(pgid, meta):
    """A process group id is only trusted while its leader is still our job (or has exited: ids of live groups are never reused)."""
    ticks = proc.start_ticks(pgid)
    return ticks is None or ticks == meta.get('job_start_ticks')


def wait(store, jids, timeout, tail=10):
    """Statuses of jids, returning as soon as all are finished or timeout seconds passed.

    A finished record never changes again, and the wait can only end once the first unfinished job
    finished: so each look re-reads that job alone (with a batch listed first, the batch record alone),
    and everything still unfinished is read once more before returning, for a current picture.
    """
    deadline = time.time() + max(0.0, timeout)
    results = [status(store, jid, tail=tail) for jid in jids]
    looked_at = set(range(len(jids)))
    while True:
        waiting = [index for index, record in enumerate(results) if not record.get('finished')]
        if not waiting or time.time() >= deadline:
            break
        time.sleep(min(WAIT_INTERVAL, max(0.0, deadline - time.time())))
        looked_at = set()
        for index in waiting:
            results[index] = status(store, jids[index], tail=tail)
            looked_at.add(index)
            if not results[index].get('finished'):
                break
    for index in waiting:
        if index not in looked_at:
            results[index] = status(store, jids[index], tail=tail)
    return results


def kill(store, jid, timeout=10.0):
    """Stop a running job's whole tree via its supervisor (or directly if the supervisor is gone).

    The kill request itself succeeds (failed=false, changed when something was stopped); the job's
    record, as later status calls return it, says failed and killed.
    """
    current = status(store, jid, tail=0)
    if current.get('finished'):
        if not store.exists(jid):
            return current  # no such job: a failure
        return dict(current, failed=False, changed=False, killed=bool(current.get('killed')),
                    msg='job %s had already finished (%s); nothing to kill' % (jid, job_state(current)))
    meta = job_meta(current)
    if meta is None:
        raise JobStoreError('job %s was started by ansible-core\'s own async_wrapper, whose records name no process: '
                            'it cannot be killed by job id' % jid)
    proc.signal_pids([meta['supervisor_pid']], signal.SIGTERM)
    deadline = time.time() + timeout + float(meta.get('grace', 0.5))
    while time.time() < deadline:
        current = status(store, jid, tail=0)
        if current.get('finished'):
            return dict(current, failed=False, changed=True, killed=True)
        time.sleep(WAIT_INTERVAL / 2)
    raise JobStoreError('job %s did not stop within %ss of the kill request' % (jid, timeout))


def job_state(record):
    """pending, running, succeeded, failed, timedout, killed, lost or skipped."""
    if not record.get('finished'):
        return 'pending' if (job_meta(record) or {}).get('state') == 'pending' else 'running'
    state = (job_meta(record) or {}).get('state')
    if state in (None, 'running'):
        state = 'failed' if record.get('failed') else 'succeeded'
    return state


def describe(store, jid):
    """One line of `mode: list`: id, state, age and what ran."""
    record = status(store, jid, tail=0)
    meta = job_meta(record) or {}
    now = time.time()
    mtime = store.mtime(jid) or now
    started_at = meta.get('started_at') or mtime
    return {
        'ansible_job_id': jid,
        'state': job_state(record),
        'finished': bool(record.get('finished')),
        'failed': bool(record.get('failed')),
        'age': round(now - mtime, 3),
        'started_at': started_at,
        'elapsed': round((meta.get('ended_at') or now) - started_at, 3),
        'module': meta.get('module'),
        'wrapper': 'asyncops.jobs' if job_meta(record) else 'ansible.builtin',
        'results_file': store.record_path(jid),
    }


def cleanup(store, jid):
    """Remove a job's record and files (a batch's: its items' too); a running job keeps running but can
    no longer rewrite them."""
    current = status(store, jid, tail=0)
    if current.get('failed') and not store.exists(jid):
        return current
    items = remove_with_items(store, jid, current)
    result = {'ansible_job_id': jid, 'erased': store.record_path(jid), 'started': True, 'finished': True}
    if items:
        result['erased_jobs'] = items
    if not current.get('finished'):
        result['warnings'] = ['job %s was still running: its record is removed and its result will be discarded '
                              '(use mode=kill to stop it)' % jid]
    return result


def erase_finished(store, records):
    """Remove the records of finished jobs just read (a batch's items with it); True if all were finished.

    Nothing is removed unless every job finished, so a status round never loses a result still to come.
    """
    if not all(record.get('finished') for record in records):
        return False
    for record in records:
        jid = record.get('ansible_job_id')
        if jid and store.exists(jid):
            remove_with_items(store, jid, record)
    return True


def remove_with_items(store, jid, record):
    """Remove a record and its files; for a batch, its items' too. Returns the batch's item ids (or None)."""
    items = record.get('jobs') if (job_meta(record) or {}).get('kind') == 'batch' else None
    store.remove(jid)
    for item in items or []:
        store.remove(item)
    return items


def prune(store, older_than):
    """Remove finished records whose last change is more than older_than seconds ago; never running ones."""
    now = time.time()
    erased = []
    for jid in store.jids():
        mtime = store.mtime(jid)
        if mtime is None or now - mtime < older_than:
            continue
        if status(store, jid, tail=0).get('finished'):
            store.remove(jid)
            erased.append(jid)
    for jid in store.orphan_side_dirs():
        store.remove(jid)
    return erased
