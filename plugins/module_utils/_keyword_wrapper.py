# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Keyword mode: ansible-core's `async:` wrapper (ansible.legacy.async_wrapper) on this collection's engine.

ansible-core runs an `async:` task by executing its async_wrapper with positional arguments:

  ansible-core <= 2.20:  <jid> <time_limit> <module_path> <argsfile|_> [-preserve_tmp]
  ansible-core >= 2.21:  <jid> <time_limit> <true|false: preserve_tmp> <module_path> <command...>

This starts the module as a supervised job (job id <jid>.<pid>, records in $ANSIBLE_ASYNC_DIR), prints the
JSON ansible-core expects and exits. The task's remote tmp dir (where the module file is) is removed once
the job ended, whatever the way (ok, failed, timed out, killed, lost), unless it is to be preserved.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import sys
import typing as t

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_protocol as protocol
from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import JobStore, JobStoreError, resolve_async_dir
from ansible_collections.asyncops.jobs.plugins.module_utils._job_supervisor import LaunchError, launch

USAGE = (
    'usage: async_wrapper <jid> <time_limit> <module_path> <argsfile|_> [-preserve_tmp] (ansible-core 2.20 and '
    'older) or async_wrapper <jid> <time_limit> <true|false> <module_path> <command...> (2.21 and later). This is '
    'asyncops.jobs keyword mode, run by ansible-core for `async:` tasks; start jobs by hand with '
    'asyncops.jobs.async_run or asyncops.jobs.async_wrapper'
)
TMP_DIR_PREFIX = 'ansible-tmp-'


class UsageError(Exception):
    pass


class Invocation(t.NamedTuple):
    jid: str  # the job id ansible-core gave, without the .<pid> this wrapper adds
    time_limit: int
    module_path: str
    argv: list[str]  # what runs the module
    preserve_tmp: bool  # keep the task's remote tmp dir


def parse(argv: list[str]) -> Invocation:
    """Either positional contract; UsageError for anything else."""
    if len(argv) >= 5 and argv[2].lower() in ('true', 'false'):
        return Invocation(argv[0], time_limit(argv[1]), argv[3], command(argv[4:]), argv[2].lower() == 'true')
    if len(argv) == 4 or (len(argv) == 5 and argv[4] == '-preserve_tmp'):
        limit, module_path, argsfile = time_limit(argv[1]), argv[2], argv[3]
        # as ansible-core's own wrapper: a module outside a task tmp dir is never removed
        preserve = len(argv) == 5 or '-tmp-' not in os.path.dirname(module_path)
        run = interpreter(module_path) + [module_path] + ([] if argsfile == '_' else [argsfile])
        return Invocation(argv[0], limit, module_path, run, preserve)
    raise UsageError('%s; got %d argument(s)' % (USAGE, len(argv)))


