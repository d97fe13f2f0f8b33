"""End-to-end workflows: self-supervised tuning without clean images, denoise-then-classify."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from sklearn_denoise import TVDenoiser, WaveletDenoiser
from sklearn_denoise.datasets import load_sample_images
from sklearn_denoise.metrics import j_invariant_scorer, psnr_scorer
from sklearn_denoise.noise import gaussian


@pytest.fixture(scope="module")
def clean():
    """The six grayscale sample photos, centre-cropped to 96x96, float32 in [0, 1]."""
    return load_sample_images(size=96).astype(np.float32) / 255


def _grid(estimator, sigma):
    if isinstance(estimator, TVDenoiser):
        return {"weight": [0.01, 0.02, 0.04, 0.08, 0.16, 0.32]}
    # a sigma scale around the true noise level
    return {"sigma": [sigma * f for f in (0.25, 0.5, 1.0, 2.0, 4.0)]}


@pytest.mark.parametrize(
    ("estimator", "sigma"),
    [
        (TVDenoiser(), 0.05),
        (TVDenoiser(), 0.1),
        (TVDenoiser(), 0.2),
        (WaveletDenoiser(wavelet="db2"), 0.05),
        (WaveletDenoiser(wavelet="db2"), 0.1),
        (WaveletDenoiser(wavelet="db2"), 0.2),
    ],
    ids=["tv-0.05", "tv-0.1", "tv-0.2", "wavelet-0.05", "wavelet-0.1", "wavelet-0.2"],
)
def test_j_invariant_scorer_picks_what_psnr_on_clean_images_picks(clean, estimator, sigma):
    noisy = gaussian(clean, sigma, random_state=0).astype(np.float32)
    grid = _grid(estimator, sigma)
    blind = GridSearchCV(estimator, grid, scoring=j_invariant_scorer, cv=3, error_score="raise")
    blind.fit(noisy)  # no clean images anywhere
    oracle = GridSearchCV(estimator, grid, scoring=psnr_scorer, cv=3, error_score="raise")
    oracle.fit(noisy, clean)
    assert abs(blind.best_index_ - oracle.best_index_) <= 1, (
        blind.cv_results_["mean_test_score"], oracle.cv_results_["mean_test_score"]
    )
    # and the parameters it picks denoise nearly as well as the oracle's
    picked = oracle.cv_results_["mean_test_score"][blind.best_index_]
    assert picked > oracle.best_score_ - 1.0


def test_default_score_without_y_is_the_self_supervised_one(clean):
    # scoring=None uses DenoiserMixin.score, which falls back to -j_invariant_loss
    noisy = gaussian(clean, 0.1, random_state=0).astype(np.float32)
    grid = {"weight": [0.01, 0.08, 0.32]}
    default = GridSearchCV(TVDenoiser(), grid, cv=3, error_score="raise").fit(noisy)
    explicit = GridSearchCV(TVDenoiser(), grid, scoring=j_invariant_scorer, cv=3).fit(noisy)
    np.testing.assert_allclose(default.cv_results_["mean_test_score"],
                               explicit.cv_results_["mean_test_score"])
    assert default.best_params_ == {"weight": 0.08}


@pytest.fixture(scope="module")
def noisy_digits():
    X, y = load_digits(return_X_y=True)
    X = X[:450] / 16.0  # [0, 1] intensities
    X_noisy = gaussian(X, 0.3, random_state=0)
    return X_noisy, y[:450]


def test_denoise_then_classify_grid_search_by_accuracy(noisy_digits):
    X, y = noisy_digits
    pipe = Pipeline([
        ("denoise", TVDenoiser(image_shape=(8, 8))),
        ("clf", SVC()),
    ])
    grid = {"denoise__weight": [0.03, 0.1, 0.3, 1.0]}
    search = GridSearchCV(pipe, grid, scoring="accuracy", cv=3, error_score="raise")
    search.fit(X, y)  # the denoiser gets the class labels as y and ignores them
    scores = search.cv_results_["mean_test_score"]
    assert search.best_params_["denoise__weight"] in (0.03, 0.1)
    assert search.best_score_ > 0.6  # ten classes: chance is 0.1
    assert scores[-1] < search.best_score_ - 0.1  # over-smoothing erases the digits
    # the refitted pipeline denoises then classifies new flattened 8x8 images
    assert search.predict(X[:5]).shape == (5,)
    denoised = search.best_estimator_[:-1].transform(X[:5])
    assert denoised.shape == (5, 64)


def test_denoiser_choice_is_a_grid_parameter_of_the_pipeline(noisy_digits):
    X, y = noisy_digits
    pipe = Pipeline([("denoise", "passthrough"), ("clf", SVC())])
    grid = {
        "denoise": [
            "passthrough",
            TVDenoiser(weight=0.05, image_shape=(8, 8)),
            WaveletDenoiser(image_shape=(8, 8), sigma=0.3, method="VisuShrink"),
        ]
    }
    search = GridSearchCV(pipe, grid, scoring="accuracy", cv=3, error_score="raise")
    search.fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and np.all(scores > 0.3)
    assert search.best_score_ == scores.max()
