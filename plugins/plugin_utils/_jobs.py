# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Controller side of the job engine, shared by the action plugins.

* check that a module can run in the background (refuse controller-side action plugins),
* build the job spec the target wrapper executes (module payload, or a plain command),
* launch jobs through asyncops.jobs.async_wrapper and query them through asyncops.jobs.async_status.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shlex
import signal
import stat
import time

from ansible import constants as C
from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure
from ansible.utils.display import Display

from ansible_collections.asyncops.jobs.plugins.module_utils._job_options import DEFAULTS

display = Display()

WRAPPER = 'asyncops.jobs.async_wrapper'
STATUS = 'asyncops.jobs.async_status'
CONNECTION_ATTEMPTS = 3
NO_LOG_NOTE = 'output hidden: no_log'

COMMAND_MODULES = frozenset(('ansible.builtin.command', 'ansible.legacy.command'))
SHELL_MODULES = frozenset(('ansible.builtin.shell', 'ansible.legacy.shell'))
# Action plugins that only call their module on the target: running the module alone is the same thing.
PASS_THROUGH_ACTIONS = frozenset(('ansible.builtin.normal', 'ansible.legacy.normal')) | COMMAND_MODULES | SHELL_MODULES
NATIVE_COMMAND_KEYS = frozenset(('_raw_params', 'cmd', 'argv', 'chdir', 'executable', '_uses_shell',
                                 'strip_empty_ends', 'expand_argument_vars'))
CONTROLLER_BACKED_HINTS = {
    'package': 'call the package manager module itself (ansible.builtin.apt, ansible.builtin.dnf, ...)',
    'service': 'call the service manager module itself (ansible.builtin.systemd_service, ansible.builtin.sysvinit, ...)',
    'copy': 'copy the file first with a normal task, then run the long part in the background',
    'template': 'template the file first with a normal task, then run the long part in the background',
    'script': 'copy the script with a normal task, then run it with module: ansible.builtin.command',
}


class PipelinedModules:
    """Mixin for our action plugins: our target modules need no remote files, so they are always pipelined
    (one round trip per module run) where the connection and the become method can pipeline, whatever the
    `pipelining` setting. Set the variable asyncops_jobs_pipelining=false to follow the setting instead."""

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        configure_pipelining(self, task_vars or {})
        return result

    def _is_pipelining_enabled(self, module_style, wrap_async=False):
        default = super()._is_pipelining_enabled(module_style, wrap_async)
        if default or module_style != 'new' or wrap_async or C.DEFAULT_KEEP_REMOTE_FILES:
            return default
        if not getattr(self, '_asyncops_force_pipelining', True):
            return default
        conn = self._connection
        return bool(conn.always_pipeline_modules
                    or (conn.has_pipelining and (not conn.become or conn.become.pipelining)))


def configure_pipelining(action, task_vars):
    """Honour asyncops_jobs_pipelining=false (e.g. for sudo with requiretty)."""
    value = task_vars.get('asyncops_jobs_pipelining', True)
    action._asyncops_force_pipelining = str(value).lower() not in ('false', 'no', '0', 'off')


def async_dir_setting(action):
    """The async_dir setting, unexpanded: the target resolves '~' as the user who runs the job."""
    return action.get_shell_option('async_dir', default=DEFAULTS['async_dir']) or DEFAULTS['async_dir']


def normalise_status(result):
    """ansible.builtin.async_status's compatibility shim: started/finished are booleans."""
    for key in ('started', 'finished'):
        if key in result:
            result[key] = bool(result[key])
    return result


def resolve_module(action, name):
    """FQCN of a module that can run detached on the target; AnsibleActionFail with a way out otherwise.

    Looked up once per task (a batch asks for the same module for every item).
    """
    resolved = action.__dict__.setdefault('_asyncops_resolved_modules', {})
    if name not in resolved:
        resolved[name] = _resolve_module(action, name)
    return resolved[name]


