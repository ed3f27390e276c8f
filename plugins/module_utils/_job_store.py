# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Job records on the target: where they live, how they are named, written and read.

Layout of the async dir (created 0700, every file 0600)::

    <async_dir>/<jid>          the job record, JSON, readable by ansible.builtin.async_status
    <async_dir>/.<jid>.job/    the job's side directory: payload, captured stdout/stderr, temp files

Records are written atomically: a temp file inside the side directory is written,
fsynced and renamed over the record.  Removing the side directory therefore makes
every later write of that job fail, which is how a cleaned-up record is kept from
reappearing when a still-running job ends.
"""

from __future__ import annotations

import errno
import json
import os
import pwd
import re
import shutil
import stat
import time

JID_PATTERN = re.compile(r'\A[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z')
META_KEY = 'asyncops_job'
RECORD_VERSION = 1
SIDE_DIR_SUFFIX = '.job'


class JobStoreError(Exception):
    """A problem with the async dir or a record that the user has to act on."""


def validate_jid(jid):
    """Return jid if it is a plain job id; raise JobStoreError otherwise.

    A jid names one file directly inside the async dir: letters, digits, '_', '.', '-',
    not starting with a dot, no path separators.  This refuses '../victim', '/etc/x', '.', '..'.
    """
    if not isinstance(jid, str) or not JID_PATTERN.match(jid):
        raise JobStoreError(
            "invalid job id %r: a jid is the ansible_job_id returned when the job was started "
            "(letters, digits, '_', '.' and '-' only, not starting with '.', no '/')" % (jid,))
    return jid


def user_home():
    """The effective user's home from the password database (not $HOME, which sudo may leave unchanged)."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_dir
    except KeyError:
        return os.path.expanduser('~')


def resolve_async_dir(raw):
    """Resolve the async_dir setting the same way at launch and at status time.

    '~' is expanded with the effective user's home from the password database, so that a
    job started with become is found again with become, whatever $HOME the become method left.
    """
    raw = raw or '~/.ansible_async'
    if raw == '~' or raw.startswith('~/'):
        raw = user_home() + raw[1:]
    else:
        raw = os.path.expanduser(raw)
    return os.path.abspath(os.path.expandvars(raw))


class JobStore:
    """The async dir of one user: create, write, read, list and remove job records."""

    def __init__(self, path):
        self.path = path

    # -- the directory -------------------------------------------------------------------
    def ensure(self):
        """Create the async dir 0700 (tightening an existing one we own); refuse one owned by someone else."""
        try:
            os.makedirs(self.path, mode=0o700)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise JobStoreError("could not create the async dir %s: %s (set ANSIBLE_ASYNC_DIR / the shell "
                                    "plugin's async_dir option to a writable place)" % (self.path, exc.strerror))
        st = os.stat(self.path)
        if not stat.S_ISDIR(st.st_mode):
            raise JobStoreError("async dir %s exists but is not a directory" % self.path)
        if st.st_uid != os.geteuid():
            raise JobStoreError("async dir %s belongs to uid %d, not to the user running the job (uid %d); "
                                "refusing to store job results where another user can read them"
                                % (self.path, st.st_uid, os.geteuid()))
        if stat.S_IMODE(st.st_mode) != 0o700:
            os.chmod(self.path, 0o700)
        return self

    def record_path(self, jid):
        return os.path.join(self.path, validate_jid(jid))

    def side_dir(self, jid):
        return os.path.join(self.path, '.' + validate_jid(jid) + SIDE_DIR_SUFFIX)

    def side_file(self, jid, name):
        return os.path.join(self.side_dir(jid), name)

    def create_side_dir(self, jid):
        path = self.side_dir(jid)
        os.mkdir(path, 0o700)
        return path

    # -- records -------------------------------------------------------------------------
    def write(self, jid, data):
        """Atomically replace the record of jid; fails (OSError) once the job was cleaned up."""
        write_json_atomic(self.record_path(jid), data, self.side_dir(jid))

    def read(self, jid):
        """The record of jid as a dict, None when there is none; raises JobStoreError on a corrupt one."""
        path = self.record_path(jid)
        try:
            with open(path, 'rb') as f:
                raw = f.read()
        except (IOError, OSError) as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise JobStoreError("could not read job record %s: %s" % (path, exc.strerror))
        if not raw.strip():
            # ansible-core's wrapper may be between creating and writing its file
            return {}
        try:
            data = json.loads(raw.decode('utf-8', 'replace'))
        except ValueError:
            raise JobStoreError("job record %s is not valid JSON: %r" % (path, raw[:200]))
        if not isinstance(data, dict):
            raise JobStoreError("job record %s does not hold a JSON object" % path)
        return data

    def exists(self, jid):
        return os.path.lexists(self.record_path(jid))

    def jids(self):
        """Job ids with a record here (ansible-core's and ours), sorted by record age, oldest first."""
        try:
            names = os.listdir(self.path)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return []
            raise JobStoreError("could not list the async dir %s: %s" % (self.path, exc.strerror))
        found = []
        for name in names:
            if not JID_PATTERN.match(name) or name.endswith('.tmp'):
                continue
            try:
                st = os.lstat(os.path.join(self.path, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                found.append((st.st_mtime, name))
        return [name for _mtime, name in sorted(found)]

    def orphan_side_dirs(self):
        """Side directories whose record is gone (left by a crash between the two removals)."""
        orphans = []
        for name in os.listdir(self.path):
            if name.startswith('.') and name.endswith(SIDE_DIR_SUFFIX):
                jid = name[1:-len(SIDE_DIR_SUFFIX)]
                if JID_PATTERN.match(jid) and not self.exists(jid):
                    orphans.append(jid)
        return orphans

    def mtime(self, jid):
        try:
            return os.stat(self.record_path(jid)).st_mtime
        except OSError:
            return None

    def remove(self, jid):
        """Remove the side directory first, then the record: a running job can then no longer rewrite it."""
        shutil.rmtree(self.side_dir(jid), ignore_errors=True)
        try:
            os.unlink(self.record_path(jid))
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise JobStoreError("could not remove job record %s: %s" % (self.record_path(jid), exc.strerror))
            return False
        return True


def write_json_atomic(path, data, tmp_dir):
    """Write data as JSON to path via an fsynced 0600 temp file in tmp_dir and a rename."""
    tmp = os.path.join(tmp_dir, 'record.%d.%d.tmp' % (os.getpid(), int(time.time() * 1e6)))
    payload = json.dumps(data).encode('utf-8')
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            view = memoryview(payload)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_private_file(path, data, mode=0o600):
    """Create path (must not exist) with mode and write bytes to it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, 'wb') as f:
        f.write(data)
    return path


def read_tail(path, max_bytes):
    """The last max_bytes of a file as text (undecodable bytes replaced), and whether it was cut."""
    try:
        with open(path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read(max_bytes)
    except (IOError, OSError):
        return '', False
    return data.decode('utf-8', 'replace'), size > max_bytes


def tail_lines(text, lines):
    if lines <= 0:
        return []
    return text.splitlines()[-lines:]
