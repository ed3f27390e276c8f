# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compare, in one run, ways to run M sleeps of known durations with concurrency C per host.

  recipe   the official recipe: include_tasks over `durations | batch(C)`, each batch started with
           async/poll: 0 and followed by an ansible.builtin.async_status until-loop
  until    every item started with async/poll: 0, then one async_status until-loop (no bound on
           concurrency: all items run at once)
  batch    asyncops.jobs.async_batch with concurrency C, waiting (one task)
  collect  asyncops.jobs.async_batch with concurrency C and wait: false, then asyncops.jobs.async_status
           mode: wait on the batch job id (two tasks: launch everywhere, collect once)

For each: wall time of ansible-playbook, the lower bound max(longest, sum/C), the ratio, the time of the
first task (the launch phase; for `collect` that is the whole launch on every host), the number of remote
command executions per host, counted from the connection's own -vvv log (every `EXEC` line ansible writes
for a host), and the controller's CPU time (user + sys of ansible-playbook and everything it waited for:
workers, ssh), in total, per host and per item.

The `steps` scenario compares ways to run, per item, a chain of S steps (sleeps of known durations) one after
another, with concurrency C per host (--steps S):

  steps_recipe   the best ansible-core offers: include_tasks over `chains | batch(C)`; in each batch, every step
                 is started for the batch's items with async/poll: 0 and followed by an async_status until-loop
                 before the next step starts
  steps          asyncops.jobs.async_batch with `steps:` (one chain per item) and concurrency C, waiting (one task)
  steps_collect  the same with wait: false, then asyncops.jobs.async_status mode: wait on the batch job id

Its lower bound is max(longest chain, sum of the chains / C).

The `launch` scenario (method `launch`) measures what starting a big batch costs: M items at concurrency M,
started with wait: false, then collected with async_status mode: wait. In the same run: one no-op module task
(ansible.builtin.ping) and the launch of a 1-item batch, for reference. It reports the launch time, the cost
per item ((launch of M - launch of 1) / (M - 1)), that cost as a fraction of the no-op task, and the time to
all results (launch + collect) against the lower bound (one item's duration). The run is bounded to
--max-processes processes (M supervisors + M jobs run at once): a pids cgroup when run as root, which
ulimit -u does not bind, else RLIMIT_NPROC.

The `fleet` scenario measures what the launch-everywhere-then-collect pattern costs across many hosts, against the
same play made of no-op modules. N inventory hosts on the local connection (each with an async dir of its own,
ansible_python_interpreter set), forks 16, M items of D s per host at concurrency C. In one run per N (--hosts
8,64,256 runs them one after the other), methods:
  noop     the play shape of `collect` made of no-op modules: two ansible.builtin.command `true` tasks
  collect  as above: async_batch wait: false on every host, then async_status mode: wait on the batch jid
  list     asyncops.jobs.async_status mode: list on every host (the listing alone)
  jobs     the fleet view playbook asyncops.jobs.jobs (list on every host, then the table and the stats)
  noop1    one ansible.builtin.command `true` task (what a one-task view is compared with)
It reports the walls, the overhead of `collect` beyond the lower bound as a ratio to the no-op play's wall
((collect - bound) / noop), the controller CPU per host (ansible-playbook, its workers and the module processes
they wait for; on the local connection the modules run there too), the CPU of the detached supervisors and jobs
per host (from a cpuacct cgroup, as root), the list view's wall against the one-task no-op play, and the load
average before each N.

The `retries` scenario (methods `recipe_retry`, `until_retry`, `batch_retry`) runs M items of known durations of
which a seeded tenth (--fail-ratio) fail their first attempt (after sleeping their duration) and succeed on the
second, with concurrency C; every item must end succeeded:
  recipe_retry  ansible-core's way with concurrency: the official recipe (include_tasks over `work | batch(C)`,
                async/poll: 0, an ansible.builtin.async_status until-loop per item), then, in each batch, the
                items that failed started again the same way and waited for with an until-loop per item
  until_retry   ansible-core's retry of an async task: a loop over the items, each `async`/`poll: 1` with
                `until: result is succeeded`, `retries: 1` (the until-loop per item; one item at a time)
  batch_retry   asyncops.jobs.async_batch with concurrency C and item_retries: 1 (item_retry_delay: 0)
The lower bound counts every attempt: max(longest item with its failed attempt, total work / C).

Usage (from the collection root; ANSIBLE_COLLECTIONS_PATH must reach this collection):
  python bench/bench.py --items 100 --concurrency 4 [--containers N | --inventory INV] [--methods recipe,until,batch]
  python bench/bench.py --scenario forks     # 8 hosts, forks 2, 12 x 3 s items, concurrency 3, all methods
  python bench/bench.py --scenario launch    # localhost, 1,000 x 3 s items at concurrency 1,000
  python bench/bench.py --scenario fleet --hosts 8,64,256   # N local hosts, forks 16, 4 x 2 s items, C=2
  python bench/bench.py --scenario steps     # 4 container hosts, 20 items x 3 steps of 1-4 s, concurrency 4
  python bench/bench.py --scenario retries   # localhost, 100 items, C=4, 10% fail their first attempt
