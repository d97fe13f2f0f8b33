"""The transform steps of CNNDenoiser, each on its own (sklearn_denoise._cnn_steps)."""

import dataclasses

import numpy as np
import pytest
from skimage import data

from sklearn_denoise import CNNDenoiser, available_models
from sklearn_denoise._cnn_steps import (
    NetworkPass,
    choose_network,
    denoise_decided,
    denoise_image,
    inference_setup,
    read_noise,
    run_network,
)
from sklearn_denoise._sensor import GaussianNoise
from sklearn_denoise.noise import NoiseModel, correlated_gaussian, gaussian, jpeg

pytestmark = pytest.mark.skipif("gray" not in available_models(),
                                reason="no pretrained model shipped")


@pytest.fixture(scope="module")
def gray():
    return CNNDenoiser.pretrained("gray")


@pytest.fixture(scope="module")
def clean():
    return (data.camera()[100:196, 150:246] / 255).astype(np.float32)[..., np.newaxis]


def test_read_noise_estimates_white_noise(gray, clean):
    noisy = gaussian(clean, 25 / 255, random_state=0).astype(np.float32)
    decision = read_noise(inference_setup(gray), noisy, 1, 1.0)
    (noise,), (correlated,) = decision.noise, decision.correlated
    assert isinstance(noise, GaussianNoise) and not correlated
    assert noise.sigma * decision.normalization.scale == pytest.approx(25 / 255, rel=0.15)
    assert decision.noise_source == "estimated"


def test_read_noise_sends_correlated_noise_to_the_expert(gray, clean):
    noisy = correlated_gaussian(clean, 20 / 255, correlation=1.0, random_state=0)
    decision = read_noise(inference_setup(gray), noisy.astype(np.float32), 1, 1.0)
    assert decision.correlated == (True,)


@pytest.mark.parametrize("correlation", [0.0, 1.0])
def test_read_noise_on_a_wide_intensity_span(gray, ct_phantom, correlation):
    # a CT slice in HU (about 1900 HU from air to bone) with noise of 20 HU, white or
    # correlated: faint on the normalised scale, still told apart (#31)
    noise = 40 * correlated_gaussian(np.zeros(ct_phantom.shape), 0.5,
                                     correlation=correlation, random_state=0)
    hu = (ct_phantom + noise).astype(np.float32)[..., np.newaxis]
    decision = read_noise(inference_setup(gray), hu, 1, 1.0)
    (noise,), (correlated,) = decision.noise, decision.correlated
    assert correlated == (correlation > 0)
    assert isinstance(noise, GaussianNoise)
    assert noise.sigma * decision.normalization.scale == pytest.approx(20, rel=0.2)


def test_read_noise_takes_a_given_sigma(gray, clean):
    setup = inference_setup(gray.set_params(sigma=0.1, normalize="none"))
    try:
        decision = read_noise(setup, clean, 1, 1.0)
    finally:
        gray.set_params(sigma=None, normalize="auto")
    assert decision.noise == (GaussianNoise(0.1),) and decision.noise_source == "given"


def test_read_noise_of_a_flat_image_decides_nothing(gray):
    decision = read_noise(inference_setup(gray), np.full((40, 40, 1), 0.3, np.float32), 1,
                          1.0)
    assert decision.normalization.flat and decision.noise == ()
    out = denoise_decided(inference_setup(gray), np.full((40, 40, 1), 0.3, np.float32), 1,
                          decision)
    assert np.all(out == np.float32(0.3))
    # said so (was "noise level not used"), as by the classical denoisers' decision
    assert decision.describe(np.float32) == "a constant image: left as it is"
    from sklearn_denoise import WaveletDenoiser

    flat = np.full((1, 40, 40), 7, np.uint16)
    wavelet = WaveletDenoiser().fit(flat).for_image(flat)
    assert wavelet.decision_.describe(flat.dtype, "estimated") == decision.describe(
        np.float32, "estimated")


