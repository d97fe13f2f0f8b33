"""Training patches of the stack network (a plane with its aligned neighbours)."""

import numpy as np
import pytest

from sklearn_denoise._stack_training import StackPatches
from sklearn_denoise.datasets import load_sample_images


@pytest.fixture(scope="module")
def moving():
    scene = load_sample_images(size=96)[0].astype(np.float32) / 255
    steps = np.cumsum([(0, 0), (2, 1), (-1, 2), (1, 0), (0, -2)], axis=0)
    return np.stack([np.roll(scene, tuple(p), axis=(0, 1)) for p in steps])[..., None]


def _patches(volume, mode, **kwargs):
    params = dict(mode=mode, patch_size=32, n_patches=20, sigma_range=(0.1, 0.1),
                  noise_level_input=True, mask_ratio=0.05, sigmas=[0.1], seed=0,
                  context_planes=4)
    params.update(kwargs)
    targets = [volume] if mode == "supervised" else None
    return StackPatches([volume], targets, **params)


def test_inputs_are_the_plane_its_level_and_its_aligned_neighbours(moving):
    x, y = _patches(moving, "supervised")[0]
    assert x.shape == (1 + 1 + 4, 32, 32) and y.shape == (1, 32, 32)
    np.testing.assert_array_equal(x[0], y[0])  # supervised with clean targets
    assert float(x[1].min()) == float(x[1].max()) == pytest.approx(0.1)
    for neighbour in x[2:]:  # the same content, shifted onto the plane
        np.testing.assert_array_equal(neighbour[4:-4, 4:-4].numpy(), x[0, 4:-4, 4:-4].numpy())


def test_synthetic_noise_is_independent_per_plane_and_the_target_is_the_plane(moving):
    x, y = _patches(moving, "synthetic")[0]
    assert y.shape == (1, 32, 32)
    residuals = [(x[k] - y[0]).numpy() for k in (0, 2, 3)]
    assert all(r.std() == pytest.approx(0.1, rel=0.2) for r in residuals)
    assert abs(np.corrcoef(residuals[0][4:-4, 4:-4].ravel(),
                           residuals[1][4:-4, 4:-4].ravel())[0, 1]) < 0.15


def test_blind_spot_mask_is_on_the_plane_only(moving):
    noisy = moving + np.random.default_rng(0).normal(0, 0.1, moving.shape).astype(np.float32)
    x, y = _patches(noisy, "self_supervised")[3]
    mask = y[-1].numpy().astype(bool)
    assert y.shape == (2, 32, 32) and mask.any()
    # replaced where masked (by a neighbouring pixel's value)
    assert np.mean(x[0].numpy()[mask] != y[0].numpy()[mask]) > 0.8
    np.testing.assert_array_equal(x[0].numpy()[~mask], y[0].numpy()[~mask])
    # neighbours as they are: the plane's masked pixels are not in them
    assert x.shape[0] == 6
