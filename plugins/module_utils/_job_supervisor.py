# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Starting a job detached from the connection and supervising it to its end.

launch() forks a detached supervisor (double fork + setsid) and returns as soon as the
supervisor reports that the job process exists and its 'running' record is on disk: there
is no fixed start window.  The supervisor:
  * becomes a child subreaper, so the whole job tree stays below it;
  * runs the job in its own session/process group, stdout/stderr going to files in the
    job's side directory (no pipes: huge output cannot deadlock, and status can show a tail);
  * wakes on SIGCHLD, on its deadline and on SIGTERM (mode=kill), so a timeout is enforced
    on time and a finished job is recorded at once;
  * hands the job its payload and arguments as /proc/<supervisor pid>/fd/N of descriptors it holds (never
    inherited by what the job starts), and closes and removes them the moment the job process ends;
  * starts nothing unless the job's record can be written: the room its running record and its final record
    need is reserved in its side dir first (the running record is written into its room, so the job's own
    output cannot crowd it out), and a job whose running record cannot be written all the same is stopped at
    once;
  * on timeout or kill, SIGTERMs the whole tree, waits the grace period, SIGKILLs the rest,
    and records failed/timedout (or killed) with the output captured so far;
  * when the job's main process ends and processes it started are still running, reports them
    (and stops them with leftovers=stop).
