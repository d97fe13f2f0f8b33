import numpy as np
import pytest
from sklearn.base import clone

from sklearn_denoise import CNNDenoiser
from sklearn_denoise._normalize import Normalization, fit_normalization
from sklearn_denoise._sensor import (
    GaussianNoise,
    check_noise_model,
    noise_level_map,
    resolve_noise,
    sensor_training_patch,
)
from sklearn_denoise.datasets import load_sample_images
from sklearn_denoise.noise import Degradation, NoiseModel, gaussian, poisson_gaussian

BLACK, READ = 100.0, 2.0
# measured 0.34 dB for the shipped weights on these images (peak 10); about 0 for weights
# trained on white noise only, whose default call is the variance-stabilising path
GAIN_OVER_STABILIZED = 0.2


@pytest.fixture(scope="module")
def clean():
    return load_sample_images(size=128)[:3].astype(np.float64) / 255


@pytest.fixture(scope="module")
def gray():
    return CNNDenoiser.pretrained("gray")


def _counts(clean, peak, seed=0):
    noisy = poisson_gaussian(peak * clean, gain=1.0, read_sigma=READ, black_level=BLACK,
                             random_state=seed)
    return np.clip(np.rint(noisy), 0, 65535).astype(np.uint16)


def _counts_psnr(clean, peak, out):
    expected = BLACK + peak * clean
    mse = np.mean((np.rint(out.astype(np.float64)) - expected) ** 2)
    return 10 * np.log10(peak**2 / mse)


def test_check_noise_model():
    model = NoiseModel(gain=1.0, read_noise=2.0, black_level=100.0)
    assert check_noise_model(model) is model
    assert check_noise_model("auto") == "auto"
    with pytest.raises(ValueError, match="noise_model must be one of"):
        check_noise_model("poisson")


def test_resolve_noise_tells_gaussian_from_sensor_noise(clean):
    rng = np.random.default_rng(0)
    for image in clean:
        noisy = (image + rng.normal(0, 25 / 255, image.shape))[..., None]
        assert isinstance(resolve_noise(noisy, "auto"), GaussianNoise)
        counts = _counts(image, 30).astype(np.float64)[..., None]
        norm = fit_normalization(counts, "auto")
        noise = resolve_noise(norm.apply(counts), "auto", normalization=norm)
        assert isinstance(noise, NoiseModel)
        # gain 1 count per photon, mapped by the normalisation's scale
        assert noise.gain * norm.scale == pytest.approx(1.0, rel=0.3)


def test_resolve_noise_maps_known_parameters_into_normalised_units():
    model = NoiseModel(gain=2.0, read_noise=4.0, black_level=200.0)
    norm = Normalization(offset=100 / 65535, scale=1000 / 65535)
    image = np.zeros((8, 8, 1))
    mapped = resolve_noise(image, model, data_scale=65535.0, normalization=norm)
    assert mapped.gain == pytest.approx(2.0 / 1000)
    assert mapped.read_noise == pytest.approx(4.0 / 1000)
    assert mapped.black_level == pytest.approx(0.1)
    known = resolve_noise(image, "auto", sigma=10 / 65535, normalization=norm)
    assert known.sigma == pytest.approx(0.01)


def test_noise_level_map_grows_with_the_signal():
    image = np.tile(np.linspace(0, 1, 32), (32, 1))[..., None]
    level = noise_level_map(image, NoiseModel(gain=0.01, read_noise=0.02, black_level=0.0))
    assert level.shape == image.shape
    assert level[:, 2].mean() < level[:, -3].mean()
    np.testing.assert_allclose(level[:, -3], np.sqrt(0.01 * image[:, -3] + 0.02**2),
                               rtol=0.05)


def test_sensor_training_patch_is_normalised_like_inference(clean):
    rng = np.random.default_rng(0)
    patch = clean[0, :64, :64, None].astype(np.float32)
    noisy, target, level = sensor_training_patch(patch, rng)
    assert noisy.shape == target.shape == level.shape == patch.shape
    low, high = np.percentile(noisy, (0.1, 99.9))
    assert low == pytest.approx(0.0, abs=1e-5) and high == pytest.approx(1.0, abs=1e-5)
    assert np.all(np.isfinite(level)) and np.all(level >= 0)
    # target and input share one affine map: their difference is the (scaled) noise
    assert abs(float(np.mean(noisy - target))) < 0.05


@pytest.mark.parametrize("peak", [10, 100])
def test_pretrained_denoises_uint16_counts_blind(gray, clean, peak):
    counts = _counts(clean, peak)
    out = gray.transform(counts)
    assert out.dtype == np.uint16 and out.shape == counts.shape
    # same scale as the input: black level 100, a few hundred counts at most
    assert 90 <= np.percentile(out, 1) and np.percentile(out, 99) <= BLACK + 1.3 * peak
    noisy_psnr = _counts_psnr(clean, peak, counts)
    assert _counts_psnr(clean, peak, out) > noisy_psnr + 7


