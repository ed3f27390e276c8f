# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""asyncops.jobs.async_batch: a loop of background jobs with bounded concurrency, in one task.

The whole batch starts with one module execution on the target (the scheduler there keeps a
sliding window of `concurrency` items); each status round is one more execution, for all
items at once, that long-polls for up to `delay` seconds.
"""

from __future__ import annotations

import time
import typing as t

from ansible.errors import AnsibleActionFail, AnsibleUndefinedVariable
from ansible.utils.display import Display

from ansible_collections.asyncops.jobs.plugins.plugin_utils._interrupt import announce_on_interrupt
from ansible_collections.asyncops.jobs.plugins.plugin_utils._job_action import JobActionBase, Result

display = Display()

# result keys of the wrapper that say nothing about the item to the user
INTERNAL_KEYS = ('started', 'finished', 'results_file', 'asyncops_job')


class ActionModule(JobActionBase):

    STUB = 'async_batch'

    @classmethod
    def finalize_task_arg(cls, name: str, value: t.Any, templar: t.Any, context: t.Any) -> t.Any:
        """Leave `args` untemplated here: it is rendered once per item, with the item in scope."""
        if name == 'args':
            return value
        return super().finalize_task_arg(name, value, templar, context)

    def run(self, tmp: str | None = None, task_vars: dict[str, t.Any] | None = None) -> Result:
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        params = self.validated_params(('concurrency', 'timeout', 'delay', 'retries', 'grace', 'output_limit'))
        check_values(params)
        items = params['items']
        if not items:
            result.update(summarise([], 0.0), changed=False, msg='items is empty: nothing to do')
            return result
        job_list = [self.build_job(params['module'], self.render_args(params, index, item, task_vars), task_vars)
                    for index, item in enumerate(items)]
        started_at = time.time()
        launched = self.launch(job_list, params['timeout'], task_vars, grace=params['grace'],
                               concurrency=params['concurrency'], fail_fast=params['fail_fast'],
                               output_limit=params['output_limit'], leftovers=params['leftovers'], key=params['key'])
        item_jids = [job['ansible_job_id'] for job in launched['jobs']]
        if len(item_jids) != len(items):
            raise AnsibleActionFail('key %r names batch %s, which has %d item(s), not %d: use another key, or clean that '
                                    'batch up first' % (params['key'], launched['ansible_job_id'], len(item_jids), len(items)))
        attached = {'attached': True} if launched.get('attached') else {}
        if not params['wait']:
            result.update(changed=not attached, started=True, finished=bool(launched.get('finished')),
                          ansible_job_id=launched['ansible_job_id'], results_file=launched['results_file'],
                          jobs=launched['jobs'], **attached)
            return result
        host = task_vars.get('inventory_hostname', '?')
        with announce_on_interrupt(host, [launched['ansible_job_id']], bool(self._task.become)):
            records = self.poll_rounds(params, launched['ansible_job_id'], item_jids, task_vars, host, started_at)
        if not params['keep']:
            self.collect(task_vars, launched['ansible_job_id'], params['delay'])
        results = [item_result(record, item, index, params, self._task.no_log)
                   for index, (record, item) in enumerate(zip(records, items))]
        result.update(summarise(results, time.time() - started_at))
        result['ansible_job_id'] = launched['ansible_job_id']
        result.update(attached)
        if result['failed_count'] and not params['allow_failures']:
            result['failed'] = True
            result['msg'] = '%d of %d item(s) failed (first: item %d: %s)' % (
                result['failed_count'], len(results), first_failure(results),
                str(results[first_failure(results)].get('msg', 'failed'))[:300])
        return result

    def render_args(self, params: dict[str, t.Any], index: int, item: t.Any, task_vars: dict[str, t.Any]) -> dict[str, t.Any]:
        """The module args for one item: the task's variables plus the loop and index variables."""
        variables = dict(task_vars)
        variables[params['loop_var']] = item
        variables[params['index_var']] = index
        templar = self._templar.copy_with_new_env(available_variables=variables)
        try:
            rendered = templar.template(params['args'])
        except AnsibleUndefinedVariable as exc:
            raise AnsibleActionFail('args of item %d (%s=%r) use an undefined variable: %s'
                                    % (index, params['loop_var'], item, exc.message))
        if not isinstance(rendered, dict):
            raise AnsibleActionFail('args must be a dictionary of module arguments, got %s for item %d'
                                    % (type(rendered).__name__, index))
        return rendered

    def poll_rounds(self, params: dict[str, t.Any], batch_jid: str, item_jids: list[str], task_vars: dict[str, t.Any],
                    host: str, started_at: float) -> list[Result]:
        """Status rounds until every item finished; returns the items' records.

        Each round is one round trip that long-polls up to `delay` seconds and returns only the items' states;
        the round in which the last item ends returns the whole records (removed afterwards by collect(), once
        they are safe here).
        """
        jids = [batch_jid] + item_jids
        for _round in range(params['retries']):
            reply = self.status_round(task_vars, jids, params['delay'], mode='wait', timeout=params['delay'],
                                      brief=True, tail=0)
            if reply['finished']:
                return t.cast(t.List[Result], reply['jobs'][1:])
            display.display(progress_line(host, reply['jobs'][1:], time.time() - started_at))
        raise AnsibleActionFail('the batch %s still runs after %d status rounds (retries x delay = %gs); it goes on '
                                'on the target: follow it with asyncops.jobs.async_status jid=%s, or raise retries'
                                % (batch_jid, params['retries'], params['retries'] * params['delay'], batch_jid))


