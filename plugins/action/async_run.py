# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""asyncops.jobs.async_run: run any target-side module as a supervised background job."""

from __future__ import annotations

import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.asyncops.jobs.plugins.plugin_utils import _jobs as jobs

display = Display()

ARGUMENT_SPEC = {
    'module': {'type': 'str', 'required': True},
    'args': {'type': 'dict', 'default': {}},
    'timeout': {'type': 'int', 'default': 0},
    'poll': {'type': 'int', 'default': 10},
    'grace': {'type': 'float', 'default': 0.5},
    'cleanup': {'type': 'bool', 'default': True},
}
# how long after the time limit (+ grace) a job may still report running before we stop trusting it
DEADLINE_MARGIN = 30


class ActionModule(jobs.PipelinedModules, ActionBase):

    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _spec, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        check_values(params)
        task_vars = task_vars or {}
        job = jobs.build_job(self, params['module'], params['args'], task_vars)
        started_at = time.time()
        launched = jobs.launch(self, [job], params['timeout'], task_vars, grace=params['grace'])
        jid = launched['ansible_job_id']
        if params['poll'] == 0:
            result.update(changed=True, started=True, finished=False, ansible_job_id=jid,
                          results_file=launched['results_file'])
            return result
        deadline = None
        if params['timeout']:
            deadline = started_at + params['timeout'] + params['grace'] + DEADLINE_MARGIN
        host = task_vars.get('inventory_hostname', '?')
        final = jobs.wait_for(self, jid, task_vars, params['poll'], deadline,
                              on_poll=lambda r: display.display(jobs.poll_line(host, r)))
        if params['cleanup']:
            jobs.query(self, task_vars, jid=jid, mode='cleanup')
        result.update(final)
        result.setdefault('changed', False)
        return result


def check_values(params):
    if params['timeout'] < 0:
        raise AnsibleActionFail('timeout must be 0 (no limit) or a positive number of seconds, got %d' % params['timeout'])
    if params['poll'] < 0:
        raise AnsibleActionFail('poll must be 0 (start and return) or a positive number of seconds, got %d' % params['poll'])
    if params['grace'] < 0:
        raise AnsibleActionFail('grace must be 0 or more seconds, got %s' % params['grace'])
