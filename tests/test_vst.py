"""Variance stabilisation: the generalised Anscombe transform, its exact unbiased inverse,
and the VarianceStabilizedDenoiser meta-estimator."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from skimage import data
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_denoise import (
    CNNDenoiser,
    DenoiserMixin,
    NLMeansDenoiser,
    VarianceStabilizedDenoiser,
    WaveletDenoiser,
)
from sklearn_denoise._tiling import UnknownContractError, contract_of
from sklearn_denoise._vst import _restabilize, stabilize, unstabilize
from sklearn_denoise.metrics import psnr
from sklearn_denoise.noise import NoiseModel, poisson_gaussian

BLACK = 100.0


def _model(read, gain=1.0):
    return NoiseModel(gain=gain, read_noise=read, black_level=BLACK)


def _draws(level, read, gain=1.0, n=200_000, seed=0):
    return poisson_gaussian(np.full(n, float(level)), gain=gain, read_sigma=read,
                            black_level=BLACK, random_state=seed)


def _psnr(truth, image, peak):
    err = np.asarray(image, dtype=np.float64) - truth
    return 10 * np.log10(peak**2 / np.mean(err**2))


def _cells(n=256, seed=0):
    """Fluorescence-like scene: smooth bright blobs on a background that gets no light."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[:n, :n]
    img = np.zeros((n, n))
    for _ in range(25):
        cy, cx = rng.uniform(0, n, 2)
        radius, amp = rng.uniform(6, 18) * n / 256, rng.uniform(0.3, 1)
        img += amp * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2))
    return np.clip(img / img.max() * 1.05 - 0.05, 0, 1)


def _camera():
    img = gaussian_filter(data.camera() / 255.0, 1.0)
    lo, hi = np.percentile(img, (2, 99.5))
    return np.clip((img - lo) / (hi - lo), 0, 1)


def _counts(clean, peak, read=2.0, seed=0):
    raw = poisson_gaussian(peak * clean, gain=1, read_sigma=read, black_level=BLACK,
                           random_state=seed)
    return np.clip(np.rint(raw), 0, 65535).astype(np.uint16)


# ----------------------------------------------------------------------------- transform


@pytest.mark.parametrize("peak", [5, 30, 100, 1000])
@pytest.mark.parametrize("fraction", [0.1, 0.5, 1.0])
def test_stabilized_noise_has_unit_std(peak, fraction):
    """With read noise 2, every level of an image of peak 5..1000 photo-electrons."""
    level = fraction * peak
    std = stabilize(_draws(level, 2.0), _model(2.0)).std()
    assert std == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("level", [3, 10, 100, 1000])
@pytest.mark.parametrize("read, gain", [(0.0, 1.0), (5.0, 1.0), (8.0, 4.0)])
def test_stabilized_noise_has_unit_std_for_other_models(level, read, gain):
    std = stabilize(_draws(level * gain, read, gain=gain), _model(read, gain)).std()
    assert std == pytest.approx(1.0, abs=0.1)


def test_pure_poisson_below_a_few_photons_is_not_stabilized():
    """The known limit of the Anscombe family: under-dispersed at about one photon."""
    assert stabilize(_draws(1.0, 0.0), _model(0.0)).std() < 0.9


@pytest.mark.parametrize("read", [0.0, 2.0])
@pytest.mark.parametrize("level", [0.5, 1, 2, 5, 10, 30])
def test_unbiased_inverse(level, read):
    """An ideal denoiser returns the expected stabilised value; the exact unbiased inverse
    maps it back to the true level, the algebraic inverse does not at low counts.

    (Inverting each noisy draw and then averaging would test something else: the inverse of
    a single draw is not meant to be unbiased.)
    """
    model = _model(read)
    expected = stabilize(_draws(level, read, n=400_000), model).mean()
    unbiased = unstabilize(expected, model) - BLACK
    algebraic = max((expected / 2) ** 2 - 3 / 8 - read**2, 0.0)
    assert abs(unbiased - level) < 0.06
    assert abs(algebraic - level) > 0.1
    assert abs(unbiased - level) < 0.25 * abs(algebraic - level)


