"""Weight files and training checkpoints: range checks, shapes, checksums, no unpickling."""

import json
import pickle

import numpy as np
import pytest
import torch

from sklearn_denoise import CNNDenoiser
from sklearn_denoise._modules import build_module, receptive_radius
from sklearn_denoise._tiling import make_contract
from sklearn_denoise._weights import (
    CONFIG_LIMITS,
    check_config,
    content_digest,
    load_checkpoint,
    load_weights,
    save_weights,
)
from sklearn_denoise.noise import Degradation

CONFIG = {"architecture": "unet", "channels": 1, "depth": 2, "width": 4, "blocks": 1,
          "noise_level_input": False}
TINY = dict(width=4, depth=2, blocks=1, train_sigma=(0.0, 0.2), patch_size=16,
            patches_per_image=2, random_state=0)


def _images(n=3, size=24, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, size, size)).astype(np.float32)


def _rewrite(path, change, *, checksum=True):
    """Load a file's payload, apply ``change`` and save it, with a valid checksum."""
    payload = torch.load(path, weights_only=True)
    change(payload)
    if checksum:
        payload["sha256"] = content_digest(payload)
    torch.save(payload, path)
    return path


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(0)
    return save_weights(tmp_path / "w.pt", CONFIG, build_module(**CONFIG).state_dict())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"blocks": 100000}, r"blocks must be in \[1, 16\], got 100000"),
        ({"width": 200000}, r"width must be in \[1, 512\], got 200000"),
        ({"depth": -3}, r"depth of unet must be in \[1, 8\], got -3"),
        ({"depth": 9}, r"depth of unet must be in \[1, 8\]"),
        ({"architecture": "dncnn", "depth": 65}, r"depth of dncnn must be in \[2, 64\]"),
        ({"architecture": "dncnn", "depth": 1}, r"depth of dncnn must be in \[2, 64\]"),
        ({"channels": 5}, r"channels must be in \[1, 4\]"),
        ({"channels": 0}, r"channels must be in \[1, 4\]"),
        ({"architecture": "UNet"}, "unknown architecture 'UNet'"),
        ({"depth": True}, "'depth' is missing or not an integer"),
        ({"noise_level_input": 1}, "'noise_level_input' is missing or not a boolean"),
        ({"extra": 1}, r"unexpected configuration entries \['extra'\]"),
        ({"bottom_blocks": 0}, r"bottom_blocks must be an integer in \[1, 32\], got 0"),
        ({"bottom_blocks": 3.0}, r"bottom_blocks must be an integer in \[1, 32\]"),
        ({"architecture": "dncnn", "depth": 5, "bottom_blocks": 2},
         "bottom_blocks is a U-Net setting"),
        ({"top_width": 513}, r"top_width must be an integer in \[1, 512\], got 513"),
        ({"top_width": "32"}, r"top_width must be an integer in \[1, 512\]"),
        ({"architecture": "dncnn", "depth": 5, "top_width": 8}, "top_width is a U-Net setting"),
        ({"context_planes": 9}, r"context_planes must be an integer in \[0, 8\], got 9"),
        ({"context_planes": -1}, r"context_planes must be an integer in \[0, 8\]"),
        ({"architecture": "dncnn", "depth": 5, "context_planes": 2},
         "context_planes is a U-Net setting"),
        ({"architecture": "n2v2", "context_planes": 2}, "context_planes is a U-Net setting"),
    ],
)
def test_config_is_range_checked_before_building(weights, change, message):
    with pytest.raises(ValueError, match=message):
        check_config({**CONFIG, **change})
    _rewrite(weights, lambda p: p["config"].update(change))
    with pytest.raises(ValueError, match=message):
        load_weights(weights)
    with pytest.raises(ValueError, match=message):
        CNNDenoiser.load(weights)


def test_limits_are_those_documented():
    assert CONFIG_LIMITS == {"channels": (1, 4),
                             "depth": {"unet": (1, 8), "n2v2": (1, 8), "dncnn": (2, 64),
                                       "noise-level": (3, 16)},
                             "width": (1, 512), "blocks": (1, 16), "bottom_blocks": (1, 32),
                             "top_width": (1, 512), "context_planes": (0, 8)}
    for architecture, (low, high) in CONFIG_LIMITS["depth"].items():
        for depth in (low, high):  # the bounds themselves are accepted
            check_config({**CONFIG, "architecture": architecture, "depth": depth})