"""

from __future__ import annotations

import errno
import fcntl
import gc
import json
import os
import select
import signal
import time
import traceback
import typing as t

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_outcome as job_outcome
from ansible_collections.asyncops.jobs.plugins.module_utils import _job_process as proc
from ansible_collections.asyncops.jobs.plugins.module_utils import _job_protocol as protocol
from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import (
    HALT_FILE,
    TOKEN_FILE,
    JobStore,
    JobStoreError,
    dump_record,
    remove_task_tmp_dir,
)

if t.TYPE_CHECKING:
    from ansible_collections.asyncops.jobs.plugins.module_utils._job_types import JobMeta, JobRecord, JobSpec

STDOUT_FILE = 'stdout'
STDERR_FILE = 'stderr'
# files of the side dir that carry the task's arguments: gone as soon as the job process ended
INPUT_FILES = ('payload', 'args')
# how the job process starts, whether by posix_spawn or by fork + exec: these signals at their
# defaults (the supervisor handles or ignores them), stdout/stderr opened like this
JOB_DEFAULT_SIGNALS = (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP, signal.SIGPIPE, signal.SIGUSR1)
OUTPUT_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND
INPUT_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
# in a job's (or batch's) side dir from its start until its final record is written: room on the async dir's file
# system for that record, given back to write a small one when the full one does not fit (a disk full of output)
RESERVE_FILE = 'reserve'
# room held for the running record written once the job process started: the job's own output may fill the
# file system before that write, which then goes over these blocks (JobStore.write's room)
START_ROOM_FILE = 'reserve.start'
RECORD_RESERVE = 64 * 1024
# the exit code of a supervisor that could not start its job (nothing of it runs)
EXIT_NOT_STARTED = 3
PR_GET_DUMPABLE = 3
NO_ROOM = (errno.ENOSPC, errno.EDQUOT)


class LaunchError(Exception):
    pass


def expand_argv(argv: list[str]) -> list[str]:
    """Expand ~ and $VARS in each argument, as ansible.builtin.command does with expand_argument_vars."""
    return [os.path.expanduser(os.path.expandvars(arg)) for arg in argv]


def launch(store: JobStore, spec: JobSpec, supervisor: type[Supervisor] | None = None) -> dict[str, t.Any]:
    """Start the job described by spec under a detached supervisor (of class supervisor, Supervisor by default);
    return its running record."""
    try:
        return spawn_detached(
            lambda notify_fd: run_supervisor(store, spec, notify_fd, supervisor=supervisor), store.fds()
        )
    finally:
        store.release_starting(spec['jid'])


def spawn_detached(body: t.Callable[[int], None], keep_fds: t.Iterable[int] = ()) -> dict[str, t.Any]:
    """Run body(notify_fd) in a detached grandchild (own session, stdio on /dev/null, no other inherited
    descriptor than keep_fds: a connection's sockets, e.g. mitogen's, must not stay open for the job's life).

    body must write one JSON line to notify_fd: {"record": ...} once the work really started, or
    {"error": ...}.  Returns the record as soon as it arrives; no fixed start window.
    """
    read_fd, write_fd = os.pipe()
    keep = set(keep_fds) | {write_fd}
    first = os.fork()
    if first == 0:  # pragma: no cover - runs in the forked child
        try:
            os.close(read_fd)
            os.setsid()
            if os.fork() == 0:
                _detach_stdio()
                close_fds_except(keep)
                # objects inherited from the module stay out of the collector: forks of this long-lived
                # process (a batch's item supervisors) then copy far fewer pages
                gc.freeze()
                body(write_fd)
        except BaseException:
            _report_crash(write_fd)
        finally:
            os._exit(0)
    os.close(write_fd)
    os.waitpid(first, 0)
    message = _read_handshake(read_fd)
    os.close(read_fd)
    if not message:
        raise LaunchError('the job supervisor died before starting the job (see the system log); nothing was started')
    reply = json.loads(message)
    if 'error' in reply:
        raise LaunchError(reply['error'])
    return t.cast(t.Dict[str, t.Any], reply['record'])


def notify(fd: int | None, message: dict[str, t.Any]) -> None:
    if fd is not None:
        os.write(fd, (json.dumps(message) + '\n').encode())
        os.close(fd)


def _read_handshake(fd: int) -> str:
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except InterruptedError:
            continue
        if not data:
            break
        chunks.append(data)
        if data.endswith(b'\n'):
            break
    return b''.join(chunks).decode('utf-8', 'replace').strip()


def _report_crash(fd: int) -> None:
    try:
        os.write(fd, (json.dumps({'error': 'job supervisor failed: %s' % traceback.format_exc()}) + '\n').encode())
    except OSError:
        pass


def close_fds_except(keep: t.Collection[int]) -> None:
    """Close every descriptor above stderr that is not in keep."""
    try:
        open_fds = [int(name) for name in os.listdir('/proc/self/fd')]
    except OSError:
        open_fds = list(range(3, min(os.sysconf('SC_OPEN_MAX'), 65536)))
    for fd in open_fds:
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _detach_stdio() -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)


class Supervisor:
    """State of one supervised job inside the supervisor process."""

    def __init__(self, store: JobStore, spec: JobSpec) -> None:
        self.store = store
        self.spec = spec
        self.jid = spec['jid']
        self.time_limit = float(spec.get('time_limit') or 0)
        self.grace = float(spec.get('grace', protocol.DEFAULTS['grace']))
        self.output_limit = int(spec.get('output_limit') or protocol.DEFAULTS['output_limit'])
        self.child: int | None = None
        self.child_status: int | None = None
        self.kill_requested = False
        self.started_at = 0.0
        self.meta: JobMeta = t.cast('JobMeta', {})
        self.release_fd: int | None = None  # set by a batch scheduler: told the moment the job process ended
        # what runs now: the job itself (for a chain, its current step: see _job_chain), its output files and the
        # files that carry its arguments
        self.job: t.Mapping[str, t.Any] = spec
        self.outputs: dict[str, str] = {'stdout': STDOUT_FILE, 'stderr': STDERR_FILE}
        self.input_names: tuple[str, ...] = INPUT_FILES
        self.argv: list[str] = list(spec['argv'])
        self.inputs: list[int] = []  # payload and args, held open (close-on-exec) while the job process runs
        self.token = proc.new_token()
        self.spared: list[proc.Marker] = []  # a chain's: markers of what its earlier steps left running (kept)
        self.group: proc.Group | None = None
        # a no_log task's: every reader of its record censors it, and messages name leftover processes by pid only,
        # never by command line (pids_only: that alone, where the task's no_log cannot be known)
        self.no_log = bool(spec.get('no_log'))
        self.pids_only = self.no_log or bool(spec.get('pids_only'))

    @property
    def marker(self) -> proc.Marker:
        return proc.Marker(self.store.record_path(self.jid), self.token)

    # -- start -------------------------------------------------------------------------
    def start(self) -> JobRecord:
        """Start the job and write its running record; all or nothing: when this raises, nothing of the job runs
        (what failed before the job process started stopped it from starting; after, the job tree was stopped)."""
        proc.become_subreaper()
        self.started_at = time.time()
        try:
            out, err = self._prepare()
        except BaseException:
            self._discard_start()
            raise
        try:
            self._start_process(out, err)
        except BaseException:
            self._discard_start()
            raise
        try:
            return self._record_start()
        except BaseException as exc:
            raise self._stop_unrecorded(exc)

    def _start_process(self, out: int, err: int) -> None:
        """Start the process of what runs (self.child) with these output files, which are closed here."""
        try:
            self.child = self._spawn_job(out, err)
            if self.child is None:
                self.child = os.fork()
                if self.child == 0:  # pragma: no cover - the job process
                    self._exec_job(out, err)
        finally:
            os.close(out)
            os.close(err)

    def _adopt_process(self) -> proc.Group:
        """Once the process of what runs exists: its own process group (self.group, returned: its id is the
        process's pid, `since` its start ticks)."""
        child = t.cast(int, self.child)
        try:
            os.setpgid(child, child)
        except OSError:
            pass  # the child already made itself a group leader (or is already gone)
        self.group = proc.Group(child, os.getsid(0), proc.start_ticks(child))
        return self.group

    def _record_start(self) -> JobRecord:
        """Once the job process exists: its identity, and the running record that names it."""
        group = self._adopt_process()
        child, job_start_ticks = group.pgid, group.since
        ident = proc.identity(os.getpid())
        self.meta = {
            'version': protocol.RECORD_VERSION,
            'module': self.spec.get('module'),
            'pid': child,
            'pgid': child,
            'sid': group.session,
            'supervisor_pid': ident['pid'],
            'supervisor_start_ticks': ident['start_ticks'],
            'job_start_ticks': job_start_ticks,
            'boot_id': ident['boot_id'],
            'started_at': self.started_at,
            'time_limit': self.time_limit,
            'grace': self.grace,
            'state': protocol.RUNNING,
        }
        if self.no_log:
            self.meta['no_log'] = True
        if self.pids_only:
            self.meta['pids_only'] = True
        if 'attempt' in self.spec:
            self.meta['attempts'] = self.spec['attempt']
        for key in protocol.META_FROM_SPEC:
            if key in self.spec:
                t.cast(t.Dict[str, t.Any], self.meta)[key] = t.cast(t.Dict[str, t.Any], self.spec)[key]
        self._add_meta()
        record = protocol.new_record(self.jid, self.store.record_path(self.jid), self.meta)
        self.store.write(self.jid, record, room=START_ROOM_FILE)
        return t.cast('JobRecord', record)

    def _add_meta(self) -> None:
        """What a kind of job adds to the meta of its running record (a chain: its steps and the current one)."""

    def _prepare(self) -> tuple[int, int]:
        """What the job needs in its side dir before it starts: the room its final record needs, its token, its
        output files (returned open) and its payload and args (held open). Failing here, nothing was started."""
        write_reserve(self.store, self.jid, self._reserve_size())
        self._hold_start_room()
        self.store.write_side_file(self.jid, TOKEN_FILE, self.token.encode())
        return self._open_job_files()

    def _hold_start_room(self) -> None:
        """Room for the running record written once the job process started (whatever its output fills by then)."""
        write_reserve(self.store, self.jid, self._reserve_size(), START_ROOM_FILE)

    def _open_job_files(self) -> tuple[int, int]:
        """The output files of what runs now (returned open) and its payload and args (held open)."""
        out = self.store.open_output(self.jid, self.outputs['stdout'], OUTPUT_FLAGS)
        try:
            err = self.store.open_output(self.jid, self.outputs['stderr'], OUTPUT_FLAGS)
            try:
                self.argv = self._argv_through_fds(self.inputs)
            except BaseException:
                os.close(err)
                raise
        except BaseException:
            os.close(out)
            raise
        return out, err

    def _reserve_size(self) -> int:
        """Room for the small record _record_write_failure writes: a margin, and what of the spec its meta carries."""
        return RECORD_RESERVE + len(
            dump_record({key: value for key, value in self.spec.items() if key in protocol.META_FROM_SPEC})
        )

    def _all_input_files(self) -> tuple[str, ...]:
        """Every file of the side dir that carries the task's arguments (a chain: those of every step)."""
        return input_files(self.spec)

    def _discard_start(self) -> None:
        """The job does not run: close and remove what was made for it (its payload and args go too)."""
        self._close_inputs()
        try:
            self.store.remove_side_files(
                self.jid, self._all_input_files() + (TOKEN_FILE, RESERVE_FILE, START_ROOM_FILE)
            )
        except (OSError, JobStoreError):
            pass

    def _stop_unrecorded(self, exc: BaseException) -> LaunchError:
        """The job process started but its running record could not be written: no job may run without a record (a
        run again would run it twice), so its whole tree is stopped at once. Returns the error that says so."""
        report = proc.stop_tree(
            root_pid=os.getpid(), group=self.group, marker=self.marker, grace=0, on_reap=self._on_reap, killpg=True
        )
        self._discard_start()
        outcome = 'the job had started and was stopped at once (%d process(es) signalled)' % report.termed
        if report.survivors:
            outcome += ', but %d could not be stopped: %s' % (
                len(report.survivors),
                proc.describe_pids(report.survivors, commands=not self.no_log),
            )
        else:
            outcome += ': nothing of it runs'
        return LaunchError('its record could not be written: %s; %s' % (describe_error(exc, self.store.path), outcome))

    def start_error(self, exc: BaseException) -> str:
        """What start() raising exc means for the user: why, and that nothing of the job runs."""
        if isinstance(exc, LaunchError):
            return str(exc)  # _stop_unrecorded's: says what became of the job
        return '%s; nothing was started' % describe_error(exc, self.store.path)

    def record_start_failure(self, message: str) -> None:
        """A batch item that could not start: its pending record becomes a failure that says why. When even that
        cannot be written, its scheduler records it (the supervisor exits with EXIT_NOT_STARTED)."""
        if 'batch_jid' not in self.spec:
            return
        try:
            pending = self.store.read(self.jid) or {}
            meta = dict(protocol.job_meta(pending) or {}, state=protocol.FAILED, ended_at=time.time())
            self.store.write(
                self.jid,
                protocol.new_record(
                    self.jid,
                    self.store.record_path(self.jid),
                    meta,
                    finished=True,
                    fields={'started': False, 'failed': True, 'changed': False, 'msg': message},
                ),
            )
        except (OSError, JobStoreError):
            pass

    def _argv_through_fds(self, opened: list[int]) -> list[str]:
        """The job's argv, its payload and args files (in its side dir) named by /proc/<our pid>/fd/N of descriptors
        this supervisor holds open until the job process ended: opened relative to the side dir's descriptor, without
        following links, and checked to be ours, so nothing runs or is read through a path that could have been
        swapped since. They are close-on-exec: no process the job starts inherits them (one of another user, after
        `su`, would read the task's arguments), and the kernel lets only processes of our uid open that path.
        Where /proc is missing or this process is not dumpable (then only root may open it), the path in the side
        dir itself: 0700, below directories only we or root can change."""
        argv = list(self.job['argv'])
        wanted = {self.store.side_file(self.jid, name): name for name in self.input_names}
        if not any(arg in wanted for arg in argv):
            return argv
        held = held_fds_dir()
        for index, arg in enumerate(argv):
            if arg not in wanted:
                continue
            fd = self.store.open_side_file(self.jid, wanted[arg], INPUT_FLAGS)
            opened.append(fd)
            through = held_fd_path(held, fd) if held else None
            if through is not None:
                argv[index] = through
        return argv

    def _close_inputs(self) -> None:
        while self.inputs:
            os.close(self.inputs.pop())

    def _job_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env[proc.JOB_ENV_MARKER] = self.marker.path
        env[proc.JOB_ENV_TOKEN] = self.marker.token
        return env

    def _spawn_job(self, out: int, err: int) -> int | None:
        """Start the job with posix_spawn (no copy of this process's memory); None where that cannot
        do what _exec_job does (chdir, no posix_spawn, or any error: _exec_job then reports it)."""
        if self.job.get('chdir') or not hasattr(os, 'posix_spawnp'):
            return None
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, out, 1),
            (os.POSIX_SPAWN_DUP2, err, 2),
        ]
        argv = self.argv
        try:
            # the job runs detached, in its own process group, with output files and a time limit: run_command would
            # wait for it, which is the one thing a background job must not do
            return os.posix_spawnp(  # pylint: disable=ansible-bad-function
                argv[0],
                argv,
                self._job_env(),
                file_actions=actions,
                setpgroup=0,
                setsigdef=JOB_DEFAULT_SIGNALS,
            )
        except (OSError, ValueError, TypeError):
            return None

    def _exec_job(self, out: int, err: int) -> None:
        try:
            os.setpgid(0, 0)
            for sig in JOB_DEFAULT_SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(out, 1)
            os.dup2(err, 2)
            chdir = self.job.get('chdir')
            if chdir:
                os.chdir(chdir)
            os.execvpe(self.argv[0], self.argv, self._job_env())
        except BaseException as exc:
            try:
                os.write(2, ('asyncops.jobs: could not start %r: %s\n' % (self.job['argv'], exc)).encode())
            except OSError:
                pass
        os._exit(127)

    # -- supervise ---------------------------------------------------------------------
    def run(self, wake_fd: int) -> dict[str, t.Any] | None:
        deadline = self.started_at + self.time_limit if self.time_limit > 0 else None
        while True:
            self._reap()
            if self.child_status is not None:
                return self._finish_normally()
            if self.kill_requested:
                return self._interrupt(protocol.KILLED)
            if deadline is not None and time.time() >= deadline:
                return self._interrupt(protocol.TIMEDOUT)
            wait = 1.0 if deadline is None else max(0.0, min(1.0, deadline - time.time()))
            wait_readable(wake_fd, wait)

    def _reap(self) -> None:
        for pid, status in proc.reap_children().items():
            if pid == self.child:
                self.child_status = status

    def _job_ended(self) -> None:
        """The job process is gone: free a batch slot and remove what carried the task's arguments (and, in keyword
        mode, the task's remote tmp dir, where the module file was). A batch item that may be started again keeps its
        payload and args in its side dir for that: its scheduler removes them once the item's last attempt ended."""
        release(self.release_fd)
        self._process_ended()
        if self.spec.get('cleanup_dir'):
            remove_task_tmp_dir(self.spec['cleanup_dir'])

    def _process_ended(self) -> None:
        """The process of what ran is gone: close and remove what carried its arguments (a batch item that may be
        started again keeps them in its side dir: its scheduler removes them once the item's last attempt ended)."""
        self._close_inputs()
        if not self.spec.get('retry'):
            self.store.remove_side_files(self.jid, self.input_names)

    def _finish_normally(self) -> dict[str, t.Any] | None:
        ended_at = time.time()
        self._job_ended()
        result, rc = self._ended_result(ended_at, self.started_at)
        return self._record(result, protocol.ended_state(result), ended_at, rc=rc)

    def _ended_result(self, ended_at: float, started_at: float) -> tuple[dict[str, t.Any], int]:
        """The result of what ran, once its process ended by itself (and its exit code): a command's from its exit
        status and output, a module's from its output, with the processes it left running."""
        rc, exit_text = proc.describe_wait_status(t.cast(int, self.child_status))
        notes = self._leftovers()
        if self.job.get('result_style') == 'command':
            out, err = self._captured(self.outputs['stdout']), self._captured(self.outputs['stderr'])
            result = job_outcome.command_result(
                self.job.get('cmd'),
                rc,
                exit_text,
                out,
                err,
                started_at,
                ended_at,
                strip_empty_ends=self.job.get('strip_empty_ends', True),
            )
            self._keep_clipped(result, {'stdout': out, 'stderr': err})
        else:
            result = self._module_result(rc, exit_text)
        for key, value in notes.items():
            if key == 'warnings':
                job_outcome.add_warnings(result, value)
            else:
                result[key] = value
        return result, rc

    def _module_result(self, rc: int, exit_text: str) -> dict[str, t.Any]:
        """A module job's result: its stdout parsed as JSON if it is no bigger than module_parse_limit (nothing bigger
        is read into memory), else a failure with its head and tail. Whenever the record holds only part of the raw
        output (or of the result's stdout/stderr), the whole of it is kept on the target and the record says where."""
        parse_limit = job_outcome.module_parse_limit(self.output_limit)
        raw_limit = min(self.output_limit, job_outcome.RAW_OUTPUT_LIMIT)
        stderr = self._captured(self.outputs['stderr'], raw_limit)
        size = self.store.read_output(self.jid, self.outputs['stdout'], 0, 0)[2]
        if size > parse_limit:
            stdout = self._captured(self.outputs['stdout'], raw_limit)
            parsed = job_outcome.unparsed_module_output(stdout, stderr, rc, exit_text, parse_limit)
            self._keep_clipped(
                parsed.result, {'stdout': stdout}, "what is parsed as a module's result (%d)" % parse_limit
            )
        else:
            whole = self.store.read_output(self.jid, self.outputs['stdout'], parse_limit, 0)[0]
            parsed = job_outcome.read_module_output(whole, stderr, rc, exit_text, raw_limit)
            if parsed.stdout_clipped:
                self._keep_clipped(
                    parsed.result,
                    {'stdout': job_outcome.Captured(b'', b'', len(whole))},
                    'what a failure record shows (%d)' % raw_limit,
                )
            elif job_outcome.clip_fields(parsed.result, self.output_limit):
                self._keep_clipped(parsed.result, {'stdout': job_outcome.Captured(b'', b'', len(whole))})
        if parsed.stderr_clipped:
            self._keep_clipped(parsed.result, {'stderr': stderr}, 'what a record shows of it (%d)' % raw_limit)
        return parsed.result

    def _captured(self, name: str, limit: int | None = None) -> job_outcome.Captured:
        """Head and tail of an output file, at most limit (default: output_limit) bytes in all."""
        limit = self.output_limit if limit is None else limit
        half = limit // 2
        return job_outcome.Captured(*self.store.read_output(self.jid, name, half, limit - half))

    def _captured_or_nothing(self, name: str) -> job_outcome.Captured:
        """What _captured gives, or nothing when the output cannot be read: a crash is still recorded."""
        try:
            return self._captured(name)
        except (OSError, JobStoreError):
            return job_outcome.Captured(b'', b'', 0)

    def _keep_clipped(
        self, result: dict[str, t.Any], streams: dict[str, job_outcome.Captured], limit: str | None = None
    ) -> None:
        """Move the whole output of clipped streams ('stdout', 'stderr') out of the side dir and say where it is
        (limit: what it was more than, output_limit by default)."""
        for name, captured in streams.items():
            if not captured.cut:
                continue
            try:
                path = self.store.keep_output(self.jid, self.outputs[name])
            except OSError:
                continue
            result['output_truncated'] = True
            result['%s_file' % name] = path
            job_outcome.add_warnings(
                result,
                [
                    '%s was %d bytes, more than %s: the result holds its first and last part; the whole of '
                    'it is in %s on the target (removed by asyncops.jobs.async_status mode=cleanup older_than=...)'
                    % (name, captured.size, limit or 'output_limit (%d)' % self.output_limit, path)
                ],
            )

    def _leftovers(self) -> dict[str, t.Any]:
        """Processes of the job tree still running after its main process ended: reported, or stopped."""
        left = proc.ProcessTable().tree(root_pid=os.getpid(), group=self.group, marker=self.marker, spare=self.spared)
        if not left:
            return {}
        described = proc.describe_pids(left, commands=not self.pids_only)
        if self.spec.get('leftovers') == 'stop':
            report = proc.stop_tree(
                root_pid=os.getpid(),
                group=self.group,
                marker=self.marker,
                grace=self.grace,
                killpg=True,
                spare=self.spared,
            )
            notes: dict[str, t.Any] = {
                'leftovers_stopped': sorted(left),
                'warnings': [
                    'the job left %d process(es) running when it ended: %s; they were stopped (leftovers=stop)%s'
                    % (len(left), described, self._not_stopped(report))
                ],
            }
            return notes
        return {
            'leftovers': sorted(left),
            'warnings': [
                'the job left %d process(es) running when it ended: %s. They are not supervised any more (its time limit no '
                'longer applies to them); set leftovers=stop to stop them with the job' % (len(left), described)
            ],
        }

    def _not_stopped(self, report: proc.StopReport) -> str:
        if not report.survivors:
            return ''
        return '; %d could not be stopped: %s' % (
            len(report.survivors),
            proc.describe_pids(report.survivors, commands=not self.pids_only),
        )

    def _interrupt(self, reason: str) -> dict[str, t.Any] | None:
        stopped_at = time.time()
        report = self._stop_job_tree()
        self._job_ended()
        if reason == protocol.TIMEDOUT:
            msg = (
                'Timeout exceeded: the job ran longer than its time limit of %gs and was stopped '
                '(SIGTERM to %d process(es), SIGKILL to %d after a %gs grace period)'
                % (self.time_limit, report.termed, report.killed, self.grace)
            )
        elif self._halt_reason():
            msg = (
                'Job stopped: %s, and on_halt is kill: SIGTERM to %d process(es), SIGKILL to %d after a %gs grace '
                'period' % (self._halt_reason(), report.termed, report.killed, self.grace)
            )
        else:
            msg = (
                'Job killed on request (asyncops.jobs.async_status mode=kill): SIGTERM to %d process(es), '
                'SIGKILL to %d after a %gs grace period' % (report.termed, report.killed, self.grace)
            )
        result = self._stopped_result(reason, msg + self._not_stopped(report))
        self.meta['stopped_at'] = stopped_at
        return self._record(result, reason, time.time())

    def _stop_job_tree(self) -> proc.StopReport:
        """Stop the whole tree of what runs (SIGTERM, grace, SIGKILL), reaping its main process."""
        return proc.stop_tree(
            root_pid=os.getpid(),
            group=self.group,
            marker=self.marker,
            grace=self.grace,
            on_reap=self._on_reap,
            killpg=True,
            spare=self.spared,
        )

    def _stopped_result(self, reason: str, msg: str) -> dict[str, t.Any]:
        """The result of what ran once it was stopped (reason: timedout or killed), with its output so far."""
        result = job_outcome.interrupted_result(
            reason, msg, self._captured(self.outputs['stdout']), self._captured(self.outputs['stderr'])
        )
        if self.child_status is not None:
            result['rc'] = proc.describe_wait_status(self.child_status)[0]
        return result

    def record_crash(self, trace: str) -> None:
        """The supervisor itself failed while the job ran: a failed record that says so, with the output so far."""
        self._record(
            job_outcome.interrupted_result(
                'failed',
                'job supervisor crashed: %s' % trace,
                self._captured_or_nothing(self.outputs['stdout']),
                self._captured_or_nothing(self.outputs['stderr']),
            ),
            'failed',
            time.time(),
        )

    def _halt_reason(self) -> str:
        """Why the batch of this item halted, when its scheduler stopped it for that (on_halt=kill); '' otherwise."""
        if 'batch_jid' not in self.spec:
            return ''
        try:
            return self.store.read_output(self.jid, HALT_FILE, 512, 0)[0].decode('utf-8', 'replace').strip()
        except (OSError, JobStoreError):
            return ''

    def _on_reap(self, pid: int, status: int) -> None:
        if pid == self.child:
            self.child_status = status

    def _record(
        self, result: dict[str, t.Any], state: str, ended_at: float, rc: int | None = None
    ) -> dict[str, t.Any] | None:
        self.meta.update({'state': state, 'ended_at': ended_at, 'elapsed': round(ended_at - self.started_at, 3)})
        if rc is not None:
            self.meta['rc'] = rc
        fields = dict(result, started=True)
        if 'attempt' in self.spec:
            fields['attempts'] = self.spec['attempt']
            if self.spec.get('previous_attempts'):
                fields['previous_attempts'] = list(self.spec['previous_attempts'])
        retrying = state in protocol.RETRIED_STATES and bool(self.spec.get('retry'))
        meta = self._retrying_meta(state, ended_at) if retrying else self.meta
        result = protocol.new_record(
            self.jid, self.store.record_path(self.jid), meta, finished=not retrying, fields=fields
        )
        try:
            self.store.write(self.jid, result)
        except FileNotFoundError:
            return None  # the record was cleaned up while the job ran: do not bring it back
        except OSError as exc:
            self._record_write_failure(exc, result)
            return result
        release_reserve(self.store, self.jid)
        return result

    def _retrying_meta(self, state: str, ended_at: float) -> JobMeta:
        """The meta of a batch item's attempt that failed and is started again (item_retries): not finished, state
        retrying, when it starts again; the batch's scheduler, which starts it again, answers for it from now on (a
        status call judges it lost only if the scheduler is gone)."""
        plan = self.spec['retry']
        scheduler = plan['scheduler']
        meta = t.cast(
            'JobMeta',
            dict(
                self.meta,
                state=protocol.RETRYING,
                attempt_state=state,
                retry_at=round(ended_at + float(plan['delay']), 3),
            ),
        )
        meta['supervisor_pid'] = scheduler['pid']
        meta['supervisor_start_ticks'] = scheduler['start_ticks']
        meta['boot_id'] = scheduler['boot_id']
        return meta

    def _record_write_failure(self, exc: OSError, result: dict[str, t.Any]) -> None:
        """Storing the full result failed (a file system full of the job's output): the room reserved at the start is
        given back, and a small record says so with the job's exit code, state and elapsed time (never lost)."""
        release_reserve(self.store, self.jid)
        state = self.meta.get('state')
        small = protocol.new_record(
            self.jid,
            self.store.record_path(self.jid),
            dict(self.meta, state=protocol.FAILED if state == protocol.SUCCEEDED else state),
            finished=True,
            fields={
                'failed': True,
                'msg': 'the job ended (%s) after %ss, but its result could not be stored in %s: %s (the full record '
                'was %d bytes). Free space in the async dir, or point async_dir at a bigger file system'
                % (
                    describe_end(state, result.get('rc')),
                    self.meta.get('elapsed'),
                    self.store.path,
                    exc.strerror,
                    len(dump_record(result)),
                ),
            },
        )
        for key in ('rc', 'changed', 'timedout', 'killed', 'output_truncated', 'stdout_file', 'stderr_file'):
            if key in result:
                small[key] = result[key]
        write_when_room(self.store, self.jid, small)


