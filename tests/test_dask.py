"""denoise_dask: chunked denoising equal to the in-memory result, pickling, distributed runs."""

import importlib.util
import pickle
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("dask.array", reason="the optional 'dask' extra is not installed")
pytest.importorskip("distributed", reason="the optional 'dask' extra is not installed")

import cloudpickle  # noqa: E402  (installed with distributed)
import dask  # noqa: E402
import dask.array as da  # noqa: E402
import joblib  # noqa: E402
import torch  # noqa: E402
from scipy.ndimage import gaussian_filter, uniform_filter  # noqa: E402
from sklearn.base import BaseEstimator, TransformerMixin, clone  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402

from sklearn_denoise import (  # noqa: E402
    BilateralDenoiser,
    BM3DDenoiser,
    CNNDenoiser,
    DenoiserMixin,
    NLMeansDenoiser,
    TVDenoiser,
    VarianceStabilizedDenoiser,
    WaveletDenoiser,
)
from sklearn_denoise._modules import receptive_radius  # noqa: E402
from sklearn_denoise._tiling import make_contract  # noqa: E402
from sklearn_denoise.dask import _aligned_chunks, default_depth, denoise_dask  # noqa: E402
from sklearn_denoise.datasets import load_sample_images  # noqa: E402
from sklearn_denoise.metrics import psnr, psnr_scorer  # noqa: E402
from sklearn_denoise.noise import gaussian, jpeg, poisson_gaussian  # noqa: E402

# functions and classes of this module travel to the worker processes by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])

SIGMA = 0.1


@pytest.fixture(scope="module")
def data():
    """Two 192x192 crops of real photos (camera, ascent), clean and noisy, float32."""
    clean = np.stack([img[:192, :192] for img in load_sample_images()[:2]])
    clean = clean.astype(np.float32) / 255
    noisy = gaussian(clean, SIGMA, random_state=0).astype(np.float32)
    return clean, noisy


@pytest.fixture(scope="module")
def cnn(data):
    """A small U-Net (receptive radius 64, downsampling multiple 4), trained briefly."""
    clean, _ = data
    den = CNNDenoiser(depth=3, width=4, blocks=1, max_epochs=1, patches_per_image=2,
                      patch_size=32, train_sigma=SIGMA, random_state=0)
    return den.fit(clean)