def test_restabilize_inverts_unstabilize_and_predicts_the_mean():
    model = _model(2.0)
    z = BLACK + np.array([0.0, 0.5, 3.0, 40.0, 2000.0])
    np.testing.assert_allclose(unstabilize(_restabilize(z, model), model), z, rtol=1e-9)
    for level in (0.5, 5.0, 50.0):
        expected = stabilize(_draws(level, 2.0, n=400_000), model).mean()
        assert _restabilize(BLACK + level, model) == pytest.approx(expected, abs=0.02)


def test_transform_does_not_depend_on_units():
    """Counts with a counts model, or [0, 1] values with the model mapped alike."""
    z = _draws(20.0, 2.0, n=1000)
    model = _model(2.0)
    np.testing.assert_allclose(stabilize(z / 65535, model.scaled(0.0, 65535.0)),
                               stabilize(z, model), rtol=1e-9)
    d = stabilize(z, model)
    np.testing.assert_allclose(unstabilize(d, model.scaled(0.0, 65535.0)) * 65535,
                               unstabilize(d, model), rtol=1e-9)


def test_gaussian_model_is_affine():
    model = NoiseModel(gain=0.0, read_noise=4.0, black_level=10.0)
    z = np.array([2.0, 10.0, 30.0])
    np.testing.assert_allclose(stabilize(z, model), [-2.0, 0.0, 5.0])
    np.testing.assert_allclose(unstabilize(stabilize(z, model), model), z)


def test_transform_shapes_and_errors():
    model = _model(2.0)
    z = np.full((2, 3, 4), 150, np.uint16)
    assert stabilize(z, model).shape == (2, 3, 4) and stabilize(z, model).dtype == np.float64
    assert np.ndim(unstabilize(5.0, model)) == 0
    assert np.all(unstabilize(np.array([-3.0, 0.0, 1.0]), model) == BLACK)  # never below
    with pytest.raises(TypeError, match="NoiseModel"):
        stabilize(z, (1.0, 2.0, 100.0))
    with pytest.raises(ValueError, match="no noise"):
        unstabilize(z, NoiseModel(gain=0, read_noise=0))


# ----------------------------------------------------------------------------- estimator


def test_uint16_counts_in_uint16_counts_out():
    clean = _cells(128)
    X = np.stack([_counts(clean, 100, seed=s) for s in range(2)])
    out = VarianceStabilizedDenoiser().fit(X).transform(X)
    assert out.dtype == np.uint16 and out.shape == X.shape
    assert abs(out.mean() - X.mean()) < 1.0  # same scale: counts, not fractions of 65535
    truth = BLACK + 100 * clean
    assert np.abs(out - truth).mean() < 0.5 * np.abs(X - truth).mean()


@pytest.mark.parametrize(
    "scene, peak, margin",
    [("cells", 300, 2.0), ("cells", 1000, 1.5), ("camera", 100, 1.0)],
)
def test_beats_plain_wavelet_on_sensor_counts(scene, peak, margin):
    clean = _cells() if scene == "cells" else _camera()
    X = np.stack([_counts(clean, peak, seed=s) for s in range(2)])
    truth = BLACK + peak * clean
    plain = WaveletDenoiser(noise_model="gaussian").fit(X).transform(X)
    stabilized = VarianceStabilizedDenoiser().fit(X).transform(X)
    gain_db = np.mean([_psnr(truth, s, peak) - _psnr(truth, p, peak)
                       for s, p in zip(stabilized, plain)])
    assert gain_db > margin
    # the default noise_model="auto" sees the sensor noise and stabilises it itself
    default = WaveletDenoiser().fit(X).transform(X)
    auto_db = np.mean([_psnr(truth, d, peak) - _psnr(truth, p, peak)
                       for d, p in zip(default, plain)])
    assert auto_db > margin


