# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""A chain: several steps (a command or a module each) run one after another as one detached job.

One supervisor runs the whole chain: the job's identity, record, kill request and time limit are the chain's. Each
step runs as a job runs under Supervisor (its own process group, its output in files of the side dir, its payload and
args handed over as descriptors the supervisor holds, see _job_supervisor), with files of its own: stdout.<n>,
stderr.<n>, payload.<n>, args.<n>, n counting the steps, then the always steps. The running record is rewritten when
a step starts: it names the step (current_step) and its process.

* A step that fails (or reaches its own time limit, which stops that step's tree only) ends the chain there unless it
  has ignore_errors: the steps after it are skipped.
* The chain's time limit, or a kill (async_status mode=kill), stops the running step's whole tree and skips the steps
  after it.
* However the steps ended, the always steps run then, one after another, each under its own time limit (its timeout,
  or DEFAULTS['always_timeout']): the chain's time limit and a kill do not stop them.
* Each step gets a token of its own (the side dir's token file holds the running step's): what an earlier step left
  running (leftovers=keep) is not part of a later step's tree, so a later step's time limit or a kill never stops it.

The chain's result: `results`, one entry per step (its module's result, step_index, step_name; `skipped` for a step
never reached); failed when a step failed without ignore_errors, or the chain timed out or was killed; `msg` names
that step; changed when any step changed. What runs under no_log shows no step name in a message.
"""

from __future__ import annotations

import time
import typing as t

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_process as proc
from ansible_collections.asyncops.jobs.plugins.module_utils import _job_protocol as protocol
from ansible_collections.asyncops.jobs.plugins.module_utils import _job_supervisor as job_supervisor
from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import (
    TOKEN_FILE,
    JobStore,
    JobStoreError,
    remove_task_tmp_dir,
)

if t.TYPE_CHECKING:
    from ansible_collections.asyncops.jobs.plugins.module_utils._job_types import JobRecord, JobSpec, StepSpec

Result = t.Dict[str, t.Any]
INPUT_NAMES = ('payload', 'args')


def launch_job(store: JobStore, spec: JobSpec) -> dict[str, t.Any]:
    """Start a job (a chain when its spec has steps) under a detached supervisor; its running record."""
    return job_supervisor.launch(store, spec, supervisor=supervisor_of(spec))


def run_job(store: JobStore, spec: JobSpec, release_fd: int | None = None) -> None:  # pragma: no cover - detached
    """Supervise a batch item's job (a chain when its spec has steps) in this process, then exit."""
    job_supervisor.run_supervisor(store, spec, release_fd=release_fd, supervisor=supervisor_of(spec))


def supervisor_of(spec: JobSpec) -> type[job_supervisor.Supervisor]:
    return ChainSupervisor if protocol.is_chain(t.cast(t.Mapping[str, t.Any], spec)) else job_supervisor.Supervisor