@pytest.fixture
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def test_importing_the_package_does_not_import_dask():
    code = (
        "import sys, sklearn_denoise; "
        "assert not [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')]"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_default_depth_is_the_cnn_receptive_field(cnn):
    config = cnn.config_
    radius = receptive_radius(config["architecture"], config["depth"], config["blocks"])
    assert default_depth(cnn) == radius == 64


def test_default_depths_of_the_classical_denoisers():
    assert default_depth(NLMeansDenoiser(patch_size=5, patch_distance=6)) == 8
    assert default_depth(BilateralDenoiser(sigma_spatial=1)) == 3
    assert default_depth(TVDenoiser()) == 32
    # the margin of its own tiles: 72 px on the 9-px block-matching grid
    assert default_depth(BM3DDenoiser()) == BM3DDenoiser().spatial_contract().margin == 72
    # db2 (4 taps), 2 levels: 3 * (2**2 - 1) = 9 pixels, rounded up to a multiple of 4
    assert default_depth(WaveletDenoiser(wavelet="db2", levels=2)) == 12
    assert default_depth(WaveletDenoiser(wavelet="db1", cycle_spins=2, levels=3)) == 16
    # levels=None: 512x512 allows 9 db1 levels, transform uses 9 - 3 = 6
    assert default_depth(WaveletDenoiser(), image_shape=(512, 512)) == 64
    with pytest.raises(ValueError, match="image_shape"):
        default_depth(WaveletDenoiser())
    with pytest.raises(TypeError, match="depth="):
        default_depth(_ThreadProbe())
    # a wrapper overlaps as its wrapped denoiser, a Pipeline by the sum of its steps
    assert default_depth(VarianceStabilizedDenoiser(NLMeansDenoiser())) == 8
    assert default_depth(VarianceStabilizedDenoiser(), image_shape=(512, 512)) == 64
    pipe = Pipeline([("nlm", NLMeansDenoiser()), ("none", "passthrough"),
                     ("bil", BilateralDenoiser(sigma_spatial=1))])
    assert default_depth(pipe) == 8 + 3
    # every depth is the margin of the estimator's own contract
    for est in [NLMeansDenoiser(patch_size=3, patch_distance=9), BilateralDenoiser(win_size=9),
                TVDenoiser(), BM3DDenoiser(profile="vn"), WaveletDenoiser(levels=2)]:
        assert default_depth(est) == est.spatial_contract().margin


def _spy_on_map_overlap(monkeypatch):
    """Record the function, the spatial depths and chunks denoise_dask maps with (per
    image, or over the whole stack for estimators without for_image)."""
    import sklearn_denoise.dask as sd_dask

    seen = {}
    real = sd_dask._overlapped_map

    def spy(func, array, depths, *args):
        seen.setdefault("func", func)
        seen.setdefault("depth", [depths[a] for a in (array.ndim - 2, array.ndim - 1)]
                        if array.ndim == 2 else [depths[a] for a in range(array.ndim)])
        seen.setdefault("chunks", array.chunks)
        seen.setdefault("estimators", []).extend(args)
        return real(func, array, depths, *args)

    monkeypatch.setattr(sd_dask, "_overlapped_map", spy)
    return seen


@pytest.mark.parametrize(
    "estimator",
    [
        NLMeansDenoiser(sigma=SIGMA, patch_size=3, patch_distance=9),
        BilateralDenoiser(sigma_color=0.1, sigma_spatial=2),
        WaveletDenoiser(wavelet="db2", levels=2),
        WaveletDenoiser(),
        VarianceStabilizedDenoiser(WaveletDenoiser(wavelet="db2"), gain=0.01,
                                   read_noise=0.01, black_level=0.0),
    ],
    ids=["nlm", "bilateral", "wavelet", "wavelet-levels-none", "vst"],
)
def test_chunks_overlap_by_the_spatial_contract(estimator, data, monkeypatch):
    _, noisy = data
    seen = _spy_on_map_overlap(monkeypatch)
    est = clone(estimator).fit(noisy)
    out = denoise_dask(da.from_array(noisy, chunks=(1, 50, 50)), est)  # lazy: not run
    if isinstance(est, VarianceStabilizedDenoiser):
        expected = est.denoiser_.spatial_contract(image_shape=(192, 192))
    elif isinstance(est, WaveletDenoiser) and est.levels is None:
        expected = est.spatial_contract(image_shape=(192, 192))
    else:
        expected = est.spatial_contract()
    per_image = hasattr(est, "for_image")  # decisions fixed per image, mapped per image
    spatial = seen["chunks"][-2:]
    assert seen["depth"] == ([expected.margin] * 2 if per_image
                             else [0, expected.margin, expected.margin])
    for chunks in spatial:
        assert all(c % expected.multiple == 0 for c in chunks[:-1])
        assert min(chunks) >= max(expected.margin, expected.min_size)
    assert out.chunks[-2:] == spatial and out.chunks[0] == (1,) * len(noisy)
    # size-dependent levels are pinned to the whole image's on the copy run on chunks
    block_estimator = seen["func"].estimator
    if isinstance(est, WaveletDenoiser):
        assert block_estimator.levels == (est.levels or 4) and est.levels in (None, 2)
    if isinstance(est, VarianceStabilizedDenoiser):
        assert block_estimator.denoiser_.levels == 3  # db2: 6 levels possible, 3 used
        assert est.denoiser_.levels is None


@pytest.mark.parametrize(
    "estimator",
    [
        TVDenoiser(),
        pytest.param(BM3DDenoiser(sigma=SIGMA, profile="vn"),
                     marks=pytest.mark.skipif(importlib.util.find_spec("bm3d") is None,
                                              reason="the optional bm3d package is not "
                                              "installed (BM3DDenoiser.fit needs it)")),
        WaveletDenoiser(wavelet="db2", levels=2, cycle_spins=3),
        BilateralDenoiser(sigma_color=0.1, mode="wrap"),
    ],
    ids=["tv", "bm3d", "wavelet-cycle-spins", "bilateral-wrap"],
)
def test_global_methods_keep_each_image_whole_unless_given_a_depth(estimator, data,
                                                                  monkeypatch):
    """No margin reproduces a global method's result: each image is one chunk (and the
    result the in-memory one); a depth given asks for chunks all the same."""
    _, noisy = data
    est = clone(estimator).fit(noisy)
    assert not est.spatial_contract().local
    seen = _spy_on_map_overlap(monkeypatch)
    out = denoise_dask(da.from_array(noisy, chunks=(1, 50, 50)), est)
    assert seen["chunks"] == ((192,), (192,)) and seen["depth"] == [0, 0]
    assert out.chunks[-2:] == ((192,), (192,))
    np.testing.assert_allclose(out[:1].compute(), est.transform(noisy[:1]), atol=1e-12)
    seen = _spy_on_map_overlap(monkeypatch)
    denoise_dask(da.from_array(noisy, chunks=(1, 64, 64)), est, depth=16)
    assert len(seen["chunks"][0]) > 1 and seen["depth"][0] > 0


def test_a_pipeline_is_mapped_step_by_step(data, monkeypatch):
    """Each step decides on the whole output of the step before, as Pipeline.transform
    does, with its own overlap."""
    _, noisy = data
    noisy = noisy[:1]
    pipe = Pipeline([("nlm", NLMeansDenoiser()), ("skip", "passthrough"),
                     ("wavelet", WaveletDenoiser(wavelet="db2"))]).fit(noisy)
    depths = []
    import sklearn_denoise.dask as sd_dask

    real = sd_dask._overlapped_map

    def spy(func, array, image_depths, *args):
        depths.append(image_depths[0])
        return real(func, array, image_depths, *args)

    monkeypatch.setattr(sd_dask, "_overlapped_map", spy)
    out = denoise_dask(da.from_array(noisy, chunks=(1, 64, 64)), pipe).compute()
    nlm, wavelet = pipe.named_steps["nlm"], pipe.named_steps["wavelet"]
    assert depths == [nlm.spatial_contract().margin,
                      wavelet.spatial_contract(image_shape=(192, 192)).margin]
    np.testing.assert_allclose(out, pipe.transform(noisy), atol=1e-6)


class _BoxFilter(TransformerMixin, BaseEstimator):
    """A denoiser of your own: a 21x21 box filter (radius 10) that records its blocks and
    asks for 10 pixels of context, a 4-pixel grid and blocks of at least 24 pixels."""

    blocks = []

    def fit(self, X, y=None):
        self.fitted_ = True
        return self

    def transform(self, X):
        self.blocks.append(X.shape)
        return uniform_filter(X, size=(1, 21, 21), mode="reflect")

    def spatial_contract(self):
        return make_contract(10, 4, min_size=24)


def test_an_estimator_of_your_own_gets_the_overlap_it_asks_for(synchronous):
    image = np.random.RandomState(0).uniform(size=(100, 100))
    expected = uniform_filter(image, size=21, mode="reflect")
    box = _BoxFilter().fit(None)
    assert default_depth(box) == 12  # 10 rounded up to the 4-pixel grid
    _BoxFilter.blocks.clear()
    out = denoise_dask(da.from_array(image, chunks=16), box)
    # chunks of 16 are shorter than the 24 asked for: re-chunked on the grid
    assert out.chunks == ((24, 24, 24, 28),) * 2
    np.testing.assert_allclose(out.compute(), expected, rtol=0, atol=1e-12)
    # blocks: first 24 + 12, inner 24 + 2 * 12, last 28 + 12
    sides = {side for shape in _BoxFilter.blocks for side in shape[1:]}
    assert sides == {36, 48, 40}
    # less context than the filter's radius leaves seams
    short = denoise_dask(da.from_array(image, chunks=16), box, depth=8).compute()
    assert np.abs(short - expected).max() > 1e-3


def test_a_denoiser_without_a_contract_needs_depth(synchronous):
    class Identity(DenoiserMixin, TransformerMixin, BaseEstimator):
        def fit(self, X, y=None):
            self.fitted_ = True
            return self

        def transform(self, X):
            return X

    den = Identity().fit(None)
    with pytest.raises(TypeError, match="depth=.*does not define spatial_contract"):
        denoise_dask(da.zeros((64, 64), chunks=32), den)
    out = denoise_dask(da.ones((64, 64), chunks=32), den, depth=3).compute()
    np.testing.assert_array_equal(out, 1)


def test_pipeline_of_local_filters_equals_the_in_memory_result(data, synchronous):
    _, noisy = data
    # normalize="none": the first step's output has small negative values, which "auto"
    # would map onto [0, 1] per chunk (by the chunk's percentiles)
    pipe = Pipeline([
        ("nlm", NLMeansDenoiser(sigma=SIGMA, normalize="none")),
        ("nlm3", NLMeansDenoiser(sigma=SIGMA, patch_size=3, patch_distance=2, normalize="none")),
    ])
    pipe.fit(noisy)
    assert default_depth(pipe) == 8 + 3
    arr = da.from_array(noisy, chunks=(1, 64, 64))
    expected = pipe.transform(noisy)
    np.testing.assert_allclose(denoise_dask(arr, pipe).compute(), expected, rtol=0, atol=1e-5)
    # the first step's margin alone is not enough
    short = denoise_dask(arr, pipe, depth=8).compute()
    assert np.abs(short - expected).max() > 1e-4


def test_variance_stabilized_wavelet_levels_are_pinned(data, synchronous):
    clean, _ = data
    counts = poisson_gaussian(30 * clean, gain=1, read_sigma=2, black_level=100,
                              random_state=0)
    counts = np.rint(counts).astype(np.uint16)
    known = {"gain": 1.0, "read_noise": 2.0, "black_level": 100.0}
    arr = da.from_array(counts, chunks=(1, 96, 96))
    default = VarianceStabilizedDenoiser(**known).fit(counts)
    got = denoise_dask(arr, default).compute()
    # 192x192 with db1: transform uses 4 levels for the whole image
    explicit = VarianceStabilizedDenoiser(WaveletDenoiser(levels=4), **known).fit(counts)
    np.testing.assert_array_equal(got, denoise_dask(arr, explicit).compute())
    fewer = VarianceStabilizedDenoiser(WaveletDenoiser(levels=3), **known).fit(counts)
    assert not np.array_equal(got, denoise_dask(arr, fewer).compute())
    assert default.denoiser_.levels is None


def test_aligned_chunks():
    assert _aligned_chunks((64, 64, 64), 8, 32) == (64, 64, 64)
    assert _aligned_chunks((50, 50, 50, 42), 8, 16) == (56, 56, 56, 24)
    assert _aligned_chunks((100, 100, 5), 1, 10) == (100, 105)
    assert _aligned_chunks((30, 30), 1, 64) == (60,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_cnn_image_and_stack_equal_the_in_memory_result(cnn, data, synchronous, dtype):
    _, noisy = data
    if dtype == np.uint8:
        noisy = (np.clip(noisy, 0, 1) * 255).round().astype(np.uint8)
    else:
        noisy = noisy.astype(dtype)
    expected = cnn.transform(noisy)
    # chunks of 50 are not multiples of the U-Net's 4: denoise_dask re-aligns them
    stack = denoise_dask(da.from_array(noisy, chunks=(1, 50, 96)), cnn)
    image = denoise_dask(da.from_array(noisy[0], chunks=(96, 50)), cnn)
    assert stack.dtype == noisy.dtype and stack.shape == noisy.shape
    assert all(c % 4 == 0 for c in stack.chunks[1][:-1] + stack.chunks[2][:-1])
    got_stack, got_image = stack.compute(), image.compute()
    assert got_stack.dtype == noisy.dtype
    # float rounding can move a value across a .5 boundary: one uint8 step at most
    tol = 1 if dtype == np.uint8 else 1e-5
    np.testing.assert_allclose(got_stack, expected, rtol=0, atol=tol)
    np.testing.assert_allclose(got_image, expected[0], rtol=0, atol=tol)


def test_cnn_colour_image_and_dncnn(data, synchronous):
    clean, noisy = data
    rgb = np.stack([clean[0], clean[1], clean[0][::-1]], axis=-1)[None]
    den = CNNDenoiser(depth=2, width=4, blocks=1, max_epochs=1, patches_per_image=2,
                      patch_size=32, train_sigma=SIGMA, random_state=0).fit(rgb)
    noisy_rgb = gaussian(rgb, SIGMA, random_state=1).astype(np.float32)
    got = denoise_dask(da.from_array(noisy_rgb[0], chunks=(64, 64, 1)), den).compute()
    np.testing.assert_allclose(got, den.transform(noisy_rgb)[0], rtol=0, atol=1e-5)

    dncnn = CNNDenoiser("dncnn", depth=4, width=4, max_epochs=1, patches_per_image=2,
                        patch_size=32, train_sigma=SIGMA, random_state=0).fit(clean)
    assert default_depth(dncnn) == 4
    got = denoise_dask(da.from_array(noisy, chunks=(1, 40, 40)), dncnn).compute()
    np.testing.assert_allclose(got, dncnn.transform(noisy), rtol=0, atol=1e-5)


def test_too_small_depth_changes_the_cnn_result(cnn, data, synchronous):
    _, noisy = data
    got = denoise_dask(da.from_array(noisy, chunks=(1, 64, 64)), cnn, depth=4).compute()
    assert np.abs(got - cnn.transform(noisy)).max() > 1e-4


def test_local_classical_filters_equal_the_in_memory_result(data, synchronous):
    _, noisy = data
    arr = da.from_array(noisy, chunks=(1, 64, 64))
    nlm = NLMeansDenoiser(sigma=SIGMA).fit(noisy)
    np.testing.assert_allclose(denoise_dask(arr, nlm).compute(), nlm.transform(noisy),
                               rtol=0, atol=1e-5)
    # negative values and a range per chunk: scikit-image scales its intensity table by
    # the range it is given (0.016 off before for_image fixed the whole image's)
    bil = BilateralDenoiser(sigma_color=0.1, normalize="none").fit(noisy)
    got = denoise_dask(arr, bil).compute()
    np.testing.assert_allclose(got, bil.transform(noisy), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "estimator",
    [
        WaveletDenoiser(sigma=SIGMA, wavelet="db2"),
        WaveletDenoiser(wavelet="db2", cycle_spins=1),
        WaveletDenoiser(sigma=SIGMA, method="VisuShrink"),
        TVDenoiser(weight=0.1),
    ],
    ids=["wavelet-bayes", "wavelet-cycle-spins", "wavelet-visu", "tv"],
)
def test_chunks_of_a_depth_given_are_close_to_the_in_memory_result(
    estimator, data, synchronous
):
    # With a depth given, a global method is run on chunks all the same (cycle spinning
    # wraps each chunk, TV stops per chunk) and BayesShrink without for_image (a
    # Pipeline step given a depth) would threshold per chunk. What must hold is that the
    # chunked result is an equally good denoising: PSNR within 0.75 dB of the in-memory
    # one, and the difference small next to the noise removed: RMS below a quarter of
    # sigma.
    clean, noisy = data
    est = clone(estimator).fit(noisy)
    expected = est.transform(noisy)
    got = denoise_dask(da.from_array(noisy, chunks=(1, 96, 96)), est, depth=16).compute()
    assert got.shape == expected.shape and got.dtype == expected.dtype
    assert abs(psnr(clean, got) - psnr(clean, expected)) < 0.75
    assert np.sqrt(np.mean((got - expected) ** 2)) < 0.25 * SIGMA
    assert psnr(clean, got) > psnr(clean, noisy) + 3


def test_converged_tv_differs_only_by_the_stopping_rule(data, synchronous):
    # run to convergence, 32 pixels of overlap leave seams of ~1e-4
    clean, noisy = data
    est = TVDenoiser(weight=0.1, eps=1e-6, max_num_iter=2000).fit(noisy[:1])
    got = denoise_dask(da.from_array(noisy[0], chunks=(96, 96)), est, depth=32).compute()
    assert np.sqrt(np.mean((got - est.transform(noisy[:1])[0]) ** 2)) < 1e-3


def test_wavelet_levels_are_pinned_to_the_whole_image(data, synchronous):
    clean, noisy = data
    est = WaveletDenoiser(sigma=SIGMA, method="VisuShrink").fit(noisy)
    pinned = denoise_dask(da.from_array(noisy, chunks=(1, 96, 96)), est).compute()
    # 192x192 with db1: 7 levels possible, transform uses 4 for the whole image
    explicit = WaveletDenoiser(sigma=SIGMA, method="VisuShrink", levels=4).fit(noisy)
    again = denoise_dask(da.from_array(noisy, chunks=(1, 96, 96)), explicit).compute()
    np.testing.assert_array_equal(pinned, again)
    assert est.levels is None  # the caller's estimator is left alone


def test_input_checks(cnn, data):
    _, noisy = data
    with pytest.raises(ValueError, match="dimensions"):
        denoise_dask(da.zeros((2, 2, 8, 8, 1)), cnn)
    with pytest.raises(ValueError, match="stack=True"):
        denoise_dask(da.zeros((8, 8)), cnn, stack=True)
    with pytest.raises(ValueError, match="depth"):
        denoise_dask(da.zeros((8, 8)), cnn, depth=-1)
    with pytest.raises(Exception, match="not fitted"):
        denoise_dask(da.zeros((8, 8)), TVDenoiser())
    with pytest.raises(TypeError, match="depth="):
        denoise_dask(da.zeros((8, 8)), _ThreadProbe().fit(noisy))
    with pytest.raises(ValueError, match="torch_threads must be None .* or an int >= 1"):
        denoise_dask(da.zeros((8, 8)), cnn, torch_threads=0)
    with pytest.raises(ValueError, match="torch_threads must be None .* or an int >= 1"):
        denoise_dask(da.zeros((8, 8)), cnn, torch_threads=-2)
    with pytest.raises(TypeError, match="torch_threads must be None"):
        denoise_dask(da.zeros((8, 8)), cnn, torch_threads=1.5)
    # empty arrays are rejected like in transform (they used to come back empty)
    for shape in [(0, 8), (8, 0), (0, 8, 8), (2, 0, 8), (2, 8, 8, 0)]:
        with pytest.raises(ValueError, match=r"array of shape .* is empty"):
            denoise_dask(da.zeros(shape), cnn)
    # a NumPy array is accepted and a 3-D array is a stack for a one-channel model
    out = denoise_dask(noisy[:, :64, :64], cnn)
    assert out.shape == (2, 64, 64)


def test_unknown_chunk_sizes_ask_for_compute_chunk_sizes(cnn, data, synchronous):
    # boolean indexing leaves NaN chunk sizes; they used to fail with "cannot convert float
    # NaN to integer" deep inside the re-chunking
    _, noisy = data
    arr = da.from_array(noisy[:, :64, :64], chunks=(1, 32, 32))
    kept = arr[da.from_array(np.array([True, False]), chunks=1)]
    assert np.isnan(kept.shape[0])
    with pytest.raises(ValueError, match=r"unknown chunk sizes on axis 0.*compute_chunk_sizes"):
        denoise_dask(kept, cnn)
    columns = arr[:, :, da.arange(64, chunks=32) < 40]
    with pytest.raises(ValueError, match=r"unknown chunk sizes on axis 2"):
        denoise_dask(columns, cnn)
    # the advice works
    out = denoise_dask(kept.compute_chunk_sizes(), cnn).compute()
    np.testing.assert_allclose(out, cnn.transform(noisy[:1, :64, :64]), atol=1e-5)


class _ThreadProbe(TransformerMixin, BaseEstimator):
    """Identity transformer that records torch's thread count while it runs."""

    def fit(self, X, y=None):
        self.n_channels_in_ = 1
        return self

    def transform(self, X):
        self.seen_threads_ = torch.get_num_threads()
        return np.full_like(X, torch.get_num_threads())


def test_torch_threads_are_limited_per_block_and_restored():
    before = torch.get_num_threads()
    probe = _ThreadProbe().fit(None)
    arr = da.zeros((4, 32, 32), chunks=(1, 32, 32))
    with dask.config.set(scheduler="threads", num_workers=2):
        out = denoise_dask(arr, probe, depth=0).compute()
    assert np.all(out == 1)
    assert torch.get_num_threads() == before
    with dask.config.set(scheduler="synchronous"):
        out = denoise_dask(arr, probe, depth=0, torch_threads=None).compute()
    assert np.all(out == before)


def _fitted_estimators(noisy):
    ests = [
        WaveletDenoiser(wavelet="db2", cycle_spins=1),
        TVDenoiser(weight=0.05),
        NLMeansDenoiser(sigma=SIGMA),
        BilateralDenoiser(sigma_color=0.1),
        BM3DDenoiser(sigma=SIGMA),
    ]
    fitted = []
    for est in ests:
        try:
            fitted.append(est.fit(noisy))
        except ImportError:  # bm3d is optional
            continue
    return fitted


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
def test_estimators_pickle_cleanly(cnn, data, dumps):
    _, noisy = data
    small = noisy[:1, :48, :48]
    for est in [*_fitted_estimators(small), cnn, CNNDenoiser(width=4), TVDenoiser()]:
        loaded = pickle.loads(dumps(est))
        assert type(loaded) is type(est)
        assert loaded.get_params() == est.get_params() or isinstance(est, CNNDenoiser)
        if hasattr(est, "n_channels_in_"):
            # torch may pick another convolution algorithm for the copy (rounding only);
            # the bm3d binary is multi-threaded and varies by ~1e-4 from run to run
            atol = 1e-3 if isinstance(est, BM3DDenoiser) else 1e-5
            np.testing.assert_allclose(loaded.transform(small), est.transform(small),
                                       rtol=0, atol=atol)
    # a fitted CNN keeps training after the round trip
    loaded = pickle.loads(dumps(cnn))
    loaded.partial_fit(small, epochs=1)
    assert loaded.n_partial_fit_calls_ == cnn.n_partial_fit_calls_ + 1


# --------------------------------------------------------------------------- distributed


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        processes=True, n_workers=2, threads_per_worker=1, host="127.0.0.1",
        dashboard_address=None,
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def _worker_threads(limit):
    import torch as _torch

    from sklearn_denoise.dask import _torch_threads

    with _torch_threads(limit):
        return _torch.get_num_threads()


@pytest.mark.slow
def test_distributed_cluster_denoises_like_in_memory(client, cnn, data):
    clean, noisy = data
    arr = da.from_array(noisy, chunks=(1, 96, 96))
    got = denoise_dask(arr, cnn).compute()  # the client is the default scheduler
    np.testing.assert_allclose(got, cnn.transform(noisy), rtol=0, atol=1e-5)
    nlm = NLMeansDenoiser(sigma=SIGMA).fit(noisy)
    np.testing.assert_allclose(denoise_dask(arr, nlm).compute(), nlm.transform(noisy),
                               rtol=0, atol=1e-5)
    # the limit is applied inside the worker processes
    assert set(client.run(_worker_threads, 1).values()) == {1}
    assert set(client.run(_worker_threads, 2).values()) == {2}
    probe = _ThreadProbe().fit(None)
    out = denoise_dask(da.zeros((2, 16, 16), chunks=(1, 16, 16)), probe, depth=0,
                       torch_threads=2).compute()
    assert np.all(out == 2)


@pytest.mark.slow
def test_grid_search_through_the_joblib_dask_backend(client, data):
    clean, noisy = data
    X, y = noisy[:, :64, :64], clean[:, :64, :64]
    X = np.concatenate([X, noisy[:, 64:128, 64:128]])
    y = np.concatenate([y, clean[:, 64:128, 64:128]])
    grids = [
        (WaveletDenoiser(sigma=SIGMA), {"wavelet": ["db1", "db2"], "cycle_spins": [0, 1]}),
        (
            CNNDenoiser(depth=2, width=4, blocks=1, max_epochs=1, patches_per_image=1,
                        patch_size=32, random_state=0),
            {"lr": [1e-3, 1e-2]},
        ),
    ]
    for est, grid in grids:
        local = GridSearchCV(est, grid, scoring=psnr_scorer, cv=2, error_score="raise")
        local.fit(X, y)
        remote = GridSearchCV(est, grid, scoring=psnr_scorer, cv=2, error_score="raise")
        with joblib.parallel_backend("dask"):
            remote.fit(X, y)
        np.testing.assert_allclose(remote.cv_results_["mean_test_score"],
                                   local.cv_results_["mean_test_score"], rtol=1e-6)
        assert remote.best_params_ == local.best_params_
        np.testing.assert_allclose(remote.transform(X), local.transform(X), atol=1e-6)


# ---------------------------------------------------- decisions once per image, not per chunk
def _bright_stars(clean):
    yy, xx = np.mgrid[: clean.shape[0], : clean.shape[1]]
    stars = sum(3 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 4.5)
                for y, x in [(40, 50), (130, 200), (200, 90), (95, 160)])
    return np.rint(poisson_gaussian(50 * (clean + stars), gain=1, read_sigma=2,
                                    black_level=100, random_state=0)).astype(np.uint16)


def _decided_cases():
    from sklearn_denoise import available_models
    from sklearn_denoise.noise import correlated_gaussian

    clean = load_sample_images()[0][:256, :256] / 255
    rgb = load_sample_images(color=True)[0][:256, :256] / 255
    white = gaussian(clean, SIGMA, random_state=0).astype(np.float32)
    counts = np.rint(poisson_gaussian(50 * clean, gain=1, read_sigma=2, black_level=100,
                                      random_state=0)).astype(np.uint16)
    cases = [
        ("wavelet", WaveletDenoiser(), white, 1e-6),
        ("wavelet-ycbcr", WaveletDenoiser(convert2ycbcr=True),
         gaussian(rgb, SIGMA, random_state=0).astype(np.float32), 1e-5),
        ("wavelet-counts", WaveletDenoiser(), counts, 0),
        ("nlm", NLMeansDenoiser(), white, 1e-6),
        ("nlm-counts", NLMeansDenoiser(), counts, 0),
        ("bilateral", BilateralDenoiser(), white, 1e-6),
        ("bilateral-counts", BilateralDenoiser(), counts, 0),
        ("tv", TVDenoiser(), white, 0),
        ("tv-counts", TVDenoiser(), counts, 0),
        ("wavelet-cycle-spins", WaveletDenoiser(cycle_spins=2), white, 0),
        ("vst-sensor", VarianceStabilizedDenoiser(), counts, 0),
        ("vst-nlm-sensor", VarianceStabilizedDenoiser(NLMeansDenoiser()), counts, 0),
    ]
    if importlib.util.find_spec("bm3d") is not None:
        cases += [("bm3d", BM3DDenoiser(), white[:128, :128], 0)]
    if "gray" in available_models():
        # the shipped weights' measured 96-pixel radius: about 1e-5 (see default_depth)
        cases += [
            ("cnn", CNNDenoiser.pretrained("gray"), white, 1e-4),
            ("cnn-correlated", CNNDenoiser.pretrained("gray"),
             correlated_gaussian(clean, 20 / 255, random_state=0).astype(np.float32), 1e-4),
            ("cnn-counts", CNNDenoiser.pretrained("gray"), counts, 1e-4),
            ("cnn-color", CNNDenoiser.pretrained("color"),
             gaussian(rgb, SIGMA, random_state=0).astype(np.float32), 1e-4),
            # a chunk of a JPEG need not look compressed: the whole image decides (#32)
            ("cnn-jpeg", CNNDenoiser.pretrained("gray"),
             jpeg(gaussian(clean, 15 / 255, random_state=0), quality=75)
             .astype(np.float32), 1e-4),
            ("cnn-color-jpeg", CNNDenoiser.pretrained("color"),
             jpeg(gaussian(rgb, 15 / 255, random_state=0), quality=75)
             .astype(np.float32), 1e-4),
            # a flat chunk of a smooth 16-bit image must not decide alone either
            ("cnn-below-floor", CNNDenoiser.pretrained("gray"),
             np.rint(1000 + 60000 * gaussian_filter(clean, 3)).astype(np.uint16), 0),
            # stars above the normalised range, in different chunks: denoised again at a
            # lower gain around them
            ("cnn-bright-stars", CNNDenoiser.pretrained("gray"), _bright_stars(clean), 1e-4),
            # Rician: the bias removed with the local sigma of the whole image
            ("cnn-rician", CNNDenoiser.pretrained("gray", noise_model="rician"),
             np.hypot(clean + np.random.default_rng(0).normal(0, 0.05, clean.shape),
                      np.random.default_rng(1).normal(0, 0.05, clean.shape))
             .astype(np.float32), 1e-4),
        ]
    return cases


@pytest.mark.parametrize("name, estimator, image, tolerance", _decided_cases(),
                         ids=[case[0] for case in _decided_cases()])
def test_chunks_share_the_whole_images_decisions(name, estimator, image, tolerance,
                                                  synchronous):
    """Issue #28: each chunk used to estimate its own noise level (blind wavelet 0.126 off
    on [0, 1], the CNN 0.015); the normalisation, noise level or model, wavelet thresholds
    and expert routing are now decided once per image, as transform decides them."""
    est = clone(estimator).fit(image[np.newaxis]) if not hasattr(estimator, "net_") \
        else estimator
    expected = est.transform(image[np.newaxis])[0]
    decision = est.for_image(image).decision_
    if name.startswith("vst"):
        models, _, inner = decision
        assert models[0].black_level > 90 and inner.decision_ is not None
    elif name == "cnn-correlated":
        assert decision.correlated == (True,)
    elif name.endswith("jpeg"):
        assert decision.compressed
    elif name == "cnn-below-floor":
        assert decision.below_floor == (True,)
    elif name == "cnn-rician":
        assert decision.describe(image.dtype).startswith("rician noise")
    if name.endswith("counts"):
        assert decision.describe(image.dtype).startswith("poisson-gaussian noise")
    chunks = (96, 80) + image.shape[2:]
    out = denoise_dask(da.from_array(image, chunks=chunks), est).compute()
    scale = 65535 if image.dtype == np.uint16 else 1
    diff = np.abs(out.astype(np.float64) - expected.astype(np.float64)).max() / scale
    assert diff <= tolerance, diff
    # a stack: one decision per image
    stack = np.stack([image, image[::-1]])
    expected = est.transform(stack)
    out = denoise_dask(da.from_array(stack, chunks=(1, *chunks)), est).compute()
    diff = np.abs(out.astype(np.float64) - expected.astype(np.float64)).max() / scale
    assert diff <= tolerance, diff


def test_for_image_gives_transforms_own_result():
    image = gaussian(load_sample_images()[1][:96, :96] / 255, SIGMA, random_state=1)
    for est in (WaveletDenoiser(cycle_spins=1), NLMeansDenoiser(), TVDenoiser(),
                BilateralDenoiser()):
        est.fit(image[np.newaxis])
        pinned = est.for_image(image)
        np.testing.assert_array_equal(pinned.transform(image[np.newaxis]),
                                      est.transform(image[np.newaxis]))
        assert pinned.decision_.noise_source == "estimated"
        with pytest.raises(ValueError, match="for_image takes one image"):
            est.for_image(np.stack([image, image]))


# --- volumes and sequences (axes="ZYX") -----------------------------------------------------


def _volumes(seed=0):
    """Two noisy still stacks (2, 5, 48, 64) of a sample photo."""
    photo = load_sample_images(size=64)[0][:48] / 255.0
    clean = np.repeat(photo[None, None], 5, axis=1).repeat(2, axis=0)
    return gaussian(clean, 0.1, random_state=seed)


@pytest.mark.parametrize("estimator", [
    WaveletDenoiser(axes="ZYX"),
    WaveletDenoiser(axes="ZYX", wavelet="db2", levels=2),
    NLMeansDenoiser(axes="ZYX", patch_size=3, patch_distance=2),
    TVDenoiser(axes="ZYX"),
    VarianceStabilizedDenoiser(WaveletDenoiser(axes="ZYX"), gain=0.01, read_noise=0.05,
                               black_level=0.0),
], ids=lambda e: repr(e)[:40])
def test_volumes_chunked_in_z_and_y_x_equal_transform(estimator):
    X = _volumes()
    est = clone(estimator).fit(X)
    expected = est.transform(X)
    out = denoise_dask(da.from_array(X, chunks=(1, 2, 24, 24)), est).compute()
    np.testing.assert_allclose(out, expected, atol=1e-6)
    # one volume (Z, H, W) on its own, chunked likewise
    alone = denoise_dask(da.from_array(X[1], chunks=(3, 24, 32)), est).compute()
    np.testing.assert_allclose(alone, expected[1], atol=1e-6)


def test_colour_volumes_chunked_equal_transform():
    X = np.stack([_volumes()[0]] * 3, axis=-1)[None] * np.array([1.0, 0.8, 0.6])
    est = NLMeansDenoiser(axes="ZYXC", patch_size=3, patch_distance=2).fit(X)
    out = denoise_dask(da.from_array(X, chunks=(1, 2, 24, 24, 1)), est).compute()
    np.testing.assert_allclose(out, est.transform(X), atol=1e-6)


def test_volumes_of_the_wrong_dimensions_are_refused():
    est = WaveletDenoiser(axes="ZYX").fit(_volumes())
    with pytest.raises(ValueError, match=r"one volume \(Z, Y, X\)"):
        denoise_dask(da.zeros((48, 64)), est)
    with pytest.raises(ValueError, match="stack=False"):
        denoise_dask(da.zeros((2, 5, 48, 64)), est, stack=False)


def test_stack_network_chunked_along_z_equals_transform():
    from sklearn_denoise import CNNDenoiser

    photo = load_sample_images(size=64)[1] / 255.0
    steps = np.cumsum([(0, 0), (1, 0), (0, -1), (1, 1), (-1, 0), (0, 2), (1, 0)], axis=0)
    clean = np.stack([np.roll(photo, tuple(p), axis=(0, 1)) for p in steps])
    volume = (gaussian(clean, 0.1, random_state=0) * 4000).astype(np.float32)
    est = CNNDenoiser.pretrained("gray", axes="ZYX")
    assert est.planes_margin() == est.config_["context_planes"]
    expected = est.transform(volume[None])[0]
    # planes whole in y and x (the registration is on whole planes), overlapped along Z
    out = denoise_dask(da.from_array(volume, chunks=(3, 32, 32)), est).compute()
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6 * 4000)
    stacked = denoise_dask(da.from_array(np.stack([volume, volume[::-1]]),
                                         chunks=(1, 2, 64, 64)), est).compute()
    np.testing.assert_allclose(stacked[0], expected, atol=1e-6 * 4000)