def test_known_and_estimated_models_agree():
    clean = _cells(128)
    X = np.stack([_counts(clean, 300, seed=s) for s in range(2)])
    truth = BLACK + 300 * clean
    known = VarianceStabilizedDenoiser(gain=1, read_noise=2, black_level=BLACK).fit(X)
    estimated = VarianceStabilizedDenoiser().fit(X)
    for models in estimated.noise_models_:
        (model,) = models
        assert model.gain == pytest.approx(1.0, rel=0.25)
        assert model.black_level == pytest.approx(BLACK, abs=2)
    assert known.noise_models_ == [(NoiseModel(1.0, 2.0, BLACK),)] * 2
    a, b = known.transform(X), estimated.transform(X)
    assert abs(_psnr(truth, a[0], 300) - _psnr(truth, b[0], 300)) < 0.3


def test_partially_known_model():
    X = _counts(_cells(128), 300)[None]
    estimated = VarianceStabilizedDenoiser().fit(X).noise_models_[0][0]
    # the black level given: the read noise is the estimated noise at that level, the
    # variance line stays the estimated one
    black = estimated.black_level + 5
    den = VarianceStabilizedDenoiser(black_level=black).fit(X)
    (model,) = den.noise_models_[0]
    assert model.black_level == black and model.gain == estimated.gain
    levels = np.array([black, 200.0, 400.0])
    np.testing.assert_allclose(model.variance(levels), estimated.variance(levels))
    den = VarianceStabilizedDenoiser(gain=1.1, read_noise=2.5).fit(X)
    assert den.noise_models_[0][0] == NoiseModel(1.1, 2.5, estimated.black_level)


def test_float_data_use_their_own_units():
    """On [0, 1] floats the parameters are in [0, 1] units: gain = 1 / peak."""
    clean = _cells(128)
    X = np.stack([poisson_gaussian(clean, gain=1 / 200, read_sigma=0.01, random_state=s)
                  for s in range(2)])
    known = VarianceStabilizedDenoiser(gain=1 / 200, read_noise=0.01, black_level=0.0)
    out = known.fit(X).transform(X)
    assert out.dtype == np.float64
    assert _psnr(clean, out, 1.0) > _psnr(clean, X, 1.0) + 2
    estimated = VarianceStabilizedDenoiser().fit(X).noise_models_[0][0]
    assert estimated.gain == pytest.approx(1 / 200, rel=0.25)
    out32 = known.fit(X.astype(np.float32)).transform(X.astype(np.float32))
    assert out32.dtype == np.float32


class _Recorder(TransformerMixin, BaseEstimator):
    """Identity 'denoiser' that records what it is given."""

    def __init__(self, sigma=None):
        self.sigma = sigma

    def fit(self, X, y=None):
        self.fit_X_, self.fit_y_ = X, y
        return self

    def transform(self, X):
        self.seen_sigma_ = self.sigma
        self.seen_X_ = X
        return X


def test_wrapped_denoiser_gets_the_stabilized_noise_level():
    X = _counts(_cells(64), 100)[None]
    den = VarianceStabilizedDenoiser(_Recorder(), gain=1, read_noise=2, black_level=BLACK)
    den.fit(X)
    stabilized = stabilize(X[0], _model(2.0))
    low, high = np.percentile(stabilized, (0.1, 99.9))
    unit = (stabilized - low) / (high - low)
    np.testing.assert_allclose(den.denoiser_.fit_X_[0], unit, atol=1e-9)
    assert den.denoiser_.fit_y_ is None
    # the wrapped estimator is not modified: transform uses a copy with sigma set
    sigmas = []
    original = _Recorder.transform

    def spy(self, X):
        sigmas.append(self.sigma)
        return original(self, X)

    _Recorder.transform = spy
    try:
        den.transform(X)
        den.set_params(denoiser__sigma=1.5).fit(X).transform(X)
    finally:
        _Recorder.transform = original
    assert sigmas[0] == pytest.approx(1 / (high - low))
    assert sigmas[1] == pytest.approx(1.5 / (high - low))  # a set sigma is in stabilised units
    assert den.denoiser_.sigma == 1.5
    # identity denoiser: the result is the unbiased inverse of the noisy stabilised image
    out = VarianceStabilizedDenoiser(_Recorder(), gain=1, read_noise=2,
                                     black_level=BLACK).fit(X).transform(X.astype(float))
    np.testing.assert_allclose(out[0], unstabilize(stabilized, _model(2.0)), atol=1e-6)


