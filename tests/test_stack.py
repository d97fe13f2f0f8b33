"""Neighbouring planes of the stack network: which planes, and their alignment."""

import numpy as np
import pytest
from scipy.ndimage import shift as ndimage_shift

from sklearn_denoise._stack import (
    align_to,
    consecutive_shift,
    neighbour_offsets,
    neighbour_planes,
    neighbour_sources,
    plane_positions,
)
from sklearn_denoise.datasets import load_sample_images


@pytest.fixture(scope="module")
def scene():
    return load_sample_images(size=128)[0].astype(np.float64) / 255


def _moving(scene, steps):
    """Planes of ``scene`` rolled by the cumulative integer ``steps``."""
    positions = np.concatenate([[(0, 0)], np.cumsum(steps, axis=0)])
    return np.stack([np.roll(scene, tuple(p), axis=(0, 1)) for p in positions]), positions


def test_neighbour_offsets_nearest_first():
    assert neighbour_offsets(4) == [-1, 1, -2, 2]
    assert neighbour_offsets(6) == [-1, 1, -2, 2, -3, 3]


@pytest.mark.parametrize("shift", [(2, -3), (-1, 4), (0, 2), (0, 0)])
def test_align_to_moves_by_whole_pixels_repeating_the_edge(shift):
    plane = np.random.default_rng(0).random((20, 30, 2))
    expected = ndimage_shift(plane, shift + (0,), order=0, mode="nearest")
    np.testing.assert_array_equal(align_to(plane, shift), expected)


def test_consecutive_shifts_of_a_noisy_moving_sequence_are_found(scene):
    steps = [(2, -1), (-1, 2), (0, 1), (2, 2)]
    clean, positions = _moving(scene, steps)
    noisy = clean + np.random.default_rng(1).normal(0, 50 / 255, clean.shape)
    found = plane_positions(noisy)
    # the shift that moves plane z onto plane 0 undoes its motion
    np.testing.assert_array_equal(found, -positions)


def test_static_and_featureless_planes_are_not_moved(scene):
    rng = np.random.default_rng(2)
    static = scene + rng.normal(0, 0.2, (5,) + scene.shape)
    assert not plane_positions(static).any()
    assert consecutive_shift(rng.normal(size=(64, 64)), rng.normal(size=(64, 64))) == (0, 0)
    assert consecutive_shift(np.zeros((64, 64)), np.zeros((64, 64))) == (0, 0)


def test_neighbours_near_the_ends_are_the_nearest_distinct_planes():
    planes = np.arange(8, dtype=float)[:, None, None] * np.ones((8, 8, 8))
    # offsets -1, +1, -2, +2, -3, +3; those outside the stack take the nearest free planes
    assert [p[0, 0] for p in neighbour_planes(planes, 0, 6)] == [4, 1, 5, 2, 6, 3]
    assert neighbour_sources(1, 8, 6) == [0, 2, 5, 3, 6, 4]
    assert neighbour_sources(4, 8, 6) == [3, 5, 2, 6, 1, 7]  # all inside: the offsets
    assert neighbour_sources(7, 8, 4) == [6, 4, 5, 3]
    # a stack too short for distinct planes repeats them (mirrored)
    assert neighbour_sources(0, 3, 4) == [1, 1, 2, 2]
    assert neighbour_sources(0, 1, 2) == [0, 0]


def test_aligned_neighbours_match_the_plane_they_surround(scene):
    clean, _ = _moving(scene, [(1, 2), (2, -2), (-2, 1), (1, 1), (0, -2)])
    noisy = clean + np.random.default_rng(3).normal(0, 25 / 255, clean.shape)
    positions = plane_positions(noisy)
    for neighbour in neighbour_planes(clean, 3, 6, positions):
        inner = (slice(8, -8), slice(8, -8))
        np.testing.assert_array_equal(neighbour[inner], clean[3][inner])


def test_a_chunk_of_planes_gets_the_neighbours_of_the_whole_stack(scene):
    # what dask's chunks along Z rely on: a shift depends on its two planes only
    clean, _ = _moving(scene, [(1, 0), (0, 2), (-1, -1), (2, 1), (1, 1), (0, 1)])
    noisy = clean + np.random.default_rng(4).normal(0, 25 / 255, clean.shape)
    whole = plane_positions(noisy)
    chunk = plane_positions(noisy[2:6])
    np.testing.assert_array_equal(chunk - chunk[0], whole[2:6] - whole[2])
    for a, b in zip(neighbour_planes(noisy, 4, 4, whole),
                    neighbour_planes(noisy[2:7], 2, 4, plane_positions(noisy[2:7]))):
        np.testing.assert_array_equal(a, b)
