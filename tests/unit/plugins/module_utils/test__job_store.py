# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import json
import os
import re
import stat
import threading
import time

import pytest

from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import (
    JobStore,
    JobStoreError,
    resolve_async_dir,
    tail_lines,
    utf8_safe,
    validate_jid,
)

NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason='needs root to make files owned by another user')


@pytest.mark.parametrize('jid', ['j123456789012.4169', 'j1.2', 'abc_DEF-1.2'])
def test_valid_jids(jid):
    assert validate_jid(jid) == jid


@pytest.mark.parametrize(
    'jid', ['../victim', '..', '.', '/etc/passwd', 'a/b', '.hidden', '', 'x' * 200, 'j1\n', None, 12]
)
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


def refused_both_ways(path, *patterns):
    """Launch (ensure) and status (open) both refuse path, with every pattern in the message; nothing is created."""
    for open_it in (JobStore(str(path)).ensure, JobStore(str(path)).open):
        with pytest.raises(JobStoreError) as caught:
            open_it()
        for pattern in patterns:
            assert re.search(pattern, str(caught.value)), (pattern, str(caught.value))
        assert '~/.ansible_async' in str(caught.value)  # says what to do


@as_root
def test_an_async_dir_below_a_dir_of_another_user_is_refused(tmp_path):
    """The attack of the review: nobody owns the parent, so they could rename root's async dir away and put their
    own in its place (with a payload root then runs). The async dir itself is root's, 0700, and still refused."""
    theirs = tmp_path / 'attackerdir'
    theirs.mkdir(mode=0o755)
    os.chown(theirs, NOBODY, NOBODY)
    (theirs / 'async').mkdir(mode=0o700)
    refused_both_ways(theirs / 'async', re.escape(str(theirs)), 'uid %d' % NOBODY, 'mode 0755')
    refused_both_ways(theirs / 'not-yet' / 'async', re.escape(str(theirs)), 'uid %d' % NOBODY)
    assert sorted(os.listdir(theirs)) == ['async']  # nothing created below it


@as_root
def test_an_async_dir_deeper_below_a_dir_of_another_user_is_refused(tmp_path):
    theirs = tmp_path / 'theirs'
    theirs.mkdir(mode=0o755)
    os.chown(theirs, NOBODY, NOBODY)
    (theirs / 'a' / 'b').mkdir(parents=True)
    refused_both_ways(theirs / 'a' / 'b' / 'async', 'directory %s on the way' % re.escape(str(theirs)))


@pytest.mark.parametrize('mode', [0o775, 0o757, 0o777])
def test_an_async_dir_below_a_dir_others_can_write_without_sticky_bit_is_refused(tmp_path, mode):
    shared = tmp_path / 'shared'
    shared.mkdir()
    os.chmod(shared, mode)
    refused_both_ways(shared / 'async', re.escape(str(shared)), 'writable by', 'sticky', 'mode %04o' % mode)
    assert os.listdir(shared) == []


@as_root
def test_a_symlink_on_the_way_into_a_dir_of_another_user_is_refused(tmp_path):
    theirs = tmp_path / 'theirs'
    theirs.mkdir(mode=0o755)
    os.chown(theirs, NOBODY, NOBODY)
    (tmp_path / 'mine').mkdir(mode=0o700)
    (tmp_path / 'mine' / 'link').symlink_to('../theirs')
    refused_both_ways(tmp_path / 'mine' / 'link' / 'async', re.escape(str(theirs)), 'uid %d' % NOBODY)
    assert os.listdir(theirs) == []


def test_a_symlink_on_the_way_into_a_shared_dir_is_refused(tmp_path):
    shared = tmp_path / 'shared'
    shared.mkdir()
    os.chmod(shared, 0o777)
    (tmp_path / 'link').symlink_to(shared)
    refused_both_ways(tmp_path / 'link' / 'async', re.escape(str(shared)), 'writable by')


@as_root
def test_a_symlink_of_another_user_on_the_way_is_refused(tmp_path):
    """In a sticky dir such as /tmp, whoever owns a link can replace it."""
    (tmp_path / 'real').mkdir(mode=0o700)
    link = tmp_path / 'link'
    link.symlink_to(tmp_path / 'real')
    os.lchown(link, NOBODY, NOBODY)
    refused_both_ways(link / 'async', 'symbolic link %s' % re.escape(str(link)), 'uid %d' % NOBODY)


def test_safe_symlinks_on_the_way_are_followed(tmp_path):
    (tmp_path / 'real' / 'sub').mkdir(parents=True)
    (tmp_path / 'real' / 'back').symlink_to('sub/../sub')
    (tmp_path / 'link').symlink_to(tmp_path / 'real')
    store = JobStore(str(tmp_path / 'link' / 'back' / 'async')).ensure()
    assert os.path.isdir(tmp_path / 'real' / 'sub' / 'async')
    store.close()
    assert JobStore(str(tmp_path / 'link' / 'back' / 'async')).open().fd is not None


