# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action side of asyncops.jobs.async_status.

* The async_dir setting goes through unexpanded: ansible.builtin.async_status expands '~' on the controller
  side (as the connection user's or the become user's home, depending on the become method), while the wrapper
  expands it on the target, so under become the two can differ (ansible/ansible#81805). Here the module resolves
  it on the target, exactly as the wrapper did when it started the job.
* Collecting: a finished job started by async_run (poll=0) or a finished batch started by async_batch
  (wait=false) is returned as that task would have returned it when waiting (for a batch: results in item
  order with the item and index variables, summary, failed unless allow_failures), and its records are then
  collected (replaced by a note saying when) unless the task said to keep them, once the reply is on the controller.
* Delivery in one round: the status call carries a delivery token (this task on this host), so the round that finds
  such a job finished collects it as it answers, and a round retried after its reply was lost gets the same answer
  from a copy kept next to the note (protocol.DELIVERY_KEEP); no separate mode=collect round.
* no_log: an answer that holds anything of a job started under no_log is censored for display, whatever this
  task's own no_log (the record carries it).
"""

from __future__ import annotations

import typing as t

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_protocol as protocol
from ansible_collections.asyncops.jobs.plugins.plugin_utils import _task_results as task_results
from ansible_collections.asyncops.jobs.plugins.plugin_utils._job_action import JobActionBase, Result


class ActionModule(JobActionBase):

    def run(self, tmp: str | None = None, task_vars: dict[str, t.Any] | None = None) -> Result:
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        args = dict(self._task.args)
        token = self.delivery_token(task_vars)
        if token and isinstance(args.get('jid'), str) and args.get('mode') in protocol.DELIVERING_MODES:
            # a round that may collect what it returns: asked again when its reply is lost (same token, same answer)
            args.setdefault('delivery', token)
            reply = self.status_round(task_vars, args.pop('jid'), 1.0, **args)
        else:
            reply = self.query(task_vars, **args)
        delivered = bool(reply.pop(protocol.DELIVERED_KEY, False))
        delivery = self.delivery_of(reply)
        if delivery is None:
            result.update(reply)
        else:
            result.update(self.as_its_launch_returns(reply, delivery, task_vars, delivered))
        return self.censored_if_no_log(self.with_retained(result), reply)

    def delivery_of(self, reply: Result) -> dict[str, t.Any] | None:
        """What the launch left to return this job's result with, when the reply is about one finished job or batch
        of async_run / async_batch, asked for in a mode that delivers it."""
        args = self._task.args
        if (
            not isinstance(args.get('jid'), str)
            or args.get('mode') not in protocol.DELIVERING_MODES
            or args.get('cleanup')
        ):
            return None
        delivery = protocol.delivery_info(reply)
        if not reply.get('finished') or delivery is None:
            return None
        if protocol.is_batch(reply) and not isinstance(reply.get('item_records'), list):
            return None
        return delivery

    def as_its_launch_returns(
        self, reply: Result, delivery: dict[str, t.Any], task_vars: dict[str, t.Any], delivered: bool = False
    ) -> Result:
        """The result as async_run / async_batch return it when they wait; then the job is collected (unless kept, or
        the status round collected it as it answered: delivered)."""
        jid = str(reply['ansible_job_id'])
        if protocol.is_batch(reply):
            result = task_results.batch_result(reply, reply['item_records'], delivery)
            keep = bool(delivery.get('keep'))
        else:
            result = dict(reply)
            result.setdefault('changed', False)
            if delivery.get('no_log'):
                result['_ansible_no_log'] = True
            keep = not delivery.get('cleanup', True)
        result.update(started=True, finished=True)
        if not keep and not delivered and not self._task.check_mode:
            self.collect(task_vars, jid, 1.0)
        return result
