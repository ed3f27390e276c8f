# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A host whose shell is PowerShell: every action fails before anything is sent, naming the host and what to use.

The actions are real ones, on the local connection with ansible-core's powershell shell plugin: what would reach a
Windows host goes through the connection, whose calls are counted (it used to run the wrapper there and fail with
"Module result deserialization failed: No start of json char found")."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleActionFail
from ansible.plugins import loader as plugin_loader

TASKS = {
    'async_run': {'module': 'ansible.builtin.command', 'args': {'cmd': 'whoami'}, 'poll': 0},
    'async_batch': {'module': 'ansible.builtin.command', 'items': [1, 2], 'args': {'cmd': 'whoami'}},
    'async_status': {'jid': 'j1.1'},
    'async_wrapper': {'jobs': [{'argv': ['whoami']}]},
}


@pytest.mark.parametrize('name', sorted(TASKS))
def test_a_powershell_host_is_refused_before_anything_is_sent(make_action, name):
    action, task_vars = make_action(name, TASKS[name])
    connection = action._connection
    connection._shell = plugin_loader.shell_loader.get('powershell')
    sent = []
    for method in ('exec_command', 'put_file', 'fetch_file'):
        real = getattr(connection, method)
        setattr(
            connection,
            method,
            lambda *args, _real=real, _method=method, **kwargs: (sent.append(_method), _real(*args, **kwargs))[1],
        )
    task_vars['inventory_hostname'] = 'win1'
    with pytest.raises(AnsibleActionFail) as failure:
        action.run(task_vars=task_vars)
    message = str(failure.value)
    assert message.startswith('asyncops.jobs.%s cannot run on win1: its shell is PowerShell' % name)
    assert 'Nothing was sent to the host' in message and 'ansible.windows.async_status' in message
    assert '`async:` and `poll:`' in message
    assert sent == []


def test_a_posix_host_is_not_refused(make_action):
    action, task_vars = make_action('async_status', {'mode': 'list'})
    assert action.run(task_vars=task_vars)['jobs'] == []
