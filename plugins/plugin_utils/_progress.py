# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Progress of a poll, sent to the callbacks as ansible-core sends its own async polls.

ansible-core offers no public way for an action to send a callback event. Its task executor sends
v2_runner_on_async_poll from the worker with names that are private: the worker's queue
(worker.current_worker._final_q), and the result it takes (ansible.executor.task_result._RawTaskResult in 2.19 and
2.20, ansible._internal._task.UnifiedTaskResult in 2.21). They are only used here. Where one of them is missing (an
ansible-core that changed them), progress goes to the display instead, with one warning per process: the task
never fails because of it.
"""

from __future__ import annotations

import inspect
import typing as t

from ansible.utils.display import Display

display = Display()

Result = t.Dict[str, t.Any]

SENT = 'sent'
NO_WORKER = 'no worker'  # not in a worker process (ad hoc use of the action, unit tests): the display is the way
UNSUPPORTED = 'unsupported'  # a worker, but this ansible-core lacks what the event is sent with
_warned: list[str] = []


def report(task: t.Any, data: Result, line: str) -> None:
    """Progress of one poll: a v2_runner_on_async_poll event that every callback gets (the default one prints
    `ASYNC POLL on <host>: jid=...`, JSON callbacks and AWX get the whole of data); `line` on the display where the
    event cannot be sent."""
    outcome, reason = send_async_poll(task, data)
    if outcome == SENT:
        return
    if outcome == UNSUPPORTED and not _warned:
        _warned.append(reason)
        display.warning(
            'asyncops.jobs: progress of background jobs goes to the display only, not to the callbacks: '
            'this ansible-core does not have what it is sent with (%s)' % reason
        )
    display.display(line)


def send_async_poll(task: t.Any, data: Result) -> tuple[str, str]:
    """Send a v2_runner_on_async_poll event for task from this worker, as ansible-core's task executor does for its
    own async polls; (SENT, ''), (NO_WORKER, ''), or (UNSUPPORTED, what is missing)."""
    try:
        from ansible.executor.process import worker
    except ImportError:
        return UNSUPPORTED, 'ansible.executor.process.worker'
    if not hasattr(worker, 'current_worker'):
        return UNSUPPORTED, 'worker.current_worker'
    current = worker.current_worker
    if current is None:
        return NO_WORKER, ''
    final_q = getattr(current, '_final_q', None)
    host = getattr(current, '_host', None)
    if final_q is None or host is None or not hasattr(final_q, 'send_callback'):
        return UNSUPPORTED, "the worker's _final_q"
    try:
        if 'utr' in inspect.signature(final_q.send_callback).parameters:
            from ansible._internal._task import UnifiedTaskResult  # type: ignore[attr-defined]  # ansible-core 2.21+

            final_q.send_callback(
                'v2_runner_on_async_poll', host, task, UnifiedTaskResult.from_action_result_dict(dict(data))
            )
        else:
            from ansible.executor.task_result import _RawTaskResult  # ansible-core 2.19, 2.20

            final_q.send_callback(
                'v2_runner_on_async_poll',
                _RawTaskResult(host=host, task=task, return_data=dict(data), task_fields=task.dump_attrs()),
            )
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        return UNSUPPORTED, '%s: %s' % (type(exc).__name__, exc)
    return SENT, ''