def test_a_symlink_loop_on_the_way_is_refused(tmp_path):
    (tmp_path / 'loop').symlink_to('loop')
    with pytest.raises(JobStoreError, match='too many symbolic links'):
        JobStore(str(tmp_path / 'loop' / 'async')).ensure()


def test_a_sticky_dir_of_root_that_all_can_write_is_accepted(tmp_path):
    """As /tmp: 1777, owned by root (or by us), as the /tmp every tmp_path is below."""
    sticky = tmp_path / 'tmp'
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    (sticky / 'mine').mkdir(mode=0o700)
    store = JobStore(str(sticky / 'mine' / 'async')).ensure()
    assert store.fd is not None and store.warnings == []
    assert JobStore(str(sticky / 'async')).ensure().fd is not None  # directly in it too


def test_the_default_place_below_a_private_home_is_accepted(tmp_path):
    home = tmp_path / 'root'
    home.mkdir(mode=0o700)
    store = JobStore(str(home / '.ansible_async')).ensure()
    assert store.fd is not None and store.warnings == []
    assert JobStore(str(home / '.ansible_async')).open().fd is not None


def test_missing_parents_are_created_never_writable_by_group_or_others(tmp_path):
    old = os.umask(0o002)
    try:
        JobStore(str(tmp_path / 'a' / 'b' / 'async')).ensure()
    finally:
        os.umask(old)
    for created in (tmp_path / 'a', tmp_path / 'a' / 'b'):
        assert stat.S_IMODE(os.stat(created).st_mode) == 0o755
    assert JobStore(str(tmp_path / 'a' / 'b' / 'async')).open().fd is not None


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
    assert os.listdir(store.side_dir('j1.1')) == ['.asyncops']  # the engine's marker, no temp file left behind


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
    (tmp_path / '.j3.3.job').mkdir()  # named as a side dir, not made by the engine: never listed for removal
    store.create_side_dir('j4.4')
    store.release_starting('j4.4')
    (tmp_path / 'subdir').mkdir()
    (tmp_path / 'jlink').symlink_to(tmp_path / 'j1.1')
    assert store.jids() == ['j1.1']
    assert [(name, kind) for name, kind, _mtime in store.engine_dirs()] == [('.j4.4.job', 'orphan')]


def test_a_side_dir_being_started_is_never_pruned(tmp_path):
    store = JobStore(str(tmp_path)).ensure()
    store.create_side_dir('j1.1')  # locked until its record exists
    assert not store.remove_engine_dir('.j1.1.job')
    assert os.path.isdir(store.side_dir('j1.1'))
    store.release_starting('j1.1')
    assert store.remove_engine_dir('.j1.1.job')
    assert not os.path.exists(store.side_dir('j1.1'))


def test_tail_lines():
    assert tail_lines('a\nb\nc\n', 2) == ['b', 'c']
    assert tail_lines('a', 0) == []


def test_a_delivered_copy_is_read_only_from_a_dir_the_engine_made_and_swept_by_age(tmp_path):
    """The copy of a delivered answer: written whole in a dir of the engine, read back, never read from a dir without
    the marker or through a link, swept by its age only (and never a dir the engine did not make)."""
    store = JobStore(str(tmp_path / 'async')).ensure()
    store.write_delivered('j1.1', b'{"x": 1}')
    assert store.read_delivered('j1.1') == b'{"x": 1}'
    store.write_delivered('j1.1', b'{"x": 2}')  # a later delivery replaces it
    assert store.read_delivered('j1.1') == b'{"x": 2}'
    os.mkdir(os.path.join(store.path, '.j2.1.delivered'), 0o700)
    (tmp_path / 'async' / '.j2.1.delivered' / 'answer').write_text('{"planted": 1}')
    assert store.read_delivered('j2.1') is None
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    (elsewhere / 'answer').write_text('{"linked": 1}')
    os.symlink(str(elsewhere), os.path.join(store.path, '.j3.1.delivered'))
    with pytest.raises(JobStoreError, match='symbolic link'):
        store.read_delivered('j3.1')
    store.note_delivered()
    now = time.time()
    assert store.sweep_delivered(now, 3600) == []  # nothing that old
    for name in ('.j1.1.delivered', '.j2.1.delivered'):
        os.utime(os.path.join(store.path, name), (now - 4000, now - 4000))
    os.utime(os.path.join(store.path, '.asyncops-delivered'), (now - 120, now - 120))
    assert store.sweep_delivered(now, 3600) == ['.j1.1.delivered']
    assert store.sweep_delivered(now, 3600) == []  # swept a moment ago: not again before SWEEP_INTERVAL
    assert os.path.isdir(os.path.join(store.path, '.j2.1.delivered')) and elsewhere.is_dir()
