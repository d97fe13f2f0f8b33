"""Constraints tables and tags: every estimator declares its parameters once and what it
accepts.

Each estimator's ``_parameter_constraints`` lists every ``__init__`` parameter; ``fit``
validates the whole table (an error names the parameter), ``transform`` re-checks only the
parameters inference reads.
"""

import importlib.util
import inspect
import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import get_tags

import sklearn_denoise
from sklearn_denoise import (
    BilateralDenoiser,
    BM3DDenoiser,
    CNNDenoiser,
    DenoiserMixin,
    MultibandDenoiser,
    NLMeansDenoiser,
    TVDenoiser,
    VarianceStabilizedDenoiser,
    WaveletDenoiser,
)
from sklearn_denoise._cnn import _INFERENCE_PARAMS as CNN_INFERENCE_PARAMS
from sklearn_denoise._param_checks import check_axes, validate_params
from sklearn_denoise._vst import _INFERENCE_PARAMS as VST_INFERENCE_PARAMS

HAVE_BM3D = importlib.util.find_spec("bm3d") is not None

# every estimator class the package exports
PUBLIC_ESTIMATORS = [
    obj for name in sklearn_denoise.__all__
    if isinstance(obj := getattr(sklearn_denoise, name), type) and issubclass(obj, BaseEstimator)
]
ESTIMATOR_CLASSES = list(PUBLIC_ESTIMATORS)


def _init_params(cls):
    return {name for name in inspect.signature(cls.__init__).parameters if name != "self"}


def _inference_params(cls):
    if cls is CNNDenoiser:
        return CNN_INFERENCE_PARAMS
    if cls is VarianceStabilizedDenoiser:
        return VST_INFERENCE_PARAMS
    return cls._inference_params


def test_every_public_estimator_is_covered():
    assert set(PUBLIC_ESTIMATORS) == {
        BilateralDenoiser, BM3DDenoiser, CNNDenoiser, MultibandDenoiser, NLMeansDenoiser,
        TVDenoiser, VarianceStabilizedDenoiser, WaveletDenoiser,
    }


@pytest.mark.parametrize("cls", ESTIMATOR_CLASSES, ids=lambda c: c.__name__)
def test_constraints_table_lists_exactly_the_init_parameters(cls):
    assert set(cls._parameter_constraints) == _init_params(cls)
    # what transform re-checks is part of the table
    assert set(_inference_params(cls)) <= set(cls._parameter_constraints)
    validate_params(cls())  # the defaults pass


@pytest.fixture(scope="module")
def images():
    return np.random.RandomState(0).uniform(size=(2, 16, 16))


@pytest.fixture(scope="module")
def counts():
    """Poisson counts on a black level of 100 (for VarianceStabilizedDenoiser)."""
    return 100.0 + np.random.RandomState(0).poisson(50, size=(1, 32, 32))


_KNOWN_MODEL = {"gain": 1.0, "read_noise": 1.0, "black_level": 100.0}


