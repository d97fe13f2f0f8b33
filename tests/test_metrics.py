"""Batch metrics against scikit-image, and scorers in model selection."""

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from sklearn.model_selection import GridSearchCV, KFold, cross_validate

from sklearn_denoise import WaveletDenoiser
from sklearn_denoise.datasets import load_sample_images
from sklearn_denoise.metrics import (
    j_invariant_loss,
    j_invariant_scorer,
    make_denoising_scorer,
    psnr,
    psnr_scorer,
    ssim,
    ssim_scorer,
)
from sklearn_denoise.noise import gaussian


@pytest.fixture(scope="module")
def pair():
    rng = np.random.RandomState(0)
    clean = rng.rand(4, 20, 24)
    return clean, clean + rng.normal(0, 0.1, clean.shape)


@pytest.fixture(scope="module")
def color_pair():
    rng = np.random.RandomState(1)
    clean = rng.rand(3, 16, 16, 3)
    return clean, clean + rng.normal(0, 0.05, clean.shape)


def test_psnr_is_mean_of_skimage(pair, color_pair):
    for clean, noisy in (pair, color_pair):
        expected = np.mean(
            [peak_signal_noise_ratio(c, n, data_range=1.0) for c, n in zip(clean, noisy)]
        )
        assert psnr(clean, noisy) == pytest.approx(expected, rel=1e-12)
    clean, noisy = pair
    expected = np.mean(
        [peak_signal_noise_ratio(c, n, data_range=2.0) for c, n in zip(clean, noisy)]
    )
    assert psnr(clean, noisy, data_range=2.0) == pytest.approx(expected, rel=1e-12)


def test_psnr_known_value_and_identical():
    a = np.zeros((1, 4, 4))
    b = np.full((1, 4, 4), 0.1)
    assert psnr(a, b) == pytest.approx(20.0)
    assert psnr(a, a) == 100.0


def test_ssim_is_mean_of_skimage(pair, color_pair):
    clean, noisy = pair
    expected = np.mean([structural_similarity(c, n, data_range=1.0) for c, n in zip(clean, noisy)])
    assert ssim(clean, noisy) == pytest.approx(expected, rel=1e-12)
    clean, noisy = color_pair
    expected = np.mean(
        [structural_similarity(c, n, data_range=1.0, channel_axis=-1)
         for c, n in zip(clean, noisy)]
    )
    assert ssim(clean, noisy) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("size, win", [(5, 5), (6, 5), (4, 3), (3, 3)])
def test_ssim_small_images_use_largest_window(size, win):
    rng = np.random.RandomState(size)
    a, b = rng.rand(2, size, size), rng.rand(2, size, size)
    expected = np.mean([structural_similarity(x, y, data_range=1.0, win_size=win)
                        for x, y in zip(a, b)])
    assert ssim(a, b) == pytest.approx(expected, rel=1e-12)


def test_ssim_tiny_images_global_formula():
    rng = np.random.RandomState(0)
    a, b = rng.rand(1, 2, 2), rng.rand(1, 2, 2)
    t, p = a[0], b[0]
    c1, c2 = 0.01**2, 0.03**2
    cov = np.mean((t - t.mean()) * (p - p.mean()))
    expected = ((2 * t.mean() * p.mean() + c1) * (2 * cov + c2)) / (
        (t.mean() ** 2 + p.mean() ** 2 + c1) * (t.var() + p.var() + c2)
    )
    assert ssim(a, b) == pytest.approx(expected)
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(np.ones((3, 1, 9)), np.ones((3, 1, 9))) == pytest.approx(1.0)


def test_uint8_and_float_agree(pair):
    clean, noisy = pair
    c8 = (clean * 255).round().astype(np.uint8)
    n8 = (np.clip(noisy, 0, 1) * 255).round().astype(np.uint8)
    # integers are scaled in float32 before the float64 metric: equal to ~1e-8
    assert psnr(c8, n8) == pytest.approx(psnr(c8 / 255.0, n8 / 255.0), rel=1e-7)
    assert ssim(c8, n8) == pytest.approx(ssim(c8 / 255.0, n8 / 255.0), rel=1e-7)
    assert psnr(c8, n8 / 255.0) == pytest.approx(psnr(c8 / 255.0, n8 / 255.0), rel=1e-7)


def test_lists_of_different_sizes(pair):
    clean, noisy = pair
    true = [clean[0], clean[1, :10, :7]]
    pred = [noisy[0], noisy[1, :10, :7]]
    expected = np.mean([peak_signal_noise_ratio(t, p, data_range=1.0) for t, p in zip(true, pred)])
    assert psnr(true, pred) == pytest.approx(expected)
    assert 0 < ssim(true, pred) < 1


def test_flattened_and_signals(pair):
    clean, noisy = pair
    flat = psnr(clean.reshape(4, -1), noisy.reshape(4, -1))
    assert flat == pytest.approx(psnr(clean, noisy))


def test_metric_errors(pair):
    clean, noisy = pair
    with pytest.raises(ValueError, match="shape"):
        psnr(clean, noisy[:, :10])
    with pytest.raises(ValueError, match="4 images but y_pred has 3"):
        ssim(clean, noisy[:3])
    bad = noisy.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        psnr(clean, bad)
    with pytest.raises(ValueError, match="data_range"):
        psnr(clean, noisy, data_range=0)
    with pytest.raises(ValueError, match="batch of images"):
        psnr(np.zeros(5), np.zeros(5))
    with pytest.raises(TypeError, match="dtype"):
        psnr(clean.astype(bool), noisy.astype(bool))


