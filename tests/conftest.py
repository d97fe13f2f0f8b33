"""Fixtures shared by several test modules."""

import subprocess
import sys

import numpy as np
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


@pytest.fixture(scope="session")
def ct_phantom():
    """A 160x160 CT-like slice in HU: air at -1000, a body of soft tissue shaded from 0 to
    100 HU with a 60 HU organ, and a bone of +900 HU: a span of about 1900 HU."""
    size = 160
    rows, cols = np.mgrid[:size, :size] / size
    image = np.full((size, size), -1000.0)
    body = (rows - 0.5) ** 2 / 0.4**2 + (cols - 0.5) ** 2 / 0.45**2 < 1
    image[body] = 100 * cols[body]
    image[(rows - 0.45) ** 2 + (cols - 0.6) ** 2 < 0.1**2] = 60.0
    image[(rows - 0.65) ** 2 + (cols - 0.4) ** 2 < 0.06**2] = 900.0
    return image