def _resolve_module(action, name):
    loader = action._shared_loader_obj
    collections = action._task.collections
    found = loader.module_loader.find_plugin_with_context(name, collection_list=collections)
    if not found.resolved:
        raise AnsibleActionFail("module %r was not found: give the FQCN of an installed module "
                                "(for example ansible.builtin.command)" % name)
    fqcn = found.resolved_fqcn
    backing = loader.action_loader.find_plugin_with_context(fqcn, collection_list=collections)
    if backing.resolved and backing.resolved_fqcn not in PASS_THROUGH_ACTIONS:
        short = fqcn.rsplit('.', 1)[-1]
        hint = CONTROLLER_BACKED_HINTS.get(short, 'run it as a normal task, or run the long part with '
                                                  'ansible.builtin.command in the background')
        raise AnsibleActionFail("%s is implemented by an action plugin that runs on the controller (it transfers "
                                "files or picks a module there), so it cannot run as a background job on the "
                                "target: %s" % (fqcn, hint))
    return fqcn


def build_job(action, module_name, module_args, task_vars):
    """The job spec for asyncops.jobs.async_wrapper: a plain command where exact, else the built module."""
    fqcn = resolve_module(action, module_name)
    module_args = dict(module_args or {})
    if fqcn in SHELL_MODULES:
        module_args['_uses_shell'] = True
        fqcn = 'ansible.builtin.command'
    native = native_command_job(action, fqcn, module_args)
    if native:
        return native
    return module_job(action, fqcn, module_args, task_vars)


def native_command_job(action, fqcn, module_args):
    """command/shell run directly by the supervisor: output is visible while it runs (status tail).

    Used only when the result is exactly what ansible.builtin.command would return: not in check
    mode, and with no option that only the module implements (creates, removes, stdin, ...).
    """
    if fqcn not in COMMAND_MODULES or action._task.check_mode:
        return None
    if not set(module_args) <= NATIVE_COMMAND_KEYS:
        return None
    sources = [k for k in ('_raw_params', 'cmd', 'argv') if module_args.get(k) not in (None, '', [])]
    if len(sources) != 1:
        return None
    shell = bool(module_args.get('_uses_shell'))
    if module_args.get('executable') and not shell:
        return None
    value = module_args[sources[0]]
    if shell:
        if not isinstance(value, str):
            return None
        argv = [module_args.get('executable') or '/bin/sh', '-c', value]
        cmd = value
    else:
        argv = shlex.split(value) if isinstance(value, str) else [str(a) for a in value]
        cmd = argv
    job = {
        'module': 'ansible.builtin.shell' if shell else 'ansible.builtin.command',
        'argv': argv,
        'cmd': cmd,
        'result_style': 'command',
        'strip_empty_ends': module_args.get('strip_empty_ends', True),
        'expand_argument_vars': False if shell else module_args.get('expand_argument_vars', True),
    }
    if module_args.get('chdir'):
        job['chdir'] = module_args['chdir']
    return job


def module_job(action, fqcn, module_args, task_vars):
    """Build the module on the controller (with check mode, no_log, ... of the task) and ship it as payload."""
    action._update_module_args(fqcn, module_args, task_vars)
    # the payload runs after this task's remote tmp dir is gone: let the module make its own
    module_args['_ansible_tmpdir'] = None
    bits, path = action._configure_module(module_name=fqcn, module_args=module_args, task_vars=task_vars)
    style = bits.module_style
    if style not in ('new', 'non_native_want_json', 'old', 'binary'):
        raise AnsibleActionFail('%s is a %s module, which cannot run as a background job on this target' % (fqcn, style))
    argv = shlex.split(bits.shebang[2:]) if bits.shebang else []
    argv.append('{payload}')
    job = {'module': fqcn, 'argv': argv, 'result_style': 'module'}
    if style == 'binary':
        with open(path, 'rb') as f:
            data = f.read()
    else:
        data = bits.b_module_data
    job['payload'] = base64.b64encode(data).decode('ascii')
    if style != 'new':
        argv.append('{args}')
        public = {k: v for k, v in module_args.items() if not (style == 'old' and k.startswith('_ansible_'))}
        if style == 'old':
            job['args_data'] = ' '.join('%s=%s' % (k, shlex.quote(str(v))) for k, v in public.items())
        else:
            job['args_data'] = json.dumps(public)
    return job