def test_choose_network_picks_the_network_and_its_noise_input(gray, clean):
    setup = inference_setup(gray)
    assert choose_network(setup, clean, None, False) == NetworkPass(setup.module, clean, None)
    white = choose_network(setup, clean, GaussianNoise(0.1), False)
    assert white.module is setup.module and white.level == 0.1 and white.stabilized is None
    expert = choose_network(setup, clean, GaussianNoise(0.1), True)
    assert expert.module is setup.expert is not None
    # sensor noise: weights trained on it take a per-pixel map, growing with the signal
    model = NoiseModel(gain=0.01, read_noise=0.01)
    mapped = choose_network(setup, clean, model, False)
    assert setup.sensor_maps and mapped.level.shape == clean.shape
    bright, dark = clean[..., 0] > 0.8, clean[..., 0] < 0.2
    assert mapped.level[bright].mean() > 2 * mapped.level[dark].mean()
    # ... other weights go through the variance-stabilising transform
    vst = choose_network(dataclasses.replace(setup, sensor_maps=False), clean, model, False)
    assert vst.stabilized is not None and vst.stabilized[1] == model
    assert 0 < vst.level <= 1  # std 1 of the stabilised noise, mapped onto [0, 1]
    np.testing.assert_allclose(np.percentile(vst.image, [0.1, 99.9]), [0, 1], atol=1e-6)


def test_run_network_tiles_and_self_ensembles(gray, clean):
    noisy = gaussian(clean, 25 / 255, random_state=1).astype(np.float32)
    setup = inference_setup(gray)
    whole = run_network(setup, setup.module, noisy, 0.1)
    assert whole.shape == noisy.shape and whole.dtype == np.float32
    tiled_setup = dataclasses.replace(setup, tile_size=32,
                                      contract=gray.spatial_contract()._replace(margin=64))
    np.testing.assert_allclose(run_network(tiled_setup, setup.module, noisy, 0.1), whole,
                               atol=1e-5)
    mirrored = run_network(setup, setup.module, noisy[:, ::-1], 0.1)[:, ::-1]
    pair = run_network(dataclasses.replace(setup, self_ensemble=2), setup.module, noisy, 0.1)
    np.testing.assert_allclose(pair, (whole + mirrored) / 2, atol=1e-6)


def test_denoise_decided_undoes_the_normalisation(gray, clean):
    noisy = (gaussian(clean, 25 / 255, random_state=2) * 1000 + 100).astype(np.float32)
    setup = inference_setup(gray)
    decision = read_noise(setup, noisy, 1, 1.0)
    assert not decision.normalization.is_identity
    out = denoise_decided(setup, noisy, 1, decision)
    assert out.dtype == np.float32 and 50 < out.mean() < 1200
    # the same as denoising the normalised image and mapping it back by hand
    unit = decision.normalization
    by_hand = run_network(setup, setup.module, unit.apply(noisy), decision.noise[0].sigma)
    np.testing.assert_allclose(out, unit.invert(by_hand), rtol=1e-6, atol=1e-3)


def test_the_steps_are_transform(gray, clean):
    noisy = gaussian(clean, 25 / 255, random_state=3).astype(np.float32)
    expected = gray.transform(noisy[np.newaxis])[0]
    setup = inference_setup(gray)
    np.testing.assert_array_equal(denoise_image(setup, noisy, 1, 1.0), expected)
    # for_image pins step 1's decision
    pinned = gray.for_image(noisy[np.newaxis]).decision_
    np.testing.assert_array_equal(denoise_image(setup, noisy, 1, 1.0, pinned), expected)


def test_colour_volume_passes_share_one_alignment(monkeypatch):
    # the opponent channels of a moving colour sequence are shifted alike: chroma alone
    # (flat here) would register nothing while the luminance moves
    from sklearn_denoise import CNNDenoiser, _cnn_steps
    from sklearn_denoise._stack import plane_positions
    from sklearn_denoise.datasets import load_sample_images

    scene = load_sample_images(size=64)[0] / 255.0
    steps = np.cumsum([(0, 0), (2, 0), (0, -2), (1, 1)], axis=0)
    gray = np.stack([np.roll(scene, tuple(p), axis=(0, 1)) for p in steps])
    rgb = np.repeat(gray[..., None], 3, axis=-1) * np.array([1.0, 0.9, 0.8])
    noisy = rgb + np.random.default_rng(0).normal(0, 0.05, rgb.shape)
    seen = []
    real = _cnn_steps.run_volume

    def recording(setup, module, volume, level, positions=None):
        seen.append(positions)
        return real(setup, module, volume, level, positions)

    monkeypatch.setattr(_cnn_steps, "run_volume", recording)
    CNNDenoiser.pretrained("color", axes="TYXC", sigma=0.05).transform(noisy[None])
    assert len(seen) == 3
    expected = plane_positions(noisy)
    assert expected.any()
    for positions in seen:
        np.testing.assert_array_equal(positions, expected)


