# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The async_wrapper module (asyncops.jobs.async_wrapper): start jobs, or a batch, or attach to the job a key names.

plugins/modules/async_wrapper.py holds its documentation; the options are _job_protocol.WRAPPER_SPEC."""

from __future__ import annotations

import base64
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_protocol as protocol
from ansible_collections.asyncops.jobs.plugins.module_utils import _job_status as job_status
from ansible_collections.asyncops.jobs.plugins.module_utils._job_batch import launch_batch
from ansible_collections.asyncops.jobs.plugins.module_utils._job_chain import launch_job
from ansible_collections.asyncops.jobs.plugins.module_utils._job_keys import (
    KeyLock,
    KeyMismatch,
    check_same_work,
    claim_key,
    keyed_jid,
    work_of,
)
from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import JobStore, JobStoreError, resolve_async_dir
from ansible_collections.asyncops.jobs.plugins.module_utils._job_supervisor import LaunchError, expand_argv

if t.TYPE_CHECKING:
    from ansible_collections.asyncops.jobs.plugins.module_utils._job_types import JobSpec

Result = t.Dict[str, t.Any]


def materialize(store: JobStore, jid: str, job: t.Mapping[str, t.Any], suffix: str = '') -> list[str]:
    """Write the job's payload/args into its private directory and return the argv to execute (suffix: '.<n>' for
    the files of a chain's step n)."""
    if not suffix:
        store.create_side_dir(jid)
    paths = {}
    if job.get('payload') is not None:
        paths['{payload}'] = store.write_side_file(
            jid, 'payload' + suffix, base64.b64decode(job['payload']), mode=0o700
        )
    if job.get('args_data') is not None:
        paths['{args}'] = store.write_side_file(jid, 'args' + suffix, job['args_data'].encode('utf-8'))
    argv = [paths.get(arg, arg) for arg in job['argv']]
    return expand_argv(argv) if job.get('expand_argument_vars') else argv


def spec_of(store: JobStore, jid: str, job: t.Mapping[str, t.Any], params: t.Mapping[str, t.Any]) -> JobSpec:
    """The job spec of one of the wrapper's jobs, its files written in its side dir: a chain's, each step's files
    (payload.<n>, args.<n>) with it."""
    if not job.get('steps'):
        return protocol.job_spec(jid, job, materialize(store, jid, job), params)
    store.create_side_dir(jid)
    argvs = [
        materialize(store, jid, step, '.%d' % index) for index, (step, _always) in enumerate(protocol.chain_steps(job))
    ]
    return protocol.job_spec(jid, job, [], params, step_argvs=argvs)


def start_batch(store: JobStore, params: t.Mapping[str, t.Any]) -> Result:
    """The jobs as one batch under a scheduler (concurrency given)."""
    batch_jid = protocol.new_jid()
    specs = []
    for index, job in enumerate(params['jobs']):
        jid = protocol.item_jid(batch_jid, index)
        spec = spec_of(store, jid, job, params)
        specs.append(protocol.batch_item_spec(spec, batch_jid, index))
    record = launch_batch(store, batch_jid, specs, protocol.batch_options(params))
    items = [{'ansible_job_id': spec['jid'], 'results_file': store.record_path(spec['jid'])} for spec in specs]
    return dict(
        started=True,
        finished=False,
        batch=True,
        ansible_job_id=record['ansible_job_id'],
        results_file=record['results_file'],
        jobs=items,
    )


def start_jobs(store: JobStore, params: t.Mapping[str, t.Any]) -> Result:
    """Each job on its own, under its own supervisor."""
    started = []
    for job in params['jobs']:
        jid = protocol.new_jid()
        record = launch_job(store, spec_of(store, jid, job, params))
        started.append(
            {
                'ansible_job_id': jid,
                'results_file': record['results_file'],
                'pid': (protocol.job_meta(record) or {}).get('pid'),
            }
        )
    return dict(
        started=True,
        finished=False,
        batch=False,
        ansible_job_id=started[0]['ansible_job_id'],
        results_file=started[0]['results_file'],
        jobs=started,
    )


def start(store: JobStore, params: t.Mapping[str, t.Any]) -> Result:
    if params['concurrency'] is not None:
        return start_batch(store, params)
    return start_jobs(store, params)


def attach_or_start(store: JobStore, params: t.Mapping[str, t.Any]) -> Result:
    """With a key: the job that has it, if its record is still there (running, or finished and not collected) and it
    does the same work; otherwise a new job that gets the key. Without a key: a new job.

    In check mode a key is only looked up: a check mode run reports the real job that has it, and otherwise starts
    its job without claiming the key, so a later real run never attaches to a check mode job."""
    key = params.get('key')
    if not key:
        return start(store, params)
    with KeyLock(store):
        found = attached(store, keyed_jid(store, key), params)
        if found is not None:
            return found
        result = start(store, params)
        if not params.get('check_mode'):
            claim_key(store, key, result['ansible_job_id'])
        return dict(result, attached=False)


