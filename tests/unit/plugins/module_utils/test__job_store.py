# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import json
import os
import stat
import threading
import time

import pytest

from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import (
    JobStore, JobStoreError, resolve_async_dir, tail_lines, utf8_safe, validate_jid)

NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason='needs root to make files owned by another user')


@pytest.mark.parametrize('jid', ['j123456789012.4169', 'j1.2', 'abc_DEF-1.2'])
def test_valid_jids(jid):
    assert validate_jid(jid) == jid


@pytest.mark.parametrize('jid', ['../victim', '..', '.', '/etc/passwd', 'a/b', '.hidden', '', 'x' * 200, 'j1\n', None, 12])
def test_invalid_jids_are_refused(jid):
    with pytest.raises(JobStoreError, match='invalid job id'):
        validate_jid(jid)


def test_resolve_async_dir_uses_password_database_home(monkeypatch):
    monkeypatch.setenv('HOME', '/nonexistent-home')
    monkeypatch.delenv('ANSIBLE_ASYNC_DIR', raising=False)
    resolved = resolve_async_dir('~/.ansible_async')
    assert not resolved.startswith('/nonexistent-home')
    assert resolved.endswith('/.ansible_async')
    assert os.path.isabs(resolved)


def test_resolve_async_dir_absolute_relative_and_environment(tmp_path, monkeypatch):
    assert resolve_async_dir(str(tmp_path)) == str(tmp_path)
    assert os.path.isabs(resolve_async_dir('relative/dir'))
    monkeypatch.setenv('ANSIBLE_ASYNC_DIR', str(tmp_path / 'from-env'))
    assert resolve_async_dir(None) == str(tmp_path / 'from-env')
    assert resolve_async_dir(str(tmp_path / 'given')) == str(tmp_path / 'given')


def test_ensure_creates_a_private_dir(tmp_path):
    path = tmp_path / 'parent' / 'async'
    store = JobStore(str(path)).ensure()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
    assert store.warnings == []


def test_ensure_uses_an_existing_dir_of_ours_as_it_is(tmp_path):
    path = tmp_path / 'async'
    path.mkdir(mode=0o755)
    os.chmod(path, 0o755)
    store = JobStore(str(path)).ensure()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o755  # never chmodded: it may not be ours to tighten
    assert 'readable by other users' in store.warnings[0]


@pytest.mark.parametrize('mode', [0o777, 0o1777, 0o775, 0o757])
def test_ensure_refuses_a_dir_others_can_write_and_leaves_it_alone(tmp_path, mode):
    path = tmp_path / 'shared'
    path.mkdir()
    os.chmod(path, mode)
    with pytest.raises(JobStoreError, match='refusing to use %s: it is writable by' % path):
        JobStore(str(path)).ensure()
    assert stat.S_IMODE(os.stat(path).st_mode) == mode
    assert os.listdir(path) == []


def test_ensure_refuses_a_symlinked_dir_and_leaves_its_target_alone(tmp_path):
    victim = tmp_path / 'victim_dir'
    victim.mkdir()
    os.chmod(victim, 0o755)
    link = tmp_path / 'link'
    link.symlink_to(victim)
    with pytest.raises(JobStoreError, match='symbolic link'):
        JobStore(str(link)).ensure()
    with pytest.raises(JobStoreError, match='symbolic link'):
        JobStore(str(link)).open()
    assert stat.S_IMODE(os.stat(victim).st_mode) == 0o755
    assert os.listdir(victim) == []


def test_ensure_refuses_a_file(tmp_path):
    path = tmp_path / 'file'
    path.write_text('x')
    with pytest.raises(JobStoreError, match='not a directory'):
        JobStore(str(path)).ensure()


