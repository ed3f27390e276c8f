# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Reading a job's state: status (with lost-job detection and output tail), wait, kill, list, cleanup.

Works on records written by this collection's wrapper and by ansible-core's own async_wrapper
(those carry no process identity, so they cannot be judged lost or killed). Every record used
here passed the store's ownership checks, so the process identities in it are ours; a signal is
still only sent to a process whose pid, start time and boot id match the record.
"""

from __future__ import annotations

import datetime
import fnmatch
import json
import os
import signal
import stat
import time
import typing as t

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_process as proc
from ansible_collections.asyncops.jobs.plugins.module_utils import _job_protocol as protocol
from ansible_collections.asyncops.jobs.plugins.module_utils._job_keys import forget_key, stale_keys
from ansible_collections.asyncops.jobs.plugins.module_utils._job_outcome import Captured, add_warnings
from ansible_collections.asyncops.jobs.plugins.module_utils._job_protocol import (
    DEFAULTS,
    is_finished,
    is_note,
    job_meta,
    job_state,
    looks_like_record,
    supervisor_identity,
)
from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import (
    KILL_REQUEST_FILE,
    TOKEN_FILE,
    JobStore,
    JobStoreError,
    UnreadableRecord,
    check_ours,
    dump_record,
    remove_task_tmp_dir,
    tail_lines,
)

if t.TYPE_CHECKING:
    from ansible_collections.asyncops.jobs.plugins.module_utils._job_types import JobMeta

Record = t.Dict[str, t.Any]

WAIT_INTERVAL = 0.05
TAIL_BYTES = 64 * 1024
UNTRACKED_NOTE = (
    '. Processes that left the job\'s session and cleared its environment after the supervisor died '
    'cannot be found (see "The job tree" in the docs)'
)


def utc_text(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime('%Y-%m-%d %H:%M:%S UTC')


def collected_note(jid: str, record: t.Mapping[str, t.Any], results_file: str, now: float) -> Record:
    """What stays of a job once its result was delivered: that it was, when, and how it ended (never its output).

    ansible.builtin.async_status reads it as a finished, failed job whose msg says so."""
    meta: t.Mapping[str, t.Any] = job_meta(record) or {}
    note_meta: dict[str, t.Any] = {key: meta[key] for key in protocol.NOTE_META_KEYS if key in meta}
    note_meta.update(state=protocol.COLLECTED, collected_at=now, result_state=job_state(record))
    return protocol.new_record(
        jid,
        results_file,
        note_meta,
        finished=True,
        fields={
            'failed': True,
            'collected': True,
            'msg': 'the result of job %s was already collected at %s: it was returned once (by the status call or task '
            'that got it) and removed from the target. Register the result of that call to use it again; '
            'mode=cleanup removes this note' % (jid, utc_text(now)),
        },
    )


def _finished(record: Record, jid: str) -> Record:
    record['finished'] = True
    record.setdefault('started', True)
    record.setdefault('ansible_job_id', jid)
    return record


def last_line(record: t.Mapping[str, t.Any]) -> str | None:
    """The last line a job wrote: of its output so far while it runs, of its result's stdout (else stderr, else msg)
    once it ended; at most 200 characters."""
    for key in ('stdout_tail', 'stderr_tail'):
        lines = record.get(key)
        if isinstance(lines, list) and lines:
            return str(lines[-1])[:200]
    if record.get('finished'):
        for key in ('stdout', 'stderr', 'msg'):
            text = record.get(key)
            if isinstance(text, str) and text.strip():
                return text.strip().splitlines()[-1][:200]
    return None


def selected(row: t.Mapping[str, t.Any], key: str | None, states: t.Sequence[str]) -> bool:
    """Whether a listed job passes the filters of `mode: list` (see Jobs.list_all)."""
    if key is not None and not (row.get('key') == key or (row.get('key') and fnmatch.fnmatchcase(row['key'], key))):
        return False
    if states:
        return any(
            row['state'] == state or (state == 'finished' and row['finished']) or (state == 'failed' and row['failed'])
            for state in states
        )
    return True


class Jobs:
    """The jobs of one async dir, as seen by one status call.

    read_only (check mode): judge lost jobs but do not record the verdict or stop their orphans.
    One scan of /proc serves every verdict of the call."""

    def __init__(self, store: JobStore, read_only: bool = False, no_log: bool = False) -> None:
        self.store = store
        self.read_only = read_only
        self.no_log = no_log  # the status task's: messages name processes by pid only
        self._table: proc.ProcessTable | None = None

    @property
    def table(self) -> proc.ProcessTable:
        if self._table is None:
            self._table = proc.ProcessTable()
        return self._table

    def missing(self, jid: str) -> Record:
        collected = self.collected_with_batch(jid)
        if collected is not None:
            return collected
        return {
            'failed': True,
            'started': True,
            'finished': True,
            'ansible_job_id': jid,
            'results_file': self.store.record_path(jid),
            'msg': 'could not find job %s in %s: it was never started here, was already cleaned up, or was started '
            'as another user (use the same become settings for launch and status)' % (jid, self.store.path),
        }

    def collected_with_batch(self, jid: str) -> Record | None:
        """The answer for an item whose batch was collected (items go with their batch, only the batch keeps a note)."""
        batch_jid = protocol.batch_of(jid)
        if batch_jid is None:
            return None
        try:
            batch = self.store.read(batch_jid)
        except JobStoreError:
            return None
        if not batch or not is_note(batch) or not protocol.is_batch(batch):
            return None
        meta = job_meta(batch) or {}
        item_meta = {
            'state': protocol.COLLECTED,
            'kind': protocol.ITEM,
            'batch_jid': batch_jid,
            'collected_at': meta.get('collected_at'),
            'no_log': bool(meta.get('no_log')),
        }
        return protocol.new_record(
            jid,
            self.store.record_path(jid),
            item_meta,
            finished=True,
            fields={
                'failed': True,
                'collected': True,
                'msg': 'job %s is an item of batch %s, whose results were already collected at %s: they were returned once '
                'and removed from the target' % (jid, batch_jid, utc_text(float(meta.get('collected_at') or 0))),
            },
        )

    # -- status --------------------------------------------------------------------------
    def status(self, jid: str, tail: int = 10) -> Record:
        """The job's current record, normalised like ansible.builtin.async_status's, judging lost jobs."""
        record = self.store.read(jid)
        if record is None:
            return self.missing(jid)
        if not record:  # ansible-core's wrapper is between creating and writing the file
            return {
                'started': True,
                'finished': False,
                'ansible_job_id': jid,
                'results_file': self.store.record_path(jid),
            }
        if is_finished(record):
            return _finished(record, jid)
        meta = job_meta(record)
        if meta is None:
            record.setdefault('ansible_job_id', jid)
            return record
        if not proc.is_alive(supervisor_identity(meta)):
            again = self.store.read(jid)  # the supervisor may have finished between our two looks
            if again and is_finished(again):
                return _finished(again, jid)
            return self.mark_lost(jid, meta)
        return self._running(jid, record, meta, tail)

    def _running(self, jid: str, record: Record, meta: JobMeta, tail: int) -> Record:
        now = time.time()
        record['elapsed'] = round(now - meta.get('started_at', now), 3)
        if meta.get('time_limit'):
            record['remaining'] = round(max(0.0, meta['started_at'] + meta['time_limit'] - now), 3)
        step = protocol.current_step(meta)
        if step is not None:
            record['current_step'] = step  # a chain: the step that runs, whose output the tails are
        if tail:
            record['stdout_tail'] = tail_lines(self._tail_text(jid, protocol.output_file(meta, 'stdout')), tail)
            record['stderr_tail'] = tail_lines(self._tail_text(jid, protocol.output_file(meta, 'stderr')), tail)
        return record

    def _tail_text(self, jid: str, name: str) -> str:
        head, last, _size = self.store.read_output(jid, name, 0, TAIL_BYTES)
        return (head + last).decode('utf-8', 'replace')

    def _output(self, jid: str, name: str) -> str:
        half = DEFAULTS['output_limit'] // 2
        return Captured(*self.store.read_output(jid, name, half, half)).text()

    def mark_lost(self, jid: str, meta: JobMeta) -> Record:
        """A job whose supervisor is gone (kill -9, OOM, reboot) is finished and failed; its orphans are stopped.

        In read-only mode the verdict is returned but neither recorded nor acted on."""
        rebooted = proc.from_another_boot(meta.get('boot_id'))
        cause = 'the host rebooted' if rebooted else 'it was killed (kill -9, OOM killer) or crashed'
        msg = (
            'job lost: its supervisor (pid %s) is gone because %s before the job finished, so no result was '
            'recorded' % (meta.get('supervisor_pid'), cause)
        )
        step = protocol.current_step(meta)
        if step is not None:  # a chain: which step ran (its name only without no_log); its output is the step's
            name = '' if meta.get('no_log') else ' (%s)' % step.get('name')
            msg += '; it was running step %s%s' % (step.get('index'), name)
        if self.read_only:
            msg += ' (check mode: the record was left as it is and no process was stopped)'
        elif not rebooted:
            msg += self._stop_orphans(jid, meta)
        if not self.read_only and meta.get('cleanup_dir'):
            remove_task_tmp_dir(meta['cleanup_dir'])
        now = time.time()
        meta = t.cast(
            'JobMeta',
            dict(meta, state=protocol.LOST, ended_at=now, elapsed=round(now - meta.get('started_at', now), 3)),
        )
        lost = protocol.new_record(
            jid,
            self.store.record_path(jid),
            meta,
            finished=True,
            fields={
                'failed': True,
                'lost': True,
                'changed': True,
                'msg': msg,
                'stdout': self._output(jid, protocol.output_file(meta, 'stdout')),
                'stderr': self._output(jid, protocol.output_file(meta, 'stderr')),
            },
        )
        if not self.read_only:
            try:
                self.store.write(jid, lost)
            except OSError:
                pass  # cleaned up meanwhile, or unwritable: the verdict is still returned
        return lost

    def _stop_orphans(self, jid: str, meta: JobMeta) -> str:
        """Stop what is left of a lost job's tree; says exactly what was and was not stopped."""
        if meta.get('kind') == protocol.BATCH:
            return ''  # its items are judged on their own
        report = proc.stop_tree(
            group=self._trusted_group(meta),
            marker=self._marker(jid),
            grace=meta.get('grace', DEFAULTS['grace']),
            table=self.table,
        )
        if not report.termed and not report.survivors:
            return '; no process of the job was left running' + UNTRACKED_NOTE
        text = '; %d orphaned job process(es) still running were stopped' % report.termed
        if report.survivors:
            text += ', %d could not be stopped: %s' % (
                len(report.survivors),
                proc.describe_pids(
                    report.survivors, commands=not (self.no_log or meta.get('no_log') or meta.get('pids_only'))
                ),
            )
        return text + UNTRACKED_NOTE

    def _trusted_group(self, meta: JobMeta) -> proc.Group | None:
        """The job's process group, as far as it can still be told apart from a group that reuses its id: the
        members of the job's session that started no earlier than the job (and are ours, see ProcessTable); while
        its leader lives, only if the leader is still our job. A record that does not say the job's session and
        start (written before they were recorded) names no group we could trust: None."""
        pgid, session, since = meta.get('pgid'), meta.get('sid'), meta.get('job_start_ticks')
        if not pgid or not session or since is None:
            return None
        leader = self.table.procs.get(pgid)
        if leader is not None and leader[2] != since:
            return None
        return proc.Group(pgid, session, since)

    def _marker(self, jid: str) -> proc.Marker | None:
        """The marker of the job's processes: its record path and the token kept in its side dir (None without)."""
        try:
            token = self.store.read_output(jid, TOKEN_FILE, 256, 0)[0].decode('ascii', 'replace').strip()
        except (JobStoreError, OSError):
            return None
        return proc.Marker(self.store.record_path(jid), token) if token else None

    # -- wait ----------------------------------------------------------------------------
    def wait(self, jids: t.Sequence[str], max_wait: float, tail: int = 10) -> list[Record]:
        """Statuses of jids, returning as soon as all are finished or max_wait seconds passed.

        A finished record never changes again, and the wait can only end once the first unfinished job
        finished: so each look re-reads that job alone (with a batch listed first, the batch record alone),
        and everything still unfinished is read once more before returning, for a current picture.
        """
        deadline = time.time() + max(0.0, max_wait)
        results = [self.status(jid, tail=tail) for jid in jids]
        looked_at = set(range(len(jids)))
        waiting: list[int] = []
        while True:
            waiting = [index for index, record in enumerate(results) if not record.get('finished')]
            if not waiting or time.time() >= deadline:
                break
            time.sleep(min(WAIT_INTERVAL, max(0.0, deadline - time.time())))
            looked_at = set()
            for index in waiting:
                results[index] = self.status(jids[index], tail=tail)
                looked_at.add(index)
                if not results[index].get('finished'):
                    break
        for index in waiting:
            if index not in looked_at:
                results[index] = self.status(jids[index], tail=tail)
        return results

    # -- kill ----------------------------------------------------------------------------
    def kill(self, jid: str, max_wait: float = 10.0) -> Record:
        """Stop a running job's whole tree via its supervisor (or directly if the supervisor is gone).

        A pending (or retrying) batch item is stopped alone: it is marked killed and never starts (again). The batch
        jid stops every item. The kill request itself succeeds (failed=false, changed when something was stopped);
        the job's record, as later status calls return it, says failed and killed.
        """
        current = self.status(jid, tail=0)
        if current.get('finished'):
            if not self.store.exists(jid):
                return current  # no such job: a failure
            return dict(
                current,
                failed=False,
                changed=False,
                killed=bool(current.get('killed')),
                msg='job %s had already finished (%s); nothing to kill' % (jid, job_state(current)),
            )
        meta = job_meta(current)
        if meta is None:
            raise JobStoreError(
                'job %s was started by ansible-core\'s own async_wrapper, whose records name no process: '
                'it cannot be killed by job id' % jid
            )
        if meta.get('kind') == protocol.ITEM and meta.get('state') in protocol.WAITING_STATES:
            # pending or retrying: no process of its own runs, its scheduler answers for it
            self.store.write_side_file_once(jid, KILL_REQUEST_FILE)
            proc.signal_identity(supervisor_identity(meta), signal.SIGUSR1)  # the scheduler: look at kill requests
        else:
            proc.signal_identity(supervisor_identity(meta), signal.SIGTERM)
        return self._await_kill(jid, max_wait + float(meta.get('grace', DEFAULTS['grace'])))

    def _await_kill(self, jid: str, max_wait: float) -> Record:
        deadline = time.time() + max_wait
        signalled: set[int] = set()
        while time.time() < deadline:
            current = self.status(jid, tail=0)
            if current.get('finished'):
                return dict(current, failed=False, changed=True, killed=True)
            meta = job_meta(current) or {}
            pid = meta.get('supervisor_pid')
            if meta.get('state') == protocol.RUNNING and pid not in signalled:
                # a pending item that started before its scheduler saw the request: stop it like any job
                signalled.add(t.cast(int, pid))
                proc.signal_identity(supervisor_identity(meta), signal.SIGTERM)
            time.sleep(WAIT_INTERVAL / 2)
        raise JobStoreError('job %s did not stop within %ss of the kill request' % (jid, max_wait))

    # -- list ----------------------------------------------------------------------------
    def list_all(self, key: str | None = None, states: t.Sequence[str] = ()) -> list[Record]:
        """describe() of every record, oldest first; one that cannot be read is skipped with a warning naming its jid.

        key: only jobs whose key is that, or matches it as a glob (fnmatch); states: only jobs in one of these states
        (protocol.STATES, or `finished` / `failed` for any finished or failed one)."""
        listed = []
        for jid in self.store.jids():
            try:
                row = self.describe(jid)
            except JobStoreError as exc:
                self.skipped(jid, exc)
                continue
            if row is not None and selected(row, key, states):
                listed.append(row)
        return listed

    def is_record(self, jid: str) -> bool:
        """Whether the file named jid is there and has a job record's shape (else it is some other JSON file named
        like one, e.g. in an async dir pointed at a directory that holds other things: never listed nor removed)."""
        record = self.store.read(jid)
        return record is not None and (not record or looks_like_record(jid, record))

    def skipped(self, jid: str, exc: JobStoreError) -> None:
        """A warning about a record that list or prune could not use: its jid and the reason, never its content."""
        self.store.warnings.append('skipped job %s: %s' % (jid, exc))

    def describe(self, jid: str) -> Record | None:
        """One line of `mode: list`: id, state, age, what ran and who started it, a batch's progress, the last line of
        output (never a no_log job's); None for a file named like a record that has no record's shape."""
        record = self.store.read(jid)
        if record is None or (record and not looks_like_record(jid, record)):
            return None
        record = self.status(jid, tail=1)
        meta: t.Mapping[str, t.Any] = job_meta(record) or {}
        now = time.time()
        mtime = self.store.mtime(jid) or now
        started_at = meta.get('started_at') or mtime
        no_log = protocol.record_no_log(record)
        origin = meta.get('origin')
        if not isinstance(origin, dict):
            origin = {}
        row: Record = {
            'ansible_job_id': jid,
            'state': job_state(record),
            'finished': bool(record.get('finished')),
            'failed': bool(record.get('failed')),
            'age': round(now - mtime, 3),
            'started_at': started_at,
            'elapsed': round((meta.get('ended_at') or now) - started_at, 3),
            'module': meta.get('module'),
            'kind': meta.get('kind') or 'job',
            'key': meta.get('key'),
            'task': origin.get('task'),
            'user': origin.get('user'),
            'controller': origin.get('controller'),
            'no_log': no_log,
            'last_line': None if no_log else last_line(record),
            'wrapper': 'asyncops.jobs' if job_meta(record) else 'ansible.builtin',
            'results_file': self.store.record_path(jid),
        }
        if meta.get('kind') == protocol.BATCH:
            counts = meta.get('counts') or {}
            total = int(meta.get('items') or len(record.get('jobs') or []))
            unfinished = sum(int(counts.get(state, 0)) for state in protocol.UNFINISHED_STATES)
            row['items'] = {'total': total, 'done': total - unfinished if counts or record.get('finished') else 0}
        if meta.get('batch_jid'):
            row['batch_jid'] = meta['batch_jid']
        return row

    # -- cleanup -------------------------------------------------------------------------
    def cleanup(self, jid: str) -> Record:
        """Remove a job's record and files (a batch's: its items' too); a running job keeps running but can
        no longer rewrite them. A record of ours that cannot be read (not a job record's JSON) is removed too."""
        try:
            current = self.status(jid, tail=0)
        except UnreadableRecord:
            self.store.remove(jid)
            return {
                'ansible_job_id': jid,
                'erased': self.store.record_path(jid),
                'started': True,
                'finished': True,
                'warnings': ['job %s had a record that could not be read (not a job record); it was removed' % jid],
            }
        if not self.store.exists(jid):
            if current.get('collected'):  # an item of a collected batch: nothing left to remove, and that is fine
                return {
                    'ansible_job_id': jid,
                    'erased': self.store.record_path(jid),
                    'started': True,
                    'finished': True,
                    'collected': True,
                }
            return current
        items = self.remove_with_items(jid, current)
        result: Record = {
            'ansible_job_id': jid,
            'erased': self.store.record_path(jid),
            'started': True,
            'finished': True,
        }
        if items:
            result['erased_jobs'] = items
        if not current.get('finished'):
            add_warnings(
                result,
                [
                    'job %s was still running: its record is removed and its result will be discarded '
                    '(use mode=kill to stop it)' % jid
                ],
            )
        return result

    def collect_finished(self, records: t.Sequence[Record]) -> bool:
        """Collect the finished jobs just read (their results are on their way to the controller); True if all were
        finished. Nothing is collected unless every job finished, so a status round never loses a result still to
        come."""
        if not all(record.get('finished') for record in records):
            return False
        for record in records:
            jid = record.get('ansible_job_id')
            if jid and self.store.exists(jid):
                self.collect_one(jid, record)
        return True

    def collect(self, jid: str) -> Record:
        """mode=collect: the caller holds the job's result; its record (a batch's items with it) gives way to a note
        saying when it was collected. A job still running, or already collected, is left as it is; so is a job
        that is not there (a retried collection finds nothing to do)."""
        record = self.status(jid, tail=0)
        if not self.store.exists(jid):
            return {
                'ansible_job_id': jid,
                'collected': False,
                'changed': False,
                'finished': True,
                'msg': 'no record of job %s: nothing to collect' % jid,
            }
        if not record.get('finished') or is_note(record):
            return {
                'ansible_job_id': jid,
                'collected': is_note(record),
                'changed': False,
                'finished': bool(record.get('finished')),
                'state': job_state(record),
            }
        self.collect_one(jid, record)
        return {
            'ansible_job_id': jid,
            'collected': True,
            'changed': True,
            'finished': True,
            'state': protocol.COLLECTED,
            'results_file': self.store.record_path(jid),
        }

    def collect_one(self, jid: str, record: t.Mapping[str, t.Any]) -> None:
        """Replace a finished record of ours by its note (a batch's items go); a record of ansible-core's wrapper,
        which has no note, is removed."""
        meta = job_meta(record)
        if meta is None or is_note(record):
            self.store.remove(jid)
            return
        forget_key(self.store, meta.get('key'), jid)
        note = collected_note(jid, record, self.store.record_path(jid), time.time())
        # the note first, then the items: a reader that finds the batch a note no longer reads its items, and a note
        # that cannot be written leaves the batch as it was, items included
        if not self.store.replace_with_note(jid, note) and not self._collected_meanwhile(jid):
            self.store.remove(jid, ours=True)
        if meta.get('kind') == protocol.BATCH:
            for item in record.get('jobs') or []:
                self.store.remove(item, ours=True)

    def _collected_meanwhile(self, jid: str) -> bool:
        """Whether jid's record is a note now: another call collected it between our read and our note (its side dir
        went with that), so its note stays; a record that has no side dir and is no note is removed instead."""
        try:
            return is_note(self.store.read(jid) or {})
        except JobStoreError:
            return False

    # -- delivery in one round -------------------------------------------------------------
    def deliver(self, jid: str, records: t.Sequence[Record], token: str) -> bool:
        """The finished records of job jid (a batch: then its items') are about to be returned by a call given a
        delivery token: keep a copy of them for a retried call with the same token (redelivered), then collect the
        job. The copy is written first: the job is collected only once its copy is there, so a reply lost after
        this call never loses the result. True if collected; False leaves the job as it was (no room for the
        copy or the note, a record that changed meanwhile): its reader collects it later, with mode=collect.
        SIGHUP (a connection that drops while this runs) waits until both are done."""
        previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
        try:
            record = self.store.read(jid)
            if not record or not is_finished(record) or is_note(record) or job_meta(record) is None:
                return False
            if self.store.lstat(self.store.side_name(jid)) is None:
                return False  # no side dir to leave a note with: collected later, by mode=collect (removed)
            copy = {'token': protocol.delivery_digest(token), 'records': list(records)}
            try:
                self.store.write_delivered(jid, dump_record(copy))
            except (OSError, JobStoreError):
                return False
            try:
                self.collect_one(jid, record)
            except (OSError, JobStoreError):
                self.store.remove_delivered(jid)
                return False
            if not is_note(self.store.read(jid) or {}):  # a record of ansible-core's, removed: nothing to keep
                self.store.remove_delivered(jid)
                return True
            self.store.note_delivered()
            return True
        finally:
            signal.signal(signal.SIGHUP, previous)

    def redelivered(self, jid: str, token: str) -> list[Record] | None:
        """The records a call with this delivery token returned about jid when it collected the job, if the job is
        collected (a note) and the copy is still there; None otherwise."""
        record = self.store.read(jid)
        if not record or not is_note(record):
            return None
        try:
            data = self.store.read_delivered(jid)
            copy = json.loads(data) if data else None
        except (OSError, ValueError, JobStoreError):  # a copy that is not the engine's (or unreadable): none
            return None
        if not isinstance(copy, dict) or copy.get('token') != protocol.delivery_digest(token):
            return None
        records = copy.get('records')
        return records if isinstance(records, list) and records else None

    def remove_with_items(self, jid: str, record: t.Mapping[str, t.Any]) -> list[str] | None:
        """Remove a record and its files; for a batch, its items' too. Returns the batch's item ids (or None)."""
        meta = job_meta(record)
        items = record.get('jobs') if protocol.is_batch(record) and not is_note(record) else None
        forget_key(self.store, (meta or {}).get('key'), jid)
        self.store.remove(jid, ours=meta is not None)
        self.store.remove_delivered(jid)
        for item in items or []:
            self.store.remove(item, ours=True)
        return items

    def prune(self, older_than: float) -> tuple[list[str], list[str]]:
        """Remove finished records (and notes of collected jobs) not changed for older_than seconds (never running
        ones), and what the engine made and left for that long: side dirs without a record (never one whose job is
        being started), kept full outputs, key files of jobs that are gone. Returns (job ids, other paths) removed.

        Only what the engine provably made is removed (see _job_store): nothing else in the async dir, whatever its
        name. In read-only mode, returns what would be removed."""
        now = time.time()
        erased = []
        for jid in self.store.jids():
            mtime = self.store.mtime(jid)
            if mtime is None or now - mtime < older_than:
                continue
            try:
                if not self.is_record(jid):
                    continue
                record = self.status(jid, tail=0)
            except JobStoreError as exc:
                self.skipped(jid, exc)
                continue
            if record.get('finished'):
                if not self.read_only:
                    self.remove_with_items(jid, record)
                erased.append(jid)
        removed = []
        for name, _kind, mtime in self.store.engine_dirs():
            if now - mtime >= older_than and (self.read_only or self.store.remove_engine_dir(name)):
                removed.append(self.store.path + '/' + name)
        for name in stale_keys(self.store, older_than):
            if not self.read_only:
                self.store.remove_file(name)
            removed.append(self.store.path + '/' + name)
        return erased, removed

    # -- retention -----------------------------------------------------------------------
    def sweep_retained(self, keep: t.Iterable[str] = ()) -> list[str]:
        """Remove what jobs started with `retain` left longer than that: a finished record whose result was not
        collected (for a batch, with its items), or the note of a collected job, that many seconds after it was last
        written (the job ended, or was collected), with the side dirs, kept outputs and key files that go with it.
        Returns the job ids removed (in read-only mode: that would be). Never a running job, nor one of `keep` (the
        jobs the call asks about: a batch, its items and their batch count as one), nor an item without its batch.

        Cost: one lstat of the retention stamp when no job with retain was ever started in this async dir; else, at
        most once per min(SWEEP_INTERVAL, shortest retain used here) seconds (the stamp's time), one listdir and an
        lstat per name, and a read of the records of ours older than the shortest retain."""
        due = self.store.sweep_due(time.time(), touch=not self.read_only)
        if due is None:
            return []
        stamp, min_retain = due
        try:
            return self._sweep(min_retain, set(keep) | {protocol.batch_of(jid) or jid for jid in keep})
        finally:
            os.close(stamp)

    def _sweep(self, min_retain: float, keep: set[str]) -> list[str]:
        now = time.time()
        removed = []
        for name, st in self.store.entries():
            if (
                not protocol.JOB_NAME_PATTERN.match(name)
                or not stat.S_ISREG(st.st_mode)
                or name in keep
                or protocol.batch_of(name) is not None
                or now - st.st_mtime < min_retain
            ):
                continue
            record = self._retained_record(name, st)
            retain = (job_meta(record) or {}).get('retain') if record else None
            if record is None or retain is None or now - st.st_mtime < float(retain):
                continue
            if any(item in keep for item in record.get('jobs') or []):
                continue
            if not self.read_only:
                self.remove_retained(name, record)
            removed.append(name)
        return removed

    def _retained_record(self, jid: str, st: os.stat_result) -> Record | None:
        """The record of jid if it is one of ours, shaped as a job record and finished (an unfinished one is judged
        as status does: one whose supervisor is gone ends lost, and is removed after its retain from then on);
        None otherwise. Nothing is said of what is skipped: the sweep runs on every call."""
        try:
            check_ours(st, self.store.record_path(jid), 'file')
            record = self.store.read(jid)
            if not record or not looks_like_record(jid, record) or job_meta(record) is None:
                return None
            if not is_finished(record) and (job_meta(record) or {}).get('retain') is not None:
                self.status(jid, tail=0)
                return None
        except JobStoreError:
            return None
        return record

    def remove_retained(self, jid: str, record: t.Mapping[str, t.Any]) -> None:
        """Remove a retained record (a batch's items with it) and every kept output of the job (its items')."""
        meta = job_meta(record) or {}
        items = record.get('jobs') if protocol.is_batch(record) and not is_note(record) else None
        if items is None and meta.get('kind') == protocol.BATCH and isinstance(meta.get('items'), int):
            items = [protocol.item_jid(jid, index) for index in range(meta['items'])]  # a batch's note: item count
        self.remove_with_items(jid, record)
        for name in [jid] + list(items or []):
            output = self.store.output_dir_name(name)
            if self.store.lstat(output) is not None:
                self.store.remove_engine_dir(output)
