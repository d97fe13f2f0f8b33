import copy
import pickle

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from skorch.callbacks import Checkpoint, EarlyStopping, LoadInitState, LRScheduler

from sklearn_denoise import CNNDenoiser
from sklearn_denoise.datasets import load_sample_images
from sklearn_denoise.metrics import psnr, psnr_scorer
from sklearn_denoise.networks import UNet
from sklearn_denoise.noise import gaussian, poisson

SMALL = dict(architecture="unet", depth=2, width=16, blocks=1, patch_size=32, batch_size=16)
SIGMA = 25 / 255


@pytest.fixture(scope="module")
def clean():
    images = load_sample_images(size=96).astype(np.float32) / 255
    return images[:4], images[4:]  # train, held-out


@pytest.fixture(scope="module")
def trained(clean):
    train, _ = clean
    # every image trains (4 images: holding one out for validation costs about 1 dB)
    return CNNDenoiser(**SMALL, train_sigma=SIGMA, max_epochs=12, patches_per_image=16,
                       validation_fraction=0.0, random_state=0).fit(train)


def _weights(den):
    return [p.detach().clone() for p in den.net_.module_.parameters()]


def test_synthetic_training_lowers_error_on_held_out_images(trained, clean):
    _, test = clean
    noisy = gaussian(test, SIGMA, random_state=1).astype(np.float32)
    assert psnr(test, trained.transform(noisy)) > psnr(test, noisy) + 2.0
    assert trained.training_mode_ == "synthetic"


@pytest.mark.slow
def test_supervised_training_lowers_error_on_held_out_images(clean):
    train, test = clean
    noisy_train = gaussian(train, SIGMA, random_state=0).astype(np.float32)
    den = CNNDenoiser(**SMALL, max_epochs=12, patches_per_image=16, validation_fraction=0.0,
                      random_state=0)
    den.fit(noisy_train, train)
    assert den.training_mode_ == "supervised"
    noisy = gaussian(test, SIGMA, random_state=1).astype(np.float32)
    assert psnr(test, den.transform(noisy)) > psnr(test, noisy) + 2.0


@pytest.mark.slow
def test_self_supervised_training_lowers_error_on_held_out_images(clean):
    train, test = clean
    noisy_train = gaussian(train, SIGMA, random_state=0).astype(np.float32)
    den = CNNDenoiser(**SMALL, max_epochs=15, patches_per_image=16, mask_ratio=0.05,
                      validation_fraction=0.0, random_state=0)
    den.fit(noisy_train)  # no clean images anywhere
    assert den.training_mode_ == "self_supervised"
    noisy = gaussian(test, SIGMA, random_state=1).astype(np.float32)
    assert psnr(test, den.transform(noisy)) > psnr(test, noisy) + 1.0


def test_class_labels_as_y_mean_no_target(clean):
    train, _ = clean
    labels = np.arange(len(train))
    den = CNNDenoiser(**SMALL, train_sigma=SIGMA, max_epochs=1, random_state=0)
    assert den.fit(train, labels).training_mode_ == "synthetic"


def test_clean_y_with_train_sigma_is_ambiguous(clean):
    train, _ = clean
    with pytest.raises(ValueError, match="Ambiguous"):
        CNNDenoiser(**SMALL, train_sigma=SIGMA, max_epochs=1).fit(train, train)


def test_partial_fit_continues_training(clean):
    train, _ = clean
    den = CNNDenoiser(**SMALL, train_sigma=SIGMA, patches_per_image=8, random_state=0)
    den.partial_fit(train)
    assert len(den.history_) == 1
    steps_after_first = _adam_steps(den)
    before = _weights(den)
    for _ in range(5):
        den.partial_fit(train)
    assert len(den.history_) == 6
    assert _adam_steps(den) == 6 * steps_after_first  # optimizer state kept, not reset
    assert any(not torch.equal(a, b) for a, b in zip(before, _weights(den)))
    losses = den.history_[:, "train_loss"]
    assert np.mean(losses[-2:]) < losses[0]
    den.partial_fit(train, epochs=2)
    assert len(den.history_) == 8


def test_loss_sets_the_criterion_and_can_change_between_calls(clean, tmp_path):
    train, _ = clean
    den = CNNDenoiser(**SMALL, train_sigma=SIGMA, loss="l1", max_epochs=4, random_state=0)
    den.partial_fit(train)
    assert (den.net_.criterion_.kind, den.net_.criterion_.masked) == ("l1", False)
    steps = _adam_steps(den)
    # L1 then L2: the optimizer's state carries over
    den.set_params(loss="mse").partial_fit(train)
    assert den.net_.criterion_.kind == "mse" and _adam_steps(den) == 2 * steps
    resumed = CNNDenoiser.load_checkpoint(
        den.set_params(loss="psnr").save_checkpoint(tmp_path / "c.pt"))
    assert resumed.loss == "psnr"
    resumed.partial_fit(train)
    assert resumed.net_.criterion_.kind == "psnr" and resumed.history_[-1, "train_loss"] < 0
    # blind-spot training applies the loss to the masked pixels
    noisy = train + np.random.default_rng(0).normal(0, SIGMA, train.shape).astype(np.float32)
    masked = CNNDenoiser(**SMALL, loss="l1", max_epochs=1, random_state=0).fit(noisy)
    assert masked.training_mode_ == "self_supervised"
    assert (masked.net_.criterion_.kind, masked.net_.criterion_.masked) == ("l1", True)


def _adam_steps(den):
    state = den.net_.optimizer_.state_dict()["state"]
    return int(next(iter(state.values()))["step"])


def test_partial_fit_rejects_other_channel_count(clean):
    train, _ = clean
    den = CNNDenoiser(**SMALL, train_sigma=SIGMA, random_state=0).partial_fit(train)
    rgb = np.repeat(train[..., None], 3, axis=-1)
    with pytest.raises(ValueError, match="channel"):
        den.partial_fit(rgb)
    with pytest.raises(ValueError, match="channel"):
        den.transform(rgb)


def _cosine(epoch, total):
    return 0.01 + 0.99 * 0.5 * (1 + np.cos(np.pi * (epoch % total) / total))


