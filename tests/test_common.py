"""scikit-learn's common estimator checks over every public denoiser."""

import importlib.util

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_denoise import (
    BilateralDenoiser,
    BM3DDenoiser,
    CNNDenoiser,
    MultibandDenoiser,
    NLMeansDenoiser,
    TVDenoiser,
    WaveletDenoiser,
)

HAVE_BM3D = importlib.util.find_spec("bm3d") is not None

# One line adds an estimator.
ESTIMATORS = [
    WaveletDenoiser(),
    WaveletDenoiser(sigma=0.1, method="VisuShrink", mode="hard", cycle_spins=1),
    TVDenoiser(),
    NLMeansDenoiser(),
    BilateralDenoiser(),
    *([BM3DDenoiser()] if HAVE_BM3D else []),
    # small settings keep the checks quick; both architectures and both optional inputs
    CNNDenoiser(depth=2, width=16, blocks=1, max_epochs=1, patches_per_image=1, patch_size=8),
    CNNDenoiser("dncnn", depth=3, width=16, max_epochs=1, patches_per_image=1, patch_size=8,
                noise_level_input=True),
    MultibandDenoiser(WaveletDenoiser()),
]

# The common checks fit on 2-D X (n_samples, n_features), which the image convention reads
# as 1-D signals of a few samples; BM3D only works on 2-D images of at least 9x9 pixels and
# rejects them with a ValueError, so every check that needs a successful fit fails.
_BM3D_NO_SIGNALS = "BM3D needs 2-D images >= 9x9; the check fits 2-D X, i.e. short 1-D signals"
_BM3D_FAILING = [
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

# Checks expected to fail, by estimator class name: {check name: one-line reason}.
# MultibandDenoiser refuses one-band images (a ValueError saying so) in the same checks
_ONE_BAND = "MultibandDenoiser needs (n, H, W, B) images with B >= 2; the check fits 2-D X"
EXPECTED_FAILED_CHECKS = {
    "BM3DDenoiser": dict.fromkeys(_BM3D_FAILING, _BM3D_NO_SIGNALS),
    "MultibandDenoiser": dict.fromkeys(_BM3D_FAILING, _ONE_BAND),
}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.skipif(not HAVE_BM3D, reason="optional package bm3d not installed: "
                    "BM3DDenoiser left out of the common checks")
def test_bm3d_in_common_checks():
    assert any(isinstance(est, BM3DDenoiser) for est in ESTIMATORS)
