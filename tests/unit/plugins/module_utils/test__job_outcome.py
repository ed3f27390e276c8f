# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import json
import tracemalloc

import pytest

from ansible_collections.asyncops.jobs.plugins.module_utils._job_outcome import (
    RAW_OUTPUT_LIMIT,
    Captured,
    captured_bytes,
    clip_fields,
    clip_text,
    command_result,
    interrupted_result,
    parse_module_output,
)

try:
    from ansible_collections.asyncops.jobs.plugins.module_utils._job_outcome import json_object_text
except ImportError:  # before it existed: the tests that use it fail
    json_object_text = None


def whole(data):
    return Captured(data, b'', len(data))


def test_module_json_is_the_result():
    result = parse_module_output(b'{"changed": false, "ping": "pong"}\n', b'', 0, 'exited with code 0')
    assert result == {'changed': False, 'ping': 'pong'}


def test_junk_around_json_becomes_a_warning():
    result = parse_module_output(b'MOTD junk\n{"changed": true}\ntrailing junk\n', b'', 0, 'exited with code 0')
    assert result['changed'] is True
    assert any('junk' in w for w in result['warnings'])


def test_module_stderr_is_kept_apart_from_result_stderr():
    result = parse_module_output(b'{"stderr": "from command"}', b'python warning\n', 0, 'exited with code 0')
    assert result['stderr'] == 'from command'
    assert result['module_stderr'] == 'python warning\n'


def test_non_json_output_is_a_clear_failure():
    result = parse_module_output(b'not json at all\n', b'Traceback\n', 1, 'exited with code 1')
    assert result['failed'] is True
    assert result['msg'].startswith('MODULE FAILURE')
    assert 'exited with code 1' in result['msg']
    assert result['module_stdout'] == 'not json at all\n'
    assert result['module_stderr'] == 'Traceback\n'


def test_empty_output_and_signal():
    result = parse_module_output(b'', b'', -9, 'killed by SIGKILL')
    assert 'killed by SIGKILL' in result['msg']
    assert 'printed nothing' in result['msg']


def test_non_utf8_output_is_named_and_json_safe():
    result = parse_module_output(b'\xff\xfe garbage', b'', 0, 'exited with code 0')
    assert 'not valid UTF-8' in result['msg']
    json.dumps(result)


def json_is_strict_utf8(result):
    text = json.dumps(result)
    return '\\ud' not in text and json.loads(text) == result


@pytest.mark.parametrize('raw', [b'{"msg": "\xff"}', b'{"msg": "a\xffb", "rc": 0}', b'{"msg": "\\udcff"}'])
def test_a_module_json_with_invalid_utf8_is_stored_replaced_with_a_warning(raw):
    result = parse_module_output(raw, b'', 0, 'exited with code 0')
    assert '\ufffd' in result['msg'] and not result.get('failed')
    assert any('not valid UTF-8' in w for w in result['warnings'])
    assert json_is_strict_utf8(result)


def test_a_module_killed_by_a_signal_after_printing_its_result_failed():
    result = parse_module_output(b'{"changed": true, "msg": "done"}', b'', -9, 'killed by SIGKILL')
    assert result['failed'] is True and result['rc'] == -9
    assert 'killed by SIGKILL' in result['msg'] and result['changed'] is True


def test_huge_output_is_clipped_head_and_tail():
    data = b'a' * (5 * RAW_OUTPUT_LIMIT) + b'END'
    text, cut = clip_text(data)
    assert cut
    assert text.startswith('a')
    assert text.endswith('END')
    assert len(text) < RAW_OUTPUT_LIMIT + 100
    result = parse_module_output(data, b'', 0, 'exited with code 0')
    assert result['output_truncated'] is True