def test_partial_fit_lr_follows_set_params(clean):
    train, _ = clean
    den = CNNDenoiser(**SMALL, train_sigma=SIGMA, max_epochs=4, random_state=0)
    den.partial_fit(train)
    den.set_params(lr=1e-5).partial_fit(train)
    # the second epoch of the cosine over max_epochs, from the new initial rate
    assert den.history_[-1, "event_lr"] == pytest.approx(1e-5 * _cosine(1, 4))


def test_partial_fit_continues_the_cosine_schedule_of_fit(clean):
    train, _ = clean
    whole = CNNDenoiser(**SMALL, train_sigma=SIGMA, max_epochs=6, random_state=0).fit(train)
    steps = CNNDenoiser(**SMALL, train_sigma=SIGMA, max_epochs=6, random_state=0)
    for _ in range(3):
        steps.partial_fit(train, epochs=2)
    expected = [1e-3 * _cosine(e, 6) for e in range(6)]
    np.testing.assert_allclose(whole.history_[:, "event_lr"], expected, rtol=1e-6)
    np.testing.assert_allclose(steps.history_[:, "event_lr"], expected, rtol=1e-6)
    # a complete cycle is followed by a new one at lr (warm restart)
    steps.partial_fit(train)
    assert steps.history_[-1, "event_lr"] == pytest.approx(1e-3)


def test_pretrained_fine_tuning_starts_a_cosine_at_lr(clean):
    train, _ = clean
    den = CNNDenoiser.pretrained("gray", lr=1e-4, max_epochs=3, validation_fraction=0.0)
    den.partial_fit(train[:1])
    den.partial_fit(train[:1])
    np.testing.assert_allclose(den.history_[:, "event_lr"],
                               [1e-4 * _cosine(0, 3), 1e-4 * _cosine(1, 3)], rtol=1e-6)


def test_user_lr_scheduler_replaces_the_cosine(clean):
    train, _ = clean
    step = LRScheduler("StepLR", step_size=1, gamma=0.1)
    den = CNNDenoiser(**SMALL, train_sigma=SIGMA, max_epochs=3, callbacks=[step],
                      random_state=0).fit(train)
    np.testing.assert_allclose(den.history_[:, "event_lr"], [1e-3, 1e-4, 1e-5], rtol=1e-6)
    np.testing.assert_allclose(den.net_.optimizer_.param_groups[0]["lr"], 1e-6, rtol=1e-6)
    constant = CNNDenoiser(**SMALL, train_sigma=SIGMA, max_epochs=2, lr_schedule="constant",
                           random_state=0).fit(train)
    assert "event_lr" not in constant.history_[-1]
    assert constant.net_.optimizer_.param_groups[0]["lr"] == 1e-3


def test_default_early_stopping_and_checkpoint_monitor_the_validation_loss(
        clean, tmp_path, monkeypatch):
    train, _ = clean
    monkeypatch.chdir(tmp_path)  # Checkpoint() writes to the working directory
    stop = EarlyStopping()
    # a rate too small to move the weights: the validation loss stalls from the start
    den = CNNDenoiser(**SMALL, train_sigma=SIGMA, max_epochs=30, lr=1e-9,
                      callbacks=[stop, Checkpoint()], random_state=0).fit(train)
    history = den.history_
    assert all(np.isfinite(history[:, "valid_loss"]))
    assert len(history) == stop.patience + 1  # stopped by the stalled validation loss
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "criterion.pt", "history.json", "optimizer.pt", "params.pt"]
    assert history[0, "event_cp"] is True  # the first epoch is the best one seen


def test_load_init_state_resumes_from_a_skorch_checkpoint(clean, tmp_path):
    train, _ = clean
    checkpoint = Checkpoint(dirname=tmp_path, monitor=None)
    first = CNNDenoiser(**SMALL, train_sigma=SIGMA, max_epochs=2, callbacks=[checkpoint],
                        random_state=0).fit(train)
    resumed = CNNDenoiser(**SMALL, train_sigma=SIGMA, max_epochs=4, random_state=1,
                          callbacks=[LoadInitState(Checkpoint(dirname=tmp_path))])
    resumed.partial_fit(train, epochs=0 + 1)
    # the history and the schedule continue: epoch 3 of the cosine over 4 epochs
    assert len(resumed.history_) == 3
    assert resumed.history_[-1, "event_lr"] == pytest.approx(1e-3 * _cosine(2, 4))
    assert resumed.history_[:2, "train_loss"] == first.history_[:, "train_loss"]


def test_validation_split_holds_out_images(clean):
    train, _ = clean
    den = CNNDenoiser(**SMALL, train_sigma=SIGMA, max_epochs=2, random_state=0).fit(train)
    held_out = den._held_out(len(train))
    assert len(held_out) == 1  # 10 % of 4 images, at least one
    assert "valid_loss" in den.history_[-1]
    # the same validation patches every epoch: a model that does not train scores alike
    frozen = CNNDenoiser(**SMALL, train_sigma=SIGMA, max_epochs=2, lr=1e-12,
                         random_state=0).fit(train)
    assert frozen.history_[0, "valid_loss"] == pytest.approx(frozen.history_[1, "valid_loss"],
                                                             rel=1e-6)
    for params, X in [({"validation_fraction": 0.0}, train), ({}, train[:1])]:
        alone = CNNDenoiser(**SMALL, train_sigma=SIGMA, max_epochs=1, random_state=0,
                            **params).fit(X)
        assert "valid_loss" not in alone.history_[-1]


@pytest.mark.parametrize("value", [1.0, -0.1, "10%"])
def test_validation_fraction_is_checked(clean, value):
    with pytest.raises((ValueError, TypeError), match="validation_fraction"):
        CNNDenoiser(**SMALL, train_sigma=SIGMA, validation_fraction=value).fit(clean[0])


def test_skorch_builds_the_module_from_module_parameters(clean):
    den = CNNDenoiser(**SMALL, train_sigma=SIGMA, max_epochs=0, random_state=0).fit(clean[0])
    params = den.net_.get_params()
    assert params["module"] is UNet
    assert {k: params[f"module__{k}"] for k in ("channels", "depth", "width", "blocks")} == {
        "channels": 1, "depth": 2, "width": 16, "blocks": 1}
    assert isinstance(den.net_.module_, UNet)


