"""Fixtures shared by several test modules."""

import subprocess
import sys

import pytest


@pytest.fixture
def peak_rss_mib():
    """Run Python ``code`` in a fresh interpreter; return its peak resident memory in MiB.

    A fresh process keeps the measurement free of what the test session already holds.
    """

    def run(code):
        probe = "\nimport resource\nprint(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
        result = subprocess.run([sys.executable, "-c", code + probe], capture_output=True,
                                text=True, check=True)
        return int(result.stdout.strip().splitlines()[-1]) / 1024

    return run