Without --inventory or --containers the target is localhost over the local connection. --containers N
starts N SSH test hosts (podman containers of a Debian image built here, sshd on 127.0.0.1 ports, see
scripts/test_hosts.sh) for the run and removes them afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time

RECIPE_MAIN = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: One batch at a time (official recipe)
      ansible.builtin.include_tasks: recipe_batch.yml
      loop: "{{ durations | batch(concurrency) | list }}"
      loop_control:
        loop_var: batch_items
"""

RECIPE_BATCH = """\
- name: Start the batch
  ansible.builtin.command: "sleep {{ item }}"
  async: 45
  poll: 0
  loop: "{{ batch_items }}"
  register: started
  changed_when: true

- name: Wait for the batch
  ansible.builtin.async_status:
    jid: "{{ item.ansible_job_id }}"
  loop: "{{ started.results }}"
  register: job
  until: job is finished
  retries: 300
  delay: 1
"""

UNTIL = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Start everything
      ansible.builtin.command: "sleep {{ item }}"
      async: 45
      poll: 0
      loop: "{{ durations }}"
      register: started
      changed_when: true

    - name: Wait for everything
      ansible.builtin.async_status:
        jid: "{{ item.ansible_job_id }}"
      loop: "{{ started.results }}"
      register: job
      until: job is finished
      retries: 300
      delay: 1
"""

BATCH = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: All items, a sliding window of C per host
      asyncops.jobs.async_batch:
        module: ansible.builtin.command
        items: "{{ durations }}"
        args:
          cmd: "sleep {{ item }}"
        concurrency: "{{ concurrency }}"
        timeout: 45
        delay: 1
        retries: 300
"""

COLLECT = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Launch the batch on every host
      asyncops.jobs.async_batch:
        module: ansible.builtin.command
        items: "{{ durations }}"
        args:
          cmd: "sleep {{ item }}"
        concurrency: "{{ concurrency }}"
        timeout: 45
        wait: false
      register: launched

    - name: Collect every host's batch
      asyncops.jobs.async_status:
        jid: "{{ launched.ansible_job_id }}"
        mode: wait
"""

LAUNCH = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: One no-op module task
      ansible.builtin.ping:

    - name: Launch a batch of 1 item
      asyncops.jobs.async_batch:
        module: ansible.builtin.command
        items: "{{ durations[:1] }}"
        args:
          cmd: "sleep {{ item }}"
        concurrency: 1
        timeout: 600
        wait: false
      register: one

    - name: Collect the batch of 1 item
      asyncops.jobs.async_status:
        jid: "{{ one.ansible_job_id }}"
        mode: wait

    - name: Launch all items
      asyncops.jobs.async_batch:
        module: ansible.builtin.command
        items: "{{ durations }}"
        args:
          cmd: "sleep {{ item }}"
        concurrency: "{{ concurrency }}"
        timeout: 600
        wait: false
      register: launched

    - name: Collect all items
      asyncops.jobs.async_status:
        jid: "{{ launched.ansible_job_id }}"
        mode: wait
        timeout: 1200
      register: collected
      failed_when: collected is failed or collected.summary.ok != durations | length
"""

FLEET_NOOP = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: No-op in place of the launch
      ansible.builtin.command: 'true'
      changed_when: true
      register: launched

    - name: No-op in place of the collection
      ansible.builtin.command: 'true'
      changed_when: false
"""

FLEET_LIST = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: The jobs of every host (stand-in for a fleet view)
      asyncops.jobs.async_status:
        mode: list
"""

# the fleet view playbook of this collection (asyncops.jobs.jobs), on every host
FLEET_JOBS = """\
- name: The fleet view
  ansible.builtin.import_playbook: asyncops.jobs.jobs
"""

FLEET_NOOP1 = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: One no-op task
      ansible.builtin.command: 'true'
      changed_when: false
"""

STEPS_RECIPE_MAIN = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: One batch of chains at a time, step by step (the best ansible-core offers)
      ansible.builtin.include_tasks: steps_batch.yml
      loop: "{{ chains | batch(concurrency) | list }}"
      loop_control:
        loop_var: batch_items
"""

STEPS_BATCH = """\
- name: Start step {{ step }} of the batch
  ansible.builtin.command: "sleep {{ item[step] }}"
  async: 45
  poll: 0
  loop: "{{ batch_items }}"
  register: started
  changed_when: true

- name: Wait for step {{ step }} of the batch
  ansible.builtin.async_status:
    jid: "{{ item.ansible_job_id }}"
  loop: "{{ started.results }}"
  register: job
  until: job is finished
  retries: 300
  delay: 1
"""


def steps_recipe_batch(steps):
    """The included file of steps_recipe: each step of the batch's chains started, then waited for."""
    return ''.join(
        STEPS_BATCH.replace('{{ step }}', str(index)).replace('item[step]', 'item[%d]' % index) + '\n'
        for index in range(steps)
    )


STEPS = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: A chain per item, a sliding window of C chains per host
      asyncops.jobs.async_batch:
        items: "{{ chains }}"
        steps: STEPS
        concurrency: "{{ concurrency }}"
        timeout: 300
        delay: 1
        retries: 600
