# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Turning what a finished job left behind (exit status, captured output) into its result record.

Records stay bounded: a command's stdout/stderr larger than the output limit is kept whole in a
file on the target and the record gets its head and tail, saying so. A module's stdout is parsed
as its result only up to module_parse_limit(output_limit): a bigger one is never read into memory.
"""

from __future__ import annotations

import datetime
import json
import re
import typing as t

from ansible_collections.asyncops.jobs.plugins.module_utils._job_protocol import DEFAULTS
from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import utf8_safe

# How much raw output a failure record carries (head + tail) to explain a module that printed no JSON.
RAW_OUTPUT_LIMIT = 256 * 1024
INVALID_UTF8_WARNING = (
    'the job\'s output held bytes that are not valid UTF-8: they were replaced by U+FFFD in its result'
)
# where str.splitlines() ends a line, and the blanks that str.strip() removes within one
LINE_BREAKS = '\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029'
BLANK = '[^\\S%s]' % LINE_BREAKS
OBJECT_LINE_START = re.compile('(?:\\A|(?<=[%s]))%s*\\{' % (LINE_BREAKS, BLANK))
BLANKS_TO_LINE_END = re.compile('%s*(?:\r\n|[%s]|\\Z)' % (BLANK, LINE_BREAKS))
NOT_BLANK = re.compile('\\S')
# the most of the junk after a module's JSON that its warning quotes (head and tail)
JUNK_LIMIT = 64 * 1024


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
        return (
            decode(self.head)
            + '\n[... %d bytes of output left out ...]\n' % (self.size - len(self.head) - len(self.tail))
            + decode(self.tail)
        )


def decode(data: bytes) -> str:
    return data.decode('utf-8', 'replace')


def captured_bytes(data: bytes, limit: int) -> Captured:
    """The head and tail of data in memory, bounded like a captured stream."""
    if len(data) <= limit:
        return Captured(data, b'', len(data))
    half = limit // 2
    return Captured(data[:half], data[len(data) - (limit - half) :], len(data))


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


def module_parse_limit(output_limit: int) -> int:
    """The most bytes of a module's stdout that are parsed as its result: 8 x output_limit, and never less than 8 x its
    default (32 MiB). A result bigger than output_limit is normal: a command module's holds stdout and stdout_lines
    (and stderr, stderr_lines), each up to output_limit, and JSON escapes non-ASCII text as \\uXXXX (up to 6 bytes
    a character); facts or package lists do not depend on output_limit at all. Parsing takes about 4 times the
    output's size in memory, so this bounds the supervisor's too."""
    return 8 * max(output_limit, int(DEFAULTS['output_limit']))


class ModuleOutput(t.NamedTuple):
    """A module job's result, and whether it shows only part of the raw stdout / stderr (to be kept on the target)."""

    result: dict[str, t.Any]
    stdout_clipped: bool
    stderr_clipped: bool


def parse_module_output(stdout: bytes, stderr: bytes, rc: int, exit_text: str) -> dict[str, t.Any]:
    """The result of a module job: its JSON object, or a clear failure carrying the raw output."""
    return read_module_output(stdout, captured_bytes(stderr, RAW_OUTPUT_LIMIT), rc, exit_text).result


def read_module_output(
    stdout: bytes, stderr: Captured, rc: int, exit_text: str, raw_limit: int = RAW_OUTPUT_LIMIT
) -> ModuleOutput:
    """The result of a module job: its JSON object, or a clear failure carrying the raw output (raw_limit bytes of
    stdout at most, head and tail; stderr as captured).

    A module that printed its result but was then killed by a signal failed: its result may be
    incomplete. Bytes that are not UTF-8 are replaced, with a warning, so the record stays readable."""
    text = stdout.decode('utf-8', 'surrogateescape')
    try:
        filtered, warnings = json_object_text(text)
        result = json.loads(filtered)
        if not isinstance(result, dict):
            raise ValueError('not a JSON object')
    except ValueError as exc:
        return ModuleOutput(
            module_failure(stdout, stderr, rc, exit_text, str(exc), raw_limit), len(stdout) > raw_limit, stderr.cut
        )
    result, replaced = t.cast(t.Tuple[t.Dict[str, t.Any], bool], utf8_safe(result))
    if replaced or not is_utf8(stdout):
        warnings.append(INVALID_UTF8_WARNING)
    if warnings:
        add_warnings(result, warnings)
    shows_stderr = bool(stderr.data().strip())
    if shows_stderr:
        result['module_stderr'] = stderr.text()
    if rc < 0:
        result.update(
            failed=True,
            rc=rc,
            msg='the module printed its result and was then %s: the result may be incomplete (%s)'
            % (exit_text, result.get('msg') or 'no message'),
        )
    return ModuleOutput(result, False, shows_stderr and stderr.cut)