def describe_end(state: str | None, rc: int | None) -> str:
    """How a job ended, in a few words: 'failed, rc 3', 'timed out', ..."""
    words = {'timedout': 'timed out', 'killed': 'killed on request'}.get(state or '', state or 'ended')
    return words if rc is None else '%s, rc %d' % (words, rc)


def describe_error(exc: BaseException, async_dir: str) -> str:
    """An error of the engine's own files for a message: a full file system says which and what to do."""
    if isinstance(exc, OSError) and exc.errno in NO_ROOM:
        return '%s in %s (free space there, or point async_dir at a bigger file system)' % (exc.strerror, async_dir)
    if isinstance(exc, OSError) and exc.strerror:
        return '%s: %s' % (exc.filename, exc.strerror) if exc.filename else exc.strerror
    return str(exc)


def write_reserve(store: JobStore, jid: str, size: int, name: str = RESERVE_FILE) -> None:
    """Reserve room on the async dir's file system for a record written later, however full it gets by then: a file
    (name) of size bytes in jid's side dir, of real blocks (random bytes: no compressing file system stores them in
    less). Raises when there is no room (a partial file is removed)."""
    try:
        store.write_side_file(jid, name, os.urandom(size))
    except BaseException:
        release_reserve(store, jid, name)
        raise


