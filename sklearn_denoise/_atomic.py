"""Atomic file writes: an interrupted or failed write never leaves a partial file behind.

:func:`atomic_open` writes to a hidden temporary file ``.NAME.<host>-<pid>.<hex>.tmp``
beside the destination ``NAME`` (``<host>``: 8 hex digits identifying this machine,
``<pid>``: the writing process, ``<hex>``: 12 random hex digits) and renames it over
``NAME`` on success (with ``replace=False`` only if ``NAME`` does not exist, by a hard
link: a file another process put there meanwhile is not replaced either); on any
exception (KeyboardInterrupt and, in the command line, SIGTERM included) the temporary file
is removed. Only a process killed outright (SIGKILL, power loss) can leave one behind;
:func:`remove_stale_temporaries` removes those of a folder, and only those: files named
exactly so, written on this machine by a process that no longer runs. Age is never the
criterion for them (a live write may take hours, e.g. a BM3D plane of a large stack);
files of other machines are left alone. Files named ``.NAME.<12 hex digits>.tmp``, as
versions before the owner was recorded named them, are removed once
:data:`LEGACY_STALE_AFTER_SECONDS` (one day) old. :func:`check_folder_writable` checks,
before any work, that such files can be created in a folder.

The one helper for atomic writes: image files (:mod:`sklearn_denoise.io`), weights,
checkpoints, figures and tables all go through :func:`atomic_open`.
"""

import errno
import hashlib
import os
import re
import secrets
import socket
import time
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "LEGACY_STALE_AFTER_SECONDS",
    "atomic_open",
    "check_folder_writable",
    "remove_stale_temporaries",
]

#: Age (seconds since the last modification) after which a temporary file named as
#: versions before the owner was recorded named them (``.NAME.<12 hex digits>.tmp``) is
#: taken as left behind by a killed process. Files of this version record their owner
#: and are never judged by age.
LEGACY_STALE_AFTER_SECONDS = 24 * 3600
_TOKEN_BYTES = 6
# ".NAME.<host>-<pid>.<hex>.tmp" written by atomic_open
_TEMPORARY = re.compile(
    rf"\..+\.(?P<host>[0-9a-f]{{8}})-(?P<pid>[1-9][0-9]{{0,9}})\.[0-9a-f]{{{2 * _TOKEN_BYTES}}}"
    r"\.tmp",
    re.DOTALL,
)
# ".NAME.<hex>.tmp" written by earlier versions
_LEGACY_TEMPORARY = re.compile(rf"\..+\.[0-9a-f]{{{2 * _TOKEN_BYTES}}}\.tmp", re.DOTALL)


def host_id():
    """8 hex digits identifying this machine in temporary file names (from its host
    name)."""
    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def _temporary_path(path):
    return path.parent / (f".{path.name}.{host_id()}-{os.getpid()}."
                          f"{secrets.token_hex(_TOKEN_BYTES)}.tmp")


def is_temporary_name(name):
    """Whether ``name`` is a temporary file name of :func:`atomic_open` (of this version
    or of an earlier one)."""
    return _TEMPORARY.fullmatch(name) is not None or (
        _LEGACY_TEMPORARY.fullmatch(name) is not None)


def _process_exists(pid):
    """Whether a process ``pid`` runs on this machine (True when that cannot be told)."""
    if os.name != "posix":  # os.kill(pid, 0) is no probe there: never call a file stale
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):  # another user's process, ...
        return True
    return True


def _owner_is_gone(name, now, mtime, legacy_min_age):
    """Whether the temporary file ``name`` belongs to no live write."""
    match = _TEMPORARY.fullmatch(name)
    if match is not None:
        if match["host"] != host_id():
            return False  # another machine's process: cannot be told from here
        pid = int(match["pid"])
        return pid != os.getpid() and not _process_exists(pid)
    return now - mtime >= legacy_min_age


@contextmanager
def atomic_open(path, mode="xb", *, fsync=False, replace=True, **kwargs):
    """Open a temporary file beside ``path`` that replaces ``path`` only on success.

    The temporary file (``.NAME.<host>-<pid>.<hex>.tmp``, see the module's description)
    lives in the destination folder (so ``os.replace`` is atomic) and gets the
    permissions a plain ``open`` would give. On any exception, including
    KeyboardInterrupt, it is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or path-like
        Destination file.
    mode : {"xb", "x"}, default="xb"
        Binary or text mode (exclusive creation of the temporary file).
    fsync : bool, default=False
        Flush the data to disk before the rename.
    replace : bool, default=True
        Replace an existing ``path``. False raises FileExistsError if ``path`` exists
        when the data are complete (a hard link puts the file in place, so a file created
        meanwhile by another process is not replaced either; on file systems without hard
        links the check and the rename are two steps).
    **kwargs
        Passed to :func:`open` (e.g. ``encoding``).
    """
    path = Path(path)
    tmp = _temporary_path(path)
    try:
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            _move_without_replacing(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _exists_error(path):
    return FileExistsError(errno.EEXIST, f"{path} already exists and is not replaced",
                           str(path))


def _move_without_replacing(tmp, path):
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise _exists_error(path) from None
    except OSError:  # no hard links on this file system
        if os.path.lexists(path):
            raise _exists_error(path) from None
        os.replace(tmp, path)
        return
    try:
        os.unlink(tmp)
    except OSError:  # the file is in place; remove_stale_temporaries takes the rest
        pass


def check_folder_writable(folder):
    """Check that :func:`atomic_open` can create files in ``folder``.

    Creates and removes an empty file named like its temporary files.

    Raises
    ------
    OSError
        If the file cannot be created (missing or read-only folder, ...).
    """
    probe = _temporary_path(Path(folder) / "sklearn-denoise-probe")
    with open(probe, "xb"):
        pass
    try:
        os.unlink(probe)
    except OSError:
        pass


def remove_stale_temporaries(folder, *, legacy_min_age=LEGACY_STALE_AFTER_SECONDS):
    """Remove the temporary files a killed :func:`atomic_open` left in ``folder``.

    Only regular files named exactly like ours are removed, and only those whose writer
    is gone: files named ``.NAME.<host>-<pid>.<hex>.tmp`` written on this machine (same
    ``<host>``) by a process ``<pid>`` that no longer runs. Their age does not matter: a
    live write is never interrupted, however long it takes. Files of other machines are
    left alone (whether their writer runs cannot be told from here), and so is every file
    where the question cannot be answered (a process of another user, systems without
    POSIX signals). Files named as earlier versions named them (``.NAME.<12 hex
    digits>.tmp``, no owner recorded) are removed when not modified for
    ``legacy_min_age`` seconds. Nothing else is touched, and errors (a file that
    vanished, a read-only folder) are ignored.

    Machines that share a folder (network file systems) must have different host names,
    and processes writing into one folder from one host name must share a process table
    (not containers with their own PID namespaces and the same host name).

    Parameters
    ----------
    folder : str or path-like
        Folder to clean (not recursive).
    legacy_min_age : float, default=LEGACY_STALE_AFTER_SECONDS
        Minimum age in seconds since the last modification of a temporary file named as
        earlier versions named them.

    Returns
    -------
    removed : list of pathlib.Path
        The files removed.
    """
    folder = Path(folder)
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not is_temporary_name(entry.name):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            mtime = entry.stat(follow_symlinks=False).st_mtime
            if not _owner_is_gone(entry.name, now, mtime, legacy_min_age):
                continue
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed
