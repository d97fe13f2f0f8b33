"""Tiled inference: tile layout, the spatial contract, faithfulness to untiled inference."""

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.ndimage import uniform_filter
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import FunctionTransformer

from sklearn_denoise import CNNDenoiser, _inference, available_models
from sklearn_denoise._modules import receptive_radius
from sklearn_denoise._tiling import (
    MEASURED_RADII,
    SpatialContract,
    UnknownContractError,
    compose_contracts,
    contract_of,
    effective_radius,
    for_image_shape,
    make_contract,
    measured_radius,
    round_up,
    run_tiled,
    tile_windows,
    weights_digest,
)
from sklearn_denoise.datasets import load_sample_images
from sklearn_denoise.metrics import psnr
from sklearn_denoise.noise import gaussian

SET12 = Path(__file__).resolve().parents[2] / "shared" / "data" / "set12"
needs_gray = pytest.mark.skipif(
    "gray" not in available_models(), reason="no pretrained weights registered in this checkout"
)


def _box(radius):
    """A local filter of known radius (zero outside the window it is given)."""
    return lambda x: uniform_filter(x, size=(2 * radius + 1, 2 * radius + 1, 1),
                                    mode="constant")


@pytest.mark.parametrize("shape", [(150, 170), (1000, 37), (64, 64), (9, 300)])
@pytest.mark.parametrize(("tile", "margin", "multiple"), [(40, 16, 8), (64, 0, 1), (17, 5, 4)])
def test_tiles_cover_the_image_once_on_the_grid(shape, tile, margin, multiple):
    contract = make_contract(margin, multiple)
    assert contract.margin % multiple == 0 and contract.margin >= margin
    covered = np.zeros(shape, int)
    padded = [set(), set()]  # window lengths as the network sees them (on the grid)
    windows = tile_windows(shape, tile, contract, equal=True)
    cores = [[r for (r, _), _ in windows], [c for (_, c), _ in windows]]
    for (rows, cols), (ext_rows, ext_cols) in windows:
        covered[rows, cols] += 1
        for axis, core, ext, length in [(0, rows, ext_rows, shape[0]),
                                        (1, cols, ext_cols, shape[1])]:
            assert core.stop - core.start <= max(tile, multiple) or length <= tile
            assert core.start % multiple == 0 and ext.start % multiple == 0
            # at least the margin of context on each side, within the image
            assert 0 <= ext.start <= max(0, core.start - contract.margin)
            assert min(length, core.stop + contract.margin) <= ext.stop <= length
            longest_core = max(c.stop - c.start for c in cores[axis])
            assert ext.stop - ext.start <= longest_core + 2 * contract.margin
            padded[axis].add(round_up(ext.stop - ext.start, multiple))
    np.testing.assert_array_equal(covered, 1)
    # one window length per axis: equal activation buffers from tile to tile
    assert len(padded[0]) == len(padded[1]) == 1
    # without equal=True, windows are the cores plus the margin, clipped at the border
    for (rows, cols), (ext_rows, ext_cols) in tile_windows(shape, tile, contract):
        for core, ext, length in [(rows, ext_rows, shape[0]), (cols, ext_cols, shape[1])]:
            assert ext.start == max(0, core.start - contract.margin)
            assert ext.stop == min(length, core.stop + contract.margin)


def test_tiles_are_balanced():
    windows = tile_windows((1100, 1024), 1024, SpatialContract(64, 8))
    assert [(r.start, r.stop) for (r, _), _ in windows] == [(0, 552), (552, 1100)]
    assert all((c.start, c.stop) == (0, 1024) for (_, c), _ in windows)


@pytest.mark.parametrize("equal", [False, True])
def test_run_tiled_equals_the_whole_with_a_margin_of_the_radius(equal):
    image = np.random.RandomState(0).uniform(size=(90, 70, 2))
    func = _box(3)
    whole = func(image)
    sizes = set()

    def window(rows, cols):
        sizes.add((rows.stop - rows.start, cols.stop - cols.start))
        return func(image[rows, cols])

    tiled = run_tiled(window, image.shape[:2], np.empty_like(whole), 16, make_contract(3),
                      equal_windows=equal)
    np.testing.assert_allclose(tiled, whole, atol=1e-12)
    assert (len(sizes) == 1) == equal
    short = run_tiled(window, image.shape[:2], np.empty_like(whole), 16, make_contract(2),
                      equal_windows=equal)
    assert np.abs(short - whole).max() > 1e-3


