# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""asyncops.jobs.async_batch: a loop of background jobs with bounded concurrency, in one task; each item runs a
module, or a chain of steps.

The whole batch starts with one module execution on the target (the scheduler there keeps a
sliding window of `concurrency` items); each status round is one more execution, for all
items at once, that long-polls for up to `delay` seconds.
"""

from __future__ import annotations

import time
import typing as t

from ansible.errors import AnsibleActionFail, AnsibleUndefinedVariable
from ansible.module_utils.datatag import native_type_name
from ansible.utils.display import Display

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_protocol as protocol
from ansible_collections.asyncops.jobs.plugins.module_utils._job_keys import digest
from ansible_collections.asyncops.jobs.plugins.plugin_utils import _jobs as jobs
from ansible_collections.asyncops.jobs.plugins.plugin_utils import _task_results as task_results
from ansible_collections.asyncops.jobs.plugins.plugin_utils._interrupt import announce_on_interrupt
from ansible_collections.asyncops.jobs.plugins.plugin_utils._job_action import JobActionBase, Result

display = Display()

PER_ITEM = ('args', 'steps', 'always')  # options templated once per item, with the item in scope

FORKS_HINT = (
    'async_batch with wait=true holds one fork per host for the whole batch, and this play has more hosts '
    'than forks: hosts run in waves of `forks`. Start the batch with wait=false, then collect it in a second '
    'task with asyncops.jobs.async_status (jid: the batch\'s ansible_job_id, mode: wait), which returns the '
    'same results (see the batching guide)'
)


class ActionModule(JobActionBase):

    STUB = 'async_batch'

    @classmethod
    def finalize_task_arg(cls, name: str, value: t.Any, templar: t.Any, context: t.Any) -> t.Any:
        """Leave `args` (and `steps`, `always`) untemplated here: they are rendered once per item, with the item in
        scope."""
        if name in PER_ITEM:
            return value
        return super().finalize_task_arg(name, value, templar, context)

    def run(self, tmp: str | None = None, task_vars: dict[str, t.Any] | None = None) -> Result:
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        check_items(self._task.args.get('items'))
        params = self.validated_params(
            (
                'concurrency',
                'timeout',
                'delay',
                'retries',
                'grace',
                'output_limit',
                'item_retries',
                'item_retry_delay',
                'retain',
            )
        )
        check_values(params)
        items = params['items']
        problems = protocol.halt_problems(params, len(items or []))
        if problems:
            raise AnsibleActionFail('; '.join(problems))
        if not items:
            result.update(task_results.summarise([], 0.0), changed=False, msg='items is empty: nothing to do')
            return result
        if params['wait'] and more_hosts_than_forks(task_vars):
            display.warning(FORKS_HINT)
        if params['steps'] is not None:
            job_list, work = self.chain_jobs(params, items, task_vars)
        else:
            job_list = [
                self.build_job(params['module'], self.render_args(params, index, item, task_vars), task_vars)
                for index, item in enumerate(items)
            ]
            work = {'module': job_list[0]['module'], 'args': digest(params['args']), 'items': digest(items)}
        delivery = task_results.delivery_info(items, params, bool(self._task.no_log))
        started_at = time.time()
        launched = self.launch(
            job_list,
            params['timeout'],
            task_vars,
            grace=params['grace'],
            concurrency=params['concurrency'],
            fail_fast=params['fail_fast'],
            output_limit=params['output_limit'],
            leftovers=params['leftovers'],
            key=params['key'],
            retain=params['retain'],
            item_retries=params['item_retries'],
            item_retry_delay=params['item_retry_delay'],
            max_failures=params['max_failures'],
            on_halt=params['on_halt'],
            collect=delivery,
            work=work,
        )
        # the items run from the launch on, however long it took to start them all: the give-up deadline counts
        # from here (from before the launch, a slow launch of many items outlived it while every item ran healthy)
        launched_at = time.time()
        item_jids = [job['ansible_job_id'] for job in launched['jobs']]
        if len(item_jids) != len(items):
            key = 'the key (censored, no_log)' if self._task.no_log else 'key %r' % (params['key'],)
            raise AnsibleActionFail(
                '%s names batch %s, which has %d item(s), not %d: use another key, or clean that '
                'batch up first' % (key, launched['ansible_job_id'], len(item_jids), len(items))
            )
        attached = {'attached': True} if launched.get('attached') else {}
        if not params['wait']:
            result.update(
                changed=not attached,
                started=True,
                finished=bool(launched.get('finished')),
                ansible_job_id=launched['ansible_job_id'],
                results_file=launched['results_file'],
                jobs=launched['jobs'],
                **attached,
            )
            return self.with_retained(result)
        host = task_vars.get('inventory_hostname', '?')
        token = None if params['keep'] else self.delivery_token(task_vars)
        with announce_on_interrupt(host, [launched['ansible_job_id']], bool(self._task.become), token):
            batch, records, delivered = self.poll_rounds(
                params, launched['ansible_job_id'], item_jids, task_vars, host, started_at, launched_at, token
            )
        if not params['keep'] and not delivered:
            self.collect(task_vars, launched['ansible_job_id'], params['delay'])
        if protocol.record_no_log(batch):  # attached by key to a batch started under no_log: the record carries it
            delivery['no_log'] = True
        result.update(task_results.batch_result(batch, records, delivery), **attached)
        return self.with_retained(result)

    def render_args(
        self, params: dict[str, t.Any], index: int, item: t.Any, task_vars: dict[str, t.Any]
    ) -> dict[str, t.Any]:
        """The module args for one item: the task's variables plus the loop and index variables."""
        rendered = self.render(params, index, item, task_vars, params['args'], 'args')
        if not isinstance(rendered, dict):
            raise AnsibleActionFail(
                'args must be a dictionary of module arguments, got %s for item %d' % (type(rendered).__name__, index)
            )
        return rendered

    def render(
        self, params: dict[str, t.Any], index: int, item: t.Any, task_vars: dict[str, t.Any], value: t.Any, what: str
    ) -> t.Any:
        """value (the option `what`) templated for one item: with the task's variables plus the loop and index
        variables."""
        variables = dict(task_vars)
        variables[params['loop_var']] = item
        variables[params['index_var']] = index
        templar = self._templar.copy_with_new_env(available_variables=variables)
        try:
            return templar.template(value)
        except AnsibleUndefinedVariable as exc:
            if self._task.no_log:  # the item, and the message naming what in the args is undefined, are the task's
                raise AnsibleActionFail('%s of item %d (censored, no_log) use an undefined variable' % (what, index))
            raise AnsibleActionFail(
                '%s of item %d (%s=%r) use an undefined variable: %s'
                % (what, index, params['loop_var'], item, exc.message)
            )

    def chain_jobs(
        self, params: dict[str, t.Any], items: list[t.Any], task_vars: dict[str, t.Any]
    ) -> tuple[list[Result], Result]:
        """Each item's chain (its steps and always steps templated for the item, each step built as async_run builds
        one), and the work a key compares. Sets params['always_bound']: how long the always steps of an item may
        run after its time limit, at most."""
        job_list = []
        bound = 0.0
        label = ''
        for index, item in enumerate(items):
            where = 'item %d' % index
            steps = self.validated_steps(
                self.render(params, index, item, task_vars, params['steps'], 'steps'), 'steps', where
            )
            if not steps:
                raise AnsibleActionFail('steps of item %d is empty: give at least one step' % index)
            always = self.validated_steps(
                self.render(params, index, item, task_vars, params['always'] or [], 'always'), 'always', where
            )
            bound = max(bound, protocol.always_bound(always, params['grace']))
            label = label or jobs.chain_label(steps, always)
            job_list.append(self.build_chain(steps, always, task_vars))
        params['always_bound'] = bound
        work = {
            'module': label,
            'args': digest({'steps': params['steps'], 'always': params['always']}),
            'items': digest(items),
        }
        return job_list, work

    def poll_rounds(
        self,
        params: dict[str, t.Any],
        batch_jid: str,
        item_jids: list[str],
        task_vars: dict[str, t.Any],
        host: str,
        started_at: float,
        launched_at: float,
        token: str | None = None,
    ) -> tuple[Result, list[Result], bool]:
        """Status rounds until every item finished; returns the batch's record, the items' records, and whether the
        round that returned them collected them too.

        Each round is one round trip that long-polls up to `delay` seconds and returns only the items' states;
        the round in which the last item ends returns the whole records, and collects them in the same run unless
        the task keeps them (a retried round, its reply lost, gets the same answer: see protocol.DELIVERY_KEEP).
        How long: `retries` rounds when given; otherwise as long as the items can run under their time limit (and a
        margin) from the moment the launch reply arrived (launched_at), and from the last round in which an item
        started or ended (the scheduler answers the launch before it starts the first window); without a time limit,
        until the batch ends (a lost one ends too). Progress shows the time since started_at, before the launch.
        """
        jids = [batch_jid] + item_jids
        extra = {'delivery': token} if token else {}
        deadline = wait_deadline(params, len(item_jids), launched_at)
        moved = (len(item_jids), 0)  # (pending, done) when the scheduler last moved: at the launch, all pending
        rounds = 0
        while True:
            reply = self.status_round(
                task_vars, jids, params['delay'], mode='wait', timeout=params['delay'], brief=True, tail=0, **extra
            )
            self.check_round(reply, 'batch', batch_jid)
            if reply['finished']:
                delivered = bool(reply.pop(protocol.DELIVERED_KEY, False))
                return reply['jobs'][0], t.cast(t.List[Result], reply['jobs'][1:]), delivered
            rounds += 1
            counts = task_results.progress_counts(reply['jobs'][1:])
            to_start = counts['pending'] + counts['retrying']  # a retrying item starts again
            if deadline is not None and (to_start, counts['done']) != moved:
                moved = (to_start, counts['done'])
                deadline = max(deadline, wait_deadline(params, to_start, time.time(), started=True) or deadline)
            elapsed = time.time() - started_at
            self.report_progress(
                {
                    'ansible_job_id': batch_jid,
                    'started': True,
                    'finished': False,
                    'elapsed': round(elapsed, 3),
                    'asyncops_progress': counts,
                },
                task_results.progress_line(host, counts, elapsed),
            )
            if params['retries'] is not None and rounds >= params['retries']:
                raise AnsibleActionFail(
                    'the batch %s still runs after %d status rounds (retries x delay = %gs); it '
                    'goes on on the target: follow it with asyncops.jobs.async_status jid=%s, or raise '
                    'retries' % (batch_jid, rounds, rounds * params['delay'], batch_jid)
                )
            if deadline is not None and time.time() > deadline:
                raise AnsibleActionFail(
                    'the batch %s still runs %ds after its launch, longer than its items could run '
                    'under their time limit; its scheduler is not enforcing it (check the target)'
                    % (batch_jid, time.time() - launched_at)
                )


