# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Peak memory of one job supervisor, for a job that prints a lot.

The supervisor runs in a child of this script (the same code spawn_detached runs in its detached grandchild: the
supervisor of the job), and its peak resident set is read from wait4's rusage (ru_maxrss: the supervisor and the
job processes it reaped; the jobs here are `yes | head`, a few MB at most). VmHWM of /proc/<pid>/status is
sampled too, while it runs, as a check.

    ANSIBLE_COLLECTIONS_PATH=<dir holding ansible_collections> python bench/supervisor_rss.py --mb 150
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading

from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import JobStore
from ansible_collections.asyncops.jobs.plugins.module_utils._job_supervisor import run_supervisor


def vmhwm_kb(pid: int) -> int:
    try:
        with open('/proc/%d/status' % pid) as status:
            for line in status:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


# a module's JSON result holding stdout (size bytes in lines of 80) and stdout_lines, as ansible.builtin.command's does
JSON_RESULT = (
    'import json, sys; out = "\\n".join(["x" * 79] * (%d // 80)); '
    'sys.stdout.write(json.dumps({"changed": True, "rc": 0, "stdout": out, "stdout_lines": out.splitlines()}))'
)


def measure(style: str, size: int, output_limit: int, json_result: bool = False) -> dict:
    """Run one job under a supervisor in a child process; its peak RSS and what it recorded."""
    with tempfile.TemporaryDirectory(dir=os.environ.get('TMPDIR', '/var/tmp')) as tmp:
        store = JobStore(os.path.join(tmp, 'async')).ensure()
        jid = 'j1.%s' % style
        store.create_side_dir(jid)
        argv = ['sh', '-c', 'yes 0123456789abcdefghijklmnopqrstu | head -c %d' % size] if size else ['true']
        if json_result:
            argv = [sys.executable, '-c', JSON_RESULT % size]
        spec = {
            'jid': jid,
            'module': 'bench',
            'argv': argv,
            'result_style': style,
            'cmd': argv,
            'time_limit': 0,
            'grace': 0.2,
            'output_limit': output_limit,
        }
        pid = os.fork()
        if pid == 0:
            run_supervisor(store, spec)  # exits
        store.release_starting()
        sampled = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                sampled[0] = max(sampled[0], vmhwm_kb(pid))
                done.wait(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()
        _pid, _status, usage = os.wait4(pid, 0)
        done.set()
        sampler.join()
        record = store.read(jid) or {}
        out_file = record.get('stdout_file')
        return {
            'style': style + (' (JSON result)' if json_result else ''),
            'output_bytes': size,
            'supervisor_maxrss_mb': round(usage.ru_maxrss / 1024, 1),
            'vmhwm_sampled_mb': round(sampled[0] / 1024, 1),
            'record_bytes': os.path.getsize(store.record_path(jid)) if store.exists(jid) else None,
            'output_truncated': record.get('output_truncated'),
            'stdout_file_bytes': os.path.getsize(out_file) if out_file and os.path.exists(out_file) else None,
            'state': (record.get('asyncops_job') or {}).get('state'),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--mb', type=float, default=150, help='MB (10^6 bytes) the job prints')
    parser.add_argument('--output-limit', type=int, default=4 * 1024 * 1024)
    parser.add_argument(
        '--json-result',
        action='store_true',
        help='the module prints a JSON result with stdout and stdout_lines of --mb MB (not raw output)',
    )
    args = parser.parse_args()
    size = int(args.mb * 1000 * 1000)
    if args.json_result:
        print(json.dumps(measure('module', size, args.output_limit, json_result=True)))
        return
    for style, nbytes in (('command', 0), ('module', size), ('command', size)):
        print(json.dumps(measure(style, nbytes, args.output_limit)))


if __name__ == '__main__':
    main()