def test_a_unet_with_a_wider_first_level_round_trips(tmp_path):
    config = {**CONFIG, "top_width": 6}
    module = build_module(**config)
    assert module.head.out_channels == 6 and module.tail.in_channels == 6
    assert module.down[0][-1].out_channels == 2 * CONFIG["width"]  # the next level keeps its width
    path = save_weights(tmp_path / "w.pt", config, module.state_dict())
    assert load_weights(path)[0] == config
    with pytest.raises(ValueError, match="shape"):  # a top_width the tensors do not have
        _rewrite(path, lambda p: p["config"].update(top_width=8))
        load_weights(path)
    save_weights(path, config, module.state_dict())
    den = CNNDenoiser(init_weights=str(path), max_epochs=1, random_state=0).fit(
        _images()[:1], _images()[:1])
    assert den.net_.get_params()["module__top_width"] == 6
    resumed = CNNDenoiser.load_checkpoint(den.save_checkpoint(tmp_path / "c.pt"))
    assert resumed.config_["top_width"] == 6
    # equal up to float rounding: n_threads=None follows the machine's load between calls
    np.testing.assert_allclose(resumed.transform(_images()[:1]), den.transform(_images()[:1]),
                               atol=1e-6)


def test_a_noise_level_estimator_is_not_a_denoiser(tmp_path):
    from sklearn_denoise.networks import NoiseLevelNet

    config = {**CONFIG, "architecture": "noise-level", "depth": 4, "noise_level_input": False}
    path = save_weights(tmp_path / "nl.pt", config, NoiseLevelNet(1, 4, 4).state_dict())
    assert load_weights(path)[0]["architecture"] == "noise-level"  # a valid weight file
    with pytest.raises(ValueError, match="not a denoiser"):
        CNNDenoiser.load(path)
    with pytest.raises(ValueError, match="Unknown noise-level estimator"):
        from sklearn_denoise._noise_level import load_estimator

        load_estimator(str(path))  # only shipped estimators, never a path from metadata


def test_a_unet_with_its_own_bottom_depth_round_trips(tmp_path):
    config = {**CONFIG, "blocks": 2, "bottom_blocks": 1}
    module = build_module(**config)
    assert len(module.bottom) == 1 and len(build_module(**CONFIG).bottom) == 2
    path = save_weights(tmp_path / "w.pt", config, module.state_dict())
    loaded, state, _ = load_weights(path)
    assert loaded == config and state.keys() == module.state_dict().keys()
    den = CNNDenoiser(init_weights=str(path), max_epochs=0).fit(_images()[:1])
    assert den.net_.get_params()["module__bottom_blocks"] == 1
    assert den.spatial_contract() == make_contract(receptive_radius("unet", 2, 2, 1), 2)
    assert receptive_radius("unet", 2, 2, 1) < receptive_radius("unet", 2, 2)


def test_saving_an_out_of_range_config_is_refused(tmp_path):
    with pytest.raises(ValueError, match="blocks must be in"):
        save_weights(tmp_path / "w.pt", {**CONFIG, "blocks": 17}, {})
    assert list(tmp_path.iterdir()) == []


def test_tensor_shapes_must_match_the_module(weights):
    _rewrite(weights, lambda p: p["config"].update(width=8))  # tensors are for width 4
    with pytest.raises(ValueError, match=r"tensor 'head.weight' has shape \(4, 1, 3, 3\), "
                       r"but the module .* needs \(8, 1, 3, 3\)"):
        load_weights(weights)


def test_missing_and_unexpected_tensors(weights):
    def change(payload):
        payload["state_dict"]["extra.weight"] = payload["state_dict"].pop("tail.weight")

    _rewrite(weights, change)
    with pytest.raises(ValueError, match=r"missing \['tail.weight'\], unexpected "
                       r"\['extra.weight'\]"):
        load_weights(weights)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights_are_refused(weights, value):
    _rewrite(weights, lambda p: p["state_dict"]["head.bias"].__setitem__(0, value))
    with pytest.raises(ValueError, match="'head.bias' holds NaN or infinite values"):
        load_weights(weights)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_the_finiteness_check_sees_every_float_dtype(dtype, value):
    from sklearn_denoise._weights import _check_finite

    state = {"a": torch.zeros(4, dtype=dtype), "steps": torch.tensor(3)}
    _check_finite(state, "f")  # finite, and integer tensors are skipped
    state["a"][2] = value
    with pytest.raises(ValueError, match="f: tensor 'a' holds NaN or infinite values"):
        _check_finite(state, "f")
    _check_finite({"b": torch.ones(2, requires_grad=True)}, "f")


