# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Job specs for the target wrapper, built on the controller: a plain command where that is exact, or a
module payload; and the shape of what status calls return."""

from __future__ import annotations

import base64
import json
import shlex
import typing as t

from ansible.errors import AnsibleActionFail

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_protocol as protocol

WRAPPER = 'asyncops.jobs.async_wrapper'
STATUS = 'asyncops.jobs.async_status'

COMMAND_MODULES = frozenset(('ansible.builtin.command', 'ansible.legacy.command'))
SHELL_MODULES = frozenset(('ansible.builtin.shell', 'ansible.legacy.shell'))
# Action plugins that only call their module on the target: running the module alone is the same thing.
PASS_THROUGH_ACTIONS = frozenset(('ansible.builtin.normal', 'ansible.legacy.normal')) | COMMAND_MODULES | SHELL_MODULES
NATIVE_COMMAND_KEYS = frozenset(
    ('_raw_params', 'cmd', 'argv', 'chdir', 'executable', '_uses_shell', 'strip_empty_ends', 'expand_argument_vars')
)
PAYLOAD_STYLES = ('new', 'non_native_want_json', 'old', 'binary')
CONTROLLER_BACKED_HINTS = {
    'copy': 'copy the file first with a normal task, then run the long part in the background',
    'template': 'template the file first with a normal task, then run the long part in the background',
    'script': 'copy the script with a normal task, then run it with module: ansible.builtin.command',
}

Job = t.Dict[str, t.Any]


def controller_side_refusal(fqcn: str) -> AnsibleActionFail:
    short = fqcn.rsplit('.', 1)[-1]
    hint = CONTROLLER_BACKED_HINTS.get(
        short, 'run it as a normal task, or run the long part with ansible.builtin.command in the background'
    )
    return AnsibleActionFail(
        "%s is implemented by an action plugin that does not support running in the background "
        "(ansible-core refuses `async` for it too: it does its work on the controller or "
        "around the module call): %s" % (fqcn, hint)
    )


def native_command_job(check_mode: bool, fqcn: str, module_args: t.Mapping[str, t.Any]) -> Job | None:
    """command/shell run directly by the supervisor: output is visible while it runs (status tail).

    Used only when the result is exactly what ansible.builtin.command would return: not in check
    mode, and with no option that only the module implements (creates, removes, stdin, ...).
    """
    if fqcn not in COMMAND_MODULES or check_mode:
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
        cmd: t.Any = value
    else:
        argv = shlex.split(value) if isinstance(value, str) else [str(a) for a in value]
        cmd = argv
    job: Job = {
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


def payload_job(fqcn: str, style: str, shebang: str | None, data: bytes, module_args: t.Mapping[str, t.Any]) -> Job:
    """A module built on the controller, shipped as the job's payload (with an args file for old-style modules)."""
    if style not in PAYLOAD_STYLES:
        raise AnsibleActionFail(
            '%s is a %s module, which cannot run as a background job on this target' % (fqcn, style)
        )
    argv = shlex.split(shebang[2:]) if shebang else []
    argv.append('{payload}')
    job: Job = {
        'module': fqcn,
        'argv': argv,
        'result_style': 'module',
        'payload': base64.b64encode(data).decode('ascii'),
    }
    if style != 'new':
        argv.append('{args}')
        public = {k: v for k, v in module_args.items() if not (style == 'old' and k.startswith('_ansible_'))}
        if style == 'old':
            job['args_data'] = ' '.join('%s=%s' % (k, shlex.quote(str(v))) for k, v in public.items())
        else:
            job['args_data'] = json.dumps(public)
    return job


def chain_label(steps: t.Sequence[t.Mapping[str, t.Any]], always: t.Sequence[t.Mapping[str, t.Any]]) -> str:
    """What a chain runs, as its record says it (protocol.chain_module), from the steps as the task gives them."""
    return protocol.chain_module(
        [{'module': step.get('module'), 'always': False} for step in steps]
        + [{'module': step.get('module'), 'always': True} for step in always]
    )


def what_runs_problems(task_args: t.Mapping[str, t.Any]) -> list[str]:
    """What is wrong with how a task says what runs: module (with args), or steps (with always), one of the two."""
    given = {name for name in ('module', 'args', 'steps', 'always') if task_args.get(name) is not None}
    if 'module' in given and 'steps' in given:
        return ['give module (with its args), or steps (one module each), not both']
    if 'steps' in given:
        if 'args' in given:
            return ['args goes with module: with steps, each step has its own args']
        return ['steps is empty: give at least one step'] if task_args['steps'] == [] else []
    if 'always' in given:
        return ['always runs after steps: give steps too']
    if 'module' not in given:
        return ['give module (the module to run, with its args), or steps (modules to run one after another)']
    return []


def normalise_status(result: dict[str, t.Any]) -> dict[str, t.Any]:
    """ansible.builtin.async_status's compatibility shim: started/finished are booleans."""
    for key in ('started', 'finished'):
        if key in result:
            result[key] = bool(result[key])
    return result


def carries_no_log(reply: t.Mapping[str, t.Any]) -> bool:
    """Whether a status answer holds anything of a job started under no_log: then the whole answer is censored for
    display, whatever the no_log of the task that reads it (the registered result keeps it, as ansible-core does)."""
    if protocol.record_no_log(reply):
        return True
    for key in ('jobs', 'item_records'):
        entries = reply.get(key)
        if isinstance(entries, list) and any(
            isinstance(entry, dict) and protocol.record_no_log(entry) for entry in entries
        ):
            return True
    return False


def poll_line(host: str, result: t.Mapping[str, t.Any], no_log: bool = False) -> str:
    """A progress line like ansible's 'ASYNC POLL on host'; never any output of a no_log task."""
    line = 'ASYNC POLL on %s: jid=%s started=True finished=False elapsed=%ss' % (
        host,
        result.get('ansible_job_id'),
        result.get('elapsed', '?'),
    )
    step = result.get('current_step')
    if isinstance(step, dict):  # a chain: which step runs (its name only without no_log)
        line += ' step=%s' % step.get('index') if no_log else ' step=%s (%s)' % (step.get('index'), step.get('name'))
    if no_log:
        return line
    tail = (result.get('stdout_tail') or [])[-1:] or (result.get('stderr_tail') or [])[-1:]
    if tail:
        line += ' last output: %s' % tail[0][:200]
    return line
