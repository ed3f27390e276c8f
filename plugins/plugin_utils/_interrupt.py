# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""When ansible-playbook is stopped while a task polls: say which jobs go on, and how to follow them up."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import typing as t

from ansible.utils.display import Display

display = Display()


def interrupt_message(host: str, jids: t.Sequence[str], become: bool, delivery: str | None = None) -> str:
    """What to tell the user when the controller is stopped while polling: the jobs go on. With the delivery token of
    the polling (a round still running on the target may collect the job as it ends): the follow-up carries it, so
    it returns what that round collected."""
    first = jids[0]
    flags = ' -b' if become else ''
    token = ' delivery=%s' % delivery if delivery else ''
    return (
        'asyncops.jobs: interrupted while waiting on %s for job(s) %s; they go on on the target. '
        'Follow up with: ansible %s%s -m asyncops.jobs.async_status -a "jid=%s mode=wait%s", stop with: '
        'ansible %s%s -m asyncops.jobs.async_status -a "jid=%s mode=kill", list all: '
        'ansible %s%s -m asyncops.jobs.async_status -a mode=list\n'
        % (host, ', '.join(jids), host, flags, first, token, host, flags, first, host, flags)
    )


@contextlib.contextmanager
def announce_on_interrupt(
    host: str, jids: t.Sequence[str], become: bool, delivery: str | None = None
) -> t.Iterator[None]:
    """While polling: on SIGINT/SIGTERM (Ctrl-C or a stopped ansible-playbook), print the job ids and the
    commands to follow them up on ansible-playbook's stderr, then let the worker stop as it would.

    Workers have /dev/null as stderr and their queued display messages die with them, so the line goes
    straight to the stderr of ansible-playbook (the worker's parent), opened through /proc before anything
    happens: on SIGTERM, ansible-playbook may be gone by the time the worker hears of it."""
    message = interrupt_message(host, jids, become, delivery)
    stderr_fd = open_controller_stderr()
    previous: dict[int, t.Any] = {}

    def handler(signum: int, frame: t.Any) -> None:
        if stderr_fd is None:
            display.warning(message.strip())
        else:
            try:
                os.write(stderr_fd, message.encode('utf-8', 'replace'))
            except OSError:
                pass
        earlier = previous.get(signum)
        signal.signal(signum, earlier if earlier is not None else signal.SIG_DFL)
        if callable(earlier):
            earlier(signum, frame)
        else:
            os.kill(os.getpid(), signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[int(sig)] = signal.signal(sig, handler)
        except ValueError:  # not the main thread: nothing to hook
            pass
    try:
        yield
    finally:
        for signum, earlier in previous.items():
            signal.signal(signum, earlier)
        if stderr_fd is not None:
            os.close(stderr_fd)


def open_controller_stderr() -> int | None:
    """ansible-playbook's stderr (a terminal, a pipe, or a file opened for appending), opened for appending;
    None where that cannot be done without overwriting what ansible-playbook writes there."""
    parent = os.getppid()
    if not appendable(parent, 2):
        return None
    try:
        return os.open('/proc/%d/fd/2' % parent, os.O_WRONLY | os.O_APPEND | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return None


def appendable(pid: int, fd: int) -> bool:
    """Whether another process can add to pid's file descriptor fd without overwriting what pid writes there:
    not a regular file, or one opened with O_APPEND (a regular file has an offset of pid's own)."""
    try:
        if not stat.S_ISREG(os.stat('/proc/%d/fd/%d' % (pid, fd)).st_mode):
            return True
        with open('/proc/%d/fdinfo/%d' % (pid, fd)) as info:
            flags = next(int(line.split()[1], 8) for line in info if line.startswith('flags:'))
    except (OSError, StopIteration, ValueError, IndexError):
        return False
    return bool(flags & os.O_APPEND)
