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


@pytest.mark.parametrize("looks", [4, 16])
def test_cnn_reads_speckle_on_the_logarithm_as_the_wavelet_path_does(looks):
    """The CNN read the speckle level on the image instead of its logarithm: 4-look
    speckle on ``camera`` was taken for 15 looks (62 on a phantom), and denoised by 2.6 dB
    instead of 16."""
    from skimage.data import camera

    from sklearn_denoise.metrics import psnr

    clean = camera()[::2, ::2] / 255.0
    noisy = clean * np.random.default_rng(looks).gamma(looks, 1 / looks, clean.shape)
    cnn = CNNDenoiser.pretrained("gray", noise_model="speckle").for_image(noisy[None])
    wavelet = WaveletDenoiser(noise_model="speckle").fit(noisy[None]).for_image(noisy[None])
    (read,), (wavelet_read,) = cnn.decision_.noise, wavelet.decision_.noise
    assert read.looks == pytest.approx(looks, rel=0.25)
    assert read.looks == pytest.approx(wavelet_read.looks, rel=0.25)
    out = cnn.transform(noisy[None])[0]
    assert psnr(clean, out, data_range=1) > psnr(clean, noisy, data_range=1) + 10


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


def test_local_rician_sigma_is_sigma_where_the_noise_is_rician():
    """Stationary Rician data (a Rayleigh background and tissue) keep the one sigma almost
    everywhere; a background whose spread is a tenth of that gets about a tenth."""
    from sklearn_denoise._medical import local_rician_sigma

    sigma = 0.05
    clean, noisy = _magnitude(4, sigma)
    local = local_rician_sigma(noisy[..., None], sigma)[..., 0]
    assert local.shape == noisy.shape
    assert np.mean(local == sigma) > 0.99 and local.max() == sigma
    rng = np.random.default_rng(5)
    weak = np.hypot(0.2 + rng.normal(0, sigma / 10, noisy.shape),
                    rng.normal(0, sigma / 10, noisy.shape))
    local = local_rician_sigma(weak[..., None], sigma)
    assert 0.05 * sigma < np.median(local) < 0.3 * sigma
    # a volume: windows within each plane
    volume = np.stack([noisy, weak])[..., None]
    np.testing.assert_allclose(local_rician_sigma(volume, sigma)[1], local)


def test_rician_bias_removal_keeps_a_dim_quiet_background():
    """MR scanners filter or mask the background of many magnitude images: a dim signal
    carrying a tenth of the tissue's noise (as in pydicom's ``examples_overlay.dcm``). The
    bias of the tissue's sigma is not removed there (with one sigma everywhere, values under
    sigma sqrt(pi/2) went to 0, the whole background here), while the dark tissue still
    loses its bias."""
    rng = np.random.default_rng(6)
    sigma = 0.04
    yy, xx = np.mgrid[:128, :128]
    inside = (yy - 64) ** 2 + (xx - 64) ** 2 < 50**2
    clean = np.where(inside, np.where(xx < 64, 0.03, 0.5), 0.03)
    level = np.where(inside, sigma, sigma / 10)
    noisy = np.hypot(clean + rng.normal(0, level), rng.normal(0, level)).astype(np.float32)
    est = CNNDenoiser.pretrained("gray", noise_model="rician", sigma=sigma)
    out = est.transform(noisy[None])[0]
    background = ~inside & ((yy - 64) ** 2 + (xx - 64) ** 2 > 60**2)
    assert abs(out[background].mean() - 0.03) < 0.005, out[background].mean()
    dark_tissue = inside & (xx < 50) & ((yy - 64) ** 2 + (xx - 64) ** 2 < 40**2)
    assert noisy[dark_tissue].mean() > 0.05  # the bias this removes
    assert abs(out[dark_tissue].mean() - 0.03) < 0.015, out[dark_tissue].mean()


def test_correlated_rician_noise_goes_to_the_expert():
    """An interpolated MR image (zero-filled k-space) carries spatially correlated Rician
    noise: the blind call reads it as correlated and runs the correlated-noise expert, as
    for Gaussian noise, then removes the Rician bias."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:128, :128] / 128
    clean = 0.3 + 0.4 * (xx > 0.5) + 0.1 * np.sin(8 * yy)

    def correlated():
        noise = gaussian_filter(rng.normal(0, 1, clean.shape), 1.0)
        return noise * 0.04 / noise.std()

    noisy = np.hypot(clean + correlated(), correlated()).astype(np.float32)
    est = CNNDenoiser.pretrained("gray", noise_model="rician")
    pinned = est.for_image(noisy[None])
    assert pinned.decision_.correlated == (True,)
    assert pinned.decision_.describe(noisy.dtype).startswith("correlated rician noise")
    out = pinned.transform(noisy[None])[0]
    expert, est.correlated_expert_ = est.correlated_expert_, None
    without = est.transform(noisy[None])[0]
    est.correlated_expert_ = expert
    assert np.mean((out - clean) ** 2) < 0.7 * np.mean((without - clean) ** 2)
