"""The blind noise-level decision of sklearn_denoise._noise_level: white or correlated
noise, read on the image as the denoisers normalise it."""

import numpy as np
import pytest

from sklearn_denoise._noise_level import (
    CORRELATED_EXCESS,
    CORRELATED_FAINT_EXCESS,
    CORRELATED_MAX_RATIO,
    FLAT_BLOCK,
    NoiseReading,
    estimate_level,
    flat_level,
    looks_correlated,
)
from sklearn_denoise._normalize import fit_normalization
from sklearn_denoise._sensor import estimate_gaussian_sigma
from sklearn_denoise.noise import correlated_gaussian


def _reading(noisy):
    """The reading of the image as the CNN sees it (after its ``normalize="auto"``), and
    that normalisation's scale (HU per unit)."""
    x = noisy[..., None].astype(np.float32)
    normalization = fit_normalization(x, "auto")
    return NoiseReading(normalization.apply(x).astype(np.float32)), normalization.scale


def test_correlated_noise_on_a_wide_intensity_span_is_taken_as_correlated(ct_phantom):
    # a CT slice's noise, 20 HU, is 2.7/255 of its span (correlated_gaussian takes levels
    # on the [0, 1] scale: noise of 0.5, times 40)
    noise = 40 * correlated_gaussian(np.zeros((160, 160)), 0.5, random_state=0)
    noisy = ct_phantom + noise
    reading, scale = _reading(noisy)
    # the noise is faint on the normalised scale: the excess over the finest band stays
    # under the absolute floor that photographs need
    white = estimate_gaussian_sigma(reading.image)
    level = reading.correlated_level()
    assert level is not None
    assert level - white < CORRELATED_EXCESS
    assert level * scale == pytest.approx(20, rel=0.2)
    assert reading.blind_level() == level
    # the white-noise estimates read a fraction of it
    assert white * scale < 10


def test_white_noise_on_a_wide_intensity_span_stays_white(ct_phantom):
    noisy = ct_phantom + np.random.default_rng(0).normal(0, 20.0, (160, 160))
    reading, scale = _reading(noisy)
    assert reading.correlated_level() is None
    assert reading.blind_level() * scale == pytest.approx(20, rel=0.1)


def test_looks_correlated():
    # correlated noise: a large ratio, and an excess over the absolute floor or the faint one
    assert looks_correlated(17 / 255, 2.7 / 255)
    assert looks_correlated(2.94 / 255, 0.96 / 255)
    # white noise and textures: the two estimates agree within 1.7x, at any level
    assert not looks_correlated(3.21 / 255, 2.34 / 255)
    assert not looks_correlated(8.0 / 255, 5.2 / 255)
    # faint and a moderate ratio: photographs' texture and compression
    assert not looks_correlated(3.7 / 255, 1.8 / 255)
    # faint, with nothing in the finest band: a noise-free image's edges
    assert not looks_correlated(2.0 / 255, 0.001 / 255)
    assert not looks_correlated(CORRELATED_FAINT_EXCESS * 1.1,
                                CORRELATED_FAINT_EXCESS * 1.1 / (2 * CORRELATED_MAX_RATIO))
    # too faint to tell from the estimator's reading of clean content
    assert not looks_correlated(1.2 / 255, 0.1 / 255)
    assert not looks_correlated(None, 0.01)


def test_a_star_field_is_not_correlated_noise():
    """The learned estimator takes dense stars for correlated noise: astropy's m13.fits
    (the core of a globular cluster) was denoised as correlated noise of 135 counts while
    its sky varies by about 1.5, and two thirds of its stars brighter than the sky by 50
    counts were wiped out. The smooth sky between the stars shows no such noise."""
    fits = pytest.importorskip("astropy.io.fits")
    from pathlib import Path

    path = Path(fits.__file__).parent / "hdu" / "compressed" / "tests" / "data" / "m13.fits"
    reading, scale = _reading(fits.getdata(path).astype(np.float64))
    white = estimate_gaussian_sigma(reading.image)
    learned = estimate_level(reading.image)
    assert looks_correlated(learned, white)  # the two estimates alone would say so
    assert learned * scale > 100
    assert flat_level(reading.image) < 0.1 * learned
    assert reading.correlated_level() is None
    assert reading.blind_level() * scale < 2

def test_flat_level_reads_stationary_noise_and_skips_clipped_blocks():
    from skimage.data import camera

    noisy = correlated_gaussian(camera()[100:250, 100:250] / 255.0, 10 / 255,
                                random_state=1)
    reading, _ = _reading(noisy)
    assert reading.correlated_level() is not None
    assert flat_level(reading.image) >= 0.5 * reading.correlated_level()
    # a saturated half (clipped at the maximum) and a masked corner (at the minimum) hold
    # no noise: their blocks are left out, not read as flat
    clipped = noisy.copy()
    clipped[:, 75:] = noisy.max()
    clipped[:30, :30] = noisy.min()
    reading, _ = _reading(clipped)
    assert reading.correlated_level() is not None
    assert flat_level(reading.image) >= 0.5 * reading.correlated_level()
    # pure correlated noise: the flattest blocks vary about as much as the noise
    noise = correlated_gaussian(np.full((150, 150), 0.5), 10 / 255, random_state=1)
    assert flat_level(noise[..., None]) == pytest.approx(10 / 255, rel=0.2)
    # too few blocks to tell: no veto
    rng = np.random.default_rng(1)
    assert flat_level(rng.normal(size=(2 * FLAT_BLOCK, 3 * FLAT_BLOCK, 1))) is None
