"""TV, non-local means, bilateral and BM3D denoisers against the functions they wrap."""

import sys
import warnings

import numpy as np
import pytest
from skimage.restoration import (
    denoise_bilateral,
    denoise_nl_means,
    denoise_tv_chambolle,
    estimate_sigma,
)
from sklearn.base import clone

from sklearn_denoise import BilateralDenoiser, BM3DDenoiser, NLMeansDenoiser, TVDenoiser
from sklearn_denoise._tiling import SpatialContract, make_contract, run_tiled
from sklearn_denoise.datasets import load_sample_images
from sklearn_denoise.metrics import psnr
from sklearn_denoise.noise import gaussian

SKIMAGE_DENOISERS = [TVDenoiser, NLMeansDenoiser, BilateralDenoiser]


@pytest.fixture(scope="module")
def clean_gray():
    return load_sample_images(size=32)[:3] / 255.0


@pytest.fixture(scope="module")
def gray(clean_gray):
    return gaussian(clean_gray, 0.1, random_state=0)


@pytest.fixture(scope="module")
def color():
    return gaussian(load_sample_images(color=True, size=24)[:2] / 255.0, 0.1, random_state=1)


@pytest.fixture(scope="module")
def signals():
    rng = np.random.RandomState(0)
    return np.sign(np.sin(np.linspace(0, 9, 64)))[None] * 0.4 + 0.5 + rng.normal(
        0, 0.1, (3, 64)
    )


# --- TV ---------------------------------------------------------------------------------


@pytest.mark.parametrize("weight", [0.05, 0.2])
def test_tv_matches_skimage(gray, color, weight):
    out = TVDenoiser(weight=weight).fit(gray).transform(gray)
    ref = np.stack([denoise_tv_chambolle(x, weight=weight) for x in gray])
    np.testing.assert_allclose(out, ref, atol=1e-12)
    out = TVDenoiser(weight=weight, eps=1e-3, max_num_iter=50).fit(color).transform(color)
    ref = np.stack(
        [denoise_tv_chambolle(x, weight=weight, eps=1e-3, max_num_iter=50, channel_axis=-1)
         for x in color]
    )
    np.testing.assert_allclose(out, ref, atol=1e-12)


def test_tv_signals_are_1d(signals):
    out = TVDenoiser(weight=0.2).fit(signals).transform(signals)
    ref = np.stack([denoise_tv_chambolle(s, weight=0.2) for s in signals])
    np.testing.assert_allclose(out, ref, atol=1e-12)


# --- NL-means ---------------------------------------------------------------------------


def test_nl_means_matches_skimage_with_sigma(gray, color):
    params = dict(patch_size=3, patch_distance=4, h=0.07, sigma=0.1)
    out = NLMeansDenoiser(**params).fit(gray).transform(gray)
    ref = np.stack([denoise_nl_means(x, fast_mode=True, **params) for x in gray])
    np.testing.assert_allclose(out, ref, atol=1e-12)
    out = NLMeansDenoiser(fast_mode=False, **params).fit(color).transform(color)
    ref = np.stack(
        [denoise_nl_means(x, fast_mode=False, channel_axis=-1, **params) for x in color]
    )
    np.testing.assert_allclose(out, ref, atol=1e-12)


def test_nl_means_estimates_sigma_per_image(gray, color):
    out = NLMeansDenoiser().fit(gray).transform(gray)
    for o, x in zip(out, gray):
        s = estimate_sigma(x)
        ref = denoise_nl_means(x, patch_size=5, patch_distance=6, h=0.8 * s, sigma=s)
        np.testing.assert_allclose(o, ref, atol=1e-12)
    out = NLMeansDenoiser(h=0.05).fit(color).transform(color)
    for o, x in zip(out, color):
        s = estimate_sigma(x, channel_axis=-1, average_sigmas=True)
        ref = denoise_nl_means(x, 5, 6, h=0.05, sigma=s, channel_axis=-1)
        np.testing.assert_allclose(o, ref, atol=1e-12)


def test_nl_means_signals_keep_shape(signals):
    out = NLMeansDenoiser(sigma=0.1).fit(signals).transform(signals)
    assert out.shape == signals.shape
    ref = np.stack([denoise_nl_means(s[None], 5, 6, h=0.08, sigma=0.1) for s in signals])
    np.testing.assert_allclose(out, ref.reshape(signals.shape), atol=1e-12)
    assert np.abs(out - 0.5).mean() < np.abs(signals - 0.5).mean() + 0.1


def test_nl_means_zero_noise_returns_copy():
    x = np.full((2, 9, 9), 0.25)
    out = NLMeansDenoiser().fit(x).transform(x)
    np.testing.assert_array_equal(out, x)
    assert not np.shares_memory(out, x)