@as_root
def test_a_dir_of_another_user_is_refused_naming_its_owner(tmp_path):
    path = tmp_path / 'theirs'
    path.mkdir(mode=0o700)
    os.chown(path, NOBODY, NOBODY)
    for open_it in (JobStore(str(path)).ensure, JobStore(str(path)).open):
        with pytest.raises(JobStoreError, match=r'belongs to .*uid %d' % NOBODY):
            open_it()


def test_missing_dir_holds_no_jobs(tmp_path):
    store = JobStore(str(tmp_path / 'none')).open()
    assert store.read('j1.1') is None and store.jids() == [] and not store.exists('j1.1')
    assert not os.path.exists(tmp_path / 'none')


def test_write_is_atomic_private_and_readable(tmp_path):
    store = JobStore(str(tmp_path / 'async')).ensure()
    store.create_side_dir('j1.1')
    store.write('j1.1', {'started': True, 'finished': False})
    path = store.record_path('j1.1')
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert store.read('j1.1') == {'started': True, 'finished': False}
    assert os.listdir(store.side_dir('j1.1')) == []  # no temp file left behind


def test_records_are_always_valid_utf8_json(tmp_path):
    store = JobStore(str(tmp_path / 'async')).ensure()
    store.create_side_dir('j1.1')
    store.write('j1.1', {'msg': 'a\udcffb', 'k\udcfe': ['\ud800']})
    raw = open(store.record_path('j1.1'), 'rb').read()
    assert json.loads(raw.decode('utf-8')) == {'msg': 'a\ufffdb', 'k\ufffd': ['\ufffd']}
    assert 'udc' not in raw.decode('ascii')
    assert utf8_safe({'ok': ['fine']}) == ({'ok': ['fine']}, False)


def test_a_record_with_lone_surrogates_written_by_someone_else_reads_clean(tmp_path):
    store = JobStore(str(tmp_path)).ensure()
    (tmp_path / 'j1.1').write_text('{"msg": "a\\udcffb"}')
    assert store.read('j1.1') == {'msg': 'a\ufffdb'}


def test_write_after_remove_does_not_recreate_record(tmp_path):
    store = JobStore(str(tmp_path / 'async')).ensure()
    store.create_side_dir('j1.1')
    store.release_starting('j1.1')
    store.write('j1.1', {'started': True})
    assert store.remove('j1.1')
    with pytest.raises(OSError):
        store.write('j1.1', {'finished': True})
    assert not store.exists('j1.1')


def test_a_cleaned_up_record_never_reappears_under_stress(tmp_path):
    """A writer finishing its job races the cleanup (360 trials): once remove() returned, no write may bring it back.

    Before the side dir was renamed away first, rmtree could fail (ENOTEMPTY) on the writer's temp file and the
    writer's rename then restored the record."""
    store = JobStore(str(tmp_path / 'async')).ensure()
    reappeared = 0
    for trial in range(360):
        jid = 'j%d.1' % trial
        store.create_side_dir(jid)
        store.release_starting(jid)
        store.write(jid, {'n': 0})
        removed = threading.Event()
        late_writes: list[int] = []

        def writer(jid=jid, removed=removed, late_writes=late_writes):  # pylint: disable=dangerous-default-value
            after = 0
            for n in range(1000):
                done = removed.is_set()
                try:
                    store.write(jid, {'n': n})
                    if done:
                        late_writes.append(n)
                except OSError:
                    pass
                after += done
                if after > 5:
                    return
                time.sleep(0.0001)

        thread = threading.Thread(target=writer)
        thread.start()
        time.sleep(0.0005 * (trial % 7))
        store.remove(jid)
        removed.set()
        thread.join()
        if store.exists(jid) or late_writes:
            reappeared += 1
    assert reappeared == 0
    assert os.listdir(store.path) == []


