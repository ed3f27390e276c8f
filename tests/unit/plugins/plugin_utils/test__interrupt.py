# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from ansible_collections.asyncops.jobs.plugins.plugin_utils._interrupt import appendable, interrupt_message


def test_the_message_names_the_jobs_and_the_commands_to_follow_them_up():
    message = interrupt_message('web1', ['j1.2', 'j3.4'], become=True)
    assert 'interrupted while waiting on web1 for job(s) j1.2, j3.4' in message
    assert 'ansible web1 -b -m asyncops.jobs.async_status -a "jid=j1.2 mode=kill"' in message
    assert message.endswith('\n')


def test_appendable_streams(tmp_path):
    with open(tmp_path / 'plain', 'w') as plain, open(tmp_path / 'appended', 'a') as appended:
        assert not appendable(os.getpid(), plain.fileno())  # a file offset of its own: writes would collide
        assert appendable(os.getpid(), appended.fileno())
    read_end, write_end = os.pipe()
    assert appendable(os.getpid(), write_end)
    os.close(read_end)
    os.close(write_end)


def test_a_worker_stopped_while_polling_prints_the_jobs_on_its_parents_stderr(tmp_path):
    """The child stands for a worker: it hooks the signals, its parent (this test) holds the stderr pipe."""
    child = textwrap.dedent('''
        import os, sys, time
        from ansible_collections.asyncops.jobs.plugins.plugin_utils._interrupt import announce_on_interrupt
        sys.stderr.flush()
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)   # a worker's own stderr goes nowhere
        with announce_on_interrupt('web1', ['j7.7'], False):
            print('polling', flush=True)
            time.sleep(30)
    ''')
    script = tmp_path / 'worker.py'
    script.write_text(child)
    # the child's parent must hold the stderr: a shell in between, whose stderr is our pipe
    proc = subprocess.Popen(
        ['sh', '-c', '"$0" "$1"; exit $?', sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
    )
    assert proc.stdout.readline() == b'polling\n'
    worker = int(subprocess.check_output(['pgrep', '-P', str(proc.pid)]).split()[0])
    os.kill(worker, signal.SIGTERM)
    _out, err = proc.communicate(timeout=10)
    assert b'interrupted while waiting on web1 for job(s) j7.7' in err
    assert proc.returncode == -signal.SIGTERM or proc.returncode == 128 + signal.SIGTERM


def test_the_follow_up_carries_the_delivery_token_of_the_polling():
    """A round still running on the target may collect the job as it ends: the follow-up returns what it collected."""
    message = interrupt_message('web1', ['j1.2'], become=False, delivery='abc:web1')
    assert '-a "jid=j1.2 mode=wait delivery=abc:web1"' in message