"""

STEPS_COLLECT = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Launch the chains on every host
      asyncops.jobs.async_batch:
        items: "{{ chains }}"
        steps: STEPS
        concurrency: "{{ concurrency }}"
        timeout: 300
        wait: false
      register: launched

    - name: Collect every host's chains
      asyncops.jobs.async_status:
        jid: "{{ launched.ansible_job_id }}"
        mode: wait
        timeout: 600
"""


def steps_playbook(template, steps):
    """A steps playbook whose chains have `steps` steps (step n sleeps item[n])."""
    listed = ''.join(
        '\n          - {name: "step %d", module: ansible.builtin.command, args: {cmd: "sleep {{ item[%d] }}"}}'
        % (index, index)
        for index in range(steps)
    )
    return template.replace(' STEPS', listed)


# an item of the retries scenario: sleeps its duration; one of the failing tenth exits 1 the first time (a marker
# file per method and item says it ran once)
RETRY_CMD = (
    'mkdir -p {{ marker_dir }}; f={{ marker_dir }}/%s-{{ item.i }}; sleep {{ item.d }}; '
    'if [ {{ item.fail }} = 1 ] && [ ! -e $f ]; then touch $f; exit 1; fi'
)

RECIPE_RETRY_MAIN = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: One batch at a time (official recipe), its failed items started once more
      ansible.builtin.include_tasks: recipe_retry_batch.yml
      loop: "{{ work | batch(concurrency) | list }}"
      loop_control:
        loop_var: batch_items
"""

RECIPE_RETRY_BATCH = """\
- name: Start the batch
  ansible.builtin.shell: "%s"
  async: 45
  poll: 0
  loop: "{{ batch_items }}"
  register: started
  changed_when: true

- name: Wait for the batch
  ansible.builtin.async_status:
    jid: "{{ item.ansible_job_id }}"
  loop: "{{ started.results }}"
  register: job
  until: job is finished
  retries: 300
  delay: 1
  failed_when: false

- name: Start the failed items again
  ansible.builtin.shell: "%s"
  async: 45
  poll: 0
  loop: "{{ job.results | rejectattr('rc', 'equalto', 0) | map(attribute='item') | map(attribute='item') | list }}"
  register: restarted
  changed_when: true

- name: Wait for them
  ansible.builtin.async_status:
    jid: "{{ item.ansible_job_id }}"
  loop: "{{ restarted.results }}"
  register: again
  until: again is finished
  retries: 300
  delay: 1
""" % (RETRY_CMD % 'recipe', RETRY_CMD % 'recipe')

UNTIL_RETRY = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Every item in the background, retried once by an until-loop
      ansible.builtin.shell: "%s"
      async: 45
      poll: 1
      loop: "{{ work }}"
      register: result
      until: result is succeeded
      retries: 1
      delay: 0
      changed_when: true
""" % (RETRY_CMD % 'until')

BATCH_RETRY = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: All items, a sliding window of C per host, a failed item started once more on the target
      asyncops.jobs.async_batch:
        module: ansible.builtin.shell
        items: "{{ work }}"
        args:
          cmd: "%s"
        concurrency: "{{ concurrency }}"
        item_retries: 1
        item_retry_delay: 0
        timeout: 45
        delay: 1
      register: retried
      failed_when: retried is failed or retried.summary.retried != failing
      vars:
        failing: "{{ work | selectattr('fail', 'equalto', 1) | list | length }}"
""" % (RETRY_CMD % 'batch')


PLAYBOOKS = {
    'recipe': {'main.yml': RECIPE_MAIN, 'recipe_batch.yml': RECIPE_BATCH},
    'until': {'main.yml': UNTIL},
    'batch': {'main.yml': BATCH},
    'collect': {'main.yml': COLLECT},
    'launch': {'main.yml': LAUNCH},
    'noop': {'main.yml': FLEET_NOOP},
    'list': {'main.yml': FLEET_LIST},
    'jobs': {'main.yml': FLEET_JOBS},
    'noop1': {'main.yml': FLEET_NOOP1},
    'steps_recipe': {'main.yml': STEPS_RECIPE_MAIN},
    'steps': {'main.yml': STEPS},
    'steps_collect': {'main.yml': STEPS_COLLECT},
    'recipe_retry': {'main.yml': RECIPE_RETRY_MAIN, 'recipe_retry_batch.yml': RECIPE_RETRY_BATCH},
    'until_retry': {'main.yml': UNTIL_RETRY},
    'batch_retry': {'main.yml': BATCH_RETRY},
}
STEPS_METHODS = ('steps_recipe', 'steps', 'steps_collect')

# Writes when each task of the play started, so the first task's duration (the launch phase) is known.
TIMING_CALLBACK = """\
import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'bench_timing'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.marks = []

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.marks.append([task.get_name(), time.monotonic()])

    def v2_playbook_on_stats(self, stats):
        self.marks.append(['end', time.monotonic()])
        with open(os.environ['BENCH_TIMING_FILE'], 'w') as f:
            json.dump(self.marks, f)
