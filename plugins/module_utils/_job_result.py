# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Turning what a finished job left behind (exit status, captured output) into its result record."""

from __future__ import annotations

import datetime
import json
import os

from ansible.module_utils.json_utils import _filter_non_json_lines

# How much raw output a failure record carries (head + tail); the full files stay in the side dir.
RAW_OUTPUT_LIMIT = 256 * 1024


def read_bytes(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except (IOError, OSError):
        return b''


def clip_text(data, limit=RAW_OUTPUT_LIMIT):
    """Decode bytes for a JSON record (undecodable bytes replaced) keeping head and tail; (text, was_cut)."""
    if len(data) <= limit:
        return data.decode('utf-8', 'replace'), False
    half = limit // 2
    cut = len(data) - 2 * half
    text = (data[:half].decode('utf-8', 'replace')
            + '\n[... %d bytes of output left out ...]\n' % cut
            + data[-half:].decode('utf-8', 'replace'))
    return text, True


def is_utf8(data):
    try:
        data.decode('utf-8')
    except UnicodeDecodeError:
        return False
    return True


def parse_module_output(stdout, stderr, rc, exit_text):
    """The result of a module job: its JSON object, or a clear failure carrying the raw output."""
    text = stdout.decode('utf-8', 'surrogateescape')
    try:
        filtered, warnings = _filter_non_json_lines(text, objects_only=True)
        result = json.loads(filtered)
        if not isinstance(result, dict):
            raise ValueError('not a JSON object')
    except ValueError as exc:
        return module_failure(stdout, stderr, rc, exit_text, str(exc))
    if warnings:
        found = result.get('warnings') or []
        result['warnings'] = (found if isinstance(found, list) else [found]) + warnings
    if stderr.strip():
        result['module_stderr'] = clip_text(stderr)[0]
    return result


def module_failure(stdout, stderr, rc, exit_text, reason):
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


def command_result(cmd, rc, exit_text, stdout, stderr, started_at, ended_at, strip_empty_ends=True):
    """A result shaped like ansible.builtin.command's, for jobs run as a plain command."""
    out, err = stdout.decode('utf-8', 'replace'), stderr.decode('utf-8', 'replace')
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
    return result


def interrupted_result(reason, msg, stdout_path, stderr_path):
    """The record of a job that was stopped (timed out or killed), with the output captured so far."""
    out, out_cut = clip_text(read_bytes(stdout_path))
    err, err_cut = clip_text(read_bytes(stderr_path))
    result = {
        'failed': True,
        'changed': True,
        'msg': msg,
        'stdout': out,
        'stderr': err,
        'timedout': reason == 'timedout',
        'killed': reason == 'killed',
    }
    if out_cut or err_cut:
        result['output_truncated'] = True
    return result


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