def check_items(items: t.Any) -> None:
    """Refuse items that are not a list, as `loop` does, before the option's type would turn them into one (a
    string split at its commas, a number into one string item). The value itself is not named: it may be no_log."""
    if items is not None and not isinstance(items, list):
        raise AnsibleActionFail(
            "items must be a list, not %r: a string is never split into items (as `loop` refuses "
            "one too). Give a YAML list (items: [a, b, c]) or a template that makes one, e.g. "
            "items: \"{{ my_string | split(',') }}\"" % native_type_name(items)
        )


def check_values(params: dict[str, t.Any]) -> None:
    if params['loop_var'] == params['index_var']:
        raise AnsibleActionFail('loop_var and index_var must differ (both are %r)' % params['loop_var'])


def wait_deadline(params: t.Mapping[str, t.Any], pending: int, since: float, started: bool = False) -> float | None:
    """When a batch whose items have a time limit must have ended (protocol.give_up_deadline), with this task's
    time limit, grace, concurrency and retries of items; a chain's always steps may run after its time limit, each
    under its own."""
    time_limit = params['timeout']
    if time_limit:
        time_limit += params.get('always_bound') or 0
    return protocol.give_up_deadline(
        since,
        time_limit,
        params['grace'],
        pending,
        params['concurrency'],
        started,
        params['item_retries'],
        params['item_retry_delay'],
    )


def more_hosts_than_forks(task_vars: t.Mapping[str, t.Any]) -> bool:
    """Whether this play's batch of hosts is larger than the forks that run it."""
    hosts = task_vars.get('ansible_play_batch') or []
    forks = task_vars.get('ansible_forks')
    return isinstance(forks, int) and len(hosts) > forks
