"""The degradation model of sklearn_denoise.noise: correlated Gaussian noise, JPEG, random
per-patch mixtures with their noise-level maps, and the learned noise-level estimate."""

import numpy as np
import pytest
from skimage import data
from skimage.restoration import estimate_sigma

from sklearn_denoise.noise import (
    Degradation,
    correlated_gaussian,
    estimate_noise_level,
    gaussian,
    jpeg,
)

CAMERA = data.camera()[::2, ::2] / 255.0  # 256x256


def _neighbour_correlation(noise):
    a = noise[:, :-1].ravel() - noise.mean()
    b = noise[:, 1:].ravel() - noise.mean()
    return float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)))


@pytest.mark.parametrize("correlation, low, high", [(0.0, -0.05, 0.05), (1.0, 0.7, 0.85),
                                                    (2.0, 0.9, 0.97)])
def test_correlated_gaussian_has_the_asked_std_and_correlation(correlation, low, high):
    noise = correlated_gaussian(np.zeros((256, 256)), 20 / 255, correlation=correlation,
                                random_state=0)
    assert noise.std() * 255 == pytest.approx(20, rel=0.05)
    assert low < _neighbour_correlation(noise) < high


def test_correlated_gaussian_layouts_seeds_and_channels():
    x = np.full((2, 32, 32, 3), 0.5)
    a = correlated_gaussian(x, 0.1, random_state=0)
    np.testing.assert_array_equal(a, correlated_gaussian(x, 0.1, random_state=0))
    assert not np.array_equal(a, correlated_gaussian(x, 0.1, random_state=1))
    assert a.shape == x.shape
    # images and channels get independent noise, blurred only over the image plane
    assert abs(np.corrcoef(a[0, ..., 0].ravel(), a[1, ..., 0].ravel())[0, 1]) < 0.15
    assert abs(np.corrcoef(a[0, ..., 0].ravel(), a[0, ..., 1].ravel())[0, 1]) < 0.15
    listed = correlated_gaussian([np.zeros((16, 16)), np.zeros((8, 8))], 0.1, random_state=0)
    assert [n.shape for n in listed] == [(16, 16), (8, 8)]


def test_correlated_gaussian_errors():
    with pytest.raises(ValueError, match="correlation"):
        correlated_gaussian(np.zeros((8, 8)), 0.1, correlation=-1)
    with pytest.raises(ValueError, match="sigma"):
        correlated_gaussian(np.zeros((8, 8)), 2.0)
    with pytest.raises(ValueError, match="NaN"):
        correlated_gaussian(np.full((8, 8), np.nan), 0.1)


def test_jpeg_is_lossy_8bit_and_keeps_layouts():
    noisy = gaussian(CAMERA, 15 / 255, random_state=0)
    out = jpeg(noisy, quality=75)
    assert out.shape == CAMERA.shape and out.min() >= 0 and out.max() <= 1
    np.testing.assert_array_equal(np.rint(out * 255), out * 255)  # 8-bit values
    # JPEG removes the noise's finest detail: a white-noise estimate sees less of it
    assert estimate_sigma(jpeg(noisy, quality=50)) < 0.5 * estimate_sigma(noisy)
    assert np.abs(jpeg(noisy, quality=95) - np.clip(noisy, 0, 1)).mean() < np.abs(
        out - np.clip(noisy, 0, 1)).mean()
    assert jpeg(np.stack([CAMERA] * 2), quality=50).shape == (2, 256, 256)
    assert jpeg(np.zeros((2, 16, 16, 1)), quality=50).shape == (2, 16, 16, 1)
    rgb = jpeg(np.stack([CAMERA] * 3, axis=-1), quality=50)
    assert rgb.shape == (256, 256, 3)


@pytest.mark.parametrize("quality", [0, 101, 75.5, True, "75"])
def test_jpeg_quality_is_checked(quality):
    with pytest.raises(ValueError, match="quality"):
        jpeg(CAMERA, quality=quality)


def test_jpeg_shape_errors():
    with pytest.raises(ValueError, match="shape"):
        jpeg(np.zeros((2, 8, 8, 2)), quality=50)