class ChainSupervisor(job_supervisor.Supervisor):
    """A chain's supervisor: the Supervisor of each of its steps in turn, then of its always steps."""

    def __init__(self, store: JobStore, spec: JobSpec) -> None:
        super().__init__(store, spec)
        self.steps: list[StepSpec] = list(spec['steps'])
        self.results: dict[int, Result] = {}  # step index -> its result, once it ended
        self.ending: str | None = None  # how the steps ended early: failed, timedout or killed
        self.stopped_where = ''  # where the chain's time limit or a kill stopped it: 'while step 1 ran'
        self.step_started_at = 0.0
        self.chain_deadline: float | None = None
        self._use_step(self.steps[0])

    # -- what runs now -----------------------------------------------------------------
    def _use_step(self, step: StepSpec) -> None:
        """Make step what runs now: its argv, its output and input files, no process yet."""
        index = step['index']
        self.job = t.cast(t.Mapping[str, t.Any], step)
        self.outputs = {'stdout': protocol.step_file('stdout', index), 'stderr': protocol.step_file('stderr', index)}
        self.input_names = tuple(protocol.step_file(name, index) for name in INPUT_NAMES)
        self.argv = list(step['argv'])
        self.child = None
        self.child_status = None
        self.group = None

    def label(self, step: StepSpec) -> str:
        """'step 1 (compress)' for a message; without its name under no_log (names can hold the task's items)."""
        if self.no_log:
            return 'step %d' % step['index']
        return 'step %d (%s)' % (step['index'], step['name'])

    def _add_meta(self) -> None:
        self.meta['steps'] = [
            {'index': step['index'], 'name': step['name'], 'module': step['module'], 'always': step['always']}
            for step in self.steps
        ]
        self.meta['current_step'] = self._current(self.steps[0])

    @staticmethod
    def _current(step: StepSpec) -> dict[str, t.Any]:
        return {'index': step['index'], 'name': step['name']}

    # -- start -------------------------------------------------------------------------
    def start(self) -> JobRecord:
        self.step_started_at = time.time()
        record = super().start()
        self.step_started_at = self.started_at
        return record

    def _start_step(self, step: StepSpec) -> Result | None:
        """Start a step after the first: its token, files and process, and the running record that names it.
        Returns None once it runs, or its result when it could not start (nothing of it runs)."""
        self.spared.append(self.marker)  # what the steps before left running is no part of this step's tree
        self._use_step(step)
        self.token = proc.new_token()
        self.step_started_at = time.time()
        try:
            self.store.remove_side_files(self.jid, (TOKEN_FILE, job_supervisor.START_ROOM_FILE))
            self._hold_start_room()
            self.store.write_side_file(self.jid, TOKEN_FILE, self.token.encode())
            out, err = self._open_job_files()
        except (OSError, JobStoreError) as exc:
            self._not_started_files()
            return self._not_started(step, job_supervisor.describe_error(exc, self.store.path))
        try:
            self._start_process(out, err)
        except OSError as exc:
            self._not_started_files()
            return self._not_started(step, job_supervisor.describe_error(exc, self.store.path))
        group = self._adopt_process()
        self.meta.update(
            {'pid': group.pgid, 'pgid': group.pgid, 'job_start_ticks': group.since, 'current_step': self._current(step)}
        )
        try:
            self._write_running(room=job_supervisor.START_ROOM_FILE)
        except OSError as exc:
            report = self._stop_job_tree()
            self._not_started_files()
            return {
                'failed': True,
                'changed': False,
                'msg': 'its running record could not be written (%s): it was '
                'stopped at once (%d process(es) signalled)'
                % (job_supervisor.describe_error(exc, self.store.path), report.termed),
            }
        return None

    def _not_started_files(self) -> None:
        """A step did not start or was stopped at once: what carried its arguments goes, and the room held for its
        running record is given back."""
        self._process_ended()
        job_supervisor.release_reserve(self.store, self.jid, job_supervisor.START_ROOM_FILE)

    def _write_running(self, room: str | None = None) -> None:
        """Rewrite the running record (a step started; into room, see JobStore.write); a record cleaned up meanwhile
        is not brought back. Written whole and renamed into place, but not fsynced: it holds no result, and only a
        crash of the whole host could lose it, which leaves the record of the step before (and no process of the chain
        to stop after a reboot)."""
        try:
            self.store.write(
                self.jid,
                protocol.new_record(self.jid, self.store.record_path(self.jid), self.meta),
                durable=False,
                room=room,
            )
        except FileNotFoundError:
            pass

    def _not_started(self, step: StepSpec, reason: str) -> Result:
        return {'failed': True, 'changed': False, 'msg': 'could not start %s: %s' % (self.label(step), reason)}

    # -- supervise ---------------------------------------------------------------------
    def run(self, wake_fd: int) -> dict[str, t.Any] | None:
        self.chain_deadline = self.started_at + self.time_limit if self.time_limit > 0 else None
        first = True
        for step in self.steps:
            if not step['always'] and not first and self.ending is None:
                self._stop_before(step)
            if not step['always'] and self.ending is not None:
                continue  # skipped
            if not first:
                result = self._start_step(step)
                if result is not None:
                    self._ended(step, result)
                    continue
            first = False
            self._ended(step, self._supervise(wake_fd, step))
        return self._finish_chain()

    def _supervise(self, wake_fd: int, step: StepSpec) -> Result:
        """Wait for the step to end, stopping it at its own time limit, and (unless it is an always step) at the
        chain's time limit or on a kill request; its result."""
        own = self.step_started_at + step['time_limit'] if step['time_limit'] > 0 else None
        chain = None if step['always'] else self.chain_deadline
        while True:
            self._reap()
            if self.child_status is not None:
                ended_at = time.time()
                self._process_ended()
                return self._ended_result(ended_at, self.step_started_at)[0]
            now = time.time()
            if not step['always'] and self.kill_requested:
                return self._stop_step(step, protocol.KILLED, chain_wide=True)
            if chain is not None and now >= chain:
                return self._stop_step(step, protocol.TIMEDOUT, chain_wide=True)
            if own is not None and now >= own:
                return self._stop_step(step, protocol.TIMEDOUT, chain_wide=False)
            deadlines = [deadline for deadline in (own, chain) if deadline is not None]
            wait = 1.0 if not deadlines else max(0.0, min(1.0, min(deadlines) - now))
            job_supervisor.wait_readable(wake_fd, wait)

    def _stop_before(self, step: StepSpec) -> None:
        """Between two steps: a kill request, or the chain's time limit, ends the steps before the next one starts."""
        if self.kill_requested:
            self.ending = protocol.KILLED
        elif self.chain_deadline is not None and time.time() >= self.chain_deadline:
            self.ending = protocol.TIMEDOUT
        else:
            return
        self.stopped_where = 'before %s started' % self.label(step)
        self.meta['stopped_at'] = time.time()

    def _stop_step(self, step: StepSpec, reason: str, chain_wide: bool) -> Result:
        """Stop the step's whole tree: at its own time limit (the chain goes on as for a failed step), or, chain_wide,
        at the chain's time limit or on a kill request (the steps after it are skipped)."""
        stopped_at = time.time()
        report = self._stop_job_tree()
        self._process_ended()
        signals = 'SIGTERM to %d process(es), SIGKILL to %d after a %gs grace period' % (
            report.termed,
            report.killed,
            self.grace,
        )
        if not chain_wide:
            msg = 'Timeout exceeded: %s ran longer than its time limit of %gs and was stopped (%s)' % (
                self.label(step),
                step['time_limit'],
                signals,
            )
        elif reason == protocol.TIMEDOUT:
            msg = "Timeout exceeded: the chain's time limit of %gs was reached while %s ran; it was stopped (%s)" % (
                self.time_limit,
                self.label(step),
                signals,
            )
        else:
            msg = 'Job killed on request (asyncops.jobs.async_status mode=kill) while %s ran: %s' % (
                self.label(step),
                signals,
            )
        if chain_wide:
            self.ending = reason
            self.stopped_where = 'while %s ran' % self.label(step)
            self.meta['stopped_at'] = stopped_at
        return self._stopped_result(reason, msg + self._not_stopped(report))

    def _ended(self, step: StepSpec, result: Result) -> None:
        """Keep a step's result; a step that failed without ignore_errors ends the steps (always steps run on)."""
        self.results[step['index']] = result
        if result.get('failed') and not step['ignore_errors'] and self.ending is None and not step['always']:
            self.ending = protocol.FAILED

    def _finish_chain(self) -> dict[str, t.Any] | None:
        """The chain ended: free a batch slot, remove what is left of its inputs (steps never run) and of the task's
        tmp dir, and write the final record."""
        ended_at = time.time()
        job_supervisor.release(self.release_fd)
        self._close_inputs()
        try:
            if not self.spec.get('retry'):  # a batch item that may start again keeps them (its scheduler removes them)
                self.store.remove_side_files(self.jid, self._all_input_files())
        except (OSError, JobStoreError):
            pass
        if self.spec.get('cleanup_dir'):
            remove_task_tmp_dir(self.spec['cleanup_dir'])
        result = chain_result(self.steps, self.results, self.ending, self.stopped_where, self.time_limit, self.no_log)
        self.meta.pop('current_step', None)
        return self._record(result, chain_state(result, self.ending), ended_at)

    def record_crash(self, trace: str) -> None:
        self._record(
            {
                'failed': True,
                'changed': True,
                'msg': 'job supervisor crashed: %s' % trace,
                'results': step_entries(self.steps, self.results, self.no_log),
            },
            protocol.FAILED,
            time.time(),
        )


