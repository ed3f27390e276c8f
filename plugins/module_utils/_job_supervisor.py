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
  * removes the job's payload and arguments the moment the job process ends;
  * on timeout or kill, SIGTERMs the whole tree, waits the grace period, SIGKILLs the rest,
    and records failed/timedout (or killed) with the output captured so far;
  * when the job's main process ends and processes it started are still running, reports them
    (and stops them with leftovers=stop).
"""

from __future__ import annotations

import fcntl
import gc
import json
import os
import select
import signal
import time
import traceback
import typing as t

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_process as proc
from ansible_collections.asyncops.jobs.plugins.module_utils import _job_result as job_result
from ansible_collections.asyncops.jobs.plugins.module_utils._job_options import DEFAULTS
from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import (
    META_KEY, RECORD_VERSION, TOKEN_FILE, JobStore, JobStoreError, remove_task_tmp_dir)

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


class LaunchError(Exception):
    pass


def expand_argv(argv: list[str]) -> list[str]:
    """Expand ~ and $VARS in each argument, as ansible.builtin.command does with expand_argument_vars."""
    return [os.path.expanduser(os.path.expandvars(arg)) for arg in argv]


def launch(store: JobStore, spec: JobSpec) -> dict[str, t.Any]:
    """Start the job described by spec under a detached supervisor; return its running record."""
    try:
        return spawn_detached(lambda notify_fd: run_supervisor(store, spec, notify_fd), store.fds())
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
        self.grace = float(spec.get('grace', DEFAULTS['grace']))
        self.output_limit = int(spec.get('output_limit') or DEFAULTS['output_limit'])
        self.child: int | None = None
        self.child_status: int | None = None
        self.kill_requested = False
        self.started_at = 0.0
        self.meta: JobMeta = t.cast('JobMeta', {})
        self.release_fd: int | None = None  # set by a batch scheduler: told the moment the job process ended
        self.argv: list[str] = list(spec['argv'])
        self.token = proc.new_token()
        self.group: proc.Group | None = None
        # a no_log task's: messages name leftover processes by pid only, never by command line
        self.no_log = bool(spec.get('no_log'))

    @property
    def marker(self) -> proc.Marker:
        return proc.Marker(self.store.record_path(self.jid), self.token)

    # -- start -------------------------------------------------------------------------
    def start(self) -> JobRecord:
        proc.become_subreaper()
        self.started_at = time.time()
        self.store.write_side_file(self.jid, TOKEN_FILE, self.token.encode())
        out = self.store.open_output(self.jid, STDOUT_FILE, OUTPUT_FLAGS)
        try:
            err = self.store.open_output(self.jid, STDERR_FILE, OUTPUT_FLAGS)
        except BaseException:
            os.close(out)
            raise
        inputs: list[int] = []
        try:
            self.argv = self._argv_through_fds(inputs)
            self.child = self._spawn_job(out, err)
            if self.child is None:
                self.child = os.fork()
                if self.child == 0:  # pragma: no cover - the job process
                    self._exec_job(out, err)
        finally:
            os.close(out)
            os.close(err)
            for fd in inputs:
                os.close(fd)
        try:
            os.setpgid(self.child, self.child)
        except OSError:
            pass  # the child already made itself a group leader (or is already gone)
        ident = proc.identity(os.getpid())
        job_start_ticks = proc.start_ticks(self.child)
        self.group = proc.Group(self.child, os.getsid(0), job_start_ticks)
        self.meta = {
            'version': RECORD_VERSION,
            'module': self.spec.get('module'),
            'pid': self.child,
            'pgid': self.child,
            'sid': self.group.session,
            'supervisor_pid': ident['pid'],
            'supervisor_start_ticks': ident['start_ticks'],
            'job_start_ticks': job_start_ticks,
            'boot_id': ident['boot_id'],
            'started_at': self.started_at,
            'time_limit': self.time_limit,
            'grace': self.grace,
            'state': 'running',
        }
        if self.no_log:
            self.meta['no_log'] = True
        for key in ('batch_jid', 'index', 'key', 'cleanup_dir', 'collect'):
            if key in self.spec:
                t.cast(t.Dict[str, t.Any], self.meta)[key] = t.cast(t.Dict[str, t.Any], self.spec)[key]
        record: JobRecord = {'started': True, 'finished': False, 'ansible_job_id': self.jid,
                             'results_file': self.store.record_path(self.jid), 'asyncops_job': self.meta}
        self.store.write(self.jid, t.cast(t.Dict[str, t.Any], record))
        return record

    def _argv_through_fds(self, opened: list[int]) -> list[str]:
        """The job's argv, with its payload and args files (in its side dir) passed as descriptors the job inherits:
        opened relative to the side dir's descriptor, without following links, and checked to be ours, so nothing
        runs or is read through a path that could have been swapped since. Where the system has no /proc/self/fd or
        /dev/fd that reopens a descriptor, the path itself (below directories only we or root can change)."""
        argv = list(self.spec['argv'])
        wanted = {self.store.side_file(self.jid, name): name for name in INPUT_FILES}
        if not any(arg in wanted for arg in argv):
            return argv
        for index, arg in enumerate(argv):
            if arg not in wanted:
                continue
            fd = self.store.open_side_file(self.jid, wanted[arg], INPUT_FLAGS)
            opened.append(fd)
            through = fd_path(fd)
            if through is not None:
                os.set_inheritable(fd, True)
                argv[index] = through
        return argv

    def _job_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env[proc.JOB_ENV_MARKER] = self.marker.path
        env[proc.JOB_ENV_TOKEN] = self.marker.token
        return env

    def _spawn_job(self, out: int, err: int) -> int | None:
        """Start the job with posix_spawn (no copy of this process's memory); None where that cannot
        do what _exec_job does (chdir, no posix_spawn, or any error: _exec_job then reports it)."""
        if self.spec.get('chdir') or not hasattr(os, 'posix_spawnp'):
            return None
        actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_DUP2, out, 1),
                   (os.POSIX_SPAWN_DUP2, err, 2)]
        argv = self.argv
        try:
            # the job runs detached, in its own process group, with output files and a time limit: run_command would
            # wait for it, which is the one thing a background job must not do
            return os.posix_spawnp(argv[0], argv, self._job_env(),  # pylint: disable=ansible-bad-function
                                   file_actions=actions, setpgroup=0, setsigdef=JOB_DEFAULT_SIGNALS)
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
            chdir = self.spec.get('chdir')
            if chdir:
                os.chdir(chdir)
            os.execvpe(self.argv[0], self.argv, self._job_env())
        except BaseException as exc:
            try:
                os.write(2, ('asyncops.jobs: could not start %r: %s\n' % (self.spec['argv'], exc)).encode())
            except OSError:
                pass
        os._exit(127)

    # -- supervise ---------------------------------------------------------------------
    def run(self, wake_fd: int) -> dict[str, t.Any] | None:
        deadline = self.started_at + self.time_limit if self.time_limit > 0 else None
        while True:
            self._collect()
            if self.child_status is not None:
                return self._finish_normally()
            if self.kill_requested:
                return self._interrupt('killed')
            if deadline is not None and time.time() >= deadline:
                return self._interrupt('timedout')
            wait = 1.0 if deadline is None else max(0.0, min(1.0, deadline - time.time()))
            wait_readable(wake_fd, wait)

    def _collect(self) -> None:
        for pid, status in proc.reap_children().items():
            if pid == self.child:
                self.child_status = status

    def _job_ended(self) -> None:
        """The job process is gone: free a batch slot and remove what carried the task's arguments (and, in keyword
        mode, the task's remote tmp dir, where the module file was)."""
        release(self.release_fd)
        self.store.remove_side_files(self.jid, INPUT_FILES)
        if self.spec.get('cleanup_dir'):
            remove_task_tmp_dir(self.spec['cleanup_dir'])

    def _finish_normally(self) -> dict[str, t.Any] | None:
        ended_at = time.time()
        self._job_ended()
        rc, exit_text = proc.describe_wait_status(t.cast(int, self.child_status))
        notes = self._leftovers()
        if self.spec.get('result_style') == 'command':
            out, err = self._captured(STDOUT_FILE), self._captured(STDERR_FILE)
            result = job_result.command_result(self.spec.get('cmd'), rc, exit_text, out, err, self.started_at,
                                               ended_at, strip_empty_ends=self.spec.get('strip_empty_ends', True))
            self._keep_clipped(result, {STDOUT_FILE: out, STDERR_FILE: err})
        else:
            stdout = self.store.read_output(self.jid, STDOUT_FILE, 1 << 62, 0)[0]
            result = job_result.parse_module_output(stdout, self._captured(STDERR_FILE).data(), rc, exit_text)
            if job_result.clip_fields(result, self.output_limit):
                self._keep_clipped(result, {STDOUT_FILE: job_result.Captured(b'', b'', len(stdout))})
        for key, value in notes.items():
            if key == 'warnings':
                job_result.add_warnings(result, value)
            else:
                result[key] = value
        state = 'failed' if result.get('failed') else 'succeeded'
        return self._record(result, state, ended_at, rc=rc)

    def _captured(self, name: str) -> job_result.Captured:
        half = self.output_limit // 2
        return job_result.Captured(*self.store.read_output(self.jid, name, half, self.output_limit - half))

    def _captured_or_nothing(self, name: str) -> job_result.Captured:
        """What _captured gives, or nothing when the output cannot be read: a crash is still recorded."""
        try:
            return self._captured(name)
        except (OSError, JobStoreError):
            return job_result.Captured(b'', b'', 0)

    def _keep_clipped(self, result: dict[str, t.Any], streams: dict[str, job_result.Captured]) -> None:
        """Move the whole output of clipped streams out of the side dir and say where it is."""
        for name, captured in streams.items():
            if not captured.cut:
                continue
            try:
                path = self.store.keep_output(self.jid, name)
            except OSError:
                continue
            result['output_truncated'] = True
            result['%s_file' % name] = path
            job_result.add_warnings(result, [
                '%s was %d bytes, more than output_limit (%d): the result holds its first and last part; the whole of '
                'it is in %s on the target (removed by asyncops.jobs.async_status mode=cleanup older_than=...)'
                % (name, captured.size, self.output_limit, path)])

    def _leftovers(self) -> dict[str, t.Any]:
        """Processes of the job tree still running after its main process ended: reported, or stopped."""
        left = proc.ProcessTable().tree(root_pid=os.getpid(), group=self.group, marker=self.marker)
        if not left:
            return {}
        described = proc.describe_pids(left, commands=not self.no_log)
        if self.spec.get('leftovers') == 'stop':
            report = proc.stop_tree(root_pid=os.getpid(), group=self.group, marker=self.marker, grace=self.grace,
                                    killpg=True)
            notes: dict[str, t.Any] = {'leftovers_stopped': sorted(left), 'warnings': [
                'the job left %d process(es) running when it ended: %s; they were stopped (leftovers=stop)%s'
                % (len(left), described, self._not_stopped(report))]}
            return notes
        return {'leftovers': sorted(left), 'warnings': [
            'the job left %d process(es) running when it ended: %s. They are not supervised any more (its time limit no '
            'longer applies to them); set leftovers=stop to stop them with the job' % (len(left), described)]}

    def _not_stopped(self, report: proc.StopReport) -> str:
        if not report.survivors:
            return ''
        return '; %d could not be stopped: %s' % (len(report.survivors),
                                                  proc.describe_pids(report.survivors, commands=not self.no_log))

    def _interrupt(self, reason: str) -> dict[str, t.Any] | None:
        stopped_at = time.time()
        report = proc.stop_tree(root_pid=os.getpid(), group=self.group, marker=self.marker, grace=self.grace,
                                on_reap=self._on_reap, killpg=True)
        self._job_ended()
        if reason == 'timedout':
            msg = ('Timeout exceeded: the job ran longer than its time limit of %gs and was stopped '
                   '(SIGTERM to %d process(es), SIGKILL to %d after a %gs grace period)'
                   % (self.time_limit, report.termed, report.killed, self.grace))
        else:
            msg = ('Job killed on request (asyncops.jobs.async_status mode=kill): SIGTERM to %d process(es), '
                   'SIGKILL to %d after a %gs grace period' % (report.termed, report.killed, self.grace))
        msg += self._not_stopped(report)
        result = job_result.interrupted_result(reason, msg, self._captured(STDOUT_FILE), self._captured(STDERR_FILE))
        if self.child_status is not None:
            result['rc'] = proc.describe_wait_status(self.child_status)[0]
        self.meta['stopped_at'] = stopped_at
        return self._record(result, reason, time.time())

    def _on_reap(self, pid: int, status: int) -> None:
        if pid == self.child:
            self.child_status = status

    def _record(self, result: dict[str, t.Any], state: str, ended_at: float, rc: int | None = None) -> dict[str, t.Any] | None:
        self.meta.update({'state': state, 'ended_at': ended_at, 'elapsed': round(ended_at - self.started_at, 3)})
        if rc is not None:
            self.meta['rc'] = rc
        result.update({'started': True, 'finished': True, 'ansible_job_id': self.jid,
                       'results_file': self.store.record_path(self.jid), META_KEY: self.meta})
        try:
            self.store.write(self.jid, result)
        except FileNotFoundError:
            return None  # the record was cleaned up while the job ran: do not bring it back
        except OSError as exc:
            self._record_write_failure(exc)
        return result

    def record_start_failure(self, exc: BaseException) -> None:
        """The final record of a batch item whose job process could not be started (e.g. the process limit)."""
        meta = {'version': RECORD_VERSION, 'module': self.spec.get('module'), 'state': 'failed',
                'started_at': self.started_at, 'ended_at': time.time()}
        for key in ('batch_jid', 'index'):
            if key in self.spec:
                meta[key] = t.cast(t.Dict[str, t.Any], self.spec)[key]
        self._job_ended()
        try:
            self.store.write(self.jid, {'started': False, 'finished': True, 'failed': True, 'changed': False,
                                        'ansible_job_id': self.jid, 'results_file': self.store.record_path(self.jid),
                                        'msg': 'could not start the job: %s' % exc, META_KEY: meta})
        except OSError:
            pass

    def _record_write_failure(self, exc: OSError) -> None:
        """Storing the full result failed (e.g. ENOSPC): try a small record that says so."""
        small = {'started': True, 'finished': True, 'failed': True, 'ansible_job_id': self.jid,
                 'msg': 'the job ended but its result could not be stored in %s: %s (free space in the async dir, '
                        'or point async_dir at a bigger file system)' % (self.store.path, exc.strerror),
                 META_KEY: dict(self.meta, state='failed')}
        try:
            self.store.write(self.jid, small)
        except OSError:
            pass


def fd_path(fd: int) -> str | None:
    """A path by which a child process that inherits fd opens (or executes) that same file, if the system has one."""
    held = os.fstat(fd)
    for base in ('/proc/self/fd', '/dev/fd'):
        path = '%s/%d' % (base, fd)
        try:
            st = os.stat(path)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (held.st_dev, held.st_ino):
            return path
    return None


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


def run_supervisor(store: JobStore, spec: JobSpec, notify_fd: int | None = None,
                   release_fd: int | None = None) -> None:  # pragma: no cover - runs in a detached process
    """Supervise one job in this (already detached) process, then exit."""
    store.release_starting()  # the launcher keeps its own lock until our record exists
    sup = Supervisor(store, spec)
    sup.release_fd = release_fd
    wake_r = install_signals(sup)
    try:
        record = sup.start()
    except BaseException as exc:
        if notify_fd is None and sup.child is None:  # a batch item that never ran: no launch waits, its record says why
            sup.record_start_failure(exc)
        notify(notify_fd, {'error': 'could not start the job: %s' % exc})
        os._exit(1)
    notify(notify_fd, {'record': record})
    try:
        sup.run(wake_r)
    except BaseException:
        sup._record(job_result.interrupted_result('failed', 'job supervisor crashed: %s' % traceback.format_exc(),
                                                  sup._captured_or_nothing(STDOUT_FILE),
                                                  sup._captured_or_nothing(STDERR_FILE)),
                    'failed', time.time())
    os._exit(0)


def set_nonblocking(fd: int) -> None:
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
