#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: async_run
short_description: Run a module, or several one after another, as a supervised background job
version_added: 0.1.0
description:
  - Runs any module that executes on the target (for example M(ansible.builtin.command), M(ansible.builtin.shell),
    M(ansible.builtin.apt), M(ansible.builtin.get_url)) through C(asyncops.jobs.async_wrapper), detached from the
    connection, under a supervisor that enforces O(timeout) on the whole process tree.
  - With O(poll=0) it starts the job and returns RV(ansible_job_id) and RV(results_file), for
    M(asyncops.jobs.async_status) or M(ansible.builtin.async_status) to follow.
  - With O(poll) above 0 it waits on the target for the job (one round trip every O(poll) seconds, returning the
    moment the job ends), prints a progress line per round, and returns the module's own result, with
    RV(ignore:changed) as the module reports it.
  - M(ansible.builtin.command) and M(ansible.builtin.shell) run as plain commands (outside check mode and without
    O(ignore:creates), O(ignore:removes) or O(ignore:stdin)), so their output can be followed while they run.
  - With O(steps) instead of O(module), several modules run one after another as one job (a chain) under one
    supervisor and one time limit, stopping at the first failure, then O(always) steps however they ended; the
    result holds each step's result in RV(results). See the steps guide.
  - This is an action plugin; the module file only documents it.
author:
  - asyncops.jobs developers (@asyncops)