def test_degradation_samples_every_kind_with_its_map():
    rng = np.random.default_rng(0)
    clean = CAMERA[:64, :64, None].astype(np.float32)
    kinds = {}
    for _ in range(300):
        noisy, target, noise_map, kind = Degradation().sample(clean, rng)
        assert noisy.shape == target.shape == noise_map.shape == clean.shape
        assert noisy.dtype == target.dtype == noise_map.dtype == np.float32
        kinds.setdefault(kind, []).append((noisy, target, noise_map))
    assert set(kinds) == {"gaussian", "gaussian+jpeg", "correlated", "correlated+jpeg",
                          "poisson-gaussian"}
    for noisy, target, noise_map in kinds["gaussian"]:
        level = noise_map[0, 0, 0]
        np.testing.assert_array_equal(noise_map, level)  # one level per patch
        np.testing.assert_array_equal(target, clean)
        assert np.std(noisy - clean) == pytest.approx(level, rel=0.2, abs=2e-3)
    for _, _, noise_map in kinds["poisson-gaussian"]:
        assert noise_map.std() > 0  # per-pixel map of signal-dependent noise


def test_degradation_is_seeded():
    clean = CAMERA[:32, :32, None].astype(np.float32)
    a = [Degradation().sample(clean, np.random.default_rng(5))[0] for _ in range(2)]
    np.testing.assert_array_equal(a[0], a[1])


def test_degradation_weights_select_the_noise():
    rng = np.random.default_rng(0)
    clean = CAMERA[:32, :32, None].astype(np.float32)
    only_correlated = Degradation(weights=(0, 0, 1), jpeg_probability=0.0)
    assert {only_correlated.sample(clean, rng)[3] for _ in range(20)} == {"correlated"}


@pytest.mark.parametrize("kwargs, match", [
    ({"weights": (1, 1)}, "weights"),
    ({"weights": (0, 0, 0)}, "weights"),
    ({"sigma_range": (0, 2)}, "sigma_range"),
    ({"correlation_range": (2, 1)}, "correlation_range"),
    ({"jpeg_probability": 1.5}, "jpeg_probability"),
    ({"quality_range": (0, 90)}, "quality"),
])
def test_degradation_parameters_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Degradation(**kwargs)


@pytest.mark.parametrize("noise, true", [
    (lambda x: gaussian(x, 5 / 255, random_state=0), 5),
    (lambda x: gaussian(x, 25 / 255, random_state=0), 25),
    (lambda x: correlated_gaussian(x, 20 / 255, random_state=0), 20),
    (lambda x: jpeg(gaussian(x, 15 / 255, random_state=0), quality=75), 15),
])
def test_estimate_noise_level_sees_white_correlated_and_compressed_noise(noise, true):
    noisy = noise(CAMERA)
    assert estimate_noise_level(noisy) * 255 == pytest.approx(true, rel=0.2, abs=1.5)


def test_estimate_noise_level_where_the_wavelet_estimate_fails():
    noisy = correlated_gaussian(CAMERA, 20 / 255, random_state=0)
    assert estimate_sigma(noisy) * 255 < 12  # the white-noise estimate sees half of it
    assert estimate_noise_level(noisy) * 255 > 16


def test_estimate_noise_level_scales_layouts_and_errors():
    noisy = gaussian(CAMERA, 20 / 255, random_state=0)
    level = estimate_noise_level(noisy)
    # floats on [0, 255] are mapped onto [0, 1] by their percentiles, and the level back
    assert estimate_noise_level(noisy * 255) == pytest.approx(level * 255, rel=0.05)
    rgb = np.stack([noisy] * 3, axis=0)
    assert estimate_noise_level(rgb, channel_axis=0) == pytest.approx(level, rel=1e-3)
    big = gaussian(np.tile(CAMERA, (4, 4)), 20 / 255, random_state=0)  # crops of 1024^2
    assert estimate_noise_level(big) * 255 == pytest.approx(20, rel=0.2)
    assert estimate_noise_level(np.full((32, 32), 0.5)) == 0.0
    with pytest.raises(ValueError, match="at least 8x8"):
        estimate_noise_level(np.zeros((4, 64)))
    with pytest.raises(ValueError, match="NaN"):
        estimate_noise_level(np.full((16, 16), np.nan))
    with pytest.raises(ValueError, match="shape"):
        estimate_noise_level(np.zeros((2, 16, 16, 1)))
    with pytest.raises(TypeError, match="dtype"):
        estimate_noise_level(np.zeros((16, 16), dtype=bool))


