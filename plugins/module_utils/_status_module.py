# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The async_status module: asyncops.jobs.async_status, and ansible.legacy.async_status in keyword mode.

Keyword mode (extensions/keyword_mode) answers ansible-core's own `async:` machinery, so what it returns is
what ansible-core's async_status returns: module stderr in `stderr`, "could not find job", "Timeout exceeded";
what this collection adds stays under its one key, asyncops_job.
"""

from __future__ import annotations

import json
import time
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_protocol as protocol
from ansible_collections.asyncops.jobs.plugins.module_utils import _job_status as job_status
from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import (
    JobStore,
    JobStoreError,
    resolve_async_dir,
    validate_jid,
)

Record = t.Dict[str, t.Any]


def requested_jids(module: AnsibleModule) -> tuple[list[str], bool]:
    """(list of validated jids, whether a single jid was given)."""
    jid = module.params['jid']
    if jid is None:
        return [], True
    single = not isinstance(jid, list)
    jids = [jid] if single else jid
    return [validate_jid(str(j) if isinstance(j, int) else j) for j in jids], single


def brief(record: Record) -> Record:
    return {
        'ansible_job_id': record.get('ansible_job_id'),
        'finished': bool(record.get('finished')),
        'failed': bool(record.get('failed')),
        'state': protocol.job_state(record),
    }


def summarise(results: list[Record], no_log: bool = False) -> Record:
    """The answer about several jobs; with no_log (the status task's, or the job's own), no job's msg is copied."""
    finished = [r for r in results if r.get('finished')]
    failed = [r for r in finished if r.get('failed')]
    summary = {
        'jobs': results,
        'finished': len(finished) == len(results),
        'started': True,
        'finished_count': len(finished),
        'running_count': len(results) - len(finished),
        'failed_count': len(failed),
        'failed': bool(failed),
        'changed': False,
    }
    if failed:
        summary['msg'] = '%d of %d job(s) failed: %s' % (
            len(failed),
            len(results),
            ', '.join(
                '%s (%s)'
                % (
                    r.get('ansible_job_id'),
                    (
                        'censored, no_log'
                        if no_log or (protocol.job_meta(r) or {}).get('no_log')
                        else str(r.get('msg', 'failed'))[:200]
                    ),
                )
                for r in failed
            ),
        )
    return summary


def run_mode(module: AnsibleModule, jobs: job_status.Jobs, mode: str, jids: list[str]) -> Record | list[Record]:
    params = module.params
    if mode == 'list':
        listed = jobs.list_all(key=params['key'], states=params['state'] or ())
        if params['older_than'] is not None:
            listed = [j for j in listed if j['finished'] and j['age'] >= params['older_than']]
        return {'changed': False, 'jobs': listed, 'async_dir': jobs.store.path}
    if mode == 'cleanup' and not jids:
        if params['older_than'] is None:
            module.fail_json(msg='mode=cleanup needs jid, or older_than (seconds) to prune old finished records')
        erased, removed = jobs.prune(params['older_than'])
        return {'changed': bool(erased or removed), 'jobs': erased, 'removed': removed, 'async_dir': jobs.store.path}
    if not jids:
        module.fail_json(
            msg='mode=%s needs jid: the ansible_job_id (or a list of them) returned when the job started' % mode
        )
    if mode == 'kill':
        if module.check_mode:
            return [jobs.status(jid, tail=0) for jid in jids]
        return [jobs.kill(jid, max_wait=params['timeout']) for jid in jids]
    if mode == 'cleanup':
        if module.check_mode:
            return [{'ansible_job_id': jid, 'erased': jobs.store.record_path(jid)} for jid in jids]
        return [jobs.cleanup(jid) for jid in jids]
    if mode == 'collect':
        if module.check_mode:
            return [{'ansible_job_id': jid, 'collected': False, 'changed': False} for jid in jids]
        return [jobs.collect(jid) for jid in jids]
    if mode == 'wait':
        records = jobs.wait(jids, params['timeout'], tail=params['tail'])
    else:
        records = [jobs.status(jid, tail=params['tail']) for jid in jids]
    if len(records) == 1:
        with_item_records(jobs, records[0])
    if params['cleanup'] and not module.check_mode:
        jobs.collect_finished(records)
    return [without_item_values(record) for record in records]