@pytest.fixture(scope="module")
def photo():
    return (data.astronaut()[100:292, 150:342] / 255).astype(np.float32)


def _opponent_chroma(rgb):
    from sklearn_denoise._color import to_opponent

    return to_opponent(np.asarray(rgb, dtype=np.float64)[np.newaxis])[0, ..., 1:]


def test_read_noise_reads_a_colour_jpeg_as_compressed_noise(photo):
    from sklearn_denoise._color import opponent_noise_levels

    color = CNNDenoiser.pretrained("color")
    setup = inference_setup(color)
    noisy = jpeg(gaussian(photo, 15 / 255, random_state=0), quality=75).astype(np.float32)
    decision = read_noise(setup, noisy, 3, 1.0)
    assert decision.compressed and decision.correlated == (False,) * 3
    levels = np.array([n.sigma for n in decision.noise])
    # the chroma channels, whose noise 4:2:0 subsampling has all but removed, get the
    # share of white RGB noise of the level read on the luma
    np.testing.assert_allclose(levels / levels[0], opponent_noise_levels(1.0)
                               / opponent_noise_levels(1.0)[0], rtol=1e-6)
    rgb_level = levels[0] / opponent_noise_levels(1.0)[0]
    assert 0.6 * 15 / 255 < rgb_level < 1.5 * 15 / 255
    assert "JPEG-compressed gaussian noise" in decision.describe(np.uint8)
    # the same noise not compressed is read per channel, as before
    white = read_noise(setup, np.rint(gaussian(photo, 15 / 255, random_state=0).clip(0, 1)
                                      * 255).astype(np.float32) / 255, 3, 1.0)
    assert not white.compressed


def test_a_colour_jpeg_loses_its_chroma_blotches(photo):
    noisy = jpeg(gaussian(photo, 15 / 255, random_state=1), quality=75).astype(np.float32)
    out = CNNDenoiser.pretrained("color").transform(noisy[np.newaxis])[0]
    chroma = _opponent_chroma(photo)
    before = np.mean((_opponent_chroma(noisy) - chroma) ** 2)
    after = np.mean((_opponent_chroma(out) - chroma) ** 2)
    # much of the chroma error is colour detail that 4:2:0 and quantisation removed for
    # good; read per channel (before issue #32) the chroma came out unchanged (0.99x)
    assert after < 0.9 * before


def test_compressed_noise_takes_a_given_sigma_and_keeps_a_given_noise_model(gray):
    # (the 96-pixel crop of ``clean`` holds too few blocks that stay inside [0, 255])
    clean = data.camera()[:128, :128] / 255
    noisy = jpeg(gaussian(clean, 20 / 255, random_state=2), quality=75)
    noisy = noisy[..., np.newaxis].astype(np.float32)
    assert read_noise(inference_setup(gray), noisy, 1, 1.0).compressed
    given = read_noise(inference_setup(CNNDenoiser.pretrained("gray", sigma=0.05)), noisy,
                       1, 1.0)
    assert given.compressed and given.noise[0].sigma == pytest.approx(0.05)
    assert given.correlated == (False,)
    model = read_noise(inference_setup(CNNDenoiser.pretrained(
        "gray", noise_model="poisson-gaussian")), noisy, 1, 1.0)
    assert not model.compressed


def test_a_clean_jpeg_is_read_as_before(gray):
    """A clean JPEG's texture and compression read as faint compressed noise (skimage's
    ``coins``: 3.3/255, smoothed from 54.4 to 42.5 dB); under JPEG_NOISE_FLOOR codes the
    image is read as any other."""
    clean = jpeg(data.coins()[:128, :128] / 255, quality=75)[..., np.newaxis]
    decision = read_noise(inference_setup(gray), clean.astype(np.float32), 1, 1.0)
    assert not decision.compressed
    assert decision.noise[0].sigma < 1.5 / 255
    noisy = jpeg(gaussian(data.coins()[:128, :128] / 255, 15 / 255, random_state=0),
                 quality=75)[..., np.newaxis]
    decision = read_noise(inference_setup(gray), noisy.astype(np.float32), 1, 1.0)
    assert decision.compressed and 11 / 255 < decision.noise[0].sigma < 20 / 255