def test_pretrained_sensor_path_beats_the_gaussian_assumption(gray, clean):
    counts = _counts(clean, 30)
    auto = _counts_psnr(clean, 30, gray.transform(counts))
    gaussian_only = CNNDenoiser.pretrained("gray", noise_model="gaussian").transform(counts)
    known = CNNDenoiser.pretrained(
        "gray", noise_model=NoiseModel(gain=1.0, read_noise=READ, black_level=BLACK)
    ).transform(counts)
    assert auto > _counts_psnr(clean, 30, gaussian_only) + 1
    assert abs(auto - _counts_psnr(clean, 30, known)) < 0.5


def test_shipped_weights_take_sensor_noise_as_a_per_pixel_map(gray, clean):
    # trained on sensor noise (train_noise="mixed"): counts reach the network as a
    # per-pixel noise map, which beats the variance-stabilising path around it
    from sklearn.frozen import FrozenEstimator

    from sklearn_denoise import VarianceStabilizedDenoiser

    assert gray.weights_metadata_["train_noise"] == "mixed" and gray._takes_sensor_noise_maps()
    counts = _counts(clean, 10)
    frozen = FrozenEstimator(CNNDenoiser.pretrained("gray", noise_model="gaussian"))
    stabilized = VarianceStabilizedDenoiser(frozen).fit(counts).transform(counts)
    gain = _counts_psnr(clean, 10, gray.transform(counts)) - _counts_psnr(clean, 10, stabilized)
    assert gain > GAIN_OVER_STABILIZED


def test_shipped_color_model_denoises_rgb_counts_through_per_channel_maps(clean):
    color = CNNDenoiser.pretrained("color")
    assert color.channel_strategy == "opponent" and color._takes_sensor_noise_maps()
    rgb = np.stack([clean[0], np.roll(clean[0], 7, axis=0), clean[0][::-1]], axis=-1)
    counts = poisson_gaussian(30 * rgb, gain=1.0, read_sigma=READ, black_level=BLACK,
                              random_state=0)
    counts = np.clip(np.rint(counts), 0, 65535).astype(np.uint16)[None]
    out = color.transform(counts)
    assert out.dtype == np.uint16 and out.shape == counts.shape
    assert _counts_psnr(rgb, 30, out) > _counts_psnr(rgb, 30, counts) + 7  # measured 8.9


@pytest.mark.parametrize("scale, offset, dtype", [
    (255.0, 0.0, np.float32),
    (4095.0, 0.0, np.float64),
    (1000.0, -500.0, np.float64),
    (255.0, 0.0, np.int64),
    (65535.0, 0.0, np.uint32),
])
def test_pretrained_on_other_ranges_matches_unit_range_quality(gray, clean, scale, offset,
                                                               dtype):
    noisy = gaussian(clean, 20 / 255, random_state=0)
    unit_psnr = _unit_psnr(clean, gray.transform(noisy.astype(np.float32)))
    data = noisy * scale + offset
    if np.dtype(dtype).kind in "ui":
        data = np.clip(np.rint(data), 0, None)
    out = gray.transform(data.astype(dtype))
    assert out.dtype == dtype
    assert np.all(np.isfinite(out.astype(np.float64)))
    back = (out.astype(np.float64) - offset) / scale
    assert _unit_psnr(clean, back) > unit_psnr - 0.5


def _unit_psnr(clean, out):
    return 10 * np.log10(1 / np.mean((np.clip(out, 0, 1) - clean) ** 2))


def test_pretrained_on_a_z_stack_of_counts(gray, clean):
    stack = _counts(np.repeat(clean[:1], 4, axis=0), 50)
    out = gray.transform(stack)
    assert out.shape == stack.shape and out.dtype == np.uint16
    assert _counts_psnr(np.repeat(clean[:1], 4, axis=0), 50, out) > (
        _counts_psnr(np.repeat(clean[:1], 4, axis=0), 50, stack) + 7)


def test_huge_finite_floats_give_finite_output(gray, clean):
    noisy = gaussian(clean[:1], 0.1, random_state=0) * 1e300
    out = gray.transform(noisy)
    assert np.all(np.isfinite(out))
    assert _unit_psnr(clean[:1], out / 1e300) > 25


def test_bad_noise_model_parameter(gray, clean):
    with pytest.raises(ValueError, match="noise_model must be one of"):
        CNNDenoiser.pretrained("gray", noise_model="sensor")
    den = CNNDenoiser.pretrained("gray").set_params(noise_model=3)
    with pytest.raises(ValueError, match="noise_model must be one of"):
        den.transform(clean[:1])


