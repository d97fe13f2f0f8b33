"""Atomic file writes: an interrupted or failed write never leaves a partial file behind."""

import os
import secrets
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_open"]


@contextmanager
def atomic_open(path, mode="xb", *, fsync=False, **kwargs):
    """Open a temporary file beside ``path`` that replaces ``path`` only on success.

    The temporary file lives in the destination folder (so ``os.replace`` is atomic) and
    gets the permissions a plain ``open`` would give. On any exception, including
    KeyboardInterrupt, it is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or path-like
        Destination file.
    mode : {"xb", "x"}, default="xb"
        Binary or text mode (exclusive creation of the temporary file).
    fsync : bool, default=False
        Flush the data to disk before the rename.
    **kwargs
        Passed to :func:`open` (e.g. ``encoding``).
    """
    path = Path(path)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
