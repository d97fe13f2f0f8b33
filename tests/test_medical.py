"""noise_model="rician" and "speckle" (sklearn_denoise._medical) through the denoisers."""

import numpy as np
import pytest

from sklearn_denoise import CNNDenoiser, TVDenoiser, WaveletDenoiser
from sklearn_denoise._medical import rician_mean, rician_unbias


def test_rician_unbias_inverts_the_mean():
    amplitude = np.array([0.0, 0.5, 1.0, 2.0, 5.0, 30.0, 100.0])
    np.testing.assert_allclose(rician_unbias(rician_mean(amplitude, 2.0), 2.0), amplitude,
                               atol=1e-3)
    assert rician_unbias(np.array([0.5]), 1.0)[0] == 0.0  # below sigma sqrt(pi/2)


def _magnitude(seed=0, sigma=0.08):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:96, :96] / 96
    clean = np.where(xx < 0.4, 0.02, 0.3 + 0.6 * yy)  # a dark region and a ramp
    noisy = np.hypot(clean + rng.normal(0, sigma, clean.shape), rng.normal(0, sigma,
                                                                           clean.shape))
    return clean, noisy


@pytest.mark.parametrize("make", [lambda m: WaveletDenoiser(noise_model=m),
                                  lambda m: TVDenoiser(noise_model=m)])
def test_rician_path_removes_the_dark_bias(make):
    clean, noisy = _magnitude()
    dark = clean < 0.05
    gaussian = make("gaussian").fit(noisy[None]).transform(noisy[None])[0]
    rician = make("rician").fit(noisy[None]).transform(noisy[None])[0]
    assert abs(rician[dark].mean() - 0.02) < 0.6 * abs(gaussian[dark].mean() - 0.02)
    assert np.mean((rician - clean) ** 2) < np.mean((gaussian - clean) ** 2)


def test_cnn_rician_given_sigma_and_description():
    clean, noisy = _magnitude(1)
    est = CNNDenoiser.pretrained("gray", noise_model="rician", sigma=0.08)
    pinned = est.for_image(noisy[None])
    assert pinned.decision_.describe(noisy.dtype) == "rician noise, sigma 0.08"
    out = pinned.transform(noisy[None])[0]
    dark = clean < 0.05
    assert abs(out[dark].mean() - 0.02) < 0.02


def test_speckle_path_beats_gaussian_on_multiplicative_noise():
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[:96, :96] / 96
    clean = 0.2 + 0.7 * (xx > 0.5) + 0.05 * np.sin(10 * yy)
    looks = 8
    noisy = clean * rng.gamma(looks, 1 / looks, clean.shape)
    out = {m: WaveletDenoiser(noise_model=m).fit(noisy[None]).transform(noisy[None])[0]
           for m in ("gaussian", "speckle")}
    est = WaveletDenoiser(noise_model="speckle").fit(noisy[None]).for_image(noisy[None])
    assert "speckle noise" in est.decision_.describe(noisy.dtype)
    errors = {m: np.mean((o - clean) ** 2) for m, o in out.items()}
    assert errors["speckle"] < errors["gaussian"]
    assert abs(out["speckle"].mean() / clean.mean() - 1) < 0.05  # no log bias left


@pytest.mark.parametrize("model", ["rician", "speckle"])
def test_colour_images_refused(model):
    rgb = np.random.default_rng(0).random((1, 32, 32, 3))
    with pytest.raises(ValueError, match="single-channel"):
        WaveletDenoiser(noise_model=model).fit(rgb).transform(rgb)


def test_rician_sigma_corrects_the_dark_background():
    """A Gaussian estimate reads the Rayleigh spread (0.655 sigma) of an MR background;
    the Rician estimate corrects it, and leaves images without background alone."""
    from sklearn_denoise._medical import rician_sigma
    from sklearn_denoise._noise_level import blind_level

    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:128, :128]
    texture = 0.3 + 0.2 * np.sin(xx / 5) * np.cos(yy / 7)
    inside = (yy - 64) ** 2 + (xx - 64) ** 2 < 45**2
    sigma = 0.05
    for amplitude, low, high in [(np.where(inside, texture, 0.0), 0.88, 1.1),
                                 (texture + 0.3, 0.85, 1.15)]:
        magnitude = np.hypot(amplitude + rng.normal(0, sigma, amplitude.shape),
                             rng.normal(0, sigma, amplitude.shape))[..., None]
        level = blind_level(magnitude)
        assert low * sigma < rician_sigma(magnitude, level) < high * sigma
    assert level / sigma > 0.85  # no background: the Gaussian estimate was right


@pytest.mark.parametrize("model", ["rician", "speckle"])
def test_medical_paths_follow_the_data_units(model):
    """Data in other units (mapped onto [0, 1] with an offset before denoising) give the
    same result, scaled: a zero signal stays where it is in the data."""
    clean, noisy = _magnitude(4)
    if model == "speckle":
        noisy = clean * np.random.default_rng(5).gamma(8, 1 / 8, clean.shape) + 0.01
    out = CNNDenoiser.pretrained("gray", noise_model=model).transform(noisy[None])[0]
    big = CNNDenoiser.pretrained("gray", noise_model=model).transform(2000 * noisy[None])[0]
    np.testing.assert_allclose(big / 2000, out, rtol=0.03, atol=0.02)
    wavelet = WaveletDenoiser(noise_model=model)
    small = wavelet.fit(noisy[None]).transform(noisy[None])[0]
    np.testing.assert_allclose(wavelet.transform(2000 * noisy[None])[0] / 2000, small,
                               rtol=0.03, atol=0.02)
