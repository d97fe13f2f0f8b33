"""Seeded noise models: reproducibility, statistics, layouts and errors."""

import numpy as np
import pytest

from sklearn_denoise.noise import gaussian, poisson, salt_and_pepper, speckle

NOISES = [
    (gaussian, 0.1),
    (poisson, 30.0),
    (salt_and_pepper, 0.1),
    (speckle, 0.2),
]


@pytest.mark.parametrize("noise, level", NOISES)
def test_seeded_reproducible(noise, level):
    x = np.full((3, 16, 16), 0.5)
    a = noise(x, level, random_state=0)
    b = noise(x, level, random_state=0)
    c = noise(x, level, random_state=1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    rng = np.random.RandomState(3)
    assert not np.array_equal(noise(x, level, random_state=rng), noise(x, level, random_state=rng))


@pytest.mark.parametrize("noise, level", NOISES)
def test_layouts_and_dtypes(noise, level):
    x8 = np.full((2, 8, 8, 3), 128, np.uint8)
    out = noise(x8, level, random_state=0)
    assert out.shape == x8.shape and out.dtype == np.float32
    x32 = np.full((2, 8, 8), 0.5, np.float32)
    assert noise(x32, level, random_state=0).dtype == np.float32
    x64 = np.full((2, 8, 8), 0.5)
    assert noise(x64, level, random_state=0).dtype == np.float64
    images = [np.full((4, 5), 0.5), np.full((6, 3), 0.5)]
    out = noise(images, level, random_state=0)
    assert isinstance(out, list) and [o.shape for o in out] == [(4, 5), (6, 3)]


def test_gaussian_statistics():
    x = np.full((4, 100, 100), 0.5)
    noise = gaussian(x, 0.1, random_state=0) - x
    assert abs(noise.mean()) < 0.002
    assert noise.std() == pytest.approx(0.1, rel=0.02)
    # not clipped: values leave [0, 1] for large sigma
    out = gaussian(np.zeros((1, 50, 50)), 0.5, random_state=0)
    assert out.min() < 0 and out.max() > 1


def test_gaussian_reads_integers_on_their_range():
    out = gaussian(np.full((2, 64, 64), 255, np.uint8), 0.05, random_state=0)
    assert out.mean() == pytest.approx(1.0, abs=0.005)


def test_poisson_statistics():
    x = np.full((4, 100, 100), 0.4)
    out = poisson(x, 50.0, random_state=0)
    assert out.mean() == pytest.approx(0.4, rel=0.01)
    assert out.var() == pytest.approx(0.4 / 50.0, rel=0.05)
    # values are multiples of 1 / peak
    np.testing.assert_allclose(out * 50, np.round(out * 50), atol=1e-9)


def test_salt_and_pepper_statistics():
    x = np.full((4, 100, 100), 0.5)
    out = salt_and_pepper(x, 0.2, salt_vs_pepper=0.25, random_state=0)
    changed = out != 0.5
    assert changed.mean() == pytest.approx(0.2, abs=0.01)
    assert set(np.unique(out[changed])) <= {0.0, 1.0}
    assert (out[changed] == 1.0).mean() == pytest.approx(0.25, abs=0.02)
    np.testing.assert_array_equal(salt_and_pepper(x, 0.0, random_state=0), x)


def test_speckle_statistics():
    x = np.full((4, 100, 100), 0.5)
    out = speckle(x, 0.2, random_state=0)
    assert out.mean() == pytest.approx(0.5, rel=0.01)
    assert out.std() == pytest.approx(0.1, rel=0.03)
    np.testing.assert_array_equal(speckle(np.zeros((1, 8, 8)), 0.2, random_state=0), 0)


def test_input_not_modified():
    x = np.full((2, 8, 8), 0.5)
    for noise, level in NOISES:
        noise(x, level, random_state=0)
    np.testing.assert_array_equal(x, 0.5)


def test_errors():
    x = np.full((2, 8, 8), 0.5)
    with pytest.raises(ValueError, match="above 1"):
        gaussian(x, 25, random_state=0)
    with pytest.raises(ValueError, match="non-negative"):
        gaussian(x, -0.1)
    with pytest.raises(ValueError, match="sigma"):
        gaussian(x, None)
    with pytest.raises(ValueError, match="peak"):
        poisson(x, 0)
    with pytest.raises(ValueError, match="non-negative intensities"):
        poisson(x - 1, 10)
    with pytest.raises(ValueError, match="amount"):
        salt_and_pepper(x, 1.5)
    with pytest.raises(ValueError, match="salt_vs_pepper"):
        salt_and_pepper(x, 0.1, salt_vs_pepper=-1)
    bad = x.copy()
    bad[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        speckle(bad, 0.1)
    with pytest.raises(TypeError, match="dtype"):
        gaussian(x.astype(bool), 0.1)