@pytest.mark.parametrize(
    "cls, name, value, error",
    [
        (TVDenoiser, "weight", -1.0, ValueError),
        (TVDenoiser, "max_num_iter", 1.5, TypeError),
        (TVDenoiser, "normalize", "always", ValueError),
        (TVDenoiser, "n_jobs", 0, ValueError),
        (NLMeansDenoiser, "patch_size", 0, ValueError),
        (NLMeansDenoiser, "h", -1.0, ValueError),
        (NLMeansDenoiser, "sigma", -0.1, ValueError),
        (NLMeansDenoiser, "fast_mode", "yes", TypeError),
        (BilateralDenoiser, "mode", "mirror", ValueError),
        (BilateralDenoiser, "bins", 0, ValueError),
        (BilateralDenoiser, "win_size", 2.5, TypeError),
        (BilateralDenoiser, "cval", np.inf, ValueError),
        (BM3DDenoiser, "profile", "fast", ValueError),
        (BM3DDenoiser, "stage", "wiener", ValueError),
        (BM3DDenoiser, "tile_size", 8, ValueError),
        (BM3DDenoiser, "sigma", "0.1", TypeError),
        (WaveletDenoiser, "wavelet", "db99", ValueError),
        (WaveletDenoiser, "levels", 0, ValueError),
        (WaveletDenoiser, "cycle_spins", 64, ValueError),
        (WaveletDenoiser, "convert2ycbcr", 1, TypeError),
        (CNNDenoiser, "architecture", "resnet", ValueError),
        (CNNDenoiser, "lr", 0.0, ValueError),
        (CNNDenoiser, "mask_ratio", 1.0, ValueError),
        (CNNDenoiser, "device", "tpu", ValueError),
        (VarianceStabilizedDenoiser, "gain", -1.0, ValueError),
        (VarianceStabilizedDenoiser, "read_noise", "2", TypeError),
        (VarianceStabilizedDenoiser, "black_level", np.inf, ValueError),
        (VarianceStabilizedDenoiser, "denoiser", "wavelet", TypeError),
        (TVDenoiser, "sigma", -0.1, ValueError),
        (TVDenoiser, "noise_model", "poisson", ValueError),
        (BilateralDenoiser, "sigma", 2.0, ValueError),
        (WaveletDenoiser, "noise_model", 1, ValueError),
        (WaveletDenoiser, "axes", "ZYXQ", ValueError),
        (TVDenoiser, "axes", "YXZ", ValueError),
        (NLMeansDenoiser, "axes", 3, TypeError),
        (BilateralDenoiser, "axes", "ZYX", ValueError),
        (BM3DDenoiser, "axes", "TXY", ValueError),
        (CNNDenoiser, "axes", "ZYX", ValueError),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else repr(v),
)
def test_fit_rejects_a_bad_value_naming_the_parameter(images, cls, name, value, error):
    if cls is BM3DDenoiser and not HAVE_BM3D:
        pytest.skip("optional package bm3d not installed (BM3DDenoiser.fit imports it)")
    with pytest.raises(error) as info:
        cls(**{name: value}).fit(images)
    assert name in str(info.value)


def test_the_sigma_scale_hint_is_kept(images):
    with pytest.raises(ValueError, match="25/255"):
        NLMeansDenoiser(sigma=25).fit(images)
    with pytest.raises(ValueError, match="25/255"):
        WaveletDenoiser(sigma=25).fit(images)
    den = NLMeansDenoiser().fit(images).set_params(sigma=25)
    with pytest.raises(ValueError, match="25/255"):
        den.transform(images)


def test_cross_parameter_rules_stay_in_fit(images, counts):
    with pytest.raises(ValueError, match="noise-free"):
        VarianceStabilizedDenoiser(gain=0, read_noise=0).fit(counts)
    with pytest.raises(ValueError, match="depth must be >= 2 for DnCNN"):
        CNNDenoiser("dncnn", depth=1).fit(images)


@pytest.mark.parametrize(
    "estimator, name, value",
    [
        (TVDenoiser(), "weight", 0.0),
        (NLMeansDenoiser(), "patch_distance", 0),
        (BilateralDenoiser(), "mode", "mirror"),
        (WaveletDenoiser(), "method", "SureShrink"),
        (TVDenoiser(), "noise_model", "median"),
        (VarianceStabilizedDenoiser(**_KNOWN_MODEL), "gain", -1.0),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseEstimator) else repr(v),
)
def test_transform_rechecks_what_inference_reads(images, counts, estimator, name, value):
    X = counts if isinstance(estimator, VarianceStabilizedDenoiser) else images
    estimator.fit(X).set_params(**{name: value})
    with pytest.raises(ValueError, match=name):
        estimator.transform(X)


def test_transform_rechecks_the_rules_it_depends_on(counts):
    den = VarianceStabilizedDenoiser(**_KNOWN_MODEL).fit(counts)
    with pytest.raises(ValueError, match="noise-free"):
        den.set_params(gain=0, read_noise=0).transform(counts)


def test_transform_does_not_rerun_the_whole_table(images, counts):
    # the wrapped template is read by fit only: transform runs the fitted denoiser_
    den = VarianceStabilizedDenoiser(**_KNOWN_MODEL).fit(counts)
    expected = den.transform(counts)
    den.set_params(denoiser="not a denoiser")
    np.testing.assert_array_equal(den.transform(counts), expected)
    # the non-orthogonal wavelet warning is given once, by fit
    with pytest.warns(UserWarning, match="orthogonal"):
        wavelet = WaveletDenoiser(wavelet="bior2.2").fit(images)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wavelet.transform(images)


# --------------------------------------------------------------------------------- tags


class _RandomDenoiser(DenoiserMixin, TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True
        return tags


@pytest.mark.parametrize(
    "estimator",
    [cls() for cls in ESTIMATOR_CLASSES]
    + [VarianceStabilizedDenoiser(CNNDenoiser()), VarianceStabilizedDenoiser(_RandomDenoiser())],
    ids=lambda e: type(e).__name__ + (f"({type(e.denoiser).__name__})"
                                      if getattr(e, "denoiser", None) is not None else ""),
)
def test_tags_say_what_the_estimators_accept(estimator):
    tags = get_tags(estimator)
    # X: (n, n_features) or (n, H, W) stacks (and (n, H, W, C), which no tag describes)
    assert tags.input_tags.two_d_array and tags.input_tags.three_d_array
    assert not tags.input_tags.one_d_array
    assert not tags.input_tags.sparse
    assert not tags.input_tags.allow_nan
    assert not tags.input_tags.positive_only
    assert not (tags.input_tags.categorical or tags.input_tags.string or tags.input_tags.dict)
    assert not tags.input_tags.pairwise
    # transform checks it was fitted; y (clean images or labels) is optional
    assert tags.requires_fit
    assert not tags.target_tags.required
    assert tags.estimator_type is None
    assert tags.transformer_tags.preserves_dtype == ["float64", "float32"]
    # deterministic for a fixed random_state, as the wrapped denoiser of a VST is
    wrapped = getattr(estimator, "denoiser", None)
    assert tags.non_deterministic is isinstance(wrapped, _RandomDenoiser)


@pytest.mark.parametrize("value, match", [
    ("ZYXQ", "unknown letter"),
    ("ZZYX", "repeats Z"),
    ("XY", "not supported"),
    ("ZTYX", "not supported"),
    ("CYX", "channels last"),
])
def test_check_axes_names_the_problem(value, match):
    with pytest.raises(ValueError, match=match):
        check_axes(value)


def test_check_axes_takes_lower_case_and_keeps_the_parameter_verbatim(images):
    assert check_axes("zyxc") == "ZYXC"
    est = WaveletDenoiser(axes="yx").fit(images)
    assert est.get_params()["axes"] == "yx"


@pytest.mark.parametrize("cls", [BilateralDenoiser])
def test_planes_only_denoisers_say_what_to_do_with_volumes(images, cls):
    with pytest.raises(ValueError, match=r"reshape\(-1, H, W\)"):
        cls(axes="ZYX").fit(images[np.newaxis])
