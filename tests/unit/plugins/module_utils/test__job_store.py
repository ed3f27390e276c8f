# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import (
    JobStore, JobStoreError, read_tail, resolve_async_dir, tail_lines, validate_jid, write_json_atomic)


@pytest.mark.parametrize('jid', ['j123456789012.4169', 'j1.2', 'abc_DEF-1.2'])
def test_valid_jids(jid):
    assert validate_jid(jid) == jid


@pytest.mark.parametrize('jid', ['../victim', '..', '.', '/etc/passwd', 'a/b', '.hidden', '', 'x' * 200, 'j1\n', None, 12])
def test_invalid_jids_are_refused(jid):
    with pytest.raises(JobStoreError, match='invalid job id'):
        validate_jid(jid)


def test_resolve_async_dir_uses_password_database_home(monkeypatch):
    monkeypatch.setenv('HOME', '/nonexistent-home')
    resolved = resolve_async_dir('~/.ansible_async')
    assert not resolved.startswith('/nonexistent-home')
    assert resolved.endswith('/.ansible_async')
    assert os.path.isabs(resolved)


def test_resolve_async_dir_absolute_and_relative(tmp_path):
    assert resolve_async_dir(str(tmp_path)) == str(tmp_path)
    assert os.path.isabs(resolve_async_dir('relative/dir'))


def test_ensure_creates_private_dir_and_tightens(tmp_path):
    path = tmp_path / 'async'
    JobStore(str(path)).ensure()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
    os.chmod(path, 0o755)
    JobStore(str(path)).ensure()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700


def test_ensure_refuses_a_file(tmp_path):
    path = tmp_path / 'file'
    path.write_text('x')
    with pytest.raises(JobStoreError, match='not a directory'):
        JobStore(str(path)).ensure()


def test_write_is_atomic_private_and_readable(tmp_path):
    store = JobStore(str(tmp_path / 'async')).ensure()
    store.create_side_dir('j1.1')
    store.write('j1.1', {'started': True, 'finished': False})
    path = store.record_path('j1.1')
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert store.read('j1.1') == {'started': True, 'finished': False}
    assert os.listdir(store.side_dir('j1.1')) == []  # no temp file left behind


def test_write_after_remove_does_not_recreate_record(tmp_path):
    store = JobStore(str(tmp_path / 'async')).ensure()
    store.create_side_dir('j1.1')
    store.write('j1.1', {'started': True})
    assert store.remove('j1.1')
    with pytest.raises(OSError):
        store.write('j1.1', {'finished': True})
    assert not store.exists('j1.1')


def test_read_missing_empty_and_corrupt(tmp_path):
    store = JobStore(str(tmp_path)).ensure()
    assert store.read('j9.9') is None
    (tmp_path / 'j1.1').write_text('')
    assert store.read('j1.1') == {}
    (tmp_path / 'j2.2').write_text('{not json')
    with pytest.raises(JobStoreError, match='not valid JSON'):
        store.read('j2.2')
    (tmp_path / 'j3.3').write_text('[1, 2]')
    with pytest.raises(JobStoreError, match='JSON object'):
        store.read('j3.3')


def test_jids_lists_only_records(tmp_path):
    store = JobStore(str(tmp_path)).ensure()
    (tmp_path / 'j1.1').write_text('{}')
    (tmp_path / 'j2.2.tmp').write_text('{}')
    (tmp_path / '.j3.3.job').mkdir()
    (tmp_path / 'subdir').mkdir()
    assert store.jids() == ['j1.1']
    assert store.orphan_side_dirs() == ['j3.3']


def test_write_json_atomic_cleans_up_on_failure(tmp_path):
    with pytest.raises(OSError):
        write_json_atomic(str(tmp_path / 'missing-dir' / 'rec'), {'a': 1}, str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_read_tail(tmp_path):
    path = tmp_path / 'out'
    path.write_bytes(b'line1\nline2\n\xff\xfeline3\n')
    text, cut = read_tail(str(path), 8)
    assert cut
    assert text.endswith('line3\n')
    assert tail_lines('a\nb\nc\n', 2) == ['b', 'c']
    assert tail_lines('a', 0) == []
    assert read_tail(str(tmp_path / 'none'), 10) == ('', False)
    json.dumps(read_tail(str(path), 100)[0])  # always JSON-safe