@pytest.mark.slow
def test_fine_tuning_on_new_noise_type_improves(trained, clean):
    train, test = clean
    peak = 30.0
    noisy_train = poisson(train, peak, random_state=0).astype(np.float32)
    noisy_test = poisson(test, peak, random_state=1).astype(np.float32)
    before = psnr(test, trained.transform(noisy_test))
    tuned = pickle.loads(pickle.dumps(trained))
    tuned.set_params(train_sigma=None, lr=5e-4)
    for _ in range(6):
        tuned.partial_fit(noisy_train, train)
    assert tuned.training_mode_ == "supervised"
    assert psnr(test, tuned.transform(noisy_test)) > before + 0.3


def test_determinism_same_seed_same_weights(clean):
    train, _ = clean
    params = dict(**SMALL, train_sigma=(0.0, 0.2), max_epochs=2, random_state=3)
    a, b = CNNDenoiser(**params).fit(train), CNNDenoiser(**params).fit(train)
    assert all(torch.equal(x, y) for x, y in zip(_weights(a), _weights(b)))
    c = CNNDenoiser(**{**params, "random_state": 4}).fit(train)
    assert not all(torch.equal(x, y) for x, y in zip(_weights(a), _weights(c)))


@pytest.mark.parametrize("architecture", ["unet", "dncnn"])
def test_tiled_inference_equals_untiled(architecture):
    rng = np.random.RandomState(0)
    image = rng.uniform(size=(1, 150, 170)).astype(np.float32)
    params = dict(architecture=architecture, depth=3, width=16, blocks=1, max_epochs=1,
                  patches_per_image=2, patch_size=32, train_sigma=0.1, random_state=0)
    den = CNNDenoiser(**params, tile_size=4096).fit(image)
    whole = den.transform(image)
    den.set_params(tile_size=40)
    tiled = den.transform(image)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def test_self_ensemble_averages_mirrored_and_turned_passes(trained, clean):
    _, test = clean
    noisy = gaussian(test[:1, :64, :80], SIGMA, random_state=0).astype(np.float32)
    single = trained.transform(noisy)
    mirrored = trained.transform(noisy[:, :, ::-1].copy())[:, :, ::-1]
    try:
        trained.set_params(self_ensemble=2)
        np.testing.assert_allclose(trained.transform(noisy), (single + mirrored) / 2,
                                   atol=1e-6)
        # eight passes on a non-square image, tiled: the quarter turns swap its sides
        trained.set_params(self_ensemble=8)
        whole = trained.transform(noisy)
        tiled = trained.set_params(tile_size=32).transform(noisy)
        assert whole.shape == noisy.shape
        np.testing.assert_allclose(tiled, whole, atol=1e-5)
        assert psnr(test[:1, :64, :80], whole) > psnr(test[:1, :64, :80], single)
    finally:
        trained.set_params(self_ensemble=1, tile_size=768)


@pytest.mark.slow
def test_large_image_memory_is_bounded(peak_rss_mib):
    peak = peak_rss_mib(
        "import numpy as np\n"
        "from sklearn_denoise import CNNDenoiser\n"
        "x = np.random.RandomState(0).uniform(size=(1, 32, 32)).astype(np.float32)\n"
        "den = CNNDenoiser(max_epochs=1, patches_per_image=1, train_sigma=0.1).fit(x)\n"
        "big = np.random.RandomState(1).uniform(size=(1, 2048, 2048)).astype(np.float32)\n"
        "out = den.transform(big)\n"
        "assert out.shape == big.shape and np.isfinite(out).all()\n"
    )
    # untiled, this image takes 2.4 GiB (tiled: 1.1 GiB measured)
    assert peak < 2 * 1024, f"peak RSS {peak:.0f} MiB"


def test_output_dtype_and_layout_follow_input(trained, clean):
    _, test = clean
    noisy = np.clip(gaussian(test, SIGMA, random_state=0), 0, 1)
    as_uint8 = np.rint(noisy * 255).astype(np.uint8)
    out = trained.transform(as_uint8)
    assert out.dtype == np.uint8 and out.shape == as_uint8.shape
    assert psnr(test, out) > psnr(test, as_uint8)
    assert trained.transform(noisy.astype(np.float64)).dtype == np.float64
    assert trained.transform(noisy.astype(np.float32)).dtype == np.float32
    images = [noisy[0], noisy[1][:50, :70]]
    listed = trained.transform(images)
    assert isinstance(listed, list) and [o.shape for o in listed] == [(96, 96), (50, 70)]
    np.testing.assert_allclose(listed[0], trained.transform(noisy[:1])[0], atol=1e-6)


def test_flattened_images_with_image_shape():
    from sklearn.datasets import load_digits

    X = load_digits().data[:40] / 16
    noisy = gaussian(X, 0.1, random_state=0)
    den = CNNDenoiser(**{**SMALL, "patch_size": 8}, image_shape=(8, 8), max_epochs=1,
                      random_state=0).fit(noisy, X)
    assert den.n_features_in_ == 64
    assert den.transform(noisy).shape == (40, 64)
    with pytest.raises(ValueError, match="features"):
        den.transform(noisy[:, :63])


def test_noise_level_input_uses_given_sigma(clean):
    train, test = clean
    den = CNNDenoiser(**SMALL, noise_level_input=True, train_sigma=(0.0, 0.2), max_epochs=3,
                      random_state=0).fit(train)
    noisy = gaussian(test, SIGMA, random_state=0).astype(np.float32)
    estimated = den.transform(noisy)
    given = den.set_params(sigma=SIGMA).transform(noisy)
    other = den.set_params(sigma=0.2).transform(noisy)
    assert not np.allclose(given, other)
    assert np.isfinite(estimated).all()
    assert den.net_.module_.head.in_channels == 2


def test_opponent_strategy_denoises_rgb_with_one_channel_network():
    rgb = load_sample_images(color=True, size=64).astype(np.float32) / 255
    den = CNNDenoiser(**SMALL, channel_strategy="opponent", train_sigma=SIGMA, max_epochs=8,
                      patches_per_image=16, random_state=0).fit(rgb[:3])
    assert den.config_["channels"] == 1 and den.n_channels_in_ == 3
    noisy = gaussian(rgb[3:], SIGMA, random_state=0).astype(np.float32)
    out = den.transform(noisy)
    assert out.shape == noisy.shape
    assert psnr(rgb[3:], out) > psnr(rgb[3:], noisy)


