# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""A batch: many jobs started on the target by one scheduler with a sliding concurrency window.

The scheduler is a detached process like a job supervisor.  It records every item as 'pending',
answers the launch, then starts the first `concurrency` items (each under its own Supervisor, in a
forked child), and refills the window the moment an item's job process ends (its supervisor says so
on a pipe before recording the result; with a halt rule, when the supervisor exits), not at the
next poll.  The batch record (the batch jid) lists the item jids and is finished once every item is.

Retries (item_retries): an item whose attempt failed (module failed, non-zero rc, timed out; never one
killed, lost or not started) and that may start again is left by its supervisor in the state
'retrying' (not finished, with that attempt's result and when it starts again; the scheduler answers
for it). The scheduler starts it again, same jid and side dir, once its delay passed (item_retry_delay,
doubled for each further retry): its wake-up loop sleeps no longer than until the next one is due, so
signals, kill requests and ending items are handled as ever meanwhile. The final record says how many
attempts were made and what the earlier ones returned (previous_attempts).

Halting (max_failures; fail_fast is max_failures 1): once that many items failed after their retries,
no item starts any more, not even again: the items not started are recorded as skipped with the reason,
those waiting for a retry end with their last attempt's result, and with on_halt=kill the items still
running are stopped (their supervisors record them killed, saying why).

Killing one pending item (async_status mode=kill on its jid) leaves a request file in the item's
side dir and wakes the scheduler with SIGUSR1: the item is recorded killed and never starts.