def release_reserve(store: JobStore, jid: str, name: str = RESERVE_FILE) -> None:
    """Give back the room write_reserve took (nothing when there is none)."""
    try:
        store.remove_side_files(jid, (name,))
    except (OSError, JobStoreError):
        pass


def input_files(spec: JobSpec) -> tuple[str, ...]:
    """The side files that carry the task's arguments for spec: its payload and args, a chain's those of every step."""
    if spec.get('steps'):
        return tuple(protocol.step_file(name, step['index']) for step in spec['steps'] for name in INPUT_FILES)
    return INPUT_FILES


def write_when_room(store: JobStore, jid: str, record: dict[str, t.Any], attempts: int = 10) -> bool:
    """Write a small record right after giving back reserved room. A copy-on-write file system (btrfs, ZFS) may make
    freed blocks usable only once it committed, so a full one is tried again for a couple of seconds. True if written.
    """
    for attempt in range(attempts):
        try:
            store.write(jid, record)
            return True
        except OSError as exc:
            if exc.errno not in NO_ROOM or attempt == attempts - 1:
                return False
            time.sleep(0.2)
    return False


def held_fds_dir() -> str | None:
    """/proc/<our pid>/fd, through which another process of our uid (the job) opens a descriptor we hold, if it can:
    /proc is there and we are dumpable (prctl PR_GET_DUMPABLE == 1; otherwise the kernel lets only root in)."""
    if not is_dumpable():
        return None
    path = '/proc/%d/fd' % os.getpid()
    return path if os.path.isdir(path) else None


