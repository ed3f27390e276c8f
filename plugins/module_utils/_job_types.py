# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Shapes of what the engine passes around and stores: for type checking only (imported under TYPE_CHECKING)."""

from __future__ import annotations

import typing as t


class StepSpec(t.TypedDict, total=False):
    """One step of a chain as its supervisor runs it (the job fields of what runs, and the step's own)."""

    index: int  # in the chain: its steps, then its always steps
    name: str  # the step's name, or its module
    module: str
    argv: list[str]
    result_style: str
    cmd: t.Any
    chdir: str | None
    strip_empty_ends: bool
    time_limit: float  # the step's own limit (0: none but the chain's); always steps always have one
    ignore_errors: bool
    always: bool  # an always step: runs however the chain ended


class JobSpec(t.TypedDict, total=False):
    """One job as the supervisor runs it."""

    jid: str
    module: str
    argv: list[str]
    result_style: str  # 'module' or 'command'
    cmd: t.Any
    chdir: str | None
    strip_empty_ends: bool
    time_limit: float
    grace: float
    output_limit: int
    leftovers: str  # 'keep' or 'stop'
    kind: str  # 'item' for a batch's item (a single job has none)
    batch_jid: str
    index: int
    key: str
    cleanup_dir: str  # keyword mode: the task's remote tmp dir, removed once the job ended
    collect: dict[str, t.Any]  # what async_status needs to return the result as the starting task would have
    no_log: bool  # the task's no_log: leftover processes are named by pid only, every reader censors
    work: dict[str, t.Any]  # what the job does (kind, module, digests), for a key to compare
    check_mode: bool  # started in check mode: a key never attaches to it
    origin: dict[str, t.Any]  # who started it: task (name), user and controller (the fleet view shows them)
    pids_only: bool  # name leftover processes by pid only (keyword mode: the task's no_log may be unknown)
    steps: list[StepSpec]  # a chain: its steps, then its always steps (argv unused)
    retain: float  # seconds a finished, uncollected record (or a collected job's note) is kept
    attempt: int  # a batch item's: which start of the item this is (from 1)
    retry: RetryPlan  # a batch item's attempt that is started again if it fails (item_retries left)
    previous_attempts: list[dict[str, t.Any]]  # a batch item's: what its earlier attempts returned (short)


class RetryPlan(t.TypedDict):
    """What the supervisor of a batch item's attempt needs to leave it to be started again when it fails."""

    left: int  # starts of the item still allowed after this one
    delay: float  # seconds before the next start (already doubled for the attempts before)
    scheduler: dict[str, t.Any]  # the batch's scheduler, which answers for the item while it waits: pid, start, boot


class JobMeta(t.TypedDict, total=False):
    """The engine's part of a record (under the asyncops_job key)."""

    version: int
    kind: str  # 'batch', 'item', or absent for a single job
    module: str | None
    pid: int
    pgid: int
    sid: int | None  # the session of the job (and of its supervisor)
    supervisor_pid: int
    supervisor_start_ticks: int | None
    job_start_ticks: int | None
    boot_id: str | None
    started_at: float
    time_limit: float
    grace: float
    state: str
    stopped_at: float
    ended_at: float
    elapsed: float
    rc: int
    batch_jid: str
    index: int
    key: str
    counts: dict[str, int]
    concurrency: int
    fail_fast: bool
    items: int
    cleanup_dir: str
    collect: dict[str, t.Any]
    no_log: bool
    work: dict[str, t.Any]
    check_mode: bool
    pids_only: bool
    origin: dict[str, t.Any]
    collected_at: float  # a collected job's note: when its result was collected
    retain: float  # seconds a finished, uncollected record (or the note of a collected job) is kept
    attempts: int  # a batch item's: how many times it was started
    attempt_state: str  # a retrying batch item's: how its last attempt ended (failed, timedout)
    retry_at: float  # a retrying batch item's: when it starts again
    item_retries: int  # a batch's: starts of a failed item after its first
    item_retry_delay: float  # a batch's: seconds before the first retry of an item (doubled for each further one)
    max_failures: t.Any  # a batch's: as given (an int, or a percent of the items as a string)
    halt_after: int  # a batch's: failed items that halt it (from max_failures, 1 with fail_fast)
    on_halt: str  # a batch's: 'finish' or 'kill'
    halted: str  # a batch's: why it halted (no new item started from then on)
    result_state: str  # a collected job's note: how it had ended
    steps: list[dict[str, t.Any]]  # a chain's steps: index, name, module, always (never their args)
    current_step: dict[str, t.Any]  # a running chain's: the step that runs (index, name)


class JobRecord(t.TypedDict, total=False):
    """A job record as ansible.builtin.async_status reads it (a finished job's record also holds its module's
    result keys: rc, stdout, msg, changed, ...)."""

    started: bool
    finished: bool
    failed: bool
    changed: bool
    msg: str
    ansible_job_id: str
    results_file: str
    asyncops_job: JobMeta


class BatchRecord(JobRecord, total=False):
    """The record of a batch: its items' job ids, in item order."""

    jobs: list[str]