def time_limit(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UsageError('%s; the time limit %r is not a number of seconds' % (USAGE, value))


def command(argv: list[str]) -> list[str]:
    """ansible-core 2.21 passes a module's interpreter line as one element ('/usr/bin/env python3'): split it."""
    if argv and ' ' in argv[0] and not os.path.exists(argv[0]):
        return shlex.split(argv[0]) + argv[1:]
    return argv


def interpreter(module_path: str) -> list[str]:
    """The interpreter of a module file's #! line, as ansible-core's wrapper reads it ([] without one)."""
    try:
        with open(module_path, 'rb') as f:
            head = f.read(1024)
    except OSError as exc:
        raise UsageError('%s; cannot read the module %s: %s' % (USAGE, module_path, exc.strerror))
    if not head.startswith(b'#!') or b'\n' not in head:
        return []
    return shlex.split(head[2 : head.index(b'\n')].decode('utf-8', 'surrogateescape'))


# in the module file ansible-core builds (AnsiballZ), the arguments are one line of the wrapper's trailer:
#   params='{"ANSIBLE_MODULE_ARGS": {..., "_ansible_no_log": true, ...}}',
ANSIBALLZ_PARAMS = re.compile(br'^params=(\'(?:[^\'\\\n]|\\.)*\'|"(?:[^"\\\n]|\\.)*"),$', re.MULTILINE)
OLD_STYLE_NO_LOG = re.compile(br'(?:^|\s)_ansible_no_log=(\S+)')


def task_no_log(invocation: Invocation) -> bool:
    """The no_log of the task that started the job, from the module's arguments (in the AnsiballZ file ansible-core
    built, or in its arguments file); False where they cannot be found."""
    for path in [invocation.module_path] + [arg for arg in invocation.argv if arg != invocation.module_path]:
        found = no_log_in_file(path)
        if found is not None:
            return found
    return False


def no_log_in_file(path: str) -> bool | None:
    """_ansible_no_log as a module's file or an arguments file of ansible-core carries it; None when it is not there."""
    try:
        with open(path, 'rb') as f:
            data = f.read(64 * 1024 * 1024)
    except OSError:
        return None
    match = ANSIBALLZ_PARAMS.search(data)
    if match:
        try:
            params = json.loads(ast.literal_eval(match.group(1).decode('utf-8', 'surrogateescape')))
            return bool(params['ANSIBLE_MODULE_ARGS'].get('_ansible_no_log'))
        except (ValueError, SyntaxError, KeyError, TypeError, AttributeError):
            return None
    try:
        args = json.loads(data.decode('utf-8'))
    except ValueError:
        old = OLD_STYLE_NO_LOG.search(data)
        return old.group(1).strip(b'"\'').lower() in (b'true', b'1', b'yes') if old else None
    if isinstance(args, dict) and '_ansible_no_log' in args:
        return bool(args['_ansible_no_log'])
    return None


def module_name(module_path: str) -> str:
    """'ping' for .../AnsiballZ_ping.py, as the record names what ran."""
    name = os.path.basename(module_path)
    if name.startswith('AnsiballZ_'):
        name = name[len('AnsiballZ_') :]
    return name[:-3] if name.endswith('.py') else name


def start(invocation: Invocation) -> dict[str, t.Any]:
    """Start the job; the JSON ansible-core expects back from its wrapper."""
    jid = protocol.jid_with_pid(invocation.jid)
    store = JobStore(resolve_async_dir(None)).ensure()
    store.create_side_dir(jid)
    # a job spec with the wrapper's defaults, as asyncops.jobs.async_wrapper builds it. ansible-core does not pass the
    # task's no_log to its wrapper: it is read from the module's arguments where they can be found, and leftovers are
    # always named by pid only
    params: dict[str, t.Any] = {'timeout': invocation.time_limit, 'no_log': task_no_log(invocation), 'pids_only': True}
    if not invocation.preserve_tmp and os.path.basename(os.path.dirname(invocation.module_path)).startswith(
        TMP_DIR_PREFIX
    ):
        params['cleanup_dir'] = os.path.dirname(invocation.module_path)
    job = {'module': module_name(invocation.module_path), 'result_style': 'module'}
    record = launch(store, protocol.job_spec(jid, job, invocation.argv, params))
    meta = protocol.job_meta(record) or {}
    return {
        'failed': False,
        'started': True,
        'finished': False,
        'ansible_job_id': jid,
        'results_file': record['results_file'],
        '_ansible_suppress_tmpdir_delete': not invocation.preserve_tmp,
        protocol.META_KEY: {'keyword_mode': True, 'pid': meta.get('pid'), 'supervisor_pid': meta.get('supervisor_pid')},
    }


def end(result: dict[str, t.Any], rc: int) -> None:
    print(json.dumps(result))  # pylint: disable=ansible-bad-function
    sys.stdout.flush()
    raise SystemExit(rc)


def main() -> None:
    """ansible.legacy.async_wrapper in keyword mode."""
    try:
        invocation = parse(sys.argv[1:])
    except UsageError as exc:
        end({'failed': True, 'msg': str(exc)}, 1)
        return
    try:
        result = start(invocation)
    except (JobStoreError, LaunchError, OSError) as exc:
        end({'failed': True, 'msg': 'asyncops.jobs keyword mode could not start the job: %s' % exc}, 1)
        return
    end(result, 0)