def test_gridsearch_over_architecture_and_width_clones_cleanly(clean):
    train, _ = clean
    noisy = gaussian(train, SIGMA, random_state=0).astype(np.float32)
    base = CNNDenoiser(**{**SMALL, "architecture": None, "width": None, "depth": 2},
                       max_epochs=2, patches_per_image=4, random_state=0)
    grid = {"denoise__architecture": ["unet", "dncnn"], "denoise__width": [8, 16]}
    search = GridSearchCV(Pipeline([("denoise", base)]), grid, scoring=psnr_scorer, cv=2,
                          error_score="raise")
    search.fit(noisy, train)
    assert len(search.cv_results_["params"]) == 4
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert not hasattr(base, "net_")  # the template is never fitted
    best = search.best_estimator_.named_steps["denoise"]
    assert best.config_["architecture"] == search.best_params_["denoise__architecture"]


def test_callbacks_are_passed_to_skorch(clean):
    train, _ = clean
    stop = EarlyStopping(monitor="train_loss", patience=1, threshold=10.0)
    den = CNNDenoiser(**SMALL, train_sigma=SIGMA, max_epochs=20, callbacks=[stop],
                      random_state=0).fit(train)
    assert len(den.history_) < 20


def test_verbose_prints_epoch_table_and_zero_is_silent(clean, capsys):
    train, _ = clean
    CNNDenoiser(**SMALL, train_sigma=SIGMA, max_epochs=1, verbose=0).fit(train)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    CNNDenoiser(**SMALL, train_sigma=SIGMA, max_epochs=1, verbose=1).fit(train)
    captured = capsys.readouterr()
    assert "train_loss" in captured.out


def test_pickle_and_joblib_round_trip(trained, clean, tmp_path):
    _, test = clean
    noisy = gaussian(test, SIGMA, random_state=0).astype(np.float32)
    expected = trained.transform(noisy)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(trained)).transform(noisy), expected)
    joblib.dump(trained, tmp_path / "den.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "den.joblib").transform(noisy), expected)


def test_save_load_round_trip_and_init_weights(trained, clean, tmp_path):
    _, test = clean
    noisy = gaussian(test, SIGMA, random_state=0).astype(np.float32)
    path = trained.save(tmp_path / "model.pt", metadata={"note": "test"})
    loaded = CNNDenoiser.load(path)
    np.testing.assert_array_equal(loaded.transform(noisy), trained.transform(noisy))
    assert loaded.config_ == trained.config_
    assert loaded.weights_metadata_["note"] == "test"
    # fit with zero epochs from init_weights reproduces the saved model
    restarted = CNNDenoiser(init_weights=str(path), max_epochs=0).fit(test)
    np.testing.assert_array_equal(restarted.transform(noisy), trained.transform(noisy))
    # half precision halves the file and stays close
    half = trained.save(tmp_path / "half.pt", half=True)
    assert half.stat().st_size < 0.6 * path.stat().st_size
    np.testing.assert_allclose(CNNDenoiser.load(half).transform(noisy),
                               trained.transform(noisy), atol=2e-2)


def test_init_weights_mismatch_is_a_clear_error(trained, clean, tmp_path):
    train, _ = clean
    path = trained.save(tmp_path / "model.pt")
    with pytest.raises(ValueError, match="width"):
        CNNDenoiser(init_weights=str(path), width=32, max_epochs=0).fit(train)
    rgb = np.repeat(train[..., None], 3, axis=-1)
    with pytest.raises(ValueError, match="channel"):
        CNNDenoiser(init_weights=str(path), max_epochs=0).fit(rgb)
    with pytest.raises(ValueError, match="Unknown pretrained|does not exist"):
        CNNDenoiser(init_weights="no-such-model", max_epochs=0).fit(train)


def test_noise_level_input_follows_init_weights_unless_set(clean, tmp_path):
    train, test = clean
    blind = CNNDenoiser(**SMALL, train_sigma=SIGMA, max_epochs=0, random_state=0).fit(train)
    assert blind.config_["noise_level_input"] is False
    mapped = CNNDenoiser(**SMALL, noise_level_input=True, train_sigma=(0.0, 0.2), max_epochs=1,
                         random_state=0).fit(train)
    path = mapped.save(tmp_path / "mapped.pt")
    tuned = CNNDenoiser(init_weights=str(path), max_epochs=0).fit(train)
    assert tuned.config_["noise_level_input"] is True
    noisy = gaussian(test, SIGMA, random_state=0).astype(np.float32)
    np.testing.assert_allclose(tuned.transform(noisy), mapped.transform(noisy), atol=1e-6)
    with pytest.raises(ValueError, match="noise_level_input=False does not match"):
        CNNDenoiser(init_weights=str(path), noise_level_input=False, max_epochs=0).fit(train)


def test_supervised_fine_tuning_feeds_each_pair_its_noise_level(clean, tmp_path):
    train, _ = clean
    den = CNNDenoiser(**SMALL, noise_level_input=True, train_sigma=(0.0, 0.2), max_epochs=0,
                      random_state=0).fit(train)
    noisy = gaussian(train, SIGMA, random_state=0).astype(np.float32)
    den.set_params(train_sigma=None)
    images, targets, _, mode, _ = den._prepare_training(noisy, train, reset=False)
    dataset = den._make_dataset(images, targets, mode, seed=0, noise_scales=None)
    net_in, _ = dataset[0]
    assert net_in.shape[0] == 2
    np.testing.assert_allclose(net_in[1].numpy(), np.std(noisy[0] - train[0]), rtol=1e-5)
    np.testing.assert_allclose(np.std(noisy[0] - train[0]), SIGMA, rtol=0.05)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "wrong_payload"])
def test_corrupt_weight_files_raise_and_leave_nothing_half_written(trained, tmp_path, damage):
    path = trained.save(tmp_path / "model.pt")
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a weight file" * 100)
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        torch.save({"format": "something-else"}, path)
    with pytest.raises(ValueError, match="weight file|corrupt"):
        CNNDenoiser.load(path)