def test_clean_targets_are_stabilized_to_their_expected_value():
    clean = _cells(64)
    X = np.stack([_counts(clean, 100, seed=s) for s in range(2)])
    y = np.stack([np.rint(BLACK + 100 * clean).astype(np.uint16)] * 2)
    den = VarianceStabilizedDenoiser(_Recorder(), gain=1, read_noise=2, black_level=BLACK)
    den.fit(X, y)
    target = den.denoiser_.fit_y_
    assert target.shape == X.shape
    for i in range(2):
        stabilized = stabilize(X[i], _model(2.0))
        low, high = np.percentile(stabilized, (0.1, 99.9))
        back = unstabilize(target[i] * (high - low) + low, _model(2.0))
        np.testing.assert_allclose(back, y[i], atol=1e-6)
    # labels are passed on unchanged
    labels = np.array([0, 1])
    assert den.fit(X, labels).denoiser_.fit_y_ is labels


def test_params_clone_and_grid_search():
    den = VarianceStabilizedDenoiser(WaveletDenoiser(), gain=1.0)
    params = den.get_params(deep=True)
    assert {"denoiser", "gain", "read_noise", "black_level", "denoiser__wavelet",
            "denoiser__sigma"} <= set(params)
    den.set_params(denoiser__wavelet="db2", read_noise=2.0)
    assert den.denoiser.wavelet == "db2" and den.read_noise == 2.0
    twin = clone(den)
    assert twin.get_params(deep=False)["gain"] == 1.0 and twin.denoiser is not den.denoiser
    assert twin.denoiser.wavelet == "db2"

    clean = _cells(64)
    X = np.stack([_counts(clean, 200, seed=s) for s in range(4)])
    y = np.stack([BLACK + 200 * clean] * 4).astype(np.float32)
    search = GridSearchCV(
        VarianceStabilizedDenoiser(WaveletDenoiser()),
        {"denoiser__wavelet": ["db1", "db2"], "denoiser__method": ["BayesShrink",
                                                                   "VisuShrink"]},
        cv=2,
    )
    search.fit(X.astype(np.float32), y)
    assert search.best_params_["denoiser__wavelet"] in ("db1", "db2")
    assert search.best_score_ > psnr(y, X.astype(np.float32))  # above the noisy images'


def test_fit_clones_the_wrapped_denoiser():
    X = _counts(_cells(64), 100)[None]
    inner = WaveletDenoiser()
    den = VarianceStabilizedDenoiser(inner).fit(X)
    assert den.denoiser_ is not inner and not hasattr(inner, "n_channels_in_")
    assert den.denoiser is inner


def test_frozen_pretrained_cnn_is_kept_as_it_is():
    """FrozenEstimator's clone is the fitted estimator itself, and its fit does nothing:
    this is how to wrap CNNDenoiser.pretrained() without retraining it."""
    cnn = CNNDenoiser.pretrained("gray")
    frozen = FrozenEstimator(cnn)
    assert clone(frozen) is frozen
    weights = {k: v.clone() for k, v in cnn.net_.module_.state_dict().items()}
    clean = _camera()[128:320, 128:320]
    X = _counts(clean, 100)[None]
    den = VarianceStabilizedDenoiser(frozen).fit(X)
    assert den.denoiser_ is frozen
    for key, value in cnn.net_.module_.state_dict().items():
        assert (value == weights[key]).all()
    out = den.transform(X)
    assert cnn.sigma is None  # the noise level went to a copy
    truth = BLACK + 100 * clean
    assert _psnr(truth, out[0], 100) > _psnr(truth, X[0], 100) + 8


