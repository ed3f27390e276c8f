# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Turning what a finished job left behind (exit status, captured output) into its result record.

Records stay bounded: a command's stdout/stderr larger than the output limit is kept whole in a
file on the target and the record gets its head and tail, saying so.
"""

from __future__ import annotations

import datetime
import json
import typing as t

from ansible.module_utils.json_utils import _filter_non_json_lines

from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import utf8_safe

# How much raw output a failure record carries (head + tail) to explain a module that printed no JSON.
RAW_OUTPUT_LIMIT = 256 * 1024
INVALID_UTF8_WARNING = ('the job\'s output held bytes that are not valid UTF-8: they were replaced by U+FFFD in its '
                        'result')


class Captured(t.NamedTuple):
    """What a job wrote on one stream: all of it (tail empty), or its head and tail when it is bigger."""
    head: bytes
    tail: bytes
    size: int

    @property
    def cut(self) -> bool:
        return self.size > len(self.head) + len(self.tail)

    def data(self) -> bytes:
        return self.head + self.tail

    def text(self) -> str:
        if not self.cut:
            return decode(self.head)
        return (decode(self.head) + '\n[... %d bytes of output left out ...]\n' % (self.size - len(self.head) - len(self.tail))
                + decode(self.tail))


def decode(data: bytes) -> str:
    return data.decode('utf-8', 'replace')


def captured_bytes(data: bytes, limit: int) -> Captured:
    """The head and tail of data in memory, bounded like a captured stream."""
    if len(data) <= limit:
        return Captured(data, b'', len(data))
    half = limit // 2
    return Captured(data[:half], data[len(data) - (limit - half):], len(data))


def clip_text(data: bytes, limit: int = RAW_OUTPUT_LIMIT) -> tuple[str, bool]:
    """Decode bytes for a JSON record (undecodable bytes replaced) keeping head and tail; (text, was_cut)."""
    captured = captured_bytes(data, limit)
    return captured.text(), captured.cut


def is_utf8(data: bytes) -> bool:
    try:
        data.decode('utf-8')
    except UnicodeDecodeError:
        return False
    return True


def parse_module_output(stdout: bytes, stderr: bytes, rc: int, exit_text: str) -> dict[str, t.Any]:
    """The result of a module job: its JSON object, or a clear failure carrying the raw output.

    A module that printed its result but was then killed by a signal failed: its result may be
    incomplete. Bytes that are not UTF-8 are replaced, with a warning, so the record stays readable."""
    text = stdout.decode('utf-8', 'surrogateescape')
    try:
        filtered, warnings = _filter_non_json_lines(text, objects_only=True)
        result = json.loads(filtered)
        if not isinstance(result, dict):
            raise ValueError('not a JSON object')
    except ValueError as exc:
        return module_failure(stdout, stderr, rc, exit_text, str(exc))
    result, replaced = t.cast(t.Tuple[t.Dict[str, t.Any], bool], utf8_safe(result))
    if replaced or not is_utf8(stdout):
        warnings.append(INVALID_UTF8_WARNING)
    if warnings:
        add_warnings(result, warnings)
    if stderr.strip():
        result['module_stderr'] = clip_text(stderr)[0]
    if rc < 0:
        result.update(failed=True, rc=rc,
                      msg='the module printed its result and was then %s: the result may be incomplete (%s)'
                          % (exit_text, result.get('msg') or 'no message'))
    return result


def add_warnings(result: dict[str, t.Any], warnings: t.Sequence[str]) -> None:
    found = result.get('warnings') or []
    result['warnings'] = (found if isinstance(found, list) else [found]) + list(warnings)


def module_failure(stdout: bytes, stderr: bytes, rc: int, exit_text: str, reason: str) -> dict[str, t.Any]:
    out, out_cut = clip_text(stdout)
    err, err_cut = clip_text(stderr)
    problems = []
    if not stdout.strip():
        problems.append('printed nothing on stdout')
    else:
        problems.append('printed %d bytes that are not a JSON result (%s)' % (len(stdout), reason))
    if not is_utf8(stdout):
        problems.append('its output is not valid UTF-8 (undecodable bytes shown as U+FFFD)')
    result = {
        'failed': True,
        'rc': rc,
        'msg': 'MODULE FAILURE: the module %s and %s. See module_stdout and module_stderr.'
               % (exit_text, '; '.join(problems)),
        'module_stdout': out,
        'module_stderr': err,
    }
    if out_cut or err_cut:
        result['output_truncated'] = True
    return result


def command_result(cmd: t.Any, rc: int, exit_text: str, stdout: Captured, stderr: Captured, started_at: float,
                   ended_at: float, strip_empty_ends: bool = True) -> dict[str, t.Any]:
    """A result shaped like ansible.builtin.command's, for jobs run as a plain command."""
    out, err = stdout.text(), stderr.text()
    if strip_empty_ends:
        out, err = out.rstrip('\r\n'), err.rstrip('\r\n')
    start = datetime.datetime.fromtimestamp(started_at)
    end = datetime.datetime.fromtimestamp(ended_at)
    result = {
        'changed': True,
        'cmd': cmd,
        'rc': rc,
        'stdout': out,
        'stderr': err,
        'start': str(start),
        'end': str(end),
        'delta': str(end - start),
        'msg': '',
    }
    if rc != 0:
        result['failed'] = True
        result['msg'] = 'non-zero return code' if rc > 0 else 'command %s' % exit_text
    if not (is_utf8(stdout.data()) and is_utf8(stderr.data())):
        add_warnings(result, [INVALID_UTF8_WARNING])
    return result


def interrupted_result(reason: str, msg: str, stdout: Captured, stderr: Captured) -> dict[str, t.Any]:
    """The record of a job that was stopped (timed out or killed), with the output captured so far."""
    return {
        'failed': True,
        'changed': True,
        'msg': msg,
        'stdout': stdout.text(),
        'stderr': stderr.text(),
        'timedout': reason == 'timedout',
        'killed': reason == 'killed',
    }


def clip_fields(result: dict[str, t.Any], limit: int) -> bool:
    """Clip huge stdout/stderr strings of a module's result to head and tail (and their *_lines); True if any."""
    cut = False
    for key in ('stdout', 'stderr'):
        value = result.get(key)
        if isinstance(value, str) and len(value) > limit:
            text, _cut = clip_text(value.encode('utf-8'), limit)
            result[key] = text
            if isinstance(result.get(key + '_lines'), list):
                result[key + '_lines'] = text.splitlines()
            cut = True
    return cut
