"""WaveletDenoiser: equivalence with scikit-image, layouts, errors and model selection."""

import inspect
import warnings

import numpy as np
import pytest
from skimage.restoration import cycle_spin, denoise_wavelet
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline

from sklearn_denoise import WaveletDenoiser
from sklearn_denoise._tiling import SpatialContract, effective_radius
from sklearn_denoise.datasets import load_sample_images
from sklearn_denoise.metrics import psnr, psnr_scorer, ssim_scorer
from sklearn_denoise.noise import gaussian

# skimage 0.26 renamed cycle_spin's num_workers to workers
_SERIAL = {
    "workers" if "workers" in inspect.signature(cycle_spin).parameters else "num_workers": 1
}


@pytest.fixture(scope="module")
def gray():
    clean = load_sample_images(size=64)[:3] / 255.0
    return gaussian(clean, 0.1, random_state=0)


@pytest.fixture(scope="module")
def color():
    clean = load_sample_images(color=True, size=48)[:2] / 255.0
    return gaussian(clean, 0.1, random_state=1)


def _skimage(images, channel_axis, levels=None, **params):
    return np.stack(
        [denoise_wavelet(x, channel_axis=channel_axis, wavelet_levels=levels, **params)
         for x in images]
    )


@pytest.mark.parametrize("sigma", [None, 0.08])
@pytest.mark.parametrize("method", ["BayesShrink", "VisuShrink"])
@pytest.mark.parametrize("mode", ["soft", "hard"])
@pytest.mark.parametrize("wavelet, levels", [("db1", None), ("db2", 2), ("sym4", None)])
def test_matches_skimage_gray(gray, sigma, method, mode, wavelet, levels):
    params = dict(sigma=sigma, method=method, mode=mode, wavelet=wavelet)
    out = WaveletDenoiser(levels=levels, **params).fit(gray).transform(gray)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, _skimage(gray, None, levels, **params), rtol=0, atol=1e-6)


@pytest.mark.parametrize("sigma", [None, 0.08])
@pytest.mark.parametrize("method", ["BayesShrink", "VisuShrink"])
@pytest.mark.parametrize("mode", ["soft", "hard"])
@pytest.mark.parametrize("convert2ycbcr", [False, True])
def test_matches_skimage_color(color, sigma, method, mode, convert2ycbcr):
    params = dict(sigma=sigma, method=method, mode=mode, convert2ycbcr=convert2ycbcr)
    out = WaveletDenoiser(**params).fit(color).transform(color)
    np.testing.assert_allclose(out, _skimage(color, -1, **params), rtol=0, atol=1e-6)


@pytest.mark.parametrize("rescale_sigma", [True, False])
def test_rescale_sigma_matches_skimage_ycbcr(color, rescale_sigma):
    params = dict(sigma=0.1, convert2ycbcr=True, rescale_sigma=rescale_sigma, wavelet="db2")
    out = WaveletDenoiser(**params).fit(color).transform(color)
    np.testing.assert_allclose(out, _skimage(color, -1, **params), rtol=0, atol=1e-6)


def test_rescale_sigma_only_changes_ycbcr(gray):
    a = WaveletDenoiser(sigma=0.1, rescale_sigma=True).fit(gray).transform(gray)
    b = WaveletDenoiser(sigma=0.1, rescale_sigma=False).fit(gray).transform(gray)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("sigma", [None, 0.1])
def test_cycle_spins_matches_skimage_cycle_spin(gray, color, sigma):
    for images, axis in [(gray[:2], None), (color[:1], -1)]:
        est = WaveletDenoiser(sigma=sigma, cycle_spins=2, wavelet="db2").fit(images)
        out = est.transform(images)
        kw = dict(sigma=sigma, wavelet="db2", channel_axis=axis)
        ref = np.stack(
            [cycle_spin(x, denoise_wavelet, max_shifts=2, func_kw=kw, channel_axis=axis,
                        **_SERIAL) for x in images]
        )
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-6)


def test_cycle_spins_zero_is_plain(gray):
    a = WaveletDenoiser(cycle_spins=0).fit(gray).transform(gray)
    b = _skimage(gray, None)
    np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("sigma", [None, 0.1])
@pytest.mark.parametrize("cycle_spins", [0, 3])
def test_signals_use_1d_transform(sigma, cycle_spins):
    rng = np.random.RandomState(0)
    signals = np.sin(np.linspace(0, 8, 200))[None] + rng.normal(0, 0.1, (4, 200))
    est = WaveletDenoiser(sigma=sigma, wavelet="db2", cycle_spins=cycle_spins).fit(signals)
    out = est.transform(signals)
    assert out.shape == signals.shape
    kw = dict(sigma=sigma, wavelet="db2")
    ref = np.stack(
        [cycle_spin(s, denoise_wavelet, max_shifts=cycle_spins, func_kw=kw, **_SERIAL)
         for s in signals]
    )
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-6)