def test_layouts():
    clean = _cells(128)
    known = dict(gain=1, read_noise=2, black_level=BLACK)
    rgb = np.stack([_counts(clean, peak, seed=i) for i, peak in enumerate((50, 100, 200))],
                   axis=-1)[None]
    den = VarianceStabilizedDenoiser().fit(rgb)
    assert den.n_channels_in_ == 3 and len(den.noise_models_[0]) == 3
    gains = [m.gain for m in den.noise_models_[0]]
    np.testing.assert_allclose(gains, 1.0, rtol=0.3)
    assert den.transform(rgb).shape == rgb.shape
    images = [_counts(clean, 100), _counts(clean[:48, :56], 100)]
    out = VarianceStabilizedDenoiser(**known).fit(images).transform(images)
    assert isinstance(out, list) and [o.shape for o in out] == [(128, 128), (48, 56)]
    assert out[0].dtype == np.uint16
    flat = np.stack([_counts(clean, 100, seed=s) for s in range(2)]).reshape(2, -1)
    den = VarianceStabilizedDenoiser(WaveletDenoiser(image_shape=(128, 128))).fit(flat)
    assert den.image_shape == (128, 128) and den.transform(flat).shape == flat.shape
    assert len(den.noise_models_) == 2


def test_score_is_psnr_against_clean_images():
    clean = _cells(64)
    X = np.stack([_counts(clean, 300, seed=s) for s in range(2)]).astype(np.float64)
    y = np.stack([BLACK + 300 * clean] * 2)
    den = VarianceStabilizedDenoiser(gain=1, read_noise=2, black_level=BLACK).fit(X)
    assert den.score(X, y) == pytest.approx(psnr(y, den.transform(X)))
    assert den.score(X, y) > psnr(y, X)


@pytest.mark.parametrize(
    "params, error, match",
    [
        (dict(gain=-1), ValueError, "gain must be >= 0"),
        (dict(read_noise=-0.5), ValueError, "read_noise must be >= 0"),
        (dict(black_level=np.nan), ValueError, "black_level must be finite"),
        (dict(gain="1"), TypeError, "gain"),
        (dict(gain=0, read_noise=0), ValueError, "noise-free"),
        (dict(denoiser="wavelet"), TypeError, "denoiser"),
        # issue 29: an OverflowError from the transform's gain**2
        (dict(gain=1e300, read_noise=1.0, black_level=0.0), ValueError,
         r"gain must be in \[0, 1e\+150\], got 1e\+300"),
        (dict(gain=1e300), ValueError, r"gain must be in \[0, 1e\+150\]"),
        (dict(read_noise=1e200), ValueError, r"read_noise must be in \[0, 1e\+150\]"),
    ],
)
def test_parameter_errors(params, error, match):
    X = _counts(_cells(64), 100)[None]
    with pytest.raises(error, match=match):
        VarianceStabilizedDenoiser(**params).fit(X).transform(X)


def test_noise_model_squares_stay_finite():
    from sklearn_denoise.noise import NoiseModel

    with pytest.raises(ValueError, match=r"gain must be <= 1e\+150 \(its square"):
        NoiseModel(gain=1e300, read_noise=1.0)
    with pytest.raises(ValueError, match=r"read_noise must be <= 1e\+150"):
        NoiseModel(gain=1.0, read_noise=1e160)