def check_values(params: dict[str, t.Any]) -> None:
    if params['loop_var'] == params['index_var']:
        raise AnsibleActionFail('loop_var and index_var must differ (both are %r)' % params['loop_var'])


def item_result(record: Result, item: t.Any, index: int, params: dict[str, t.Any], no_log: bool = False) -> Result:
    """One entry of `results`, shaped like a registered loop's: the module's keys plus item bookkeeping.

    With no_log, each entry is marked _ansible_no_log as ansible-core marks loop items, so that the
    callbacks get them censored (ansible-core keeps a no_log task's `results` and censors marked items)."""
    meta = record.get('asyncops_job') or {}
    entry = {k: v for k, v in record.items() if k not in INTERNAL_KEYS}
    entry.setdefault('changed', False)
    entry['failed'] = bool(record.get('failed'))
    entry['timedout'] = bool(record.get('timedout'))
    entry['elapsed'] = meta.get('elapsed')
    entry['state'] = meta.get('state')
    entry[params['loop_var']] = item
    entry['ansible_loop_var'] = params['loop_var']
    entry[params['index_var']] = index
    entry['ansible_index_var'] = params['index_var']
    if no_log:
        entry['_ansible_no_log'] = True
    return entry


def summarise(results: list[Result], elapsed: float) -> Result:
    counts = {
        'ok': sum(1 for r in results if not r['failed'] and not r.get('skipped')),
        'failed_count': sum(1 for r in results if r['failed']),
        'timedout': sum(1 for r in results if r['timedout']),
        'changed_count': sum(1 for r in results if r.get('changed')),
        'skipped': sum(1 for r in results if r.get('skipped')),
    }
    return {
        'results': results,
        'summary': dict(counts, total=len(results), elapsed=round(elapsed, 3)),
        'failed_count': counts['failed_count'],
        'changed': bool(counts['changed_count']),
    }


def first_failure(results: list[Result]) -> int:
    return next(i for i, r in enumerate(results) if r['failed'])


def progress_line(host: str, brief_jobs: list[Result], elapsed: float) -> str:
    """'ASYNC BATCH POLL on host: ...' with items done/running/pending."""
    counts: dict[str, int] = {}
    for job in brief_jobs:
        counts[job.get('state', 'running')] = counts.get(job.get('state', 'running'), 0) + 1
    done = len(brief_jobs) - counts.get('running', 0) - counts.get('pending', 0)
    return ('ASYNC BATCH POLL on %s: %d/%d done (%d failed), %d running, %d pending, elapsed %ds'
            % (host, done, len(brief_jobs), sum(counts.get(s, 0) for s in ('failed', 'timedout', 'killed', 'lost')),
               counts.get('running', 0), counts.get('pending', 0), elapsed))
