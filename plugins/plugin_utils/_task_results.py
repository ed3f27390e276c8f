# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""What a task returns for finished jobs, the same whoever collects them.

async_batch (waiting) and async_status (collecting a batch started with wait=false, or a job started with
poll=0) build the result here, from the records and from what the launch left in the batch's record
(`collect`: the items, the loop and index variable names, allow_failures, keep, no_log). So collecting
later gives exactly the result waiting would have given.
"""

from __future__ import annotations

import typing as t

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_protocol as protocol

Result = t.Dict[str, t.Any]


def delivery_info(items: list[t.Any], params: t.Mapping[str, t.Any], no_log: bool) -> dict[str, t.Any]:
    """What a batch's record keeps (under `collect`) for whoever returns its result later (0600 on the target, like
    the results)."""
    return {
        'items': items,
        'loop_var': params['loop_var'],
        'index_var': params['index_var'],
        'allow_failures': params['allow_failures'],
        'keep': params['keep'],
        'no_log': no_log,
    }


def item_result(record: Result, item: t.Any, index: int, delivery: t.Mapping[str, t.Any]) -> Result:
    """One entry of `results`, shaped like a registered loop's: the module's keys plus item bookkeeping.

    With no_log, each entry is marked _ansible_no_log as ansible-core marks loop items, so that the
    callbacks get them censored (ansible-core keeps a no_log task's `results` and censors marked items)."""
    meta = protocol.job_meta(record) or {}
    entry = {k: v for k, v in record.items() if k not in protocol.INTERNAL_KEYS}
    entry.setdefault('changed', False)
    entry['failed'] = bool(record.get('failed'))
    entry['timedout'] = bool(record.get('timedout'))
    entry['elapsed'] = meta.get('elapsed')
    entry['state'] = meta.get('state')
    entry[delivery['loop_var']] = item
    entry['ansible_loop_var'] = delivery['loop_var']
    entry[delivery['index_var']] = index
    entry['ansible_index_var'] = delivery['index_var']
    if delivery.get('no_log'):
        entry['_ansible_no_log'] = True
    return entry


def summarise(results: list[Result], elapsed: float) -> Result:
    """results and their counts; `retried`: the items started more than once (item_retries)."""
    counts = {
        'ok': sum(1 for r in results if not r['failed'] and not r.get('skipped')),
        'failed_count': sum(1 for r in results if r['failed']),
        'timedout': sum(1 for r in results if r['timedout']),
        'changed_count': sum(1 for r in results if r.get('changed')),
        'skipped': sum(1 for r in results if r.get('skipped')),
        'retried': sum(1 for r in results if isinstance(r.get('attempts'), int) and r['attempts'] > 1),
    }
    return {
        'results': results,
        'summary': dict(counts, total=len(results), elapsed=round(elapsed, 3)),
        'failed_count': counts['failed_count'],
        'changed': bool(counts['changed_count']),
    }


def batch_result(batch: t.Mapping[str, t.Any], item_records: list[Result], delivery: t.Mapping[str, t.Any]) -> Result:
    """The result of a finished batch, as async_batch returns it: results in item order, summary, and failed
    (with the first failure) unless allow_failures."""
    meta = protocol.job_meta(batch) or {}
    results = [
        item_result(record, item, index, delivery)
        for index, (record, item) in enumerate(zip(item_records, delivery['items']))
    ]
    result = summarise(results, float(meta.get('elapsed') or 0.0))
    result['ansible_job_id'] = batch.get('ansible_job_id')
    if result['failed_count'] and not delivery.get('allow_failures'):
        first = next(i for i, r in enumerate(results) if r['failed'])
        result['failed'] = True
        if delivery.get('no_log'):  # an item's msg can hold its args or output, and failed messages are displayed
            result['msg'] = '%d of %d item(s) failed (first: item %d; details censored, no_log)' % (
                result['failed_count'],
                len(results),
                first,
            )
        else:
            result['msg'] = '%d of %d item(s) failed (first: item %d: %s)' % (
                result['failed_count'],
                len(results),
                first,
                str(results[first].get('msg', 'failed'))[:300],
            )
    if delivery.get('no_log'):
        result['_ansible_no_log'] = True
    return result


def progress_counts(brief_jobs: list[Result]) -> dict[str, int]:
    """How many items are done, failed, running, pending and retrying (waiting to start again after a failed
    attempt: not done, not failed yet), from the states of a brief status round."""
    states: dict[str, int] = {}
    for job in brief_jobs:
        state = job.get('state', protocol.RUNNING)
        states[state] = states.get(state, 0) + 1
    running, pending = states.get(protocol.RUNNING, 0), states.get(protocol.PENDING, 0)
    retrying = states.get(protocol.RETRYING, 0)
    return {
        'total': len(brief_jobs),
        'done': len(brief_jobs) - running - pending - retrying,
        'failed': sum(states.get(s, 0) for s in protocol.FAILED_STATES),
        'running': running,
        'pending': pending,
        'retrying': retrying,
    }


def progress_line(host: str, counts: t.Mapping[str, int], elapsed: float) -> str:
    """'ASYNC BATCH POLL on host: ...' with items done/running/pending (and retrying, when any are)."""
    retrying = ', %d retrying' % counts['retrying'] if counts.get('retrying') else ''
    return 'ASYNC BATCH POLL on %s: %d/%d done (%d failed), %d running, %d pending%s, elapsed %ds' % (
        host,
        counts['done'],
        counts['total'],
        counts['failed'],
        counts['running'],
        counts['pending'],
        retrying,
        elapsed,
    )