def test_degradation_settings_round_trip_through_json():
    import json

    mixture = Degradation(weights=(0.6, 0.2, 0.2), quality_range=(50, 90))
    settings = json.loads(json.dumps(mixture.to_dict()))
    assert Degradation.from_dict(settings) == mixture
    with pytest.raises(ValueError, match="must have the keys"):
        Degradation.from_dict({**settings, "extra": 1})
    with pytest.raises(ValueError, match="weights must be finite"):
        Degradation.from_dict({**settings, "weights": [float("nan"), 1, 1]})
    with pytest.raises(TypeError, match="weights must be a number"):
        Degradation.from_dict({**settings, "weights": "abc"})


@pytest.mark.parametrize("sigma255", [2, 5, 15, 25, 50])
def test_blind_level_reads_white_noise_from_weakly_textured_patches(sigma255):
    from sklearn_denoise._noise_level import blind_level, weak_texture_level
    from sklearn_denoise._sensor import estimate_gaussian_sigma

    # a photograph and two textures
    for clean in (CAMERA, data.gravel()[:256, :256] / 255.0, data.grass()[:256, :256] / 255.0):
        noisy = gaussian(clean, sigma255 / 255, random_state=0)[..., None]
        level = blind_level(noisy)
        assert level == weak_texture_level(noisy)
        # the finest wavelet band also holds the texture: it reads more than the noise
        wavelet = estimate_gaussian_sigma(noisy)
        assert abs(level * 255 - sigma255) < abs(wavelet * 255 - sigma255)


@pytest.mark.parametrize("shape", [(48, 64), (256, 256), (700, 520)])
@pytest.mark.parametrize("sigma255", [1, 10, 50])
def test_weak_texture_level_is_unbiased_on_noise_over_smooth_shading(shape, sigma255):
    from sklearn_denoise._noise_level import weak_texture_level

    rows, cols = np.mgrid[: shape[0], : shape[1]]
    shading = 0.3 + 0.4 * (rows / shape[0]) * (cols / shape[1])
    noisy = gaussian(shading, sigma255 / 255, random_state=1)[..., None]
    # few patches (48x64: 15% low uncorrected) or a grid of them (700x520): the sampling
    # bias of the smallest eigenvalue is corrected
    assert weak_texture_level(noisy) * 255 == pytest.approx(sigma255, rel=0.07)


def test_weak_texture_level_leaves_out_saturated_patches_and_scales():
    from sklearn_denoise._noise_level import weak_texture_level
    from sklearn_denoise._sensor import estimate_gaussian_sigma

    noisy = gaussian(np.full((128, 128), 0.5), 10 / 255, random_state=0)
    noisy[:, :80] = 1.0  # a blown highlight over most of the image: no noise there
    level = weak_texture_level(noisy[..., None])
    assert level * 255 == pytest.approx(10, rel=0.05)
    assert estimate_gaussian_sigma(noisy[..., None]) * 255 < 1  # its median sees none
    assert weak_texture_level(255 * noisy[..., None]) == pytest.approx(255 * level, rel=1e-5)
    # channels are averaged; a plane without detail has no noise; small ones: no estimate
    two = np.stack([gaussian(np.full((64, 64), 0.5), s, random_state=0) for s in (0.02, 0.06)],
                   axis=-1)
    assert weak_texture_level(two) == pytest.approx(0.04, rel=0.05)
    assert weak_texture_level(np.full((32, 32, 1), 0.5)) == 0.0
    assert weak_texture_level(np.zeros((8, 40, 1))) is None
    assert weak_texture_level(np.zeros((40, 40, 2))[:, :8]) is None


def test_blind_level_takes_the_learned_estimate_on_correlated_noise():
    from sklearn_denoise._noise_level import CORRELATED_RATIO, blind_level, estimate_level
    from sklearn_denoise._sensor import estimate_gaussian_sigma

    noisy = correlated_gaussian(CAMERA, 20 / 255, random_state=0)[..., None]
    assert estimate_level(noisy) > CORRELATED_RATIO * estimate_gaussian_sigma(noisy)
    assert blind_level(noisy) == estimate_level(noisy)
    assert blind_level(noisy) * 255 == pytest.approx(20, rel=0.2)
    tiny = noisy[:6, :6]  # too small for the learned estimator: the wavelet estimate
    assert blind_level(tiny) == estimate_gaussian_sigma(tiny)
    assert blind_level(np.full((32, 32, 1), 0.5)) == 0.0