"""

SCENARIOS = {
    # hosts > forks: the fleet case (8 SSH hosts, forks 2, 12 items of 3 s, concurrency 3: bound 12 s)
    'forks': {
        'containers': 8,
        'forks': 2,
        'items': 12,
        'duration': 3.0,
        'concurrency': 3,
        'methods': 'recipe,until,batch,collect',
    },
    # the cost of starting a big batch: 1,000 items of 3 s at concurrency 1,000 on localhost
    'launch': {'items': 1000, 'duration': 3.0, 'concurrency': 1000, 'methods': 'launch', 'max_processes': 2400},
    # many hosts: N local-connection hosts, each with its own async dir, forks 16, 4 items of 2 s at concurrency 2
    # (bound 4 s), the collect pattern against the same play of no-op modules; --max-processes is derived from N
    'fleet': {
        'hosts': '8,64,256',
        'forks': 16,
        'items': 4,
        'duration': 2.0,
        'concurrency': 2,
        'methods': 'noop,collect,list,jobs,noop1',
    },
    # chains: 20 items of 3 steps (1.0-4.0 s each) per host, concurrency 4, on 4 SSH hosts (the trixie image, which
    # the docs examples use too)
    'steps': {
        'containers': 4,
        'items': 20,
        'steps': 3,
        'concurrency': 4,
        'suite': 'trixie',
        'min_duration': 1.0,
        'max_duration': 4.0,
        'methods': 'steps_recipe,steps,steps_collect',
    },
    # retrying failed items: 100 items, C=4, a seeded 10% fail their first attempt (issue 18)
    'retries': {'items': 100, 'concurrency': 4, 'fail_ratio': 0.1, 'methods': 'recipe_retry,until_retry,batch_retry'},
}
FLEET_METHODS = ('noop', 'collect', 'list', 'jobs', 'noop1')
CPUACCT_CGROUP = '/sys/fs/cgroup/cpuacct'  # cgroup v1's cpuacct hierarchy: the CPU of detached processes too
PIDS_CGROUPS = ('/sys/fs/cgroup/pids', '/sys/fs/cgroup')  # cgroup v1's pids hierarchy, cgroup v2's root
EXEC_LINE = re.compile(r'^<([^>]+)> (?:SSH: )?EXEC (.*)$', re.M)
SSH_PORT = re.compile(r"\bPort=(\d+)")


def durations_for(count, seed, low, high):
    """Deterministic item durations (seconds, one decimal)."""
    rng = random.Random(seed)
    return [round(rng.uniform(low, high), 1) for _index in range(count)]


def lower_bound(durations, concurrency, failing=()):
    """max(longest chain, work / C): an item in `failing` runs twice (its failed attempt, then its retry)."""
    chains = [duration * (2 if index in failing else 1) for index, duration in enumerate(durations)]
    return max(*chains, sum(chains) / concurrency)


def failing_items(count, ratio, seed):
    """The indices of the items that fail their first attempt: a seeded `ratio` of them."""
    return sorted(random.Random(seed + 1).sample(range(count), int(round(count * ratio))))


def write_playbooks(workdir, method, steps=1):
    files = dict(PLAYBOOKS[method])
    if method == 'steps_recipe':
        files['steps_batch.yml'] = steps_recipe_batch(steps)
    elif method in STEPS_METHODS:
        files['main.yml'] = steps_playbook(files['main.yml'], steps)
    for name, text in files.items():
        with open(os.path.join(workdir, name), 'w') as f:
            f.write(text)
    return os.path.join(workdir, 'main.yml')


def children_cpu():
    """user + sys seconds of every child process waited for so far (ansible-playbook, and through it its
    workers and their ssh processes)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def write_timing_callback(workdir):
    path = os.path.join(workdir, 'callback_plugins')
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, 'bench_timing.py'), 'w') as f:
        f.write(TIMING_CALLBACK)
    return path


def task_seconds(timing_file):
    """Duration of each task of the play, in order (from its start to the next task's start or the end)."""
    try:
        with open(timing_file) as f:
            marks = json.load(f)
    except (OSError, ValueError):
        return []
    return [end - start for (_name, start), (_next, end) in zip(marks, marks[1:])]


def first_task_seconds(timing_file):
    """Duration of the play's first task."""
    tasks = task_seconds(timing_file)
    return tasks[0] if tasks else None


