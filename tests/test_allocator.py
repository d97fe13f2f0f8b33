"""Large activation buffers are reused during CPU inference (glibc), not mapped afresh."""

import platform
import resource

import numpy as np
import pytest

from sklearn_denoise import _allocator
from sklearn_denoise._allocator import GLIBC_MMAP_THRESHOLD_MAX, large_buffers_reused

needs_glibc = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="the allocator settings are glibc's",
)
BIG = 64 << 20  # above glibc's largest mmap threshold: mapped afresh by default
# a fresh mapping faults at least once per page, huge (2 MiB) pages included
FRESH = BIG // (2 << 20)
REUSED = 4


def _faults_of_second_allocation(nbytes):
    """Page faults while allocating and touching ``nbytes`` a second time."""
    first = np.ones(nbytes // 8)
    del first
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    second = np.ones(nbytes // 8)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    del second
    return faults


@needs_glibc
def test_large_buffers_are_reused_inside_and_mapped_afresh_outside():
    assert _faults_of_second_allocation(BIG) >= FRESH  # glibc's default
    with large_buffers_reused(BIG):
        assert _faults_of_second_allocation(BIG) <= REUSED
        with large_buffers_reused(BIG):  # nested: the outer block still holds
            pass
        assert _faults_of_second_allocation(BIG) <= REUSED
    assert _faults_of_second_allocation(BIG) >= FRESH


@needs_glibc
def test_small_buffers_and_the_switch_leave_glibc_alone(monkeypatch):
    with large_buffers_reused(GLIBC_MMAP_THRESHOLD_MAX):  # glibc reuses these itself
        assert _faults_of_second_allocation(BIG) >= FRESH
    monkeypatch.setattr(_allocator, "REUSE_LARGE_BUFFERS", False)
    with large_buffers_reused(BIG):
        assert _faults_of_second_allocation(BIG) >= FRESH


def test_the_block_exits_cleanly_on_errors():
    with pytest.raises(RuntimeError, match="inside"):
        with large_buffers_reused(BIG):
            raise RuntimeError("inside")
    assert _allocator._active == 0
