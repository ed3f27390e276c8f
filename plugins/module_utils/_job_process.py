# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Processes on the target: identity (pid + start time + boot), the job tree, and stopping it.

A job's tree is every process that is, at the time of asking:
  * a descendant of the supervisor (the supervisor is a child subreaper on Linux, so
    double-forked daemons are re-parented to it instead of to init),
  * in the job's process group and the job's session, owned by us (real and effective uid) and
    started no earlier than the job (a group id is a pid: once the group is empty, another
    user's daemon can get the same id after the pids wrap), or
  * carrying the job's marker in its environment (ASYNCOPS_JOB_ID=<absolute path of the job
    record> and ASYNCOPS_JOB_TOKEN=<a random token per job>) and owned by us, which catches
    processes that escaped with setsid after the supervisor itself died. The path alone is not
    enough: it is visible in `ps`. The token is kept in the job's private side dir and the
    supervisor's memory, and it is in the environment of every process of the job (inherited by
    whatever they start, printed by a job that prints its environment). That is harmless because
    of the uid check: only our own processes (real and effective uid) count, and only their
    environment is read; to our own user the token is no secret, as it could signal the job anyway.
A process that leaves all three (a new session, a cleared environment, and a parent outside the
tree, which can only happen once the supervisor is gone) cannot be found: see docs/jobs.md.

Signals only go to a process whose start time is still the one seen when it was found (with a
pidfd where the kernel and Python have them, so a reused pid is never hit).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import secrets
import signal
import time
import typing as t

PROC = '/proc'
JOB_ENV_MARKER = 'ASYNCOPS_JOB_ID'
JOB_ENV_TOKEN = 'ASYNCOPS_JOB_TOKEN'
PR_SET_CHILD_SUBREAPER = 36


def have_proc() -> bool:
    return os.path.isdir(os.path.join(PROC, 'self'))


_BOOT_ID: list[str | None] = []


def boot_id() -> str | None:
    if not _BOOT_ID:
        try:
            with open('/proc/sys/kernel/random/boot_id') as f:
                _BOOT_ID.append(f.read().strip())
        except OSError:
            _BOOT_ID.append(None)
    return _BOOT_ID[0]


def from_another_boot(recorded_boot_id: str | None) -> bool:
    """True when a record was written before the last reboot: none of its processes can exist."""
    current = boot_id()
    return bool(recorded_boot_id and current and recorded_boot_id != current)


def _read_proc_file(path: str) -> bytes | None:
    """The whole of a /proc file, read with plain system calls (no buffered file object: a scan of /proc reads two
    files for each of thousands of processes); None when it cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        chunks: list[bytes] = []
        while True:
            data = os.read(fd, 65536)
            if not data:
                return b''.join(chunks)
            chunks.append(data)
    except OSError:
        return None
    finally:
        os.close(fd)


def _stat_fields(pid: int | str) -> list[bytes] | None:
    """Fields of /proc/<pid>/stat after the command name: [state, ppid, pgrp, ...], or None."""
    raw = _read_proc_file('%s/%s/stat' % (PROC, pid))
    if raw is None:
        return None
    return raw[raw.rfind(b')') + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """The process start time in clock ticks since boot (field 22 of /proc/<pid>/stat), or None."""
    fields = _stat_fields(pid)
    if not fields or len(fields) < 20:
        return None
    return int(fields[19])


def identity(pid: int) -> dict[str, t.Any]:
    """What identifies a process beyond its pid, which the kernel reuses."""
    return {'pid': pid, 'start_ticks': start_ticks(pid), 'boot_id': boot_id()}


def is_alive(ident: t.Mapping[str, t.Any]) -> bool:
    """True while the process recorded by identity() still exists (not a zombie, not a reused pid)."""
    pid = ident.get('pid')
    if not isinstance(pid, int) or pid <= 0:
        return False
    if from_another_boot(ident.get('boot_id')):
        return False
    if have_proc():
        fields = _stat_fields(pid)
        if fields is None or fields[0] in (b'Z', b'X'):
            return False
        return ident.get('start_ticks') is None or int(fields[19]) == ident['start_ticks']
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True  # it exists, it is just not ours
    except OSError:
        return False
    return True


_LIBC: list[t.Any] = []


def libc() -> t.Any:
    """The C library, loaded once per process (forks inherit it): the symbols of this process itself, where libc is,
    else the one find_library names. find_library runs `ldconfig -p` in a subprocess, which every item supervisor of
    a 1,000-item batch did once."""
    if not _LIBC:
        lib = ctypes.CDLL(None, use_errno=True)
        if not hasattr(lib, 'prctl'):
            lib = ctypes.CDLL(ctypes.util.find_library('c') or None, use_errno=True)
        _LIBC.append(lib)
    return _LIBC[0]


def become_subreaper() -> bool:
    """Make this process adopt orphaned descendants (Linux >= 3.4); False where unsupported."""
    try:
        return bool(libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError, TypeError):
        return False


class Group(t.NamedTuple):
    """A job's process group, told apart from a later group that reuses its id (a pid, once the group is empty)."""

    pgid: int
    session: int | None  # the job's session: a group lives in one session, another user's daemon in its own
    since: int | None  # the job's start ticks: a member that started before the job is not the job's


