# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action side of asyncops.jobs.async_status: passes the async_dir setting through unexpanded.

ansible.builtin.async_status expands '~' on the controller side (as the connection user's or the
become user's home, depending on the become method), while the wrapper expands it on the
target: under become the two can differ (ansible/ansible#81805).  Here the module resolves it
on the target, exactly as the wrapper did when it started the job.
"""

from __future__ import annotations

import typing as t

from ansible_collections.asyncops.jobs.plugins.plugin_utils._job_action import JobActionBase, Result


class ActionModule(JobActionBase):

    def run(self, tmp: str | None = None, task_vars: dict[str, t.Any] | None = None) -> Result:
        result = super().run(tmp, task_vars)
        del tmp
        result.update(self.query(task_vars or {}, **self._task.args))
        return result
