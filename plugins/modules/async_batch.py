#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: async_batch
short_description: Run a loop of background jobs with bounded concurrency in one task
version_added: 0.1.0
description:
  - Replaces the recipe of C(include_tasks) over batches of items (the C(batch) filter) with C(async)/C(poll=0) tasks and
    M(ansible.builtin.async_status) until-loops by one task.
  - The whole batch starts on each host with one module execution, whatever the number of items; a scheduler on
    the target keeps at most O(concurrency) items running and starts the next one the moment an item ends
    (a sliding window, not barrier batches).
  - Each status round is one module execution for all items of the host, which waits on the target for up to
    O(delay) seconds and returns the moment the last item ends; a progress line is printed per round. The round
    that sees the last item end also brings back every result and collects the batch as it answers (its records
    give way to a note saying when, see O(keep)), so a batch costs one execution to start and one per status
    round.
  - The result looks like a registered loop's, RV(results) in item order, plus a RV(summary).
  - With O(steps) instead of O(module), every item runs a chain of steps (several modules one after another, then
    O(always) steps) as one job; O(concurrency) counts chains. See M(asyncops.jobs.async_run) and the steps guide.
  - This is an action plugin; the module file only documents it.
author:
  - asyncops.jobs developers (@asyncops)
options:
  module:
    description:
      - FQCN of the module each item runs. Every module ansible-core runs with the C(async) keyword. A module whose
        action plugin supports C(async) (M(ansible.builtin.package), M(ansible.builtin.service), M(ansible.builtin.dnf),
        M(ansible.builtin.uri), ...) has that action plugin run on the controller as under C(async), which picks the
        backend or prepares the call, and the module call it makes runs as the job.
      - Modules whose action plugin does not support C(async) (M(ansible.builtin.template), M(ansible.builtin.copy),
        M(ansible.builtin.fetch), ...) are refused, as ansible-core refuses them with C(async).
      - Give O(module) or O(steps), one of the two.
    type: str
  items:
    description:
      - The items. An empty list is not an error; nothing runs.
      - Anything else than a list is refused, as C(loop) refuses it (a string is not split at its commas).
    type: list
    elements: raw
    required: true
  args:
    description:
      - Arguments of the module, templated once per item with the task's variables plus O(loop_var) and O(index_var).
      - An undefined variable fails the task before anything starts, naming the item.
      - Only with O(module); with O(steps), each step has its own args.
    type: raw
    default: {}
  steps:
    description:
      - Instead of O(module) and O(args), the steps each item runs one after another as one job (a chain), as
        O(asyncops.jobs.async_run#module:steps) of M(asyncops.jobs.async_run) - a list of steps, each with
        C(module), C(args) and optionally C(name), C(timeout) (the step's own limit) and C(ignore_errors).
      - Templated once per item, as O(args) is, with O(loop_var) and O(index_var).
      - O(timeout) is each item's chain's time limit; O(concurrency) counts chains. An item's result holds its
        steps' results in C(results), with its C(failed) and C(msg) naming the step that failed it.
    type: raw
  always:
    description:
      - Steps that run after each item's O(steps) however they ended (a failed step, the chain's time limit, a kill),
        each under its own time limit (its C(timeout), 60 seconds when it gives none). The shape of O(steps), templated
        per item.
      - Only with O(steps).
    type: raw
  loop_var:
    description: Name of the variable holding the current item in O(args).
    type: str
    default: item
  index_var:
    description: Name of the variable holding the current item's index (from 0) in O(args).
    type: str
    default: item_index
  concurrency:
    description: How many items may run at the same time on each host.
    type: int
    default: 1
  timeout:
    description:
      - Time limit of each item in seconds, from the moment it starts; V(0) means none.
      - With O(steps), the limit of each item's chain (its O(always) steps run after it, each under its own).
    type: int
    default: 0
  delay:
    description: Longest wait of one status round, in seconds. A round returns early when every item finished.
    type: float
    default: 1.0
  retries:
    description:
      - Status rounds before giving up waiting, so at most O(retries) x O(delay) seconds (the batch goes on running on
        the target, and the message says how to follow it up).
      - Without it, the task waits as long as the items can run under their time limit (O(timeout)) one window of
        O(concurrency) after another, with their grace period and a margin; without a time limit either, until the
        batch ends (a batch whose scheduler dies ends as lost). It never gives up on a batch the target will still
        end by itself.
    type: int
  fail_fast:
    description:
      - Start no new item once one has failed; the items not started are reported as skipped. The same as
        O(max_failures=1); giving both is an error.
    type: bool
    default: false
  max_failures:
    description:
      - Once this many items failed (after their O(item_retries)), no item starts any more, not even again. The items
        not started are reported as skipped, with the reason in their C(msg); the items waiting to start again end with
        the result of their last attempt. O(on_halt) says what happens to the items still running.
      - A whole number of items (1 or more), or a percent of the items as a string, such as V("20%") (rounded up, at
        least 1). Like C(--halt soon,fail=N) (or C(fail=20%)) of GNU parallel.
      - Without it (and without O(fail_fast)), every item runs, whatever fails.
      - With it, the window refills once the result of an ended item is recorded, not the moment its process ends.
    type: raw
  on_halt:
    description:
      - What happens to the items still running when O(max_failures) (or O(fail_fast)) is reached.
      - V(finish) lets them end by themselves (GNU parallel's C(--halt soon)).
      - V(kill) stops each one at once, its whole process tree (SIGTERM, then SIGKILL after O(grace)), and reports it as
        C(killed), saying why (GNU parallel's C(--halt now)).
    type: str
    choices: [finish, kill]
    default: finish
  item_retries:
    description:
      - How many more times an item that failed is started again, by the scheduler on the target, before it counts as
        failed. An item failed when its module failed, its command returned a non-zero code, or it reached its
        O(timeout); one that was killed (M(asyncops.jobs.async_status) O(asyncops.jobs.async_status#module:mode=kill),
        O(on_halt=kill), or the batch killed), lost, or could not start, is not started again.
      - An item keeps its job id through its attempts. While it waits to start again, its state is C(retrying), and its
        record holds its last attempt's result. Its final result says how many times it ran in RV(results[].attempts),
        and what its earlier attempts returned in RV(results[].previous_attempts).
      - Like C(--retries) of GNU parallel or C(backoffLimit) of a Kubernetes Job, per item.
    type: int
    default: 0
  item_retry_delay:
    description:
      - Seconds between a failed attempt of an item and its next start; each further retry of the item waits twice as
        long (1, 2, 4, ... with the default). Other items keep running and starting meanwhile.
    type: float
    default: 1.0
  allow_failures:
    description:
      - By default the task fails when any item failed, like a loop. With V(true) it does not; failed items still say
        so in RV(results) and RV(summary).
    type: bool
    default: false
  wait:
    description:
      - V(false) starts the batch and returns at once (like C(poll=0)) with the batch's RV(ansible_job_id) and the
        items' job ids in RV(jobs).
      - Collect it later with M(asyncops.jobs.async_status), O(asyncops.jobs.async_status#module:mode=wait) on the
        batch's job id (or O(asyncops.jobs.async_status#module:mode=status) once it finished). That returns exactly
        what this task returns with V(true) (RV(results) in item order with the item and index variables,
        RV(summary), failed unless O(allow_failures)) and collects the batch unless O(keep).
      - With more hosts than forks, start the batch with V(false) everywhere, then collect it in a second task. Hosts
        then run side by side instead of in waves of C(forks), since waiting holds a fork per host.
    type: bool
    default: true
  keep:
    description:
      - Keep the job records on the target after the results were read. By default the batch is collected by the
        status round that brings its results back, which first keeps a copy of its answer for an hour,
        so a round retried because its reply was lost in transit gets the same results. Its records give way to a
        small note saying when it was collected (a later status call returns it,
        O(asyncops.jobs.async_status#module:mode=cleanup) removes it). Kept records can be read again with
        M(asyncops.jobs.async_status) and the batch's RV(ansible_job_id).
      - In check mode the records are always kept, since check mode removes nothing on the target.
    type: bool
    default: false
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
    details: It runs its items in the background itself; use O(wait=false) rather than the C(async) keyword.
  become:
    support: full
    details: Items run as the become user; follow them with the same become settings.
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Every item's module (with O(steps), every step's) runs in check mode when the task does; modules without
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
  - Works with C(delegate_to), many hosts and forks, and the C(free) strategy; each host runs its own scheduler.
  - Needs a POSIX target. On a host whose shell is PowerShell (Windows), the task fails before anything is sent, naming
    the host; use the C(async) and C(poll) keywords there and M(ansible.windows.async_status).
  - A status round that cannot reach the host is tried 3 times, at least a second apart, before the host is reported
    unreachable; the message names the job id to follow the job up with M(asyncops.jobs.async_status), since the
    job goes on on the target.
seealso:
  - module: asyncops.jobs.async_run
  - module: asyncops.jobs.async_status
  - ref: ansible_collections.asyncops.jobs.docsite.guide_batching
    description: Batching many background jobs, with the benchmark of the recipes it replaces.
  - ref: ansible_collections.asyncops.jobs.docsite.guide_troubleshooting
    description: What the messages mean and what to do about them.
"""

EXAMPLES = r"""
- name: Sleep through a list of durations, two at a time
  asyncops.jobs.async_batch:
    module: ansible.builtin.command
    items: "{{ sleep_durations }}"
    args:
      cmd: "sleep {{ item }}"
    concurrency: 2
    timeout: 45
    delay: 1
  register: out

- name: Back up every database, four at a time, stop at the first failure
  asyncops.jobs.async_batch:
    module: ansible.builtin.shell
    items: "{{ databases }}"
    loop_var: db
    args:
      cmd: "pg_dump {{ db }} | gzip > /backup/{{ db }}.sql.gz"
    concurrency: 4
    fail_fast: true
    timeout: 3600
  become: true
  become_user: postgres

- name: Download artifacts, a failed download tried twice more, stop after 3 failures
  asyncops.jobs.async_batch:
    module: ansible.builtin.get_url
    items: "{{ artifacts }}"
    args:
      url: "{{ item.url }}"
      dest: "/srv/artifacts/{{ item.name }}"
    concurrency: 4
    item_retries: 2
    item_retry_delay: 5
    max_failures: 3
    timeout: 600
    retain: 86400
  register: downloads

- name: Check every target, eight at a time; once 20% of them failed, stop the checks still running
  asyncops.jobs.async_batch:
    module: ansible.builtin.command
    items: "{{ check_targets }}"
    args:
      cmd: "/usr/local/bin/check {{ item }}"
    concurrency: 8
    max_failures: "20%"
    on_halt: kill
    allow_failures: true

- name: Start downloads and go on with the play
  asyncops.jobs.async_batch:
    module: ansible.builtin.get_url
    items: "{{ artifacts }}"
    args:
      url: "{{ item.url }}"
      dest: "/srv/artifacts/{{ item.name }}"
    concurrency: 3
    wait: false
  register: downloads

- name: Later, wait for all of them in one task
  asyncops.jobs.async_status:
    jid: "{{ downloads.ansible_job_id }}"
    mode: wait
    timeout: 1800

- name: Per database, dump then compress, two databases at a time, removing the temporary dump however it ended
  asyncops.jobs.async_batch:
    items: "{{ databases }}"
    loop_var: db
    steps:
      - name: dump
        module: ansible.builtin.command
        args:
          cmd: "pg_dump --file /backup/tmp/{{ db }}.sql {{ db }}"
      - name: compress
        module: ansible.builtin.command
        args:
          cmd: "gzip --keep --force /backup/tmp/{{ db }}.sql"
    always:
      - name: remove the dump
        module: ansible.builtin.file
        args:
          path: "/backup/tmp/{{ db }}.sql"
          state: absent
    concurrency: 2
    timeout: 3600
  become: true
  become_user: postgres
"""

RETURN = r"""
results:
  description:
    - One entry per item, in item order, like a registered loop's C(results), with the keys of the item's module
      result (for command and shell C(rc), C(stdout), C(stderr), ...) and the keys below.
  returned: when O(wait=true)
  type: list
  elements: dict
  contains:
    ansible_job_id:
      description: Job id of the item on the target.
      type: str
      sample: j360874038559.4169.i0
    changed:
      description: Whether the item's module changed something.
      type: bool
    failed:
      description: Whether the item failed (its module failed, it timed out, was killed or lost).
      type: bool
    timedout:
      description: Whether the item was stopped at its time limit.
      type: bool
    elapsed:
      description: Seconds the item ran (its last attempt).
      type: float
      sample: 2.004
    attempts:
      description: How many times the item was started (V(0) when it never was, more than V(1) with O(item_retries)).
      type: int
      sample: 2
    previous_attempts:
      description:
        - What the earlier attempts of an item started more than once returned (at most the last 10), oldest first.
        - Each has C(attempt) (its number, from 1), C(state) (C(failed) or C(timedout)), C(rc), C(elapsed) and C(msg)
          (at most 300 characters; none for a C(no_log) task).
      returned: when the item was started more than once
      type: list
      elements: dict
      sample: [{"attempt": 1, "state": "failed", "rc": 1, "elapsed": 0.52, "msg": "non-zero return code"}]
    state:
      description: How the item ended.
      type: str
      choices: [succeeded, failed, timedout, killed, lost, skipped]
    item:
      description: The item, under the name given by O(loop_var) (V(item) by default).
      type: raw
    item_index:
      description: The item's index from 0, under the name given by O(index_var).
      type: int
    results:
      description: With O(steps), the item's steps' results, as RV(asyncops.jobs.async_run#module:results) of
        M(asyncops.jobs.async_run) (each with C(step_index) and C(step_name), C(skipped) for a step never reached).
      type: list
      elements: dict
    ansible_loop_var:
      description: The value of O(loop_var), as in a registered loop.
      type: str
    ansible_index_var:
      description: The value of O(index_var), as in a registered loop.
      type: str
  sample:
    - ansible_job_id: j360874038559.4169.i0
      changed: true
      cmd: [sleep, "1"]
      rc: 0
      stdout: ""
      stderr: ""
      failed: false
      timedout: false
      elapsed: 1.004
      state: succeeded
      item: 1
      item_index: 0
      ansible_loop_var: item
      ansible_index_var: item_index
summary:
  description:
    - Counts of the items (C(total), C(ok), C(failed_count), C(timedout), C(changed_count), C(skipped)) and C(elapsed)
      seconds.
    - C(retried) counts the items started more than once (O(item_retries)), whatever their end.
  returned: when O(wait=true)
  type: dict
  sample: {"total": 6, "ok": 5, "failed_count": 1, "timedout": 1, "changed_count": 6, "skipped": 0, "retried": 1,
           "elapsed": 12.4}
failed_count:
  description: Number of failed items.
  returned: when O(wait=true)
  type: int
ansible_job_id:
  description: Job id of the batch on the target.
  returned: when items is not empty
  type: str
jobs:
  description: Job ids and record paths of the items, in item order.
  returned: when O(wait=false)
  type: list
  elements: dict
  contains:
    ansible_job_id:
      description: Job id of the item.
      type: str
      sample: j360874038559.4169.i0
    results_file:
      description: Absolute path of the item's record on the target.
      type: str
      sample: /root/.ansible_async/j360874038559.4169.i0
attached:
  description: Present and V(true) when O(key) named a batch that was still there, which this task used instead of
    starting another.
  returned: when O(key) found a batch
  type: bool
retained_removed:
  description: Job ids of finished records (or notes) that the calls of this task removed from the async dir because
    their O(retain) had passed.
  returned: when any were removed
  type: list
  elements: str
  sample: [j360874038559.4169]
"""