def test_saving_non_finite_weights_is_refused(tmp_path):
    state = build_module(**CONFIG).state_dict()
    state["head.bias"][0] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        save_weights(tmp_path / "w.pt", CONFIG, state)
    # float16 overflows to inf: checked after the conversion
    state = build_module(**CONFIG).state_dict()
    state["head.bias"][0] = 1e6
    with pytest.raises(ValueError, match="NaN or infinite"):
        save_weights(tmp_path / "w.pt", CONFIG, state, half=True)
    assert list(tmp_path.iterdir()) == []


DNCNN = {"architecture": "dncnn", "channels": 1, "depth": 4, "width": 4, "blocks": 1,
         "noise_level_input": False}


def _dncnn_weights(path):
    torch.manual_seed(0)
    return save_weights(path, DNCNN, build_module(**DNCNN).state_dict())


@pytest.mark.parametrize(
    ("change", "message"),
    [  # issue 29: each of these loaded, and the network returned NaN
        (lambda sd: sd["body.3.running_var"].__setitem__(1, -0.5),
         r"'body.3.running_var' holds negative values: a BatchNorm variance"),
        (lambda sd: sd["body.0.bias"].__setitem__(0, 3e38),
         r"'body.0.bias' holds values of magnitude up to 3e\+38, above the 1e\+08"),
        (lambda sd: sd.__setitem__("body.0.weight", sd["body.0.weight"].to(torch.complex64)),
         r"'body.0.weight' is torch.complex64, but the module holds real floating-point"),
        (lambda sd: sd.__setitem__("body.0.weight", sd["body.0.weight"].to(torch.int32)),
         r"'body.0.weight' is torch.int32, but the module holds real floating-point"),
        (lambda sd: sd.__setitem__("body.3.num_batches_tracked", torch.tensor(1.5)),
         r"'body.3.num_batches_tracked' is torch.float32, but the module holds integers"),
    ],
)
def test_crafted_tensor_values_are_refused(tmp_path, change, message):
    path = _dncnn_weights(tmp_path / "w.pt")
    _rewrite(path, lambda p: change(p["state_dict"]))
    with pytest.raises(ValueError, match=message):
        load_weights(path)
    with pytest.raises(ValueError, match=message):
        CNNDenoiser.load(path)


def test_weights_whose_network_overflows_are_refused(weights):
    # every value within the magnitude bound, but the network's output overflows
    def change(payload):
        for tensor in payload["state_dict"].values():
            tensor.fill_(1e7)

    _rewrite(weights, change)
    with pytest.raises(ValueError, match="the network returns NaN or infinite values on a "
                       "test image"):
        load_weights(weights)


def test_a_model_whose_output_is_not_finite_is_never_saved(tmp_path):
    # issue 29: training that diverged saved a model that returns NaN
    den = CNNDenoiser(**TINY, max_epochs=0).fit(_images())
    with torch.no_grad():
        for param in den.net_.module_.parameters():
            param.fill_(1e7)
    for save in (den.save, den.save_checkpoint):
        with pytest.raises(ValueError, match="network returns NaN or infinite values"):
            save(tmp_path / "w.pt")
    assert list(tmp_path.iterdir()) == []


def _zip_with(path, replace):
    """Rewrite the zip archive at ``path`` with the records in ``replace`` (name suffix ->
    bytes) stored deflated, as a crafted file would."""
    import zipfile

    with zipfile.ZipFile(path) as zf:
        records = {info.filename: zf.read(info) for info in zf.infolist()}
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in records.items():
            for suffix, new in replace.items():
                if name.endswith(suffix):
                    data = new
            zf.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    return path


