"""Keep the network's large activation buffers in the heap during CPU inference (glibc).

glibc's ``malloc`` serves every block above its mmap threshold (at most 32 MiB, less
until the process has freed such blocks) with a fresh ``mmap`` and unmaps it on ``free``.
A U-Net pass on a 1024x1024 window allocates and frees dozens of activation tensors of
16-128 MiB, so every one of them is page-faulted in again, zeroed by the kernel: on the
benchmark machine that cost a third of the time per pixel (``benchmarks/bench_scaling.py``
compares the default call with glibc's default behaviour). While a denoiser runs, larger
blocks come from the heap, where freed buffers are reused by the next layer and tile; on
exit the thresholds go to glibc's own upper values (what a process reaches once it has
freed large blocks) and the heap's free memory is handed back with ``malloc_trim``.

Elsewhere (macOS, Windows, musl) this does nothing.
"""

import ctypes
import ctypes.util
import platform
import threading
from contextlib import contextmanager

# mallopt parameters and values, from glibc's malloc.h and malloc.c
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_INFERENCE_MMAP_THRESHOLD = 512 << 20  # mallopt takes an int
_INFERENCE_TRIM_THRESHOLD = 1 << 30
#: glibc's largest dynamic mmap threshold (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit): blocks
#: above it are always mapped afresh, so only buffers this large need the change.
GLIBC_MMAP_THRESHOLD_MAX = 32 << 20
_GLIBC_TRIM_AFTER = 2 * GLIBC_MMAP_THRESHOLD_MAX  # glibc sets trim = 2 * mmap threshold

#: Switch for benchmarks/bench_scaling.py, which compares the default call with glibc's
#: default behaviour in the same run.
REUSE_LARGE_BUFFERS = True

_lock = threading.Lock()
_active = 0


def _glibc():
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):  # pragma: no cover - not a usable glibc
        return None


_LIBC = _glibc()


def engages(largest_buffer):
    """Whether :func:`large_buffers_reused` changes anything for buffers this large."""
    return largest_buffer > GLIBC_MMAP_THRESHOLD_MAX and REUSE_LARGE_BUFFERS and _LIBC is not None


@contextmanager
def large_buffers_reused(largest_buffer):
    """Within the block, glibc keeps large freed blocks for reuse instead of unmapping them.

    Only when ``largest_buffer`` (bytes of the largest activation expected) exceeds
    :data:`GLIBC_MMAP_THRESHOLD_MAX`: smaller buffers are already reused by glibc, and the
    final ``malloc_trim`` would cost a small image more than it gains.

    Nested and concurrent uses (threads) are counted: the thresholds go back only when the
    last one exits.
    """
    global _active
    if not engages(largest_buffer):
        yield
        return
    with _lock:
        if _active == 0:
            _LIBC.mallopt(_M_MMAP_THRESHOLD, _INFERENCE_MMAP_THRESHOLD)
            _LIBC.mallopt(_M_TRIM_THRESHOLD, _INFERENCE_TRIM_THRESHOLD)
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                _LIBC.mallopt(_M_MMAP_THRESHOLD, GLIBC_MMAP_THRESHOLD_MAX)
                _LIBC.mallopt(_M_TRIM_THRESHOLD, _GLIBC_TRIM_AFTER)
                _LIBC.malloc_trim(0)