def is_dumpable() -> bool:
    """Whether prctl says this process is dumpable; False where that cannot be asked (no ctypes, not Linux)."""
    try:
        import ctypes

        return bool(ctypes.CDLL(None, use_errno=True).prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1)
    except Exception:  # pylint: disable=broad-except
        return False  # any failure means: do not rely on /proc/<pid>/fd


def held_fd_path(base: str, fd: int) -> str | None:
    """base/fd if it names the file fd has open (what another process of our uid then opens), else None."""
    path = '%s/%d' % (base, fd)
    try:
        st, held = os.stat(path), os.fstat(fd)
    except OSError:
        return None
    return path if (st.st_dev, st.st_ino) == (held.st_dev, held.st_ino) else None


def wait_readable(fd: int, timeout: float, extra_fds: t.Sequence[int] = ()) -> bytes:
    """Sleep until fd is readable (a signal arrived), one of extra_fds is, or timeout seconds passed.

    fd is drained; returns the data read from the extra fds that were ready (non-blocking fds)."""
    try:
        ready, _w, _x = select.select([fd] + list(extra_fds), [], [], timeout)
    except OSError:
        return b''
    if fd in ready:
        drain(fd)
    return b''.join(drain(ready_fd) for ready_fd in ready if ready_fd != fd)


