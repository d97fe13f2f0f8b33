"""The image convention: layouts, dtypes, targets, errors and the denoiser base class."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from sklearn_denoise import WaveletDenoiser
from sklearn_denoise._base import _ImageFilter
from sklearn_denoise._param_checks import (
    Anything,
    Axes,
    Float,
    NJobs,
    check_choice,
    check_int,
    check_sigma,
)
from sklearn_denoise._validation import (
    from_float,
    image_target,
    restore_layout,
    to_float,
    validate_images,
)
from sklearn_denoise.metrics import j_invariant_loss, psnr


class _Shift(_ImageFilter):
    """Adds ``offset`` to every pixel: exposes the conversions around ``_denoise_image``."""

    _parameter_constraints = {"offset": Float(), "image_shape": Anything, "n_jobs": NJobs()}

    def __init__(self, offset=0.0, image_shape=None, n_jobs=None):
        self.offset = offset
        self.image_shape = image_shape
        self.n_jobs = n_jobs

    def _denoise_image(self, image, layout):
        self.last_dtype_ = image.dtype  # only for the tests below
        return image + self.offset


class _NeedsFive(_Shift):
    _min_size = 5


# --- dtypes ----------------------------------------------------------------------------------


def test_uint8_round_trip_is_exact():
    x = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    out = _Shift().fit(x).transform(x)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, x)


def test_uint8_output_rounded_and_clipped():
    x = np.array([[[0, 10, 254, 255]]], dtype=np.uint8)
    out = _Shift(offset=0.6 / 255).fit(x).transform(x)
    np.testing.assert_array_equal(out, [[[1, 11, 255, 255]]])
    out = _Shift(offset=-0.4 / 255).fit(x).transform(x)
    np.testing.assert_array_equal(out, [[[0, 10, 254, 255]]])
    out = _Shift(offset=-2.0).fit(x).transform(x)
    np.testing.assert_array_equal(out, np.zeros_like(x))


def test_uint16_round_trip_and_work_dtype():
    x = np.array([[[0, 1, 30000, 65535]]], dtype=np.uint16)
    est = _Shift().fit(x)
    out = est.transform(x)
    assert out.dtype == np.uint16 and est.last_dtype_ == np.float32
    np.testing.assert_array_equal(out, x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_dtype_preserved_and_not_clipped(dtype):
    x = np.linspace(-0.5, 1.5, 32, dtype=dtype).reshape(2, 4, 4)
    est = _Shift(offset=0.25).fit(x)
    out = est.transform(x)
    assert out.dtype == dtype and est.last_dtype_ == dtype
    np.testing.assert_allclose(out, x + 0.25, rtol=1e-6)


def test_to_float_and_from_float():
    assert to_float(np.array([255], np.uint8))[0] == 1.0
    assert to_float(np.array([255], np.uint8)).dtype == np.float32
    assert to_float(np.array([7], np.int64)).dtype == np.float64
    np.testing.assert_array_equal(from_float(np.array([-0.2, 0.5, 1.3]), np.uint8), [0, 128, 255])
    np.testing.assert_array_equal(from_float(np.array([-1.5, 0.5]), np.int8), [-128, 64])
    with pytest.raises(TypeError, match="Unsupported image dtype"):
        to_float(np.array(["a"]))


def test_boolean_images_rejected():
    with pytest.raises(TypeError, match="Boolean"):
        _Shift().fit(np.zeros((2, 4, 4), dtype=bool))


def test_complex_images_rejected_with_a_short_message():
    z = np.full((2, 40, 40), 0.5 + 1j, dtype=np.complex64)
    real = z.real.copy()
    cases = [
        (lambda: _Shift().fit(z), r"^Complex data not supported: X is complex64.*np.abs\(X\)"),
        (lambda: _Shift().fit(list(z[:1]) + [np.zeros((8, 8))]), r"X\[0\] is complex64"),
        (lambda: _Shift().fit(real, z), r"^Complex data not supported: y is"),
        (lambda: _Shift().fit([real[0], real[1][:8]], [z[0], z[1][:8]]), r"y\[0\] is complex"),
        (lambda: _Shift().fit(real).transform(z), r"X is complex"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message) as info:
            call()
        assert len(str(info.value)) < 200  # not the array itself


# --- layouts ---------------------------------------------------------------------------------


def test_stack_and_channels_layouts():
    gray = np.random.RandomState(0).rand(3, 6, 5)
    color = np.random.RandomState(1).rand(3, 6, 5, 3)
    est = _Shift(offset=0.1).fit(gray)
    assert est.n_channels_in_ == 1 and not hasattr(est, "n_features_in_")
    assert est.transform(gray).shape == gray.shape
    est = _Shift(offset=0.1).fit(color)
    assert est.n_channels_in_ == 3
    np.testing.assert_allclose(est.transform(color), color + 0.1)


def test_flattened_digits_with_image_shape():
    X = load_digits().data[:20] / 16.0
    est = WaveletDenoiser(sigma=0.1, image_shape=(8, 8)).fit(X)
    assert est.n_features_in_ == 64 and est.n_channels_in_ == 1
    out = est.transform(X)
    assert out.shape == (20, 64)
    stacked = WaveletDenoiser(sigma=0.1).fit(X.reshape(20, 8, 8)).transform(X.reshape(20, 8, 8))
    np.testing.assert_allclose(out, stacked.reshape(20, 64), atol=1e-12)


def test_flattened_color_image_shape():
    X = np.random.RandomState(0).rand(4, 4 * 5 * 3)
    est = _Shift(image_shape=(4, 5, 3)).fit(X)
    assert est.n_channels_in_ == 3
    assert est.transform(X).shape == X.shape


def test_image_shape_must_match_features():
    with pytest.raises(ValueError, match="does not match image_shape"):
        _Shift(image_shape=(8, 9)).fit(np.zeros((3, 64)))
    with pytest.raises(ValueError, match="image_shape must be"):
        _Shift(image_shape=(8, 9, 3, 2)).fit(np.zeros((3, 8)))
    with pytest.raises(ValueError, match=r"does not match image_shape=\(8,\)"):
        _Shift(image_shape=(8,)).fit(np.zeros((3, 9)))
    with pytest.raises(TypeError, match="image_shape must be"):
        _Shift(image_shape=8).fit(np.zeros((3, 8)))


def test_signals_without_image_shape():
    X = np.random.RandomState(0).rand(5, 30)
    est = _Shift(offset=0.5).fit(X)
    assert est.n_features_in_ == 30
    np.testing.assert_allclose(est.transform(X), X + 0.5)
    _, layout = validate_images(est, X, reset=False)
    assert layout.is_signal


def test_list_of_different_sizes_returns_list():
    images = [np.zeros((4, 5), np.uint8), np.full((6, 3), 200, np.uint8)]
    out = _Shift(offset=1 / 255).fit(images).transform(images)
    assert isinstance(out, list)
    assert [o.shape for o in out] == [(4, 5), (6, 3)]
    assert all(o.dtype == np.uint8 for o in out)
    np.testing.assert_array_equal(out[1], 201)
    color = [np.zeros((4, 5, 3)), np.zeros((6, 3, 3))]
    assert [o.shape for o in _Shift().fit(color).transform(color)] == [(4, 5, 3), (6, 3, 3)]


def test_regular_list_is_an_array():
    images = [np.zeros((4, 5)), np.ones((4, 5))]
    out = _Shift().fit(images).transform(images)
    assert isinstance(out, np.ndarray) and out.shape == (2, 4, 5)


def test_list_errors():
    with pytest.raises(ValueError, match="channel count"):
        _Shift().fit([np.zeros((4, 5, 3)), np.zeros((6, 3, 4))])
    with pytest.raises(ValueError, match="one dtype"):
        _Shift().fit([np.zeros((4, 5), np.uint8), np.zeros((6, 3))])
    with pytest.raises(ValueError, match=r"\(H, W\) or \(H, W, C\)"):
        _Shift().fit([np.zeros((4, 5, 3, 2)), np.zeros((6, 3, 3, 2))])
    with pytest.raises(ValueError, match="NaN|infinity"):
        _Shift().fit([np.zeros((4, 5)), np.full((6, 3), np.nan)])


def test_empty_batch_rejected():
    est = _Shift().fit(np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="0 sample"):
        est.transform(np.zeros((0, 4, 4)))


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_rejected(bad):
    x = np.zeros((2, 4, 4))
    x[1, 2, 3] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        _Shift().fit(x)
    est = _Shift().fit(np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="NaN|infinity"):
        est.transform(x)


def test_wrong_ndim_rejected():
    with pytest.raises(ValueError, match="2D array"):
        _Shift().fit(np.zeros(5))
    with pytest.raises(ValueError, match="2, 3 or 4 dimensions"):
        _Shift().fit(np.zeros((1, 2, 3, 4, 5)))


def test_channel_count_must_match_fit():
    est = _Shift().fit(np.zeros((2, 4, 4, 3)))
    with pytest.raises(ValueError, match="1 channel"):
        est.transform(np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="4 channel"):
        est.transform(np.zeros((2, 4, 4, 4)))


def test_layout_changes_between_fit_and_transform():
    est = _Shift().fit(np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="fitted on images"):
        est.transform(np.zeros((2, 16)))
    est = _Shift().fit(np.zeros((2, 16)))
    with pytest.raises(ValueError, match="features"):
        est.transform(np.zeros((2, 17)))


def test_min_size():
    with pytest.raises(ValueError, match="at least 5x5 pixels; got image of shape"):
        _NeedsFive().fit(np.zeros((2, 4, 9)))
    with pytest.raises(ValueError, match="signal length 3"):
        _NeedsFive().fit(np.zeros((2, 3)))
    _NeedsFive().fit(np.zeros((2, 5, 5)))


def test_not_fitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        _Shift().transform(np.zeros((1, 4, 4)))


# --- targets ---------------------------------------------------------------------------------


def test_fit_ignores_label_y_and_is_stateless():
    X = load_digits().data[:40] / 16.0
    y = load_digits().target[:40]
    est = WaveletDenoiser(image_shape=(8, 8))
    a = est.fit(X, y).transform(X)
    b = est.fit(X[:5]).transform(X)
    np.testing.assert_array_equal(a, b)
    pipe = Pipeline([("denoise", WaveletDenoiser(image_shape=(8, 8))),
                     ("clf", LogisticRegression(max_iter=200))]).fit(X, y)
    assert pipe.score(X, y) > 0.5


def test_mismatched_image_y_rejected():
    X = np.zeros((3, 4, 4))
    with pytest.raises(ValueError, match="y has shape"):
        _Shift().fit(X, np.zeros((3, 4, 5)))
    with pytest.raises(ValueError, match="y has 1 images but X has 2"):
        _Shift().fit([np.zeros((4, 4)), np.zeros((5, 5))], [np.zeros((4, 4))])
    with pytest.raises(ValueError, match=r"y\[1\] has shape"):
        _Shift().fit([np.zeros((4, 4)), np.zeros((5, 5))], [np.zeros((4, 4)), np.zeros((4, 4))])


def test_image_target_layouts():
    est = _Shift(image_shape=(2, 3))
    X = np.zeros((4, 6))
    _, layout = validate_images(est, X, reset=True)
    y = np.arange(24, dtype=float).reshape(4, 6)
    assert image_target(X, y, layout).shape == (4, 2, 3, 1)
    assert image_target(X, np.arange(4), layout) is None
    assert image_target(X, None, layout) is None
    restored = restore_layout(image_target(X, y, layout), layout)
    np.testing.assert_array_equal(restored, y)


# --- score -----------------------------------------------------------------------------------


def test_score_is_mean_psnr_with_clean_y():
    rng = np.random.RandomState(0)
    clean = rng.rand(3, 16, 16)
    noisy = clean + rng.normal(0, 0.05, clean.shape)
    est = WaveletDenoiser(sigma=0.05).fit(noisy)
    assert est.score(noisy, clean) == pytest.approx(psnr(clean, est.transform(noisy)))
    clean8 = (clean * 255).round().astype(np.uint8)
    noisy8 = (np.clip(noisy, 0, 1) * 255).round().astype(np.uint8)
    est8 = WaveletDenoiser(sigma=0.05).fit(noisy8)
    assert est8.score(noisy8, clean8) == pytest.approx(psnr(clean8, est8.transform(noisy8)))


def test_score_without_y_is_self_supervised():
    rng = np.random.RandomState(0)
    noisy = rng.rand(2, 12, 12)
    est = WaveletDenoiser(sigma=0.1).fit(noisy)
    expected = -j_invariant_loss(est, noisy)
    assert est.score(noisy) == pytest.approx(expected)
    assert est.score(noisy, np.array([0, 1])) == pytest.approx(expected)  # labels ignored


# --- parameter helpers -------------------------------------------------------------------------


def test_check_sigma():
    assert check_sigma(None) is None
    assert check_sigma(np.float32(0.5)) == 0.5
    assert check_sigma(0) == 0.0
    with pytest.raises(ValueError, match="got None"):
        check_sigma(None, allow_none=False)
    with pytest.raises(ValueError, match="non-negative"):
        check_sigma(-0.01)
    with pytest.raises(ValueError, match="25/255"):
        check_sigma(25)
    with pytest.raises(ValueError, match="non-negative finite"):
        check_sigma(np.nan)
    with pytest.raises(TypeError, match="sigma"):
        check_sigma(True)
    with pytest.raises(TypeError, match="noise"):
        check_sigma("0.1", name="noise")


def test_check_choice_and_int():
    assert check_choice("a", "opt", ("a", "b")) == "a"
    with pytest.raises(ValueError, match=r"opt must be one of \['a', 'b'\], got 'c'"):
        check_choice("c", "opt", ("b", "a"))
    assert check_int(np.int64(3), "k", minimum=1) == 3
    assert check_int(None, "k", allow_none=True) is None
    with pytest.raises(TypeError, match="k must be an int"):
        check_int(3.0, "k")
    with pytest.raises(TypeError, match="k must be an int"):
        check_int(True, "k")
    with pytest.raises(ValueError, match="k must be >= 1"):
        check_int(0, "k", minimum=1)


def _lone_image_denoisers():
    from sklearn_denoise import (
        BilateralDenoiser,
        CNNDenoiser,
        NLMeansDenoiser,
        TVDenoiser,
        VarianceStabilizedDenoiser,
        available_models,
    )

    denoisers = [WaveletDenoiser(), TVDenoiser(), NLMeansDenoiser(), BilateralDenoiser(),
                 VarianceStabilizedDenoiser()]
    if "gray" in available_models():
        denoisers.append(CNNDenoiser.pretrained("gray"))
    return denoisers


@pytest.mark.parametrize("den", _lone_image_denoisers(), ids=lambda d: type(d).__name__)
def test_a_lone_2d_image_is_denoised_as_one_image(den):
    """Issue #28: a (H, W) image used to be read as H 1-D signals (27.8 dB instead of
    29.2 for the wavelet); now it gets exactly the result of img[np.newaxis]."""
    from sklearn.base import clone

    from sklearn_denoise.datasets import load_sample_images
    from sklearn_denoise.noise import gaussian

    clean = load_sample_images(size=64)[0] / 255
    noisy = gaussian(clean, 20 / 255, random_state=0)
    expected = clone(den).fit(noisy[np.newaxis]).transform(noisy[np.newaxis])[0]
    out = clone(den).fit(noisy).transform(noisy)
    assert out.shape == noisy.shape
    np.testing.assert_array_equal(out, expected)
    assert psnr(clean, out) > psnr(clean, noisy) + 1
    # a model fitted on stacks takes a lone image, and one fitted on a lone image a stack
    fitted_on_stack = clone(den).fit(noisy[np.newaxis])
    np.testing.assert_array_equal(fitted_on_stack.transform(noisy), expected)
    fitted_on_image = clone(den).fit(noisy)
    np.testing.assert_array_equal(fitted_on_image.transform(noisy[np.newaxis])[0], expected)


def test_a_lone_rgb_image_is_one_colour_image():
    from sklearn_denoise.datasets import load_sample_images
    from sklearn_denoise.noise import gaussian

    noisy = gaussian(load_sample_images(size=48, color=True)[0] / 255, 0.08, random_state=0)
    den = WaveletDenoiser(convert2ycbcr=True).fit(noisy)
    assert den.n_channels_in_ == 3
    np.testing.assert_array_equal(den.transform(noisy), den.transform(noisy[None])[0])


def test_short_signals_and_sklearn_tables_stay_signals():
    X = np.random.RandomState(0).uniform(size=(20, 100))
    est = _Shift(offset=0.5).fit(X)
    assert est.n_features_in_ == 100
    np.testing.assert_allclose(est.transform(X), X + 0.5)
    # long 1-D signals are denoised as signals with image_shape=(n_features,)
    signals = np.random.RandomState(1).uniform(size=(40, 64))
    as_signals = WaveletDenoiser(sigma=0.1).fit(signals[:5]).transform(signals[:5])
    with_shape = WaveletDenoiser(sigma=0.1, image_shape=(64,)).fit(signals)
    np.testing.assert_allclose(with_shape.transform(signals)[:5], as_signals)
    # without it, 40 x 64 is one image
    image = WaveletDenoiser(sigma=0.1).fit(signals).transform(signals)
    assert not np.allclose(image[:5], as_signals)


def test_a_volume_handed_as_one_image_gets_a_message_about_volumes():
    stack = np.random.RandomState(0).uniform(size=(1, 8, 64, 64))
    with pytest.warns(UserWarning, match=r"z-stack or time series.*reshape\(-1, 64, 64\)"):
        WaveletDenoiser(sigma=0.1).fit(stack)
    # RGB, multi-band images are not volumes
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        WaveletDenoiser(sigma=0.1).fit(np.zeros((1, 64, 64, 8)) + 0.5)


def test_the_cnn_points_a_volume_at_the_reshape():
    from sklearn_denoise import CNNDenoiser, available_models

    if "gray" not in available_models():
        pytest.skip("no pretrained weights")
    stack = np.random.RandomState(0).uniform(size=(1, 8, 64, 64)).astype(np.float32)
    with pytest.warns(UserWarning), pytest.raises(ValueError,
                                                  match=r"X\.reshape\(-1, 64, 64\)"):
        CNNDenoiser.pretrained("gray").transform(stack)


# --- volumes and sequences (axes="ZYX", "TYX", with "C") ------------------------------------


class _VolumeShift(_Shift):
    """``_Shift`` with an ``axes`` parameter; records the shape of what it denoises."""

    _parameter_constraints = {**_Shift._parameter_constraints, "axes": Axes()}

    def __init__(self, offset=0.0, image_shape=None, n_jobs=None, axes="YX"):
        super().__init__(offset=offset, image_shape=image_shape, n_jobs=n_jobs)
        self.axes = axes

    def _denoise_image(self, image, layout):
        self.last_shape_ = image.shape  # only for the tests below
        return super()._denoise_image(image, layout)


@pytest.mark.parametrize("axes, X", [
    ("ZYX", np.arange(2 * 3 * 16 * 16, dtype=np.uint16).reshape(2, 3, 16, 16)),
    ("TYXC", np.random.RandomState(0).rand(2, 3, 16, 16, 2).astype(np.float32)),
])
def test_volumes_keep_layout_and_dtype_and_reach_the_method_whole(axes, X):
    est = _VolumeShift(axes=axes).fit(X)
    out = est.transform(X)
    assert out.dtype == X.dtype
    np.testing.assert_array_equal(out, X)
    assert est.last_shape_ == (3, 16, 16, 2 if axes.endswith("C") else 1)
    assert est.n_channels_in_ == (2 if axes.endswith("C") else 1)
    assert not hasattr(est, "n_features_in_")


def test_a_list_of_volumes_equals_each_volume_alone():
    rng = np.random.RandomState(0)
    volumes = [rng.rand(3, 16, 20), rng.rand(5, 12, 16)]
    est = _VolumeShift(offset=0.25, axes="ZYX").fit(volumes)
    out = est.transform(volumes)
    assert isinstance(out, list)
    for volume, result in zip(volumes, out):
        np.testing.assert_array_equal(result, est.transform(volume[np.newaxis])[0])
        np.testing.assert_allclose(result, volume + 0.25)


def test_volume_score_uses_volume_targets():
    rng = np.random.RandomState(0)
    clean = rng.rand(2, 3, 16, 16)
    est = _VolumeShift(offset=0.1, axes="ZYX").fit(clean)
    assert est.score(clean, clean) == pytest.approx(psnr(clean, clean + 0.1))


@pytest.mark.parametrize("axes, X, match", [
    ("ZYX", np.zeros((3, 16, 16)), r"X\[np.newaxis\]"),
    ("ZYXC", np.zeros((2, 3, 16, 16)), r"\(n, Z, Y, X, C\)"),
    ("TYX", [np.zeros((3, 16, 16)), np.zeros((16, 16))], r"X\[1\] has shape \(16, 16\)"),
    ("YXC", np.zeros((2, 16, 16)), "needs images with a channel axis"),
])
def test_axes_that_do_not_match_X_raise_naming_the_layout(axes, X, match):
    with pytest.raises(ValueError, match=match):
        _VolumeShift(axes=axes).fit(X)


def test_transform_rejects_volumes_of_another_channel_count():
    est = _VolumeShift(axes="ZYXC").fit(np.zeros((1, 2, 8, 8, 3)))
    with pytest.raises(ValueError, match="3 channel"):
        est.transform(np.zeros((1, 2, 8, 8, 1)))