def test_a_jpeg_is_read_alike_in_every_8_bit_layout(photo):
    """uint8, floats on [0, 1] and floats on [0, 255] of the same decoded JPEG: the same
    decision and, clipped and rounded, the same output."""
    color = CNNDenoiser.pretrained("color")
    codes = np.rint(jpeg(gaussian(photo, 15 / 255, random_state=3), quality=75) * 255)
    expected = color.transform(codes.astype(np.uint8)[np.newaxis])[0]
    level = color.for_image(codes.astype(np.uint8)).decision_.noise_in_data_units().sigma
    for x, scale in ((codes / 255, 255), (codes, 1)):
        decision = color.for_image(x).decision_
        assert decision.compressed
        # sigma on each input's intensity scale (uint8's is [0, 1])
        assert decision.noise_in_data_units().sigma * scale / 255 == pytest.approx(level)
        out = color.transform(x[np.newaxis])[0] * scale
        np.testing.assert_array_equal(np.rint(np.clip(out, 0, 255)), expected)


def test_noise_under_the_floor_leaves_the_image_as_it_is(gray):
    """The shipped network's own error exceeds noise under 0.5/255 of the normalised range
    (``benchmarks/bench_noise_floor.py``): such an image is returned as it is, decided on
    the whole image and said in the description; above the floor the network runs."""
    from scipy.ndimage import gaussian_filter

    setup = inference_setup(gray)
    assert setup.noise_floor == pytest.approx(0.5 / 255, rel=1e-3)
    smooth = gaussian_filter(data.camera()[:128, :128] / 255.0, 2)
    smooth = 0.01 + 0.98 * (smooth - smooth.min()) / np.ptp(smooth)  # not stretched
    rng = np.random.default_rng(0)
    faint = (smooth + rng.normal(0, 0.1 / 255, smooth.shape)).astype(np.float32)
    decision = read_noise(setup, faint[..., None], 1, 1.0)
    assert decision.below_floor == (True,)
    assert decision.describe(np.float32).endswith(
        "under the network's noise floor: left as it is")
    np.testing.assert_array_equal(gray.transform(faint[None])[0], faint)
    # 16-bit counts with a Poisson-Gaussian reading, as a CT slice is read
    counts = np.rint(1000 + 60000 * smooth).astype(np.uint16)
    np.testing.assert_array_equal(gray.transform(counts[None])[0], counts)
    for sigma, below in ((0.4 / 255, True), (0.6 / 255, False)):
        given = CNNDenoiser.pretrained("gray", sigma=sigma)
        assert given.for_image(faint[None]).decision_.below_floor == (below,)
        out = given.transform(faint[None])[0]
        assert np.array_equal(out, faint) == below
    noisy = gaussian(smooth, 5 / 255, random_state=0).astype(np.float32)
    decision = read_noise(setup, noisy[..., None], 1, 1.0)
    assert decision.below_floor == (False,) and "floor" not in decision.describe(np.float32)


def test_the_floor_is_measured_for_the_shipped_weights_only(gray, clean):
    """Weights without a measured floor (trained by a user) run at every level."""
    setup = dataclasses.replace(inference_setup(gray), noise_floor=0.0)
    decision = read_noise(setup, clean, 1, 1.0)
    assert decision.below_floor == ()
    assert not np.array_equal(denoise_decided(setup, clean, 1, decision), clean)


def test_the_stack_network_has_its_own_floor():
    """The stack network's error exceeds noise under 0.65/255 on smooth z-stacks
    (``bench_noise_floor.py --volumes``): a noise-free 16-bit volume is left as it is, as
    each of its planes alone is by the 2-D network."""
    from scipy.ndimage import gaussian_filter

    stack = CNNDenoiser.pretrained("gray", axes="ZYX")
    assert inference_setup(stack).noise_floor == pytest.approx(0.65 / 255, rel=1e-3)
    smooth = gaussian_filter(data.camera()[:96, :96] / 255.0, 2)
    volume = np.rint(1000 + 60000 * np.stack([smooth, smooth[::-1], smooth[:, ::-1]])
                     ).astype(np.uint16)
    assert stack.for_image(volume[None]).decision_.below_floor == (True,)
    np.testing.assert_array_equal(stack.transform(volume[None])[0], volume)
    gray = CNNDenoiser.pretrained("gray")
    for plane in volume:
        np.testing.assert_array_equal(gray.transform(plane[None])[0], plane)


