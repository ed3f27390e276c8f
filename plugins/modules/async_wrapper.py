#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: async_wrapper
short_description: Start modules or commands as supervised background jobs
version_added: 0.1.0
description:
  - Starts one or more jobs on the target, detached from the connection, each under its own
    supervisor process, and returns as soon as every job has really started.
  - Normally called by the M(asyncops.jobs.async_run) action plugin, which builds the payload of the
    wrapped module on the controller. Call it directly only to run a plain command with O(jobs[].argv).
  - Compared to ansible-core's own wrapper, job records are written atomically with mode 0600 in an async
    dir of mode 0700; the time limit is enforced within a second and stops the whole process tree
    (SIGTERM, then SIGKILL after O(grace) seconds), including children that trap SIGTERM or double-fork;
    a job whose supervisor dies is reported as lost instead of running forever; stdout and stderr are
    captured to files while the job runs so M(asyncops.jobs.async_status) can show a tail.
  - Records stay readable by M(ansible.builtin.async_status).
  - Starting is all or nothing. Before the job starts, room for its final record is reserved in its private
    directory (64 KiB and what the record keeps of the task); when that, or any file the job needs, cannot be
    written (a full file system), nothing runs and the message says so. A job whose record cannot be written
    once its process started is stopped at once. When the job's output fills the file system, the reserved room
    holds a small record with its exit code, state and elapsed time, so the job is never reported as lost.
author:
  - asyncops.jobs developers (@asyncops)