@pytest.mark.parametrize("record", ["/data/0", "/data.pkl", "/byteorder"])
def test_records_that_inflate_beyond_the_module_are_refused_before_inflating(
        weights, monkeypatch, record):
    # issue 29: a 4.9 MB weight file whose tensor record inflates to 1.6 GB made load peak
    # at 1.8 GB before refusing it; the zip directory declares the size: read it first
    size = 80 * 2**20  # 80 MiB of zeros, deflated to about 80 KB
    _zip_with(weights, {record: bytes(size)})
    assert weights.stat().st_size < 2**20
    loads = []
    real_load = torch.load

    def spy(*args, **kwargs):
        loads.append(kwargs.get("map_location"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    with pytest.raises(ValueError, match=r"declares? \d+ bytes.*not inflated"):
        load_weights(weights)
    assert all(location == "meta" for location in loads)  # no tensor data was read


def test_tensors_the_structure_declares_beyond_the_module_are_refused(weights):
    # a tensor that is a view on a larger storage: torch.save writes the whole storage
    def change(payload):
        bias = payload["state_dict"]["head.bias"]
        payload["state_dict"]["head.bias"] = torch.zeros(2**19, dtype=bias.dtype)[:4]

    _rewrite(weights, change)
    with pytest.raises(ValueError, match="tensors declare .* bytes, more than the"):
        load_weights(weights)


def test_checksum_covers_tensors_settings_and_metadata(weights):
    payload = torch.load(weights, weights_only=True)
    assert payload["sha256"] == content_digest(payload)  # survives the save/load trip
    for change in (
        lambda p: p["state_dict"]["tail.bias"].add_(1e-6),
        lambda p: p["config"].update(blocks=2),
        lambda p: p["metadata"].update(data="something else"),
    ):
        modified = torch.load(weights, weights_only=True)
        change(modified)
        assert content_digest(modified) != payload["sha256"]
    _rewrite(weights, lambda p: p["state_dict"]["tail.bias"].add_(1.0), checksum=False)
    with pytest.raises(ValueError, match="fails its checksum"):
        load_weights(weights)


@pytest.mark.parametrize("floor", [1.0, -0.001, "0.001", True, float("nan")])
def test_a_noise_floor_out_of_range_is_refused(weights, floor):
    """A weight file's metadata may lower what the network denoises (``noise_floor``): it
    is range-checked like its settings."""
    _rewrite(weights, lambda p: p["metadata"].update(noise_floor=floor))
    with pytest.raises(ValueError, match="noise_floor must be a number in"):
        load_weights(weights)
    _rewrite(weights, lambda p: p["metadata"].update(noise_floor=0.001))
    assert load_weights(weights)[2]["noise_floor"] == 0.001


def test_checksum_does_not_depend_on_key_order_or_sequence_type():
    a = {"x": torch.arange(3), "y": [1, 2.5, None, "s"], "z": {2: True, "k": (1,)}}
    b = {"z": {"k": [1], 2: True}, "y": (1, 2.5, None, "s"), "x": torch.arange(3)}
    assert content_digest(a) == content_digest(b)
    assert content_digest(a) != content_digest({**a, "y": [1, 2.5, None, "t"]})
    assert content_digest(a) != content_digest({**a, "x": torch.arange(3).float()})  # dtype
    assert content_digest(a) != content_digest({**a, "x": torch.arange(3).reshape(3, 1)})


def test_files_without_checksum_are_refused(weights):
    _rewrite(weights, lambda p: p.pop("sha256"), checksum=False)
    with pytest.raises(ValueError, match="has no checksum"):
        load_weights(weights)


def test_pickles_are_never_loaded(tmp_path):
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    plain = tmp_path / "plain.pt"
    plain.write_bytes(pickle.dumps({"format": "sklearn-denoise-cnn", "x": Payload()}))
    zipped = tmp_path / "zipped.pt"
    torch.save({"format": "sklearn-denoise-cnn", "x": Payload()}, zipped)
    for path in (plain, zipped):
        with pytest.raises(ValueError, match="never unpickled"):
            load_weights(path)
        with pytest.raises(ValueError, match="never unpickled"):
            CNNDenoiser.load_checkpoint(path)
    assert not marker.exists()
    torch.load(zipped, weights_only=False)  # the payload is real
    assert marker.exists()


# ------------------------------------------------------------------ checkpoints
@pytest.fixture(scope="module")
def trained():
    return CNNDenoiser(**TINY).partial_fit(_images())


def test_checkpoint_resume_continues_exactly(trained, tmp_path):
    X = _images()
    path = trained.save_checkpoint(tmp_path / "ckpt.pt")
    resumed = CNNDenoiser.load_checkpoint(path)
    assert resumed.get_params() == trained.get_params()
    assert resumed.n_partial_fit_calls_ == 1 and len(resumed.history_) == 1
    assert resumed.history_[-1, "train_loss"] == trained.history_[-1, "train_loss"]
    assert resumed.config_ == trained.config_ and resumed.n_channels_in_ == 1
    saved, restored = trained.net_.optimizer_.state_dict(), resumed.net_.optimizer_.state_dict()
    assert saved["state"].keys() == restored["state"].keys()
    for k, entry in saved["state"].items():
        for name, value in entry.items():
            assert torch.equal(value, restored["state"][k][name]), (k, name)
    np.testing.assert_array_equal(resumed.transform(X), trained.transform(X))
    # one more epoch gives what an uninterrupted estimator gives, bit for bit
    straight = CNNDenoiser(**TINY).partial_fit(X).partial_fit(X)
    resumed.partial_fit(X)
    assert len(resumed.history_) == 2 and resumed.n_partial_fit_calls_ == 2
    for a, b in zip(straight.net_.module_.parameters(), resumed.net_.module_.parameters()):
        assert torch.equal(a, b)


def test_a_skorch_freezer_keeps_its_parameters_fixed_across_a_resume(tmp_path):
    """skorch's Freezer, passed again to load_checkpoint, keeps the bottom level fixed
    after a resume (how the correlated-noise expert is trained). Its default ``at=1``
    freezes only when the history is one epoch long, which a resumed run never is: the
    parameters must be frozen at every epoch."""
    from skorch.callbacks import Freezer

    X = _images()

    def freezer():
        return [("freezer", Freezer("bottom.*", at=lambda net: True))]

    den = CNNDenoiser(**TINY, callbacks=freezer()).partial_fit(X)
    start = {k: v.clone() for k, v in den.net_.module_.state_dict().items()}
    path = den.save_checkpoint(tmp_path / "ckpt.pt")
    resumed = CNNDenoiser.load_checkpoint(path, callbacks=freezer()).partial_fit(X)
    after = resumed.net_.module_.state_dict()
    assert all(torch.equal(after[k], start[k]) for k in start if k.startswith("bottom."))
    assert not torch.equal(after["head.weight"], start["head.weight"])
    default = CNNDenoiser.load_checkpoint(path, callbacks=[Freezer("bottom.*")]).partial_fit(X)
    assert not torch.equal(default.net_.module_.state_dict()["bottom.0.conv1.weight"],
                           start["bottom.0.conv1.weight"])


def test_checkpoint_keeps_a_degradation_model(tmp_path):
    mixture = Degradation(weights=(0.6, 0.2, 0.2), jpeg_probability=0.1)
    den = CNNDenoiser(**{**TINY, "noise_level_input": True, "train_noise": mixture})
    den.partial_fit(_images())
    resumed = CNNDenoiser.load_checkpoint(den.save_checkpoint(tmp_path / "ckpt.pt"))
    assert resumed.train_noise == mixture and isinstance(resumed.train_noise, Degradation)
    assert resumed.get_params() == den.get_params()
    weights = den.save(tmp_path / "w.pt")
    assert CNNDenoiser(init_weights=str(weights)).fit(_images()[:1]).weights_metadata_[
        "train_noise"] == "realistic"


def test_checkpoint_of_a_unet_with_its_own_bottom_depth_resumes(tmp_path):
    # weight-file-only settings (bottom_blocks) come back from the checkpoint, not from
    # the estimator's parameters (a regression: resuming such a run used to fail)
    config = {**CONFIG, "blocks": 2, "bottom_blocks": 1}
    weights = save_weights(tmp_path / "w.pt", config, build_module(**config).state_dict())
    den = CNNDenoiser(**{**TINY, "depth": None, "width": None, "blocks": None},
                      init_weights=str(weights)).partial_fit(_images())
    resumed = CNNDenoiser.load_checkpoint(den.save_checkpoint(tmp_path / "ckpt.pt"))
    assert resumed.config_ == den.config_ and resumed.config_["bottom_blocks"] == 1
    assert len(resumed.net_.module_.bottom) == 1
    np.testing.assert_array_equal(resumed.transform(_images()), den.transform(_images()))
    resumed.partial_fit(_images())
    assert len(resumed.history_) == 2


def test_checkpoint_keeps_init_weights_and_takes_overrides(tmp_path):
    start = CNNDenoiser(**TINY).partial_fit(_images())
    weights = start.save(tmp_path / "start.pt")
    tuned = CNNDenoiser(init_weights=str(weights), train_sigma=0.1, patch_size=16,
                        random_state=1).partial_fit(_images())
    path = tuned.save_checkpoint(tmp_path / "ckpt.pt")
    weights.unlink()  # not needed to resume
    resumed = CNNDenoiser.load_checkpoint(path, verbose=0, lr=5e-4)
    assert resumed.init_weights == str(weights) and resumed.depth is None
    assert resumed.lr == 5e-4 and resumed.config_["depth"] == 2
    assert resumed.weights_metadata_ == tuned.weights_metadata_
    with pytest.raises(ValueError, match="width=8 does not match the checkpoint"):
        CNNDenoiser.load_checkpoint(path, width=8)


def _checkpoint_entry(name, value):
    def change(payload):
        entry = json.loads(payload[name])
        entry.update(value)
        payload[name] = json.dumps(entry)
    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_checkpoint_entry("params", {"batch_size": 10**9}),
         r"parameter batch_size must be an integer in \[1, 4096\]"),
        (_checkpoint_entry("params", {"patch_size": -1}), "parameter patch_size"),
        (_checkpoint_entry("params", {"lr": -1.0}), "lr must be > 0"),
        (_checkpoint_entry("params", {"random_state": "0"}), "random_state='0' cannot be"),
        (_checkpoint_entry("params", {"bogus": 1}), r"unknown estimator parameters \['bogus'\]"),
        (_checkpoint_entry("params", {"train_noise": "magic"}), "train_noise must be one of"),
        (_checkpoint_entry("params", {"train_noise": {"weights": [1, 0, 0]}}),
         "invalid train_noise: Degradation settings must have the keys"),
        (_checkpoint_entry("params", {"train_noise": {**Degradation().to_dict(),
                                                      "jpeg_probability": 7}}),
         "invalid train_noise: jpeg_probability"),
        (_checkpoint_entry("fitted", {"n_channels_in": 7}), r"n_channels_in must be .* \[1, 4\]"),
        (_checkpoint_entry("fitted", {"training_mode": "magic"}), "training_mode must be one"),
        (_checkpoint_entry("fitted", {"seed": -5}), "seed must be an integer"),
        (lambda p: p.update(history="not json"), "'history' is missing or invalid"),
        (lambda p: p["config"].update(blocks=100000), r"blocks must be in \[1, 16\]"),
        (lambda p: p["optimizer"]["param_groups"][0].update(lr=float("nan")),
         "hyper-parameter 'lr'"),
        (lambda p: p["optimizer"]["param_groups"][0].update(betas=(0.9, 1.5)),
         r"hyper-parameter betas=\(0.9, 1.5\)"),
        (lambda p: p["optimizer"]["state"][0].update(exp_avg=torch.zeros(1)),
         r"exp_avg of shape \(1,\) for a parameter of shape"),
        (lambda p: p["optimizer"]["state"][0]["exp_avg_sq"].fill_(float("inf")),
         "NaN or infinite"),
        (lambda p: p["optimizer"]["state"][0].update(code="print()"),
         "invalid optimizer state"),
        (lambda p: p["optimizer"]["param_groups"][0]["params"].pop(),
         "state for unknown parameters"),
        (lambda p: p["optimizer"]["state"].pop(p["optimizer"]["param_groups"][0]["params"]
                                               .pop()),
         "different number of parameters"),
    ],
)
def test_crafted_checkpoints_are_refused(trained, tmp_path, change, message):
    path = _rewrite(trained.save_checkpoint(tmp_path / "ckpt.pt"), change)
    with pytest.raises(ValueError, match=message):
        CNNDenoiser.load_checkpoint(path)


