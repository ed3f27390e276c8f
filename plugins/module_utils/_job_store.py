# -*- coding: utf-8 -*-
# Copyright: (c) 2026, asyncops.jobs developers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Job records on the target: where they live, how they are named, written and read, and when they are trusted.

Layout of the async dir (created 0700, every file 0600)::

    <async_dir>/<jid>               the job record, JSON, readable by ansible.builtin.async_status
    <async_dir>/.<jid>.job/         the job's side directory: payload, captured stdout/stderr, temp files
    <async_dir>/.<jid>.output/      full output of a job whose record holds only a clipped head and tail
    <async_dir>/.key-<sha256>       (see _job_keys) which job a key names
    <async_dir>/.asyncops-retain    made by the first launch of a job with `retain`: the shortest retain used here,
                                    and (its mtime) when the dir was last swept (see _job_status.sweep_retained)

What the engine removes, it provably made: a directory only if it holds the engine's marker file (written
the moment the engine created it), a record only if it is named and shaped as a job record, a key file
only if it is named and written as one (see _job_keys). An async dir pointed at a directory that holds
other things (`.build.stdout`, `.deploy.job/`, `.key-backup`) loses none of them.

A job whose result was collected (delivered to the controller) keeps a small note in place of its
record, saying when: a later status call says "already collected" instead of "never started here", and
mode=cleanup on it succeeds, as on any record.

Trust: the async dir, and every record, side directory and output file in it, is used only if it is
ours: owned by the effective user, not writable by group or others, and not a symbolic link. The
async dir is opened once (O_NOFOLLOW) and everything in it is reached relative to that descriptor,
again without following links, and checked with fstat on the open file before it is read, written,
signalled or removed. Anything else is refused with an error naming the path and its owner.

Records are written atomically: a temp file inside the side directory is written, fsynced and
renamed over the record, holding a shared lock on the side directory. Removing a job takes that lock
exclusively (waiting for a write in flight), renames the side directory away and removes the record:
every later write finds its side directory gone, so a cleaned-up record never reappears, even while
its supervisor is finishing. A launch holds the shared lock until the job's record exists, so a
prune (which only takes the lock without waiting) never removes a job being started.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import pwd
import re
import secrets
import stat
import time
import typing as t

from ansible_collections.asyncops.jobs.plugins.module_utils._job_protocol import DEFAULTS, JID_PATTERN, JOB_NAME_PATTERN

SIDE_DIR_SUFFIX = '.job'
OUTPUT_DIR_SUFFIX = '.output'  # .<jid>.output/: whole outputs of a clipped result, kept after cleanup
# .<jid>.delivered/: the copy of the answer that collected the job (see protocol.DELIVERY_KEEP)
DELIVERED_DIR_SUFFIX = '.delivered'
REMOVED_MARK = '.removed.'
# in every directory the engine creates in the async dir (side dirs, kept outputs), from the moment it exists:
# only a directory holding it is ever removed by the engine
MARKER_FILE = '.asyncops'
ENGINE_DIR = re.compile(
    r'\A\.(?P<jid>[A-Za-z0-9][A-Za-z0-9_.-]{0,127}?)(?P<kind>\.job|\.output|\.delivered)(\.removed\.[0-9a-f]{8})?\Z'
)
KILL_REQUEST_FILE = 'kill'  # in a pending batch item's side dir: do not start it
HALT_FILE = 'halt'  # in a running batch item's side dir: why its scheduler stops it (max_failures, on_halt=kill)
TOKEN_FILE = 'token'  # in a job's side dir: the secret its processes carry in ASYNCOPS_JOB_TOKEN
DELIVERED_ANSWER = 'answer'  # in .<jid>.delivered/: the answer that collected the job
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
SURROGATES = re.compile('[\ud800-\udfff]')
# the retention stamp: its presence says a job with `retain` was started here (without it, a sweep costs one lstat),
# its content the shortest retain used, its mtime when the dir was last swept (a dir is swept at most once per
# min(SWEEP_INTERVAL, shortest retain) seconds)
RETAIN_STAMP = '.asyncops-retain'
# the stamp of delivered copies: its presence says a copy was made here, its mtime when they were last swept
DELIVERED_STAMP = '.asyncops-delivered'
SWEEP_INTERVAL = 60.0
RETAIN_STAMP_HEADER = b'asyncops.jobs: retention stamp\n'
RETAIN_LINE = re.compile(br'^min_retain ([0-9]+(\.[0-9]+)?)$', re.M)
SAFE_PLACE = (
    'Choose an async dir below directories that only you or root can write (e.g. the default '
    '~/.ansible_async): set ANSIBLE_ASYNC_DIR, ansible_async_dir or the async_dir option'
)


class JobStoreError(Exception):
    """A problem with the async dir or a record that the user has to act on."""


class UnreadableRecord(JobStoreError):
    """A record of ours (it passed the ownership checks) whose content is not a job record's."""


def validate_jid(jid: t.Any) -> str:
    """Return jid if it is a plain job id; raise JobStoreError otherwise.

    A jid names one file directly inside the async dir: letters, digits, '_', '.', '-',
    not starting with a dot, no path separators.  This refuses '../victim', '/etc/x', '.', '..'.
    """
    if not isinstance(jid, str) or not JID_PATTERN.match(jid):
        raise JobStoreError(
            "invalid job id %r: a jid is the ansible_job_id returned when the job was started "
            "(letters, digits, '_', '.' and '-' only, not starting with '.', no '/')" % (jid,)
        )
    return jid