def test_save_is_atomic(trained, tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    trained.save(path)
    original = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", fail)
    with pytest.raises(OSError, match="disk full"):
        trained.save(path)
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


@pytest.mark.parametrize(
    "params, match",
    [
        ({"architecture": "resnet"}, "architecture"),
        ({"train_sigma": -0.1}, "train_sigma"),
        ({"train_sigma": 25}, "intensity scale"),
        ({"train_sigma": (0.2, 0.1)}, "low <= high"),
        ({"channel_strategy": "ycbcr"}, "channel_strategy"),
        ({"lr_schedule": "step"}, "lr_schedule"),
        ({"loss": "ssim"}, "loss"),
        ({"width": 0}, "width"),
        ({"device": "tpu"}, "device"),
        ({"self_ensemble": 3}, "self_ensemble must be one of \\[1, 2, 4, 8\\]"),
        ({"self_ensemble": True}, "self_ensemble must be an int"),
    ],
)
def test_bad_parameters_raise_naming_the_problem(clean, params, match):
    train, _ = clean
    with pytest.raises((ValueError, TypeError), match=match):
        CNNDenoiser(**{**SMALL, **params}, max_epochs=1).fit(train)


def test_bad_input_raises(trained, clean):
    train, _ = clean
    bad = train.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        CNNDenoiser(**SMALL, train_sigma=SIGMA, max_epochs=1).fit(bad)
    with pytest.raises(ValueError, match="NaN"):
        trained.transform(bad)
    with pytest.raises(ValueError, match="shape"):
        CNNDenoiser(**SMALL, max_epochs=1).fit(train, train[:, :50])
    with pytest.raises(ValueError):
        trained.transform(np.zeros((2, 3, 4, 5, 6)))


def test_clone_does_not_share_weights(trained):
    fresh = clone(trained)
    assert not hasattr(fresh, "net_")
    assert fresh.get_params() == trained.get_params()


@pytest.mark.parametrize("shape", [(2, 1, 1), (2, 1, 7), (2, 2, 2)])
def test_training_on_tiny_images_works(shape):
    # 1x1 crops used to reach torch with negative strides (rotation/flip views)
    X = np.random.RandomState(0).rand(*shape).astype(np.float32)
    den = CNNDenoiser(depth=2, width=4, max_epochs=1, train_sigma=0.1, random_state=0).fit(X)
    assert den.transform(X).shape == shape


def test_epoch_table_has_no_colour_codes_when_not_a_terminal(capsys):
    X = np.random.RandomState(0).rand(2, 16, 16).astype(np.float32)
    CNNDenoiser(depth=2, width=4, max_epochs=2, train_sigma=0.1, verbose=1,
                random_state=0).fit(X)
    out = capsys.readouterr().out
    assert "train_loss" in out
    assert "\x1b[" not in out


# --------------------------------------------------------------------------- issue 29
TINY_TRAIN = dict(width=4, depth=2, blocks=1, train_sigma=0.1, patch_size=16,
                  patches_per_image=4, random_state=0)


def _tiny_images():
    return np.random.default_rng(0).uniform(size=(3, 24, 24)).astype(np.float32)


@pytest.mark.parametrize(
    "params, match",
    [  # each tried to allocate 36 GB to 1.4 TB, or hung, or trained and could not be saved
        ({"width": 10**9}, r"width must be in \[1, 512\], got 1000000000"),
        ({"depth": 10**9}, r"depth must be in \[1, 64\], got 1000000000"),
        ({"blocks": 10**9}, r"blocks must be in \[1, 16\], got 1000000000"),
        ({"patches_per_image": 10**9}, r"patches_per_image must be in \[1, 100000\]"),
        ({"width": 520}, r"width must be in \[1, 512\], got 520"),
        ({"depth": 9}, r"depth of unet must be in \[1, 8\], got 9"),
        ({"architecture": "dncnn", "depth": 65}, r"depth must be in \[1, 64\]"),
        ({"batch_size": 10**6}, r"batch_size must be in \[1, 4096\]"),
        ({"lr": 1e300}, r"lr must be in \(0, 10.0\], got 1e\+300"),  # was Adam's RuntimeError
        ({"lr": 1e9}, r"lr must be in \(0, 10.0\]"),  # trained to all-NaN weights
        ({"callbacks": [42]}, r"callbacks must be a list of skorch callbacks .* the item 42"),
        ({"callbacks": [("name", "not a callback")]}, r"the item \('name', 'not a"),
    ],
)
def test_network_and_training_sizes_are_refused_before_allocating(params, match,
                                                                  monkeypatch):
    from skorch import NeuralNetRegressor

    def never(self, *args, **kwargs):
        raise AssertionError("the network was allocated")

    monkeypatch.setattr(NeuralNetRegressor, "initialize", never)
    den = CNNDenoiser(**{**TINY_TRAIN, **params}, max_epochs=1)
    with pytest.raises((ValueError, TypeError), match=match):
        den.fit(_tiny_images())
    assert not hasattr(den, "net_")


def test_network_config_uses_the_weight_file_limits():
    from sklearn_denoise._weights import CONFIG_LIMITS

    assert CNNDenoiser(width=CONFIG_LIMITS["width"][1]).network_config(1)["width"] == 512
    with pytest.raises(ValueError, match=r"width must be in \[1, 512\]"):
        CNNDenoiser(width=CONFIG_LIMITS["width"][1] + 1).network_config(1)


def test_callback_classes_and_named_callbacks_are_accepted():
    den = CNNDenoiser(**TINY_TRAIN, max_epochs=1,
                      callbacks=[EarlyStopping, ("stop", EarlyStopping(patience=3))])
    den.fit(_tiny_images())
    assert len(den.history_) == 1


def test_diverging_training_stops_with_an_error_naming_lr():
    # issue 29: fit with a huge lr returned a model whose output is all NaN
    den = CNNDenoiser(**TINY_TRAIN, lr=10.0, max_epochs=4)
    with pytest.raises(ValueError, match=r"Training diverged: the loss of a training batch "
                       r"became (nan|inf) in epoch \d with lr=10 \(this epoch's rate"):
        den.fit(_tiny_images())


def test_transform_never_returns_nan_for_finite_input():
    # issue 29: a broken network's NaN output was returned (and written as an all-zero PNG)
    den = CNNDenoiser(**TINY_TRAIN, max_epochs=0).fit(_tiny_images())
    with torch.no_grad():
        for param in den.net_.module_.parameters():
            param.fill_(1e30)
    with pytest.raises(RuntimeError, match="The network returned NaN or infinite values for "
                       "a finite image"):
        den.transform(_tiny_images())


def _counts(images, seed):
    """uint16 sensor-like counts: a black level of 100 and about 60 counts of signal, a
    small part of the 16-bit range, with noise."""
    rng = np.random.default_rng(seed)
    return np.round(100 + 60 * images + rng.normal(0, 3, images.shape)).astype(np.uint16)


def _mapped(images, mode="auto"):
    from sklearn_denoise._normalize import fit_normalization
    from sklearn_denoise._validation import to_float

    out = []
    for image in to_float(images):
        out.append(fit_normalization(image, mode).apply(image))
    return np.stack(out).astype(np.float32)


@pytest.mark.parametrize("mode", ["supervised", "self_supervised"])
def test_fit_normalizes_training_images_as_transform_does(clean, mode):
    # one rule for fit and transform: counts train as the same images mapped onto [0, 1]
    # by hand (before, they trained on 0.0015..0.0025 and the network saw no signal)
    train, _ = clean
    noisy = _counts(train[:2], seed=0)
    target = np.round(100 + 60 * train[:2]).astype(np.uint16)
    params = dict(**SMALL, max_epochs=1, patches_per_image=4, validation_fraction=0.0,
                  random_state=0)
    mapped = _mapped(noisy)
    assert 0.1 < float(mapped.std()) < 0.5  # the mapping is not the identity
    if mode == "supervised":
        from sklearn_denoise._normalize import fit_normalization
        from sklearn_denoise._validation import to_float

        norms = [fit_normalization(image, "auto") for image in to_float(noisy)]
        mapped_target = np.stack([n.apply(t) for n, t in zip(norms, to_float(target))])
        as_stored = CNNDenoiser(**params).fit(noisy, target)
        by_hand = CNNDenoiser(**params).fit(mapped, mapped_target.astype(np.float32))
    else:
        as_stored = CNNDenoiser(**params).fit(noisy)
        by_hand = CNNDenoiser(**params).fit(mapped)
    for (name, a), b in zip(as_stored.net_.module_.state_dict().items(),
                            by_hand.net_.module_.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=name)
    # normalize="none" keeps the old behaviour: the stored values as given
    raw = CNNDenoiser(**params, normalize="none").fit(noisy, target if mode == "supervised"
                                                      else None)
    assert not torch.allclose(raw.net_.module_.head.weight, as_stored.net_.module_.head.weight)


def test_fit_normalization_leaves_unit_range_images_alone(clean):
    train, _ = clean
    noisy = gaussian(train[:2], SIGMA, random_state=0).astype(np.float32)
    params = dict(**SMALL, max_epochs=1, patches_per_image=4, validation_fraction=0.0,
                  random_state=0)
    a = CNNDenoiser(**params).fit(noisy, train[:2])
    b = CNNDenoiser(**params, normalize="none").fit(noisy, train[:2])
    torch.testing.assert_close(a.net_.module_.head.weight, b.net_.module_.head.weight,
                               rtol=0, atol=0)


# --- volumes and sequences: the stack network (axes="ZYX"/"TYX") ---------------------------
@pytest.fixture(scope="module")
def moving_sequence():
    scene = load_sample_images(size=128)[1].astype(np.float32) / 255
    # 7 frames, as the stack network sees 6 neighbours (shorter stacks repeat some)
    steps = np.array([(0, 0), (1, -2), (2, 1), (-1, 2), (2, 0), (0, -1), (-2, 1)])
    clean = np.stack([np.roll(scene, tuple(p), axis=(0, 1)) for p in np.cumsum(steps, 0)])
    noisy = gaussian(clean, SIGMA, random_state=0).astype(np.float32)
    return clean, noisy


@pytest.fixture(scope="module")
def stack_model():
    return CNNDenoiser.pretrained("gray", axes="TYX")


def test_stack_network_beats_the_same_model_plane_by_plane(stack_model, moving_sequence):
    clean, noisy = moving_sequence
    joint = stack_model.transform(noisy[np.newaxis])[0]
    single = CNNDenoiser.pretrained("gray").transform(noisy)
    assert joint.shape == noisy.shape and joint.dtype == np.float32
    assert psnr(clean[3], joint[3]) > psnr(clean[3], single[3]) + 1.0
    assert psnr(clean, joint) > psnr(clean, single) + 0.5


def test_stack_network_decides_once_per_stack(stack_model, moving_sequence):
    _, noisy = moving_sequence
    pinned = stack_model.for_image(noisy[np.newaxis])
    np.testing.assert_array_equal(pinned.transform(noisy[np.newaxis]),
                                  stack_model.transform(noisy[np.newaxis]))
    level = pinned.decision_.noise[0].sigma
    assert level == pytest.approx(SIGMA, rel=0.15)


def test_stack_network_keeps_dtype_and_takes_lists_of_volumes(stack_model, moving_sequence):
    _, noisy = moving_sequence
    counts = (noisy * 3000 + 100).clip(0, 65535).astype(np.uint16)
    out = stack_model.transform(counts[np.newaxis])
    assert out.dtype == np.uint16 and out.shape == (1,) + counts.shape
    volumes = [noisy[:3, :96, :80], noisy[:, :64, :64]]
    outs = stack_model.transform(volumes)
    assert [o.shape for o in outs] == [v.shape for v in volumes]
    np.testing.assert_allclose(outs[1], stack_model.transform(volumes[1][np.newaxis])[0],
                               atol=1e-6)


def test_color_stack_network_denoises_rgb_sequences(moving_sequence):
    clean, noisy = moving_sequence
    rgb = np.stack([noisy, np.roll(noisy, 1, axis=0), noisy[::-1]], axis=-1)[:, :64, :64]
    den = CNNDenoiser.pretrained("color", axes="TYXC")
    out = den.transform(rgb[np.newaxis])
    assert out.shape == (1,) + rgb.shape
    clean_rgb = np.stack([clean, np.roll(clean, 1, axis=0), clean[::-1]], axis=-1)[:, :64, :64]
    assert psnr(clean_rgb, out[0]) > psnr(clean_rgb, rgb) + 5


def test_stack_network_and_axes_must_agree(stack_model, moving_sequence):
    _, noisy = moving_sequence
    with pytest.raises(ValueError, match="is a stack network"):
        copy.copy(stack_model).set_params(axes="YX").transform(noisy)
    with pytest.raises(ValueError, match="is a stack network"):
        CNNDenoiser.load("gray-stack")
    with pytest.raises(ValueError, match="trains a stack network, a U-Net"):
        CNNDenoiser("dncnn", axes="ZYX").fit(noisy[np.newaxis])
    fitted_2d = CNNDenoiser.pretrained("gray")
    with pytest.raises(ValueError, match="needs a stack network"):
        copy.copy(fitted_2d).set_params(axes="ZYX").transform(noisy[np.newaxis])


def test_refitting_a_clone_of_the_stack_network_keeps_its_result(stack_model,
                                                                  moving_sequence):
    _, noisy = moving_sequence
    X = noisy[np.newaxis, :, :64, :64]
    refit = clone(stack_model).fit(X)
    np.testing.assert_array_equal(refit.transform(X), stack_model.transform(X))


def test_two_d_weights_widened_for_volumes_start_from_the_2d_result(moving_sequence):
    # the neighbours' new input weights are zero: before training, each plane is
    # denoised as the 2-D model denoises it
    _, noisy = moving_sequence
    X = noisy[np.newaxis, :, :64, :64]
    widened = CNNDenoiser(init_weights="gray", axes="ZYX", max_epochs=0, sigma=SIGMA).fit(X)
    assert widened.config_["context_planes"] == 4
    single = CNNDenoiser.pretrained("gray", sigma=SIGMA).transform(X[0])
    np.testing.assert_allclose(widened.transform(X)[0], single, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["supervised", "synthetic", "self_supervised"])
def test_stack_network_trains_on_volumes_in_every_mode(moving_sequence, mode):
    clean, noisy = moving_sequence
    X, Y = noisy[np.newaxis, :, :64, :64], clean[np.newaxis, :, :64, :64]
    args = {"supervised": (X, Y), "synthetic": (Y,), "self_supervised": (X,)}[mode]
    den = CNNDenoiser(**SMALL, axes="TYX", max_epochs=10, patches_per_image=32,
                      validation_fraction=0.0, random_state=0,
                      train_sigma=SIGMA if mode == "synthetic" else None).fit(*args)
    assert den.training_mode_ == mode and den.config_["context_planes"] == 4
    out = den.transform(X)
    assert out.shape == X.shape
    # a small network from scratch on one 5-plane volume: it learns, it is not good yet
    assert psnr(Y, out) > psnr(Y, X) + 0.5


# --------------------------------------------------------------------------- issue 35
def _brute_neighbours(x, r, c, radius=2):
    """Values of the (2 radius + 1)^2 neighbours of (r, c) inside the patch, itself out."""
    h, w = x.shape[:2]
    return [x[r + dr, c + dc] for dr in range(-radius, radius + 1)
            for dc in range(-radius, radius + 1)
            if (dr or dc) and 0 <= r + dr < h and 0 <= c + dc < w]


@pytest.mark.parametrize("shape", [(16, 16, 1), (7, 5, 2), (3, 3, 1), (1, 6, 1)])
def test_random_replacement_takes_a_neighbour_never_the_pixel(shape):
    from sklearn_denoise._training import blind_spot_mask

    rng = np.random.default_rng(0)
    x = rng.permutation(np.prod(shape)).reshape(shape).astype(np.float32)  # unique values
    for _ in range(20):
        masked, target = blind_spot_mask(x, rng, 0.3, replacement="random")
        assert target.shape == shape[:2] + (shape[2] + 1,)
        np.testing.assert_array_equal(target[..., :-1], x)
        mask = target[..., -1] > 0
        assert mask.any()
        np.testing.assert_array_equal(masked[~mask], x[~mask])  # the rest untouched
        for r, c in zip(*np.nonzero(mask)):
            assert not np.any(masked[r, c] == x[r, c])
            # all channels from one neighbour, within the 5x5 window
            assert any(np.array_equal(masked[r, c], v) for v in _brute_neighbours(x, r, c))


@pytest.mark.parametrize("shape", [(16, 16, 1), (9, 6, 2)])
def test_median_replacement_is_the_median_of_the_neighbours_without_the_pixel(shape):
    from sklearn_denoise._training import blind_spot_mask

    rng = np.random.default_rng(1)
    x = rng.normal(size=shape).astype(np.float32)
    x[4, 4] = 1e6  # a masked outlier must not leak into its own replacement
    masked, target = blind_spot_mask(x, rng, 0.2, replacement="median")
    mask = target[..., -1] > 0
    for r, c in zip(*np.nonzero(mask)):
        window = x[max(r - 2, 0):r + 3, max(c - 2, 0):c + 3].reshape(-1, shape[2])
        inside = np.array(_brute_neighbours(x, r, c))
        assert len(inside) == len(window) - 1
        assert np.all(np.abs(masked[r, c]) < 1e5) or (r, c) != (4, 4)
        # the window is mirrored through the pixel at the edges: every value it takes is
        # a neighbour's, and the median lies within the neighbours' range
        assert np.all(masked[r, c] >= inside.min(axis=0) - 1e-6)
        assert np.all(masked[r, c] <= inside.max(axis=0) + 1e-6)
        if 2 <= r < shape[0] - 2 and 2 <= c < shape[1] - 2:
            np.testing.assert_allclose(masked[r, c], np.median(inside, axis=0), rtol=1e-6)


@pytest.mark.parametrize("struct", ["row", "column"])
def test_struct_mask_replaces_the_line_around_each_masked_pixel(struct):
    from sklearn_denoise._training import blind_spot_mask

    rng = np.random.default_rng(2)
    x = rng.permutation(40 * 40).reshape(40, 40, 1).astype(np.float32) + 1
    masked, target = blind_spot_mask(x, rng, 0.002, struct=struct, span=5)
    mask = target[..., -1] > 0
    changed = masked[..., 0] != x[..., 0]
    assert changed[mask].all()
    for r, c in zip(*np.nonzero(mask)):
        for d in (-2, -1, 1, 2):
            rr, cc = (r, c + d) if struct == "row" else (r + d, c)
            if 0 <= rr < 40 and 0 <= cc < 40 and not mask[rr, cc]:
                assert changed[rr, cc] or masked[rr, cc, 0] == x[rr, cc, 0]
    # only the line (and the masked pixels) changed, and the loss counts the masked only
    line = np.zeros_like(mask)
    for r, c in zip(*np.nonzero(mask)):
        if struct == "row":
            line[r, max(c - 2, 0):c + 3] = True
        else:
            line[max(r - 2, 0):r + 3, c] = True
    assert not changed[~line].any()
    assert changed[line].mean() > 0.9  # a random pixel's value may equal by chance


def _noisy_cells(size=96, seed=0):
    """A smooth blob image as uint16 counts with Poisson noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    clean = np.zeros((size, size))
    for cy, cx in rng.uniform(10, size - 10, size=(8, 2)):
        clean += 40 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 60)
    return rng.poisson(clean + 5).astype(np.uint16)


SELF = dict(depth=2, width=8, blocks=1, patch_size=32, batch_size=8, random_state=0)


def test_fit_without_y_builds_the_blind_spot_unet_and_validates_on_the_image():
    image = _noisy_cells()
    den = CNNDenoiser(**SELF, max_epochs=2).fit(image)
    assert den.training_mode_ == "self_supervised"
    assert den.config_["architecture"] == "n2v2"
    # one image: the validation patches are fixed masked patches of the image itself
    assert np.isfinite(den.history_[:, "valid_loss"]).all()
    # patches_per_image=None: an epoch's patches hold the image's pixels 8 times
    train_batches = [b for b in den.history_[-1]["batches"] if "train_loss" in b]
    assert len(train_batches) == 9  # 8 x 96^2 / 32^2 = 72 patches, batches of 8
    assert den.transform(image[None]).shape == (1, 96, 96)
    # the supervised and synthetic defaults are unchanged
    assert CNNDenoiser(train_sigma=0.1).network_config(1)["architecture"] == "unet"
    assert CNNDenoiser().network_config(1, self_supervised=True)["architecture"] == "n2v2"


def test_median_replacement_is_the_blind_spot_unets_default_only():
    image = _noisy_cells()
    den = CNNDenoiser(**SELF, max_epochs=0).fit(image)
    assert den.mask_replacement is None and den._mask_replacement() == "median"
    # a global residual connection keeps the smooth median as output: random for those
    assert CNNDenoiser(**SELF, architecture="unet", max_epochs=0).fit(
        image)._mask_replacement() == "random"
    assert CNNDenoiser(**SELF, architecture="unet", max_epochs=0, mask_replacement="median"
                       ).fit(image)._mask_replacement() == "median"


def test_supervised_default_draws_eight_patches_per_image():
    x = np.random.default_rng(0).uniform(size=(3, 40, 40)).astype(np.float32)
    den = CNNDenoiser(**{**SELF, "batch_size": 4}, train_sigma=0.1, max_epochs=1,
                      validation_fraction=0.0).fit(x)
    train_batches = [b for b in den.history_[-1]["batches"] if "train_loss" in b]
    assert len(train_batches) == 6  # 24 patches
    assert den.config_["architecture"] == "unet"


@pytest.mark.slow
def test_self_supervised_fit_lowers_the_blind_spot_loss():
    from sklearn_denoise.metrics import j_invariant_loss

    image = _noisy_cells(seed=1)
    untrained = CNNDenoiser(**SELF, max_epochs=0).fit(image)
    den = CNNDenoiser(**SELF, max_epochs=25, lr=3e-3).fit(image)
    valid = den.history_[:, "valid_loss"]
    assert np.mean(valid[-3:]) < 0.8 * valid[0]
    loss = j_invariant_loss(den, image[None])
    assert loss < 0.8 * j_invariant_loss(untrained, image[None])
    # and below the noise (what copying the noisy image would score against clean data)
    assert loss * 65535**2 < 2 * np.var(image.astype(float) - np.round(image.mean()))


def test_n2v2_model_round_trips_through_a_weight_file(tmp_path):
    image = _noisy_cells()
    den = CNNDenoiser(**SELF, max_epochs=1).fit(image)
    den.save(tmp_path / "n2v.pt")
    back = CNNDenoiser.load(tmp_path / "n2v.pt")
    assert back.config_["architecture"] == "n2v2"
    np.testing.assert_array_equal(back.transform(image[None]), den.transform(image[None]))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"mask_replacement": "mean"}, "mask_replacement"),
        ({"struct_mask": "diagonal"}, "struct_mask"),
        ({"struct_mask_span": 1}, "struct_mask_span"),
        ({"struct_mask_span": 1000}, "struct_mask_span"),
        ({"mask_ratio": 0.0}, "mask_ratio"),
        ({"patches_per_image": 0}, "patches_per_image"),
        ({"architecture": "n2v"}, "architecture"),
    ],
)
def test_self_supervised_parameters_are_validated_in_fit(params, match):
    den = CNNDenoiser(**SELF, max_epochs=1, **params)
    assert den.get_params()[next(iter(params))] == next(iter(params.values()))  # verbatim
    with pytest.raises((ValueError, TypeError), match=match):
        den.fit(_noisy_cells())


def test_plateau_schedule_halves_the_rate_when_the_monitored_loss_stalls():
    from sklearn_denoise._training import PLATEAU_PATIENCE, monitored_loss

    den = CNNDenoiser(**SELF, max_epochs=0, lr_schedule="plateau").fit(_noisy_cells())
    schedulers = [cb for name, cb in den.net_.callbacks_ if name == "lr_scheduler"]
    assert [s.policy for s in schedulers] == ["ReduceLROnPlateau"]
    # valid_loss when the epoch has one, train_loss otherwise
    den.net_.history.new_epoch()
    den.net_.history.record("train_loss", 2.0)
    assert monitored_loss(den.net_) == 2.0
    den.net_.history.record("valid_loss", 1.0)
    assert monitored_loss(den.net_) == 1.0
    # a rising loss: the rate halves after PLATEAU_PATIENCE epochs without a new best
    den = CNNDenoiser(**SELF, max_epochs=0, lr_schedule="plateau", lr=1e-3).fit(
        _noisy_cells())
    scheduler = schedulers[0].__class__(**schedulers[0].get_params())
    scheduler.initialize()
    net = den.net_
    scheduler.on_train_begin(net)
    for loss in [1.0] + [1.5] * (PLATEAU_PATIENCE + 1):
        net.history.new_epoch()
        net.history.record("train_loss", loss)
        scheduler.on_epoch_end(net)
    assert net.optimizer_.param_groups[0]["lr"] == pytest.approx(5e-4)