def test_float32_stays_float32_and_close(gray):
    x32 = gray.astype(np.float32)
    out = WaveletDenoiser(wavelet="db2").fit(x32).transform(x32)
    assert out.dtype == np.float32
    ref = _skimage(gray, None, wavelet="db2")
    np.testing.assert_allclose(out, ref, atol=1e-4)


def test_uint8_matches_skimage_on_float(gray):
    x8 = (np.clip(gray, 0, 1) * 255).round().astype(np.uint8)
    out = WaveletDenoiser(sigma=0.1).fit(x8).transform(x8)
    assert out.dtype == np.uint8
    ref = _skimage(x8 / 255.0, None, sigma=0.1)
    expected = np.clip(np.rint(ref * 255), 0, 255)
    # the integer path computes in float32: a rounding boundary may flip by one level
    assert np.abs(out.astype(int) - expected).max() <= 1
    assert np.mean(out == expected) > 0.999


def test_output_not_clipped_for_float(gray):
    out = WaveletDenoiser(sigma=0.2, mode="hard").fit(gray).transform(gray)
    assert out.min() < 0 or out.max() > 1


def test_list_of_sizes_matches_per_image(gray):
    images = [gray[0], gray[1, :40, :56], gray[2, :40, :56], gray[0, :33, :20]]
    est = WaveletDenoiser(wavelet="db2").fit(images)
    out = est.transform(images)
    assert isinstance(out, list)
    assert [o.shape for o in out] == [i.shape for i in images]
    for o, img in zip(out, images):
        np.testing.assert_allclose(o, denoise_wavelet(img, wavelet="db2"), atol=1e-6)


def test_list_of_color_images(color):
    images = [color[0], color[1, :40, :30]]
    out = WaveletDenoiser(convert2ycbcr=True).fit(images).transform(images)
    for o, img in zip(out, images):
        ref = denoise_wavelet(img, convert2ycbcr=True, channel_axis=-1)
        np.testing.assert_allclose(o, ref, atol=1e-6)


def test_odd_sizes(gray):
    x = gray[:, :37, :51]
    out = WaveletDenoiser(wavelet="db3").fit(x).transform(x)
    np.testing.assert_allclose(out, _skimage(x, None, wavelet="db3"), atol=1e-6)


def test_n_jobs_same_result(gray):
    a = WaveletDenoiser(n_jobs=2, cycle_spins=1).fit(gray).transform(gray)
    b = WaveletDenoiser(cycle_spins=1).fit(gray).transform(gray)
    np.testing.assert_allclose(a, b, atol=1e-12)


def test_batch_independent(gray):
    est = WaveletDenoiser().fit(gray)
    full = est.transform(gray)
    np.testing.assert_allclose(est.transform(gray[1:2])[0], full[1], atol=1e-12)


@pytest.mark.parametrize("sigma", [None, 0.0])
def test_constant_image_unchanged(sigma):
    x = np.full((2, 16, 16), 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = WaveletDenoiser(sigma=sigma).fit(x).transform(x)
    np.testing.assert_allclose(out, x)


def test_sigma_zero_keeps_flat_regions_finite():
    # pywt's soft threshold gives NaN for a zero coefficient and a zero threshold
    x = np.zeros((1, 32, 32))
    x[0, :, 16:] = 1.0
    x[0, 5, 5] = 0.3
    out = WaveletDenoiser(sigma=0.0).fit(x).transform(x)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, x, atol=1e-12)