def test_values_beyond_the_range_keep_their_height(monkeypatch):
    """The network compressed what lay beyond [0, 1] (a flat 3.0 came out as 2.55 and a flat
    -1.0 as -0.89, a star's core at 2.0 as 1.27, a dark spot at -1.5 as -0.71): those parts
    are denoised again at a lower gain."""
    from sklearn_denoise import _cnn_steps

    estimator = CNNDenoiser.pretrained("gray")
    setup = _cnn_steps.inference_setup(estimator)
    yy, xx = np.mgrid[:64, :64]
    star = 0.05 + 2.0 * np.exp(-((yy - 32) ** 2 + (xx - 32) ** 2) / 4.5)
    out = _cnn_steps.run_network(setup, setup.module, star[..., None].astype(np.float32),
                                 1 / 255)
    assert out[32, 32, 0] == pytest.approx(star[32, 32], rel=0.03)
    dark = 0.5 - 2.0 * np.exp(-((yy - 32) ** 2 + (xx - 32) ** 2) / 4.5)
    out = _cnn_steps.run_network(setup, setup.module, dark[..., None].astype(np.float32),
                                 1 / 255)
    assert out[32, 32, 0] == pytest.approx(dark[32, 32], rel=0.03)
    for level in (1.5, 3.0, 50.0, -1.0, -50.0):
        flat = np.full((64, 64, 1), level, np.float32)
        out = _cnn_steps.run_network(setup, setup.module, flat, 2 / 255)
        assert out[8, 8, 0] == pytest.approx(level, rel=0.01)
    # an image on [0, 1] runs once: the same result as without the extra passes
    noisy = np.clip(data.camera()[:96, :96, None] / 255.0 + np.random.default_rng(0).normal(
        0, 25 / 255, (96, 96, 1)), 0, 1).astype(np.float32)
    once = _cnn_steps.run_network(setup, setup.module, noisy, 25 / 255)
    monkeypatch.setattr(_cnn_steps, "HEADROOM_PASSES", 0)
    np.testing.assert_array_equal(
        _cnn_steps.run_network(setup, setup.module, noisy, 25 / 255), once)


def test_bright_spots_keep_their_height_in_colour_and_in_stacks():
    """Through the colour model (opponent passes) and the stack network (planes with their
    neighbours) too: a spot 6 times the scene's range kept 0.64 (colour) and 0.73 (stack)
    of its height as uint16 counts before."""
    from sklearn_denoise.noise import poisson_gaussian

    yy, xx = np.mgrid[:128, :128]
    scene = data.camera()[100:228, 100:228] / 255.0 + 6 * np.exp(
        -((yy - 30) ** 2 + (xx - 40) ** 2) / 2.88)
    clean = 100 + 100 * scene

    def counts(seed):
        return np.rint(poisson_gaussian(100 * scene, gain=1, read_sigma=2, black_level=100,
                                        random_state=seed)).astype(np.uint16)

    rgb = np.stack([counts(0)] * 3, axis=-1)
    colour = CNNDenoiser.pretrained("color").transform(rgb[None])[0]
    assert colour[30, 40, 0] == pytest.approx(clean[30, 40], rel=0.1)
    stack = np.stack([counts(seed) for seed in range(5)])
    volume = CNNDenoiser.pretrained("gray", axes="ZYX").transform(stack[None])[0]
    assert volume[2, 30, 40] == pytest.approx(clean[30, 40], rel=0.1)


def test_bright_spots_denoised_alike_in_every_layout():
    """uint16 counts with a black level, the same counts as int64, as floats and rescaled
    onto [0, 255]: the passes beyond the range follow the normalised image, so every layout
    gives the uint16 result (within its rounding)."""
    from sklearn_denoise.noise import poisson_gaussian

    yy, xx = np.mgrid[:128, :128]
    scene = data.camera()[100:228, 100:228] / 255.0 + 6 * np.exp(
        -((yy - 30) ** 2 + (xx - 40) ** 2) / 2.88)
    counts = np.rint(poisson_gaussian(100 * scene, gain=1, read_sigma=2, black_level=100,
                                      random_state=0))
    denoiser = CNNDenoiser.pretrained("gray")
    reference = denoiser.transform(counts.astype(np.uint16)[None])[0].astype(np.float64)
    assert reference[30, 40] == pytest.approx(100 + 100 * scene[30, 40], rel=0.15)
    scale = counts.max() / 255
    for layout, back in [(counts.astype(np.int64), 1.0), (counts, 1.0),
                         (counts / scale, scale)]:
        out = denoiser.transform(layout[None])[0].astype(np.float64) * back
        np.testing.assert_allclose(out, reference, atol=1.0)