class Marker(t.NamedTuple):
    """What the job's processes carry in their environment: the record path (visible in ps) and a secret token."""

    path: str
    token: str


def new_token() -> str:
    return secrets.token_hex(16)


class ProcessTable:
    """One scan of /proc: {pid: (ppid, pgrp, start ticks, session)} and the job markers found in environments.

    A status call that judges many records shares one table, so the cost is one scan per call,
    not one per record."""

    def __init__(self) -> None:
        self.uid = os.geteuid()
        self.procs: dict[int, tuple[int, int, int, int]] = {}
        self.children: dict[int, list[int]] = {}
        self._markers: dict[Marker, list[int]] | None = None
        self._owned: dict[int, bool] = {}
        if have_proc():
            self._scan()

    def _scan(self) -> None:
        for name in os.listdir(PROC):
            if not name.isdigit():
                continue
            fields = _stat_fields(name)
            if fields and len(fields) >= 20 and fields[0] not in (b'Z', b'X'):
                pid = int(name)
                self.procs[pid] = (int(fields[1]), int(fields[2]), int(fields[19]), int(fields[3]))
                self.children.setdefault(int(fields[1]), []).append(pid)

    def owned(self, pid: int) -> bool:
        """Whether the process runs as us: real and effective uid both ours (read from /proc/<pid>/status, not from
        the owner of /proc/<pid>, which is root for any process that is not dumpable)."""
        if pid not in self._owned:
            self._owned[pid] = process_uids(pid) == (self.uid, self.uid)
        return self._owned[pid]

    def markers(self) -> dict[Marker, list[int]]:
        """{marker: pids} over our own processes that carry both variables (read once, on first use)."""
        if self._markers is None:
            self._markers = {}
            for pid in self.procs:
                found = marker_in(_environ(pid, self.uid))
                if found is not None:
                    self._markers.setdefault(found, []).append(pid)
        return self._markers

    def group_members(self, group: Group) -> list[int]:
        """Our processes of the job's group and session that started no earlier than the job."""
        return [
            pid
            for pid, (_ppid, pgrp, ticks, session) in self.procs.items()
            if pgrp == group.pgid
            and (group.session is None or session == group.session)
            and (group.since is None or ticks >= group.since)
            and self.owned(pid)
        ]

    def tree(
        self,
        root_pid: int | None = None,
        group: Group | None = None,
        marker: Marker | None = None,
        spare: t.Collection[Marker] = (),
    ) -> dict[int, int]:
        """{pid: start ticks} of the job tree (see module doc), never this process or root_pid itself.

        spare: markers of processes that are not part of it although below root_pid (a chain's earlier steps left
        them running, leftovers=keep): they and their descendants are left out."""
        found: set[int] = set()
        stack = list(self.children.get(root_pid, [])) if root_pid else []
        while stack:
            pid = stack.pop()
            if pid not in found:
                found.add(pid)
                stack.extend(self.children.get(pid, []))
        if group and group.pgid:
            found.update(self.group_members(group))
        if marker and marker.token:
            found.update(pid for pid in self.markers().get(marker, []) if self.owned(pid))
        if spare:
            found -= self.descendants_of(pid for kept in spare for pid in self.markers().get(kept, []))
        found.discard(os.getpid())
        found.discard(root_pid or 0)
        return {pid: self.procs[pid][2] for pid in sorted(found) if pid in self.procs}

    def descendants_of(self, pids: t.Iterable[int]) -> set[int]:
        """pids and every process below them."""
        found: set[int] = set()
        stack = list(pids)
        while stack:
            pid = stack.pop()
            if pid not in found:
                found.add(pid)
                stack.extend(self.children.get(pid, []))
        return found


