"""Fixtures shared by several test modules."""

import subprocess
import sys

import pytest

# The child's own peak: VmHWM of its memory map, which exec starts afresh. ru_maxrss is
# not that on Linux: a child spawned by a large process (a long pytest session) reports
# at least the parent's resident size at the time of the spawn.
_PEAK_PROBE = """
import resource
try:
    with open("/proc/self/status") as _fh:
        print(next(int(line.split()[1]) for line in _fh if line.startswith("VmHWM:")))
except (OSError, StopIteration):
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.fixture
def peak_rss_mib():
    """Run Python ``code`` in a fresh interpreter; return its peak resident memory in MiB.

    A fresh process keeps the measurement free of what the test session already holds.
    """

    def run(code):
        result = subprocess.run([sys.executable, "-c", code + _PEAK_PROBE],
                                capture_output=True, text=True, check=True)
        return int(result.stdout.strip().splitlines()[-1]) / 1024

    return run
