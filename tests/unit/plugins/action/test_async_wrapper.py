# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


def test_the_wrapper_as_a_task_uses_the_shell_plugins_async_dir(make_action, async_dir):
    action, task_vars = make_action('async_wrapper', {'jobs': [{'argv': ['true']}]})
    result = action.run(task_vars=task_vars)
    assert result['async_dir'] == async_dir and result['started']


def test_an_explicit_async_dir_wins(make_action, tmp_path):
    action, task_vars = make_action('async_wrapper', {'jobs': [{'argv': ['true']}], 'async_dir': str(tmp_path / 'x')})
    assert action.run(task_vars=task_vars)['async_dir'] == str(tmp_path / 'x')