options:
  module:
    description:
      - Name (FQCN) of the module to run. Every module ansible-core runs with the C(async) keyword. A module whose
        action plugin supports C(async) (M(ansible.builtin.package), M(ansible.builtin.service), M(ansible.builtin.dnf),
        M(ansible.builtin.uri), ...) has that action plugin run on the controller as under C(async), which picks the
        backend or prepares the call, and the module call it makes runs as the job.
      - Modules whose action plugin does not support C(async) (M(ansible.builtin.template), M(ansible.builtin.copy),
        M(ansible.builtin.fetch), ...) are refused, as ansible-core refuses them with C(async).
      - Give O(module) or O(steps), one of the two.
    type: str
  args:
    description:
      - Arguments of the module, as in a normal task. V(cmd) gives the command line of M(ansible.builtin.command).
      - Only with O(module); with O(steps), each step has its own O(steps[].args).
    type: dict
    default: {}
  steps:
    description:
      - Modules to run one after another as one background job (a chain), instead of O(module) and O(args). Each
        step can be any module O(module) takes (action-backed ones such as M(ansible.builtin.package),
        M(ansible.builtin.service) and M(ansible.builtin.uri) included), and is built on the controller as O(module)
        is.
      - The steps run under one supervisor on the target, each in its own process group. The first step that fails
        (without O(steps[].ignore_errors)) ends the chain; the later steps are skipped. O(timeout) is the whole
        chain's time limit; O(poll), O(key), O(grace), O(leftovers) and O(output_limit) apply to the chain.
      - A kill (O(asyncops.jobs.async_status#module:mode=kill)) or the chain's time limit stops the running step's
        whole process tree and skips the later steps; then O(always) runs.
      - Step args are templated on the controller when the task starts, so no result of an earlier step is
        available in them. Steps pass data through files on the target (see the steps guide).
    type: list
    elements: dict
    suboptions:
      module:
        description: FQCN of the module this step runs (as O(module)).
        type: str
        required: true
      args:
        description: Arguments of the step's module.
        type: dict
        default: {}
      name:
        description: Name of the step, in its result (RV(results[].step_name)) and in status while it runs. Default
          the module.
        type: str
      timeout:
        description:
          - This step's own time limit in seconds, from its start. At the limit its whole process tree is stopped
            and the step fails as timed out; the chain then ends there unless O(steps[].ignore_errors).
          - V(0) or none means no limit of its own (the chain's O(timeout) still applies).
          - For an O(always) step, none means 60 seconds, and V(0) is refused (an always step is always bounded).
        type: int
      ignore_errors:
        description: A failure of this step (a failed module, its own time limit) does not end the chain nor fail it;
          its result still says failed.
        type: bool
        default: false
  always:
    description:
      - Steps (the shape of O(steps)) that run after O(steps) however they ended (all succeeded, a step failed, the
        chain's time limit was reached, or the chain was killed), one after another.
      - Each runs under its own time limit (O(steps[].timeout), 60 seconds when it gives none), after the chain's
        time limit if that was reached. Neither the chain's time limit nor a kill stops an always step. A failing
        always step fails the chain (unless O(steps[].ignore_errors)).
      - Only with O(steps).
    type: list
    elements: dict
    suboptions:
      module:
        description: FQCN of the module this step runs (as O(module)).
        type: str
        required: true
      args:
        description: Arguments of the step's module.
        type: dict
        default: {}
      name:
        description: Name of the step.
        type: str
      timeout:
        description: This step's own time limit in seconds (none means 60; V(0) is refused).
        type: int
      ignore_errors:
        description: A failure of this step does not fail the chain.
        type: bool
        default: false
  timeout:
    description:
      - Time limit of the job in seconds; V(0) means none. At the limit the whole job tree is stopped and the result
        says failed and RV(timedout=true).
      - With O(steps), the limit of the whole chain (its O(always) steps run after it, each under its own).
    type: int
    default: 0
  poll:
    description:
      - V(0) starts the job and returns at once.
      - Above 0, waits for the job, with one status round trip at most every O(poll) seconds.
    type: int
    default: 10
  cleanup:
    description:
      - With O(poll) above 0, collect the job in the status round that brings its result back, which keeps a copy of
        its answer first, for an hour, so a round retried because its reply was lost in transit gets the
        same result. Its record gives way to a small note saying when it was collected, which a later status call
        returns and O(asyncops.jobs.async_status#module:mode=cleanup) removes.
      - With O(poll=0), the same when the finished job is returned later by M(asyncops.jobs.async_status)
        (O(asyncops.jobs.async_status#module:mode=status) or O(asyncops.jobs.async_status#module:mode=wait)); V(false)
        keeps the record until a O(asyncops.jobs.async_status#module:mode=cleanup).
    type: bool
    default: true
extends_documentation_fragment:
  - asyncops.jobs.job
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.conn
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
    details: It runs its module in the background itself; use O(poll=0) rather than the C(async) keyword.
  become:
    support: full
    details: The job runs as the become user (with O(steps), every step); follow it with the same become settings.
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: The wrapped module (with O(steps), every step's) runs in check mode when the task does; modules without
      check mode support skip.
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
  - The job record and the module's payload are private to the user running the job (modes 0700/0600).
  - Needs a POSIX target. On a host whose shell is PowerShell (Windows), the task fails before anything is sent, naming
    the host; use the C(async) and C(poll) keywords there and M(ansible.windows.async_status).
  - A status round that cannot reach the host is tried 3 times, at least a second apart, before the host is reported
    unreachable; the message names the job id to follow the job up with M(asyncops.jobs.async_status), since the
    job goes on on the target.
seealso:
  - module: asyncops.jobs.async_status
  - module: asyncops.jobs.async_batch
  - ref: ansible_collections.asyncops.jobs.docsite.guide_migrating
    description: Moving a playbook from C(async)/C(poll) and until-loops to this collection.
  - ref: ansible_collections.asyncops.jobs.docsite.guide_troubleshooting
    description: What the messages mean and what to do about them.
"""

EXAMPLES = r"""
- name: Dist-upgrade, at most 30 minutes, waiting for the result
  asyncops.jobs.async_run:
    module: ansible.builtin.apt
    args:
      upgrade: dist
      update_cache: true
    timeout: 1800
    poll: 15
  become: true
  register: upgrade

- name: Start a backup and return at once
  asyncops.jobs.async_run:
    module: ansible.builtin.shell
    args:
      cmd: /usr/local/bin/backup --all > /var/log/backup.log 2>&1
    timeout: 7200
    poll: 0
    retain: 604800  # nobody collected it within a week: the next call in that async dir removes it
  register: backup

- name: Later, wait for the backup
  asyncops.jobs.async_status:
    jid: "{{ backup.ansible_job_id }}"
    mode: wait
    timeout: 7200

- name: Stop a service, migrate, start it again, as one job of at most 20 minutes
  asyncops.jobs.async_run:
    steps:
      - name: stop
        module: ansible.builtin.service
        args:
          name: app
          state: stopped
      - name: migrate
        module: ansible.builtin.command
        args:
          cmd: /opt/app/bin/migrate --all
        timeout: 900
    always:
      - name: start
        module: ansible.builtin.service
        args:
          name: app
          state: started
    timeout: 1200
    poll: 10
  become: true
  register: migration
"""

RETURN = r"""
ansible_job_id:
  description: Job id, for M(asyncops.jobs.async_status).
  returned: always
  type: str
  sample: j117290271630.5121
results_file:
  description: Absolute path of the job record on the target.
  returned: always
  type: str
started:
  description: Whether the job started.
  returned: always
  type: bool
finished:
  description: Whether the job finished (false with O(poll=0)).
  returned: always
  type: bool
timedout:
  description: Whether the job was stopped at its time limit.
  returned: when the job was stopped
  type: bool
changed:
  description: With O(poll) above 0, whether the wrapped module changed something, as the module reports it.
  returned: always
  type: bool
failed:
  description: With O(poll) above 0, whether the job failed (its module failed, it timed out, was killed or lost).
  returned: always
  type: bool
msg:
  description: The wrapped module's message, or why the job failed.
  returned: when the module returns one, or the job failed
  type: str
  sample: "Timeout exceeded: the job ran longer than its time limit of 3600s and was stopped"
rc:
  description: Exit status, for M(ansible.builtin.command) and M(ansible.builtin.shell) (and modules that return it).
  returned: when the module returns it
  type: int
  sample: 0
stdout:
  description: Standard output, for M(ansible.builtin.command) and M(ansible.builtin.shell) (head and tail beyond O(output_limit)).
  returned: when the module returns it
  type: str
  sample: backup done
stderr:
  description: Standard error, for M(ansible.builtin.command) and M(ansible.builtin.shell).
  returned: when the module returns it
  type: str
  sample: ""
output_truncated:
  description: Whether stdout or stderr was longer than O(output_limit) and the result holds its head and tail only.
  returned: when output was clipped
  type: bool
stdout_file:
  description: Where the whole stdout of a clipped result is kept on the target.
  returned: when stdout was clipped
  type: str
  sample: /root/.ansible_async/.j117290271630.5121.output/stdout
stderr_file:
  description: Where the whole stderr of a clipped result is kept on the target.
  returned: when stderr was clipped
  type: str
  sample: /root/.ansible_async/.j117290271630.5121.stderr
leftovers:
  description: Process ids the job left running when its main process ended (O(leftovers=keep)).
  returned: when the job left processes running
  type: list
  elements: int
leftovers_stopped:
  description: Process ids the job left running, stopped with it (O(leftovers=stop)).
  returned: when the job left processes running
  type: list
  elements: int
results:
  description:
    - With O(steps), once the chain finished, one entry per step of O(steps) then of O(always), in that order. Each
      is the step module's own result (for command and shell C(rc), C(stdout), ...) plus RV(results[].step_index) and
      RV(results[].step_name). A step never reached has C(skipped=true).
    - The task is failed when a step failed without O(steps[].ignore_errors), or the chain timed out or was killed;
      RV(msg) then names that step. RV(changed) when any step changed something.
  returned: with O(steps), once the job finished
  type: list
  elements: dict
  contains:
    step_index:
      description: Index of the step, from 0, counting O(steps) then O(always).
      type: int
    step_name:
      description: The step's O(steps[].name), or its module.
      type: str
    skipped:
      description: V(true) for a step never reached (an earlier step failed, the chain timed out or was killed).
      type: bool
  sample:
    - {step_index: 0, step_name: dump, changed: true, rc: 0, stdout: "", failed: false}
    - {step_index: 1, step_name: compress, changed: true, rc: 1, stderr: "gzip: disk full", failed: true}
    - {step_index: 2, step_name: upload, skipped: true, changed: false, msg: "not run: an earlier step failed"}
    - {step_index: 3, step_name: remove temporary files, changed: true, rc: 0, failed: false}
killed:
  description: Whether the job (with O(steps), the chain) was stopped by a kill.
  returned: when the job was stopped
  type: bool
attached:
  description: Present and V(true) when O(key) named a job that was still there, which this task used instead of starting
    another.
  returned: when O(key) found a job
  type: bool
retained_removed:
  description: Job ids of finished records (or notes of collected jobs) that the calls of this task removed from the
    async dir because their C(retain) had passed (see O(asyncops.jobs.async_run#module:retain)).
  returned: when any were removed
  type: list
  elements: str
  sample: [j360874038559.4169]
asyncops_job:
  description: The supervisor's view of the job.
  returned: with O(poll) above 0
  type: dict
  contains:
    state:
      description: How the job ended, or V(running).
      type: str
      choices: [running, succeeded, failed, timedout, killed, lost]
    pid:
      description: Process id (and process group id) of the job.
      type: int
    supervisor_pid:
      description: Process id of the job's supervisor.
      type: int
    started_at:
      description: When the job started (seconds since the epoch).
      type: float
    ended_at:
      description: When the job ended (seconds since the epoch).
      type: float
    elapsed:
      description: Seconds the job ran.
      type: float
    time_limit:
      description: The job's time limit in seconds, V(0) for none.
      type: float
    rc:
      description: Exit status of the job process (negative signal number when it was killed by one).
      type: int
    module:
      description: What ran.
      type: str
  sample:
    state: succeeded
    pid: 4172
    supervisor_pid: 4170
    started_at: 1795460443.02
    ended_at: 1795460445.03
    elapsed: 2.011
    time_limit: 0.0
    rc: 0
    module: ansible.builtin.command
"""