options:
  jobs:
    description:
      - The jobs to start. Each one gets its own job id, record and supervisor.
    type: list
    elements: dict
    required: true
    suboptions:
      module:
        description: Name of what runs, recorded in the job record and shown by O(asyncops.jobs.async_status#module:mode=list).
        type: str
        default: command
      argv:
        description:
          - Program and arguments to execute. The placeholders C({payload}) and C({args}) are replaced by paths to
            O(jobs[].payload) and O(jobs[].args_data), stored in the job's private directory.
          - That path is C(/proc/<supervisor pid>/fd/N), a descriptor the job's supervisor holds open until the job
            process ended. No process the job starts inherits it, and only processes of the job's user can open
            it, so a module that runs something as another user (C(su), C(runuser)) does not give that user the
            task's arguments. Where C(/proc) is missing or the supervisor is not dumpable, it is the file in the
            job's private directory (mode 0700, below directories only the user or root can change).
        type: list
        elements: str
        required: true
      payload:
        description: Base64 encoded file (usually a module built by the controller) stored with mode 0700 as C({payload}).
        type: str
      args_data:
        description: Text stored with mode 0600 as C({args}) (arguments file of old-style and binary modules).
        type: str
      result_style:
        description:
          - V(module) parses the job's stdout as a module's JSON result.
          - V(command) builds a result like M(ansible.builtin.command)'s from the exit code and the captured output.
        type: str
        choices: [module, command]
        default: module
      cmd:
        description: The command as the user wrote it, returned as RV(ignore:cmd) in V(command) style results.
        type: raw
      chdir:
        description: Directory to run the job in.
        type: path
      strip_empty_ends:
        description: Strip trailing newlines from stdout and stderr in V(command) style results.
        type: bool
        default: true
      expand_argument_vars:
        description: Expand C(~) and environment variables in O(jobs[].argv) on the target, like M(ansible.builtin.command) does.
        type: bool
        default: false
  timeout:
    description:
      - Time limit of each job in seconds. V(0) means no limit.
      - When it is reached, the whole job tree gets SIGTERM, then SIGKILL after O(grace) seconds, and the record says
        failed, finished and RV(ignore:timedout=true), with the output captured so far.
    type: int
    default: 0
  concurrency:
    description:
      - Start the jobs as one batch, at most this many running at a time (a sliding window, refilled the moment a
        job ends). The result's RV(ansible_job_id) is then the batch's job id, which
        M(asyncops.jobs.async_status) can wait on; RV(jobs) lists the items' job ids.
      - Without it, every job starts at once, each on its own.
    type: int
  fail_fast:
    description: In a batch, start no new job once one has failed; the jobs not started are recorded as skipped.
    type: bool
    default: false
  async_dir:
    description:
      - Directory of the job records. C(~) is the home of the user running the job, from the password database,
        so that launch and status agree under become.
      - Called as a task, the shell plugin's C(async_dir) setting (E(ANSIBLE_ASYNC_DIR), V(ansible_async_dir)) is used when
        this is not set, as by M(asyncops.jobs.async_status); run by other means, E(ANSIBLE_ASYNC_DIR) on the target,
        else C(~/.ansible_async).
      - A directory that is not ours (a symbolic link, one that belongs to another user, or one that others can write
        to) is refused, with its path and owner in the message, and left as it is. A missing one is created with mode
        0700.
      - So is a directory below a directory that another user could change. Every directory above it (and every
        symbolic link on the way) must belong to the user running the job or to root, and must not be writable by group
        or others unless it has the sticky bit (as C(/tmp)).
    type: str
  collect:
    description:
      - What M(asyncops.jobs.async_status) needs to return a finished job's result as the task that started it would
        have (set by M(asyncops.jobs.async_run) and M(asyncops.jobs.async_batch)); kept in the job's 0600 record.
      - For a batch, C(items), C(loop_var), C(index_var), C(allow_failures), C(keep) and C(no_log); for a job,
        C(cleanup) and C(no_log).
    type: dict
  work:
    description:
      - What the job does, as the caller wants a O(key) to compare it (M(asyncops.jobs.async_run) and
        M(asyncops.jobs.async_batch) set it to the kind, the module and digests of the args and items). Only digests are
        kept in the record.
      - A O(key) attaches only to a job with the same O(work); otherwise the launch fails naming what differs. Without
        it, digests of O(jobs) are compared.
    type: dict
  cleanup_dir:
    description:
      - A directory to remove once the job (or every job of the batch) ended, however it ended. The action plugins set it
        to the task's remote tmp dir when a module's action plugin transferred files there for the job (as
        M(ansible.builtin.uri) with C(src) does).
      - Only a directory named C(ansible-tmp-*) that belongs to the user running the job, and is not a link, is removed.
    type: str
extends_documentation_fragment:
  - asyncops.jobs.job
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.conn
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
    details: Called as a task, its action plugin fills in O(async_dir) from the setting of the shell plugin.
  async:
    support: none
  become:
    support: full
    details: The jobs run as the become user; follow them with the same become settings.
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details:
      - The jobs start in check mode too; a wrapped module built in check mode runs in check mode.
      - A check mode launch never claims a O(key), and a job started in check mode is never attached to by a key.
  connection:
    support: full
  delegation:
    support: full
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
notes:
  - Needs a POSIX target. Process-tree tracking beyond the job's process group uses C(/proc) (Linux).
seealso:
  - module: asyncops.jobs.async_run
  - module: asyncops.jobs.async_status
  - ref: ansible_collections.asyncops.jobs.docsite.guide_troubleshooting
    description: What the messages mean and what to do about them.
"""

EXAMPLES = r"""
- name: Run a backup script in the background, at most one hour
  asyncops.jobs.async_wrapper:
    jobs:
      - argv: [/usr/local/bin/backup.sh, --full]
        result_style: command
    timeout: 3600
  register: backup

- name: Wait for it
  asyncops.jobs.async_status:
    jid: "{{ backup.ansible_job_id }}"
    mode: wait
    timeout: 3600
"""

RETURN = r"""
batch:
  description: Whether the jobs were started as a batch (O(concurrency) given).
  returned: success
  type: bool
ansible_job_id:
  description: Job id of the batch with O(concurrency), else of the first (usually only) job.
  returned: success
  type: str
  sample: j273947102934.4321
results_file:
  description: Absolute path of the first job's record.
  returned: success
  type: str
  sample: /root/.ansible_async/j273947102934.4321
async_dir:
  description: Absolute path of the async dir used.
  returned: success
  type: str
started:
  description: Always true once the jobs run.
  returned: success
  type: bool
finished:
  description: Always false; use M(asyncops.jobs.async_status) to follow the jobs.
  returned: success
  type: bool
jobs:
  description: One entry per started job, in the order of O(jobs).
  returned: success
  type: list
  elements: dict
  contains:
    ansible_job_id:
      description: The job id.
      type: str
    results_file:
      description: Absolute path of the job record.
      type: str
    pid:
      description: Process id of the job (also its process group id); not returned for batch items.
      type: int
"""

import base64
import os
import secrets
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_status as job_status
from ansible_collections.asyncops.jobs.plugins.module_utils._job_batch import item_jid, launch_batch
from ansible_collections.asyncops.jobs.plugins.module_utils._job_keys import KeyLock, claim_key, digest, keyed_jid
from ansible_collections.asyncops.jobs.plugins.module_utils._job_options import DEFAULTS, range_problems
from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import JobStore, JobStoreError, resolve_async_dir
from ansible_collections.asyncops.jobs.plugins.module_utils._job_supervisor import LaunchError, expand_argv, launch

if t.TYPE_CHECKING:
    from ansible_collections.asyncops.jobs.plugins.module_utils._job_types import JobSpec

JOB_SPEC = dict(
    module=dict(type='str', default='command'),
    argv=dict(type='list', elements='str', required=True),
    payload=dict(type='str', no_log=True),
    args_data=dict(type='str', no_log=True),
    result_style=dict(type='str', default='module', choices=['module', 'command']),
    cmd=dict(type='raw'),
    chdir=dict(type='path'),
    strip_empty_ends=dict(type='bool', default=True),
    expand_argument_vars=dict(type='bool', default=False),
)


def new_jid() -> str:
    return 'j%d.%d' % (secrets.randbelow(10 ** 12), os.getpid())


def materialize(store: JobStore, jid: str, job: dict[str, t.Any]) -> list[str]:
    """Write the job's payload/args into its private directory and return the argv to execute."""
    store.create_side_dir(jid)
    paths = {}
    if job.get('payload') is not None:
        paths['{payload}'] = store.write_side_file(jid, 'payload', base64.b64decode(job['payload']), mode=0o700)
    if job.get('args_data') is not None:
        paths['{args}'] = store.write_side_file(jid, 'args', job['args_data'].encode('utf-8'))
    argv = [paths.get(arg, arg) for arg in job['argv']]
    return expand_argv(argv) if job.get('expand_argument_vars') else argv


def job_spec(jid: str, job: dict[str, t.Any], argv: list[str], params: dict[str, t.Any]) -> JobSpec:
    spec: JobSpec = {
        'jid': jid,
        'module': job['module'],
        'argv': argv,
        'result_style': job['result_style'],
        'cmd': job['cmd'] if job.get('cmd') is not None else argv,
        'chdir': job.get('chdir'),
        'strip_empty_ends': job['strip_empty_ends'],
        'time_limit': params['timeout'],
        'grace': params['grace'],
        'output_limit': params['output_limit'],
        'leftovers': params['leftovers'],
    }
    if params.get('key'):
        spec['key'] = params['key']
    if params.get('no_log'):
        spec['no_log'] = True  # the task's: leftover processes are named by pid only, never by command line
    if params.get('cleanup_dir') and params['concurrency'] is None:
        spec['cleanup_dir'] = params['cleanup_dir']
    if params.get('collect') and params['concurrency'] is None:
        spec['collect'] = params['collect']
    if params['concurrency'] is None:
        spec['work'] = params['work']
    if params.get('check_mode'):
        spec['check_mode'] = True
    return spec


def start_batch(store: JobStore, params: dict[str, t.Any]) -> dict[str, t.Any]:
    batch_jid = new_jid()
    specs = []
    for index, job in enumerate(params['jobs']):
        jid = item_jid(batch_jid, index)
        spec = job_spec(jid, job, materialize(store, jid, job), params)
        spec.pop('key', None)
        spec['batch_jid'] = batch_jid
        spec['index'] = index
        specs.append(spec)
    record = launch_batch(store, batch_jid, specs, params['concurrency'], params['fail_fast'], key=params.get('key'),
                          cleanup_dir=params.get('cleanup_dir'), collect=params.get('collect'), work=params['work'],
                          check_mode=bool(params.get('check_mode')))
    items = [{'ansible_job_id': spec['jid'], 'results_file': store.record_path(spec['jid'])} for spec in specs]
    return dict(started=True, finished=False, batch=True, ansible_job_id=record['ansible_job_id'],
                results_file=record['results_file'], jobs=items)


def start_jobs(store: JobStore, params: dict[str, t.Any]) -> dict[str, t.Any]:
    started = []
    for job in params['jobs']:
        jid = new_jid()
        argv = materialize(store, jid, job)
        record = launch(store, job_spec(jid, job, argv, params))
        started.append({'ansible_job_id': jid, 'results_file': record['results_file'],
                        'pid': record['asyncops_job']['pid']})
    return dict(started=True, finished=False, batch=False, ansible_job_id=started[0]['ansible_job_id'],
                results_file=started[0]['results_file'], jobs=started)


def start(store: JobStore, params: dict[str, t.Any]) -> dict[str, t.Any]:
    if params['concurrency'] is not None:
        return start_batch(store, params)
    return start_jobs(store, params)


def attach_or_start(store: JobStore, params: dict[str, t.Any]) -> dict[str, t.Any]:
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


def attached(store: JobStore, jid: str | None, params: t.Mapping[str, t.Any]) -> dict[str, t.Any] | None:
    """What launch returns for the job a key names (None when there is none to attach to: gone, collected, or
    started in check mode); KeyMismatch when it does other work than asked."""
    if jid is None or not store.exists(jid):
        return None
    record = job_status.Jobs(store).status(jid, tail=0)
    meta = job_status.job_meta(record) or {}
    if not meta or job_status.is_note(record) or meta.get('check_mode'):
        return None
    check_same_work(jid, meta, params)
    batch = meta.get('kind') == 'batch'
    items = record.get('jobs') if batch else [jid]
    return dict(started=True, finished=bool(record.get('finished')), batch=batch, attached=True, ansible_job_id=jid,
                results_file=store.record_path(jid), no_log=bool(meta.get('no_log')),
                jobs=[{'ansible_job_id': item, 'results_file': store.record_path(item)} for item in items or []])


class KeyMismatch(Exception):
    """A key names a job that does other work than the launch asks for."""


WORK_WORDS = {'kind': 'kind of job', 'module': 'module', 'args': 'args', 'items': 'items', 'jobs': 'jobs'}


def check_same_work(jid: str, meta: t.Mapping[str, t.Any], params: t.Mapping[str, t.Any]) -> None:
    """Raise KeyMismatch naming what differs between the job a key names and the work asked for (never the values:
    they can be a no_log task's)."""
    wanted, found = params['work'], meta.get('work')
    kind = 'batch' if meta.get('kind') == 'batch' else 'job'
    if not isinstance(found, dict):  # a record of an older version: only its kind can be told
        found = {'kind': kind}
    differs = [name for name in ('kind', 'module', 'args', 'items', 'jobs')
               if name in found and name in wanted and found[name] != wanted[name]]
    if differs:
        key = 'the key (censored, no_log)' if params.get('no_log') else 'key %r' % params['key']
        raise KeyMismatch(
            '%s names %s %s, which does other work (%s): a key attaches only to the same kind of job with the '
            'same module, args and items. Use another key, or collect or clean up that job first '
            '(asyncops.jobs.async_status jid=%s mode=cleanup)'
            % (key, 'batch' if kind == 'batch' else 'job', jid, differ(WORK_WORDS[name] for name in differs), jid))


def differ(words: t.Iterable[str]) -> str:
    """'its items differ', 'its module differs', 'its kind of job, args differ'."""
    words = list(words)
    plural = len(words) > 1 or words[0] in ('args', 'items', 'jobs')
    return 'its %s %s' % (', '.join(words), 'differ' if plural else 'differs')


def work_of(params: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """What the launch asks for, to compare with the job a key names: the caller's `work` (digested), or digests of
    the jobs themselves."""
    kind = 'batch' if params['concurrency'] is not None else 'job'
    given = params.get('work')
    if isinstance(given, dict):
        work = {name: (value if name == 'module' else digest(value)) for name, value in given.items()}
        work['kind'] = kind
        return work
    jobs = [[job.get('module'), job.get('argv'), job.get('cmd'), job.get('chdir'),
             digest(job.get('payload')), digest(job.get('args_data'))] for job in params['jobs']]
    return {'kind': kind, 'module': params['jobs'][0].get('module'), 'jobs': digest(jobs)}


def problems(params: dict[str, t.Any]) -> list[str]:
    found = range_problems(params, ('timeout', 'grace', 'concurrency', 'output_limit'))
    if not params['jobs']:
        found.append('jobs is empty: give at least one job to start')
    if params.get('key') and len(params['jobs']) > 1 and params['concurrency'] is None:
        found.append('key names one job: with several jobs, start them as a batch (concurrency)')
    if params.get('cleanup_dir') and len(params['jobs']) > 1 and params['concurrency'] is None:
        found.append('cleanup_dir is removed when one job ends: with several jobs, start them as a batch (concurrency)')
    return found


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            jobs=dict(type='list', elements='dict', required=True, options=JOB_SPEC),
            timeout=dict(type='int', default=0),
            grace=dict(type='float', default=DEFAULTS['grace']),
            concurrency=dict(type='int'),
            fail_fast=dict(type='bool', default=False),
            output_limit=dict(type='int', default=DEFAULTS['output_limit']),
            leftovers=dict(type='str', default=DEFAULTS['leftovers'], choices=['keep', 'stop']),
            key=dict(type='str', no_log=False),
            cleanup_dir=dict(type='str'),
            collect=dict(type='dict'),
            work=dict(type='dict'),
            async_dir=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    params = dict(module.params, no_log=module.no_log, check_mode=module.check_mode)
    found = problems(params)
    if found:
        module.fail_json(msg='; '.join(found))
    params['work'] = work_of(params)
    async_dir = resolve_async_dir(params['async_dir'])
    try:
        store = JobStore(async_dir).ensure()
        result = attach_or_start(store, params)
    except KeyMismatch as exc:
        module.fail_json(msg=str(exc), no_log_safe=True)  # names no value, and the key only without no_log
    except (JobStoreError, LaunchError) as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg='could not start the job in %s: %s' % (async_dir, exc))
    for warning in store.warnings:
        module.warn(warning)
    module.exit_json(changed=not result.get('attached'), async_dir=store.path, **result)


if __name__ == '__main__':
    main()