# -- the chain's result ---------------------------------------------------------------------------------------------
SKIP_REASONS = {
    protocol.FAILED: 'not run: an earlier step failed',
    protocol.TIMEDOUT: "not run: the chain's time limit was reached before",
    protocol.KILLED: 'not run: the chain was killed before',
}


def step_entries(
    steps: t.Sequence[StepSpec], results: t.Mapping[int, Result], no_log: bool, ending: str | None = None
) -> list[Result]:
    """One entry per step: its module's result plus step_index and step_name, or skipped for a step never run. Under
    no_log each is marked for censoring, as ansible-core marks a loop's items."""
    entries = []
    for step in steps:
        skipped = {'skipped': True, 'changed': False, 'msg': SKIP_REASONS.get(ending or '', 'not run')}
        entry = dict(results.get(step['index']) or skipped)
        entry.update(step_index=step['index'], step_name=step['name'])
        if no_log:
            entry['_ansible_no_log'] = True
        entries.append(entry)
    return entries


def chain_result(
    steps: t.Sequence[StepSpec],
    results: t.Mapping[int, Result],
    ending: str | None,
    stopped_where: str,
    time_limit: float,
    no_log: bool,
) -> Result:
    """The result of a finished chain: its steps' results, failed and msg (naming the step that failed it), changed,
    and the warnings of its steps."""
    entries = step_entries(steps, results, no_log, ending)
    failing = [
        (step, entry) for step, entry in zip(steps, entries) if entry.get('failed') and not step['ignore_errors']
    ]
    result: Result = {
        'results': entries,
        'changed': any(entry.get('changed') for entry in entries),
        'failed': bool(failing) or ending in (protocol.TIMEDOUT, protocol.KILLED),
        'timedout': ending == protocol.TIMEDOUT,
        'killed': ending == protocol.KILLED,
        'msg': chain_message(steps, entries, failing, ending, stopped_where, time_limit, no_log),
    }
    warnings = step_warnings(steps, entries, no_log)
    if warnings:
        result['warnings'] = warnings
    return result