# --- bilateral ---------------------------------------------------------------------------


def _fill(x, mode):
    """cval=0 as scikit-image needs it: it shifts images with negative values to start at
    0, but not cval."""
    return {"cval": -min(x.min(), 0.0)} if mode == "constant" else {}


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_bilateral_matches_skimage(gray, color, mode):
    params = dict(sigma_color=0.1, sigma_spatial=1.5, mode=mode, win_size=7)
    out = BilateralDenoiser(**params).fit(gray).transform(gray)
    ref = np.stack([denoise_bilateral(x, **params, **_fill(x, mode)) for x in gray])
    np.testing.assert_allclose(out, ref, atol=1e-12)
    out = BilateralDenoiser(**params).fit(color).transform(color)
    ref = np.stack([denoise_bilateral(x, channel_axis=-1, **params, **_fill(x, mode))
                    for x in color])
    np.testing.assert_allclose(out, ref, atol=1e-12)


def test_bilateral_default_sigma_color_follows_the_noise_level(gray):
    """sigma_color=None is 1.5 times the estimated noise level (what the command line's
    'bilateral' method always did), not scikit-image's standard deviation of the image."""
    from sklearn_denoise._sensor import estimate_gaussian_sigma

    out = BilateralDenoiser().fit(gray).transform(gray)
    ref = np.stack([
        denoise_bilateral(x, sigma_color=1.5 * estimate_gaussian_sigma(x[..., None]),
                          sigma_spatial=1.5, mode="reflect") for x in gray])
    np.testing.assert_allclose(out, ref, atol=1e-12)
    given = BilateralDenoiser(sigma=0.1).fit(gray).transform(gray)
    np.testing.assert_allclose(
        given, BilateralDenoiser(sigma_color=0.15).fit(gray).transform(gray), atol=1e-12)


def test_tv_default_weight_follows_the_noise_level(gray):
    from sklearn_denoise._sensor import estimate_gaussian_sigma

    out = TVDenoiser().fit(gray).transform(gray)
    ref = np.stack([
        denoise_tv_chambolle(x, weight=0.9 * estimate_gaussian_sigma(x[..., None]),
                             eps=2e-4, max_num_iter=200) for x in gray])
    np.testing.assert_allclose(out, ref, atol=1e-12)
    np.testing.assert_allclose(TVDenoiser(sigma=0.1).fit(gray).transform(gray),
                               TVDenoiser(weight=0.09).fit(gray).transform(gray), atol=1e-12)


def test_bilateral_default_borders_do_not_collapse_on_tiny_images():
    # issue 29: with scikit-image's mode="constant" (fill 0) a 2x2 image came out as
    # [[0.0, 0.509], [0.066, 0.001]]: the fill made most of every window
    X = np.array([[[0.2, 0.8], [0.6, 0.4]]])
    out = BilateralDenoiser().fit(X).transform(X)
    assert out.min() >= X.min() and out.max() <= X.max()
    assert abs(out.mean() - X.mean()) < 0.05


@pytest.mark.parametrize("sigma_color", [None, 0.1, 1.0])
@pytest.mark.parametrize("cval", [1e9, -1e9, 2.0, -3.0])
def test_bilateral_fill_value_never_leaks_beyond_the_image_range(gray, sigma_color, cval):
    # issue 29: cval=1e9 put values up to 5.3e8 in the output of [0, 1] images
    est = BilateralDenoiser(sigma_color=sigma_color, mode="constant", cval=cval)
    out = est.fit(gray).transform(gray)
    for x, y in zip(gray, out):
        assert x.min() <= y.min() and y.max() <= x.max()


def test_bilateral_fill_value_is_on_the_image_scale(gray):
    # scikit-image shifts an image with negative values to start at 0, but not cval: the
    # fill must be cval in the image's own values, as if the image were padded with it
    params = dict(sigma_color=0.2, sigma_spatial=1.5, win_size=7)
    image = gray[:1]
    assert image.min() < 0
    out = BilateralDenoiser(mode="constant", cval=0.1, normalize="none", **params).fit(
        image).transform(image)
    padded = np.pad(image[0], 3, constant_values=0.1)  # within the range: same weights
    ref = denoise_bilateral(padded, mode="edge", **params)[3:-3, 3:-3]
    np.testing.assert_allclose(out[0], ref, atol=1e-12)


