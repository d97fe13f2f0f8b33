import hashlib
import json
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch

from sklearn_denoise import CNNDenoiser, available_models
from sklearn_denoise._weights import _registry, load_weights, pretrained_path
from sklearn_denoise.datasets import load_sample_images
from sklearn_denoise.metrics import psnr
from sklearn_denoise.noise import gaussian

pytestmark = pytest.mark.skipif(
    "gray" not in available_models(), reason="no pretrained weights registered in this checkout"
)
PRETRAINED = Path(str(resources.files("sklearn_denoise").joinpath("pretrained")))


def test_shipped_weights_fit_the_size_budget_and_record_their_training():
    registry = _registry()
    stack = {pretrained_path(n)[0].name for n in registry if registry[n].get("kind") == "stack"}
    sizes = {p.name: p.stat().st_size for p in PRETRAINED.glob("*.pt")}
    # 5 MB for the 2-D models, 5 MB more for the stack network (issue #30)
    assert sum(v for k, v in sizes.items() if k not in stack) <= 5 * 1024 * 1024
    assert sum(v for k, v in sizes.items() if k in stack) <= 5 * 1024 * 1024
    for name in stack:
        _, _, stack_metadata = load_weights(PRETRAINED / name)
        assert stack_metadata["script"] == "benchmarks/train_stack.py"
        for key in ("data", "commit", "epochs", "init"):
            assert key in stack_metadata
    path, _ = pretrained_path("gray")
    config, _, metadata = load_weights(path)
    assert config["channels"] == 1
    for key in ("data", "recipe", "commit", "script", "epochs_done"):
        assert key in metadata
    assert "train400" in metadata["data"]
    assert json.loads(metadata["recipe"])["train_sigma"] == [0.0, 55 / 255]


@pytest.mark.parametrize("sigma255", [15, 25, 50])
def test_gray_model_denoises_blind_across_noise_levels(sigma255):
    clean = load_sample_images(size=128).astype(np.float32) / 255
    noisy = gaussian(clean, sigma255 / 255, random_state=0).astype(np.float32)
    den = CNNDenoiser.pretrained("gray")
    gain = psnr(clean, den.transform(noisy)) - psnr(clean, noisy)
    assert gain > {15: 5.0, 25: 7.0, 50: 10.0}[sigma255]


def test_gray_model_estimates_the_noise_level_or_takes_a_known_one():
    clean = load_sample_images(size=128).astype(np.float32) / 255
    noisy = gaussian(clean, 25 / 255, random_state=0).astype(np.float32)
    blind = CNNDenoiser.pretrained("gray")
    assert blind.config_["noise_level_input"]
    estimated = psnr(clean, blind.transform(noisy))
    known = psnr(clean, CNNDenoiser.pretrained("gray", sigma=25 / 255).transform(noisy))
    too_low = psnr(clean, CNNDenoiser.pretrained("gray", sigma=5 / 255).transform(noisy))
    assert abs(estimated - known) < 0.3
    assert too_low < known - 2.0  # the network follows the noise-level map


def _wavelet_level_only(monkeypatch):
    """The blind call as it was before it saw correlated noise: the wavelet estimate of
    white noise, and no correlated-noise expert."""
    from sklearn_denoise._noise_level import NoiseReading
    from sklearn_denoise._sensor import estimate_gaussian_sigma

    monkeypatch.setattr(NoiseReading, "correlated_level", lambda self: None)
    monkeypatch.setattr(NoiseReading, "blind_level",
                        lambda self: estimate_gaussian_sigma(self.image))


