# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real ActionModule of this collection, run against this machine through the local connection.

Built like ansible-core builds one for a task (Task, PlayContext, local Connection, DataLoader, Templar, the
plugin loader), so run() executes the collection's real modules: nothing on the target side is faked."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import signal
import sys
import time
import typing as t

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play import Play
from ansible.playbook.play_context import PlayContext
from ansible.plugins import loader as plugin_loader
from ansible.plugins.connection.local import Connection
from ansible.template import Templar


@pytest.fixture
def async_dir(tmp_path):
    """The job records' dir; after the test, waits for the supervisors of the jobs started there to end, so
    that none still writes into the dir while pytest removes it (tests that script the status rounds return
    before their real jobs ended)."""
    path = str(tmp_path / 'async')
    yield path
    wait_for_supervisors(path)


def supervisor_pids(path: str) -> list[int]:
    pids = []
    for name in os.listdir(path) if os.path.isdir(path) else []:
        try:
            with open(os.path.join(path, name)) as f:
                meta = json.load(f).get('asyncops_job') or {}
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(meta.get('supervisor_pid'), int):
            pids.append(meta['supervisor_pid'])
    return pids


def wait_for_supervisors(path: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    for pid in supervisor_pids(path):
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)


@pytest.fixture
def make_action(async_dir):
    """make_action(action_name, args, **task_fields) -> (action, task_vars)."""

    def make(name: str, args: dict[str, t.Any], **task_fields: t.Any) -> tuple[t.Any, dict[str, t.Any]]:
        loader = DataLoader()
        # a task of a play, as in a playbook: module defaults and action groups come from there
        play = Play.load(
            {'hosts': 'localhost', 'gather_facts': False, 'tasks': [{'asyncops.jobs.%s' % name: args, **task_fields}]},
            loader=loader,
        )
        task = play.get_tasks()[0][0]
        play_context = PlayContext()
        connection = Connection(play_context, None)
        task_vars = {
            'inventory_hostname': 'localhost',
            'ansible_python_interpreter': sys.executable,
            'ansible_async_dir': async_dir,
            'ansible_connection': 'local',
        }
        templar = Templar(loader=loader, variables=task_vars)
        action_class = importlib.import_module(
            'ansible_collections.asyncops.jobs.plugins.action.%s' % name
        ).ActionModule
        action = action_class(
            task=task,
            connection=connection,
            play_context=play_context,
            loader=loader,
            templar=templar,
            shared_loader_obj=plugin_loader,
        )
        connection._shell.set_options(var_options={'ansible_async_dir': async_dir})
        return action, task_vars

    return make


class GaveUp(BaseException):
    """The test's time limit passed (a BaseException: no except clause on the way may take it for an error)."""


@pytest.fixture
def give_up_after():
    """give_up_after(seconds): end the test with GaveUp after that long, e.g. a wait that would never end."""

    def on_alarm(_signum: int, _frame: t.Any) -> None:
        raise GaveUp('the task was still running when the test gave up on it')

    previous = signal.signal(signal.SIGALRM, on_alarm)
    yield signal.alarm
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def progress_events(monkeypatch):
    """What this worker sends to the callbacks: [(callback name, event data)].

    The worker's queue is replaced by one with the send_callback signature of this ansible-core's own FinalQueue
    (2.19/2.20: a _RawTaskResult; 2.21: host, task and a UnifiedTaskResult), so the plugin takes the same branch
    as under ansible-playbook."""
    from ansible.executor import task_queue_manager
    from ansible.executor.process import worker
    from ansible.inventory.host import Host

    sent: list[tuple[str, dict[str, t.Any]]] = []

    def send_callback(*args: t.Any, **kwargs: t.Any) -> None:
        bound = inspect.signature(task_queue_manager.FinalQueue.send_callback).bind(*args, **kwargs)
        name = bound.arguments['method_name']
        if 'utr' in bound.arguments:
            data = bound.arguments['utr'].as_result_dict()
        else:
            data = bound.arguments['task_result']._return_data
        sent.append((name, data))

    queue = type('Queue', (), {'send_callback': send_callback})()
    send_callback.__signature__ = inspect.signature(task_queue_manager.FinalQueue.send_callback)  # type: ignore[attr-defined]
    monkeypatch.setattr(
        worker, 'current_worker', type('W', (), {'_final_q': queue, '_host': Host('localhost')})(), raising=False
    )
    return sent