A full file system never makes a batch or an item read as lost: each item's supervisor reserves room
for its final record (see _job_supervisor), an item that cannot start says why in its record, and the
scheduler reserves room in the batch's side dir, before any item starts, for the batch's final record
and for the record of an item whose supervisor could not write one.
"""

from __future__ import annotations

import os
import signal
import time
import typing as t

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_process as proc
from ansible_collections.asyncops.jobs.plugins.module_utils import _job_protocol as protocol
from ansible_collections.asyncops.jobs.plugins.module_utils import _job_supervisor as job_supervisor
from ansible_collections.asyncops.jobs.plugins.module_utils._job_chain import run_job
from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import (
    HALT_FILE,
    KILL_REQUEST_FILE,
    TOKEN_FILE,
    JobStore,
    JobStoreError,
    dump_record,
    remove_task_tmp_dir,
)

if t.TYPE_CHECKING:
    from ansible_collections.asyncops.jobs.plugins.module_utils._job_types import BatchRecord, JobMeta, JobSpec


class BatchScheduler:
    """State of one batch inside the scheduler process."""

    def __init__(self, store: JobStore, batch_jid: str, specs: list[JobSpec], options: t.Mapping[str, t.Any]) -> None:
        """options: the launch's protocol.batch_options (concurrency, fail_fast, key, cleanup_dir, collect, work,
        check_mode), kept in the batch's own record."""
        self.store = store
        self.jid = batch_jid
        self.specs = specs
        self.concurrency = protocol.window_size(options.get('concurrency'), len(specs))
        self.fail_fast = bool(options.get('fail_fast'))
        self.item_retries = int(options.get('item_retries') or 0)
        self.item_retry_delay = float(options.get('item_retry_delay', protocol.DEFAULTS['item_retry_delay']))
        self.on_halt = options.get('on_halt') or protocol.DEFAULTS['on_halt']
        # failed items that halt the batch (fail_fast: the first); None: it never halts
        self.halt_after: int | None = (
            1
            if self.fail_fast
            else (
                protocol.halt_after(options['max_failures'], len(specs))
                if options.get('max_failures') is not None
                else None
            )
        )
        self.halted = ''  # why no item starts any more
        self.pending = list(range(len(specs)))
        self.running: dict[int, int] = {}  # supervisor pid -> item index, while the item's job process may run
        self.finishing: dict[int, int] = {}  # supervisor pid -> item index, job process ended, result being recorded
        self.done: dict[int, str] = {}  # item index -> state
        self.waiting: dict[int, float] = {}  # item index -> when it starts again (item_retries)
        self.attempts: dict[int, int] = {}  # item index -> how many times it was started
        self.previous: dict[int, list[dict[str, t.Any]]] = {}  # item index -> what its earlier attempts returned
        self.failures = 0  # items that ended failed (after their retries)
        self.failed_seen = False
        self.kill_requested = False
        self.kill_requests_waiting = False  # SIGUSR1: look for items killed before they started
        self.fork_failed = False  # an item waits for a process: try again at the next wake-up
        self.started_at = time.time()
        ident = proc.identity(os.getpid())
        self.meta = dict(options)
        self.meta.update(
            {
                'version': protocol.RECORD_VERSION,
                'kind': protocol.BATCH,
                'module': specs[0].get('module') if specs else None,
                'supervisor_pid': ident['pid'],
                'supervisor_start_ticks': ident['start_ticks'],
                'boot_id': ident['boot_id'],
                'started_at': self.started_at,
                'concurrency': self.concurrency,
                'fail_fast': self.fail_fast,
                'items': len(specs),
                'state': protocol.RUNNING,
            }
        )
        if self.halt_after is not None:
            self.meta['halt_after'] = self.halt_after
        # no_log, which every item's record carries too, so that every later reader of an item censors it
        if any(spec.get('no_log') for spec in specs):
            self.meta['no_log'] = True
        # supervisors say on this pipe when their job process ended, so the window refills before
        # they have recorded the result; not with a halt rule (fail_fast, max_failures), which must know the result
        # first
        self.release_r = self.release_w = None
        if self.halt_after is None:
            self.release_r, self.release_w = os.pipe()
            job_supervisor.set_nonblocking(self.release_r)

    def item_meta(self, **fields: t.Any) -> dict[str, t.Any]:
        """The meta of an item's record written by the scheduler: the batch's, without what only the batch keeps."""
        meta = {key: value for key, value in self.meta.items() if key not in protocol.BATCH_ONLY_META}
        meta.update(kind=protocol.ITEM, batch_jid=self.jid, **fields)
        return meta

    def request_check(self) -> None:
        self.kill_requests_waiting = True

    @property
    def jids(self) -> list[str]:
        return [spec['jid'] for spec in self.specs]

    # -- records -----------------------------------------------------------------------
    def write_pending(self, indices: t.Iterable[int]) -> None:
        """'pending' records for these items: every item has a record from the launch on.

        One flush for all of them, not an fsync per record (tens of ms each on some disks: an 800-item launch took
        35 s): a pending record carries no result, only that the item exists and that this scheduler runs it, and
        no one is told of the items before the flush is done (the launch reply comes after it). Each record is
        still written whole and renamed into place, so a reader never sees a partial one."""
        for index in indices:
            spec = self.specs[index]
            meta = self.item_meta(
                state=protocol.PENDING,
                index=index,
                module=spec.get('module'),
                time_limit=spec.get('time_limit'),
                grace=spec.get('grace', protocol.DEFAULTS['grace']),
            )
            self.store.write(
                spec['jid'], protocol.new_record(spec['jid'], self.store.record_path(spec['jid']), meta), durable=False
            )
        self.store.sync()

    def start(self) -> BatchRecord:
        """Record every item as pending and the batch as running; returns the batch record. The first window starts
        in run(), once the launch has its reply: a launch waits for the records, not for 1,000 forks."""
        self.write_pending(self.pending)
        return self.write_batch_record()

    def write_batch_record(self) -> BatchRecord:
        record = self.batch_record()
        if record['finished']:
            self.write_final(self.jid, t.cast(t.Dict[str, t.Any], record))
            return record
        try:
            self.store.write(self.jid, t.cast(t.Dict[str, t.Any], record))
        except OSError:
            pass  # cleaned up while running (keep going, items still record their own results), or full for now
        return record

    def reserve_size(self) -> int:
        """Room for the batch's final record (about as big as its first) and for small item records."""
        return job_supervisor.RECORD_RESERVE + len(dump_record(self.batch_record()))

    def write_final(self, jid: str, record: dict[str, t.Any]) -> None:
        """Write a record that must be there in the end (the batch's final one, or an item's whose supervisor could not
        write it): when the file system is full, with the room reserved at the start given back."""
        try:
            self.store.write(jid, record)
        except FileNotFoundError:
            return  # cleaned up
        except OSError as exc:
            if exc.errno not in job_supervisor.NO_ROOM:
                return
            job_supervisor.release_reserve(self.store, self.jid)
            job_supervisor.write_when_room(self.store, jid, record)
            return
        if jid == self.jid:
            job_supervisor.release_reserve(self.store, self.jid)

    def batch_record(self) -> BatchRecord:
        finished = not self.pending and not self.running and not self.finishing and not self.waiting
        counts = {protocol.PENDING: len(self.pending), protocol.RUNNING: len(self.running) + len(self.finishing)}
        if self.item_retries:
            counts[protocol.RETRYING] = len(self.waiting)
        for state in self.done.values():
            counts[state] = counts.get(state, 0) + 1
        meta = t.cast('JobMeta', dict(self.meta, counts=counts))
        fields: dict[str, t.Any] = {'jobs': self.jids}
        if finished:
            now = time.time()
            meta['state'] = protocol.FINISHED
            meta['ended_at'] = now
            meta['elapsed'] = round(now - self.started_at, 3)
            fields.update(failed=self.failed_seen, changed=True)
        return t.cast(
            'BatchRecord', protocol.new_record(self.jid, self.store.record_path(self.jid), meta, finished, fields)
        )

    # -- scheduling --------------------------------------------------------------------
    def fill_window(self) -> None:
        while self.pending and len(self.running) < self.concurrency:
            if self.kill_requested or self.halted:
                self.skip_pending()
                return
            index = self.pending.pop(0)
            if self.store.has_side_file(self.specs[index]['jid'], KILL_REQUEST_FILE):
                self.record_killed_on_request(index)
                continue
            try:
                self.running[self.start_item(self.attempt_spec(index))] = index
            except OSError as exc:
                if not self.no_process_for(index, exc):
                    return
                continue
            self.attempts[index] = self.attempts.get(index, 0) + 1

    def attempt_spec(self, index: int) -> JobSpec:
        """The spec of the item's next start: which attempt it is, what its earlier ones returned, and, while it may
        start again, how (its supervisor then leaves a failed attempt retrying, see _job_supervisor)."""
        attempt = self.attempts.get(index, 0) + 1
        spec = t.cast('JobSpec', dict(self.specs[index], attempt=attempt))
        if self.previous.get(index):
            spec['previous_attempts'] = self.previous[index][-protocol.MAX_PREVIOUS_ATTEMPTS :]
        if attempt <= self.item_retries:
            spec['retry'] = {
                'left': self.item_retries - attempt + 1,
                'delay': protocol.retry_delay(self.item_retry_delay, attempt),
                'scheduler': protocol.supervisor_identity(self.meta),
            }
        return spec

    def no_process_for(self, index: int, exc: OSError) -> bool:
        """The item's supervisor could not be forked (the process limit: ulimit -u, a pids cgroup; or memory). While
        items of this batch run, it waits for one of them to end (the window shrinks to what the limit allows): False.
        With none running, nothing here would free a process: it is recorded failed, with the reason: True."""
        if self.running or self.finishing:
            self.pending.insert(0, index)
            self.fork_failed = True
            return False
        reason = (
            'could not start its supervisor process (%s); the process limit (ulimit -u, pids cgroup) or memory '
            'is exhausted: lower concurrency or raise the limit' % exc
        )
        if self.attempts.get(index):  # a retry: ends with its last attempt's result
            self.finalize_waiting(index, None, 'not started again: %s' % reason)
        else:
            self.record_not_started(index, protocol.FAILED, 'not started: %s' % reason)
        return True

    def kill_requested_items(self) -> bool:
        """Pending and retrying items with a kill request are recorded killed and never start (again); True if there
        were any."""
        self.kill_requests_waiting = False
        killed = [
            index
            for index in self.pending + sorted(self.waiting)
            if self.store.has_side_file(self.specs[index]['jid'], KILL_REQUEST_FILE)
        ]
        for index in killed:
            if index in self.pending:
                self.pending.remove(index)
            self.waiting.pop(index, None)
            self.record_killed_on_request(index)
        return bool(killed)

    def record_killed_on_request(self, index: int) -> None:
        """An item killed (async_status mode=kill on it) before it started, or while it waited to start again."""
        if self.attempts.get(index):
            self.finalize_waiting(
                index,
                protocol.KILLED,
                'killed while waiting to be started again (asyncops.jobs.async_status mode=kill on this item)',
            )
        else:
            self.record_not_started(
                index,
                protocol.KILLED,
                'killed before it started (asyncops.jobs.async_status mode=kill on this item)',
            )

    def start_item(self, spec: JobSpec) -> int:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the item's supervisor
            code = 0
            try:
                for sig in (signal.SIGTERM, signal.SIGCHLD):
                    signal.signal(sig, signal.SIG_DFL)
                signal.set_wakeup_fd(-1)
                if self.release_r is not None:
                    os.close(self.release_r)
                run_job(self.store, spec, release_fd=self.release_w)  # a chain's supervisor when its spec has steps
            except BaseException:
                code = 1
            os._exit(code)
        return pid

    def skip_pending(self) -> None:
        """The items not started yet never start: the batch was killed, or it halted."""
        reason = 'not started: %s' % ('the batch was killed' if self.kill_requested else self.halted)
        pending, self.pending = self.pending, []
        for index in pending:
            if self.attempts.get(index):  # was due to start again
                self.never_again(index)
            else:
                self.record_not_started(index, protocol.SKIPPED, reason)

    def end_waiting(self) -> None:
        """The items waiting to start again never do (the batch was killed, or it halted)."""
        waiting, self.waiting = sorted(self.waiting), {}
        for index in waiting:
            self.never_again(index)

    def never_again(self, index: int) -> None:
        """An item that ran and was to start again never does: killed when the batch was, else (it halted) ended with
        its last attempt's result and the reason."""
        if self.kill_requested:
            self.finalize_waiting(
                index, protocol.KILLED, 'killed while waiting to be started again (the batch was killed)'
            )
        else:
            self.finalize_waiting(index, None, 'not started again: %s' % self.halted)

    def record_not_started(self, index: int, state: str, reason: str) -> None:
        """The final record of an item that never ran: skipped, killed on request or failed to start (failures)."""
        spec = self.specs[index]
        record = protocol.new_record(
            spec['jid'],
            self.store.record_path(spec['jid']),
            self.item_meta(state=state, index=index, attempts=0),
            finished=True,
            fields={
                'started': False,
                'failed': state != protocol.SKIPPED,
                'changed': False,
                'msg': reason,
                'attempts': 0,
            },
        )
        if state in (protocol.KILLED, protocol.SKIPPED):
            record[state] = True
        self.write_final(spec['jid'], record)
        self.item_ended(index, state)

    def finalize_waiting(self, index: int, state: str | None, reason: str) -> None:
        """The final record of an item that ran and waited to start again, and never will: with its last attempt's
        result (state None: as that attempt ended) and the reason, or killed (state KILLED)."""
        jid = self.specs[index]['jid']
        try:
            record = self.store.read(jid) or {}
        except JobStoreError:
            record = {}
        meta = dict(protocol.job_meta(record) or self.item_meta(index=index, attempts=self.attempts.get(index, 0)))
        final_state = state or meta.get('attempt_state') or protocol.FAILED
        for key in ('attempt_state', 'retry_at'):
            meta.pop(key, None)
        meta['state'] = final_state
        fields = {key: value for key, value in record.items() if key not in protocol.INTERNAL_KEYS}
        fields.update(failed=True, msg='%s; %s' % (fields['msg'], reason) if fields.get('msg') else reason)
        if final_state == protocol.KILLED:
            fields['killed'] = True
        self.write_final(jid, protocol.new_record(jid, self.store.record_path(jid), meta, finished=True, fields=fields))
        self.item_ended(index, final_state)

    def item_ended(self, index: int, state: str) -> None:
        """Take note of an item's final state: its inputs kept for retries go, a failure counts towards the halt."""
        self.done[index] = state
        if self.item_retries:
            self.store.remove_side_files(self.specs[index]['jid'], job_supervisor.input_files(self.specs[index]))
        if state in protocol.FAILED_STATES:
            self.failed_seen = True
            self.failures += 1
            if self.halt_after is not None and self.failures >= self.halt_after and not self.halted:
                self.halt()

    def halt(self) -> None:
        """max_failures (fail_fast) reached: no item starts any more; with on_halt=kill, the running ones stop."""
        if self.fail_fast:
            self.halted = 'an earlier item failed and fail_fast is set'
        else:
            self.halted = '%d item(s) failed, max_failures is %s' % (self.failures, self.meta.get('max_failures'))
        self.meta['halted'] = self.halted
        if self.on_halt == 'kill':
            self.stop_running(halt=True)
        self.end_waiting()
        self.skip_pending()

    def reap_items(self) -> bool:
        """Take note of the item supervisors that exited (their item's state, from its record); True if any did."""
        changed = False
        for pid, status in proc.reap_children().items():
            index = self.running.pop(pid, self.finishing.pop(pid, None))
            if index is None:
                continue
            changed = True
            try:
                record = self.store.read(self.specs[index]['jid']) or {}
            except JobStoreError:
                record = {}
            state = protocol.job_state(record) if record else protocol.PENDING
            if (
                state == protocol.PENDING
                and os.WIFEXITED(status)
                and os.WEXITSTATUS(status) == job_supervisor.EXIT_NOT_STARTED
            ):
                self.record_not_started(
                    index,
                    protocol.FAILED,
                    'could not start the job, and its supervisor could not '
                    'record why (is the file system of %s full?); nothing '
                    'was started' % self.store.path,
                )
                continue
            if state == protocol.RETRYING:
                self.retry_later(index, record)
                continue
            if state in protocol.UNFINISHED_STATES:
                state = protocol.LOST  # the item's supervisor died without recording a result
            elif record.get('failed') and state not in protocol.FAILED_STATES:
                state = protocol.FAILED
            self.item_ended(index, state)
        return changed

    def retry_later(self, index: int, record: t.Mapping[str, t.Any]) -> None:
        """An attempt of the item failed and its supervisor left it retrying: it starts again when its record says,
        unless the batch was killed or halted meanwhile (then it ends with that attempt's result)."""
        self.previous.setdefault(index, []).append(protocol.previous_attempt(record))
        if self.kill_requested or self.halted:
            self.never_again(index)
            return
        meta = protocol.job_meta(record) or {}
        self.waiting[index] = float(meta.get('retry_at') or time.time())

    def retries_due(self) -> bool:
        """Items whose retry is due go first in the queue, the earliest first; True if there were any."""
        now = time.time()
        due = sorted((when, index) for index, when in self.waiting.items() if when <= now)
        for _when, index in due:
            del self.waiting[index]
            # what the last attempt left that the next one makes anew: its token and the room for its record
            self.store.remove_side_files(
                self.specs[index]['jid'], (TOKEN_FILE, job_supervisor.RESERVE_FILE, job_supervisor.START_ROOM_FILE)
            )
        self.pending[:0] = [index for _when, index in due]
        return bool(due)

    def next_wake(self) -> float:
        """How long the scheduler may sleep: a second at most, and not past the next retry that is due."""
        if not self.waiting:
            return 1.0
        return max(0.0, min(1.0, min(self.waiting.values()) - time.time()))

    def released(self, data: bytes) -> bool:
        """Items whose job process ended (pids read from the release pipe) leave the window."""
        moved = False
        for line in data.split(b'\n'):
            pid = int(line) if line.strip().isdigit() else None
            if pid in self.running:
                self.finishing[pid] = self.running.pop(pid)
                moved = True
        return moved

    def stop_running(self, halt: bool = False) -> None:
        """SIGTERM to the supervisors of the running items (our own unreaped children: their pids cannot have been
        reused). halt: stopped because the batch halted (on_halt=kill), which each one's record then says."""
        if halt:
            for index in self.running.values():
                try:
                    self.store.write_side_file(
                        self.specs[index]['jid'], HALT_FILE, ('the batch halted (%s)' % self.halted).encode('utf-8')
                    )
                except (OSError, JobStoreError):
                    pass  # its record says killed, without the reason
        proc.signal_pids(dict.fromkeys(list(self.running) + list(self.finishing)), signal.SIGTERM)

    def run(self, wake_fd: int) -> BatchRecord:
        self.fill_window()
        self.write_batch_record()
        extra = [self.release_r] if self.release_r is not None else []
        while self.pending or self.running or self.finishing or self.waiting:
            data = job_supervisor.wait_readable(wake_fd, self.next_wake(), extra)
            if self.kill_requested:
                self.stop_running()
                self.end_waiting()
                self.skip_pending()
            if self.kill_requests_waiting and self.kill_requested_items():
                self.write_batch_record()
            if self.fork_failed:
                self.fork_failed = False
                self.fill_window()
            if data and self.released(data):
                self.fill_window()
            if self.reap_items():
                self.fill_window()
                self.write_batch_record()
            if self.waiting and self.retries_due():
                self.fill_window()
                self.write_batch_record()
        if self.meta.get('cleanup_dir'):
            remove_task_tmp_dir(self.meta['cleanup_dir'])
        return self.write_batch_record()