def test_command_result_matches_command_module_shape():
    result = command_result(['echo', 'x'], 0, 'exited with code 0', whole(b'x\n'), whole(b''), 1000.0, 1001.5)
    assert result['stdout'] == 'x'
    assert result['rc'] == 0
    assert result['changed'] is True
    assert 'failed' not in result
    assert result['delta'] == '0:00:01.500000'
    failed = command_result('false', 1, 'exited with code 1', whole(b''), whole(b'err\n'), 1000.0, 1000.0)
    assert failed['failed'] and failed['msg'] == 'non-zero return code'
    assert failed['stderr'] == 'err'
    signalled = command_result('x', -15, 'killed by SIGTERM', whole(b''), whole(b''), 1000.0, 1000.0)
    assert signalled['msg'] == 'command killed by SIGTERM'
    bad = command_result('x', 0, 'exited with code 0', whole(b'a\xffb'), whole(b''), 1000.0, 1000.0)
    assert bad['stdout'] == 'a\ufffdb' and any('UTF-8' in w for w in bad['warnings'])


def test_captured_head_and_tail():
    captured = captured_bytes(b'0123456789', 4)
    assert captured.cut and captured.text() == '01\n[... 6 bytes of output left out ...]\n89'
    assert not captured_bytes(b'0123', 4).cut


def test_huge_module_fields_are_clipped():
    result = {'stdout': 'x' * 5000 + 'END', 'stdout_lines': ['x' * 5000 + 'END'], 'rc': 0}
    assert clip_fields(result, 1000)
    assert len(result['stdout']) < 1100 and result['stdout'].endswith('END')
    assert result['stdout_lines'][-1].endswith('END')
    assert not clip_fields({'stdout': 'small'}, 1000)


def test_interrupted_result_carries_output_so_far():
    result = interrupted_result('timedout', 'Timeout exceeded', whole(b'progress 50%\n'), whole(b''))
    assert result['timedout'] is True and result['killed'] is False
    assert result['failed'] is True
    assert result['stdout'] == 'progress 50%\n'
    assert result['stderr'] == ''


def test_parsing_a_module_output_of_many_short_lines_takes_a_few_times_its_size_in_memory():
    """Up to the parse limit (32 MiB by default) a module's stdout is read and parsed; looking for its JSON must not
    make a list of every line (50+ bytes each: 10 MB of 2-byte lines would take 300 MB). The bound, 4 x its size,
    leaves room for the text decoded from the bytes and a copy of the JSON, and catches any list of the lines."""
    for data in (
        b'ab\n' * (3 * 1000 * 1000),
        b'{"a": 1}\n' + b'y\n' * (5 * 1000 * 1000),
        b'{\n' + b'1,\n' * (5 * 1000 * 1000) + b'}\n',
    ):
        tracemalloc.start()
        try:
            result = parse_module_output(data, b'', 0, 'exited with code 0')
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 4 * len(data), (peak, len(data))
        assert bool(result.get('failed')) is (data[:2] != b'{"')  # the object followed by junk is found


@pytest.mark.parametrize(
    'text',
    [
        '{"a": 1}',
        '\n{"a": 1}\n',
        'MOTD\n  {"a": 1}  \r\ntrailing junk\n',
        'junk\r{"a": 1}',
        'a {"x": 1}\n{"a": 1}',
        '{"a": 1}\n\n  \n',
        '{"a": 1} tail\n{"b": 2}\nend',
        'no json',
        '{ no end',
        'end }\n{"a"',
        '[1, 2]\n',
        '{"a":\n  {"b": [1,\n 2]\n  }\n}\n\u2028junk',
        '  {\n"a": "}"\n}\x0cafter',
    ],
)
def test_the_json_is_found_where_ansible_core_finds_it(text):
    """The same object, warnings and errors as ansible-core's _filter_non_json_lines(objects_only=True)."""
    from ansible.module_utils.json_utils import _filter_non_json_lines

    try:
        core_text, core_warnings = _filter_non_json_lines(text, objects_only=True)
    except ValueError as exc:
        with pytest.raises(ValueError, match=str(exc)):
            json_object_text(text)
        return
    ours, warnings = json_object_text(text)
    assert ours.split() == core_text.split()  # the same text; core's lines are joined again by '\n'
    assert [w.split() for w in warnings] == [w.split() for w in core_warnings]


def test_a_warning_about_junk_after_the_json_quotes_only_its_head_and_tail():
    text, warnings = json_object_text('{"a": 1}\n' + 'junk ' * 100000 + 'END')
    assert text == '{"a": 1}' and len(warnings) == 1
    assert len(warnings[0]) < 70 * 1024 and warnings[0].endswith('END') and 'characters left out' in warnings[0]