@pytest.mark.parametrize(
    ("Denoiser", "params", "match"),
    [  # issue 29: each allocated gigabytes to exabytes with no word of which parameter
        (BilateralDenoiser, {"bins": 10**9}, r"bins must be in \[1, 1000000\], got 1000000000"),
        (BilateralDenoiser, {"win_size": 10**9}, r"win_size must be in \[1, 301\]"),
        (BilateralDenoiser, {"sigma_spatial": 1e9}, r"sigma_spatial must be in \(0, 50.0\]"),
        (NLMeansDenoiser, {"patch_size": 10**9}, r"patch_size must be in \[1, 64\]"),
        (NLMeansDenoiser, {"patch_distance": 10**9}, r"patch_distance must be in \[1, 64\]"),
    ],
)
def test_window_parameters_are_bounded(gray, Denoiser, params, match):
    with pytest.raises(ValueError, match=match):
        Denoiser(**params).fit(gray)
    if "bins" not in params:
        with pytest.raises(ValueError, match=match):  # the dask overlap asks first
            Denoiser(**params).spatial_contract()


@pytest.mark.parametrize("mode", ["edge", "reflect", "wrap", "constant"])
def test_bilateral_signals_are_1d(signals, mode):
    est = BilateralDenoiser(sigma_color=0.3, sigma_spatial=2, mode=mode).fit(signals)
    out = est.transform(signals)
    assert out.shape == signals.shape
    if mode != "constant":
        # rows beyond a 1-pixel-high image repeat it in these modes: a 1-D filter
        ref = np.stack(
            [denoise_bilateral(s[None], sigma_color=0.3, sigma_spatial=2, mode=mode)
             for s in signals]
        )
        np.testing.assert_allclose(out, ref, atol=1e-12)
    else:
        # away from the ends the zero padding must not pull values down
        interior = slice(7, -7)
        assert abs(out[:, interior].mean() - signals[:, interior].mean()) < 0.02


def test_bilateral_constant_image_not_aliased():
    x = [np.full((6, 6), 0.5), np.full((7, 5), 0.5)]
    out = BilateralDenoiser().fit(x).transform(x)
    for o, xi in zip(out, x):
        np.testing.assert_array_equal(o, xi)
        assert not np.shares_memory(o, xi)


# --- shared behaviour of the skimage wrappers ------------------------------------------------


@pytest.mark.parametrize("Denoiser", SKIMAGE_DENOISERS)
def test_dtype_round_trips(Denoiser, gray):
    x8 = (np.clip(gray, 0, 1) * 255).round().astype(np.uint8)
    out8 = Denoiser().fit(x8).transform(x8)
    assert out8.dtype == np.uint8
    ref = Denoiser().fit(x8 / 255.0).transform(x8 / 255.0)
    assert np.abs(out8.astype(int) - np.clip(np.rint(ref * 255), 0, 255)).max() <= 1
    x16 = (np.clip(gray, 0, 1) * 65535).round().astype(np.uint16)
    assert Denoiser().fit(x16).transform(x16).dtype == np.uint16
    x32 = gray.astype(np.float32)
    out32 = Denoiser().fit(x32).transform(x32)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, Denoiser().fit(gray).transform(gray), atol=1e-3)


@pytest.mark.parametrize("Denoiser", SKIMAGE_DENOISERS)
def test_layouts(Denoiser, gray, color):
    est = Denoiser().fit(gray)
    stack = est.transform(gray)
    flat = Denoiser(image_shape=(32, 32)).fit(gray.reshape(3, -1)).transform(gray.reshape(3, -1))
    np.testing.assert_allclose(flat, stack.reshape(3, -1), atol=1e-12)
    images = [gray[0], gray[1, :20, :27]]
    out = Denoiser().fit(images).transform(images)
    assert isinstance(out, list) and [o.shape for o in out] == [(32, 32), (20, 27)]
    np.testing.assert_allclose(out[0], stack[0], atol=1e-12)
    out = Denoiser().fit(color).transform(color)
    assert out.shape == color.shape


@pytest.mark.parametrize("Denoiser", SKIMAGE_DENOISERS)
def test_tiny_images(Denoiser):
    for shape in [(2, 1, 1), (2, 2, 3), (1, 3, 3, 3)]:
        x = np.random.RandomState(0).rand(*shape)
        out = Denoiser().fit(x).transform(x)
        assert out.shape == x.shape and np.all(np.isfinite(out))


@pytest.mark.parametrize("Denoiser", SKIMAGE_DENOISERS)
def test_improves_psnr(Denoiser, clean_gray, gray):
    params = {"sigma_color": 0.15, "sigma_spatial": 1.5, "mode": "edge"}
    est = Denoiser(**params) if Denoiser is BilateralDenoiser else Denoiser()
    assert psnr(clean_gray, est.fit(gray).transform(gray)) > psnr(clean_gray, gray) + 2