def run_target_module(action, name, module_args, task_vars):
    """Execute one of our modules on the target and remove the remote tmp dir it may have needed."""
    try:
        return action._execute_module(module_name=name, module_args=module_args, task_vars=task_vars)
    finally:
        action._remove_tmp_path(action._connection._shell.tmpdir)


def launch(action, jobs, timeout, task_vars, concurrency=None, fail_fast=False, **options):
    """Start jobs on the target in one round trip; the wrapper's result (ansible_job_id, results_file, jobs).

    With concurrency, the jobs form one batch run by a scheduler on the target (sliding window). options:
    the wrapper's grace, output_limit, leftovers and key, passed when set.
    """
    args = {'jobs': jobs, 'timeout': int(timeout or 0), 'async_dir': async_dir_setting(action)}
    args.update((name, value) for name, value in options.items() if value is not None)
    if concurrency is not None:
        args.update(concurrency=concurrency, fail_fast=fail_fast)
    result = run_target_module(action, WRAPPER, args, task_vars)
    if result.get('failed'):
        raise AnsibleActionFail('could not start the background job: %s' % result.get('msg', result))
    return result


def query(action, task_vars, **args):
    """Run asyncops.jobs.async_status on the target with the task's async_dir."""
    args['_async_dir'] = async_dir_setting(action)
    return normalise_status(run_target_module(action, STATUS, args, task_vars))


def status_round(action, task_vars, jid, pause, **args):
    """One status round (asyncops.jobs.async_status), retried when the host cannot be reached.

    A connection failure during polling does not stop the job on the target. The round is tried
    CONNECTION_ATTEMPTS times, `pause` seconds apart (at least 1), before the host is reported
    unreachable with the job id to follow it up with, instead of failing at the first blip or
    hanging until the job's time limit.
    """
    pause = max(1.0, pause)
    for attempt in range(1, CONNECTION_ATTEMPTS):
        try:
            return query(action, task_vars, jid=jid, **args)
        except AnsibleConnectionFailure as exc:
            reason = NO_LOG_NOTE if action._task.no_log else exc.message
            display.warning('status round %d/%d failed to reach the host (%s); retrying in %gs'
                            % (attempt, CONNECTION_ATTEMPTS, reason, pause))
            time.sleep(pause)
    try:
        return query(action, task_vars, jid=jid, **args)
    except AnsibleConnectionFailure as exc:
        raise AnsibleConnectionFailure(
            'host unreachable during status rounds (%d attempts, %gs apart): %s. The job(s) go on on the '
            'target; follow them up with asyncops.jobs.async_status jid=%s once it is reachable'
            % (CONNECTION_ATTEMPTS, pause, exc.message, jid if isinstance(jid, str) else jid[0]))


def wait_for(action, jid, task_vars, interval, deadline=None, on_poll=None):
    """Long-poll the job until it finished: one round trip per `interval` seconds, returns the moment it ends."""
    started = time.time()
    while True:
        chunk = interval if deadline is None else max(1.0, min(interval, deadline - time.time()))
        result = status_round(action, task_vars, jid, interval, mode='wait', timeout=chunk, tail=1)
        if result.get('finished'):
            return result
        if deadline is not None and time.time() > deadline:
            raise AnsibleActionFail('job %s still reports running %ds after its time limit; its supervisor is not '
                                    'enforcing it (check the target)' % (jid, time.time() - started))
        if on_poll:
            on_poll(result)