def test_blind_call_sees_correlated_noise_and_reads_white_noise_from_flat_patches(
        monkeypatch):
    """The blind level (``_noise_level.blind_level``) and the correlated-noise expert: on
    correlated noise, better than the wavelet estimate alone on every sample photo (the
    level alone gained 0.7 to 2.8 dB, the expert adds about 3 dB more, measured); on white
    noise the shipped network at the weak-texture level, which the image's fine texture
    does not inflate as it does the wavelet level: better on light noise."""
    from sklearn_denoise._noise_level import NoiseReading, weak_texture_level
    from sklearn_denoise.noise import correlated_gaussian

    clean = load_sample_images(size=172).astype(np.float32) / 255
    correlated = correlated_gaussian(clean, 20 / 255, random_state=0).astype(np.float32)
    white = gaussian(clean, 5 / 255, random_state=0).astype(np.float32)
    den = CNNDenoiser.pretrained("gray")
    blind_correlated, blind_white = den.transform(correlated), den.transform(white)
    with monkeypatch.context() as patch:
        patch.setattr(NoiseReading, "correlated_level", lambda self: None)
        patch.setattr(NoiseReading, "blind_level", lambda self: weak_texture_level(self.image))
        np.testing.assert_array_equal(blind_white, den.transform(white))
    _wavelet_level_only(monkeypatch)
    wavelet_correlated, wavelet_white = den.transform(correlated), den.transform(white)
    gains = [psnr(c, b) - psnr(c, w)
             for c, b, w in zip(clean, blind_correlated, wavelet_correlated)]
    assert min(gains) > 1.0 and np.mean(gains) > 2.5
    gains = [psnr(c, b) - psnr(c, w) for c, b, w in zip(clean, blind_white, wavelet_white)]
    assert np.mean(gains) > 0.2, gains


@pytest.mark.parametrize("name", ["gray", "color"])
def test_correlated_noise_goes_to_the_expert_and_white_noise_does_not(name):
    """The shipped models carry a correlated-noise expert (a delta on the shipped weights);
    the network given the true level of correlated noise gains several dB from it, and it
    never runs on white noise."""
    from sklearn_denoise.noise import correlated_gaussian

    clean = load_sample_images(color=name == "color", size=128).astype(np.float32) / 255
    correlated = correlated_gaussian(clean, 20 / 255, random_state=1).astype(np.float32)
    white = gaussian(clean, 25 / 255, random_state=1).astype(np.float32)
    den = CNNDenoiser.pretrained(name, sigma=20 / 255)
    assert den.correlated_expert_ is not None
    assert den.weights_metadata_["correlated_expert"] == "gray-correlated"
    with_expert = den.transform(correlated)
    expert, den.correlated_expert_ = den.correlated_expert_, None
    without = den.transform(correlated)
    den.set_params(sigma=25 / 255)
    white_without = den.transform(white)
    den.correlated_expert_ = expert
    np.testing.assert_array_equal(den.transform(white), white_without)
    gains = [psnr(c, a) - psnr(c, b) for c, a, b in zip(clean, with_expert, without)]
    assert min(gains) > 1.0 and np.mean(gains) > 2.0


def test_training_drops_the_expert_and_saving_keeps_it(tmp_path):
    """The expert and the noise floor belong to the shipped weights: a saved, untrained
    copy keeps them (the expert by its registry name), any training drops them, also from
    the saved file."""
    clean = load_sample_images(size=48).astype(np.float32) / 255
    den = CNNDenoiser.pretrained("gray")
    den.save(tmp_path / "copy.pt")
    copy = CNNDenoiser.load(tmp_path / "copy.pt")
    assert copy.correlated_expert_ is not None
    for mine, theirs in zip(copy.correlated_expert_.state_dict().values(),
                            den.correlated_expert_.state_dict().values()):
        assert torch.equal(mine, theirs)
    untrained = CNNDenoiser(init_weights="gray", max_epochs=0).fit(clean)
    assert untrained.correlated_expert_ is not None
    den.set_params(train_sigma=0.1, batch_size=4, patch_size=32, patches_per_image=1)
    assert den.weights_metadata_["noise_floor"] == copy.weights_metadata_["noise_floor"] > 0
    den.partial_fit(clean)
    assert den.correlated_expert_ is None and "correlated_expert" not in den.weights_metadata_
    assert "noise_floor" not in den.weights_metadata_  # measured on the shipped weights
    den.save(tmp_path / "tuned.pt")
    assert CNNDenoiser.load(tmp_path / "tuned.pt").correlated_expert_ is None
    den.save_checkpoint(tmp_path / "tuned.ckpt")
    assert CNNDenoiser.load_checkpoint(tmp_path / "tuned.ckpt").correlated_expert_ is None