def test_bilateral_accepts_read_only_input(gray, color):
    # skimage's Cython kernel raised "buffer source array is read-only"
    for x in (gray, color):
        ro = x.copy()
        ro.flags.writeable = False
        out = BilateralDenoiser(sigma_color=0.1).fit(ro).transform(ro)
        np.testing.assert_array_equal(out, BilateralDenoiser(sigma_color=0.1).fit(x).transform(x))


# (scale, dtype): powers of two near the float limits
FAR_SCALES = [(2.0**996, np.float64), (2.0**1020, np.float64), (2.0**125, np.float32),
              (2.0**-1000, np.float64), (2.0**-120, np.float32)]
SAFE_RANGE_DENOISERS = [
    TVDenoiser(weight=0.05),
    NLMeansDenoiser(h=0.05),
    BilateralDenoiser(),
    BilateralDenoiser(sigma_color=0.2, cval=0.3),
]


def _scaled_params(est, scale):
    return clone(est).set_params(
        **{name: getattr(est, name) * scale for name in est._intensity_params
           if getattr(est, name) is not None}
    )


@pytest.mark.parametrize("scale, dtype", FAR_SCALES, ids=str)
@pytest.mark.parametrize("denoiser", SAFE_RANGE_DENOISERS, ids=repr)
def test_images_near_float_limits(gray, denoiser, scale, dtype):
    # squares of 1e300 intensities overflowed to inf / NaN (and of 1e-300 ones underflowed);
    # such images are denoised at a power-of-two scale with their parameters scaled alike
    x = gray[:2].astype(dtype)
    far = x * dtype(scale)
    est = clone(denoiser).set_params(normalize="none")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out = est.fit(far).transform(far)
        assert out.dtype == dtype and np.all(np.isfinite(out))
        # the same parameters on the image's own scale: the result scales exactly
        out = _scaled_params(est, scale).fit(far).transform(far)
    ref = est.fit(x).transform(x)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out / dtype(scale), ref, rtol=rtol, atol=rtol * np.abs(ref).max())
    # the default normalisation maps such images onto [0, 1]
    assert np.all(np.isfinite(clone(denoiser).fit(far).transform(far)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_negligible_and_huge_parameters_stay_finite(gray, dtype):
    # a colour spread or weight whose square underflows made skimage divide 0 by 0
    x = gray[:1].astype(dtype)
    for est in [BilateralDenoiser(sigma_color=1e-200), TVDenoiser(weight=1e-200),
                NLMeansDenoiser(h=1e-200)]:
        out = est.fit(x).transform(x)
        np.testing.assert_array_equal(out, x)  # too small to change anything
    for est in [BilateralDenoiser(sigma_color=1e200), TVDenoiser(weight=1e200),
                NLMeansDenoiser(h=1e200)]:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            out = est.fit(x).transform(x)
        assert np.all(np.isfinite(out))


def test_n_jobs_same_result(gray):
    a = TVDenoiser(n_jobs=2).fit(gray).transform(gray)
    b = TVDenoiser().fit(gray).transform(gray)
    np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize(
    "Denoiser, params, error, match",
    [
        (TVDenoiser, {"weight": 0}, ValueError, "weight must be > 0"),
        (TVDenoiser, {"weight": "big"}, TypeError, "weight"),
        (TVDenoiser, {"eps": -1.0}, ValueError, "eps"),
        (TVDenoiser, {"max_num_iter": 0}, ValueError, "max_num_iter"),
        (TVDenoiser, {"n_jobs": 1.5}, TypeError, "n_jobs"),
        (NLMeansDenoiser, {"patch_size": 0}, ValueError, "patch_size"),
        (NLMeansDenoiser, {"patch_distance": 2.0}, TypeError, "patch_distance"),
        (NLMeansDenoiser, {"h": 0.0}, ValueError, "h must be > 0"),
        (NLMeansDenoiser, {"sigma": 2.0}, ValueError, "above 1"),
        (NLMeansDenoiser, {"sigma": -0.1}, ValueError, "sigma"),
        (NLMeansDenoiser, {"fast_mode": "yes"}, TypeError, "fast_mode"),
        (BilateralDenoiser, {"sigma_color": -1.0}, ValueError, "sigma_color"),
        (BilateralDenoiser, {"sigma_spatial": 0}, ValueError, "sigma_spatial"),
        (BilateralDenoiser, {"win_size": 0}, ValueError, "win_size"),
        (BilateralDenoiser, {"bins": 0}, ValueError, "bins"),
        (BilateralDenoiser, {"mode": "mirror"}, ValueError, r"mode must be one of \["),
        (BilateralDenoiser, {"cval": np.nan}, ValueError, "cval"),
    ],
)
def test_bad_params(gray, Denoiser, params, error, match):
    with pytest.raises(error, match=match):
        Denoiser(**params).fit(gray)


# --- BM3D ---------------------------------------------------------------------------------


def test_bm3d_without_package_raises_importerror(monkeypatch, gray):
    monkeypatch.setitem(sys.modules, "bm3d", None)
    with pytest.raises(ImportError, match=r'pip install "sklearn-denoise\[bm3d\]"'):
        BM3DDenoiser().fit(gray)


def test_bm3d_params_checked():
    with pytest.raises(ValueError, match="profile must be one of"):
        BM3DDenoiser(profile="fast")._check_params()
    with pytest.raises(ValueError, match="stage must be one of"):
        BM3DDenoiser(stage="wiener")._check_params()
    with pytest.raises(ValueError, match="sigma"):
        BM3DDenoiser(sigma=-1)._check_params()


@pytest.fixture(scope="module")
def bm3d():
    return pytest.importorskip(
        "bm3d", reason="optional package bm3d not installed (pip install bm3d)"
    )


@pytest.mark.parametrize("stage", ["all", "hard_thresholding"])
def test_bm3d_gray_matches_package(bm3d, gray, stage):
    x = gray[:1, :16, :16]
    out = BM3DDenoiser(sigma=0.1, stage=stage).fit(x).transform(x)
    stage_arg = {"all": bm3d.BM3DStages.ALL_STAGES,
                 "hard_thresholding": bm3d.BM3DStages.HARD_THRESHOLDING}[stage]
    ref = bm3d.bm3d(x[0], 0.1, profile="np", stage_arg=stage_arg)
    # bm3d works in float32 with threads: repeated calls may differ by ~1e-7
    np.testing.assert_allclose(out[0], ref, atol=1e-6)


@pytest.mark.parametrize("channels", [1, 3])
def test_bm3d_is_bit_repeatable_as_its_tags_say(bm3d, monkeypatch, channels):
    # issue 29: results differed by 3.9e-7 from run to run (the bm3d package's threads
    # aggregate in a varying order) while the tags said the estimator is deterministic
    assert not BM3DDenoiser().__sklearn_tags__().non_deterministic
    rng = np.random.default_rng(0)
    X = rng.uniform(0.3, 0.7, (1, 24, 24, channels)) + rng.normal(0, 0.1, (1, 24, 24, channels))
    threads = []
    real = bm3d.bm3d

    def spy(z, sigma_psd, profile="np", **kwargs):
        threads.append(getattr(profile, "num_threads", None))
        return real(z, sigma_psd, profile=profile, **kwargs)

    monkeypatch.setattr(bm3d, "bm3d", spy)
    est = BM3DDenoiser(sigma=0.1).fit(X)
    first = est.transform(X)
    np.testing.assert_array_equal(est.transform(X), first)
    assert threads and set(threads) == {1}


def test_bm3d_rgb_matches_package(bm3d, color):
    x = color[:1, :16, :16]
    out = BM3DDenoiser(sigma=0.1).fit(x).transform(x)
    np.testing.assert_allclose(out[0], bm3d.bm3d_rgb(x[0], 0.1), atol=1e-5)


def test_bm3d_gray_valued_rgb_is_finite(bm3d):
    # bm3d.bm3d_rgb divides by the range of the chroma channels: NaN for a gray image
    x = np.repeat(gaussian(np.full((1, 12, 12), 0.5), 0.05, random_state=0)[..., None], 3, -1)
    out = BM3DDenoiser(sigma=0.05).fit(x).transform(x)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[..., 0], out[..., 1], atol=1e-12)


def test_bm3d_estimated_sigma_and_uint8(bm3d, clean_gray, gray):
    x = gray[:1, :12, :12]
    out = BM3DDenoiser().fit(x).transform(x)
    s = estimate_sigma(x[0])
    np.testing.assert_allclose(out[0], bm3d.bm3d(x[0], s), atol=1e-6)
    x8 = (np.clip(x, 0, 1) * 255).round().astype(np.uint8)
    assert BM3DDenoiser(sigma=0.1).fit(x8).transform(x8).dtype == np.uint8


def test_bm3d_improves_psnr(bm3d, clean_gray, gray):
    out = BM3DDenoiser(sigma=0.1).fit(gray[:1]).transform(gray[:1])
    assert psnr(clean_gray[:1], out) > psnr(clean_gray[:1], gray[:1]) + 3


def test_bm3d_size_checks(bm3d):
    with pytest.raises(ValueError, match="at least 9x9"):
        BM3DDenoiser(sigma=0.1).fit(np.zeros((1, 8, 8)))
    with pytest.raises(ValueError, match="at least 12x12"):
        BM3DDenoiser(sigma=0.1, profile="vn").fit(np.zeros((1, 11, 30)))
    with pytest.raises(ValueError, match="1-D signals"):
        BM3DDenoiser(sigma=0.1).fit(np.zeros((2, 100)))
    est = BM3DDenoiser(sigma=0.1).fit(np.zeros((1, 9, 9)))
    with pytest.raises(ValueError, match="at least 9x9"):
        est.transform([np.zeros((9, 9)), np.zeros((8, 20))])


def test_bm3d_block_sizes_match_package(bm3d):
    from sklearn_denoise._classical import _BM3D_BLOCK

    for name, block in _BM3D_BLOCK.items():
        profile = bm3d._select_profile(name)
        assert max(profile.bs_ht, profile.bs_wiener) == block


def test_bm3d_zero_sigma_is_identity(bm3d):
    x = np.random.RandomState(0).rand(1, 10, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = BM3DDenoiser(sigma=0.0).fit(x).transform(x)
    np.testing.assert_array_equal(out, x)


# --- BM3D safe range -------------------------------------------------------------------


def _photo_crop(rows, cols, color=False):
    clean = load_sample_images(color=color)[0][rows, cols] / 255.0
    return clean[np.newaxis], gaussian(clean[np.newaxis], 0.1, random_state=0)


@pytest.mark.parametrize("scale, dtype", [FAR_SCALES[0], FAR_SCALES[2], FAR_SCALES[3]], ids=str)
def test_bm3d_images_near_float_limits(bm3d, scale, dtype):
    # bm3d computes in float32: 1e300 images came back NaN
    _, noisy = _photo_crop(slice(0, 16), slice(0, 16))
    x = np.clip(noisy, 0, 0.99).astype(dtype)  # peak in [0.5, 1): scaled back exactly to x
    est = BM3DDenoiser(stage="hard_thresholding", normalize="none")
    out = est.fit(x * dtype(scale)).transform(x * dtype(scale))
    assert out.dtype == dtype and np.all(np.isfinite(out))
    # sigma estimated on the image's own scale: the result scales exactly (up to bm3d's
    # thread-order rounding)
    np.testing.assert_allclose(out / dtype(scale), est.fit(x).transform(x), atol=1e-4)
    # a sigma given on the [0, 1] scale is negligible against such intensities
    out = est.set_params(sigma=0.1).fit(x * dtype(scale)).transform(x * dtype(scale))
    assert np.all(np.isfinite(out))


def test_bm3d_large_images_are_tiled_close_to_untiled(bm3d):
    clean = load_sample_images()[0][None, :256, :256] / 255.0  # camera
    noisy = gaussian(clean, 25 / 255, random_state=0)
    whole = BM3DDenoiser(sigma=25 / 255).fit(noisy).transform(noisy)
    tiled = BM3DDenoiser(sigma=25 / 255, tile_size=96).fit(noisy).transform(noisy)
    diff = np.abs(tiled - whole)
    # the tolerance stated in the tile_size docstring
    assert diff.max() <= 0.05
    assert np.quantile(diff, 0.999) <= 0.01
    assert abs(psnr(clean, tiled) - psnr(clean, whole)) <= 0.01
    assert BM3DDenoiser().spatial_contract() == (72, 9, 9, False)


def test_bm3d_tile_size_is_validated(bm3d, gray):
    with pytest.raises(ValueError, match="tile_size"):
        BM3DDenoiser(tile_size=8).fit(gray)


# --------------------------------------------------------------------------- spatial contract


@pytest.mark.parametrize(
    ("denoiser", "expected"),
    [
        # patch_distance + patch_size // 2
        (NLMeansDenoiser(), (8, 1, 1, True)),
        (NLMeansDenoiser(patch_size=4, patch_distance=3), (5, 1, 1, True)),
        (NLMeansDenoiser(patch_size=3, patch_distance=2, fast_mode=False), (3, 1, 1, True)),
        # half the window: max(5, 2 * ceil(3 * sigma_spatial) + 1) // 2, or win_size // 2
        (BilateralDenoiser(), (5, 1, 1, True)),
        (BilateralDenoiser(sigma_spatial=1.0), (3, 1, 1, True)),
        (BilateralDenoiser(sigma_spatial=2), (6, 1, 1, True)),
        (BilateralDenoiser(sigma_spatial=0.1), (2, 1, 1, True)),
        (BilateralDenoiser(win_size=11), (5, 1, 1, True)),
        (BilateralDenoiser(mode="wrap"), (5, 1, 1, False)),  # the far border
        # a global method: the documented 32 pixels whatever the parameters
        (TVDenoiser(), (32, 1, 1, False)),
        (TVDenoiser(weight=1.0, max_num_iter=5), (32, 1, 1, False)),
        # measured margin and grid; one pixel more than the profile's largest block
        (BM3DDenoiser(), (72, 9, 9, False)),
        (BM3DDenoiser(profile="vn"), (72, 9, 12, False)),
        (BM3DDenoiser(profile="vn_old"), (72, 9, 13, False)),
    ],
    ids=lambda v: repr(v) if isinstance(v, tuple) else None,
)
def test_spatial_contracts(denoiser, expected):
    contract = denoiser.spatial_contract()
    assert isinstance(contract, SpatialContract)
    assert tuple(contract) == expected


def test_spatial_contract_checks_the_parameters():
    with pytest.raises(ValueError, match="patch_size"):
        NLMeansDenoiser(patch_size=0).spatial_contract()
    with pytest.raises(ValueError, match="profile"):
        BM3DDenoiser(profile="nope").spatial_contract()


def _tiled(denoiser, image, margin, tile=40):
    """``denoiser`` run on the overlapped tiles of one (H, W, C) image, as run_tiled does."""
    out = np.empty_like(image)
    return run_tiled(lambda rows, cols: denoiser.transform(image[rows, cols][None])[0],
                     image.shape[:2], out, tile, make_contract(margin))


@pytest.mark.parametrize(
    "denoiser",
    [
        NLMeansDenoiser(sigma=0.1, normalize="none"),
        NLMeansDenoiser(patch_size=3, patch_distance=4, sigma=0.1, normalize="none"),
        BilateralDenoiser(sigma_color=0.1, normalize="none"),
        BilateralDenoiser(sigma_color=0.1, sigma_spatial=2, normalize="none"),
    ],
    ids=["nlm", "nlm-3-4", "bilateral", "bilateral-sigma2"],
)
def test_local_filters_tiled_with_their_margin_equal_untiled(denoiser):
    # Values in (0.2, 0.8) with a 0 and a 1 in every 8x8 block, so every tile has the
    # same extremes: scikit-image's bilateral scales its intensity table by them.
    rng = np.random.RandomState(0)
    image = rng.uniform(0.2, 0.8, size=(120, 100, 1))
    image[::8, ::8] = 0.0
    image[4::8, 4::8] = 1.0
    den = clone(denoiser).fit(image[None])
    whole = den.transform(image[None])[0]
    margin = den.spatial_contract().margin
    np.testing.assert_allclose(_tiled(den, image, margin), whole, rtol=0, atol=1e-8)
    # the margin is tight: one pixel less changes pixels next to the tile borders
    assert np.abs(_tiled(den, image, margin - 1) - whole).max() > 1e-6


@pytest.mark.parametrize("channels", [None, 3])
@pytest.mark.parametrize("mode", ["constant", "edge", "symmetric", "reflect"])
def test_bilateral_tiles_of_a_decided_image_use_its_range(mode, channels):
    """scikit-image scales the bilateral filter's intensity table by the range of the
    array it is given (and shifts negative values): a tile filtered by the denoiser
    for_image returns has the whole image's, so its core equals the whole image's result
    (a dask chunk differed by up to 0.016 before), at the image's borders too."""
    rng = np.random.RandomState(0)
    image = rng.rand(96, 80, *([channels] if channels else [])) - 0.2
    image[88:, 72:] += 1.5  # the image's maximum, in none of the tiles below
    den = BilateralDenoiser(sigma=0.1, mode=mode, cval=0.3, normalize="none").fit(image[None])
    whole = den.transform(image[None])[0]
    decided = den.for_image(image)
    m = den.spatial_contract().margin
    corner = decided.transform(image[None, :40 + m, :40 + m])[0][:40, :40]
    inner = decided.transform(image[None, 30 - m:70 + m, 20 - m:60 + m])[0][m:-m, m:-m]
    np.testing.assert_array_equal(corner, whole[:40, :40])
    np.testing.assert_array_equal(inner, whole[30:70, 20:60])
    # without the decision each tile's own range is used: not the same result
    own = den.transform(image[None, 30 - m:70 + m, 20 - m:60 + m])[0][m:-m, m:-m]
    assert np.abs(own - whole[30:70, 20:60]).max() > 1e-6


@pytest.mark.parametrize("Denoiser, params", [
    (TVDenoiser, {}), (NLMeansDenoiser, {}), (BilateralDenoiser, {}),
])
@pytest.mark.parametrize("n_jobs", [None, 2])
def test_verbose_shows_progress_over_the_images(Denoiser, params, n_jobs, capsys):
    images = gaussian(load_sample_images(size=32)[:3] / 255, 0.1, random_state=0)
    quiet = Denoiser(**params, n_jobs=n_jobs).fit(images)
    expected = quiet.transform(images)
    assert capsys.readouterr().err == ""
    loud = clone(quiet).set_params(verbose=1).fit(images)
    np.testing.assert_array_equal(loud.transform(images), expected)
    err = capsys.readouterr().err
    assert f"{Denoiser.__name__}.transform" in err and "/3" in err
    loud.transform(images[:1])  # one image: no bar
    assert capsys.readouterr().err == ""


# --- volumes and sequences (axes="ZYX") -----------------------------------------------------


def _static_and_moving_stacks(frames=5, size=48, sigma=0.1):
    """(clean, noisy) stacks (2, frames, size, size): one still, one shifting 1 px a frame,
    with independent noise per plane."""
    photo = load_sample_images(size=size + frames)[0] / 255.0
    still = np.repeat(photo[None, :size, :size], frames, axis=0)
    moving = np.stack([photo[k:k + size, k:k + size] for k in range(frames)])
    clean = np.stack([still, moving])
    return clean, gaussian(clean, sigma, random_state=0)


@pytest.mark.parametrize("cls", [TVDenoiser, NLMeansDenoiser])
def test_joint_denoising_of_a_still_stack_beats_its_planes(cls):
    clean, noisy = _static_and_moving_stacks()
    planes = noisy[:1].reshape(-1, *noisy.shape[2:])
    flat = cls().fit(planes).transform(planes).reshape(noisy[:1].shape)
    joint = cls(axes="ZYX").fit(noisy[:1]).transform(noisy[:1])
    assert psnr(clean[:1], joint) > psnr(clean[:1], flat) + 0.5


@pytest.mark.parametrize("cls", [TVDenoiser, NLMeansDenoiser])
def test_a_stack_is_decided_once_on_all_its_planes(cls):
    clean, noisy = _static_and_moving_stacks()
    est = cls(axes="ZYX").fit(noisy)
    out = est.transform(noisy)
    for k in range(2):
        pinned = est.for_image(noisy[k:k + 1])
        # the noise is read off the planes: motion between them does not read as noise
        assert pinned.decision_.noise[0].sigma == pytest.approx(0.1, rel=0.15)
        np.testing.assert_allclose(pinned.transform(noisy[k:k + 1])[0], out[k], atol=1e-6)
        np.testing.assert_allclose(est.transform(noisy[k:k + 1])[0], out[k], atol=1e-6)


def test_volumes_of_uint8_in_colour_keep_dtype_and_channels():
    rng = np.random.RandomState(0)
    X = rng.randint(0, 256, size=(1, 3, 24, 24, 3)).astype(np.uint8)
    for cls in (TVDenoiser, NLMeansDenoiser):
        out = cls(axes="ZYXC").fit(X).transform(X)
        assert out.dtype == np.uint8 and out.shape == X.shape
        assert np.abs(out.astype(float) - X).mean() > 1  # it did smooth


@pytest.fixture
def bm4d():
    return pytest.importorskip(
        "bm4d", reason="optional package bm4d not installed (pip install bm4d)"
    )


def test_bm4d_denoises_volumes_as_the_package_does_and_beats_bm3d_on_planes(bm3d, bm4d):
    clean, noisy = _static_and_moving_stacks(frames=5, size=24)
    volume = noisy[:1]
    est = BM3DDenoiser(axes="ZYX", sigma=0.1).fit(volume)
    out = est.transform(volume)
    profile = bm4d.BM4DProfile()
    profile.num_threads = 1
    np.testing.assert_allclose(out[0], bm4d.bm4d(volume[0], 0.1, profile=profile),
                               atol=1e-6)
    planes = volume.reshape(-1, 24, 24)
    flat = BM3DDenoiser(sigma=0.1).fit(planes).transform(planes).reshape(volume.shape)
    assert psnr(clean[:1], out) > psnr(clean[:1], flat) + 1


def test_bm4d_refuses_profiles_and_volumes_it_cannot_take(bm3d, bm4d):
    _, noisy = _static_and_moving_stacks(frames=5, size=24)
    with pytest.raises(ValueError, match="no BM4D counterpart"):
        BM3DDenoiser(axes="ZYX", profile="vn").fit(noisy)
    with pytest.raises(ValueError, match=r"at least \(5, 5, 5\) voxels"):
        BM3DDenoiser(axes="ZYX").fit(noisy[:, :3])