def test_checkpoint_and_weight_file_are_not_interchangeable(trained, tmp_path):
    ckpt = trained.save_checkpoint(tmp_path / "ckpt.pt")
    weights = trained.save(tmp_path / "w.pt")
    with pytest.raises(ValueError, match="not a sklearn-denoise weight file .it is a "
                       "checkpoint"):
        load_weights(ckpt)
    with pytest.raises(ValueError, match="not a sklearn-denoise checkpoint .it is a weight"):
        load_checkpoint(weights)
    _rewrite(ckpt, lambda p: p["state_dict"]["tail.bias"].add_(1), checksum=False)
    with pytest.raises(ValueError, match="fails its checksum"):
        CNNDenoiser.load_checkpoint(ckpt)


def test_checkpoint_stores_a_noise_model_parameter(tmp_path):
    from sklearn_denoise.noise import NoiseModel

    model = NoiseModel(gain=0.01, read_noise=0.02, black_level=0.05)
    est = CNNDenoiser(**TINY, noise_model=model).partial_fit(_images())
    path = est.save_checkpoint(tmp_path / "ckpt.pt")
    assert CNNDenoiser.load_checkpoint(path).noise_model == model
    change = _checkpoint_entry("params", {"noise_model": {"gain": -1.0, "read_noise": 0.0,
                                                          "black_level": 0.0}})
    with pytest.raises(ValueError, match="invalid noise_model: gain must be >= 0"):
        CNNDenoiser.load_checkpoint(_rewrite(path, change))
    change = _checkpoint_entry("params", {"noise_model": {"gain": 1.0, "code": "x"}})
    with pytest.raises(ValueError, match="invalid noise_model"):
        CNNDenoiser.load_checkpoint(_rewrite(path, change))