@pytest.mark.parametrize("metric", [psnr, ssim])
def test_empty_batches_and_images_raise(metric):
    # the mean over no images was NaN
    with pytest.raises(ValueError, match="y_true is an empty batch"):
        metric(np.zeros((0, 8, 8)), np.zeros((0, 8, 8)))
    with pytest.raises(ValueError, match="y_true is an empty batch"):
        metric([], [])
    with pytest.raises(ValueError, match=r"y_true\[0\] is an empty image"):
        metric(np.zeros((2, 0, 8)), np.zeros((2, 0, 8)))
    with pytest.raises(ValueError, match=r"y_true\[0\] is an empty image"):
        metric([np.zeros((8, 0))], [np.zeros((8, 0))])


@pytest.mark.parametrize("metric", [psnr, ssim])
@pytest.mark.parametrize("data_range", [np.inf, -np.inf, np.nan, 0, -1.0, "1", True, [1.0]])
def test_data_range_must_be_finite_and_positive(pair, metric, data_range):
    # data_range=inf used to give a PSNR of inf
    clean, noisy = pair
    with pytest.raises(ValueError, match="data_range must be a finite positive number"):
        metric(clean, noisy, data_range=data_range)


def test_data_range_accepts_numpy_scalars(pair):
    clean, noisy = pair
    assert psnr(clean, noisy, data_range=np.float32(2)) == pytest.approx(
        psnr(clean, noisy, data_range=2.0)
    )
    assert psnr(clean, noisy, data_range=np.int64(2)) == pytest.approx(
        psnr(clean, noisy, data_range=2.0)
    )


# --- scorers -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def noisy_photos():
    clean = load_sample_images(size=48)
    return gaussian(clean, 0.1, random_state=0), clean


def test_scorers_in_cross_validate(noisy_photos):
    noisy, clean = noisy_photos
    cv = KFold(3)
    res = cross_validate(WaveletDenoiser(wavelet="db2"), noisy, clean, cv=cv,
                         scoring={"psnr": psnr_scorer, "ssim": ssim_scorer}, error_score="raise")
    for k, (_, test) in enumerate(cv.split(noisy)):
        est = WaveletDenoiser(wavelet="db2").fit(noisy[test])
        assert res["test_psnr"][k] == pytest.approx(psnr(clean[test], est.transform(noisy[test])))
        assert res["test_ssim"][k] == pytest.approx(ssim(clean[test], est.transform(noisy[test])))


def test_default_scoring_uses_score(noisy_photos):
    noisy, clean = noisy_photos
    res = cross_validate(WaveletDenoiser(), noisy, clean / 255.0, cv=KFold(2),
                         error_score="raise")
    res_psnr = cross_validate(WaveletDenoiser(), noisy, clean / 255.0, cv=KFold(2),
                              scoring=psnr_scorer, error_score="raise")
    np.testing.assert_allclose(res["test_score"], res_psnr["test_score"])


def test_multi_metric_grid_search(noisy_photos):
    noisy, clean = noisy_photos

    def mae(t, p):
        return float(np.mean(np.abs(np.asarray(t, float) / 255 - np.asarray(p, float))))

    scoring = {"psnr": psnr_scorer, "ssim": ssim_scorer,
               "mae": make_denoising_scorer(mae, greater_is_better=False)}
    search = GridSearchCV(WaveletDenoiser(), {"sigma": [0.01, 0.1]}, scoring=scoring,
                          refit="ssim", cv=KFold(2), error_score="raise").fit(noisy, clean)
    for name in scoring:
        assert np.all(np.isfinite(search.cv_results_[f"mean_test_{name}"]))
    assert np.all(search.cv_results_["mean_test_mae"] < 0)
    assert search.best_index_ == int(np.argmax(search.cv_results_["mean_test_ssim"]))
    assert search.best_params_ == {"sigma": 0.1}


def test_scorer_without_y_explains(noisy_photos):
    noisy, _ = noisy_photos
    est = WaveletDenoiser().fit(noisy)
    with pytest.raises(ValueError, match="j_invariant_scorer"):
        psnr_scorer(est, noisy, None)
    with pytest.raises(TypeError, match="callable"):
        make_denoising_scorer("psnr")


def test_j_invariant_scorer_in_grid_search(noisy_photos):
    noisy, clean = noisy_photos
    noisy, clean = noisy[:2, :24, :24], clean[:2, :24, :24]
    search = GridSearchCV(WaveletDenoiser(), {"sigma": [0.0, 0.1]}, scoring=j_invariant_scorer,
                          cv=KFold(2), error_score="raise").fit(noisy)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and np.all(scores < 0)
    est = WaveletDenoiser(sigma=0.1).fit(noisy)
    assert j_invariant_scorer(est, noisy) == pytest.approx(-j_invariant_loss(est, noisy))


def test_j_invariant_loss_masks_voxels_of_volumes():
    from skimage.restoration import denoise_invariant

    noisy = np.random.RandomState(0).rand(1, 4, 16, 16)
    est = WaveletDenoiser(axes="ZYX", sigma=0.1).fit(noisy)
    expected = denoise_invariant(noisy[0], lambda m: est.transform(m[np.newaxis])[0],
                                 stride=4)
    assert j_invariant_loss(est, noisy, stride=4) == pytest.approx(
        np.mean((expected - noisy[0]) ** 2))