def poll_line(host, result, no_log=False):
    """A progress line like ansible's 'ASYNC POLL on host'; never any output of a no_log task."""
    line = 'ASYNC POLL on %s: jid=%s started=True finished=False elapsed=%ss' % (
        host, result.get('ansible_job_id'), result.get('elapsed', '?'))
    if no_log:
        return line
    tail = (result.get('stdout_tail') or [])[-1:] or (result.get('stderr_tail') or [])[-1:]
    if tail:
        line += ' last output: %s' % tail[0][:200]
    return line


def collect(action, task_vars, jid, pause):
    """Remove the records of results the controller now holds (the second phase of their delivery).

    A status round only reads; this call, made once its reply arrived, removes them. So a reply lost in
    transit is simply read again by the retried round. A retried removal that finds nothing is fine; one
    that cannot reach the host leaves the records for a later cleanup, with a warning."""
    try:
        status_round(action, task_vars, jid, pause, mode='cleanup')
    except AnsibleConnectionFailure:
        display.warning('the results of job %s were read but its records could not be removed (host unreachable): '
                        'remove them later with asyncops.jobs.async_status jid=%s mode=cleanup' % (jid, jid))


def interrupt_message(host, jids, become):
    """What to tell the user when the controller is stopped while polling: the jobs go on."""
    first = jids[0]
    flags = ' -b' if become else ''
    return ('asyncops.jobs: interrupted while waiting on %s for job(s) %s; they go on on the target. '
            'Follow up with: ansible %s%s -m asyncops.jobs.async_status -a "jid=%s mode=wait", stop with: '
            'ansible %s%s -m asyncops.jobs.async_status -a "jid=%s mode=kill", list all: '
            'ansible %s%s -m asyncops.jobs.async_status -a mode=list\n'
            % (host, ', '.join(jids), host, flags, first, host, flags, first, host, flags))


@contextlib.contextmanager
def announce_on_interrupt(host, jids, become):
    """While polling: on SIGINT/SIGTERM (Ctrl-C or a stopped ansible-playbook), print the job ids and the
    commands to follow them up on ansible-playbook's stderr, then let the worker stop as it would.

    Workers have /dev/null as stderr and their queued display messages die with them, so the line goes
    straight to the stderr of ansible-playbook (the worker's parent), opened through /proc before anything
    happens: on SIGTERM, ansible-playbook may be gone by the time the worker hears of it."""
    message = interrupt_message(host, jids, become)
    stderr_fd = open_controller_stderr()
    previous = {}

    def handler(signum, frame):
        if stderr_fd is None:
            display.warning(message.strip())
        else:
            try:
                os.write(stderr_fd, message.encode('utf-8', 'replace'))
            except OSError:
                pass
        earlier = previous.get(signum)
        signal.signal(signum, earlier if earlier is not None else signal.SIG_DFL)
        if callable(earlier):
            earlier(signum, frame)
        else:
            os.kill(os.getpid(), signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread: nothing to hook
            pass
    try:
        yield
    finally:
        for sig, earlier in previous.items():
            signal.signal(sig, earlier)
        if stderr_fd is not None:
            os.close(stderr_fd)


def open_controller_stderr():
    """ansible-playbook's stderr (a terminal, a pipe, or a file opened for appending), opened for appending;
    None where that cannot be done without overwriting what ansible-playbook writes there."""
    parent = os.getppid()
    if not appendable(parent, 2):
        return None
    try:
        return os.open('/proc/%d/fd/2' % parent, os.O_WRONLY | os.O_APPEND | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return None


def appendable(pid, fd):
    """Whether another process can add to pid's file descriptor fd without overwriting what pid writes there:
    not a regular file, or one opened with O_APPEND (a regular file has an offset of pid's own)."""
    try:
        if not stat.S_ISREG(os.stat('/proc/%d/fd/%d' % (pid, fd)).st_mode):
            return True
        with open('/proc/%d/fdinfo/%d' % (pid, fd)) as info:
            flags = next(int(line.split()[1], 8) for line in info if line.startswith('flags:'))
    except (OSError, StopIteration, ValueError, IndexError):
        return False
    return bool(flags & os.O_APPEND)
