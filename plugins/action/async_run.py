# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""asyncops.jobs.async_run: run any target-side module as a supervised background job."""

from __future__ import annotations

import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.asyncops.jobs.plugins.module_utils._job_options import DEFAULTS, range_problems
from ansible_collections.asyncops.jobs.plugins.plugin_utils import _jobs as jobs

display = Display()

ARGUMENT_SPEC = {
    'module': {'type': 'str', 'required': True},
    'args': {'type': 'dict', 'default': {}},
    'timeout': {'type': 'int', 'default': 0},
    'poll': {'type': 'int', 'default': 10},
    'grace': {'type': 'float', 'default': DEFAULTS['grace']},
    'cleanup': {'type': 'bool', 'default': True},
    'output_limit': {'type': 'int', 'default': DEFAULTS['output_limit']},
    'leftovers': {'type': 'str', 'default': DEFAULTS['leftovers'], 'choices': ['keep', 'stop']},
    'key': {'type': 'str'},
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
        launched = jobs.launch(self, [job], params['timeout'], task_vars, grace=params['grace'],
                               output_limit=params['output_limit'], leftovers=params['leftovers'], key=params['key'])
        jid = launched['ansible_job_id']
        attached = {'attached': True} if launched.get('attached') else {}
        if params['poll'] == 0:
            result.update(changed=not attached, started=True, finished=bool(launched.get('finished')),
                          ansible_job_id=jid, results_file=launched['results_file'], **attached)
            return result
        deadline = None
        if params['timeout']:
            deadline = started_at + params['timeout'] + params['grace'] + DEADLINE_MARGIN
        host = task_vars.get('inventory_hostname', '?')
        with jobs.announce_on_interrupt(host, [jid], self._task.become):
            final = jobs.wait_for(self, jid, task_vars, params['poll'], deadline,
                                  on_poll=lambda r: display.display(jobs.poll_line(host, r, self._task.no_log)))
        if params['cleanup']:
            jobs.collect(self, task_vars, jid, params['poll'])
        result.update(final, **attached)
        result.setdefault('changed', False)
        return result


def check_values(params):
    problems = range_problems(params, ('timeout', 'poll', 'grace', 'output_limit'))
    if problems:
        raise AnsibleActionFail('; '.join(problems))
