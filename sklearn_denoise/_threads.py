"""How many CPU threads torch gets: one rule for every torch path.

(Training keeps torch's own count unless ``n_threads`` is given: its gradient sums depend
on the count, and the same seed must give the same weights whatever the load.)

A network's OpenMP threads wait for each other at every layer, so on a busy machine one
that is not scheduled stalls the others: with one of two cores held by another process,
the shipped model's blind call on a 256x256 image took 2.78 times its idle time with
torch's own 2 threads and 1.78 times with this rule (``python benchmarks/bench_threads.py
--before OLD_CHECKOUT --methods cnn``, "Threads on a busy machine" on the benchmarks
page). The output does not depend on the thread count (the tests check bit-identity), so
the package picks it per call:

- ``n_threads`` given (``CNNDenoiser(n_threads=...)``, ``--threads``): that many;
- None: the cores that other processes leave idle, measured from the CPU time the
  machine spent (``/proc/stat``, on the cores this process may run on) minus this
  process's own since the previous call (at least 50 ms ago; a first call looks for
  20 ms), at least 1 and at most torch's own setting, which already honours
  ``OMP_NUM_THREADS``, :func:`threadpoolctl.threadpool_limits` and joblib's workers
  (loky starts them with ``OMP_NUM_THREADS`` set to their share of the cores).

:func:`torch_threads` applies the count while a call runs and restores torch's setting
afterwards: a library does not change its caller's process-wide state.
"""

import os
import sys
import threading
import time
from contextlib import contextmanager

__all__ = ["default_threads", "resolve_threads", "torch_threads"]

# a measurement over a shorter interval is mostly noise: the previous one is kept
_MIN_INTERVAL = 0.05
_FIRST_WINDOW = 0.02
# a core counts as taken when other processes used more than this fraction of it
_BUSY_FRACTION = 0.5


def _allowed_cpus():
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return list(range(os.cpu_count() or 1))


def _read_cpu_seconds(cpus):
    """(busy, total) seconds of the given cores since boot, from /proc/stat."""
    tick = os.sysconf("SC_CLK_TCK")
    busy = total = 0
    wanted = {f"cpu{c}" for c in cpus}
    with open("/proc/stat") as fh:
        for line in fh:
            fields = line.split()
            if not fields or fields[0] not in wanted:
                continue
            values = [int(v) for v in fields[1:]]
            idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
            steal = values[7] if len(values) > 7 else 0
            total += sum(values[:8])
            busy += sum(values[:8]) - idle - steal
    return busy / tick, total / tick


def _own_cpu_seconds():
    times = os.times()
    return times.user + times.system


class _OtherLoad:
    """Cores kept busy by other processes, from CPU time differences between calls."""

    def __init__(self):
        self._lock = threading.Lock()
        self._last = None  # (wall, busy, total, own)
        self._busy_cores = 0.0

    def _sample(self, cpus):
        busy, total = _read_cpu_seconds(cpus)
        return time.monotonic(), busy, total, _own_cpu_seconds()

    def busy_cores(self):
        """Cores' worth of CPU time other processes used lately, or None when it cannot
        be measured (no /proc/stat)."""
        cpus = _allowed_cpus()
        try:
            with self._lock:
                now = self._sample(cpus)
                if self._last is None:
                    first = now
                    time.sleep(_FIRST_WINDOW)
                    now = self._sample(cpus)
                    self._last = first
                if now[0] - self._last[0] >= _MIN_INTERVAL:
                    wall, busy, total, own = (a - b for a, b in zip(now, self._last))
                    if total > 0:
                        others = max(busy - own, 0.0)
                        self._busy_cores = others / total * len(cpus)
                    self._last = now
                return self._busy_cores
        except (OSError, ValueError, IndexError):
            return None


_OTHER_LOAD = _OtherLoad()


def default_threads():
    """The thread count of ``n_threads=None``: the idle cores, between 1 and torch's own
    setting (see the module's docstring)."""
    import torch

    cap = torch.get_num_threads()
    cores = len(_allowed_cpus())
    busy = _OTHER_LOAD.busy_cores()
    if busy is None:
        try:
            busy = max(os.getloadavg()[0] - 1.0, 0.0)  # the caller's own thread counted
        except (AttributeError, OSError):
            busy = 0.0
    taken = int(busy + 1.0 - _BUSY_FRACTION)  # cores more than half used by others
    return max(1, min(cap, cores - taken))


def resolve_threads(n_threads):
    """``n_threads`` itself, or :func:`default_threads` for None."""
    return default_threads() if n_threads is None else int(n_threads)


# Calls running at the same time in several threads: the thread count seen when the first
# started is restored when the last one finishes, so they do not undo each other's setting.
_LOCK = threading.Lock()
_STATE = {"active": 0, "previous": None}


@contextmanager
def torch_threads(n_threads):
    """Run the body with torch's intra-op threads set to ``n_threads`` (None: leave
    them), and torch's setting restored afterwards."""
    torch = sys.modules.get("torch")
    if n_threads is None or torch is None:
        yield
        return
    with _LOCK:
        if _STATE["active"] == 0:
            _STATE["previous"] = torch.get_num_threads()
        _STATE["active"] += 1
    # with torch's OpenMP backend the setting belongs to the calling thread, so every
    # call sets it in its own thread; only the restore is shared
    if torch.get_num_threads() != n_threads:
        torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        with _LOCK:
            _STATE["active"] -= 1
            if _STATE["active"] == 0 and torch.get_num_threads() != _STATE["previous"]:
                torch.set_num_threads(_STATE["previous"])
