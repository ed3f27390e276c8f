# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Progress through the callbacks, and the display when ansible-core's private names it needs are missing."""

from __future__ import annotations

import inspect
import sys

import pytest
from ansible.executor import task_queue_manager
from ansible.executor.process import worker
from ansible.inventory.host import Host
from ansible.playbook.task import Task

from ansible_collections.asyncops.jobs.plugins.plugin_utils import _progress as progress


@pytest.fixture
def a_worker(monkeypatch):
    """This process as a worker whose queue takes send_callback as this ansible-core's FinalQueue does; the events
    sent, as (name, data)."""
    sent = []

    def send_callback(*args, **kwargs):
        bound = inspect.signature(task_queue_manager.FinalQueue.send_callback).bind(*args, **kwargs)
        result = bound.arguments.get('utr') or bound.arguments.get('task_result')
        data = result.as_result_dict() if 'utr' in bound.arguments else result._return_data
        sent.append((bound.arguments['method_name'], data))

    send_callback.__signature__ = inspect.signature(task_queue_manager.FinalQueue.send_callback)
    queue = type('Queue', (), {'send_callback': send_callback})()
    monkeypatch.setattr(worker, 'current_worker', type('W', (), {'_final_q': queue, '_host': Host('h')})())
    monkeypatch.setattr(progress, '_warned', [])
    return sent


@pytest.fixture
def shown(monkeypatch):
    """What goes to the display: (kind, text)."""
    lines = []
    monkeypatch.setattr(progress.display, 'display', lambda msg, *a, **k: lines.append(('display', msg)))
    monkeypatch.setattr(progress.display, 'warning', lambda msg, *a, **k: lines.append(('warning', msg)))
    return lines


def test_progress_goes_to_the_callbacks_from_a_worker(a_worker, shown):
    progress.report(Task(), {'ansible_job_id': 'j1.1', 'finished': False}, 'ASYNC POLL line')
    assert [name for name, _data in a_worker] == ['v2_runner_on_async_poll']
    assert a_worker[0][1]['ansible_job_id'] == 'j1.1'
    assert shown == []


def hide_the_private_result_classes(monkeypatch):
    """What a future ansible-core without the names of today would look like."""
    from ansible.executor import task_result

    monkeypatch.delattr(task_result, '_RawTaskResult', raising=False)
    monkeypatch.setitem(sys.modules, 'ansible._internal._task', None)  # import fails


def test_without_ansible_cores_private_result_progress_goes_to_the_display_with_one_warning(
    a_worker, shown, monkeypatch
):
    hide_the_private_result_classes(monkeypatch)
    for round_ in range(3):
        progress.report(Task(), {'ansible_job_id': 'j1.1'}, 'ASYNC POLL round %d' % round_)
    assert a_worker == []
    assert [kind for kind, _text in shown] == ['warning', 'display', 'display', 'display']
    assert 'goes to the display only' in shown[0][1]
    assert [text for kind, text in shown if kind == 'display'] == ['ASYNC POLL round %d' % n for n in range(3)]


def test_without_a_worker_queue_of_that_name_progress_goes_to_the_display(monkeypatch, shown):
    monkeypatch.setattr(progress, '_warned', [])
    monkeypatch.setattr(worker, 'current_worker', type('W', (), {'_host': Host('h')})())  # no _final_q
    progress.report(Task(), {}, 'ASYNC POLL line')
    assert [kind for kind, _text in shown] == ['warning', 'display']


def test_without_current_worker_progress_goes_to_the_display(monkeypatch, shown):
    monkeypatch.setattr(progress, '_warned', [])
    monkeypatch.delattr(worker, 'current_worker')
    progress.report(Task(), {}, 'ASYNC POLL line')
    assert [kind for kind, _text in shown] == ['warning', 'display']


def test_outside_a_worker_progress_goes_to_the_display_without_a_warning(monkeypatch, shown):
    monkeypatch.setattr(progress, '_warned', [])
    monkeypatch.setattr(worker, 'current_worker', None)
    progress.report(Task(), {}, 'ASYNC POLL line')
    assert shown == [('display', 'ASYNC POLL line')]
