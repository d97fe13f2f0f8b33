"""Atomic file writes: an interrupted or failed write never leaves a partial file behind.

:func:`atomic_open` writes to a hidden temporary file ``.NAME.<12 hex digits>.tmp`` beside
the destination ``NAME`` and renames it over ``NAME`` on success (with ``replace=False``
only if ``NAME`` does not exist); on any exception (KeyboardInterrupt and, in the command
line, SIGTERM included) the temporary file is removed. Only a process killed outright
(SIGKILL, power loss) can leave one behind; :func:`remove_stale_temporaries` removes those
of a folder, and only those: files whose name matches that exact pattern and that have not
been modified for :data:`STALE_AFTER_SECONDS`. :func:`check_folder_writable` checks, before
any work, that such files can be created in a folder.

The one helper for atomic writes: image files (:mod:`sklearn_denoise.io`), weights,
checkpoints, figures and tables all go through :func:`atomic_open`.
"""

import errno
import os
import re
import secrets
import time
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "STALE_AFTER_SECONDS",
    "atomic_open",
    "check_folder_writable",
    "remove_stale_temporaries",
]

#: Age (seconds since the last modification) after which a temporary file of ours is
#: taken as left behind by a killed process.
STALE_AFTER_SECONDS = 600
_TOKEN_BYTES = 6
# ".NAME.<hex>.tmp" written by atomic_open
_TEMPORARY = re.compile(rf"\..+\.[0-9a-f]{{{2 * _TOKEN_BYTES}}}\.tmp", re.DOTALL)


def _temporary_path(path):
    return path.parent / f".{path.name}.{secrets.token_hex(_TOKEN_BYTES)}.tmp"


def is_temporary_name(name):
    """Whether ``name`` is a temporary file name of :func:`atomic_open`."""
    return _TEMPORARY.fullmatch(name) is not None


@contextmanager
def atomic_open(path, mode="xb", *, fsync=False, replace=True, **kwargs):
    """Open a temporary file beside ``path`` that replaces ``path`` only on success.

    The temporary file (``.NAME.<12 hex digits>.tmp``) lives in the destination folder
    (so ``os.replace`` is atomic) and gets the permissions a plain ``open`` would give. On
    any exception, including KeyboardInterrupt, it is removed and ``path`` is left as it
    was.

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


def remove_stale_temporaries(folder, *, min_age=STALE_AFTER_SECONDS):
    """Remove the temporary files a killed :func:`atomic_open` left in ``folder``.

    Only regular files named exactly like ours (``.NAME.<12 hex digits>.tmp``) and not
    modified for ``min_age`` seconds are removed (a younger one may belong to a write in
    progress); nothing else is touched, and errors (a file that vanished, a read-only
    folder) are ignored.

    Parameters
    ----------
    folder : str or path-like
        Folder to clean (not recursive).
    min_age : float, default=STALE_AFTER_SECONDS
        Minimum age in seconds since the last modification.

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
            if now - entry.stat(follow_symlinks=False).st_mtime < min_age:
                continue
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed
