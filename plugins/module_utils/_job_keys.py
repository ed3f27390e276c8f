# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Job keys: a name the user gives a job so that running the same task again finds it instead of starting it twice.

`<async_dir>/.key-<sha256 of the key>` holds the jid of the job that has the key (after a first line that says
it is a key file of this collection). It is written and read under an exclusive lock on the async dir, so two
launches with the same key never both start a job. The file goes with the job's record (cleanup, collection),
or when pruning finds its job gone: only a file named and written as a key file (or, made by an older version,
holding nothing but a job id) is ever removed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import time
import typing as t

from ansible_collections.asyncops.jobs.plugins.module_utils import _job_protocol as protocol
from ansible_collections.asyncops.jobs.plugins.module_utils._job_store import (
    CREATE_FLAGS,
    READ_FLAGS,
    JobStore,
    JobStoreError,
    open_checked,
    read_fd,
    write_all,
)

KEY_PREFIX = '.key-'
KEY_FILE = re.compile(r'\A\.key-[0-9a-f]{40}\Z')
KEY_TMP_FILE = re.compile(r'\A\.key-[0-9a-f]{40}\.[0-9]+\.tmp\Z')
KEY_HEADER = b'asyncops.jobs key of job:\n'


def digest(value: t.Any) -> str:
    """A short digest of a JSON-able value (dict keys in any order compare equal): what a key compares of a job's work
    (its args, its items), without keeping the values, which can be a no_log task's."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode('utf-8')).hexdigest()[:24]


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
    return key_file_jid(store, key_name(key), missing_ok=True)


def key_file_jid(store: JobStore, name: str, missing_ok: bool = False) -> str | None:
    """The jid a key file names; None when it is missing (missing_ok) or is not a key file written by the engine."""
    try:
        fd = open_checked(name, READ_FLAGS, 'file', os.path.join(store.path, name), dir_fd=store.fd)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise
    try:
        content = read_fd(fd)
    finally:
        os.close(fd)
    return parse_key_file(content)


def parse_key_file(content: bytes) -> str | None:
    """The jid in a key file's content: after the header, or (written by an older version) the whole content."""
    if content.startswith(KEY_HEADER):
        content = content[len(KEY_HEADER) :]
    jid = content.decode('ascii', 'replace').strip()
    return jid if protocol.JID_PATTERN.match(jid) and content.strip() == jid.encode('ascii') else None


def claim_key(store: JobStore, key: str, jid: str) -> None:
    """Make the key name jid (atomically replacing what it named before)."""
    name = key_name(key)
    tmp = '%s.%d.tmp' % (name, os.getpid())
    fd = os.open(tmp, CREATE_FLAGS, 0o600, dir_fd=store.fd)
    try:
        write_all(fd, KEY_HEADER + jid.encode('ascii') + b'\n')
    finally:
        os.close(fd)
    os.rename(tmp, name, src_dir_fd=store.fd, dst_dir_fd=store.fd)


def forget_key(store: JobStore, key: str | None, jid: str) -> None:
    """Remove the key's file if it still names jid."""
    if key and keyed_jid(store, key) == jid:
        store.remove_file(key_name(key))


def stale_keys(store: JobStore, older_than: float = 0.0) -> list[str]:
    """Key files (named and written as the engine writes them) whose job has no record any more, and temp files of
    a key write that a crash left, older than older_than seconds. Nothing else that starts with .key- is listed."""
    stale = []
    now = time.time()
    for name, st in store.entries():
        if KEY_TMP_FILE.match(name):
            if now - st.st_mtime >= older_than and _is_ours(store, name):
                stale.append(name)
            continue
        if not KEY_FILE.match(name):
            continue
        try:
            jid = key_file_jid(store, name)
        except (OSError, JobStoreError):
            continue
        if jid is not None and not store.exists(jid):
            stale.append(name)
    return stale


def _is_ours(store: JobStore, name: str) -> bool:
    try:
        os.close(open_checked(name, READ_FLAGS, 'file', os.path.join(store.path, name), dir_fd=store.fd))
    except (OSError, JobStoreError):
        return False
    return True


class KeyMismatch(Exception):
    """A key names a job that does other work than the launch asks for."""


WORK_WORDS = {'kind': 'kind of job', 'module': 'module', 'args': 'args', 'items': 'items', 'jobs': 'jobs'}


def check_same_work(jid: str, meta: t.Mapping[str, t.Any], params: t.Mapping[str, t.Any]) -> None:
    """Raise KeyMismatch naming what differs between the job a key names and the work asked for (never the values:
    they can be a no_log task's)."""
    wanted, found = params['work'], meta.get('work')
    kind = 'batch' if meta.get('kind') == protocol.BATCH else 'job'
    if not isinstance(found, dict):  # a record of an older version: only its kind can be told
        found = {'kind': kind}
    differs = [
        name
        for name in ('kind', 'module', 'args', 'items', 'jobs')
        if name in found and name in wanted and found[name] != wanted[name]
    ]
    if differs:
        key = 'the key (censored, no_log)' if params.get('no_log') else 'key %r' % params['key']
        raise KeyMismatch(
            '%s names %s %s, which does other work (%s): a key attaches only to the same kind of job with the '
            'same module, args and items. Use another key, or collect or clean up that job first '
            '(asyncops.jobs.async_status jid=%s mode=cleanup)'
            % (key, 'batch' if kind == 'batch' else 'job', jid, differ(WORK_WORDS[name] for name in differs), jid)
        )


def differ(words: t.Iterable[str]) -> str:
    """'its items differ', 'its module differs', 'its kind of job, args differ'."""
    words = list(words)
    plural = len(words) > 1 or words[0] in ('args', 'items', 'jobs')
    return 'its %s %s' % (', '.join(words), 'differ' if plural else 'differs')


def work_of(params: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """What the launch asks for, to compare with the job a key names: the caller's `work` (digested), or digests of
    the jobs themselves."""
    kind = 'batch' if params['concurrency'] is not None else 'job'
    given = params.get('work')
    if isinstance(given, dict):
        work = {name: (value if name == 'module' else digest(value)) for name, value in given.items()}
        work['kind'] = kind
        return work
    jobs = [
        [
            job.get('module'),
            job.get('argv'),
            job.get('cmd'),
            job.get('chdir'),
            digest(job.get('payload')),
            digest(job.get('args_data')),
        ]
        + ([digest([job.get('steps'), job.get('always')])] if job.get('steps') else [])
        for job in params['jobs']
    ]
    return {'kind': kind, 'module': params['jobs'][0].get('module'), 'jobs': digest(jobs)}