def without_item_values(record: Record) -> Record:
    """A batch's record while it runs, without the item values its launch kept for collecting it (no reader needs
    them before the end, and they are the task's: with no_log, its arguments)."""
    meta = protocol.job_meta(record)
    delivery = protocol.delivery_info(record)
    if meta is not None and not record.get('finished') and delivery is not None and 'items' in delivery:
        shown: dict[str, t.Any] = dict(meta)
        shown['collect'] = {key: value for key, value in delivery.items() if key != 'items'}
        record = dict(record)
        record[protocol.META_KEY] = shown
    return record


def with_item_records(jobs: job_status.Jobs, record: Record) -> None:
    """A finished batch started by async_batch comes with its items' records, so that async_status can return its
    results as async_batch does (its record says what that needs, under collect)."""
    if record.get('finished') and protocol.is_batch(record) and protocol.delivery_info(record):
        record['item_records'] = [jobs.status(jid, tail=0) for jid in record.get('jobs') or []]


def exit_with_record(record: Record) -> None:
    """Return a job's own result as it is, as ansible.builtin.async_status does: the module that produced it
    already formatted its warnings and deprecations, which exit_json would take apart again (and fail on)."""
    print('\n%s' % json.dumps(record))  # pylint: disable=ansible-bad-function
    raise SystemExit(0)


def exit_with(module: AnsibleModule, result: Record) -> None:
    """Our own result (a summary, a listing, a cleanup): its warnings are ours, given to module.warn."""
    for warning in result.pop('warnings', []):
        module.warn(warning)
    module.exit_json(**result)


def main(keyword_mode: bool = False) -> None:
    """asyncops.jobs.async_status; with keyword_mode, ansible.legacy.async_status as ansible-core's `async:` uses it."""
    module = AnsibleModule(
        argument_spec=protocol.KEYWORD_STATUS_SPEC if keyword_mode else protocol.STATUS_SPEC, supports_check_mode=True
    )
    mode = module.params['mode']
    found = protocol.range_problems(module.params, ('timeout', 'older_than', 'tail'))
    if found:
        module.fail_json(msg='; '.join(found))
    try:
        jids, single = requested_jids(module)
        store = JobStore(resolve_async_dir(module.params['async_dir'] or module.params.get('_async_dir'))).open()
        jobs = job_status.Jobs(store, read_only=module.check_mode, no_log=module.no_log)
        token = delivery_token(module, mode, jids)
        if token:
            answer_again(module, jobs, mode, single, jids, token)
        if not module.check_mode:
            store.sweep_delivered(time.time(), protocol.DELIVERY_KEEP)
        swept = jobs.sweep_retained(keep=jids)
        outcome = run_mode(module, jobs, mode, jids)
        if keyword_mode and isinstance(outcome, list):
            outcome = [core_compatible(record) for record in outcome]
        if isinstance(outcome, dict):
            answer, raw = with_swept(outcome, swept), False
        else:
            if token and protocol.is_note(outcome[0]):  # collected meanwhile by a round with this token
                answer_again(module, jobs, mode, single, jids, token)
            answer, raw = response(module, mode, single, outcome, swept)
            if token and all(record.get('finished') for record in outcome) and deliverable(outcome, jids):
                if jobs.deliver(jids[0], canonical_records(outcome), token):
                    answer[protocol.DELIVERED_KEY] = True
                else:  # another round with this token collected it meanwhile, while this one read it
                    answer_again(module, jobs, mode, single, jids, token)
    except JobStoreError as exc:
        module.fail_json(msg=str(exc))
    for warning in store.warnings:
        module.warn(warning)
    emit(module, answer, raw)


def delivery_token(module: AnsibleModule, mode: str, jids: list[str]) -> str | None:
    """The delivery token of a status or wait call that collects what it delivers (see protocol.DELIVERY_KEEP); None
    when this call does not (no token, other modes, check mode, cleanup=true which collects without a copy)."""
    token = module.params.get('delivery')
    if not token or mode not in protocol.DELIVERING_MODES or not jids:
        return None
    if module.check_mode or module.params['cleanup']:
        return None
    return str(token)