# ------------------------------------------------------------------------------ deltas
def _delta_payload(tmp_path):
    """A delta of a tiny U-Net: its head changed, the rest as in the base."""
    from sklearn_denoise._weights import save_weight_delta

    torch.manual_seed(0)
    base = build_module(**{**CONFIG, "bottom_blocks": None}).state_dict()
    changed = {k: v.clone() for k, v in base.items()}
    changed["head.weight"] += 0.5
    path = save_weight_delta(tmp_path / "delta.pt", CONFIG, changed, base, {"base": "x"})
    return path, base, changed


def test_a_weight_delta_holds_only_what_changed_and_is_checked(tmp_path):
    from sklearn_denoise._weights import DELTA_FORMAT_NAME, _read, save_weight_delta

    path, base, changed = _delta_payload(tmp_path)
    payload = _read(path, DELTA_FORMAT_NAME, "weight delta", partial=True)
    assert list(payload["state_dict"]) == ["head.weight"]
    assert torch.allclose(payload["state_dict"]["head.weight"], changed["head.weight"],
                          atol=1e-3)
    with pytest.raises(ValueError, match="is a weight delta"):
        load_weights(path)  # not a whole network
    with pytest.raises(ValueError, match="no delta"):
        save_weight_delta(tmp_path / "same.pt", CONFIG, base, base)
    assert not (tmp_path / "same.pt").exists()
    for change, message in [
        (lambda p: p["state_dict"].update(extra=torch.zeros(1)), "unexpected"),
        (lambda p: p["state_dict"].update({"head.weight": torch.zeros(2, 2)}), "shape"),
        (lambda p: p["state_dict"].update({"head.weight": torch.full_like(
            p["state_dict"]["head.weight"], float("nan"))}), "NaN"),
        (lambda p: p.update(state_dict={}), "no valid state_dict"),
    ]:
        bad = _rewrite(_delta_payload(tmp_path)[0], change)
        with pytest.raises(ValueError, match=message):
            _read(bad, DELTA_FORMAT_NAME, "weight delta", partial=True)
    tampered = _rewrite(_delta_payload(tmp_path)[0], lambda p: p["metadata"].update(base="y"),
                        checksum=False)
    with pytest.raises(ValueError, match="checksum"):
        _read(tampered, DELTA_FORMAT_NAME, "weight delta", partial=True)


def test_only_registered_experts_load():
    from sklearn_denoise._weights import load_expert

    for name in ("gray", "noise-level", "../gray.pt", "missing"):
        with pytest.raises(ValueError, match="Unknown expert weights"):
            load_expert(name)
