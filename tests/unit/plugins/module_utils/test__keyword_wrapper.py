# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keyword mode's async_wrapper: both positional contracts of ansible-core, and a real job from them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from ansible_collections.asyncops.jobs.plugins.module_utils import _keyword_wrapper as kw
from ansible_collections.asyncops.jobs.plugins.module_utils._job_status import Jobs
from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import JobStore


@pytest.fixture
def module(tmp_path):
    tmp = tmp_path / 'ansible-tmp-1795000000.1-100-200'
    tmp.mkdir()
    path = tmp / 'AnsiballZ_ping.py'
    path.write_text('#!/usr/bin/env python3\nprint(\'{"ping": "pong", "changed": false}\')\n')
    os.chmod(path, 0o700)
    return path


def test_the_contract_of_ansible_core_2_19_and_2_20(module):
    invocation = kw.parse(['j123', '60', str(module), '_'])
    assert invocation == kw.Invocation('j123', 60, str(module), ['/usr/bin/env', 'python3', str(module)], False)
    with_args = kw.parse(['j123', '60', str(module), '/tmp/args', '-preserve_tmp'])
    assert with_args.argv[-1] == '/tmp/args' and with_args.preserve_tmp


def test_a_module_outside_a_task_tmp_dir_is_never_removed(tmp_path):
    path = tmp_path / 'mod.py'
    path.write_text('#!/bin/sh\n')
    assert kw.parse(['j1', '5', str(path), '_']).preserve_tmp


def test_the_contract_of_ansible_core_2_21(module):
    invocation = kw.parse(['j123', '60', 'false', str(module), '/usr/bin/env python3', str(module)])
    assert invocation == kw.Invocation('j123', 60, str(module), ['/usr/bin/env', 'python3', str(module)], False)
    assert kw.parse(['j1', '5', 'true', str(module), sys.executable, str(module)]).preserve_tmp


@pytest.mark.parametrize('argv', [[], ['j1'], ['j1', '5', 'x', 'y', 'z'], ['j1', 'soon', '/m', '_']])
def test_anything_else_is_refused_with_the_usage(argv):
    with pytest.raises(kw.UsageError, match='usage: async_wrapper'):
        kw.parse(argv)


def test_a_job_from_the_command_line_as_ansible_core_starts_it(module, tmp_path, monkeypatch):
    async_dir = tmp_path / 'async'
    env = dict(os.environ, ANSIBLE_ASYNC_DIR=str(async_dir), PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run(
        [
            sys.executable,
            '-c',
            'from ansible_collections.asyncops.jobs.plugins.module_utils._keyword_wrapper import main; main()',
            'j42',
            '30',
            str(module),
            '_',
        ],
        env=env,
        stdout=subprocess.PIPE,
        check=True,
    ).stdout
    started = json.loads(out)
    assert started['started'] and not started['finished'] and started['_ansible_suppress_tmpdir_delete']
    assert started['ansible_job_id'].startswith('j42.') and started['asyncops_job']['keyword_mode']
    done = Jobs(JobStore(str(async_dir)).open()).wait([started['ansible_job_id']], 30)[0]
    assert done['ping'] == 'pong' and done['finished']
    assert stat.S_IMODE(os.stat(started['results_file']).st_mode) == 0o600
    assert not module.parent.exists()  # the task's remote tmp dir went with the job