def test_data_errors():
    X = _counts(_cells(64), 100)[None]
    with pytest.raises(ValueError, match="black_level=5000.0 is above the 99th percentile"):
        VarianceStabilizedDenoiser(gain=1, read_noise=2, black_level=5000.0).fit(X)
    with pytest.raises(ValueError, match="Pass gain, read_noise and black_level"):
        VarianceStabilizedDenoiser().fit(X[:, :20, :20])
    den = VarianceStabilizedDenoiser().fit(X)
    with pytest.raises(ValueError, match="constant"):
        den.transform(np.full_like(X, 300))


# ----------------------------------------------------------------------------- common checks

_TINY_SIGNALS = ("estimates the noise model of each image, which needs about 36x36 pixels; "
                 "the checks fit 2-D X, i.e. a few short 1-D signals")
# Every check that needs a successful fit on that data (the same list as BM3D's in
# test_common.py, for the same reason).
_ESTIMATION_FAILING = [
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimators_dtypes",
    "check_estimators_fit_returns_self",
    "check_estimators_nan_inf",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_estimators_pickle(readonly_memmap=True)",
    "check_f_contiguous_array_estimator",
    "check_fit2d_1feature",
    "check_fit2d_1sample",
    "check_fit2d_predict1d",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_n_features_in_after_fitting",
    "check_pipeline_consistency",
    "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformer_general(readonly_memmap=True)",
    "check_transformer_preserve_dtypes",
]


def _expected_failed_checks(estimator):
    if estimator.gain is None:
        return dict.fromkeys(_ESTIMATION_FAILING, _TINY_SIGNALS)
    return {}