def deliverable(records: list[Record], jids: list[str]) -> bool:
    """Whether the answer is about one job of ours whose starting task collects it once delivered: one job, or a
    batch with its items' records (asked alone, or with exactly its items, as async_batch's rounds ask)."""
    record = records[0]
    if protocol.is_note(record) or not protocol.collected_when_delivered(record):
        return False
    if not protocol.is_batch(record):
        return len(jids) == 1
    if len(jids) == 1:
        return isinstance(record.get('item_records'), list)
    return jids[1:] == record.get('jobs')


def canonical_records(outcome: list[Record]) -> list[Record]:
    """What a delivered copy keeps: the job's record, then (a batch) its items' records, however they were asked."""
    first = dict(outcome[0])
    items = first.pop('item_records', None)
    if isinstance(items, list):
        return [first] + items
    return [first] + outcome[1:]


def answer_again(
    module: AnsibleModule, jobs: job_status.Jobs, mode: str, single: bool, jids: list[str], token: str
) -> None:
    """When a call with this delivery token already collected the job and its copy is there: return the same
    records again, shaped for this call (one job or batch with its items, or the batch asked with its items)."""
    records = jobs.redelivered(jids[0], token)
    if records is None:
        return
    if single:
        outcome = [dict(records[0], item_records=records[1:]) if protocol.is_batch(records[0]) else records[0]]
    elif [record.get('ansible_job_id') for record in records] == jids:
        outcome = records
    else:
        return
    answer, raw = response(module, mode, single, outcome)
    answer[protocol.DELIVERED_KEY] = True
    emit(module, answer, raw)


def emit(module: AnsibleModule, answer: Record, raw: bool) -> None:
    """Return the answer: a job's own record as it is (raw), or our own result."""
    if raw:
        exit_with_record(answer)
    exit_with(module, answer)


def with_swept(result: Record, swept: list[str]) -> Record:
    """A result that says which records this call removed because their retain passed (RETAINED_KEY), if any."""
    if swept:
        result[protocol.RETAINED_KEY] = swept
    return result


def response(
    module: AnsibleModule, mode: str, single: bool, records: list[Record], swept: list[str] | None = None
) -> tuple[Record, bool]:
    """The answer about the jobs asked for: the record itself for one job, a summary for several; with the records this
    call removed because their retain passed (swept). With whether it is a job's own record, returned as it is."""
    if module.params['brief'] and not all(record.get('finished') for record in records):
        records = [brief(record) for record in records]
    if single:
        result = with_swept(records[0], swept or [])
        if mode == 'cleanup':
            result['changed'] = not module.check_mode
            return result, False
        if mode == 'collect':
            return result, False
        return result, True
    if mode == 'collect':
        return with_swept({'jobs': records, 'changed': any(r.get('changed') for r in records)}, swept or []), False
    summary = with_swept(summarise(records, module.no_log), swept or [])
    if mode == 'cleanup':
        summary['changed'] = not module.check_mode
    elif mode == 'kill':
        summary['changed'] = any(r.get('changed') for r in records)
        summary['failed'] = False
        summary.pop('msg', None)
    return summary, False


def core_compatible(record: Record) -> Record:
    """A record as ansible-core's async_status returns it; what we say beyond that goes under asyncops_job."""
    meta = protocol.job_meta(record)
    details: dict[str, t.Any] = dict(meta) if meta else {}
    msg = str(record.get('msg', ''))
    if meta is None and record.get('failed') and msg.startswith('could not find job '):
        details['detail'] = msg
        record['msg'] = 'could not find job'
    if record.get('timedout') and msg.startswith('Timeout exceeded'):
        details['detail'] = msg
        record['msg'] = 'Timeout exceeded'
        record.setdefault('child_pid', details.get('pid'))
    if 'module_stderr' in record and 'stderr' not in record:
        record['stderr'] = record['module_stderr']
    if details:
        record[protocol.META_KEY] = details
    return record