class ProcessBound:
    """At most `limit` processes for what runs under it (the playbook, and the supervisors and jobs it starts on
    localhost): a pids cgroup as root (RLIMIT_NPROC does not bind root), else RLIMIT_NPROC on top of the processes
    this user already has. limit 0: no bound."""

    def __init__(self, limit):
        self.limit = limit
        self.cgroup = None
        self.nproc = None
        if not limit:
            return
        if os.geteuid() != 0:
            mine = sum(1 for name in os.listdir('/proc') if name.isdigit() and owned_by_me('/proc/' + name))
            self.nproc = mine + limit
            return
        for root in PIDS_CGROUPS:
            if os.path.isfile(os.path.join(root, 'cgroup.procs')) and pids_controller(root):
                path = os.path.join(root, 'asyncops-bench-%d' % os.getpid())
                try:
                    os.mkdir(path)
                    with open(os.path.join(path, 'pids.max'), 'w') as f:
                        f.write(str(limit))
                except OSError:
                    continue
                self.cgroup = path
                return
        sys.exit(
            'cannot bound the processes of this run: as root, ulimit -u does not apply and no pids cgroup could '
            'be made (%s); run as another user, or give --max-processes 0 to run unbounded' % ', '.join(PIDS_CGROUPS)
        )

    def enter(self):
        """In the child, before exec: join the bound."""
        if self.cgroup:
            with open(os.path.join(self.cgroup, 'cgroup.procs'), 'w') as f:
                f.write(str(os.getpid()))
        elif self.nproc:
            resource.setrlimit(resource.RLIMIT_NPROC, (self.nproc, self.nproc))

    def describe(self):
        if self.cgroup:
            return 'pids cgroup %s, pids.max %d' % (self.cgroup, self.limit)
        return 'RLIMIT_NPROC %d' % self.nproc if self.nproc else 'unbounded'

    def close(self, timeout=60):
        """Remove the cgroup once what ran in it ended (the supervisors exit right after their last record)."""
        if not self.cgroup:
            return
        deadline = time.monotonic() + timeout
        while True:
            try:
                os.rmdir(self.cgroup)
                return
            except OSError:
                if time.monotonic() > deadline:
                    print('left %s behind: processes still run in it' % self.cgroup)
                    return
                time.sleep(0.5)


class CpuAccount:
    """The CPU time of everything that runs under it, detached processes included (the supervisors and jobs that
    ansible-playbook does not wait for): a cpuacct cgroup (v1) as root; None where there is none."""

    def __init__(self):
        self.path = None
        if os.geteuid() != 0 or not os.path.isfile(os.path.join(CPUACCT_CGROUP, 'cpuacct.usage')):
            return
        path = os.path.join(CPUACCT_CGROUP, 'asyncops-bench-%d' % os.getpid())
        try:
            os.mkdir(path)
        except OSError:
            return
        self.path = path

    def enter(self):
        """In the child, before exec."""
        if self.path:
            with open(os.path.join(self.path, 'cgroup.procs'), 'w') as f:
                f.write(str(os.getpid()))

    def seconds(self):
        """CPU seconds used so far by what ran in it (None without a cgroup)."""
        if not self.path:
            return None
        with open(os.path.join(self.path, 'cpuacct.usage')) as f:
            return int(f.read()) / 1e9

    def close(self, timeout=60):
        if not self.path:
            return
        deadline = time.monotonic() + timeout
        while True:
            try:
                os.rmdir(self.path)
                return
            except OSError:
                if time.monotonic() > deadline:
                    print('left %s behind: processes still run in it' % self.path)
                    return
                time.sleep(0.5)


def in_bounds(*bounds):
    """A preexec_fn that joins every bound given (None ones skipped)."""
    bounds = [bound for bound in bounds if bound is not None]

    def enter():
        for bound in bounds:
            bound.enter()

    return enter if bounds else None


def owned_by_me(path):
    try:
        return os.stat(path).st_uid == os.getuid()
    except OSError:
        return False


def pids_controller(root):
    """Whether the cgroup hierarchy at root limits pids (v1: its own hierarchy; v2: pids among the controllers)."""
    if os.path.isfile(os.path.join(root, 'cgroup.controllers')):
        with open(os.path.join(root, 'cgroup.subtree_control')) as f:
            return 'pids' in f.read().split()
    return os.path.basename(root) == 'pids'


def run_method(method, inventory, extra_vars, workdir, forks, bound=None, account=None, verbose=True, steps=1):
    """Run one method; a row of measurements (wall, execs per host, rc, log, launch, cpu, tasks; total_cpu: the CPU
    of everything it started, detached processes included, when `account` (a CpuAccount) can tell)."""
    playbook = write_playbooks(workdir, method, steps)
    log_path = os.path.join(workdir, '%s.log' % method)
    timing_file = os.path.join(workdir, '%s.timing.json' % method)
    env = dict(
        os.environ,
        ANSIBLE_CALLBACK_PLUGINS=write_timing_callback(workdir),
        ANSIBLE_CALLBACKS_ENABLED='bench_timing',
        BENCH_TIMING_FILE=timing_file,
    )
    cmd = (
        ['ansible-playbook']
        + (['-vvv'] if verbose else [])
        + ['-i', inventory, '-f', str(forks), '-e', '@' + extra_vars, playbook]
    )
    total_before = account.seconds() if account else None
    cpu_before, start = children_cpu(), time.monotonic()
    with open(log_path, 'w') as log:
        rc = subprocess.call(
            cmd, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, env=env, preexec_fn=in_bounds(bound, account)
        )
    wall, cpu = time.monotonic() - start, children_cpu() - cpu_before
    total_cpu = None
    if total_before is not None:
        settle_detached(account)
        total_cpu = account.seconds() - total_before
    with open(log_path) as log:
        execs = {}
        for host, command in EXEC_LINE.findall(log.read()):
            host = exec_target(host, command)
            execs[host] = execs.get(host, 0) + 1
    return {
        'method': method,
        'wall': wall,
        'execs': execs,
        'rc': rc,
        'log': log_path,
        'launch': first_task_seconds(timing_file),
        'cpu': cpu,
        'tasks': task_seconds(timing_file),
        'total_cpu': total_cpu,
    }