@pytest.mark.parametrize(
    "scale, dtype",
    [(2.0**996, np.float64), (2.0**1020, np.float64), (2.0**125, np.float32),
     (2.0**-1000, np.float64), (2.0**-120, np.float32)],
    ids=str,
)
@pytest.mark.parametrize(
    "params",
    [{}, {"method": "VisuShrink", "mode": "hard"}, {"convert2ycbcr": True, "wavelet": "db2"},
     {"cycle_spins": 1}],
    ids=repr,
)
def test_images_near_float_limits_scale_exactly(color, scale, dtype, params):
    # squares of 1e300 coefficients overflowed and the output was NaN; such images are
    # denoised at a power-of-two scale, which is exact
    x = color.astype(dtype)
    est = WaveletDenoiser(normalize="none", **params).fit(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out = est.transform(x * dtype(scale))
    assert out.dtype == dtype and np.all(np.isfinite(out))
    # the same result as on the image's own scale (up to rounding: the image peaks above 1
    # and the YCbCr conversion has offsets; float32 near 2**-126 is subnormal)
    ref = est.transform((x * dtype(scale)) / dtype(scale))
    rtol = 1e-5 if dtype == np.float32 else 1e-9
    np.testing.assert_allclose(out / dtype(scale), ref, rtol=rtol, atol=rtol * np.abs(ref).max())
    # a sigma on the [0, 1] scale is negligible against such intensities (or overwhelming
    # for tiny ones); the result stays finite either way
    out = est.set_params(sigma=0.1).transform(x * dtype(scale))
    assert np.all(np.isfinite(out))


def test_far_image_does_not_change_its_batch_neighbours(gray):
    x = np.stack([gray[0] * 1e300, gray[1]])
    est = WaveletDenoiser(sigma=0.1, normalize="none").fit(x)
    out = est.transform(x)
    np.testing.assert_array_equal(out[1], est.transform(gray[1:2])[0])
    # sigma=0.1 is negligible against 1e300 intensities: nothing is removed
    np.testing.assert_allclose(out[0] / 1e300, gray[0], rtol=0, atol=1e-12)
    images = [gray[0, :40] * 1e300, gray[1]]
    out = est.transform(images)
    assert all(np.all(np.isfinite(o)) for o in out)


def test_denoising_improves_psnr():
    clean = load_sample_images(size=96) / 255.0
    noisy = gaussian(clean, 0.1, random_state=0)
    out = WaveletDenoiser(wavelet="db2", convert2ycbcr=False).fit(noisy).transform(noisy)
    assert psnr(clean, out) > psnr(clean, noisy) + 3


def test_params_stored_verbatim():
    params = dict(sigma=0.1, wavelet="sym4", mode="hard", method="VisuShrink", levels=2,
                  rescale_sigma=False, convert2ycbcr=True, cycle_spins=1, image_shape=(8, 8),
                  n_jobs=2, normalize="none", noise_model="gaussian", verbose=1, axes="tyx")
    assert WaveletDenoiser(**params).get_params() == params


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"wavelet": "db99"}, ValueError, r"pywt\.wavelist"),
        ({"wavelet": "morl"}, ValueError, r"pywt\.wavelist"),
        ({"wavelet": 3}, TypeError, "wavelet"),
        ({"mode": "medium"}, ValueError, r"mode must be one of \['hard', 'soft'\]"),
        ({"method": "SureShrink"}, ValueError, "method must be one of"),
        ({"sigma": -0.1}, ValueError, "sigma"),
        ({"sigma": 25}, ValueError, "above 1"),
        ({"sigma": "0.1"}, TypeError, "sigma"),
        ({"levels": 0}, ValueError, "levels"),
        ({"levels": 2.5}, TypeError, "levels"),
        ({"cycle_spins": -1}, ValueError, "cycle_spins"),
        # 10**6 raised a bare MemoryError while listing the shifts
        ({"cycle_spins": 10**6}, ValueError, r"cycle_spins must be <= 63 \(at most 64 shifts"),
        ({"cycle_spins": 64}, ValueError, "cycle_spins must be <= 63"),
        ({"rescale_sigma": "yes"}, TypeError, "rescale_sigma"),
        ({"convert2ycbcr": 1}, TypeError, "convert2ycbcr"),
        ({"n_jobs": 0}, ValueError, "n_jobs"),
    ],
)
def test_bad_params(gray, params, error, match):
    with pytest.raises(error, match=match):
        WaveletDenoiser(**params).fit(gray)


def test_cycle_spins_upper_bound_is_allowed():
    x = np.random.RandomState(0).rand(1, 8)
    out = WaveletDenoiser(sigma=0.1, cycle_spins=63).fit(x).transform(x)
    assert out.shape == x.shape and np.all(np.isfinite(out))


def test_bad_params_checked_in_transform_too(gray):
    est = WaveletDenoiser().fit(gray)
    est.set_params(mode="medium")
    with pytest.raises(ValueError, match="mode"):
        est.transform(gray)


def test_levels_too_high():
    x = np.zeros((2, 16, 16))
    WaveletDenoiser(levels=4).fit(x)  # 16 = 2**4 allows 4 Haar levels
    with pytest.raises(ValueError, match="too small for levels=5"):
        WaveletDenoiser(levels=5).fit(x)
    est = WaveletDenoiser(levels=4).fit(x)
    with pytest.raises(ValueError, match="too small"):
        est.transform(np.zeros((1, 8, 8)))
    with pytest.raises(ValueError, match="signal length 16 is too small"):
        WaveletDenoiser(levels=5).fit(np.zeros((2, 16)))