def user_home() -> str:
    """The effective user's home from the password database (not $HOME, which sudo may leave unchanged)."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_dir
    except KeyError:
        return os.path.expanduser('~')


def resolve_async_dir(raw: str | None) -> str:
    """Resolve the async_dir setting the same way at launch and at status time.

    Without a setting: $ANSIBLE_ASYNC_DIR (as ansible-core's wrapper reads it), else ~/.ansible_async.
    '~' is expanded with the effective user's home from the password database, so that a
    job started with become is found again with become, whatever $HOME the become method left.
    """
    raw = raw or os.environ.get('ANSIBLE_ASYNC_DIR') or DEFAULTS['async_dir']
    if raw == '~' or raw.startswith('~/'):
        raw = user_home() + raw[1:]
    else:
        raw = os.path.expanduser(raw)
    return os.path.abspath(os.path.expandvars(raw))


def user_name(uid: int) -> str:
    try:
        return '%s (uid %d)' % (pwd.getpwuid(uid).pw_name, uid)
    except KeyError:
        return 'uid %d' % uid


def check_ours(st: os.stat_result, path: str, kind: str) -> None:
    """Raise JobStoreError unless st is a `kind` ('dir' or 'file') owned by us and writable only by us."""
    is_kind = stat.S_ISDIR(st.st_mode) if kind == 'dir' else stat.S_ISREG(st.st_mode)
    if not is_kind:
        raise JobStoreError(
            'refusing to use %s: it is not a %s' % (path, 'directory' if kind == 'dir' else 'regular file')
        )
    if st.st_uid != os.geteuid():
        raise JobStoreError(
            'refusing to use %s: it belongs to %s, not to %s who runs this; job records are only read, '
            'written, signalled or removed in places that are ours'
            % (path, user_name(st.st_uid), user_name(os.geteuid()))
        )
    if st.st_mode & 0o022:
        raise JobStoreError(
            'refusing to use %s: it is writable by %s (mode %04o); another user could plant or swap '
            'job records there. Use a private directory (chmod go-w, or another async_dir)'
            % (
                path,
                'group and others' if st.st_mode & 0o022 == 0o022 else 'group' if st.st_mode & 0o020 else 'others',
                stat.S_IMODE(st.st_mode),
            )
        )


def check_ancestors(path: str) -> None:
    """Raise JobStoreError unless no one but us and root can change what path names, short of path itself.

    Every directory above path, from / down, and every symbolic link on the way (resolved, its target's
    directories checked in turn) must belong to us or to root, and a directory must not be writable by group
    or others unless it has the sticky bit (as /tmp): whoever can rename an entry above the async dir can
    swap it, with every job's payload, for one of their own. A part of the path that does not exist yet
    ends the walk (it is created below the last directory checked)."""
    pending = [part for part in os.path.dirname(path).split('/') if part]
    current = '/'
    _check_ancestor(current, path)
    links = 0
    while pending:
        name = pending.pop(0)
        if name == '.':
            continue
        if name == '..':
            current = os.path.dirname(current)  # a directory already checked, on the way to this one
            continue
        candidate = os.path.join(current, name)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise JobStoreError(
                'could not check %s, on the way to the async dir %s: %s' % (candidate, path, exc.strerror)
            )
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > 40:
                raise JobStoreError('refusing to use %s: too many symbolic links on the way to it' % path)
            _check_owner(st, candidate, path, 'the symbolic link')
            target = os.readlink(candidate)
            if target.startswith('/'):
                current = '/'
            pending[:0] = [part for part in target.split('/') if part]
            continue
        _check_ancestor(candidate, path, st)
        current = candidate


def _check_ancestor(directory: str, path: str, st: os.stat_result | None = None) -> None:
    if st is None:
        try:
            st = os.lstat(directory)
        except OSError as exc:
            raise JobStoreError(
                'could not check %s, on the way to the async dir %s: %s' % (directory, path, exc.strerror)
            )
    if not stat.S_ISDIR(st.st_mode):
        raise JobStoreError('refusing to use %s: %s on the way to it is not a directory' % (path, directory))
    _check_owner(st, directory, path, 'the directory')
    if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
        raise JobStoreError(
            'refusing to use the async dir %s: the directory %s above it is writable by %s without the sticky bit '
            '(owner %s, mode %04o), so they could swap the async dir, and the jobs in it, for their own. %s'
            % (
                path,
                directory,
                'group and others' if st.st_mode & 0o022 == 0o022 else 'its group' if st.st_mode & 0o020 else 'others',
                user_name(st.st_uid),
                stat.S_IMODE(st.st_mode),
                SAFE_PLACE,
            )
        )


def _check_owner(st: os.stat_result, entry: str, path: str, kind: str) -> None:
    if st.st_uid not in (0, os.geteuid()):
        trusted = (
            'root, who runs this' if os.geteuid() == 0 else '%s, who runs this, or to root' % user_name(os.geteuid())
        )
        raise JobStoreError(
            'refusing to use the async dir %s: %s %s on the way to it belongs to %s, mode %04o, not to %s: its owner '
            'could swap the async dir, and the jobs in it, for their own. %s'
            % (path, kind, entry, user_name(st.st_uid), stat.S_IMODE(st.st_mode), trusted, SAFE_PLACE)
        )


def make_parents(path: str) -> None:
    """Create the missing directories of path, each at most 0755: never writable by group or others."""
    missing = []
    while not os.path.lexists(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o755)
        except FileExistsError:
            pass


def open_checked(name: str, flags: int, kind: str, path: str, dir_fd: int | None = None, mode: int = 0o600) -> int:
    """Open name (relative to dir_fd) without following a link, and check that it is ours; returns the fd."""
    try:
        fd = os.open(name, flags, mode, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            if stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                raise JobStoreError('refusing to use %s: it is a symbolic link' % path)
            if kind == 'dir':
                raise JobStoreError('refusing to use %s: it is not a directory' % path)
        raise
    try:
        check_ours(os.fstat(fd), path, kind)
    except BaseException:
        os.close(fd)
        raise
    return fd


def rename_into_place(name: str, jid: str, side: int, async_dir: int | None, record_path: str) -> None:
    """Rename a record written in the side dir over the record of jid; an error names the record (not the file that
    was renamed: e.g. a directory in the record's place)."""
    try:
        os.rename(name, jid, src_dir_fd=side, dst_dir_fd=async_dir)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, record_path) from exc


def utf8_safe(value: t.Any) -> tuple[t.Any, bool]:
    """value with every string free of lone surrogates (undecodable bytes become U+FFFD); (value, replaced).

    ansible-core refuses to deserialize a result holding them, which would make a record unreadable."""
    if isinstance(value, str):
        try:
            value.encode('utf-8')
        except UnicodeEncodeError:
            return SURROGATES.sub('\ufffd', value), True
        return value, False
    if isinstance(value, dict):
        replaced = False
        clean = {}
        for key, item in value.items():
            key, bad_key = utf8_safe(key)
            clean[key], bad_item = utf8_safe(item)
            replaced = replaced or bad_key or bad_item
        return clean, replaced
    if isinstance(value, (list, tuple)):
        items = [utf8_safe(item) for item in value]
        return [item for item, _bad in items], any(bad for _item, bad in items)
    return value, False


def dump_record(data: t.Any) -> bytes:
    """A record as UTF-8 JSON that ansible-core always accepts."""
    return json.dumps(utf8_safe(data)[0]).encode('utf-8')


def write_all(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view) :]