def settle_detached(account, timeout=30):
    """Wait (at most timeout s) until no process is left in the account's cgroup: the detached supervisors of a
    collected batch exit right after their last record."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(os.path.join(account.path, 'cgroup.procs')) as f:
            if not f.read().strip():
                return
        time.sleep(0.2)


def exec_target(host, command):
    """host[:port] an EXEC line went to: hosts sharing an address (containers on 127.0.0.1) differ by port."""
    port = SSH_PORT.search(command)
    return '%s:%s' % (host, port.group(1)) if port else host


def default_inventory(workdir):
    path = os.path.join(workdir, 'inventory.ini')
    with open(path, 'w') as f:
        f.write('localhost ansible_connection=local ansible_python_interpreter=%s\n' % sys.executable)
    return path


def fleet_inventory(workdir, hosts):
    """N hosts on the local connection, h001 ... hN, each with an async dir of its own below workdir."""
    path = os.path.join(workdir, 'fleet-%d.ini' % hosts)
    width = len(str(hosts))
    with open(path, 'w') as f:
        for index in range(1, hosts + 1):
            name = 'h%0*d' % (width, index)
            f.write(
                '%s ansible_connection=local ansible_python_interpreter=%s ansible_async_dir=%s\n'
                % (name, sys.executable, os.path.join(workdir, 'async-%d' % hosts, name))
            )
    return path


def fleet_max_processes(hosts, concurrency, forks):
    """What a fleet run needs at most: per host its scheduler and C supervisors with their jobs, and the controller's
    forks with their module processes and shells, plus a margin."""
    return hosts * (1 + 2 * concurrency) + 4 * forks + 64


def load_average():
    """The 1-, 5- and 15-minute load averages, as uptime shows them."""
    return '%.2f %.2f %.2f' % os.getloadavg()


def start_containers(count, suite, base_port, workdir):
    """N container hosts reached over SSH on 127.0.0.1; returns (inventory path, hosts dir)."""
    hosts_dir = os.path.join(workdir, 'hosts')
    specs = ['bench%d:%s:%d' % (index + 1, suite, base_port + index) for index in range(count)]
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts', 'test_hosts.sh')
    inventory = (
        subprocess.check_output(['bash', script, 'start', hosts_dir] + specs, text=True).strip().splitlines()[-1]
    )
    return inventory, hosts_dir, script


def stop_containers(script, hosts_dir):
    subprocess.call(['bash', script, 'stop', hosts_dir])


def table(rows, bound, args):
    lines = [
        '| method | hosts | forks | items | C | wall (s) | lower bound (s) | wall / bound | first task (s) '
        '| remote execs per host | controller CPU (s) | CPU per host (s) | CPU per item (ms) |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ]
    for row in rows:
        hosts = max(row['hosts'], 1)
        launch = '%.1f' % row['launch'] if row['launch'] is not None else '-'
        lines.append(
            '| %s | %d | %d | %d | %d | %.1f | %.1f | %.2f | %s | %s | %.1f | %.2f | %.0f |'
            % (
                row['method'],
                row['hosts'],
                args.forks,
                args.items,
                args.concurrency,
                row['wall'],
                bound,
                row['wall'] / bound,
                launch,
                row['execs_per_host'],
                row['cpu'],
                row['cpu'] / hosts,
                1000 * row['cpu'] / (hosts * args.items),
            )
        )
    return '\n'.join(lines)


def fleet_row(hosts, rows, bound, load):
    """One line of the fleet table from the rows of one N (methods noop, collect, list, noop1; any may be missing)."""
    by = {row['method']: row for row in rows}
    row = {'hosts': hosts, 'load': load, 'bound': bound}
    for method in FLEET_METHODS:
        if method in by:
            row[method] = by[method]['wall']
            row[method + '_cpu_per_host'] = by[method]['cpu'] / hosts
            total = by[method].get('total_cpu')
            row[method + '_detached_per_host'] = (total - by[method]['cpu']) / hosts if total is not None else None
            row[method + '_tasks'] = by[method]['tasks']
    if 'noop' in by and 'collect' in by:
        row['overhead'] = (row['collect'] - bound) / row['noop']
    if 'list' in by and 'noop1' in by:
        row['view'] = row['list'] / row['noop1']
    if 'jobs' in by and 'noop1' in by:
        row['jobs_view'] = row['jobs'] / row['noop1']
    return row


def fleet_table(fleet_rows, args):
    def num(row, key, fmt):
        value = row.get(key)
        return fmt % value if value is not None else '-'

    def tasks(row):
        seconds = row.get('collect_tasks') or []
        return ' + '.join('%.1f' % value for value in seconds) or '-'

    lines = [
        '| hosts | forks | items x s, C | bound (s) | no-op play (s) | launch+collect (s) | launch + collect tasks (s) '
        '| overhead / no-op | CPU/host no-op (s) | CPU/host collect (s) | detached CPU/host (s) | list view (s) '
        '| view playbook (s) | one-task no-op (s) | list / no-op | view playbook / no-op | load before |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ]
    for row in fleet_rows:
        lines.append(
            '| %d | %d | %d x %g, %d | %.1f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |'
            % (
                row['hosts'],
                args.forks,
                args.items,
                args.duration or 0,
                args.concurrency,
                row['bound'],
                num(row, 'noop', '%.1f'),
                num(row, 'collect', '%.1f'),
                tasks(row),
                num(row, 'overhead', '%.2fx'),
                num(row, 'noop_cpu_per_host', '%.2f'),
                num(row, 'collect_cpu_per_host', '%.2f'),
                num(row, 'collect_detached_per_host', '%.2f'),
                num(row, 'list', '%.1f'),
                num(row, 'jobs', '%.1f'),
                num(row, 'noop1', '%.1f'),
                num(row, 'view', '%.2fx'),
                num(row, 'jobs_view', '%.2fx'),
                row['load'],
            )
        )
    return '\n'.join(lines)


def run_fleet(args, durations, bound, workdir):
    """Every N of --hosts in turn: its methods back to back on N fresh local hosts; prints a line per method, then
    the table (one line per N)."""
    extra_vars = os.path.join(workdir, 'vars.json')
    with open(extra_vars, 'w') as f:
        json.dump({'durations': durations, 'concurrency': args.concurrency}, f)
    fleet_rows, failed = [], False
    for hosts in [int(value) for value in str(args.hosts).split(',')]:
        inventory = fleet_inventory(workdir, hosts)
        limit = args.max_processes or fleet_max_processes(hosts, args.concurrency, args.forks)
        processes, account = ProcessBound(limit), CpuAccount()
        load, rows = load_average(), []
        try:
            for method in args.methods.split(','):
                row = run_method(method, inventory, extra_vars, workdir, args.forks, processes, account, verbose=False)
                row.pop('execs')
                failed = failed or row['rc'] != 0
                rows.append(row)
                print(
                    'hosts=%d %-7s rc=%d wall=%.1fs tasks=%s cpu=%.1fs (%.2fs/host) detached cpu=%s load=%s '
                    '(processes: %s; log: %s)'
                    % (
                        hosts,
                        method,
                        row['rc'],
                        row['wall'],
                        ' '.join('%.2f' % value for value in row['tasks']),
                        row['cpu'],
                        row['cpu'] / hosts,
                        '%.1fs' % (row['total_cpu'] - row['cpu']) if row['total_cpu'] is not None else '-',
                        load_average(),
                        processes.describe(),
                        row['log'],
                    ),
                    flush=True,
                )
        finally:
            processes.close()
            account.close()
        fleet_rows.append(fleet_row(hosts, rows, bound, load))
    print()
    print(
        'fleet: forks=%d items=%d x %.1fs concurrency=%d lower bound=%.1fs'
        % (args.forks, args.items, max(durations), args.concurrency, bound)
    )
    print(fleet_table(fleet_rows, args))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'durations': durations, 'lower_bound': bound, 'fleet': fleet_rows}, f, indent=2)
    return 1 if failed else 0


def launch_table(row, durations, concurrency, bound):
    """The launch scenario's row: its tasks are no-op, launch 1, collect 1, launch M, collect M."""
    items = len(durations)
    noop, launch_one, _collect_one, launch_all, collect_all = row['tasks']
    per_item = (launch_all - launch_one) / max(1, items - 1)
    return '\n'.join(
        [
            '| items | C | no-op task (s) | launch of 1 (s) | launch of %d (s) | per item (ms) | per item / no-op task '
            '| all results (s) | lower bound (s) |' % items,
            '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
            '| %d | %d | %.2f | %.2f | %.2f | %.2f | %.4f | %.1f | %.1f |'
            % (
                items,
                concurrency,
                noop,
                launch_one,
                launch_all,
                1000 * per_item,
                per_item / noop,
                launch_all + collect_all,
                bound,
            ),
        ]
    )


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        '--scenario',
        choices=sorted(SCENARIOS),
        help='preset of the options below (given options still win): %s'
        % ', '.join('%s = %s' % (name, spec) for name, spec in sorted(SCENARIOS.items())),
    )
    parser.add_argument('--items', type=int, default=100)
    parser.add_argument(
        '--steps',
        type=int,
        default=1,
        help='steps per item (chains: the steps_* methods); each step sleeps a duration of its own',
    )
    parser.add_argument('--concurrency', type=int, default=4)
    parser.add_argument('--inventory', help='inventory of the test hosts (default: localhost, local connection)')
    parser.add_argument(
        '--containers',
        type=int,
        default=0,
        help='start this many container SSH hosts for the run (needs root, podman, debootstrap)',
    )
    parser.add_argument('--suite', default='bookworm', help='Debian suite of the container hosts')
    parser.add_argument('--base-port', type=int, default=22201, help='sshd port of the first container host')
    parser.add_argument('--methods', default='recipe,until,batch')
    parser.add_argument('--seed', type=int, default=42)
    parser.add_argument('--min-duration', type=float, default=0.2)
    parser.add_argument('--max-duration', type=float, default=2.0)
    parser.add_argument('--duration', type=float, help='every item sleeps this long (instead of seeded durations)')
    parser.add_argument('--forks', type=int, default=10)
    parser.add_argument(
        '--hosts', default='8', help='fleet scenario: comma-separated host counts, one run each (e.g. 8,64,256)'
    )
    parser.add_argument('--json', help='also write the measurements to this file')
    parser.add_argument(
        '--fail-ratio',
        type=float,
        default=0.0,
        help='the retries methods: this fraction of the items (seeded) fail their first attempt',
    )
    parser.add_argument(
        '--max-processes',
        type=int,
        default=0,
        help='bound the run to this many processes (pids cgroup as root, else RLIMIT_NPROC); 0: none '
        '(fleet: derived from the hosts, concurrency and forks)',
    )
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.scenario:
        # the preset fills what the command line did not set
        given = {arg.split('=')[0].lstrip('-').replace('-', '_') for arg in argv if arg.startswith('--')}
        for name, value in SCENARIOS[args.scenario].items():
            if name not in given:
                setattr(args, name, value)
    return args