def test_convert2ycbcr_needs_three_channels(gray):
    with pytest.raises(ValueError, match="3 channels"):
        WaveletDenoiser(convert2ycbcr=True).fit(gray)
    with pytest.raises(ValueError, match="3 channels"):
        WaveletDenoiser(convert2ycbcr=True).fit(np.zeros((1, 8, 8, 4)))


def test_nonorthogonal_wavelet_warns(gray):
    with pytest.warns(UserWarning, match="orthogonal"):
        WaveletDenoiser(wavelet="bior2.2").fit(gray)


def test_grid_search_picks_best_psnr():
    clean = load_sample_images(size=64)
    noisy = gaussian(clean, 0.1, random_state=0)
    grid = {
        "denoise__wavelet": ["db1", "db4"],
        "denoise__method": ["BayesShrink", "VisuShrink"],
        "denoise__sigma": [0.02, 0.1],
    }
    search = GridSearchCV(
        Pipeline([("denoise", WaveletDenoiser())]),
        grid,
        scoring={"psnr": psnr_scorer, "ssim": ssim_scorer},
        refit="psnr",
        cv=KFold(3),
        error_score="raise",
    ).fit(noisy, clean / 255.0)
    means = search.cv_results_["mean_test_psnr"]
    best = int(np.argmax(means))
    assert search.best_params_ == search.cv_results_["params"][best]
    assert search.best_index_ == best
    assert means[best] - means.min() > 3.0  # dB
    assert np.all(np.isfinite(search.cv_results_["mean_test_ssim"]))
    # the refitted pipeline denoises
    assert psnr(clean, search.transform(noisy)) > psnr(clean, noisy)


# --------------------------------------------------------------------------- spatial contract


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # (L - 1) * (2**J - 1) + cycle_spins rounded up to 2**J; 2**J; (L - 1) * 2**J
        ({"wavelet": "db1", "levels": 3}, (8, 8, 8)),  # 7 -> 8
        ({"wavelet": "db2", "levels": 2}, (12, 4, 12)),  # 9 -> 12
        ({"wavelet": "db2", "levels": 1}, (4, 2, 6)),  # 3 -> 4, smaller than min_size
        ({"wavelet": "sym4", "levels": 2}, (24, 4, 28)),  # 21 -> 24
        ({"wavelet": "db1", "levels": 3, "cycle_spins": 2}, (16, 8, 8)),  # 9 -> 16
        ({"wavelet": "db1", "levels": 2, "cycle_spins": 1}, (4, 4, 4)),  # 4
    ],
)
def test_spatial_contract(params, expected):
    contract = WaveletDenoiser(**params).spatial_contract()
    assert isinstance(contract, SpatialContract)
    assert tuple(contract)[:3] == expected
    assert contract.local == (params.get("cycle_spins", 0) == 0)  # circular shifts
    # image_shape only matters with levels=None
    assert WaveletDenoiser(**params).spatial_contract(image_shape=(4096, 4096)) == contract


def test_spatial_contract_with_levels_none_uses_the_whole_image_levels():
    # 512x512 allows 9 db1 levels, transform uses 9 - 3 = 6: 63 -> 64 pixels
    assert WaveletDenoiser().spatial_contract(image_shape=(512, 512)) == (64, 64, 64, True)
    # 192x200 with db2: 6 levels possible, 3 used: 3 * 7 = 21 -> 24 pixels
    assert WaveletDenoiser(wavelet="db2").spatial_contract(image_shape=(192, 200, 3)) == (
        24, 8, 24, True
    )
    with pytest.raises(ValueError, match="image_shape"):
        WaveletDenoiser().spatial_contract()
    with pytest.raises(ValueError, match="Unknown wavelet"):
        WaveletDenoiser(wavelet="nope", levels=2).spatial_contract()


@pytest.mark.parametrize(("wavelet", "levels"), [("db2", 2), ("sym4", 1), ("coif1", 2)])
def test_min_size_is_the_smallest_image_transform_accepts(wavelet, levels):
    den = WaveletDenoiser(sigma=0.1, wavelet=wavelet, levels=levels)
    size = den.spatial_contract().min_size
    image = np.random.RandomState(0).uniform(size=(1, size, size + 3))
    den.fit(image).transform(image)
    with pytest.raises(ValueError, match="too small"):
        den.transform(image[:, 1:])


