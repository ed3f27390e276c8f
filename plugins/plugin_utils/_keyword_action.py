# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Keyword mode: the ansible.legacy.async_status action that ansible-core polls `async:` tasks with.

It runs ansible.legacy.async_status (the keyword-mode module next to the wrapper on the library path) with the
shell plugin's async_dir, as ansible-core's own action does. What it does not handle goes to ansible-core's
own action, untouched: PowerShell hosts and connections with native async, whose jobs never went through the
wrapper, and the mitogen strategy, which runs `async:` tasks on its own runner, never on this engine: that is
said once, in a warning.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import typing as t

import ansible.plugins.action
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash

from ansible_collections.asyncops.jobs.plugins.plugin_utils._job_action import JobActionBase, Result

display = Display()

KEYWORD_STATUS = 'ansible.legacy.async_status'
MITOGEN_WARNING = (
    'asyncops.jobs keyword mode is not active under the mitogen strategy: mitogen runs `async:` tasks '
    'with its own runner, without the guarantees of asyncops.jobs (whole-tree time limit, lost-job '
    'detection, private records). Use asyncops.jobs.async_run / async_batch there, or a core strategy'
)


@functools.lru_cache(maxsize=None)
def core_async_status() -> t.Any:
    """ansible-core's own async_status action class, loaded from its file under a name of ours: this shim is
    loaded from the action_plugins path as ansible.plugins.action.async_status, which hides core's module."""
    path = os.path.join(os.path.dirname(ansible.plugins.action.__file__), 'async_status.py')
    spec = importlib.util.spec_from_file_location(
        'ansible_collections.asyncops.jobs.plugins.plugin_utils._core_async_status', path
    )
    if spec is None or spec.loader is None:
        raise ImportError('cannot load %s' % path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ActionModule


class ActionModule(JobActionBase):

    def run(self, tmp: str | None = None, task_vars: dict[str, t.Any] | None = None) -> Result:
        if self.under_mitogen():
            display.warning(MITOGEN_WARNING)
        if self.under_mitogen() or self.not_ours():
            core = core_async_status()(
                self._task, self._connection, self._play_context, self._loader, self._templar, self._shared_loader_obj
            )
            return t.cast(Result, core.run(tmp, task_vars))
        result = super().run(tmp, task_vars)
        del tmp
        # what ansible-core's own action always returns, whatever the module says
        result.update(started=False, finished=False, stdout='', stderr='', stdout_lines=[], stderr_lines=[])
        args = dict(self._task.args)
        args['_async_dir'] = self.async_dir_setting()
        reply = self.run_target_module(KEYWORD_STATUS, args, task_vars or {})
        result = merge_hash(result, reply)
        for key in ('started', 'finished'):
            result[key] = bool(result.get(key))
        return self.censored_if_no_log(t.cast(Result, result), reply)

    def not_ours(self) -> bool:
        """Jobs that ansible-core's wrapper never started: PowerShell hosts, connections with native async."""
        shell = self._connection._shell
        return bool(getattr(shell, 'SHELL_FAMILY', '') == 'powershell' or self._connection.has_native_async)

    def under_mitogen(self) -> bool:
        """The mitogen strategy mixes its own class into every action it loads, this one included."""
        return any(cls.__module__.startswith('ansible_mitogen') for cls in type(self).__mro__)