def unparsed_module_output(
    stdout: Captured, stderr: Captured, rc: int, exit_text: str, parse_limit: int
) -> ModuleOutput:
    """The failure of a module whose stdout is bigger than what is parsed as a result (its head and tail are shown)."""
    result = {
        'failed': True,
        'rc': rc,
        'msg': 'MODULE FAILURE: the module %s and printed %d bytes on stdout, more than the %d that are parsed as a '
        'module\'s result (8 x output_limit, at least 32 MiB): it was not parsed. See module_stdout (its first and '
        'last part), module_stderr and stdout_file (all of it)' % (exit_text, stdout.size, parse_limit),
        'module_stdout': stdout.text(),
        'module_stderr': stderr.text(),
        'output_truncated': True,
    }
    return ModuleOutput(result, True, stderr.cut)


def json_object_text(text: str) -> tuple[str, list[str]]:
    """The JSON object in a module's output, and a warning about junk after it, where ansible-core's
    _filter_non_json_lines(text, objects_only=True) finds them: from the first line that starts with '{' to the last
    line that ends with '}' (blanks aside); junk before it is ignored, junk after it is warned about. Found by searching
    the text rather than by making a list of its lines, which for an output of short lines takes tens of times its
    size in memory. Raises ValueError as _filter_non_json_lines does."""
    first = OBJECT_LINE_START.search(text) if '{' in text else None
    if first is None:
        raise ValueError('No start of json char found')
    start = first.end() - 1
    end = len(text)
    while True:
        brace = text.rfind('}', start, end)
        if brace < 0:
            raise ValueError('No end of json char found')
        line_end = BLANKS_TO_LINE_END.match(text, brace + 1)
        if line_end is not None:
            break
        end = brace
    warnings = []
    if NOT_BLANK.search(text, line_end.end()):
        warnings.append('Module invocation had junk after the JSON data: %s' % clipped_junk(text, line_end.end()))
    return text[start : brace + 1], warnings


def clipped_junk(text: str, start: int) -> str:
    """text from start on, its head and tail only when longer than JUNK_LIMIT (a warning stays small)."""
    size = len(text) - start
    if size <= JUNK_LIMIT:
        return text[start:].rstrip(LINE_BREAKS)
    half = JUNK_LIMIT // 2
    return '%s\n[... %d characters left out ...]\n%s' % (
        text[start : start + half],
        size - 2 * half,
        text[len(text) - half :].rstrip(LINE_BREAKS),
    )


def add_warnings(result: dict[str, t.Any], warnings: t.Sequence[str]) -> None:
    found = result.get('warnings') or []
    result['warnings'] = (found if isinstance(found, list) else [found]) + list(warnings)


def module_failure(
    stdout: bytes, stderr: Captured, rc: int, exit_text: str, reason: str, raw_limit: int = RAW_OUTPUT_LIMIT
) -> dict[str, t.Any]:
    out, out_cut = clip_text(stdout, raw_limit)
    err, err_cut = stderr.text(), stderr.cut
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


def command_result(
    cmd: t.Any,
    rc: int,
    exit_text: str,
    stdout: Captured,
    stderr: Captured,
    started_at: float,
    ended_at: float,
    strip_empty_ends: bool = True,
) -> dict[str, t.Any]:
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
