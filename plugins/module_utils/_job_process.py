# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Processes on the target: identity (pid + start time + boot), the job tree, and stopping it.

A job's tree is every process that is, at the time of asking:
  * a descendant of the supervisor (the supervisor is a child subreaper on Linux, so
    double-forked daemons are re-parented to it instead of to init),
  * in the job's process group, or
  * carrying the job's marker in its environment (ASYNCOPS_JOB_ID=<absolute path of the job
    record>, unique per user and async dir), which catches
    processes that escaped with setsid after the supervisor itself died.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import signal
import time

PROC = '/proc'
JOB_ENV_MARKER = 'ASYNCOPS_JOB_ID'
PR_SET_CHILD_SUBREAPER = 36


def have_proc():
    return os.path.isdir(os.path.join(PROC, 'self'))


def boot_id():
    try:
        with open('/proc/sys/kernel/random/boot_id') as f:
            return f.read().strip()
    except (IOError, OSError):
        return None


def _stat_fields(pid):
    """Fields of /proc/<pid>/stat after the command name: [state, ppid, pgrp, ...], or None."""
    try:
        with open(os.path.join(PROC, str(pid), 'stat'), 'rb') as f:
            raw = f.read()
    except (IOError, OSError):
        return None
    return raw[raw.rfind(b')') + 2:].split()


def start_ticks(pid):
    """The process start time in clock ticks since boot (field 22 of /proc/<pid>/stat), or None."""
    fields = _stat_fields(pid)
    if not fields or len(fields) < 20:
        return None
    return int(fields[19])


def identity(pid):
    """What identifies a process beyond its pid, which the kernel reuses."""
    return {'pid': pid, 'start_ticks': start_ticks(pid), 'boot_id': boot_id()}


def is_alive(ident):
    """True while the process recorded by identity() still exists (not a zombie, not a reused pid)."""
    pid = ident.get('pid')
    if not pid:
        return False
    if ident.get('boot_id') and boot_id() and ident['boot_id'] != boot_id():
        return False
    if have_proc():
        fields = _stat_fields(pid)
        if fields is None or fields[0] in (b'Z', b'X'):
            return False
        if ident.get('start_ticks') is not None and int(fields[19]) != ident['start_ticks']:
            return False
        return True
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def become_subreaper():
    """Make this process adopt orphaned descendants (Linux >= 3.4); False where unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError, TypeError):
        return False


def _all_processes():
    """{pid: (ppid, pgrp)} for every process visible in /proc."""
    procs = {}
    for name in os.listdir(PROC):
        if not name.isdigit():
            continue
        fields = _stat_fields(name)
        if fields and fields[0] not in (b'Z', b'X'):
            procs[int(name)] = (int(fields[1]), int(fields[2]))
    return procs


def _has_marker(pid, marker):
    try:
        with open(os.path.join(PROC, str(pid), 'environ'), 'rb') as f:
            return marker in f.read().split(b'\0')
    except (IOError, OSError):
        return False


def job_tree(root_pid=None, pgid=None, marker=None):
    """Pids of the job tree (see module doc), never including this process or root_pid itself."""
    me = os.getpid()
    if not have_proc():
        return []
    procs = _all_processes()
    children = {}
    for pid, (ppid, _pgrp) in procs.items():
        children.setdefault(ppid, []).append(pid)
    tree = set()
    stack = list(children.get(root_pid, [])) if root_pid else []
    while stack:
        pid = stack.pop()
        if pid not in tree:
            tree.add(pid)
            stack.extend(children.get(pid, []))
    if pgid:
        tree.update(pid for pid, (_ppid, pgrp) in procs.items() if pgrp == pgid)
    if marker:
        entry = ('%s=%s' % (JOB_ENV_MARKER, marker)).encode()
        uid = os.geteuid()
        for pid in procs:
            if pid not in tree and _owned_by(pid, uid) and _has_marker(pid, entry):
                tree.add(pid)
    tree.discard(me)
    tree.discard(root_pid)
    return sorted(tree)


def _owned_by(pid, uid):
    try:
        return uid == 0 or os.stat(os.path.join(PROC, str(pid))).st_uid == uid
    except OSError:
        return False


def signal_pids(pids, sig):
    sent = 0
    for pid in pids:
        try:
            os.kill(pid, sig)
            sent += 1
        except OSError:
            pass
    return sent


def signal_group(pgid, sig):
    if not pgid:
        return
    try:
        os.killpg(pgid, sig)
    except OSError:
        pass


def reap_children():
    """Collect every exited child of this process; {pid: wait status}."""
    reaped = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except OSError as exc:
            if exc.errno == errno.EINTR:
                continue
            return reaped
        if pid == 0:
            return reaped
        reaped[pid] = status


def stop_tree(root_pid=None, pgid=None, marker=None, grace=0.5, on_reap=None):
    """SIGTERM the whole job tree, give it `grace` seconds, then SIGSTOP+SIGKILL what is left.

    Returns (number of processes sent SIGTERM, number that needed SIGKILL).  Repeats the
    kill round a few times so processes forked while we were signalling are caught too.
    """
    def tree():
        return job_tree(root_pid=root_pid, pgid=pgid, marker=marker)

    def reap():
        reaped = reap_children()
        if on_reap:
            for pid, status in reaped.items():
                on_reap(pid, status)

    termed = signal_pids(tree(), signal.SIGTERM)
    signal_group(pgid, signal.SIGTERM)
    deadline = time.time() + max(0.0, grace)
    while time.time() < deadline:
        reap()
        if not tree():
            return termed, 0
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
    return termed, killed


def describe_wait_status(status):
    """(rc, text) for a wait status: rc like subprocess (negative signal number when killed)."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = 'signal %d' % sig
        return -sig, 'killed by %s' % name
    rc = os.WEXITSTATUS(status)
    return rc, 'exited with code %d' % rc
