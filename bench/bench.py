# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compare, in one run, three ways to run M sleeps of known durations with concurrency C per host.

  recipe  the official recipe: include_tasks over `durations | batch(C)`, each batch started with
          async/poll: 0 and followed by an ansible.builtin.async_status until-loop
  until   every item started with async/poll: 0, then one async_status until-loop (no bound on
          concurrency: all items run at once)
  batch   asyncops.jobs.async_batch with concurrency C

For each: wall time of ansible-playbook, the lower bound max(longest, sum/C), the ratio, and the
number of remote command executions per host, counted from the connection's own -vvv log
(every `EXEC` line ansible writes for a host).

Usage (from the collection root; ANSIBLE_COLLECTIONS_PATH must reach this collection):
  python bench/bench.py --items 100 --concurrency 4 [--containers N | --inventory INV] [--methods recipe,until,batch]
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

PLAYBOOKS = {
    'recipe': {'main.yml': RECIPE_MAIN, 'recipe_batch.yml': RECIPE_BATCH},
    'until': {'main.yml': UNTIL},
    'batch': {'main.yml': BATCH},
}
EXEC_LINE = re.compile(r'^<([^>]+)> (?:SSH: )?EXEC (.*)$', re.M)
SSH_PORT = re.compile(r"\bPort=(\d+)")


def durations_for(count, seed, low, high):
    """Deterministic item durations (seconds, one decimal)."""
    rng = random.Random(seed)
    return [round(rng.uniform(low, high), 1) for _index in range(count)]


def lower_bound(durations, concurrency):
    longest = max(durations)
    return max(longest, sum(durations) / concurrency)


def write_playbooks(workdir, method):
    for name, text in PLAYBOOKS[method].items():
        with open(os.path.join(workdir, name), 'w') as f:
            f.write(text)
    return os.path.join(workdir, 'main.yml')


def run_method(method, inventory, extra_vars, workdir, forks):
    """Run one method; (wall seconds, {host: remote executions}, return code)."""
    playbook = write_playbooks(workdir, method)
    log_path = os.path.join(workdir, '%s.log' % method)
    cmd = ['ansible-playbook', '-vvv', '-i', inventory, '-f', str(forks), '-e', '@' + extra_vars, playbook]
    start = time.monotonic()
    with open(log_path, 'w') as log:
        rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    wall = time.monotonic() - start
    with open(log_path) as log:
        execs = {}
        for host, command in EXEC_LINE.findall(log.read()):
            host = exec_target(host, command)
            execs[host] = execs.get(host, 0) + 1
    return wall, execs, rc, log_path


def exec_target(host, command):
    """host[:port] an EXEC line went to: hosts sharing an address (containers on 127.0.0.1) differ by port."""
    port = SSH_PORT.search(command)
    return '%s:%s' % (host, port.group(1)) if port else host


def default_inventory(workdir):
    path = os.path.join(workdir, 'inventory.ini')
    with open(path, 'w') as f:
        f.write('localhost ansible_connection=local ansible_python_interpreter=%s\n' % sys.executable)
    return path


def start_containers(count, suite, base_port, workdir):
    """N container hosts reached over SSH on 127.0.0.1; returns (inventory path, hosts dir)."""
    hosts_dir = os.path.join(workdir, 'hosts')
    specs = ['bench%d:%s:%d' % (index + 1, suite, base_port + index) for index in range(count)]
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts', 'test_hosts.sh')
    inventory = subprocess.check_output(['bash', script, 'start', hosts_dir] + specs, text=True).strip().splitlines()[-1]
    return inventory, hosts_dir, script


def stop_containers(script, hosts_dir):
    subprocess.call(['bash', script, 'stop', hosts_dir])


def table(rows, bound, args):
    lines = [
        '| method | hosts | items | C | wall (s) | lower bound (s) | wall / bound | remote execs per host |',
        '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ]
    for row in rows:
        lines.append('| %s | %d | %d | %d | %.1f | %.1f | %.2f | %s |' % (
            row['method'], row['hosts'], args.items, args.concurrency, row['wall'], bound,
            row['wall'] / bound, row['execs_per_host']))
    return '\n'.join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--items', type=int, default=100)
    parser.add_argument('--concurrency', type=int, default=4)
    parser.add_argument('--inventory', help='inventory of the test hosts (default: localhost, local connection)')
    parser.add_argument('--containers', type=int, default=0,
                        help='start this many container SSH hosts for the run (needs root, podman, debootstrap)')
    parser.add_argument('--suite', default='bookworm', help='Debian suite of the container hosts')
    parser.add_argument('--base-port', type=int, default=22201, help='sshd port of the first container host')
    parser.add_argument('--methods', default='recipe,until,batch')
    parser.add_argument('--seed', type=int, default=42)
    parser.add_argument('--min-duration', type=float, default=0.2)
    parser.add_argument('--max-duration', type=float, default=2.0)
    parser.add_argument('--forks', type=int, default=10)
    parser.add_argument('--json', help='also write the measurements to this file')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    durations = durations_for(args.items, args.seed, args.min_duration, args.max_duration)
    bound = lower_bound(durations, args.concurrency)
    workdir = tempfile.mkdtemp(prefix='asyncops-bench-')
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
    with open(extra_vars, 'w') as f:
        json.dump({'durations': durations, 'concurrency': args.concurrency}, f)
    rows = []
    failed = False
    for method in args.methods.split(','):
        wall, execs, rc, log_path = run_method(method, inventory, extra_vars, workdir, args.forks)
        failed = failed or rc != 0
        counts = sorted(execs.values()) or [0]
        per_host = str(counts[0]) if counts[0] == counts[-1] else '%d-%d' % (counts[0], counts[-1])
        rows.append({'method': method, 'hosts': len(execs), 'wall': wall, 'rc': rc, 'log': log_path,
                     'execs_per_host': per_host})
        print('%-7s rc=%d wall=%.1fs execs/host=%s (log: %s)' % (method, rc, wall, rows[-1]['execs_per_host'], log_path),
              flush=True)
    print()
    print('items=%d concurrency=%d durations %.1f-%.1fs sum=%.1fs longest=%.1fs lower bound=%.1fs'
          % (args.items, args.concurrency, min(durations), max(durations), sum(durations), max(durations), bound))
    print(table(rows, bound, args))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'durations': durations, 'lower_bound': bound, 'rows': rows}, f, indent=2)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
