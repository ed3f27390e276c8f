# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action side of asyncops.jobs.async_wrapper called as a task: the same async dir as every other part.

Without an explicit async_dir, the shell plugin's async_dir setting (ANSIBLE_ASYNC_DIR, ansible_async_dir)
is passed, unexpanded, exactly as async_run, async_batch and async_status pass it; so the job is found again.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.asyncops.jobs.plugins.plugin_utils import _jobs as jobs


class ActionModule(jobs.PipelinedModules, ActionBase):

    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        if not args.get('async_dir'):
            args['async_dir'] = jobs.async_dir_setting(self)
        result.update(jobs.run_target_module(self, jobs.WRAPPER, args, task_vars or {}))
        return result