@pytest.mark.parametrize(
    "params",
    [
        {"wavelet": "db2", "levels": 2},
        {"wavelet": "sym4", "levels": 2},
        {"wavelet": "coif1", "levels": 2},
        {"wavelet": "db2", "levels": 3},
        {"wavelet": "db2", "levels": 2, "cycle_spins": 1},
    ],
)
def test_margin_bounds_the_measured_context(params):
    # With sigma given and VisuShrink the thresholds depend only on the image size, so
    # replacing the input farther than the margin from a region (keeping the size) must
    # leave the output there unchanged. The measured radius: 8, 20, 12, 16 and 8 pixels.
    image = np.random.RandomState(0).uniform(size=(128, 128, 1))
    den = WaveletDenoiser(sigma=0.1, method="VisuShrink", normalize="none", **params)
    den.fit(image[None])
    margin = den.spatial_contract().margin
    radius, deviations = effective_radius(
        lambda x: den.transform(x[None])[0], image, tol=1e-9, radii=range(0, margin + 1)
    )
    assert radius is not None and radius <= margin
    assert deviations[margin // 2] > 1e-3  # half the margin would not do


def test_for_image_shape_pins_the_levels_of_the_whole_image(gray):
    den = WaveletDenoiser(sigma=0.1, method="VisuShrink").fit(gray)
    pinned = den.for_image_shape((192, 192))
    # 192x192 with db1: 7 levels possible, transform uses 4 for the whole image
    assert pinned is not den and pinned.levels == 4 and den.levels is None
    assert pinned.n_channels_in_ == den.n_channels_in_  # the fitted state is kept
    assert pinned.spatial_contract() == den.spatial_contract(image_shape=(192, 192))
    # 64x64 images: 6 - 3 = 3 levels, as transform picks them
    np.testing.assert_array_equal(den.for_image_shape((64, 64)).transform(gray),
                                  den.transform(gray))
    assert den.set_params(levels=2).for_image_shape((192, 192)) is den
    # too small for any level: left as it is (such an image is never split)
    assert WaveletDenoiser(wavelet="db2").for_image_shape((2, 2)).levels is None


@pytest.mark.parametrize("X", ["stack", "list", "counts"])
def test_verbose_shows_progress_over_the_images(X, capsys):
    rng = np.random.RandomState(0)
    images = rng.rand(3, 32, 32)
    if X == "list":
        images = [images[0], images[1, :24], images[2]]
    elif X == "counts":
        images = (images * 4000 + 100).astype(np.uint16)
    expected = WaveletDenoiser().fit(images).transform(images)
    assert capsys.readouterr().err == ""
    out = WaveletDenoiser(verbose=1).fit(images).transform(images)
    for a, b in zip(out, expected):
        np.testing.assert_array_equal(a, b)
    err = capsys.readouterr().err
    assert "WaveletDenoiser.transform" in err and "/3" in err


# --- volumes and sequences (axes="ZYX") -----------------------------------------------------


def _still_stack(frames=7, size=64, sigma=0.1):
    photo = load_sample_images(size=size)[0] / 255.0
    clean = np.repeat(photo[None, None], frames, axis=1)
    return clean, gaussian(clean, sigma, random_state=0)


def test_joint_wavelet_of_a_still_stack_beats_its_planes_by_a_decibel():
    clean, noisy = _still_stack()
    planes = noisy.reshape(-1, *noisy.shape[2:])
    flat = WaveletDenoiser().fit(planes).transform(planes).reshape(noisy.shape)
    joint = WaveletDenoiser(axes="ZYX").fit(noisy).transform(noisy)
    assert psnr(clean, joint) > psnr(clean, flat) + 1


def test_a_few_planes_keep_the_levels_of_the_planes():
    # an anisotropic stack: 2 planes of 64x64; the short z axis must not cut the levels
    _, noisy = _still_stack(frames=2)
    plane = noisy[:, 0]
    volume = WaveletDenoiser(axes="ZYX", sigma=0.1).fit(noisy)
    assert volume.for_image(noisy).levels == WaveletDenoiser().fit(plane).for_image(
        plane).levels
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no boundary warning from PyWavelets
        out = volume.transform(noisy)
    np.testing.assert_allclose(volume.for_image(noisy).transform(noisy), out, atol=1e-6)


def test_levels_too_many_for_the_planes_are_refused_for_volumes():
    X = np.zeros((1, 16, 8, 8))  # 16 planes of 8x8: the planes limit the levels
    with pytest.raises(ValueError, match=r"image of shape \(8, 8\)"):
        WaveletDenoiser(axes="ZYX", levels=4).fit(X)
