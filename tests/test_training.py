"""Training losses (sklearn_denoise._training.PixelLoss)."""

import sys

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio
from torch import nn

from sklearn_denoise._training import PixelLoss


@pytest.fixture
def batch():
    gen = torch.Generator().manual_seed(0)
    target = torch.rand(3, 1, 8, 8, generator=gen)
    scale = torch.tensor([0.01, 0.05, 0.2]).view(3, 1, 1, 1)
    pred = target + scale * torch.randn(3, 1, 8, 8, generator=gen)
    return pred, target


def test_mse_and_l1_are_torchs_losses(batch):
    pred, target = batch
    assert PixelLoss("mse")(pred, target) == pytest.approx(nn.MSELoss()(pred, target).item())
    assert PixelLoss("l1")(pred, target) == pytest.approx(nn.L1Loss()(pred, target).item())


def test_psnr_loss_is_minus_the_mean_patch_psnr(batch):
    _, target = batch
    scale = torch.tensor([0.05, 0.1, 0.2]).view(3, 1, 1, 1)
    pred = target + scale * torch.randn(target.shape, generator=torch.Generator().manual_seed(2))
    expected = -np.mean([
        peak_signal_noise_ratio(t.numpy().astype(np.float64), p.numpy().astype(np.float64),
                                data_range=1.0)
        for p, t in zip(pred, target)
    ])
    # the (1/255)^2 floor moves these patches by less than 0.03 dB
    assert PixelLoss("psnr")(pred, target).item() == pytest.approx(expected, abs=0.05)
    assert PixelLoss("psnr")(target, target).item() == pytest.approx(
        10 * np.log10((1 / 255) ** 2), rel=1e-5)


def test_psnr_loss_weighs_each_patch_by_its_inverse_error(batch):
    pred, target = batch
    grads = {}
    for kind in ("mse", "psnr"):
        p = pred.clone().requires_grad_(True)
        PixelLoss(kind)(p, target).backward()
        grads[kind] = p.grad.flatten(1).norm(dim=1)
    mse = ((pred - target) ** 2).flatten(1).mean(1)
    # mse: the gradient grows with the error; psnr: it shrinks as 1 / error
    assert grads["mse"][0] < grads["mse"][1] < grads["mse"][2]
    assert grads["psnr"][0] > grads["psnr"][1] > grads["psnr"][2]
    ratio = grads["psnr"] / grads["mse"]
    expected = 1 / (mse + (1 / 255) ** 2)
    np.testing.assert_allclose((ratio / ratio[0]).numpy(), (expected / expected[0]).numpy(),
                               rtol=1e-4)


@pytest.mark.parametrize("kind", ["mse", "l1", "psnr"])
def test_masked_losses_count_masked_pixels_only(batch, kind):
    pred, target = batch
    mask = (torch.rand(target.shape, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    masked = PixelLoss(kind, masked=True)(pred, torch.cat([target, mask], dim=1))
    # unmasked pixels may take any value
    moved = pred + (1 - mask) * 5.0
    assert PixelLoss(kind, masked=True)(moved, torch.cat([target, mask], dim=1)) == masked
    error = (pred - target) * mask
    pixel = error.abs() if kind == "l1" else error ** 2
    if kind == "psnr":
        per_patch = pixel.sum((1, 2, 3)) / mask.sum((1, 2, 3))
        expected = (10 * torch.log10(per_patch + (1 / 255) ** 2)).mean()
    else:
        expected = pixel.sum() / mask.sum()
    assert masked.item() == pytest.approx(expected.item(), rel=1e-5)


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="loss must be one of"):
        PixelLoss("ssim")


class _Stream:
    def __init__(self, tty):
        self.tty = tty

    def isatty(self):
        return self.tty


def test_progress_bars_only_where_they_are_redrawn():
    from sklearn_denoise._training import progress_bars_shown

    notebook = "ipykernel" in sys.modules
    assert progress_bars_shown(_Stream(True))
    assert progress_bars_shown(_Stream(False)) == notebook
    assert progress_bars_shown(object()) == notebook  # no isatty at all


def test_epoch_table_is_written_whole_and_only_when_verbose(capsys):
    from sklearn_denoise import CNNDenoiser
    from sklearn_denoise._training import write_table_rows

    write_table_rows("  epoch    train_loss\n-------  ------------")
    assert capsys.readouterr().out == "  epoch    train_loss\n-------  ------------\n"
    X = np.random.RandomState(0).uniform(size=(3, 32, 32)).astype(np.float32)
    params = dict(width=4, depth=2, max_epochs=1, train_sigma=0.1, random_state=0,
                  n_threads=1, patches_per_image=2, patch_size=32)
    CNNDenoiser(**params).fit(X)
    assert capsys.readouterr().out == ""  # verbose=0 is silent
    den = CNNDenoiser(verbose=1, **params).fit(X)
    captured = capsys.readouterr()
    assert "train_loss" in captured.out and "\x1b[" not in captured.out
    # stderr is no terminal here: no per-batch bar to break the table's lines
    assert "progress_bar" not in dict(den.net_.callbacks_)