def attached(store: JobStore, jid: str | None, params: t.Mapping[str, t.Any]) -> Result | None:
    """What launch returns for the job a key names (None when there is none to attach to: gone, collected, or
    started in check mode); KeyMismatch when it does other work than asked."""
    if jid is None or not store.exists(jid):
        return None
    record = job_status.Jobs(store).status(jid, tail=0)
    meta = protocol.job_meta(record) or {}
    if not meta or protocol.is_note(record) or meta.get('check_mode'):
        return None
    check_same_work(jid, meta, params)
    batch = meta.get('kind') == protocol.BATCH
    items = record.get('jobs') if batch else [jid]
    return dict(
        started=True,
        finished=bool(record.get('finished')),
        batch=batch,
        attached=True,
        ansible_job_id=jid,
        results_file=store.record_path(jid),
        no_log=bool(meta.get('no_log')),
        jobs=[{'ansible_job_id': item, 'results_file': store.record_path(item)} for item in items or []],
    )


def problems(params: t.Mapping[str, t.Any]) -> list[str]:
    found = protocol.range_problems(
        params, ('timeout', 'grace', 'concurrency', 'output_limit', 'item_retries', 'item_retry_delay', 'retain')
    )
    found += protocol.halt_problems(params, len(params['jobs'] or []))
    if params['concurrency'] is None:
        found += protocol.batch_only_problems(params)
    if not params['jobs']:
        found.append('jobs is empty: give at least one job to start')
    for index, job in enumerate(params['jobs']):
        found.extend(job_problems(index, job))
    if params.get('key') and len(params['jobs']) > 1 and params['concurrency'] is None:
        found.append('key names one job: with several jobs, start them as a batch (concurrency)')
    if params.get('cleanup_dir') and len(params['jobs']) > 1 and params['concurrency'] is None:
        found.append('cleanup_dir is removed when one job ends: with several jobs, start them as a batch (concurrency)')
    return found


def job_problems(index: int, job: t.Mapping[str, t.Any]) -> list[str]:
    """What is wrong with one of the wrapper's jobs: it runs argv, or its steps (then always steps may follow)."""
    if job.get('steps') and job.get('argv'):
        return ['jobs[%d] has both argv and steps: a job runs argv, or its steps one after another' % index]
    if not job.get('steps'):
        if job.get('always'):
            return ['jobs[%d] has always steps but no steps: always runs after the steps of a chain' % index]
        if not job.get('argv'):
            return ['jobs[%d] needs argv (what to run), or steps (what to run one after another)' % index]
        return []
    found = []
    for name in ('steps', 'always'):
        for number, step in enumerate(job.get(name) or []):
            limit = step.get('timeout')
            if limit is not None and (limit < 0 or (name == 'always' and limit == 0)):
                allowed = (
                    'a positive number of seconds (or none: %ds)' % protocol.DEFAULTS['always_timeout']
                    if name == 'always'
                    else '0 (none but the chain\'s) or a positive number of seconds'
                )
                found.append('jobs[%d].%s[%d].timeout must be %s, got %s' % (index, name, number, allowed, limit))
    return found


def main() -> None:
    """asyncops.jobs.async_wrapper."""
    module = AnsibleModule(argument_spec=protocol.WRAPPER_SPEC, supports_check_mode=True)
    params = dict(module.params, no_log=module.no_log, check_mode=module.check_mode)
    found = problems(params)
    if found:
        module.fail_json(msg='; '.join(found))
    params['work'] = work_of(params)
    async_dir = resolve_async_dir(params['async_dir'])
    try:
        store = JobStore(async_dir).ensure()
        swept = job_status.Jobs(store, read_only=module.check_mode).sweep_retained()
        if params.get('retain') is not None and not module.check_mode:
            store.note_retain(params['retain'])
        result = attach_or_start(store, params)
    except KeyMismatch as exc:
        module.fail_json(msg=str(exc), no_log_safe=True)  # names no value, and the key only without no_log
    except (JobStoreError, LaunchError) as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg='could not start the job in %s: %s' % (async_dir, exc))
    for warning in store.warnings:
        module.warn(warning)
    if swept:
        result[protocol.RETAINED_KEY] = swept
    module.exit_json(changed=not result.get('attached'), async_dir=store.path, **result)
