# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import fcntl
import os

import pytest

from ansible_collections.asyncops.jobs.plugins.module_utils._job_keys import KeyLock, claim_key, keyed_jid
from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import JobStore


def test_the_key_lock_is_taken_on_the_async_dir_held_open_not_on_its_path(tmp_path):
    """Once checked and opened, the async dir is never reopened by its path: what the path names later (another
    directory put there) is not what is locked."""
    path = tmp_path / 'async'
    store = JobStore(str(path)).ensure()
    os.rename(path, tmp_path / 'moved')
    path.mkdir(mode=0o700)  # a directory of ours now has the path: reopening the path would not even refuse it
    with KeyLock(store) as lock:
        held, locked = os.fstat(store.fd), os.fstat(lock.fd)
        assert (locked.st_dev, locked.st_ino) == (held.st_dev, held.st_ino)
        claim_key(store, 'k', 'j1.1')
        assert keyed_jid(store, 'k') == 'j1.1'
    assert os.listdir(path) == []
    store.close()


def test_the_key_lock_is_exclusive_and_released(tmp_path):
    store = JobStore(str(tmp_path / 'async')).ensure()
    other = os.open(str(tmp_path / 'async'), os.O_RDONLY | os.O_DIRECTORY)
    try:
        with KeyLock(store):
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(other)
        store.close()