def chain_message(
    steps: t.Sequence[StepSpec],
    entries: t.Sequence[Result],
    failing: t.Sequence[tuple[StepSpec, Result]],
    ending: str | None,
    stopped_where: str,
    time_limit: float,
    no_log: bool,
) -> str:
    """What the chain's msg says: the step that failed it and why (never a no_log step's name or message)."""

    def label(step: StepSpec) -> str:
        return 'step %d' % step['index'] if no_log else 'step %d (%s)' % (step['index'], step['name'])

    ran_always = [step for step, entry in zip(steps, entries) if step['always'] and not entry.get('skipped')]
    skipped = sum(1 for step, entry in zip(steps, entries) if not step['always'] and entry.get('skipped'))
    after = ''
    if skipped:
        after += '; %d later step(s) skipped' % skipped
    if ran_always:
        after += '; %d always step(s) ran' % len(ran_always)
    if ending == protocol.KILLED:
        return 'the chain was killed on request (asyncops.jobs.async_status mode=kill) %s%s' % (stopped_where, after)
    if ending == protocol.TIMEDOUT:
        return "Timeout exceeded: the chain's time limit of %gs was reached %s%s" % (time_limit, stopped_where, after)
    if failing:
        step, entry = failing[0]
        why = 'details censored, no_log' if no_log else str(entry.get('msg') or 'failed')[:300]
        more = ''
        if len(failing) > 1:
            more = '; %s failed too' % ', '.join(label(other) for other, _entry in failing[1:])
        return '%s failed: %s%s%s' % (label(step), why, after, more)
    main = sum(1 for step in steps if not step['always'])
    return 'all %d step(s) ran%s' % (main, after)


def step_warnings(steps: t.Sequence[StepSpec], entries: t.Sequence[Result], no_log: bool) -> list[t.Any]:
    """The warnings of the steps, for the chain's own (ansible-core shows a task's, not those of its results): a text
    warning says which step gave it; a module's structured warning is kept as it is."""
    found: list[t.Any] = []
    for step, entry in zip(steps, entries):
        warnings = entry.get('warnings') or []
        for warning in warnings if isinstance(warnings, list) else [warnings]:
            if isinstance(warning, str):
                prefix = 'step %d' % step['index'] if no_log else 'step %d (%s)' % (step['index'], step['name'])
                found.append('%s: %s' % (prefix, warning))
            else:
                found.append(warning)
    return found


def chain_state(result: t.Mapping[str, t.Any], ending: str | None) -> str:
    """The state of a finished chain: killed, timedout, failed or succeeded."""
    if ending in (protocol.KILLED, protocol.TIMEDOUT):
        return ending
    return protocol.ended_state(result)