def drain(fd: int) -> bytes:
    chunks = []
    try:
        while True:
            data = os.read(fd, 4096)
            if not data:
                break
            chunks.append(data)
    except OSError:
        pass
    return b''.join(chunks)


class Wakeable(t.Protocol):
    kill_requested: bool


def install_signals(target: Wakeable, on_usr1: t.Callable[[], None] | None = None) -> int:
    """Wake the process on SIGCHLD/SIGTERM/SIGUSR1 through a pipe; SIGTERM sets target.kill_requested."""
    wake_r, wake_w = os.pipe()
    for fd in (wake_r, wake_w):
        set_nonblocking(fd)

    def on_term(_sig: int, _frame: t.Any) -> None:
        target.kill_requested = True

    def on_user(_sig: int, _frame: t.Any) -> None:
        if on_usr1:
            on_usr1()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGUSR1, on_user)
    signal.signal(signal.SIGCHLD, lambda _sig, _frame: None)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.set_wakeup_fd(wake_w)
    return wake_r


def release(fd: int | None) -> None:
    """Tell a batch scheduler that this item's job process ended, before its result is recorded, so that
    the next item starts at once. The message is this supervisor's pid."""
    if fd is not None:
        try:
            os.write(fd, b'%d\n' % os.getpid())
        except OSError:
            pass


def run_supervisor(
    store: JobStore,
    spec: JobSpec,
    notify_fd: int | None = None,
    release_fd: int | None = None,
    supervisor: type[Supervisor] | None = None,
) -> None:  # pragma: no cover - runs in a detached process
    """Supervise one job in this (already detached) process, then exit. supervisor: the class that supervises it
    (Supervisor by default; a chain's, see _job_chain)."""
    store.release_starting()  # the launcher keeps its own lock until our record exists
    sup = (supervisor or Supervisor)(store, spec)
    sup.release_fd = release_fd
    wake_r = install_signals(sup)
    try:
        record = sup.start()
    except BaseException as exc:
        message = 'could not start the job: %s' % sup.start_error(exc)
        if notify_fd is None:
            sup.record_start_failure(message)  # a batch item's: its record says why
        notify(notify_fd, {'error': message})
        os._exit(EXIT_NOT_STARTED)
    notify(notify_fd, {'record': record})
    try:
        sup.run(wake_r)
    except BaseException:
        sup.record_crash(traceback.format_exc())
    os._exit(0)


def set_nonblocking(fd: int) -> None:
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