def test_weights_can_name_only_a_shipped_expert(tmp_path):
    """A file's metadata names its expert; only registry experts are accepted, so a file
    cannot point the package at another file."""
    from sklearn_denoise._weights import save_weights

    config, state, metadata = load_weights(pretrained_path("gray")[0])
    for bad in ("../gray.pt", "gray", "noise-level", "nope"):
        save_weights(tmp_path / "w.pt", config, state, {**metadata, "correlated_expert": bad})
        with pytest.raises(ValueError, match="Unknown expert weights"):
            CNNDenoiser.load(tmp_path / "w.pt")
        (tmp_path / "w.pt").unlink()


def test_color_model_denoises_rgb():
    clean = load_sample_images(color=True, size=128)
    noisy = np.clip(gaussian(clean, 25 / 255, random_state=0), 0, 1)
    noisy_u8 = np.rint(noisy * 255).astype(np.uint8)
    den = CNNDenoiser.pretrained("color")
    out = den.transform(noisy_u8)
    assert out.dtype == np.uint8 and out.shape == clean.shape
    assert psnr(clean, out) > psnr(clean, noisy_u8) + 6.0
    with pytest.raises(ValueError, match="channel"):
        CNNDenoiser.pretrained("gray").transform(noisy_u8)


def test_fine_tuning_starts_from_pretrained_weights():
    clean = load_sample_images(size=64).astype(np.float32) / 255
    start = CNNDenoiser.pretrained("gray")
    tuned = CNNDenoiser(init_weights="gray", max_epochs=0).fit(clean)
    noisy = gaussian(clean, 0.1, random_state=0).astype(np.float32)
    np.testing.assert_array_equal(tuned.transform(noisy), start.transform(noisy))
    tuned.set_params(train_sigma=0.1).partial_fit(clean)
    assert len(tuned.history_) == 1


def test_unknown_name_lists_available_models():
    with pytest.raises(ValueError, match="gray"):
        CNNDenoiser.pretrained("grey")


def test_tampered_weights_fail_the_checksum(tmp_path, monkeypatch):
    copy = tmp_path / "pretrained"
    shutil.copytree(PRETRAINED, copy)
    path = copy / "gray.pt"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    assert hashlib.sha256(bytes(data)).hexdigest() != json.loads(
        (copy / "registry.json").read_text())["gray"]["sha256"]

    class _Files:
        def joinpath(self, *parts):
            return copy.joinpath(*parts[1:]) if parts[0] == "pretrained" else copy.joinpath(*parts)

    monkeypatch.setattr("sklearn_denoise._weights.resources.files", lambda pkg: _Files())
    with pytest.raises(ValueError, match="checksum"):
        CNNDenoiser.pretrained("gray")


def test_shipped_weights_load_unchanged():
    path, _ = pretrained_path("gray")
    raw = torch.load(path, weights_only=True)["state_dict"]
    for name in ("gray", "color"):
        loaded = CNNDenoiser.pretrained(name).net_.module_.state_dict()
        assert loaded.keys() == raw.keys()
        for key, tensor in raw.items():
            assert torch.equal(loaded[key], tensor.float()), (name, key)


def test_only_the_registered_bytes_load_without_an_in_file_checksum(tmp_path, monkeypatch):
    # files written before the in-file checksum existed load only when their bytes are
    # registered (their SHA-256 in the registry)
    import sklearn_denoise._weights as weights_module

    path, _ = pretrained_path("gray")
    payload = torch.load(path, weights_only=True)
    payload.pop("sha256", None)
    legacy = tmp_path / "legacy.pt"
    torch.save(payload, legacy)
    with pytest.raises(ValueError, match="has no checksum"):
        load_weights(legacy)
    digest = hashlib.sha256(legacy.read_bytes()).hexdigest()
    registered = weights_module._shipped_digests() | {digest}
    monkeypatch.setattr(weights_module, "_shipped_digests", lambda: registered)
    assert load_weights(legacy)[0] == load_weights(path)[0]  # the registered bytes: accepted
    payload["metadata"]["note"] = "edited"
    torch.save(payload, legacy)
    with pytest.raises(ValueError, match="has no checksum"):
        load_weights(legacy)


