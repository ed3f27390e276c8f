#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: async_status
short_description: Check, wait for, kill, list or clean up background jobs
version_added: 0.1.0
description:
  - Drop-in replacement for M(ansible.builtin.async_status) (O(jid), O(mode=status) and O(mode=cleanup) behave the
    same) that reads records written by C(asyncops.jobs.async_wrapper) and by ansible-core's own async wrapper.
  - A job whose supervisor died (kill -9, OOM killer, reboot) is reported as finished and failed with a
    C(job lost) message instead of running forever.
  - O(mode=wait) waits on the target until the job ends (no until/retries loop needed); O(mode=kill) stops the
    whole job tree; O(mode=list) lists the jobs in the async dir; O(mode=cleanup) can also prune old records.
  - O(jid) can be a list, to get the status of many jobs in one round trip.
author:
  - asyncops.jobs developers (@asyncops)
options:
  jid:
    description:
      - Job or list of jobs, as returned in RV(ignore:ansible_job_id) when they were started.
      - Strictly validated (letters, digits, C(_), C(.), C(-)); anything that could name a file outside the async dir
        is refused.
      - Required by all modes but O(mode=list) and the pruning form of O(mode=cleanup).
    type: raw
  mode:
    description:
      - V(status) returns the job record (the module's result once it finished), with a tail of its output while
        it runs.
      - V(wait) is V(status) that returns as soon as the job(s) finished, or after O(timeout) seconds.
      - With one O(jid) of a job started by M(asyncops.jobs.async_run) (O(asyncops.jobs.async_run#module:poll=0)) or
        of a batch started by M(asyncops.jobs.async_batch) (O(asyncops.jobs.async_batch#module:wait=false)), V(status)
        and V(wait) collect it once it finished. The result is then exactly what that task returns when it waits
        (for a batch RV(ignore:results) in item order with the item and index variables, RV(ignore:summary), failed
        unless C(allow_failures)), and the job is then collected (see V(collect)) unless that task said to keep its
        records (C(keep), C(cleanup=false)).
      - A job whose result was already collected answers with a failure that says so and when (C(collected=true),
        C(result already collected)), never with C(could not find job); V(cleanup) on it succeeds. So the pattern of
        ansible-core's documentation (start with C(poll=0), an until-loop on C(finished), then V(cleanup)) works
        unchanged with every way of starting a job.
      - V(kill) stops the whole job tree (SIGTERM, then SIGKILL) and returns the final record, which says killed.
        The job id of a batch stops every item; the job id of one item stops that item alone (a pending item, or one
        waiting to start again after a failed attempt, is recorded killed and never starts).
      - V(list) returns every job of the async dir with its state and age.
      - V(cleanup) removes the record(s) of O(jid) (or the note of a collected job); without O(jid) and with
        O(older_than) it removes the finished records and notes older than that, and what the engine made and left for
        that long (the side directories of jobs whose record is gone, never those of a job being started; the full
        outputs kept for clipped results; the key files of jobs that are gone). Only what the engine provably made is
        removed (a directory holding its marker file, a file named and shaped as a job record or key file), never
        other files of the async dir whatever their names; RV(removed) lists what went besides records. A cleaned-up
        record never reappears, even if the job was still running.
      - V(collect) says the caller holds the result of the finished job(s) of O(jid). Each record (for a batch, with
        its items' records) is replaced by a small note saying when it was collected, which a later status call
        returns. A job still running, already collected or not there is left as it is. M(asyncops.jobs.async_run) and
        M(asyncops.jobs.async_batch) collect with it once a result is on the controller.
    type: str
    choices: [status, wait, kill, list, cleanup, collect]
    default: status
  timeout:
    description: Seconds O(mode=wait) waits at most (and O(mode=kill) waits for the tree to stop).
    type: float
    default: 300
  older_than:
    description: With O(mode=cleanup) or O(mode=list), only finished records not changed for this many seconds.
    type: float
  key:
    description:
      - With O(mode=list), only the jobs whose key (the O(asyncops.jobs.async_run#module:key) they were started with) is
        this, or matches it as a shell-style pattern (V(nightly-*)).
    type: str
  state:
    description:
      - With O(mode=list), only the jobs in one of these states. V(finished) selects every job that ended, V(failed)
        every job that ended in failure (V(failed), V(timedout), V(killed), V(lost)).
    type: list
    elements: str
    choices: [pending, running, retrying, succeeded, failed, timedout, killed, lost, skipped, collected, finished]
  tail:
    description: Number of lines of stdout and stderr of a running job to return as RV(stdout_tail) and RV(stderr_tail).
    type: int
    default: 10
  brief:
    description:
      - While any of the jobs has not finished, return only C(ansible_job_id), C(finished), C(failed) and C(state)
        of each job (C(pending), C(running), C(retrying), C(succeeded), C(failed), C(timedout), C(killed), C(lost),
        C(skipped), C(collected)), not the whole records.
      - Once every job finished, the whole records are returned, so the last round of a status loop has the results.
      - Keeps status rounds of big batches small.
    type: bool
    default: false
  cleanup:
    description:
      - With O(mode=status) or O(mode=wait), once every job of O(jid) finished, collect them (O(mode=collect)) after
        reading them; the returned result is then the only copy.
      - Nothing is removed while any of them still runs. Saves the separate O(mode=cleanup) round trip.
      - Not done in check mode.
    type: bool
    default: false
  delivery:
    description:
      - A token naming the caller, which this collection's action plugins set to the task's id and the host.
      - With O(mode=status) or O(mode=wait) on a O(jid) of M(asyncops.jobs.async_run)
        (O(asyncops.jobs.async_run#module:cleanup=true)) or of a batch of M(asyncops.jobs.async_batch) (without
        O(asyncops.jobs.async_batch#module:keep); alone, or with exactly its items), the call that finds it finished
        keeps a copy of the records it answers with, then collects the job (one round trip instead of two).
      - A later call with the same token (a round retried because its reply was lost in transit) gets the same
        results, shaped for what it asks; any other call reads that the result was already collected. The copy
        goes an hour later, or with the note (O(mode=cleanup), a retain that passed, a prune).
      - Not done in check mode, nor with O(cleanup=true).
    type: str
  async_dir:
    description:
      - Directory of the job records. C(~) is the home of the user running this, from the password database, as for
        the wrapper that started the job.
      - By default, the shell plugin's C(async_dir) setting (E(ANSIBLE_ASYNC_DIR), V(ansible_async_dir)), as for
        M(ansible.builtin.async_status).
      - A directory that is not ours is refused, with its path and owner in the message.
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.conn
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
    details: Without O(async_dir), the action plugin passes the C(async_dir) setting of the shell plugin.
  async:
    support: none
  become:
    support: full
    details: Use the same become settings as when the job was started; the job records are private to that user.
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Only reads; see the notes.
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
  - Use the same C(become) settings as when the job was started; the job records are private to that user.
  - Only records that are ours are used. The async dir, each record, the job's side directory and output files must
    belong to the user running this, not be writable by others, and not be symbolic links. Anything else is refused
    with its path and owner named, and is never read, signalled or removed; O(mode=list) skips such records with a
    warning. Output is only read from the job's own side directory, never from a path written in a record.
  - Every directory above the async dir (and every symbolic link on the way) must belong to the user running this or
    to root, and must not be writable by group or others unless it has the sticky bit (as C(/tmp)); otherwise the
    async dir is refused, as its owner could swap it for their own.
  - A signal only goes to a process whose pid, start time and boot id are those the job's record names.
  - Check mode only reads. A job found lost is reported lost, but its record is left as it is and no process is stopped;
    V(kill) and V(cleanup) do nothing; pruning reports what it would remove.
  - Every mode first removes what jobs started with C(retain) left longer than that (see
    O(asyncops.jobs.async_run#module:retain)), except the jobs it is asked about, and lists their job ids in
    RV(retained_removed). In check mode it only lists them.
  - Needs a POSIX target. On a host whose shell is PowerShell (Windows), the task fails before anything is sent, naming
    the host; use the C(async) and C(poll) keywords there and M(ansible.windows.async_status).
seealso:
  - module: ansible.builtin.async_status
  - module: asyncops.jobs.async_run
  - module: asyncops.jobs.async_batch
  - ref: ansible_collections.asyncops.jobs.docsite.guide_migrating
    description: Moving a playbook from C(async)/C(poll) and until-loops to this collection.
  - ref: ansible_collections.asyncops.jobs.docsite.guide_troubleshooting
    description: What the messages mean and what to do about them.
"""

EXAMPLES = r"""
- name: Start a long upgrade in the background
  asyncops.jobs.async_run:
    module: ansible.builtin.apt
    args:
      upgrade: dist
    timeout: 3600
    poll: 0
  register: upgrade

- name: Wait for it on the target (one round trip, returns the moment it ends)
  asyncops.jobs.async_status:
    jid: "{{ upgrade.ansible_job_id }}"
    mode: wait
    timeout: 3600
  register: upgrade_result

- name: Classic until loop, as with ansible.builtin.async_status
  asyncops.jobs.async_status:
    jid: "{{ upgrade.ansible_job_id }}"
  register: job
  until: job is finished
  retries: 100
  delay: 10

- name: Status of many jobs in one call
  asyncops.jobs.async_status:
    jid: "{{ started.results | map(attribute='ansible_job_id') | list }}"

- name: Stop a job and its whole process tree
  asyncops.jobs.async_status:
    jid: "{{ upgrade.ansible_job_id }}"
    mode: kill

- name: Remove finished records older than a day
  asyncops.jobs.async_status:
    mode: cleanup
    older_than: 86400
"""

RETURN = r"""
ansible_job_id:
  description: The job id (single O(jid)).
  returned: when O(jid) is a single job
  type: str
  sample: j360874038559.4169
started:
  description: Whether the job started.
  returned: when O(jid) is a single job
  type: bool
finished:
  description: Whether the job (or, with a list, every job) finished.
  returned: except with O(mode=list)
  type: bool
results_file:
  description: Absolute path of the job record.
  returned: when O(jid) is a single job
  type: str
current_step:
  description:
    - While a chain (M(asyncops.jobs.async_run) or M(asyncops.jobs.async_batch) with C(steps)) runs, the step that runs
      now; RV(stdout_tail) and RV(stderr_tail) are that step's output.
  returned: while a chain runs
  type: dict
  contains:
    index:
      description: Index of the step, from 0, counting the steps then the always steps.
      type: int
    name:
      description: The step's name (or its module).
      type: str
  sample: {index: 1, name: compress}
results:
  description:
    - For a finished chain, one entry per step (then per always step), each the step module's own result with
      C(step_index) and C(step_name), C(skipped=true) for a step never reached; as M(asyncops.jobs.async_run)
      returns it.
    - For a finished batch of M(asyncops.jobs.async_batch) collected by this call, its items' results, as
      M(asyncops.jobs.async_batch) returns them.
  returned: for a finished chain or a batch collected by this call
  type: list
  elements: dict
stdout_tail:
  description: Last O(tail) lines the running job wrote on stdout.
  returned: while a job of C(asyncops.jobs.async_wrapper) runs
  type: list
  elements: str
stderr_tail:
  description: Last O(tail) lines the running job wrote on stderr.
  returned: while a job of C(asyncops.jobs.async_wrapper) runs
  type: list
  elements: str
elapsed:
  description: Seconds since the job started.
  returned: while a job of C(asyncops.jobs.async_wrapper) runs
  type: float
timedout:
  description: Whether the job was stopped because it reached its time limit.
  returned: when a job was stopped
  type: bool
killed:
  description: Whether the job was stopped by O(mode=kill).
  returned: when a job was stopped, and with O(mode=kill)
  type: bool
lost:
  description: Whether the job's supervisor died before the job ended.
  returned: when a job was lost
  type: bool
erased:
  description: Path of the removed record.
  returned: with O(mode=cleanup) and a single O(jid)
  type: str
collected:
  description:
    - In the answer about a job whose result was already collected, V(true) (with a C(msg) saying when).
    - With O(mode=collect), whether the job is now collected.
  returned: for a collected job, and with O(mode=collect)
  type: bool
retained_removed:
  description: Job ids of finished records (or notes of collected jobs) that this call removed from the async dir
    because their C(retain) had passed (see O(asyncops.jobs.async_run#module:retain)).
  returned: when any were removed
  type: list
  elements: str
  sample: [j360874038559.4169]
removed:
  description: Paths of what pruning removed besides records (side directories, kept outputs, key files).
  returned: with O(mode=cleanup) and O(older_than)
  type: list
  elements: str
jobs:
  description:
    - With a list O(jid), the status of each job, in order.
    - With O(mode=list), the jobs of the async dir, oldest first (C(ansible_job_id), C(state), C(finished),
      C(failed), C(age), C(started_at), C(elapsed), C(module), C(kind) (V(job), V(batch), V(item)), C(key), C(task),
      C(user) and C(controller) who started it, C(no_log), C(last_line) (the last line it wrote; never of a job
      started under C(no_log)), C(wrapper), C(results_file); for a batch C(items) (C(done), C(total)), for an item
      C(batch_jid)).
    - With O(mode=cleanup) and O(older_than), the ids removed.
    - With O(mode=collect) and a list O(jid), the answer about each job.
  returned: with a list O(jid), O(mode=list), or pruning
  type: list
  elements: raw
  sample:
    - ansible_job_id: j360874038559.4169
      state: running
      finished: false
      failed: false
      age: 12.5
      started_at: 1795460443.02
      elapsed: 12.5
      module: ansible.builtin.command
      wrapper: asyncops.jobs
      results_file: /root/.ansible_async/j360874038559.4169
asyncops_job:
  description: The supervisor's view of the job.
  returned: for jobs of C(asyncops.jobs.async_wrapper)
  type: dict
  contains:
    state:
      description:
        - How the job ended, or V(running), V(pending) (a batch item not started yet) or V(retrying) (a batch item whose
          attempt failed, waiting to start again; C(retry_at) says when, C(attempt_state) how that attempt ended, and
          the record holds its result).
        - V(collected) for the note left by a job whose result was collected (C(result_state) says how it ended,
          C(collected_at) when it was collected).
      type: str
      choices: [pending, running, retrying, succeeded, failed, timedout, killed, lost, skipped, collected]
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
    kind:
      description: V(batch) for a batch, V(item) for one of its items; absent for a single job.
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

from ansible_collections.asyncops.jobs.plugins.module_utils._status_module import main

if __name__ == '__main__':
    main()