def process_uids(pid: int) -> tuple[int, int] | None:
    """(real uid, effective uid) of a process, or None."""
    try:
        with open(os.path.join(PROC, str(pid), 'status'), 'rb') as f:
            for line in f:
                if line.startswith(b'Uid:'):
                    fields = line.split()
                    return int(fields[1]), int(fields[2])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _environ(pid: int, uid: int) -> bytes:
    """The environment of a process that belongs to us (for root too: only root's), as /proc has it (NUL-separated
    entries); b'' otherwise."""
    path = '%s/%d' % (PROC, pid)
    try:
        if os.stat(path).st_uid != uid:
            return b''
    except OSError:
        return b''
    return _read_proc_file(path + '/environ') or b''


MARKER_ENTRY = ('\0%s=' % JOB_ENV_MARKER).encode()
TOKEN_ENTRY = ('\0%s=' % JOB_ENV_TOKEN).encode()


def marker_in(environ: bytes) -> Marker | None:
    """The job marker an environment (NUL-separated entries) carries: both variables, the token not empty; where one
    is set twice, its last entry. None without. Only whole entries count (not `OTHER=ASYNCOPS_JOB_ID=...`); the
    entries are found by a search of the bytes, not by splitting them (a scan looks at every process's)."""
    data = b'\0' + environ
    values = []
    for entry in (MARKER_ENTRY, TOKEN_ENTRY):
        start = data.rfind(entry)
        if start < 0:
            return None
        start += len(entry)
        end = data.find(b'\0', start)
        values.append(data[start : end if end >= 0 else len(data)].decode('utf-8', 'replace'))
    return Marker(values[0], values[1]) if values[1] else None


def signal_process(pid: int, ticks: int | None, sig: int) -> bool:
    """Send sig to pid only if it is still the process that started at `ticks`; True if sent.

    With a pidfd (Linux 5.3+, Python 3.9+) the check and the signal refer to the same process even if
    the pid is reused in between."""
    pidfd_open = getattr(os, 'pidfd_open', None)
    if pidfd_open is not None:
        try:
            fd = pidfd_open(pid)
        except ProcessLookupError:
            return False
        except OSError:
            pass  # no pidfds here (ENOSYS, a seccomp filter): check, then signal by pid
        else:
            try:
                if ticks is not None and start_ticks(pid) != ticks:
                    return False
                signal.pidfd_send_signal(fd, sig)  # type: ignore[attr-defined]
                return True
            except OSError:
                return False
            finally:
                os.close(fd)
    if ticks is not None and start_ticks(pid) != ticks:
        return False
    try:
        os.kill(pid, sig)
        return True
    except OSError:
        return False


def signal_identity(ident: t.Mapping[str, t.Any], sig: int) -> bool:
    """Signal the process of a record's identity (pid + start ticks + boot id) if it is still that one."""
    if not is_alive(ident):
        return False
    return signal_process(ident['pid'], ident.get('start_ticks'), sig)