def test_shipped_models_give_their_reference_outputs():
    """The shipped weights through today's code give the outputs recorded before the code
    was reorganised (tests/data/make_pretrained_reference.py; re-recorded when the
    stage-3 weights, trained on sensor noise, were shipped on 2026-12-02, and the blind
    outputs when the blind white-noise level became the weak-texture estimate on
    2026-12-03: the output with a given sigma stayed identical)."""
    import runpy
    from pathlib import Path

    data = Path(__file__).with_name("data")
    make = runpy.run_path(str(data / "make_pretrained_reference.py"))
    reference = np.load(data / "pretrained_reference.npz")
    outputs = make["outputs"]()
    assert sorted(outputs) == sorted(reference.files)
    for name, out in outputs.items():
        np.testing.assert_allclose(out, reference[name], rtol=0, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("name", ["gray", "color"])
def test_meta_estimators_refit_a_pretrained_model_without_training_it(name):
    """clone + fit, what GridSearchCV, cross_validate and Pipeline do, gives the pretrained
    model's own result (issue #28: it used to train 10 epochs at lr 1e-3, 0.39 dB worse)."""
    from sklearn.base import clone
    from sklearn.model_selection import cross_validate
    from sklearn.pipeline import make_pipeline

    color = name == "color"
    clean = load_sample_images(size=48, color=color).astype(np.float32) / 255
    noisy = gaussian(clean, 20 / 255, random_state=0).astype(np.float32)
    den = CNNDenoiser.pretrained(name)
    expected = den.transform(noisy)
    refit = clone(den).fit(noisy, clean)
    assert len(refit.history_) == 0
    np.testing.assert_array_equal(refit.transform(noisy), expected)
    assert refit.correlated_expert_ is not None
    pipe = clone(make_pipeline(den)).fit(noisy, clean)
    np.testing.assert_array_equal(pipe.transform(noisy), expected)
    scores = cross_validate(den, noisy, clean, cv=2, return_estimator=True)
    for fold in scores["estimator"]:
        assert len(fold.history_) == 0
        np.testing.assert_array_equal(fold.transform(noisy[:2]), expected[:2])


def test_fine_tuning_a_pretrained_model_is_asked_for_with_max_epochs():
    clean = load_sample_images(size=48).astype(np.float32) / 255
    noisy = gaussian(clean, 20 / 255, random_state=0).astype(np.float32)
    den = CNNDenoiser.pretrained("gray", patch_size=32, patches_per_image=1,
                                 validation_fraction=0, random_state=0)
    assert (den.max_epochs, den.lr) == (0, 1e-4)
    assert (CNNDenoiser.pretrained("gray", max_epochs=3, lr=1e-3).max_epochs,
            CNNDenoiser.pretrained("gray", lr=1e-3).lr) == (3, 1e-3)
    from sklearn.base import clone

    tuned = clone(den).set_params(max_epochs=1).fit(noisy, clean)
    assert len(tuned.history_) == 1
    assert tuned.history_[-1, "event_lr"] == pytest.approx(1e-4)
    assert not np.array_equal(tuned.transform(noisy), den.transform(noisy))


def test_verbose_transform_shows_progress_over_a_stack(capsys):
    clean = load_sample_images(size=32).astype(np.float32) / 255
    noisy = gaussian(clean, 20 / 255, random_state=0).astype(np.float32)
    quiet = CNNDenoiser.pretrained("gray").transform(noisy)
    assert "CNNDenoiser.transform" not in capsys.readouterr().err
    loud = CNNDenoiser.pretrained("gray", verbose=1).transform(noisy)
    assert "CNNDenoiser.transform" in capsys.readouterr().err
    np.testing.assert_array_equal(quiet, loud)