def read_fd(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        data = os.read(fd, 1 << 20)
        if not data:
            return b''.join(chunks)
        chunks.append(data)


class JobStore:
    """The async dir of one user: create, write, read, list and remove job records.

    Use JobStore(path).ensure() to launch (creates the dir) and JobStore(path).open() to query
    (a missing dir holds no jobs). Both check that the dir is ours and keep it open.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd: int | None = None
        self.warnings: list[str] = []
        self.starting: dict[str, int] = {}  # jid -> locked side dir fd, while the job is being started

    # -- the directory -------------------------------------------------------------------
    def ensure(self) -> JobStore:
        """Create the async dir 0700 if missing and open it; refuse one that is not ours. Never chmods an existing dir."""
        check_ancestors(self.path)
        created = self._make_dir()
        self.fd = open_checked(self.path, DIR_FLAGS, 'dir', self.path)
        self._check_still_there()
        mode = stat.S_IMODE(os.fstat(self.fd).st_mode)
        if created and mode != 0o700:
            os.fchmod(self.fd, 0o700)  # our own new dir: the umask may have taken bits we need
        elif mode & 0o077:
            self.warnings.append(
                'async dir %s is readable by other users (mode %04o): they can see job ids, not '
                'the records (0600). Run chmod 700 on it to hide them' % (self.path, mode)
            )
        return self

    def _make_dir(self) -> bool:
        try:
            os.mkdir(self.path, 0o700)
            return True
        except FileExistsError:
            return False
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise JobStoreError(
                'could not create the async dir %s: %s (set ANSIBLE_ASYNC_DIR / the shell plugin\'s '
                'async_dir option to a writable place)' % (self.path, exc.strerror)
            )
        try:
            make_parents(os.path.dirname(self.path))
            os.mkdir(self.path, 0o700)
            return True
        except FileExistsError:
            return False
        except OSError as exc:
            raise JobStoreError(
                'could not create the async dir %s: %s (set ANSIBLE_ASYNC_DIR / the shell plugin\'s '
                'async_dir option to a writable place)' % (self.path, exc.strerror)
            )

    def open(self) -> JobStore:
        """Open an existing async dir for queries; a missing one simply holds no jobs."""
        check_ancestors(self.path)
        try:
            self.fd = open_checked(self.path, DIR_FLAGS, 'dir', self.path)
        except FileNotFoundError:
            self.fd = None
            return self
        self._check_still_there()
        return self

    def _check_still_there(self) -> None:
        """After opening the async dir: the directories above it are still safe, and its path still names it."""
        try:
            check_ancestors(self.path)
            try:
                now = os.lstat(self.path)
            except OSError:
                now = None
            held = os.fstat(t.cast(int, self.fd))
            if now is None or (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino):
                raise JobStoreError('refusing to use %s: it was replaced while it was being opened' % self.path)
        except BaseException:
            self.close()
            raise

    def dup(self) -> int:
        """A new open file description of the async dir (for a lock of its own), never reopened by path."""
        return os.open('.', DIR_FLAGS, dir_fd=self.fd)

    def fds(self) -> list[int]:
        """The descriptors this store holds open (the async dir, start locks): what a detached child keeps."""
        return ([self.fd] if self.fd is not None else []) + list(self.starting.values())

    def close(self) -> None:
        self.release_starting()
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def record_path(self, jid: str) -> str:
        return os.path.join(self.path, validate_jid(jid))

    def side_name(self, jid: str) -> str:
        return '.' + validate_jid(jid) + SIDE_DIR_SUFFIX

    def side_dir(self, jid: str) -> str:
        return os.path.join(self.path, self.side_name(jid))

    def side_file(self, jid: str, name: str) -> str:
        return os.path.join(self.side_dir(jid), name)

    def output_dir_name(self, jid: str) -> str:
        return '.' + validate_jid(jid) + OUTPUT_DIR_SUFFIX

    # -- side directories ----------------------------------------------------------------
    def create_side_dir(self, jid: str) -> str:
        """Create the job's side dir 0700 and hold a lock on it until release_starting(jid): a prune never
        removes a side dir while its job is being started."""
        name = self.side_name(jid)
        for _attempt in range(5):
            os.mkdir(name, 0o700, dir_fd=self.fd)
            try:
                fd = open_checked(name, DIR_FLAGS, 'dir', self.side_dir(jid), dir_fd=self.fd)
            except FileNotFoundError:
                continue  # a prune removed it between our mkdir and our open: make it again
            fcntl.flock(fd, fcntl.LOCK_SH)  # shared with the job's own writes, exclusive of a prune
            if self._same_entry(name, fd):
                write_marker(fd, 'side directory of job %s' % jid)
                self.starting[jid] = fd
                return self.side_dir(jid)
            os.close(fd)  # a prune removed it between our mkdir and our lock: make it again
        raise JobStoreError(
            'could not create the side directory %s: it keeps being removed (a concurrent prune?)' % self.side_dir(jid)
        )

    def _same_entry(self, name: str, fd: int) -> bool:
        try:
            now = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        held = os.fstat(fd)
        return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)

    def release_starting(self, jid: str | None = None) -> None:
        """Drop the start lock of jid (all of them without jid): its record now exists."""
        for key in [jid] if jid else list(self.starting):
            fd = self.starting.pop(key, None)
            if fd is not None:
                os.close(fd)

    def open_side_dir(self, jid: str) -> int | None:
        """The job's side dir, opened and checked; None when it has none."""
        if self.fd is None:
            return None
        try:
            return open_checked(self.side_name(jid), DIR_FLAGS, 'dir', self.side_dir(jid), dir_fd=self.fd)
        except FileNotFoundError:
            return None

    def write_side_file(self, jid: str, name: str, data: bytes, mode: int = 0o600) -> str:
        """Create a new file in the job's side dir (never through a link) and write data to it."""
        side = self._side_fd_or_fail(jid)
        try:
            fd = os.open(name, CREATE_FLAGS, mode, dir_fd=side)
            try:
                write_all(fd, data)
            finally:
                os.close(fd)
        finally:
            os.close(side)
        return self.side_file(jid, name)

    def write_side_file_once(self, jid: str, name: str) -> None:
        """Create an empty file in the job's side dir unless it is there already (a request flag)."""
        side = self._side_fd_or_fail(jid)
        try:
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=side))
        finally:
            os.close(side)

    def has_side_file(self, jid: str, name: str) -> bool:
        side = self.open_side_dir(jid)
        if side is None:
            return False
        try:
            os.stat(name, dir_fd=side, follow_symlinks=False)
            return True
        except FileNotFoundError:
            return False
        finally:
            os.close(side)

    def open_output(self, jid: str, name: str, flags: int) -> int:
        """Open (create) one of the job's output files in its side dir for the job to write to: a regular file only
        (never blocking on a FIFO put there)."""
        side = self._side_fd_or_fail(jid)
        try:
            fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o600, dir_fd=side)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # a FIFO without a reader
                raise JobStoreError('refusing to use %s: it is not a regular file' % self.side_file(jid, name))
            raise
        finally:
            os.close(side)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise JobStoreError('refusing to use %s: it is not a regular file' % self.side_file(jid, name))
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def open_side_file(self, jid: str, name: str, flags: int) -> int:
        """Open an existing file of the job's side dir (never through a link), checked to be ours."""
        side = self._side_fd_or_fail(jid)
        try:
            return open_checked(name, flags, 'file', self.side_file(jid, name), dir_fd=side)
        finally:
            os.close(side)

    def _side_fd_or_fail(self, jid: str) -> int:
        side = self.open_side_dir(jid)
        if side is None:
            raise FileNotFoundError(errno.ENOENT, 'side directory gone (the job was cleaned up)', self.side_dir(jid))
        return side

    def remove_side_files(self, jid: str, names: t.Iterable[str]) -> None:
        """Remove files from the job's side dir (e.g. the payload once the job process ended); missing ones are fine."""
        side = self.open_side_dir(jid)
        if side is None:
            return
        try:
            for name in names:
                try:
                    os.unlink(name, dir_fd=side)
                except FileNotFoundError:
                    pass
        finally:
            os.close(side)

    def read_output(self, jid: str, name: str, head: int, tail: int) -> tuple[bytes, bytes, int]:
        """(first head bytes, last tail bytes, size) of an output file in the job's own side dir.

        When the file is no larger than head + tail, the whole of it is the head and the tail is empty. A FIFO or
        other special file there (which the job may put in its place) holds no output; a link is refused."""
        side = self.open_side_dir(jid)
        if side is None:
            return b'', b'', 0
        try:
            mode = os.stat(name, dir_fd=side, follow_symlinks=False).st_mode
            if not stat.S_ISREG(mode) and not stat.S_ISLNK(mode):
                return b'', b'', 0
            fd = open_checked(name, READ_FLAGS, 'file', self.side_file(jid, name), dir_fd=side)
        except FileNotFoundError:
            return b'', b'', 0
        finally:
            os.close(side)
        try:
            size = os.fstat(fd).st_size
            if size <= head + tail:
                return read_fd(fd), b'', size
            first = os.pread(fd, head, 0) if head else b''
            last = os.pread(fd, tail, size - tail) if tail else b''
            return first, last, size
        finally:
            os.close(fd)

    def keep_output(self, jid: str, name: str) -> str:
        """Move a (clipped) output file out of the side dir into the job's output dir (.<jid>.output/, made with
        the engine's marker), where cleanup of the record does not remove it; returns its path."""
        target = self.output_dir_name(jid)
        try:
            os.mkdir(target, 0o700, dir_fd=self.fd)
            created = True
        except FileExistsError:
            created = False
        fd = open_checked(target, DIR_FLAGS, 'dir', os.path.join(self.path, target), dir_fd=self.fd)
        try:
            if created:
                write_marker(fd, 'whole output of job %s' % jid)
            elif not has_marker(fd):
                raise JobStoreError('refusing to use %s: the engine did not make it' % os.path.join(self.path, target))
            os.rename('%s/%s' % (self.side_name(jid), name), name, src_dir_fd=self.fd, dst_dir_fd=fd)
        finally:
            os.close(fd)
        return os.path.join(self.path, target, name)

    # -- retention -----------------------------------------------------------------------
    def note_retain(self, retain: float) -> None:
        """A job with `retain` is started here: the retention stamp says so, with the shortest retain used (kept as
        low as any launch asked). A new stamp reads as never swept; an existing one keeps its sweep time. A file of
        that name that the engine did not make is left alone, with a warning (records are then not swept)."""
        if self.fd is None:
            return
        try:
            fd = os.open(
                RETAIN_STAMP,
                os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                0o600,
                dir_fd=self.fd,
            )
        except OSError as exc:
            self.warnings.append(
                'records of jobs with retain are not removed by themselves in %s: %s could not be '
                'made (%s)' % (self.path, RETAIN_STAMP, exc.strerror)
            )
            return
        try:
            st = os.fstat(fd)
            check_ours(st, os.path.join(self.path, RETAIN_STAMP), 'file')
            fcntl.flock(fd, fcntl.LOCK_EX)
            content = read_fd(fd)
            if content and not content.startswith(RETAIN_STAMP_HEADER):
                raise JobStoreError('%s was not made by asyncops.jobs' % os.path.join(self.path, RETAIN_STAMP))
            known = stamp_min_retain(content)
            if known is not None and known <= retain:
                return
            payload = RETAIN_STAMP_HEADER + b'min_retain %.3f\n' % float(retain)
            os.ftruncate(fd, 0)
            os.pwrite(fd, payload, 0)
            # the sweep time is the stamp's mtime: a new stamp was never swept, an existing one keeps its time
            swept = st.st_mtime_ns if content else 0
            os.utime(fd, ns=(st.st_atime_ns, swept))
        except JobStoreError as exc:
            self.warnings.append(
                'records of jobs with retain are not removed by themselves in %s: %s; remove it (or '
                'use mode=cleanup older_than=...)' % (self.path, exc)
            )
        finally:
            os.close(fd)

    def sweep_due(self, now: float, touch: bool = True) -> tuple[int, float] | None:
        """(the retention stamp, locked, and the shortest retain) when a sweep of retained records is due here: a job
        with `retain` was started here, the last sweep is min(SWEEP_INTERVAL, shortest retain) seconds ago or more,
        and no other sweep runs. touch: the sweep starts now (its time is written). None otherwise: no sweep (costs
        one lstat when no job with retain was ever started here). The caller closes the descriptor."""
        st = self.lstat(RETAIN_STAMP)
        if st is None or not stat.S_ISREG(st.st_mode):
            return None
        try:
            fd = open_checked(RETAIN_STAMP, READ_FLAGS, 'file', os.path.join(self.path, RETAIN_STAMP), dir_fd=self.fd)
        except (OSError, JobStoreError):
            return None
        try:
            min_retain = stamp_min_retain(read_fd(fd))
            if min_retain is None or now - os.fstat(fd).st_mtime < min(SWEEP_INTERVAL, min_retain):
                os.close(fd)
                return None
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if touch:
                os.utime(fd, (now, now))
        except OSError:  # another sweep holds it, or it cannot be touched
            os.close(fd)
            return None
        return fd, min_retain

    # -- records -------------------------------------------------------------------------
    def write(self, jid: str, data: dict[str, t.Any], durable: bool = True, room: str | None = None) -> None:
        """Atomically replace the record of jid; fails (FileNotFoundError) once the job was cleaned up.

        Under a shared lock on the side dir, checked to still be the job's side dir: a cleanup takes the
        lock exclusively before it renames the side dir away, so no write can land after it. durable=False
        leaves out the fsync of the record (still written whole, then renamed): for many records at once,
        made durable together by one sync() afterwards. room names a file of the side dir written earlier to hold
        room on the file system (see the supervisor's reserves): the record is written over its blocks instead of
        into a new file, so a file system filled meanwhile cannot refuse it; the file is used up (renamed)."""
        side = self._side_fd_or_fail(jid)
        try:
            fcntl.flock(side, fcntl.LOCK_SH)
            if not self._same_entry(self.side_name(jid), side):
                raise FileNotFoundError(errno.ENOENT, 'the job was cleaned up', self.side_dir(jid))
            fd, tmp = self._record_file(jid, side, room)
            try:
                try:
                    payload = dump_record(data)
                    write_all(fd, payload)
                    if tmp == room:
                        os.ftruncate(fd, len(payload))
                    if durable:
                        os.fsync(fd)
                finally:
                    os.close(fd)
                rename_into_place(tmp, jid, side, self.fd, self.record_path(jid))
            except BaseException:
                try:
                    os.unlink(tmp, dir_fd=side)
                except OSError:
                    pass
                raise
        finally:
            os.close(side)

    def _record_file(self, jid: str, side: int, room: str | None) -> tuple[int, str]:
        """(fd, name) in the side dir to write a record into before it is renamed over the record: the room file
        when there is one (checked ours, never through a link), otherwise a new file."""
        if room is not None:
            try:
                return (
                    open_checked(
                        room, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 'file', self.side_file(jid, room), side
                    ),
                    room,
                )
            except FileNotFoundError:
                pass
        tmp = 'record.%d.%d.tmp' % (os.getpid(), int(time.time() * 1e6))
        return os.open(tmp, CREATE_FLAGS, 0o600, dir_fd=side), tmp

    def replace_with_note(self, jid: str, note: dict[str, t.Any]) -> bool:
        """Replace the record of jid by a small note (a collected job's), then remove its side dir; True if done.

        As remove(): with the side dir locked exclusively (no write in flight), the note is written and renamed
        over the record, and the side dir is renamed away before the lock is released, so the supervisor can
        never write the full record back. A record without a side dir of ours is left as it is (False)."""
        side = self.open_side_dir(jid)
        if side is None:
            return False
        try:
            lock_exclusively(side, self.side_dir(jid))
            if not self._same_entry(self.side_name(jid), side) or not has_marker(side, legacy_ok=True):
                return False
            tmp = 'note.%d.%d.tmp' % (os.getpid(), int(time.time() * 1e6))
            fd = os.open(tmp, CREATE_FLAGS, 0o600, dir_fd=side)
            try:
                write_all(fd, dump_record(note))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, validate_jid(jid), src_dir_fd=side, dst_dir_fd=self.fd)
            retired = self._retire_side_dir(self.side_name(jid))
        finally:
            os.close(side)
        if retired:
            self.remove_tree(retired)
        return True

    def sync(self) -> None:
        """Make every record written so far durable at once: one flush of the async dir's file system (syncfs),
        instead of one fsync, and one journal commit, per record. os.sync() where there is no syncfs."""
        if self.fd is not None:
            sync_file_system(self.fd)

    def read(self, jid: str) -> dict[str, t.Any] | None:
        """The record of jid as a dict, None when there is none; raises JobStoreError on a corrupt or foreign one."""
        path = self.record_path(jid)
        if self.fd is None:
            return None
        try:
            fd = open_checked(jid, READ_FLAGS, 'file', path, dir_fd=self.fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise JobStoreError('could not read job record %s: %s' % (path, exc.strerror))
        try:
            raw = read_fd(fd)
        finally:
            os.close(fd)
        return parse_record(raw, path)

    def exists(self, jid: str) -> bool:
        return self.lstat(validate_jid(jid)) is not None

    def lstat(self, name: str) -> os.stat_result | None:
        if self.fd is None:
            return None
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def mtime(self, jid: str) -> float | None:
        st = self.lstat(validate_jid(jid))
        return st.st_mtime if st else None

    def entries(self) -> list[tuple[str, os.stat_result]]:
        """(name, lstat) of everything in the async dir."""
        if self.fd is None:
            return []
        found = []
        for name in os.listdir(self.fd):
            st = self.lstat(name)
            if st is not None:
                found.append((name, st))
        return found

    def jids(self) -> list[str]:
        """Job ids with a record here (ansible-core's and ours: files named as job records are), oldest first.
        Records that are not ours are skipped with a warning."""
        found = []
        for name, st in self.entries():
            if not JOB_NAME_PATTERN.match(name):
                continue
            if stat.S_ISDIR(st.st_mode):
                continue
            try:
                check_ours(st, os.path.join(self.path, name), 'file')
            except JobStoreError as exc:
                self.warnings.append('skipped: %s' % exc)
                continue
            found.append((st.st_mtime, name))
        return [name for _mtime, name in sorted(found)]

    def engine_dirs(self) -> list[tuple[str, str, float]]:
        """(name, kind, mtime) of the directories the engine made here and left: side dirs whose record is gone,
        removals a crash left half done ('orphan'), and kept outputs ('output'). Only directories named as the
        engine names them, ours, and holding its marker: nothing else is ever listed for removal."""
        found = []
        for name, st in self.entries():
            match = ENGINE_DIR.match(name)
            if not match or not stat.S_ISDIR(st.st_mode) or not self.made_by_engine(name):
                continue
            if match.group(3) or (match.group('kind') == SIDE_DIR_SUFFIX and not self.exists(match.group('jid'))):
                found.append((name, 'orphan', st.st_mtime))
            elif match.group('kind') == OUTPUT_DIR_SUFFIX:
                found.append((name, 'output', st.st_mtime))
            elif match.group('kind') == DELIVERED_DIR_SUFFIX:
                found.append((name, 'delivered', st.st_mtime))
        return found

    def made_by_engine(self, name: str) -> bool:
        """Whether the directory name of the async dir is ours and holds the engine's marker."""
        try:
            fd = open_checked(name, DIR_FLAGS, 'dir', os.path.join(self.path, name), dir_fd=self.fd)
        except (OSError, JobStoreError):
            return False
        try:
            return has_marker(fd)
        finally:
            os.close(fd)

    def remove(self, jid: str, ours: bool = False) -> bool:
        """Remove a job: with its side dir locked exclusively (no write in flight), the side dir is renamed away
        (every later write fails), then the record goes, then the side dir's files. True if there was a record.

        The side dir goes only if the engine made it: it holds the marker, or (a side dir of an older version of
        this collection, made before the marker) the record it belongs to is one of ours (`ours`)."""
        side = self.open_side_dir(jid)
        try:
            if side is not None:
                lock_exclusively(side, self.side_dir(jid))
                if not has_marker(side, legacy_ok=ours):
                    os.close(side)
                    side = None
            removed_side = self._retire_side_dir(self.side_name(jid)) if side is not None else None
            try:
                os.unlink(validate_jid(jid), dir_fd=self.fd)
                had_record = True
            except FileNotFoundError:
                had_record = False
            except OSError as exc:
                raise JobStoreError('could not remove job record %s: %s' % (self.record_path(jid), exc.strerror))
        finally:
            if side is not None:
                os.close(side)
        if removed_side:
            self.remove_tree(removed_side)
        return had_record

    # -- delivered copies ------------------------------------------------------------------
    def delivered_dir_name(self, jid: str) -> str:
        return '.' + validate_jid(jid) + DELIVERED_DIR_SUFFIX

    def write_delivered(self, jid: str, data: bytes) -> None:
        """Keep data (a delivered answer) in a new .<jid>.delivered/ of the engine (0700, marker, `answer` 0600),
        replacing an earlier one of the engine; written whole before it gets its name, so a reader finds all of it
        or nothing. Raises (and leaves nothing) when it cannot be written."""
        name = self.delivered_dir_name(jid)
        if self.lstat(name) is not None:
            self.remove_engine_dir(name)
        tmp = '%s.removed.%08x' % (name, secrets.randbits(32))
        os.mkdir(tmp, 0o700, dir_fd=self.fd)
        try:
            fd = open_checked(tmp, DIR_FLAGS, 'dir', os.path.join(self.path, tmp), dir_fd=self.fd)
            try:
                write_marker(fd, 'delivered answer of job %s' % jid)
                out = os.open(DELIVERED_ANSWER, CREATE_FLAGS, 0o600, dir_fd=fd)
                try:
                    write_all(out, data)
                finally:
                    os.close(out)
            finally:
                os.close(fd)
            os.rename(tmp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except BaseException:
            self.remove_tree(tmp)
            raise

    def read_delivered(self, jid: str) -> bytes | None:
        """The answer kept in .<jid>.delivered/ (ours, made by the engine, never through a link); None if none."""
        name = self.delivered_dir_name(jid)
        try:
            fd = open_checked(name, DIR_FLAGS, 'dir', os.path.join(self.path, name), dir_fd=self.fd)
        except FileNotFoundError:
            return None
        try:
            if not has_marker(fd):
                return None
            try:
                answer = open_checked(
                    DELIVERED_ANSWER, READ_FLAGS, 'file', os.path.join(self.path, name, DELIVERED_ANSWER), dir_fd=fd
                )
            except FileNotFoundError:
                return None
            try:
                return read_fd(answer)
            finally:
                os.close(answer)
        finally:
            os.close(fd)

    def remove_delivered(self, jid: str) -> None:
        """Remove the delivered copy of jid, if the engine made one."""
        if self.lstat(self.delivered_dir_name(jid)) is not None:
            self.remove_engine_dir(self.delivered_dir_name(jid))

    def note_delivered(self) -> None:
        """A copy was made here: the stamp of copies says so (created as never swept, an existing one kept)."""
        if self.lstat(DELIVERED_STAMP) is not None:
            return
        try:
            fd = os.open(DELIVERED_STAMP, CREATE_FLAGS, 0o600, dir_fd=self.fd)
        except OSError:
            return  # made meanwhile, or no room: the copies then go with their notes or a prune
        try:
            os.utime(fd, (0, 0))
        finally:
            os.close(fd)

    def sweep_delivered(self, now: float, keep_for: float) -> list[str]:
        """Remove the delivered copies older than keep_for seconds (by their directory's mtime, no file read), at most
        once per SWEEP_INTERVAL (the stamp's mtime), one sweep at a time. Costs one lstat when no copy was ever made
        here. Returns the names removed."""
        st = self.lstat(DELIVERED_STAMP)
        if st is None or not stat.S_ISREG(st.st_mode) or now - st.st_mtime < SWEEP_INTERVAL:
            return []
        try:
            fd = open_checked(
                DELIVERED_STAMP, READ_FLAGS, 'file', os.path.join(self.path, DELIVERED_STAMP), dir_fd=self.fd
            )
        except (OSError, JobStoreError):
            return []
        removed = []
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.utime(fd, (now, now))
            for name, entry in self.entries():
                match = ENGINE_DIR.match(name)
                if (
                    match
                    and not match.group(3)
                    and match.group('kind') == DELIVERED_DIR_SUFFIX
                    and stat.S_ISDIR(entry.st_mode)
                    and now - entry.st_mtime >= keep_for
                    and self.remove_engine_dir(name)
                ):
                    removed.append(name)
        except OSError:
            pass  # another sweep holds the stamp, or it cannot be touched
        finally:
            os.close(fd)
        return removed

    def _retire_side_dir(self, name: str) -> str | None:
        if self.fd is None:
            return None
        retired = '%s%s%s' % (name, REMOVED_MARK, secrets.token_hex(4))
        try:
            os.rename(name, retired, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except FileNotFoundError:
            return None
        return retired

    def remove_engine_dir(self, name: str) -> bool:
        """Remove a directory the engine made (engine_dirs()) unless a launch holds its lock; True if removed."""
        match = ENGINE_DIR.match(name)
        if not match:
            return False
        try:
            fd = open_checked(name, DIR_FLAGS, 'dir', os.path.join(self.path, name), dir_fd=self.fd)
        except (OSError, JobStoreError):
            return False
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # a job is being started with it
            if not has_marker(fd):
                return False
            if not match.group(3) and match.group('kind') == SIDE_DIR_SUFFIX and self.exists(match.group('jid')):
                return False  # its record appeared meanwhile
            retired = name if match.group(3) else self._retire_side_dir(name)
        finally:
            os.close(fd)
        if retired:
            self.remove_tree(retired)
        return bool(retired)

    def remove_file(self, name: str) -> None:
        try:
            os.unlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            pass

    def remove_tree(self, name: str) -> None:
        """Remove a directory of the async dir without following links."""
        if self.fd is not None:
            remove_tree(name, self.fd)


MARKER_TEXT = b'asyncops.jobs: '
# what a side dir of this collection made before the marker existed can hold (a legacy side dir of one of our records)
LEGACY_SIDE_FILES = re.compile(r'\A(payload|args|stdout|stderr|token|kill|(record|note)\.[0-9]+\.[0-9]+\.tmp)\Z')


def write_marker(dir_fd: int, what: str) -> None:
    """Mark a directory the engine just made as its own (see has_marker)."""
    fd = os.open(MARKER_FILE, CREATE_FLAGS, 0o600, dir_fd=dir_fd)
    try:
        write_all(fd, MARKER_TEXT + what.encode('utf-8', 'replace') + b'\n')
    finally:
        os.close(fd)


def has_marker(dir_fd: int, legacy_ok: bool = False) -> bool:
    """Whether the directory open as dir_fd was made by the engine: it holds the marker file, a regular file of
    ours that says so. legacy_ok: a directory without it also counts if it holds nothing but what a side dir of an
    older version of this collection holds (for side dirs bound to one of our records)."""
    try:
        fd = open_checked(MARKER_FILE, READ_FLAGS, 'file', MARKER_FILE, dir_fd=dir_fd)
    except (OSError, JobStoreError):
        return legacy_ok and _only_legacy_side_files(dir_fd)
    try:
        return os.read(fd, len(MARKER_TEXT)) == MARKER_TEXT
    finally:
        os.close(fd)


def _only_legacy_side_files(dir_fd: int) -> bool:
    try:
        return all(LEGACY_SIDE_FILES.match(name) for name in os.listdir(dir_fd))
    except OSError:
        return False


def remove_tree(name: str, parent: int) -> None:
    """Remove the directory name below the directory parent (a descriptor) without following links."""
    try:
        fd = os.open(name, DIR_FLAGS, dir_fd=parent)
    except OSError:
        return
    try:
        for entry in os.listdir(fd):
            try:
                os.unlink(entry, dir_fd=fd)
            except IsADirectoryError:
                remove_tree(entry, fd)
            except FileNotFoundError:
                pass
    finally:
        os.close(fd)
    try:
        os.rmdir(name, dir_fd=parent)
    except OSError:
        pass


def remove_task_tmp_dir(path: str) -> bool:
    """Remove the remote tmp dir of the ansible-core task that started a keyword-mode job, once the job ended.

    Only a directory named ansible-tmp-* that is ours and is not a link is removed; True if it was."""
    parent, name = os.path.split(path.rstrip('/'))
    if not name.startswith('ansible-tmp-'):
        return False
    try:
        parent_fd = os.open(parent or '/', os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
            return False
        remove_tree(name, parent_fd)
        return True
    except OSError:
        return False
    finally:
        os.close(parent_fd)


def sync_file_system(fd: int) -> None:
    """Flush the writes of the file system that holds fd to disk (Linux syncfs), or of every one (sync)."""
    try:
        done = ctypes.CDLL(None, use_errno=True).syncfs(fd) == 0  # this process's own symbols: libc's
    except (OSError, AttributeError, TypeError):
        done = False
    if not done:
        os.sync()


def lock_exclusively(fd: int, path: str, timeout: float = 10.0) -> None:
    """Take an exclusive flock on fd, waiting at most timeout seconds for the holders of shared locks."""
    deadline = time.time() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.time() >= deadline:
                raise JobStoreError(
                    '%s stays locked by another process (a job being started or a record being '
                    'written) for more than %gs: try again' % (path, timeout)
                )
            time.sleep(0.005)


def parse_record(raw: bytes, path: str) -> dict[str, t.Any]:
    """A record's bytes as a dict ({} while ansible-core's wrapper has created but not yet written it)."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw.decode('utf-8', 'replace'))
    except ValueError as exc:
        # never the content: a record can hold a no_log job's output
        raise UnreadableRecord('job record %s is not valid JSON (%d bytes, %s)' % (path, len(raw), exc))
    if not isinstance(data, dict):
        raise UnreadableRecord('job record %s does not hold a JSON object' % path)
    return t.cast(t.Dict[str, t.Any], utf8_safe(data)[0])


def stamp_min_retain(content: bytes) -> float | None:
    """The shortest retain a retention stamp's content says (None: not a stamp of ours, or an empty one)."""
    if not content.startswith(RETAIN_STAMP_HEADER):
        return None
    match = RETAIN_LINE.search(content)
    return float(match.group(1)) if match else None


def tail_lines(text: str, lines: int) -> list[str]:
    if lines <= 0:
        return []
    return text.splitlines()[-lines:]
