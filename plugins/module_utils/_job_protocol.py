# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The contract between the controller and the target: what both sides say of a job, written once.

* job ids: their format (ours and ansible-core's), a batch item's id;
* records: the key of the engine's part (META_KEY), the fields it has, its accessors, the job states and the one
  function that derives a record's state;
* options: their defaults, choices and ranges, the argument specs of the wrapper and of the status module;
* a job spec: what the supervisor runs, built from the wrapper's options (async_wrapper and keyword mode alike);
* the deadline arithmetic the controller needs to tell a job that runs late from one whose supervisor is gone.

Target-side code (Python 3.8+); the controller imports it too. It imports nothing else of this collection: every
other module depends on it, it depends on none of them.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import secrets
import typing as t

if t.TYPE_CHECKING:
    from ansible_collections.asyncops.jobs.plugins.module_utils._job_types import JobMeta, JobSpec, StepSpec

Record = t.Dict[str, t.Any]

# -- job ids ------------------------------------------------------------------------------------------------------
# what a jid may be: one plain file name inside the async dir
JID_PATTERN = re.compile(r'\A[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z')
# the names job records get: ours (j<n>.<pid>, batch items j<n>.<pid>.i<index>) and ansible-core's (j<n>.<pid>, <n>.<pid>)
JOB_NAME_PATTERN = re.compile(r'\Aj?[0-9]+\.[0-9]+(\.i[0-9]+)?\Z')
ITEM_JID = re.compile(r'\A(?P<batch>.+)\.i[0-9]+\Z')


def jid_with_pid(base: str, pid: int | None = None) -> str:
    """A job id as ansible-core's wrapper makes one: the id it was given, then the wrapper's pid."""
    return '%s.%d' % (base, os.getpid() if pid is None else pid)


def new_jid() -> str:
    """A new job id, shaped as ansible-core's (j<random>.<pid>)."""
    return jid_with_pid('j%d' % secrets.randbelow(10**12))


def item_jid(batch_jid: str, index: int) -> str:
    """The job id of a batch's item."""
    return '%s.i%d' % (batch_jid, index)


def batch_of(jid: str) -> str | None:
    """The batch jid of an item's jid (None for any other jid)."""
    match = ITEM_JID.match(jid)
    return match.group('batch') if match else None


# -- records ------------------------------------------------------------------------------------------------------
META_KEY = 'asyncops_job'  # the engine's part of a record; everything else is ansible-core's shape (a module's result)
RECORD_VERSION = 1
# keys of which a finished record holds at least one: ansible-core's (a module's result) and ours
RECORD_KEYS = (
    META_KEY,
    'started',
    'finished',
    'ansible_job_id',
    'invocation',
    'changed',
    'failed',
    'rc',
    'msg',
    'skipped',
)
# fields of a job spec that its records keep in their meta, as they are
META_FROM_SPEC = (
    'kind',
    'batch_jid',
    'index',
    'key',
    'cleanup_dir',
    'collect',
    'work',
    'check_mode',
    'origin',
    'retain',
)
# what a batch's own record keeps, not each item's (the items alone would make every item record as big as the batch)
BATCH_ONLY_META = (
    'collect',
    'key',
    'cleanup_dir',
    'counts',
    'items',
    'concurrency',
    'fail_fast',
    'work',
    'origin',
    'retain',
    'item_retries',
    'item_retry_delay',
    'max_failures',
    'halt_after',
    'on_halt',
    'halted',
)
# what a collected job's note keeps of its record's meta: what it was, never what it printed (retain: how long the
# note itself stays, see sweep_retained)
NOTE_META_KEYS = (
    'version',
    'kind',
    'module',
    'key',
    'no_log',
    'started_at',
    'ended_at',
    'elapsed',
    'rc',
    'items',
    'batch_jid',
    'index',
    'origin',
    'retain',
)
# what a batch item's result keeps of each earlier attempt (in `previous_attempts`, at most MAX_PREVIOUS_ATTEMPTS of
# the latest ones, each msg at most PREVIOUS_MSG_CHARS characters; no msg for a no_log job)
PREVIOUS_ATTEMPT_KEYS = ('attempt', 'state', 'rc', 'msg', 'elapsed')
MAX_PREVIOUS_ATTEMPTS = 10
PREVIOUS_MSG_CHARS = 300
# result keys of a record that say nothing about the job to a user
INTERNAL_KEYS = ('started', 'finished', 'results_file', META_KEY)

# the key of a launch's or status call's answer that lists the job ids it removed because their retain passed
RETAINED_KEY = 'retained_removed'

# kinds of job
BATCH = 'batch'
ITEM = 'item'

# states
PENDING = 'pending'  # a batch item not started yet
RUNNING = 'running'
RETRYING = 'retrying'  # a batch item whose attempt failed, waiting to be started again (item_retries)
SUCCEEDED = 'succeeded'
FAILED = 'failed'
TIMEDOUT = 'timedout'
KILLED = 'killed'
LOST = 'lost'
SKIPPED = 'skipped'  # a batch item never started (fail_fast / max_failures reached, or the batch was killed)
COLLECTED = 'collected'  # the note left once the result was delivered
FINISHED = 'finished'  # a batch whose items all ended
UNFINISHED_STATES = (PENDING, RUNNING, RETRYING)
# the states of an unfinished item whose record its batch's scheduler answers for (no process of its own runs)
WAITING_STATES = (PENDING, RETRYING)
FAILED_STATES = (FAILED, TIMEDOUT, KILLED, LOST)
# how an attempt of a batch item may end for it to be started again (item_retries): never killed, lost or not started
RETRIED_STATES = (FAILED, TIMEDOUT)
STATES = (PENDING, RUNNING, RETRYING, SUCCEEDED, FAILED, TIMEDOUT, KILLED, LOST, SKIPPED, COLLECTED, FINISHED)


def job_meta(record: t.Mapping[str, t.Any]) -> JobMeta | None:
    """The engine's part of a record; None for a record of ansible-core's own wrapper."""
    meta = record.get(META_KEY)
    return t.cast('JobMeta', meta) if isinstance(meta, dict) else None


def is_finished(record: t.Mapping[str, t.Any]) -> bool:
    """ansible.builtin.async_status's rule: a record without 'started' is a finished module result."""
    if 'started' not in record:
        return True
    return bool(record.get('finished'))


def job_state(record: t.Mapping[str, t.Any]) -> str:
    """A record's state (STATES): the engine's word for it, or what a record of ansible-core's own says."""
    meta = job_meta(record) or {}
    state = meta.get('state')
    if not record.get('finished'):
        return str(state) if state in WAITING_STATES else RUNNING
    if state in (None,) + UNFINISHED_STATES:
        return ended_state(record)
    return t.cast(str, state)


def ended_state(result: t.Mapping[str, t.Any]) -> str:
    """The state of a job that ended by itself, from its result."""
    return FAILED if result.get('failed') else SUCCEEDED


def is_note(record: t.Mapping[str, t.Any]) -> bool:
    """Whether a record is the note left in place of a collected job's record."""
    return (job_meta(record) or {}).get('state') == COLLECTED


def is_batch(record: t.Mapping[str, t.Any]) -> bool:
    return (job_meta(record) or {}).get('kind') == BATCH


def record_no_log(record: t.Mapping[str, t.Any]) -> bool:
    """Whether a record (or a status answer about one job) is of a job started under no_log: the record carries it."""
    meta = job_meta(record)
    if meta is None:
        return False
    delivery = meta.get('collect')
    return bool(meta.get('no_log') or (isinstance(delivery, dict) and delivery.get('no_log')))


def delivery_info(record: t.Mapping[str, t.Any]) -> dict[str, t.Any] | None:
    """What the launch left for whoever returns the job's result later as the starting task would have (its record's
    `collect`: for a batch the items, loop and index variable names, allow_failures, keep, no_log; for a job cleanup
    and no_log); None when it left nothing."""
    delivery = (job_meta(record) or {}).get('collect')
    return delivery if isinstance(delivery, dict) else None


def collected_when_delivered(record: t.Mapping[str, t.Any]) -> bool:
    """Whether the task that started the job collects it once it returned its result (async_run cleanup, async_batch
    without keep): what a status call given a delivery token then does in the same run."""
    delivery = delivery_info(record)
    if delivery is None:
        return False
    if is_batch(record):
        return not delivery.get('keep')
    return bool(delivery.get('cleanup', True))


def delivery_digest(token: str) -> str:
    """What a note keeps of the delivery token of the call that collected it (enough to match a retried call)."""
    return hashlib.sha256(token.encode('utf-8', 'surrogateescape')).hexdigest()[:32]


def supervisor_identity(meta: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The process that answers for a job (its supervisor, or a batch's scheduler): pid, start time and boot."""
    return {
        'pid': meta.get('supervisor_pid'),
        'start_ticks': meta.get('supervisor_start_ticks'),
        'boot_id': meta.get('boot_id'),
    }


def looks_like_record(jid: str, record: t.Mapping[str, t.Any]) -> bool:
    """Whether a JSON object named like a job record has a job record's shape (prune removes nothing else)."""
    if record.get('ansible_job_id', jid) != jid:
        return False
    meta = record.get(META_KEY)
    if meta is not None and not isinstance(meta, dict):
        return False
    return any(key in record for key in RECORD_KEYS)


def previous_attempt(record: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """What a batch item's result keeps of one of its earlier attempts, from the record that attempt left: its number,
    how it ended, rc, msg (cut short; none for a no_log job: it can hold the task's arguments or output) and elapsed."""
    meta = job_meta(record) or {}
    entry = {
        'attempt': meta.get('attempts', 1),
        'state': meta.get('attempt_state') or job_state(record),
        'rc': record.get('rc'),
        'elapsed': meta.get('elapsed'),
    }
    if not record_no_log(record) and record.get('msg') is not None:
        entry['msg'] = str(record['msg'])[:PREVIOUS_MSG_CHARS]
    return entry


def new_record(
    jid: str,
    results_file: str,
    meta: t.Mapping[str, t.Any],
    finished: bool = False,
    fields: t.Mapping[str, t.Any] | None = None,
) -> Record:
    """A record as ansible.builtin.async_status reads it: started, finished, the job id and file, the engine's meta,
    and the result's fields (a finished job's module result; `started` among them says whether it ever started)."""
    record: Record = dict(fields or {})
    record.update(
        {
            'started': record.get('started', True),
            'finished': finished,
            'ansible_job_id': jid,
            'results_file': results_file,
            META_KEY: meta,
        }
    )
    return record


# -- options ------------------------------------------------------------------------------------------------------
DEFAULTS: dict[str, t.Any] = {
    'async_dir': '~/.ansible_async',
    'grace': 0.5,
    'output_limit': 4 * 1024 * 1024,
    'leftovers': 'keep',
    'status_mode': 'status',
    'status_wait': 300.0,
    'tail': 10,
    'always_timeout': 60,  # the time limit of an always step that gives none: always runs, but bounded
    'item_retries': 0,
    'item_retry_delay': 1.0,
    'on_halt': 'finish',
}
LEFTOVERS = ('keep', 'stop')
# what happens to the items still running when a batch reaches max_failures (fail_fast)
ON_HALT = ('finish', 'kill')
RESULT_STYLES = ('module', 'command')
STATUS_MODES = ('status', 'wait', 'kill', 'list', 'cleanup', 'collect')
# the status modes whose answer about one finished job of async_run/async_batch returns it as that task would have
DELIVERING_MODES = (None, 'status', 'wait')
# delivery in one round: a status call given a delivery token keeps a copy of the finished records it answers with
# (.<jid>.delivered/), then collects the job in the same run, and answers a later call with the same token (a
# retried round, its reply lost in transit) from that copy; the copy goes DELIVERY_KEEP seconds later (by a later
# call in that async dir) or with the note
DELIVERY_KEEP = 3600.0
# the key of such an answer that says its job was collected by it (the action plugins then skip mode=collect)
DELIVERED_KEY = 'asyncops_delivered'

# option: (smallest allowed value, whether the value may be that, how to say what is allowed)
RANGES: dict[str, tuple[float, bool, str]] = {
    'timeout': (0, True, '0 (no limit) or a positive number of seconds'),
    'grace': (0, True, '0 or more seconds'),
    'delay': (0, False, 'a positive number of seconds'),
    'retries': (1, True, '1 or more'),
    'poll': (0, True, '0 (start and return) or a positive number of seconds'),
    'concurrency': (1, True, '1 or more (jobs running at a time)'),
    'older_than': (0, True, '0 or more seconds'),
    'tail': (0, True, '0 or more lines'),
    'output_limit': (1024, True, '1024 bytes or more'),
    'item_retries': (0, True, '0 or more (starts of a failed item after its first)'),
    'item_retry_delay': (0, True, '0 or more seconds'),
    'retain': (0, True, '0 or more seconds'),
}


def range_problems(params: t.Mapping[str, t.Any], names: t.Iterable[str] | None = None) -> list[str]:
    """What is wrong with the numeric options among params (NaN and infinities included); [] when nothing."""
    problems = []
    for name in names if names is not None else RANGES:
        value = params.get(name)
        if value is None or name not in RANGES:
            continue
        smallest, inclusive, allowed = RANGES[name]
        if isinstance(value, float) and not math.isfinite(value):
            problems.append('%s must be %s, got %s' % (name, allowed, value))
        elif value < smallest or (value == smallest and not inclusive):
            problems.append('%s must be %s, got %s' % (name, allowed, value))
    return problems


PERCENT = re.compile(r'\A\s*(?P<number>[0-9]+(\.[0-9]+)?)\s*%\s*\Z')


def halt_after(max_failures: t.Any, items: int) -> int:
    """How many failed items halt a batch of `items` items: max_failures as an int (or a string of digits) >= 1, or a
    percent of the items as a string ("20%": at least 1, rounded up). ValueError saying what is allowed otherwise."""
    allowed = (
        'max_failures must be a whole number of items, 1 or more, or a percent of the items as a string such '
        'as "20%%" (more than 0%%, at most 100%%), got %r' % (max_failures,)
    )
    if isinstance(max_failures, bool) or max_failures is None:
        raise ValueError(allowed)
    if isinstance(max_failures, str):
        match = PERCENT.match(max_failures)
        if match:
            percent = float(match.group('number'))
            if not 0 < percent <= 100:
                raise ValueError(allowed)
            return max(1, int(math.ceil(percent * items / 100.0 - 1e-9)))
        if not max_failures.strip().isdigit():
            raise ValueError(allowed)
        max_failures = int(max_failures)
    if isinstance(max_failures, float) and max_failures.is_integer():
        max_failures = int(max_failures)
    if not isinstance(max_failures, int) or max_failures < 1:
        raise ValueError(allowed)
    return max_failures


def halt_problems(params: t.Mapping[str, t.Any], items: int | None = None) -> list[str]:
    """What is wrong with the halt options of a batch (fail_fast, max_failures): they exclude each other, and
    max_failures must parse (items: how many, when known: "20%" is checked against none otherwise)."""
    problems = []
    if params.get('fail_fast') and params.get('max_failures') is not None:
        problems.append(
            'fail_fast and max_failures exclude each other: fail_fast: true means max_failures: 1; give one of them'
        )
    if params.get('max_failures') is not None:
        try:
            halt_after(params['max_failures'], items or 1)
        except ValueError as exc:
            problems.append(str(exc))
    return problems


def batch_only_problems(params: t.Mapping[str, t.Any]) -> list[str]:
    """The options that concern a batch given to a launch that is none (no concurrency): item_retries,
    max_failures, on_halt=kill."""
    given = [name for name in ('item_retries', 'max_failures') if params.get(name)]
    if params.get('on_halt') not in (None, DEFAULTS['on_halt']):
        given.append('on_halt')
    if not given:
        return []
    return [
        '%s concern%s the items of a batch: start the jobs as a batch (concurrency)'
        % (', '.join(given), 's' if len(given) == 1 else '')
    ]


def retry_wait(delay: float, retries: int) -> float:
    """How long an item that fails every attempt waits between its attempts in all: delay, then twice as long
    before each further retry."""
    return float(delay) * (2.0 ** int(retries) - 1) if retries > 0 else 0.0


def retry_delay(delay: float, attempt: int) -> float:
    """Seconds before the start after attempt number `attempt` (from 1) failed: delay, doubled for each further one."""
    return float(delay) * 2.0 ** max(0, attempt - 1)


def window_size(concurrency: int | None, items: int) -> int:
    """How many items of a batch run at a time: concurrency, or (missing or 0) all of them at once."""
    return max(1, concurrency or items)


# what runs, as the wrapper takes it: a command or a module payload (a job of `jobs`, or one step of a chain)
WRAPPER_RUN_SPEC: dict[str, dict[str, t.Any]] = dict(
    module=dict(type='str', default='command'),
    argv=dict(type='list', elements='str'),
    payload=dict(type='str', no_log=True),
    args_data=dict(type='str', no_log=True),
    result_style=dict(type='str', default='module', choices=list(RESULT_STYLES)),
    cmd=dict(type='raw'),
    chdir=dict(type='path'),
    strip_empty_ends=dict(type='bool', default=True),
    expand_argument_vars=dict(type='bool', default=False),
)
# one step of a chain (a job's `steps` or `always`): what runs, its name, its own time limit, whether its failure counts
WRAPPER_STEP_SPEC: dict[str, dict[str, t.Any]] = dict(
    WRAPPER_RUN_SPEC,
    argv=dict(type='list', elements='str', required=True),
    name=dict(type='str'),
    timeout=dict(type='int'),
    ignore_errors=dict(type='bool', default=False),
)
# the wrapper's options (asyncops.jobs.async_wrapper): one job, which runs argv, or its steps one after another (a chain)
WRAPPER_JOB_SPEC: dict[str, dict[str, t.Any]] = dict(
    WRAPPER_RUN_SPEC,
    steps=dict(type='list', elements='dict', options=WRAPPER_STEP_SPEC),
    always=dict(type='list', elements='dict', options=WRAPPER_STEP_SPEC),
)
WRAPPER_SPEC: dict[str, dict[str, t.Any]] = dict(
    jobs=dict(type='list', elements='dict', required=True, options=WRAPPER_JOB_SPEC),
    timeout=dict(type='int', default=0),
    grace=dict(type='float', default=DEFAULTS['grace']),
    concurrency=dict(type='int'),
    fail_fast=dict(type='bool', default=False),
    max_failures=dict(type='raw'),
    on_halt=dict(type='str', default=DEFAULTS['on_halt'], choices=list(ON_HALT)),
    item_retries=dict(type='int', default=DEFAULTS['item_retries']),
    item_retry_delay=dict(type='float', default=DEFAULTS['item_retry_delay']),
    retain=dict(type='float'),
    output_limit=dict(type='int', default=DEFAULTS['output_limit']),
    leftovers=dict(type='str', default=DEFAULTS['leftovers'], choices=list(LEFTOVERS)),
    key=dict(type='str', no_log=False),
    cleanup_dir=dict(type='str'),
    collect=dict(type='dict'),
    work=dict(type='dict'),
    origin=dict(type='dict'),
    async_dir=dict(type='str'),
)
# the status module's options (asyncops.jobs.async_status)
STATUS_SPEC: dict[str, dict[str, t.Any]] = dict(
    jid=dict(type='raw'),
    mode=dict(type='str', default=DEFAULTS['status_mode'], choices=list(STATUS_MODES)),
    timeout=dict(type='float', default=DEFAULTS['status_wait']),
    older_than=dict(type='float'),
    tail=dict(type='int', default=DEFAULTS['tail']),
    brief=dict(type='bool', default=False),
    cleanup=dict(type='bool', default=False),
    delivery=dict(type='str', no_log=False),
    key=dict(type='str', no_log=False),
    state=dict(type='list', elements='str', choices=list(STATES)),
    async_dir=dict(type='str'),
)
# what ansible-core passes to ansible.legacy.async_status (its action plugin, gather_facts): keyword mode takes it
KEYWORD_STATUS_SPEC: dict[str, dict[str, t.Any]] = dict(STATUS_SPEC, _async_dir=dict(type='str'))


# -- job specs ----------------------------------------------------------------------------------------------------
def job_spec(
    jid: str,
    job: t.Mapping[str, t.Any],
    argv: list[str],
    params: t.Mapping[str, t.Any],
    step_argvs: t.Sequence[list[str]] | None = None,
) -> JobSpec:
    """What the supervisor runs: one job of the wrapper's `jobs` (argv already materialized), with the launch's
    options. A batch's item gets the batch's fields from the scheduler (batch_spec_of). Defaults are the wrapper's,
    for callers that give only some options (keyword mode). A job with steps is a chain: step_argvs holds the
    materialized argv of each of its steps, then of each of its always steps."""
    single = params.get('concurrency') is None
    spec: JobSpec = {
        'jid': jid,
        'module': job.get('module') or WRAPPER_JOB_SPEC['module']['default'],
        'argv': argv,
        'result_style': job.get('result_style') or WRAPPER_JOB_SPEC['result_style']['default'],
        'cmd': job['cmd'] if job.get('cmd') is not None else argv,
        'chdir': job.get('chdir'),
        'strip_empty_ends': job.get('strip_empty_ends', WRAPPER_JOB_SPEC['strip_empty_ends']['default']),
        'time_limit': float(params.get('timeout') or 0),
        'grace': float(params.get('grace', DEFAULTS['grace'])),
        'output_limit': int(params.get('output_limit') or DEFAULTS['output_limit']),
        'leftovers': params.get('leftovers') or DEFAULTS['leftovers'],
    }
    if job.get('steps'):
        add_chain(spec, job, list(step_argvs or []))
    if params.get('no_log'):
        spec['no_log'] = True  # the task's: every reader censors the record, leftovers are named by pid only
    if params.get('pids_only'):
        spec['pids_only'] = True
    if params.get('check_mode'):
        spec['check_mode'] = True
    if single:  # a batch keeps these once, in its own record
        for name in ('key', 'cleanup_dir', 'collect', 'work', 'origin'):
            if params.get(name):
                t.cast(t.Dict[str, t.Any], spec)[name] = params[name]
        if params.get('retain') is not None:
            spec['retain'] = float(params['retain'])
    return spec


# what a batch's scheduler takes from the launch, and keeps in the batch's own record (see BATCH_ONLY_META)
BATCH_OPTIONS = (
    'concurrency',
    'fail_fast',
    'key',
    'cleanup_dir',
    'collect',
    'work',
    'check_mode',
    'origin',
    'retain',
    'item_retries',
    'item_retry_delay',
    'max_failures',
    'on_halt',
)


def batch_options(params: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The wrapper's options that concern a batch as a whole (those given; retain 0 is given)."""
    return {
        name: params[name]
        for name in BATCH_OPTIONS
        if params.get(name) is not None and params[name] is not False and params[name] not in ({}, '')
    }


def batch_item_spec(spec: JobSpec, batch_jid: str, index: int) -> JobSpec:
    """A job spec as one item of a batch."""
    item = t.cast('JobSpec', dict(spec, kind=ITEM, batch_jid=batch_jid, index=index))
    for name in ('key', 'cleanup_dir', 'collect', 'work', 'origin', 'retain'):
        t.cast(t.Dict[str, t.Any], item).pop(name, None)
    return item


# -- chains: a job that runs several steps one after another ----------------------------------------------------------
# a step's output files in its chain's side dir (stdout.0, stderr.0, ...) and its payload and args files
STEP_FILE = '%s.%d'


def step_file(name: str, index: int) -> str:
    """The name of one of a step's files in its chain's side dir: step_file('stdout', 2) == 'stdout.2'."""
    return STEP_FILE % (name, index)


def step_spec(step: t.Mapping[str, t.Any], argv: list[str], index: int, always: bool) -> StepSpec:
    """One step of a chain as its supervisor runs it. index counts the steps, then the always steps; an always step
    without a timeout gets DEFAULTS['always_timeout'] (it runs however the chain ended, so always bounded)."""
    limit = step.get('timeout')
    if always and not limit:
        limit = DEFAULTS['always_timeout']
    module = step.get('module') or WRAPPER_RUN_SPEC['module']['default']
    return {
        'index': index,
        'name': step.get('name') or module,
        'module': module,
        'argv': argv,
        'result_style': step.get('result_style') or WRAPPER_RUN_SPEC['result_style']['default'],
        'cmd': step['cmd'] if step.get('cmd') is not None else argv,
        'chdir': step.get('chdir'),
        'strip_empty_ends': step.get('strip_empty_ends', WRAPPER_RUN_SPEC['strip_empty_ends']['default']),
        'time_limit': float(limit or 0),
        'ignore_errors': bool(step.get('ignore_errors')),
        'always': always,
    }


def chain_steps(job: t.Mapping[str, t.Any]) -> list[tuple[t.Mapping[str, t.Any], bool]]:
    """A chain job's steps, then its always steps, each with whether it is an always step."""
    return [(step, False) for step in job.get('steps') or []] + [(step, True) for step in job.get('always') or []]


def chain_module(steps: t.Sequence[t.Mapping[str, t.Any]]) -> str:
    """What a chain runs, as its record's `module` says it: 'steps: a, b (always: c)'."""
    main = [str(step.get('module')) for step in steps if not step.get('always')]
    always = [str(step.get('module')) for step in steps if step.get('always')]
    return 'steps: %s%s' % (', '.join(main), ' (always: %s)' % ', '.join(always) if always else '')


def add_chain(spec: JobSpec, job: t.Mapping[str, t.Any], step_argvs: list[list[str]]) -> None:
    """Make spec the chain of job's steps and always steps (step_argvs: their materialized argvs, in that order)."""
    steps = [step_spec(step, step_argvs[index], index, always) for index, (step, always) in enumerate(chain_steps(job))]
    spec['steps'] = steps
    spec['module'] = chain_module(steps)
    spec['argv'] = []
    spec['cmd'] = None


def is_chain(spec_or_meta: t.Mapping[str, t.Any]) -> bool:
    """Whether a job spec, or a record's meta, is a chain's."""
    return bool(spec_or_meta.get('steps'))


def always_bound(always: t.Iterable[t.Mapping[str, t.Any]], grace: float) -> float:
    """How long a chain's always steps may run at most after the chain's own time limit: each its own limit (or
    DEFAULTS['always_timeout']) and grace."""
    return sum(float(step.get('timeout') or DEFAULTS['always_timeout']) + float(grace) for step in always)


def current_step(meta: t.Mapping[str, t.Any]) -> dict[str, t.Any] | None:
    """The step a running chain's record says runs now ({'index', 'name'}), or None for any other record."""
    step = meta.get('current_step')
    return dict(step) if isinstance(step, dict) else None


def output_file(meta: t.Mapping[str, t.Any], stream: str) -> str:
    """The side dir file holding what the job runs now writes on stream ('stdout' or 'stderr'): the job's own, or
    for a chain the current step's."""
    step = current_step(meta)
    if step is None or not isinstance(step.get('index'), int):
        return stream
    return step_file(stream, step['index'])


# -- deadlines ----------------------------------------------------------------------------------------------------
# how long after the time limit (+ grace) a job may still report running before the controller stops trusting that
# its supervisor enforces the limit (a status round, a loaded target, a slow file system)
DEADLINE_MARGIN = 30


def windows(items: int, concurrency: int | None) -> int:
    """How many windows of a batch's concurrency its items take, one after another, at most."""
    return -(-items // window_size(concurrency, items)) if items > 0 else 0


def give_up_deadline(
    since: float,
    time_limit: float,
    grace: float,
    pending: int = 1,
    concurrency: int | None = 1,
    started: bool = False,
    item_retries: int = 0,
    item_retry_delay: float = 0.0,
) -> float | None:
    """When jobs whose time limit the supervisors enforce must have ended, counted from `since` (the moment the
    launch reply arrived, or a status round in which an item started or ended): the windows of `concurrency` pending
    jobs one after another, after the window of the jobs already running (started=True), each at most its limit and
    grace, plus a margin. With item_retries, every item may run that many more times, and wait between its attempts
    (retry_wait) in each window. None without a time limit: then nothing tells a late job from a lost one but the
    target."""
    if not time_limit:
        return None
    rounds = windows(pending, concurrency) + int(started)
    attempts = 1 + max(0, int(item_retries or 0))
    waits = rounds * retry_wait(item_retry_delay or 0.0, attempts - 1)
    return since + rounds * attempts * (float(time_limit) + float(grace)) + waits + DEADLINE_MARGIN
