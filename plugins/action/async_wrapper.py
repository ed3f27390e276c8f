# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action side of asyncops.jobs.async_wrapper called as a task: the same async dir as every other part.

Without an explicit async_dir, the shell plugin's async_dir setting (ANSIBLE_ASYNC_DIR, ansible_async_dir)
is passed, unexpanded, exactly as async_run, async_batch and async_status pass it; so the job is found again.
"""

from __future__ import annotations

import typing as t

from ansible_collections.asyncops.jobs.plugins.plugin_utils import _jobs as jobs
from ansible_collections.asyncops.jobs.plugins.plugin_utils._job_action import JobActionBase, Result


class ActionModule(JobActionBase):

    def run(self, tmp: str | None = None, task_vars: dict[str, t.Any] | None = None) -> Result:
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        if not args.get('async_dir'):
            args['async_dir'] = self.async_dir_setting()
        result.update(self.run_target_module(jobs.WRAPPER, args, task_vars or {}))
        return result