def test_mixed_training_needs_a_noise_level_input(clean):
    den = CNNDenoiser(depth=2, width=4, max_epochs=1, train_sigma=0.1, train_noise="mixed",
                      noise_level_input=False, random_state=0)
    with pytest.raises(ValueError, match="train_noise='mixed' needs"):
        den.fit(clean.astype(np.float32))


def test_mixed_training_records_per_pixel_maps(tmp_path, clean):
    den = CNNDenoiser(depth=2, width=4, blocks=1, max_epochs=1, train_sigma=(0, 0.2),
                      train_noise="mixed", noise_level_input=True, patch_size=32,
                      random_state=0).fit(clean.astype(np.float32))
    assert den._takes_sensor_noise_maps()
    den.save(tmp_path / "mixed.pt")
    loaded = CNNDenoiser.load(tmp_path / "mixed.pt")
    assert loaded.weights_metadata_["train_noise"] == "mixed"
    counts = _counts(clean[:1], 30)
    np.testing.assert_array_equal(loaded.transform(counts), den.transform(counts))


@pytest.mark.parametrize("image", [np.full((1, 64, 64), 1000, np.uint16),
                                   np.zeros((1, 32, 32)), np.full((1, 32, 32), 0.5)])
def test_constant_images_come_back_unchanged(gray, image):
    np.testing.assert_array_equal(gray.transform(image), image)


def test_known_sigma_takes_precedence_over_a_noise_model():
    model = NoiseModel(gain=1.0, read_noise=2.0, black_level=100.0)
    noise = resolve_noise(np.zeros((8, 8, 1)), model, sigma=0.1)
    assert isinstance(noise, GaussianNoise) and noise.sigma == 0.1


@pytest.fixture(scope="module")
def color_mixed(clean):
    """A small opponent-space model trained on mixed noise: it takes per-pixel maps."""
    rgb = np.stack([clean[:2]] * 3, axis=-1).astype(np.float32)
    return CNNDenoiser(depth=2, width=4, blocks=1, max_epochs=1, train_sigma=(0, 0.2),
                       train_noise="mixed", noise_level_input=True, patch_size=32,
                       channel_strategy="opponent", random_state=0).fit(rgb)


def test_colour_sensor_noise_gets_one_map_per_opponent_channel(color_mixed):
    from sklearn_denoise._cnn_steps import _opponent_maps, _opponent_noise_levels, inference_setup
    from sklearn_denoise._color import OPPONENT

    # flat colour planes at different counts: each opponent channel's noise mixes the
    # three planes' Poisson-Gaussian variances
    signal = np.stack([np.full((96, 96), level) for level in (900.0, 400.0, 50.0)], axis=-1)
    counts = poisson_gaussian(signal, gain=1.0, read_sigma=READ, black_level=BLACK,
                              random_state=0)
    model = NoiseModel(gain=1.0, read_noise=READ, black_level=BLACK)
    den = color_mixed.set_params(noise_model=model, normalize="percentile")
    norm = fit_normalization(counts, "percentile")
    x = norm.apply(counts)
    noises = _opponent_noise_levels(inference_setup(den), x, 1.0, norm)  # planes' models
    assert isinstance(noises, tuple) and all(isinstance(n, NoiseModel) for n in noises)
    maps = _opponent_maps(x, noises)
    levels = [maps[..., k : k + 1] for k in range(3)]
    assert [lv.shape for lv in levels] == [(96, 96, 1)] * 3
    # measured: the std of the opponent transform of the (normalised) noise
    measured = ((counts - BLACK - signal) / norm.scale) @ OPPONENT.T
    for k in range(3):
        assert np.median(levels[k]) == pytest.approx(measured[..., k].std(), rel=0.08)
    # white noise, or a known sigma, stays one level per channel
    den.set_params(noise_model="auto", sigma=0.1)
    levels = _opponent_noise_levels(inference_setup(den), x, 1.0, norm)
    np.testing.assert_allclose([n.sigma for n in levels],
                               0.1 / norm.scale * np.sqrt((OPPONENT**2).sum(axis=1)))
    den.set_params(sigma=None, noise_model="gaussian")
    assert _opponent_noise_levels(inference_setup(den), x, 1.0, norm) == [None] * 3


def test_colour_sensor_counts_through_per_channel_maps(color_mixed, clean):
    rgb = np.stack([clean[0], np.roll(clean[0], 7, axis=0), clean[0][::-1]], axis=-1)
    counts = poisson_gaussian(30 * rgb, gain=1.0, read_sigma=READ, black_level=BLACK,
                              random_state=0)
    counts = np.clip(np.rint(counts), 0, 65535).astype(np.uint16)[None]
    out = color_mixed.set_params(noise_model="auto", sigma=None,
                                 normalize="auto").transform(counts)
    assert out.dtype == np.uint16 and out.shape == counts.shape


