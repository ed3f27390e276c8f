# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""asyncops.jobs.async_run: run any target-side module, or several one after another (steps), as a supervised
background job."""

from __future__ import annotations

import time
import typing as t

from ansible.utils.display import Display

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_protocol as protocol
from ansible_collections.asyncops.jobs.plugins.module_utils._job_keys import digest
from ansible_collections.asyncops.jobs.plugins.plugin_utils import _jobs as jobs
from ansible_collections.asyncops.jobs.plugins.plugin_utils._interrupt import announce_on_interrupt
from ansible_collections.asyncops.jobs.plugins.plugin_utils._job_action import JobActionBase, Result

display = Display()


class ActionModule(JobActionBase):

    STUB = 'async_run'

    def run(self, tmp: str | None = None, task_vars: dict[str, t.Any] | None = None) -> Result:
        result = super().run(tmp, task_vars)
        del tmp
        params = self.validated_params(('timeout', 'poll', 'grace', 'output_limit', 'retain'))
        task_vars = task_vars or {}
        if params['steps']:
            job, work = self.chain_job(params, task_vars)
        else:
            job = self.build_job(params['module'], params['args'], task_vars)
            work = {'module': job['module'], 'args': digest(params['args'])}
        launched = self.launch(
            [job],
            params['timeout'],
            task_vars,
            grace=params['grace'],
            output_limit=params['output_limit'],
            leftovers=params['leftovers'],
            key=params['key'],
            retain=params['retain'],
            collect={'cleanup': params['cleanup'], 'no_log': bool(self._task.no_log)},
            work=work,
        )
        # the job runs from the launch on, however long the launch took: the give-up deadline counts from here
        launched_at = time.time()
        jid = launched['ansible_job_id']
        attached = {'attached': True} if launched.get('attached') else {}
        if params['poll'] == 0:
            result.update(
                changed=not attached,
                started=True,
                finished=bool(launched.get('finished')),
                ansible_job_id=jid,
                results_file=launched['results_file'],
                **attached,
            )
            return self.with_retained(result)
        final = self.poll(jid, params, task_vars, launched_at)
        if params['cleanup'] and not final.pop(protocol.DELIVERED_KEY, False):
            self.collect(task_vars, jid, params['poll'])
        result.update(final, **attached)
        result.setdefault('changed', False)
        return self.censored_if_no_log(self.with_retained(result), final)

    def chain_job(self, params: dict[str, t.Any], task_vars: dict[str, t.Any]) -> tuple[Result, Result]:
        """The job of a chain (its steps, then its always steps), and the work a key compares."""
        steps = self.validated_steps(params['steps'], 'steps')
        always = self.validated_steps(params['always'] or [], 'always')
        work = {'module': jobs.chain_label(steps, always), 'args': digest({'steps': steps, 'always': always})}
        return self.build_chain(steps, always, task_vars), work

    def poll(self, jid: str, params: dict[str, t.Any], task_vars: dict[str, t.Any], launched_at: float) -> Result:
        """Wait for the job, one progress line per round; the job ids are printed if the controller is stopped.
        With a time limit, the job must have ended that long (+ grace and a margin) after its launch reply arrived;
        a chain's always steps may run after its time limit, each under its own."""
        time_limit = params['timeout']
        if time_limit and params['always']:
            time_limit += protocol.always_bound(params['always'], params['grace'])
        deadline = protocol.give_up_deadline(launched_at, time_limit, params['grace'])
        host = task_vars.get('inventory_hostname', '?')
        no_log = bool(self._task.no_log)

        def progress(record: Result) -> None:
            censored = no_log or protocol.record_no_log(record)  # a job started under no_log, attached to by key
            event = {'ansible_job_id': jid, 'started': True, 'finished': False, 'elapsed': record.get('elapsed')}
            step = record.get('current_step')
            if isinstance(step, dict):  # a chain: the step that runs (its name only without no_log)
                event['current_step'] = {'index': step.get('index')} if censored else step
            if not censored:
                event.update(stdout_tail=record.get('stdout_tail', []), stderr_tail=record.get('stderr_tail', []))
            self.report_progress(event, jobs.poll_line(host, record, censored))

        token = self.delivery_token(task_vars) if params['cleanup'] else None
        with announce_on_interrupt(host, [jid], bool(self._task.become), token):
            return self.wait_for(jid, task_vars, params['poll'], deadline, on_poll=progress, delivery=token)