def test_contract_min_size_defaults_to_one():
    assert SpatialContract(64, 8).min_size == 1
    assert make_contract(10, 4) == SpatialContract(12, 4, 1)
    assert make_contract(10, 4, min_size=30) == (12, 4, 30, True)
    assert make_contract(-3, 0, min_size=0) == (0, 1, 1, True)  # clipped to valid values


def test_composed_contracts_add_margins_on_a_common_grid():
    assert compose_contracts() == (0, 1, 1, True)
    assert compose_contracts(make_contract(8)) == (8, 1, 1, True)
    # margins 8 + 8, grids 1 and 8, sizes 1 and 8
    assert compose_contracts(make_contract(8), make_contract(7, 8, 8)) == (16, 8, 8, True)
    # margins 4 + 6 = 10 rounded up to lcm(4, 6) = 12
    assert compose_contracts(make_contract(3, 4, 5), make_contract(5, 6, 2)) == (12, 12, 5, True)


class _Local(TransformerMixin, BaseEstimator):
    """A filter reporting a contract, optionally depending on the image size."""

    def __init__(self, radius=3, sized=False):
        self.radius = radius
        self.sized = sized

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X

    def spatial_contract(self, image_shape=None):
        if self.sized:
            return make_contract(image_shape[0] // 10, 2)
        return (self.radius, 1)  # a plain tuple is accepted too

    def for_image_shape(self, image_shape):
        return _Local(self.radius + 1) if self.sized else self


class _NoShape(_Local):
    def spatial_contract(self):
        return make_contract(self.radius, 4, 9)


def test_contract_of_asks_the_estimator_and_composes_pipelines():
    from sklearn.pipeline import Pipeline

    assert contract_of(_Local(5)) == SpatialContract(5, 1, 1)
    assert contract_of(_Local(sized=True), image_shape=(100, 80)) == (10, 2, 1, True)
    assert contract_of(_NoShape(6), image_shape=(100, 80)) == (8, 4, 9, True)  # not passed on
    pipe = Pipeline([("a", _Local(5)), ("skip", "passthrough"), ("b", _NoShape(6)),
                     ("none", None)])
    assert contract_of(pipe) == (16, 4, 9, True)  # 5 + 8 = 13 on the 4-pixel grid
    with pytest.raises(UnknownContractError, match="no spatial_contract"):
        contract_of(Pipeline([("a", _Local(5)), ("scale", FunctionTransformer())]))
    assert issubclass(UnknownContractError, TypeError)


def test_for_image_shape_pins_estimators_and_pipeline_steps():
    from sklearn.pipeline import Pipeline

    plain = _Local(5)
    assert for_image_shape(plain, (64, 64)) is plain
    assert for_image_shape(FunctionTransformer(), (64, 64)).__class__ is FunctionTransformer
    sized = _Local(2, sized=True)
    pipe = Pipeline([("plain", plain), ("sized", sized), ("skip", "passthrough")])
    pinned = for_image_shape(pipe, (64, 64))
    assert pinned is not pipe and pipe.steps[1][1] is sized  # the original is left alone
    assert pinned.steps[0][1] is plain and pinned.steps[2][1] == "passthrough"
    assert pinned.steps[1][1].radius == 3 and not pinned.steps[1][1].sized
    unchanged = Pipeline([("plain", plain)])
    assert for_image_shape(unchanged, (64, 64)) is unchanged


def test_effective_radius_finds_the_radius_of_a_local_filter():
    image = np.random.RandomState(0).uniform(size=(96, 96, 1))
    radius, deviations = effective_radius(_box(5), image, tol=1e-12, radii=range(1, 12))
    assert radius == 5
    assert deviations[4] > 1e-3 and deviations[5] <= 1e-12
    radius, deviations = effective_radius(_box(5), image, tol=1e-12, multiple=4)
    assert radius == 8 and sorted(deviations) == list(range(4, 37, 4))


@needs_gray
@pytest.mark.parametrize("name", ["gray", "color"])
def test_shipped_weights_use_their_measured_radius(name):
    den = CNNDenoiser.pretrained(name)
    assert weights_digest(den.net_.module_) in MEASURED_RADII
    config = den.config_
    theoretical = receptive_radius(config["architecture"], config["depth"], config["blocks"],
                                   config.get("bottom_blocks"))
    # the shipped network and its correlated-noise expert: tiles must serve both
    assert weights_digest(den.correlated_expert_) in MEASURED_RADII
    measured = max(MEASURED_RADII[weights_digest(den.net_.module_)],
                   MEASURED_RADII[weights_digest(den.correlated_expert_)])
    assert den.spatial_contract() == (measured, 8, 1, True) and measured % 8 == 0
    assert measured < theoretical / 2  # the point of measuring it
    assert den.set_params(tile_overlap=20).spatial_contract() == (24, 8, 1, True)
    assert den.set_params(tile_overlap=0).spatial_contract() == (0, 8, 1, True)


@needs_gray
def test_measured_radius_follows_changes_to_the_weights():
    den = CNNDenoiser.pretrained("gray")
    module = den.net_.module_
    assert measured_radius(module) == 96
    with torch.no_grad():
        module.head.weight.add_(1e-3)  # in place: the remembered digest no longer holds
    assert measured_radius(module) is None
    with torch.no_grad():
        module.head.weight.sub_(1e-3)
    module.load_state_dict(CNNDenoiser.pretrained("gray").net_.module_.state_dict())
    assert measured_radius(module) == 96
    # a training step
    den.set_params(lr=1e-3).partial_fit(load_sample_images(size=64)[:1].astype(np.float32) / 255)
    assert measured_radius(den.net_.module_) is None
    # built under inference mode, its tensors keep no version counter: the digest is
    # taken every time
    with torch.inference_mode():
        built = CNNDenoiser.pretrained("gray")
        assert measured_radius(built.net_.module_) == 96
        built.net_.module_.head.weight.add_(1e-3)
        assert measured_radius(built.net_.module_) is None
        assert built.transform(np.zeros((1, 32, 32), np.float32)).shape == (1, 32, 32)


@needs_gray
def test_fine_tuned_weights_fall_back_to_the_theoretical_radius():
    clean = load_sample_images(size=32)[:2].astype(np.float32) / 255
    den = CNNDenoiser(init_weights="gray", max_epochs=1, patches_per_image=1, patch_size=32,
                      train_sigma=0.1, random_state=0).fit(clean)
    assert den.spatial_contract() == (256, 8, 1, True)


def test_models_of_your_own_use_their_receptive_radius():
    image = np.random.RandomState(0).uniform(size=(1, 32, 32)).astype(np.float32)
    small = dict(max_epochs=1, patches_per_image=1, patch_size=16, train_sigma=0.1,
                 random_state=0)
    unet = CNNDenoiser(depth=3, width=4, blocks=1, **small).fit(image)
    assert unet.spatial_contract() == (make_contract(receptive_radius("unet", 3, 1), 4))
    dncnn = CNNDenoiser("dncnn", depth=5, width=4, **small).fit(image)
    assert dncnn.spatial_contract() == (5, 1, 1, True)


@pytest.mark.parametrize("value, error", [(-1, ValueError), (1.5, TypeError), ("8", TypeError)])
def test_tile_overlap_is_validated(value, error):
    image = np.zeros((1, 16, 16), np.float32)
    with pytest.raises(error, match="tile_overlap"):
        CNNDenoiser(tile_overlap=value, max_epochs=0).fit(image)


def test_noise_map_is_tiled_with_the_image():
    from sklearn_denoise._cnn_steps import inference_setup, run_network

    rng = np.random.RandomState(0)
    clean = rng.uniform(size=(2, 48, 48)).astype(np.float32)
    den = CNNDenoiser(depth=2, width=4, blocks=1, noise_level_input=True, max_epochs=1,
                      patches_per_image=2, patch_size=32, train_sigma=(0.0, 0.2),
                      random_state=0).fit(clean)
    image = rng.uniform(size=(70, 90, 1)).astype(np.float32)
    noise_map = np.linspace(0.0, 0.2, 70 * 90, dtype=np.float32).reshape(70, 90, 1)
    setup = inference_setup(den)
    whole = run_network(setup, setup.module, image, noise_map)
    setup = inference_setup(den.set_params(tile_size=16))
    tiled = run_network(setup, setup.module, image, noise_map)
    assert tiled.shape == whole.shape == image.shape and tiled.dtype == np.float32
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    flat = run_network(setup, setup.module, image, 0.1)
    assert np.abs(flat - whole).max() > 1e-4  # the map reaches the network


def test_denoise_dask_takes_the_overlap_from_the_spatial_contract():
    pytest.importorskip("dask.array", reason="the optional 'dask' extra is not installed")
    from sklearn_denoise.dask import default_depth

    class Contracted(TransformerMixin, BaseEstimator):
        def fit(self, X, y=None):
            self.fitted_ = True
            return self

        def transform(self, X):
            return X

        def spatial_contract(self):
            return make_contract(10, 4)

    assert default_depth(Contracted().fit(None)) == 12


@needs_gray
@pytest.mark.parametrize("equal_windows", [False, True])
@pytest.mark.parametrize("name, noise", [("gray", "white"), ("color", "white"),
                                         ("gray", "correlated")])
def test_default_tiling_is_faithful_on_a_sample_image(name, noise, equal_windows,
                                                      monkeypatch):
    # equal windows are what large images get (their buffers are reused, see _allocator);
    # correlated noise runs the correlated-noise expert, whose radius is measured too
    from sklearn_denoise.noise import correlated_gaussian

    monkeypatch.setattr(_inference, "engages", lambda largest_buffer: equal_windows)
    color = name == "color"
    clean = load_sample_images(color=color)[0][None, :200, :232].astype(np.float32) / 255
    if noise == "white":
        noisy = gaussian(clean, 25 / 255, random_state=0).astype(np.float32)
    else:
        noisy = correlated_gaussian(clean, 20 / 255, random_state=0).astype(np.float32)
    den = CNNDenoiser.pretrained(name, tile_size=65536)
    if noise == "correlated":
        from sklearn_denoise._noise_level import correlated_level

        assert correlated_level(noisy[0, ..., None]) is not None
    whole = den.transform(noisy)
    tiled = den.set_params(tile_size=48).transform(noisy)
    assert np.abs(tiled - whole).max() <= 2e-5


@needs_gray
@pytest.mark.data
@pytest.mark.slow
@pytest.mark.skipif(not SET12.is_dir(), reason="../shared/data/set12 is absent")
@pytest.mark.parametrize("equal_windows", [False, True])
@pytest.mark.parametrize("sigma255", [15, 25, 50])
def test_default_tiling_is_faithful_on_set12(sigma255, equal_windows, monkeypatch):
    from sklearn_denoise._io import read_image

    monkeypatch.setattr(_inference, "engages", lambda largest_buffer: equal_windows)
    den = CNNDenoiser.pretrained("gray")
    for k, path in enumerate(sorted(SET12.glob("*.png"))):
        clean = read_image(path)[None].astype(np.float32) / 255
        noisy = gaussian(clean, sigma255 / 255, random_state=k).astype(np.float32)
        whole = den.set_params(tile_size=65536).transform(noisy)
        tiled = den.set_params(tile_size=64).transform(noisy)
        assert np.abs(tiled - whole).max() <= 2e-5, path.name
        assert abs(psnr(clean, tiled) - psnr(clean, whole)) <= 0.01, path.name


@needs_gray
@pytest.mark.slow
def test_pretrained_peak_memory_at_4096_squared_is_bounded(peak_rss_mib):
    peak = peak_rss_mib(
        "import numpy as np\n"
        "from sklearn_denoise import CNNDenoiser\n"
        "rng = np.random.default_rng(0)\n"
        "big = rng.integers(0, 256, size=(1, 4096, 4096), dtype=np.uint8)\n"
        "out = CNNDenoiser.pretrained('gray').transform(big)\n"
        "assert out.shape == big.shape and out.dtype == big.dtype\n"
    )
    assert peak <= 1024, f"peak RSS {peak:.0f} MiB"


def test_the_peak_memory_probe_measures_the_child_not_the_test_session(peak_rss_mib):
    """ru_maxrss of a child spawned by a large process reports the parent's size on Linux
    (the memory test failed at 1027 MiB in a long CI session for a call that peaks at
    about 830 MiB alone); the probe reads the child's own VmHWM."""
    import numpy as np

    held = np.ones(512 * 2**20 // 8)  # 512 MiB resident in this process
    assert held.sum() > 0
    assert peak_rss_mib("pass") < 200


def test_image_axes_of_estimators_and_pipelines():
    from sklearn.pipeline import Pipeline

    from sklearn_denoise import TVDenoiser, WaveletDenoiser
    from sklearn_denoise.tiling import image_axes

    assert image_axes(FunctionTransformer()) == "YX"
    assert image_axes(WaveletDenoiser(axes="zyx")) == "ZYX"
    both = Pipeline([("a", WaveletDenoiser(axes="ZYX")), ("b", TVDenoiser(axes="ZYX"))])
    assert image_axes(both) == "ZYX"
    mixed = Pipeline([("a", WaveletDenoiser(axes="ZYX")), ("b", TVDenoiser())])
    with pytest.raises(ValueError, match="disagree on axes"):
        image_axes(mixed)
