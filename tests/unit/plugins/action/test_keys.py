# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Job keys: a key attaches only to the same work, never to a check mode job, and leaves nothing behind."""

from __future__ import annotations

import http.server
import os
import threading

import pytest
from ansible.errors import AnsibleActionFail
from ansible.template import trust_as_template


def run(make_action, name, args, **fields):
    action, task_vars = make_action(name, args, **fields)
    return action.run(task_vars=task_vars)


def batch_args(items, **extra):
    return dict(
        {
            'module': 'ansible.builtin.shell',
            'items': items,
            'key': 'K',
            'wait': False,
            'concurrency': 2,
            'args': {'cmd': trust_as_template('echo ran-{{ item }}')},
        },
        **extra,
    )


def test_a_key_of_a_batch_refuses_other_items_of_the_same_count(make_action, async_dir):
    first = run(make_action, 'async_batch', batch_args(['alpha', 'beta']))
    with pytest.raises(
        AnsibleActionFail,
        match=r"key 'K' names batch %s, which does other work \(its items differ\)" % first['ansible_job_id'],
    ):
        run(make_action, 'async_batch', batch_args(['gamma', 'delta']))


def test_a_key_of_a_batch_refuses_other_args(make_action, async_dir):
    run(make_action, 'async_batch', batch_args(['alpha', 'beta']))
    other = batch_args(['alpha', 'beta'])
    other['args'] = {'cmd': trust_as_template('echo other-{{ item }}')}
    with pytest.raises(AnsibleActionFail, match=r'does other work \(its args differ\)'):
        run(make_action, 'async_batch', other)


def test_the_same_batch_attaches(make_action, async_dir):
    first = run(make_action, 'async_batch', batch_args(['alpha', 'beta']))
    again = run(make_action, 'async_batch', batch_args(['alpha', 'beta']))
    assert again['attached'] and again['ansible_job_id'] == first['ansible_job_id']


def test_async_run_refuses_a_key_that_names_a_batch(make_action, async_dir):
    run(make_action, 'async_batch', batch_args(['alpha', 'beta']))
    with pytest.raises(AnsibleActionFail, match=r'does other work \(its kind of job, args differ\)'):
        run(
            make_action,
            'async_run',
            {'module': 'ansible.builtin.shell', 'args': {'cmd': 'echo ran-alpha'}, 'key': 'K', 'poll': 0},
        )


def test_async_run_refuses_other_args_and_module(make_action, async_dir):
    run(
        make_action, 'async_run', {'module': 'ansible.builtin.shell', 'args': {'cmd': 'sleep 5'}, 'key': 'R', 'poll': 0}
    )
    with pytest.raises(AnsibleActionFail, match=r'does other work \(its args differ\)'):
        run(
            make_action,
            'async_run',
            {'module': 'ansible.builtin.shell', 'args': {'cmd': 'sleep 6'}, 'key': 'R', 'poll': 0},
        )
    with pytest.raises(AnsibleActionFail, match=r'does other work \(its module, args differ\)'):
        run(make_action, 'async_run', {'module': 'ansible.builtin.ping', 'args': {}, 'key': 'R', 'poll': 0})


def test_check_mode_never_claims_a_key(make_action, async_dir, tmp_path):
    """A check mode run, then the same task for real: the real run runs (it used to attach to the check mode record
    and return skipped, "would have run", the command never run)."""
    marker = tmp_path / 'ran'
    args = {
        'module': 'ansible.builtin.command',
        'args': {'cmd': 'touch %s' % marker, 'creates': str(marker)},
        'key': 'C',
        'poll': 1,
    }
    checked = run(make_action, 'async_run', args, check_mode=True)
    assert not checked.get('attached') and not marker.exists()
    real = run(make_action, 'async_run', args)
    assert not real.get('attached') and not real.get('skipped') and real['changed']
    assert marker.exists()


def test_check_mode_reports_the_real_job_a_key_names(make_action, async_dir):
    started = run(
        make_action,
        'async_run',
        {'module': 'ansible.builtin.command', 'args': {'cmd': 'sleep 0.5'}, 'key': 'D', 'poll': 0},
    )
    checked = run(
        make_action,
        'async_run',
        {'module': 'ansible.builtin.command', 'args': {'cmd': 'sleep 0.5'}, 'key': 'D', 'poll': 0},
        check_mode=True,
    )
    assert checked['attached'] and checked['ansible_job_id'] == started['ansible_job_id']


class Receiver(http.server.BaseHTTPRequestHandler):
    """Takes what uri posts (on 127.0.0.1 only)."""

    def do_POST(self):  # noqa: N802 - the name http.server calls
        self.rfile.read(int(self.headers.get('Content-Length') or 0))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'ok')

    def log_message(self, *_args):
        pass


@pytest.fixture
def receiver():
    server = http.server.HTTPServer(('127.0.0.1', 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d/' % server.server_address[1]
    server.shutdown()


def test_attaching_leaves_no_transferred_files_behind(make_action, async_dir, tmp_path, receiver):
    """uri with src transfers the file into the task's remote tmp dir before the launch; when the key attaches to the
    job already there, nothing takes that dir: it is removed (it used to stay in ~/.ansible/tmp)."""
    remote_tmp = tmp_path / 'remote'
    remote_tmp.mkdir(mode=0o700)
    body = tmp_path / 'body.txt'
    body.write_text('payload')
    args = {
        'module': 'ansible.builtin.uri',
        'key': 'U',
        'poll': 0,
        'cleanup': False,
        'args': {'url': receiver, 'method': 'POST', 'src': str(body)},
    }

    def launch():
        action, task_vars = make_action('async_run', args)
        action._connection._shell.set_options(
            var_options={'ansible_async_dir': async_dir, 'ansible_remote_tmp': str(remote_tmp)}
        )
        return action.run(task_vars=task_vars)

    first = launch()
    done = run(make_action, 'async_status', {'jid': first['ansible_job_id'], 'mode': 'wait', 'timeout': 30})
    assert done['status'] == 200, done.get('msg')
    assert os.listdir(remote_tmp) == []  # the first job removed its own when it ended
    again = launch()
    assert again['attached'] and again['ansible_job_id'] == first['ansible_job_id']
    assert os.listdir(remote_tmp) == []