def main(argv=None):
    args = parse_args(argv)
    count = args.items * max(1, args.steps)
    if args.duration:
        durations = [args.duration] * count
    else:
        durations = durations_for(count, args.seed, args.min_duration, args.max_duration)
    chains = [durations[index : index + args.steps] for index in range(0, count, max(1, args.steps))]
    if args.steps > 1:  # an item runs its chain: its duration is the sum of its steps'
        durations = [round(sum(chain), 1) for chain in chains]
    args.chains = chains
    args.failing = failing_items(args.items, args.fail_ratio, args.seed)
    bound = lower_bound(durations, args.concurrency, args.failing)
    workdir = tempfile.mkdtemp(prefix='asyncops-bench-')
    if args.scenario == 'fleet':
        return run_fleet(args, durations, bound, workdir)
    if args.containers:
        inventory, hosts_dir, script = start_containers(args.containers, args.suite, args.base_port, workdir)
        try:
            return run_all(args, durations, bound, workdir, inventory)
        finally:
            stop_containers(script, hosts_dir)
    inventory = os.path.abspath(args.inventory) if args.inventory else default_inventory(workdir)
    return run_all(args, durations, bound, workdir, inventory)


def run_all(args, durations, bound, workdir, inventory):
    """Every method in turn on the same hosts; prints a line per method, then the table."""
    extra_vars = os.path.join(workdir, 'vars.json')
    # the retries methods: each item's index, duration and whether it fails its first attempt; markers on the
    # target (a directory of the run's own: localhost, or made on each host by the first attempt that needs it)
    failing = set(args.failing)
    work = [{'i': index, 'd': duration, 'fail': int(index in failing)} for index, duration in enumerate(durations)]
    marker_dir = os.path.join(workdir, 'markers')
    os.makedirs(marker_dir, exist_ok=True)
    with open(extra_vars, 'w') as f:
        json.dump(
            {
                'durations': durations,
                'concurrency': args.concurrency,
                'chains': args.chains,
                'work': work,
                'marker_dir': marker_dir,
            },
            f,
        )
    rows = []
    processes = ProcessBound(args.max_processes)
    try:
        for method in args.methods.split(','):
            row = run_method(method, inventory, extra_vars, workdir, args.forks, processes, steps=args.steps)
            counts = sorted(row.pop('execs').values()) or [0]
            row['hosts'] = len(counts) if counts != [0] else 0
            row['execs_per_host'] = str(counts[0]) if counts[0] == counts[-1] else '%d-%d' % (counts[0], counts[-1])
            rows.append(row)
            tasks = ' tasks=%s' % ' '.join('%.2f' % seconds for seconds in row['tasks']) if method == 'launch' else ''
            print(
                '%-7s rc=%d wall=%.1fs first task=%ss execs/host=%s cpu=%.1fs%s (processes: %s; log: %s)'
                % (
                    method,
                    row['rc'],
                    row['wall'],
                    '%.1f' % row['launch'] if row['launch'] is not None else '-',
                    row['execs_per_host'],
                    row['cpu'],
                    tasks,
                    processes.describe(),
                    row['log'],
                ),
                flush=True,
            )
    finally:
        processes.close()
    print()
    if args.methods == 'launch':
        if rows[0]['rc'] == 0:
            print('items=%d concurrency=%d durations %.1fs' % (args.items, args.concurrency, max(durations)))
            print(launch_table(rows[0], durations, args.concurrency, bound))
    else:
        what = 'items' if args.steps <= 1 else 'chains of %d steps' % args.steps
        retried = (
            ' failing first=%d (their first attempts %.1fs)'
            % (len(failing), sum(durations[index] for index in failing))
            if failing
            else ''
        )
        print(
            'items=%d concurrency=%d forks=%d %s %.1f-%.1fs sum=%.1fs longest=%.1fs%s lower bound=%.1fs'
            % (
                args.items,
                args.concurrency,
                args.forks,
                what,
                min(durations),
                max(durations),
                sum(durations),
                max(durations),
                retried,
                bound,
            )
        )
        print(table(rows, bound, args))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'durations': durations, 'lower_bound': bound, 'rows': rows}, f, indent=2)
    return 1 if any(row['rc'] != 0 for row in rows) else 0


if __name__ == '__main__':
    sys.exit(main())