def test_read_missing_empty_and_corrupt_never_shows_content(tmp_path):
    store = JobStore(str(tmp_path)).ensure()
    assert store.read('j9.9') is None
    (tmp_path / 'j1.1').write_text('')
    assert store.read('j1.1') == {}
    (tmp_path / 'j2.2').write_text('{SECRET_TOKEN not json')
    with pytest.raises(JobStoreError, match='not valid JSON') as caught:
        store.read('j2.2')
    assert 'SECRET' not in str(caught.value)
    (tmp_path / 'j3.3').write_text('[1, 2]')
    with pytest.raises(JobStoreError, match='JSON object'):
        store.read('j3.3')


def test_a_symlinked_record_is_refused_without_reading_it(tmp_path):
    secret = tmp_path / 'shadow'
    secret.write_text('root:SECRET_HASH:19000:0:99999:7:::\n')
    async_dir = tmp_path / 'async'
    store = JobStore(str(async_dir)).ensure()
    (async_dir / 'jx').symlink_to(secret)
    with pytest.raises(JobStoreError, match='symbolic link') as caught:
        store.read('jx')
    assert 'SECRET' not in str(caught.value)


def test_a_record_others_can_write_is_refused(tmp_path):
    store = JobStore(str(tmp_path)).ensure()
    (tmp_path / 'j1.1').write_text('{}')
    os.chmod(tmp_path / 'j1.1', 0o666)
    with pytest.raises(JobStoreError, match='writable by'):
        store.read('j1.1')
    assert store.jids() == []
    assert 'writable by' in store.warnings[0]


@as_root
def test_a_record_of_another_user_is_refused(tmp_path):
    store = JobStore(str(tmp_path)).ensure()
    (tmp_path / 'j1.1').write_text('{"started": 1, "finished": 0}')
    os.chown(tmp_path / 'j1.1', NOBODY, NOBODY)
    with pytest.raises(JobStoreError, match='belongs to'):
        store.read('j1.1')


def test_output_files_are_only_read_inside_the_side_dir(tmp_path):
    store = JobStore(str(tmp_path / 'async')).ensure()
    store.create_side_dir('j1.1')
    os.symlink(str(tmp_path), os.path.join(store.side_dir('j1.1'), 'stdout'))
    with pytest.raises(JobStoreError, match='not a regular file|symbolic link'):
        store.read_output('j1.1', 'stdout', 10, 10)
    assert store.read_output('j1.1', 'stderr', 10, 10) == (b'', b'', 0)


def test_read_output_head_and_tail(tmp_path):
    store = JobStore(str(tmp_path / 'async')).ensure()
    store.create_side_dir('j1.1')
    store.write_side_file('j1.1', 'stdout', b'0123456789' * 10)
    assert store.read_output('j1.1', 'stdout', 1000, 0) == (b'0123456789' * 10, b'', 100)
    assert store.read_output('j1.1', 'stdout', 5, 5) == (b'01234', b'56789', 100)


def test_jids_lists_only_records(tmp_path):
    store = JobStore(str(tmp_path)).ensure()
    (tmp_path / 'j1.1').write_text('{}')
    (tmp_path / 'j2.2.tmp').write_text('{}')
    (tmp_path / '.j3.3.job').mkdir()
    (tmp_path / 'subdir').mkdir()
    (tmp_path / 'jlink').symlink_to(tmp_path / 'j1.1')
    assert store.jids() == ['j1.1']
    assert [name for name, _mtime in store.orphan_side_dirs()] == ['.j3.3.job']


def test_a_side_dir_being_started_is_never_pruned(tmp_path):
    store = JobStore(str(tmp_path)).ensure()
    store.create_side_dir('j1.1')  # locked until its record exists
    assert not store.remove_orphan('.j1.1.job')
    assert os.path.isdir(store.side_dir('j1.1'))
    store.release_starting('j1.1')
    assert store.remove_orphan('.j1.1.job')
    assert not os.path.exists(store.side_dir('j1.1'))


def test_tail_lines():
    assert tail_lines('a\nb\nc\n', 2) == ['b', 'c']
    assert tail_lines('a', 0) == []
