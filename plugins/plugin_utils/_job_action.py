# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""JobActionBase: what this collection's action plugins share, and the one place they touch ActionBase internals.

The private ActionBase calls (_configure_module, _update_module_args, _execute_module, _remove_tmp_path,
_is_pipelining_enabled) are used here and nowhere else, behind a few named methods:

* module_payload(): the bytes and style of a module built for the task (check mode, no_log, diff, ...);
* run_target_module(): one of our modules executed on the target, its remote tmp dir removed;
* _is_pipelining_enabled(): our own target modules always pipelined where the connection can;
* _low_level_execute_command(): the interpreter of a pipelined run of ours reads its program from stdin at once.

On top of them: resolving what module a job runs, building job specs, launching, status rounds that
survive connection blips, and collecting results in two phases.
"""

from __future__ import annotations

import getpass
import os
import shlex
import socket
import time
import typing as t

from ansible import constants as C
from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_protocol as protocol
from ansible_collections.asyncops.jobs.plugins.module_utils._job_protocol import DEFAULTS, range_problems
from ansible_collections.asyncops.jobs.plugins.plugin_utils import _jobs as jobs
from ansible_collections.asyncops.jobs.plugins.plugin_utils import _progress as progress
from ansible_collections.asyncops.jobs.plugins.plugin_utils._argspec import argument_spec, warm

display = Display()

Result = t.Dict[str, t.Any]
CONNECTION_ATTEMPTS = 3
NO_LOG_NOTE = 'output hidden: no_log'
# How the interpreter of a pipelined run of our modules takes its program: all of stdin in one read, then run as
# `python` runs a program it reads from stdin (__name__ '__main__', sys.path[0] '', no __file__). Python itself reads a
# program from stdin through C stdio, one byte per read(2) where stdin is unbuffered (PYTHONUNBUFFERED set, as on many
# container images and CI machines, or -u): 230,000 system calls, 60 ms of CPU per run of a 230 KB AnsiballZ payload.
BULK_STDIN = 'import sys;exec(compile(sys.stdin.buffer.read(),"<stdin>","exec"))'
WINDOWS_REFUSAL = (
    '%s cannot run on %s: its shell is PowerShell (a Windows host), and asyncops.jobs starts and follows jobs on '
    'POSIX hosts only. Nothing was sent to the host. On Windows, give the task the `async:` and `poll:` keywords '
    '(ansible-core starts the module with its Windows async wrapper; asyncops.jobs keyword mode leaves those to '
    'ansible-core) and follow a job started with `poll: 0` with ansible.windows.async_status'
)


class JobActionBase(ActionBase):
    """Base of the action plugins of asyncops.jobs."""

    _requires_connection = True
    # doc stub in plugins/modules/ whose options this action takes (None: the module validates its own)
    STUB: str | None = None

    def __init_subclass__(cls, **kwargs: t.Any) -> None:
        """An action with a doc stub derives its spec when its class is made: in ansible-core's main process, once,
        not in every worker (see _argspec.warm)."""
        super().__init_subclass__(**kwargs)
        if cls.STUB is not None:
            warm(cls.STUB)

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._resolved_modules: dict[str, tuple[str, bool]] = {}
        self._force_pipelining = True
        self._running_ours = False  # one of our modules is being executed (run_target_module)
        # the remote tmp dir holding files a module's action plugin transferred for a job: the job removes it
        self.job_tmpdir: str | None = None
        # job ids that the target's launch or status calls of this task removed because their retain passed
        self.retained_removed: list[str] = []

    def run(self, tmp: str | None = None, task_vars: dict[str, t.Any] | None = None) -> Result:
        self.refuse_windows(task_vars or {})
        result = t.cast(Result, super().run(tmp, task_vars))
        self._force_pipelining = boolean((task_vars or {}).get('asyncops_jobs_pipelining', True), strict=False)
        return result

    def refuse_windows(self, task_vars: t.Mapping[str, t.Any]) -> None:
        """Fail before anything is sent when the host's shell is PowerShell: our target modules are POSIX Python, and
        what ansible-core would make of them there ends in "Module result deserialization failed"."""
        shell = self._connection._shell
        if getattr(shell, 'SHELL_FAMILY', None) != 'powershell':
            return
        host = str(task_vars.get('inventory_hostname') or self._play_context.remote_addr or '?')
        if self._task.delegate_to:
            host = '%s (delegated to %s)' % (host, self._task.delegate_to)
        raise AnsibleActionFail(WINDOWS_REFUSAL % (self._task.action, host))

    def with_retained(self, result: Result) -> Result:
        """The task's result, saying which job ids the target removed during the task because their retain passed."""
        if self.retained_removed:
            result[protocol.RETAINED_KEY] = list(dict.fromkeys(self.retained_removed))
        return result

    def note_retained(self, reply: t.Mapping[str, t.Any]) -> None:
        removed = reply.get(protocol.RETAINED_KEY)
        if isinstance(removed, list):
            self.retained_removed.extend(str(jid) for jid in removed)

    def validated_params(self, ranges: t.Iterable[str]) -> dict[str, t.Any]:
        """The task's arguments checked against the options documented in STUB, and the named numeric ranges; what
        runs is a module (with its args) or steps (with always), one of the two."""
        if self.STUB is None:
            raise NotImplementedError('%s names no doc stub (STUB) to take its options from' % type(self).__name__)
        problems = jobs.what_runs_problems(self._task.args)
        if problems:
            raise AnsibleActionFail('; '.join(problems))
        _spec, params = self.validate_argument_spec(argument_spec=argument_spec(self.STUB))
        problems = range_problems(params, ranges)
        if problems:
            raise AnsibleActionFail('; '.join(problems))
        return t.cast(t.Dict[str, t.Any], params)

    def validated_steps(self, steps: t.Any, option: str, where: str = '') -> list[dict[str, t.Any]]:
        """Steps (option: 'steps' or 'always') checked against the documented shape of a step (async_run's steps):
        each a module, its args, and optionally name, timeout, ignore_errors. where: what they are of ('item 3')."""
        validator = ArgumentSpecValidator({option: argument_spec('async_run')[option]})
        result = validator.validate({option: steps})
        problems = list(result.error_messages)
        checked = t.cast(t.List[t.Dict[str, t.Any]], result.validated_parameters.get(option) or [])
        if not problems:
            problems = step_problems(checked, option)
        if problems:
            if self._task.no_log:  # a message about a value can quote it, and the values are the task's
                problems = ['%d problem(s), details censored, no_log' % len(problems)]
            raise AnsibleActionFail('%s%s: %s' % (option, ' of %s' % where if where else '', '; '.join(problems)))
        return checked

    # -- the ActionBase internals, in one place -------------------------------------------------------
    def _is_pipelining_enabled(self, module_style: str, wrap_async: bool = False) -> bool:
        """Our target modules need no remote files, so they are always pipelined (one round trip per run) where
        the connection and the become method can pipeline, whatever the `pipelining` setting. The variable
        asyncops_jobs_pipelining=false (e.g. for sudo with requiretty) follows the setting instead."""
        default = bool(super()._is_pipelining_enabled(module_style, wrap_async))
        keep_remote_files = C.DEFAULT_KEEP_REMOTE_FILES  # type: ignore[attr-defined]  # set from the config at run time
        if default or module_style != 'new' or wrap_async or keep_remote_files or not self._force_pipelining:
            return default
        conn = self._connection
        return bool(
            conn.always_pipeline_modules or (conn.has_pipelining and (not conn.become or conn.become.pipelining))
        )

    def _low_level_execute_command(self, cmd: str, *args: t.Any, **kwargs: t.Any) -> Result:
        """A pipelined run of one of our modules (the command is its interpreter, the module comes on stdin) starts the
        interpreter with BULK_STDIN, which reads the program in one go however stdin is buffered. Every other command,
        and every run when asyncops_jobs_pipelining=false, goes as ansible-core builds it."""
        in_data = kwargs.get('in_data', args[1] if len(args) > 1 else None)
        if self._running_ours and self._force_pipelining and in_data is not None and cmd:
            cmd = '%s -c %s' % (cmd, shlex.quote(BULK_STDIN))
        return t.cast(Result, super()._low_level_execute_command(cmd, *args, **kwargs))

    def module_payload(
        self, fqcn: str, module_args: dict[str, t.Any], task_vars: dict[str, t.Any]
    ) -> tuple[str, str | None, bytes]:
        """(style, shebang, bytes) of the module as ansible-core builds it for this task (check mode, no_log, ...).

        ActionBase's own _configure_module is called, not the first one in this object's class hierarchy: a
        strategy that mixes its own into every action (mitogen) must not take over building a payload."""
        self._update_module_args(fqcn, module_args, task_vars)
        # the payload runs after this task's remote tmp dir is gone: let the module make its own
        module_args['_ansible_tmpdir'] = None
        bits, path = ActionBase._configure_module(self, module_name=fqcn, module_args=module_args, task_vars=task_vars)
        if bits.module_style == 'binary':
            with open(path, 'rb') as f:
                return bits.module_style, bits.shebang, f.read()
        return bits.module_style, bits.shebang, bits.b_module_data

    def run_target_module(self, name: str, module_args: dict[str, t.Any], task_vars: dict[str, t.Any]) -> Result:
        """Execute one of our modules on the target and remove the remote tmp dir it may have needed."""
        self._running_ours = True
        try:
            return t.cast(Result, self._execute_module(module_name=name, module_args=module_args, task_vars=task_vars))
        finally:
            self._running_ours = False
            shell = self._connection._shell
            if shell is not None and shell.tmpdir != self.job_tmpdir:
                self._remove_tmp_path(shell.tmpdir)

    def async_dir_setting(self) -> str:
        """The async_dir setting, unexpanded: the target resolves '~' as the user who runs the job."""
        return str(self.get_shell_option('async_dir', default=DEFAULTS['async_dir']) or DEFAULTS['async_dir'])

    # -- jobs -------------------------------------------------------------------------------------------
    def resolve_module(self, name: str) -> tuple[str, bool]:
        """(FQCN, whether its own action plugin must pick what runs) of a module (looked up once per task);
        AnsibleActionFail with a way out when there is no such module."""
        if name not in self._resolved_modules:
            self._resolved_modules[name] = self._resolve_module(name)
        return self._resolved_modules[name]

    def _resolve_module(self, name: str) -> tuple[str, bool]:
        loader = self._shared_loader_obj
        collections = self._task.collections
        found = loader.module_loader.find_plugin_with_context(name, collection_list=collections)
        if not found.resolved:
            raise AnsibleActionFail(
                "module %r was not found: give the FQCN of an installed module "
                "(for example ansible.builtin.command)" % name
            )
        fqcn = str(found.resolved_fqcn)
        backing = loader.action_loader.find_plugin_with_context(fqcn, collection_list=collections)
        return fqcn, bool(backing.resolved and backing.resolved_fqcn not in jobs.PASS_THROUGH_ACTIONS)

    def through_action(
        self, fqcn: str, module_args: dict[str, t.Any], task_vars: dict[str, t.Any]
    ) -> tuple[str, dict[str, t.Any]]:
        """Let a module's own action plugin run on the controller as it does under `async:`, and take the module
        call it makes in the background (which backend package/service pick, the arguments uri builds, ...).

        The action runs with the task's settings and `async` set, as ansible-core runs it for an `async:` task. Its
        other remote calls (a fact lookup) happen as usual; its one call with wrap_async is not executed but becomes
        the job. An action that does not support `async` (template, copy, fetch, ...) is refused."""
        task = self._task.copy()
        task.args = dict(module_args)
        task.action = fqcn
        task.async_val = 1
        task.poll = 0
        action = self._shared_loader_obj.action_loader.get(
            fqcn,
            task=task,
            connection=self._connection,
            play_context=self._play_context,
            loader=self._loader,
            templar=self._templar,
            shared_loader_obj=self._shared_loader_obj,
        )
        captured: dict[str, t.Any] = {}
        run_module = action._execute_module

        def in_background(
            module_name: str | None = None, module_args: dict[str, t.Any] | None = None, *args: t.Any, **kwargs: t.Any
        ) -> Result:
            if not kwargs.get('wrap_async'):
                return t.cast(Result, run_module(module_name, module_args, *args, **kwargs))
            shell = self._connection._shell
            captured.update(
                module=module_name or fqcn,
                args=dict(task.args if module_args is None else module_args),
                tmpdir=shell.tmpdir if shell is not None else None,
            )
            return {'started': True, 'finished': False, 'changed': True}

        action._execute_module = in_background
        try:
            result = action.run(task_vars=task_vars)
        except AnsibleActionFail as exc:
            if 'does not support async' in str(exc):
                raise jobs.controller_side_refusal(fqcn)
            raise
        if not captured:
            if result.get('failed'):
                raise AnsibleActionFail('%s could not be started: %s' % (fqcn, self.failure_text(result)))
            raise jobs.controller_side_refusal(fqcn)
        if captured['tmpdir']:
            self.job_tmpdir = captured['tmpdir']
        return str(captured['module']), captured['args']

    def build_job(
        self, module_name: str, module_args: t.Mapping[str, t.Any] | None, task_vars: dict[str, t.Any]
    ) -> jobs.Job:
        """The job spec for asyncops.jobs.async_wrapper: a plain command where exact, else the built module."""
        fqcn, via_action = self.resolve_module(module_name)
        args = dict(module_args or {})
        if via_action:
            fqcn, args = self.through_action(fqcn, args, task_vars)
        if fqcn in jobs.SHELL_MODULES:
            args['_uses_shell'] = True
            fqcn = 'ansible.builtin.command'
        native = jobs.native_command_job(bool(self._task.check_mode), fqcn, args)
        if native:
            return native
        style, shebang, data = self.module_payload(fqcn, args, task_vars)
        return jobs.payload_job(fqcn, style, shebang, data, args)

    def build_chain(
        self, steps: list[dict[str, t.Any]], always: list[dict[str, t.Any]], task_vars: dict[str, t.Any]
    ) -> jobs.Job:
        """The job spec of a chain: each step's job built as build_job builds a job (a plain command, a module payload,
        an action-backed module through its action plugin), with its name, own time limit and ignore_errors."""
        return {
            'steps': [self.build_step(step, task_vars) for step in steps],
            'always': [self.build_step(step, task_vars) for step in always],
        }

    def build_step(self, step: t.Mapping[str, t.Any], task_vars: dict[str, t.Any]) -> jobs.Job:
        job = self.build_job(step['module'], step.get('args'), task_vars)
        job['name'] = step.get('name') or step['module']
        job['ignore_errors'] = bool(step.get('ignore_errors'))
        if step.get('timeout') is not None:
            job['timeout'] = step['timeout']
        return job

    def launch(
        self,
        job_list: list[jobs.Job],
        time_limit: int,
        task_vars: dict[str, t.Any],
        concurrency: int | None = None,
        fail_fast: bool = False,
        **options: t.Any,
    ) -> Result:
        """Start jobs on the target in one round trip, each under time_limit seconds (0: none); the wrapper's result
        (ansible_job_id, results_file, jobs).

        With concurrency, the jobs form one batch run by a scheduler on the target (sliding window). options:
        the wrapper's grace, output_limit, leftovers, key, retain and (a batch's) item_retries, item_retry_delay,
        max_failures and on_halt, passed when set.
        """
        # the wrapper's option for a job's time limit is `timeout`, as the tasks' (protocol.WRAPPER_SPEC)
        args: dict[str, t.Any] = {
            'jobs': job_list,
            'timeout': int(time_limit or 0),
            'async_dir': self.async_dir_setting(),
            'origin': self.origin(),
        }
        args.update((name, value) for name, value in options.items() if value is not None)
        if self.job_tmpdir:
            args['cleanup_dir'] = self.job_tmpdir
        if concurrency is not None:
            args.update(concurrency=concurrency, fail_fast=fail_fast)
        result = self.run_target_module(jobs.WRAPPER, args, task_vars)
        self.note_retained(result)
        if result.get('failed') or result.get('attached'):
            self.drop_job_tmpdir()  # no job of this launch takes the files transferred for it
        if result.get('failed'):
            raise AnsibleActionFail('could not start the background job: %s' % self.failure_text(result))
        return result

    def drop_job_tmpdir(self) -> None:
        """Remove the remote tmp dir a module's action plugin filled for a job that is not started (the launch failed,
        or a key attached to a job already there)."""
        keep_remote_files = C.DEFAULT_KEEP_REMOTE_FILES  # type: ignore[attr-defined]  # set from the config at run time
        if self.job_tmpdir and not keep_remote_files:
            # made by the module's own action plugin, not by this one: removed whatever this one's own cleanup flag
            self._remove_tmp_path(self.job_tmpdir, force=True)
        self.job_tmpdir = None

    def origin(self) -> dict[str, str]:
        """Who starts the job, as its record keeps it for the fleet view (mode=list): the task's name, the user
        running ansible-playbook and the controller's host name."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = str(os.getuid())
        return {'task': str(self._task.get_name()), 'user': user, 'controller': socket.gethostname()}

    def failure_text(self, result: Result) -> str:
        """What a failed call returned, for our own message: never any of it for a no_log task (a module's or an
        action's message can hold the task's arguments, and ansible-core displays failed messages)."""
        if self._task.no_log and not result.get('no_log_safe'):  # our wrapper's refusals say when they are
            return 'details censored, no_log'
        return str(result.get('msg', result))

    def delivery_token(self, task_vars: dict[str, t.Any]) -> str | None:
        """The token of this task's status rounds that collect what they deliver in the same round (see
        protocol.DELIVERY_KEEP): the same for every round of the task on this host, so a round retried after its
        reply was lost gets the same answer. None in check mode (nothing is collected)."""
        if self._task.check_mode:
            return None
        return '%s:%s' % (self._task._uuid, task_vars.get('inventory_hostname', ''))

    def query(self, task_vars: dict[str, t.Any], **args: t.Any) -> Result:
        """Run asyncops.jobs.async_status on the target, in the task's async_dir unless one is given."""
        if not args.get('async_dir'):
            args['async_dir'] = self.async_dir_setting()
        reply = jobs.normalise_status(self.run_target_module(jobs.STATUS, args, task_vars))
        self.note_retained(reply)
        return reply

    def status_round(self, task_vars: dict[str, t.Any], jid: str | list[str], pause: float, **args: t.Any) -> Result:
        """One status round (asyncops.jobs.async_status), retried when the host cannot be reached.

        A connection failure during polling does not stop the job on the target. The round is tried
        CONNECTION_ATTEMPTS times, `pause` seconds apart (at least 1), before the host is reported
        unreachable with the job id to follow it up with, instead of failing at the first blip or
        hanging until the job's time limit.
        """
        pause = max(1.0, pause)
        for attempt in range(1, CONNECTION_ATTEMPTS):
            try:
                return self.query(task_vars, jid=jid, **args)
            except AnsibleConnectionFailure as exc:
                reason = NO_LOG_NOTE if self._task.no_log else exc.message
                display.warning(
                    'status round %d/%d failed to reach the host (%s); retrying in %gs'
                    % (attempt, CONNECTION_ATTEMPTS, reason, pause)
                )
                time.sleep(pause)
        try:
            return self.query(task_vars, jid=jid, **args)
        except AnsibleConnectionFailure as exc:
            first = jid if isinstance(jid, str) else jid[0]
            raise AnsibleConnectionFailure(
                'host unreachable during status rounds (%d attempts, %gs apart): %s. The job(s) go on on the '
                'target; follow them up with asyncops.jobs.async_status jid=%s once it is reachable%s'
                % (
                    CONNECTION_ATTEMPTS,
                    pause,
                    NO_LOG_NOTE if self._task.no_log else exc.message,
                    first,
                    delivery_hint(first, args.get('delivery')),
                )
            )

    def wait_for(
        self,
        jid: str,
        task_vars: dict[str, t.Any],
        interval: float,
        deadline: float | None = None,
        on_poll: t.Callable[[Result], None] | None = None,
        delivery: str | None = None,
    ) -> Result:
        """Long-poll the job until it finished: one round trip per `interval` seconds, returns the moment it ends.
        deadline (protocol.give_up_deadline): when a job whose supervisor enforces its time limit must have ended.
        delivery: the delivery token (delivery_token) when the round that finds the job finished collects it too."""
        extra = {'delivery': delivery} if delivery else {}
        while True:
            chunk = interval if deadline is None else max(1.0, min(interval, deadline - time.time()))
            result = self.status_round(task_vars, jid, interval, mode='wait', timeout=chunk, tail=1, **extra)
            self.check_round(result, 'job', jid)
            if result.get('finished'):
                return result
            if deadline is not None and time.time() > deadline:
                raise AnsibleActionFail(
                    'job %s still reports running although its time limit, grace period and a %ds '
                    'margin have passed; its supervisor is not enforcing it (check the target)'
                    % (jid, protocol.DEADLINE_MARGIN)
                )
            if on_poll:
                on_poll(result)

    def check_round(self, reply: Result, what: str, jid: str) -> None:
        """Stop the task when a status round itself failed (the async dir refused, a corrupt record, the status
        module failing): its reply holds no job state. Asking again would get the same answer forever. A job that
        finished failed is a job state (finished, failed), not a failed round."""
        if 'finished' in reply:
            return
        raise AnsibleActionFail(
            'checking on %s %s failed: %s. The %s was not stopped by this; once the problem is '
            'fixed, follow it up with asyncops.jobs.async_status jid=%s'
            % (what, jid, self.round_failure_text(reply), what, jid)
        )

    def round_failure_text(self, reply: Result) -> str:
        """Why a status round failed: the status module's own message (it names paths and owners, never a record's
        content), plus the end of its stderr when it crashed, which can hold anything, so never for a no_log task."""
        msg = str(reply.get('msg') or 'the status module returned no job state')
        stderr = str(reply.get('module_stderr') or '').strip()
        if stderr and self._task.no_log:
            return msg + ' (module stderr censored, no_log)'
        if stderr:
            return msg + ' (module stderr: %s)' % stderr[-1000:]
        return msg

    def report_progress(self, data: Result, line: str) -> None:
        """Progress of one poll, reported as ansible-core reports its own async polls: a v2_runner_on_async_poll
        event that every callback gets (the default one prints `ASYNC POLL on <host>: jid=...`, JSON callbacks and
        AWX get the whole of data); `line` on the display where it cannot be sent (see _progress)."""
        progress.report(self._task, data, line)

    def collect(self, task_vars: dict[str, t.Any], jid: str, pause: float) -> None:
        """Collect a job whose result the controller now holds (the second phase of its delivery): its records
        give way to a note saying when it was collected (async_status mode=collect).

        A status round only reads; this call, made once its reply arrived, collects. So a reply lost in
        transit is simply read again by the retried round. A retried collection that finds nothing to do is fine;
        one that cannot reach the host leaves the records for a later cleanup, with a warning."""
        try:
            self.status_round(task_vars, jid, pause, mode='collect')
        except AnsibleConnectionFailure:
            display.warning(
                'the results of job %s were read but its records could not be removed (host unreachable): '
                'remove them later with asyncops.jobs.async_status jid=%s mode=cleanup' % (jid, jid)
            )

    def censored_if_no_log(self, result: Result, reply: t.Mapping[str, t.Any]) -> Result:
        """Mark result for censoring (as ansible-core censors a no_log task's) when the reply it comes from holds
        anything of a job started under no_log, whatever this task's own no_log: the record carries it. The entries
        of a chain's `results` are marked too (ansible-core keeps unmarked ones of a censored result as they are)."""
        if jobs.carries_no_log(reply) or (self._task.no_log and isinstance(result.get('results'), list)):
            result['_ansible_no_log'] = True
            for entry in result.get('results') or []:
                if isinstance(entry, dict):
                    entry['_ansible_no_log'] = True
        return result


def delivery_hint(jid: str, token: str | None) -> str:
    """For a status round that could not be answered: where its answer is when the round whose reply was lost had
    found the job finished and collected it (see protocol.DELIVERY_KEEP)."""
    if not token:
        return ''
    return (
        ' (if it says the result was already collected: a round whose reply was lost collected it, and '
        'asyncops.jobs.async_status jid=%s delivery=%s returns that answer for up to %d minutes after, less '
        'if the job was started with a shorter retain)' % (jid, token, protocol.DELIVERY_KEEP // 60)
    )


def step_problems(steps: list[dict[str, t.Any]], option: str) -> list[str]:
    """What is wrong with validated steps beyond their shape: their time limits."""
    problems = []
    for index, step in enumerate(steps):
        limit = step.get('timeout')
        if limit is None:
            continue
        if option == 'always' and limit <= 0:
            problems.append(
                '%s[%d].timeout must be a positive number of seconds (or none: %ds)'
                % (option, index, DEFAULTS['always_timeout'])
            )
        elif limit < 0:
            problems.append(
                "%s[%d].timeout must be 0 (none but the chain's) or a positive number of seconds" % (option, index)
            )
    return problems