def test_known_sigma_on_rgb_is_scaled_into_each_opponent_channel():
    color = CNNDenoiser.pretrained("color", sigma=25 / 255)
    rgb = np.stack([load_sample_images(size=96)[k] for k in (0, 1, 2)], axis=-1) / 255.0
    noisy = gaussian(rgb, 25 / 255, random_state=0)[None].astype(np.float32)
    blind = CNNDenoiser.pretrained("color").transform(noisy)
    known = color.transform(noisy)
    clean = rgb[None]
    # with the level each opponent channel really has, the true sigma does at least as
    # well as the blind estimate (it over-smoothed when the RGB level was used as is)
    assert np.mean((known - clean) ** 2) <= np.mean((blind - clean) ** 2) * 1.02


def test_realistic_training_uses_the_degradation_model(clean):
    den = CNNDenoiser(depth=2, width=4, blocks=1, max_epochs=1, train_sigma=(0, 0.2),
                      train_noise="realistic", noise_level_input=True, patch_size=32,
                      random_state=0).fit(clean.astype(np.float32))
    assert den._takes_sensor_noise_maps()
    patch, _ = den._make_dataset([clean[0].astype(np.float32)[..., None]], None,
                                 "synthetic", 0, None)[0]
    assert patch.shape == (2, 32, 32)  # the noisy patch and its noise-level map
    with pytest.raises(ValueError, match="train_noise='realistic' needs"):
        CNNDenoiser(depth=2, width=4, max_epochs=1, train_sigma=0.1, train_noise="realistic",
                    noise_level_input=False).fit(clean.astype(np.float32))


def test_training_takes_a_degradation_model_of_ones_own(clean):
    only_correlated = Degradation(sigma_range=(0.1, 0.1), weights=(0, 0, 1),
                                  jpeg_probability=0.0)
    den = CNNDenoiser(depth=2, width=4, blocks=1, max_epochs=1, train_noise=only_correlated,
                      noise_level_input=True, patch_size=32, random_state=0)
    assert clone(den).train_noise == only_correlated
    den.fit(clean.astype(np.float32))
    assert den._takes_sensor_noise_maps()
    grey = np.full((64, 64, 1), 0.5, np.float32)
    dataset = den._make_dataset([grey], None, "synthetic", 0, None)
    assert dataset.degradation is only_correlated
    noisy, _ = dataset[0]
    residual = noisy[0].numpy() - 0.5
    assert noisy.shape == (2, 32, 32) and np.allclose(noisy[1].numpy(), 0.1)
    # correlated noise: neighbouring noise values move together (white noise would not)
    assert np.corrcoef(residual[:, :-1].ravel(), residual[:, 1:].ravel())[0, 1] > 0.3
    with pytest.raises(ValueError, match="train_noise must be one of"):
        CNNDenoiser(train_noise="correlated").fit(clean.astype(np.float32))


def test_correlated_noise_is_not_taken_for_sensor_noise():
    """"auto": correlated noise whose finest-scale variance seems to grow with the signal
    (Set12 images 04 and 10 did so at 20/255) is Gaussian noise of the correlated level
    when the caller can tell correlated noise (the CNN can); white sensor noise is not."""
    from sklearn_denoise._noise_level import correlated_level
    from sklearn_denoise.noise import correlated_gaussian

    clean = load_sample_images(size=160)[0] / 255.0
    noisy = correlated_gaussian(clean, 15 / 255, random_state=1)[..., np.newaxis]
    normalization = fit_normalization(noisy, "auto")  # as CNNDenoiser.transform does
    noisy = normalization.apply(noisy)
    assert isinstance(resolve_noise(noisy), NoiseModel)  # the finest scale alone
    noise = resolve_noise(noisy, correlated_level=correlated_level)
    assert isinstance(noise, GaussianNoise)
    assert noise.sigma == pytest.approx(normalization.noise_level(15 / 255), rel=0.3)
    counts = np.random.default_rng(0).poisson(clean[..., np.newaxis] * 30) / 30.0
    counts = fit_normalization(counts, "auto").apply(counts)
    assert isinstance(resolve_noise(counts), NoiseModel)
    assert isinstance(resolve_noise(counts, correlated_level=correlated_level), NoiseModel)


def test_noise_level_map_of_a_volume_is_made_plane_by_plane():
    # the stack network's maps are per plane; smoothing along Z would tie a plane's map
    # to its neighbours (and a chunk of planes to the planes outside it)
    rng = np.random.default_rng(0)
    volume = rng.random((4, 32, 32, 1))
    model = NoiseModel(gain=0.01, read_noise=0.02, black_level=0.0)
    maps = noise_level_map(volume, model)
    assert maps.shape == volume.shape
    for z in range(4):
        np.testing.assert_array_equal(maps[z], noise_level_map(volume[z], model))