@parametrize_with_checks(
    [
        VarianceStabilizedDenoiser(),
        # a known model (the checks' data are small floats around 0) passes every check
        VarianceStabilizedDenoiser(gain=0.01, read_noise=0.1, black_level=-10.0),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_wrapped_sigma_above_one_in_stabilised_units_fits():
    # regression: fit used to check sigma=1.2 against the mapped [0, 1] images
    from sklearn_denoise import VarianceStabilizedDenoiser, WaveletDenoiser
    from sklearn_denoise.noise import poisson_gaussian

    clean = np.tile(np.linspace(0, 1, 48), (48, 1))
    counts = np.rint(poisson_gaussian(30 * clean, gain=1, read_sigma=2, black_level=100,
                                      random_state=0)).astype(np.uint16)[None]
    den = VarianceStabilizedDenoiser(WaveletDenoiser(sigma=1.2)).fit(counts)
    assert den.denoiser_.get_params()["sigma"] == 1.2
    assert den.transform(counts).shape == counts.shape


# --------------------------------------------------------------------------- spatial contract


def test_spatial_contract_is_the_wrapped_denoisers():
    counts = _counts(_cells(64), peak=20)[None]
    known = {"gain": 1.0, "read_noise": 2.0, "black_level": BLACK}
    nlm = VarianceStabilizedDenoiser(NLMeansDenoiser(patch_size=3, patch_distance=4), **known)
    assert nlm.spatial_contract() == (5, 1, 1, True)  # before fit: the template's
    assert nlm.fit(counts).spatial_contract() == nlm.denoiser_.spatial_contract()
    # the default WaveletDenoiser has levels=None: its contract needs the image size
    default = VarianceStabilizedDenoiser(**known)
    with pytest.raises(ValueError, match="image_shape"):
        default.spatial_contract()
    assert default.spatial_contract(image_shape=(512, 512)) == (64, 64, 64, True)
    wavelet = WaveletDenoiser(wavelet="db2", levels=2)
    assert VarianceStabilizedDenoiser(wavelet).spatial_contract() == (12, 4, 12, True)
    # a frozen fitted denoiser answers through FrozenEstimator
    frozen = VarianceStabilizedDenoiser(FrozenEstimator(NLMeansDenoiser().fit(counts)),
                                        **known)
    assert frozen.fit(counts).spatial_contract() == (8, 1, 1, True)


def test_spatial_contract_of_a_wrapped_denoiser_without_one_is_unknown():
    class Identity(DenoiserMixin, TransformerMixin, BaseEstimator):
        def fit(self, X, y=None):
            return self

        def transform(self, X):
            return X

    den = VarianceStabilizedDenoiser(Identity())
    with pytest.raises(UnknownContractError, match="does not report a spatial contract"):
        den.spatial_contract()
    with pytest.raises(TypeError, match="spatial_contract"):
        contract_of(den)


def test_for_image_shape_pins_the_wrapped_wavelet_levels():
    counts = _counts(_cells(64), peak=20)[None]
    den = VarianceStabilizedDenoiser(gain=1.0, read_noise=2.0, black_level=BLACK).fit(counts)
    pinned = den.for_image_shape((192, 192))
    assert pinned is not den and pinned.denoiser_.levels == 4
    assert den.denoiser_.levels is None  # the original is left alone
    assert pinned.noise_models_ is den.noise_models_
    # 64x64 images: 6 - 3 = 3 levels, as transform picks them
    np.testing.assert_array_equal(den.for_image_shape((64, 64)).transform(counts),
                                  den.transform(counts))
    nlm = VarianceStabilizedDenoiser(NLMeansDenoiser(), gain=1.0, read_noise=2.0,
                                     black_level=BLACK)
    assert nlm.for_image_shape((192, 192)) is nlm  # not fitted
    assert nlm.fit(counts).for_image_shape((192, 192)) is nlm


def test_for_image_fixes_the_model_the_map_and_the_wrapped_denoisers_choices():
    """Issue #28: a tile (or dask chunk) transformed by the denoiser for_image returns
    gets the whole image's noise model, stabilised map and wrapped-denoiser decisions."""
    counts = _counts(_cells(128), peak=20)
    den = VarianceStabilizedDenoiser().fit(counts[None])
    whole = den.transform(counts[None])[0]
    decided = den.for_image(counts)
    np.testing.assert_array_equal(decided.transform(counts[None])[0], whole)
    models, unit, inner = decided.decision_
    assert abs(models[0].black_level - BLACK) < 5 and unit.scale >= 1
    assert inner.decision_ is not None  # the wavelet's thresholds on the whole image
    m = den.spatial_contract(image_shape=counts.shape).margin
    tile = decided.transform(counts[None, :64 + m, :64 + m])[0][:64, :64]
    np.testing.assert_array_equal(tile, whole[:64, :64])
    # the tile alone estimates its own model: a different result
    alone = den.transform(counts[None, :64 + m, :64 + m])[0][:64, :64]
    assert np.abs(alone.astype(float) - whole[:64, :64]).max() > 0
    with pytest.raises(ValueError, match="for_image takes one image"):
        den.for_image(np.stack([counts, counts]))


def test_volumes_of_counts_are_stabilised_with_one_model_per_stack():
    rng = np.random.RandomState(0)
    truth = 100 + 30 * gaussian_filter(rng.rand(48, 48), 2) / 0.6
    truth = np.repeat(truth[None, None], 7, axis=1)
    counts = np.rint(poisson_gaussian(truth - 100, gain=1.0, read_sigma=2.0,
                                      black_level=100, random_state=0)).astype(np.uint16)
    joint_est = VarianceStabilizedDenoiser(WaveletDenoiser(axes="ZYX")).fit(counts)
    assert joint_est.axes == "ZYX" and len(joint_est.noise_models_) == 1
    joint = joint_est.transform(counts)
    planes = counts.reshape(-1, 48, 48)
    flat = VarianceStabilizedDenoiser(WaveletDenoiser()).fit(planes).transform(planes)
    assert joint.dtype == np.uint16 and joint.shape == counts.shape
    assert _psnr(truth, joint, 30) > _psnr(truth, flat.reshape(counts.shape), 30) + 1
    np.testing.assert_array_equal(joint_est.for_image(counts).transform(counts), joint)