def launch_batch(
    store: JobStore, batch_jid: str, specs: list[JobSpec], options: t.Mapping[str, t.Any]
) -> dict[str, t.Any]:
    """Start a detached scheduler for specs (options: protocol.batch_options of the launch); returns the batch record
    once every item is recorded pending."""
    try:
        return job_supervisor.spawn_detached(
            lambda notify_fd: _run_scheduler(store, batch_jid, specs, options, notify_fd), store.fds()
        )
    finally:
        for spec in specs:
            store.release_starting(spec['jid'])


def _run_scheduler(
    store: JobStore, batch_jid: str, specs: list[JobSpec], options: t.Mapping[str, t.Any], notify_fd: int
) -> None:  # pragma: no cover - detached
    store.release_starting()  # the launcher keeps its own locks until the records exist
    sched = BatchScheduler(store, batch_jid, specs, options)
    wake_r = job_supervisor.install_signals(sched, on_usr1=sched.request_check)
    proc.become_subreaper()
    try:
        store.create_side_dir(batch_jid)
        job_supervisor.write_reserve(store, batch_jid, sched.reserve_size())
        record = sched.start()
        store.release_starting(batch_jid)
    except BaseException as exc:
        outcome = (
            'the %d item(s) it had started are being stopped' % len(sched.running)
            if sched.running
            else 'nothing was started'
        )
        sched.stop_running()
        job_supervisor.notify(
            notify_fd,
            {'error': 'could not start the batch: %s; %s' % (job_supervisor.describe_error(exc, store.path), outcome)},
        )
        os._exit(1)
    job_supervisor.notify(notify_fd, {'record': record})
    sched.run(wake_r)
    os._exit(0)