def signal_pids(procs: t.Mapping[int, int | None], sig: int) -> int:
    """Signal each {pid: start ticks}; the number sent."""
    return sum(1 for pid, ticks in procs.items() if signal_process(pid, ticks, sig))


def signal_group(pgid: int | None, sig: int) -> None:
    """Without /proc the job's process group is all we can reach (only while our supervisor holds it, never for a
    lost job: its group id may be another user's by now)."""
    if not pgid or have_proc():
        return
    try:
        os.killpg(pgid, sig)
    except OSError:
        pass


def reap_children() -> dict[int, int]:
    """Collect every exited child of this process; {pid: wait status}."""
    reaped: dict[int, int] = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        except InterruptedError:
            continue
        if pid == 0:
            return reaped
        reaped[pid] = status


class StopReport(t.NamedTuple):
    termed: int  # processes sent SIGTERM
    killed: int  # processes that needed SIGKILL
    survivors: list[int]  # pids still there after every round (should stay empty)


def stop_tree(
    root_pid: int | None = None,
    group: Group | None = None,
    marker: Marker | None = None,
    grace: float = 0.5,
    on_reap: t.Callable[[int, int], None] | None = None,
    table: ProcessTable | None = None,
    killpg: bool = False,
    spare: t.Collection[Marker] = (),
) -> StopReport:
    """SIGTERM the whole job tree, give it `grace` seconds, then SIGSTOP+SIGKILL what is left.

    Repeats the kill round a few times so processes forked while we were signalling are caught too.
    `table` (a scan already made) spares a scan when the tree turns out to be empty. killpg: without /proc, signal
    the group by its id (the supervisor, whose job holds it; never for a lost job). spare: as for ProcessTable.tree.
    """
    pgid = group.pgid if group and killpg else None

    def tree() -> dict[int, int]:
        return ProcessTable().tree(root_pid=root_pid, group=group, marker=marker, spare=spare)

    def reap() -> None:
        for pid, status in reap_children().items():
            if on_reap:
                on_reap(pid, status)

    first = (table or ProcessTable()).tree(root_pid=root_pid, group=group, marker=marker, spare=spare)
    termed = signal_pids(first, signal.SIGTERM)
    signal_group(pgid, signal.SIGTERM)
    if not first and have_proc():
        reap()
        return StopReport(0, 0, [])
    deadline = time.time() + max(0.0, grace)
    while time.time() < deadline:
        reap()
        if not tree():
            reap()  # what died between the two looks is a zombie the table leaves out: collect its exit status too
            return StopReport(termed, 0, [])
        time.sleep(0.02)
    killed = 0
    for _round in range(20):
        reap()
        left = tree()
        if not left:
            break
        signal_pids(left, signal.SIGSTOP)
        killed = max(killed, signal_pids(left, signal.SIGKILL))
        signal_group(pgid, signal.SIGKILL)
        time.sleep(0.02)
    reap()
    return StopReport(termed, killed, sorted(tree()))


def describe_wait_status(status: int) -> tuple[int, str]:
    """(rc, text) for a wait status: rc like subprocess (negative signal number when killed)."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return -sig, 'killed by %s' % signal_name(sig)
    rc = os.WEXITSTATUS(status)
    return rc, 'exited with code %d' % rc


def signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return 'signal %d' % sig


def describe_pids(pids: t.Iterable[int], limit: int = 5, commands: bool = True) -> str:
    """'1234 (sleep 1007), 1240 (sh)' for a message; '1234, 1240' without commands (a no_log task's)."""
    pids = list(pids)
    shown = ['%d (%s)' % (pid, command_of(pid)) if commands else str(pid) for pid in pids[:limit]]
    rest = len(pids) - limit
    return ', '.join(shown) + (' and %d more' % rest if rest > 0 else '')


def command_of(pid: int) -> str:
    try:
        with open(os.path.join(PROC, str(pid), 'cmdline'), 'rb') as f:
            raw = f.read()
    except OSError:
        return '?'
    return raw.replace(b'\0', b' ').decode('utf-8', 'replace').strip()[:80] or '?'
