# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Job keys: a name the user gives a job so that running the same task again finds it instead of starting it twice.

`<async_dir>/.key-<sha256 of the key>` holds the jid of the job that has the key. It is written and read
under an exclusive lock on the async dir, so two launches with the same key never both start a job.
The file goes with the job's record (cleanup), or when pruning finds its job gone.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import typing as t

from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import (
    CREATE_FLAGS, JID_PATTERN, READ_FLAGS, JobStore, JobStoreError, open_checked, read_fd, write_all)

KEY_PREFIX = '.key-'


def key_name(key: str) -> str:
    return KEY_PREFIX + hashlib.sha256(key.encode('utf-8')).hexdigest()[:40]


class KeyLock:
    """An exclusive lock on the async dir for the time of a keyed launch (its own open file description, so a
    forked supervisor that closes its copy does not keep it)."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self.fd = store.dup()  # the async dir already checked and held open: never reopened by its path

    def __enter__(self) -> KeyLock:
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        self.store.starting[''] = self.fd  # closed in the detached children with the start locks
        return self

    def __exit__(self, *_exc: t.Any) -> None:
        if self.store.starting.pop('', None) is not None:
            os.close(self.fd)


def keyed_jid(store: JobStore, key: str) -> str | None:
    """The jid the key names, or None."""
    try:
        fd = open_checked(key_name(key), READ_FLAGS, 'file', os.path.join(store.path, key_name(key)), dir_fd=store.fd)
    except FileNotFoundError:
        return None
    try:
        jid = read_fd(fd).decode('ascii', 'replace').strip()
    finally:
        os.close(fd)
    return jid if JID_PATTERN.match(jid) else None


def claim_key(store: JobStore, key: str, jid: str) -> None:
    """Make the key name jid (atomically replacing what it named before)."""
    name = key_name(key)
    tmp = '%s.%d.tmp' % (name, os.getpid())
    fd = os.open(tmp, CREATE_FLAGS, 0o600, dir_fd=store.fd)
    try:
        write_all(fd, jid.encode('ascii'))
    finally:
        os.close(fd)
    os.rename(tmp, name, src_dir_fd=store.fd, dst_dir_fd=store.fd)


def forget_key(store: JobStore, key: str | None, jid: str) -> None:
    """Remove the key's file if it still names jid."""
    if key and keyed_jid(store, key) == jid:
        store.remove_file(key_name(key))


def stale_keys(store: JobStore) -> list[str]:
    """Key files whose job has no record any more."""
    stale = []
    for name, _st in store.entries():
        if name.startswith(KEY_PREFIX) and not name.endswith('.tmp'):
            try:
                fd = open_checked(name, READ_FLAGS, 'file', os.path.join(store.path, name), dir_fd=store.fd)
            except (OSError, JobStoreError):
                continue
            try:
                jid = read_fd(fd).decode('ascii', 'replace').strip()
            finally:
                os.close(fd)
            if not JID_PATTERN.match(jid) or not store.exists(jid):
                stale.append(name)
    return stale
