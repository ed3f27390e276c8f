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
  - Starting is all or nothing. Before the job starts, room for its running record and for its final record is
    reserved in its private directory (64 KiB and what the record keeps of the task, each); when that, or any
    file the job needs, cannot be written (a full file system), nothing runs and the message says so. The running
    record is written into its room, so output that fills the file system at once does not stop the job; a job
    whose record cannot be written all the same once its process started is stopped at once. When the job's
    output fills the file system, the reserved room holds a small record with its exit code, state and elapsed
    time, so the job is never reported as lost.
author:
  - asyncops.jobs developers (@asyncops)
options:
  jobs:
    description:
      - The jobs to start. Each one gets its own job id, record and supervisor.
      - A job runs O(jobs[].argv), or its O(jobs[].steps) one after another (a chain), then its O(jobs[].always) steps.
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
          - Required unless the job has O(jobs[].steps).
        type: list
        elements: str
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
      steps:
        description:
          - Run these steps one after another, as one job (a chain) under one supervisor and one time limit
            (O(timeout)), instead of O(jobs[].argv). Each step runs in its own process group, its output in files of
            its own; the running record names the step that runs (C(current_step)).
          - A step that fails ends the chain there (the later steps are skipped) unless it has
            O(jobs[].steps[].ignore_errors). The chain's time limit, or O(asyncops.jobs.async_status#module:mode=kill),
            stops the running step's whole tree and skips the later steps.
          - The result has C(results), one entry per step (then per always step), each the step's own result with
            C(step_index) and C(step_name), C(skipped=true) for a step never reached.
        type: list
        elements: dict
        suboptions:
          name:
            description: Name of the step, in its result (C(step_name)) and in status (C(current_step)). Default the module.
            type: str
          module:
            description: Name of what the step runs.
            type: str
            default: command
          argv:
            description: As O(jobs[].argv), for this step; its C({payload}) and C({args}) are files of its own.
            type: list
            elements: str
            required: true
          payload:
            description: As O(jobs[].payload), for this step.
            type: str
          args_data:
            description: As O(jobs[].args_data), for this step.
            type: str
          result_style:
            description: As O(jobs[].result_style), for this step.
            type: str
            choices: [module, command]
            default: module
          cmd:
            description: As O(jobs[].cmd), for this step.
            type: raw
          chdir:
            description: As O(jobs[].chdir), for this step.
            type: path
          strip_empty_ends:
            description: As O(jobs[].strip_empty_ends), for this step.
            type: bool
            default: true
          expand_argument_vars:
            description: As O(jobs[].expand_argument_vars), for this step.
            type: bool
            default: false
          timeout:
            description:
              - The step's own time limit in seconds, from its start. At the limit its whole process tree is stopped
                and the step fails as timed out (that step only).
              - For a step, V(0) or none means no limit of its own (the chain's O(timeout) still applies); an always
                step without one gets 60 seconds.
            type: int
          ignore_errors:
            description: A failure of this step does not end the chain, nor fail it.
            type: bool
            default: false
      always:
        description:
          - Steps that run after O(jobs[].steps) however they ended (a failed step, the chain's time limit, a kill),
            one after another, each under its own time limit (O(jobs[].steps[].timeout), 60 seconds when it gives
            none). The chain's time limit and a kill do not stop them.
        type: list
        elements: dict
        suboptions:
          name:
            description: Name of the step, in its result (C(step_name)) and in status (C(current_step)). Default the module.
            type: str
          module:
            description: Name of what the step runs.
            type: str
            default: command
          argv:
            description: As O(jobs[].argv), for this step; its C({payload}) and C({args}) are files of its own.
            type: list
            elements: str
            required: true
          payload:
            description: As O(jobs[].payload), for this step.
            type: str
          args_data:
            description: As O(jobs[].args_data), for this step.
            type: str
          result_style:
            description: As O(jobs[].result_style), for this step.
            type: str
            choices: [module, command]
            default: module
          cmd:
            description: As O(jobs[].cmd), for this step.
            type: raw
          chdir:
            description: As O(jobs[].chdir), for this step.
            type: path
          strip_empty_ends:
            description: As O(jobs[].strip_empty_ends), for this step.
            type: bool
            default: true
          expand_argument_vars:
            description: As O(jobs[].expand_argument_vars), for this step.
            type: bool
            default: false
          timeout:
            description:
              - The step's own time limit in seconds, from its start. At the limit its whole process tree is stopped
                and the step fails as timed out (that step only).
              - For a step, V(0) or none means no limit of its own (the chain's O(timeout) still applies); an always
                step without one gets 60 seconds.
            type: int
          ignore_errors:
            description: A failure of this step does not end the chain, nor fail it.
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
    description:
      - In a batch, start no new job once one has failed; the jobs not started are recorded as skipped. The same as
        O(max_failures=1); giving both is an error.
    type: bool
    default: false
  max_failures:
    description:
      - In a batch, once this many jobs failed (after their O(item_retries)), start no job any more, not even again;
        the jobs not started are recorded as skipped, with the reason. O(on_halt) says what becomes of the running ones.
      - A whole number (1 or more), or a percent of the jobs as a string (V("20%"), rounded up, at least 1).
    type: raw
  on_halt:
    description:
      - In a batch that reached O(max_failures) (or O(fail_fast)), V(finish) lets the running jobs end by themselves,
        V(kill) stops them at once (whole tree), recorded killed with the reason.
    type: str
    choices: [finish, kill]
    default: finish
  item_retries:
    description:
      - In a batch, how many more times a job that failed (its module failed, a non-zero exit code, its time limit) is
        started again, by the scheduler, with the same job id. A job killed, lost or that could not start is not.
      - While it waits, its record says C(retrying) (not finished) with the last attempt's result; its final record has
        C(attempts) and C(previous_attempts). Its payload and args stay in its private directory until its last attempt
        ended.
    type: int
    default: 0
  item_retry_delay:
    description: Seconds before the first retry of a job; each further retry waits twice as long.
    type: float
    default: 1.0
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
  origin:
    description:
      - Who starts the job, kept in its record for O(asyncops.jobs.async_status#module:mode=list) (and the fleet view,
        the C(asyncops.jobs.jobs) playbook) C(task) (its name), C(user) and C(controller) (the action plugins set it).
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
  - Needs a POSIX target. Process-tree tracking beyond the job's process group uses C(/proc) (Linux). Called as a task
    on a host whose shell is PowerShell (Windows), it fails before anything is sent, naming the host.
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
retained_removed:
  description: Job ids of finished records (or notes of collected jobs) that this call removed from the async dir
    because their C(retain) had passed (see O(asyncops.jobs.async_run#module:retain)).
  returned: when any were removed
  type: list
  elements: str
  sample: [j360874038559.4169]
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

from ansible_collections.asyncops.jobs.plugins.module_utils._wrapper_module import main

if __name__ == '__main__':
    main()
