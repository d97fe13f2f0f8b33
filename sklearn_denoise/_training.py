"""Training data, losses and callbacks of CNNDenoiser: random patches with synthetic,
realistic or blind-spot targets, the held-out validation patches, the cosine learning-rate
schedule (a skorch LRScheduler) and skorch's epoch table without colour codes in logs."""

import math
import sys

import numpy as np
import torch
from skorch.callbacks import Callback, LRScheduler, PrintLog
from torch import nn
from tqdm.auto import tqdm

from ._inference import to_tensor
from ._param_checks import LOSSES
from ._sensor import sensor_training_patch

#: The cosine schedule ends at this fraction of the initial learning rate.
FINAL_LR_FRACTION = 0.01


def split_channels(images):
    """(n, H, W, C) images or list -> list of (H, W, 1) single-channel images."""
    return [img[..., c : c + 1] for img in images for c in range(img.shape[-1])]


class PatchDataset(torch.utils.data.Dataset):
    """Random training patches, drawn afresh on every access (so every epoch).

    ``mode`` is "supervised" (pairs), "synthetic" (clean images, Gaussian noise of a
    random sigma per patch) or "self_supervised" (noisy images, blind-spot masking).
    """

    def __init__(self, inputs, targets, *, mode, patch_size, n_patches, sigma_range,
                 noise_level_input, mask_ratio, sigmas, seed, noise_scales=None,
                 train_noise="gaussian", degradation=None, mask_replacement="random",
                 struct_mask=None, struct_span=5):
        self.inputs = inputs
        self.targets = targets
        self.mode = mode
        self.n_patches = n_patches
        self.sigma_range = sigma_range
        self.noise_level_input = noise_level_input
        self.mask_ratio = mask_ratio
        self.mask_replacement = mask_replacement
        self.struct_mask = struct_mask
        self.struct_span = struct_span
        self.sigmas = sigmas
        self.noise_scales = noise_scales
        self.train_noise = train_noise
        if train_noise == "realistic" and degradation is None:
            raise ValueError('train_noise="realistic" needs its Degradation.')
        self.degradation = degradation
        self.rng = np.random.default_rng(seed)
        heights = [img.shape[0] for img in inputs]
        widths = [img.shape[1] for img in inputs]
        self.patch = (min(patch_size, *heights), min(patch_size, *widths))

    def __len__(self):
        return self.n_patches

    def _crop(self, idx):
        rng = self.rng
        i = idx % len(self.inputs)
        img = self.inputs[i]
        ph, pw = self.patch
        top = rng.integers(0, img.shape[0] - ph + 1)
        left = rng.integers(0, img.shape[1] - pw + 1)
        window = (slice(top, top + ph), slice(left, left + pw))
        x = img[window]
        y = self.targets[i][window] if self.targets is not None else None
        k = int(rng.integers(4)) if ph == pw else 2 * int(rng.integers(2))
        flip = bool(rng.integers(2))
        x = np.rot90(x, k)
        y = np.rot90(y, k) if y is not None else None
        if flip:
            x = x[:, ::-1]
            y = y[:, ::-1] if y is not None else None
        return i, x, y

    def __getitem__(self, idx):
        i, x, y = self._crop(idx)
        rng = self.rng
        if self.mode == "synthetic" and self.train_noise == "realistic":
            noisy, target, noise_map, _ = self.degradation.sample(x, rng)
            return to_tensor(np.concatenate([noisy, noise_map], axis=-1)), to_tensor(target)
        if self.mode == "synthetic" and self.train_noise == "mixed" and rng.random() < 0.5:
            noisy, target, noise_map = sensor_training_patch(x, rng)
            return to_tensor(np.concatenate([noisy, noise_map], axis=-1)), to_tensor(target)
        if self.mode == "synthetic":
            sigma = rng.uniform(*self.sigma_range)
            if self.noise_scales is not None:
                sigma *= self.noise_scales[i]
            clean = x
            noisy = x + rng.normal(0.0, sigma, size=x.shape).astype(x.dtype)
            target = clean
        elif self.mode == "supervised":
            sigma = self.sigmas[i] if self.sigmas is not None else 0.0
            noisy, target = x, y
        else:
            sigma = self.sigmas[i] if self.sigmas is not None else 0.0
            noisy, target = self._mask(x, rng)
        net_in = noisy
        if self.noise_level_input:
            net_in = np.concatenate([noisy, np.full(noisy.shape[:2] + (1,), sigma, noisy.dtype)],
                                    axis=-1)
        return to_tensor(net_in), to_tensor(target)

    def _mask(self, x, rng):
        return blind_spot_mask(x, rng, self.mask_ratio, replacement=self.mask_replacement,
                               struct=self.struct_mask, span=self.struct_span)


#: Half-side of the neighbourhood a masked pixel's replacement comes from (5x5).
MASK_RADIUS = 2
MASK_REPLACEMENTS = ("median", "random")
STRUCT_MASKS = ("row", "column")


def _neighbour_offsets(radius):
    """(2, K) row and column offsets of a (2r+1)^2 neighbourhood without its centre."""
    dr, dc = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    keep = (dr != 0) | (dc != 0)
    return np.stack([dr[keep], dc[keep]])


def blind_spot_mask(x, rng, ratio, *, replacement="median", struct=None, span=5,
                    radius=MASK_RADIUS):
    """Blind-spot masking of one (H, W, C) patch (Noise2Void).

    A random ``ratio`` of the pixels (at least one) is masked: each masked pixel takes,
    in every channel, the median of its (2 * radius + 1)^2 neighbours without itself
    (``replacement="median"``, N2V2) or the value of one of them drawn at random
    (``"random"``, N2V); a neighbour outside the patch is taken on the pixel's other
    side, and the pixel's own value is never used (a 1x1 patch takes the patch mean).
    With ``struct="row"`` (or ``"column"``), the
    ``span - 1`` pixels around each masked pixel along its row (column) are also replaced,
    by values of pixels drawn at random from the patch (structN2V, Broaddus et al. 2020),
    so that noise correlated along rows (columns) cannot be read from them.

    Returns the masked patch and the target: the patch with the mask as an extra last
    channel (1 where the loss counts).
    """
    h, w, _ = x.shape
    mask = rng.random((h, w)) < ratio
    if not mask.any():
        mask[rng.integers(h), rng.integers(w)] = True
    rows, cols = np.nonzero(mask)
    src_r, src_c, valid = _neighbours(rows, cols, h, w, radius)
    if replacement == "median":
        # (n, K, C): the neighbours' values, the pixel itself never among them
        neighbours = x[src_r, src_c].astype(np.float64)
        neighbours[~valid] = np.nan
        values = np.nanmedian(neighbours, axis=1) if valid.any(axis=1).all() else (
            np.full((rows.size, x.shape[2]), x.mean()))
        values = values.astype(x.dtype)
    elif replacement == "random":
        keys = np.where(valid, rng.random(valid.shape), -1.0)
        pick = np.argmax(keys, axis=1)
        values = x[src_r[np.arange(rows.size), pick], src_c[np.arange(rows.size), pick]]
    else:
        raise ValueError(f"replacement must be one of {MASK_REPLACEMENTS}, got {replacement!r}.")
    masked = x.copy()
    if struct is not None:
        half = (span - 1) // 2
        steps = np.array([d for d in range(-half, span - half) if d != 0], dtype=int)
        if steps.size:
            if struct == "row":
                sr = np.broadcast_to(rows[:, None], (rows.size, steps.size))
                sc = cols[:, None] + steps
            else:
                sr = rows[:, None] + steps
                sc = np.broadcast_to(cols[:, None], (rows.size, steps.size))
            inside = (sr >= 0) & (sr < h) & (sc >= 0) & (sc < w)
            sr, sc = sr[inside], sc[inside]
            masked[sr, sc] = x[rng.integers(h, size=sr.size), rng.integers(w, size=sr.size)]
    masked[rows, cols] = values
    target = np.concatenate([x, mask[..., None].astype(x.dtype)], axis=-1)
    return masked, target


def _neighbours(rows, cols, h, w, radius):
    """Row and column indices (n, K) of the neighbourhood of each pixel, without the pixel:
    an offset that leaves the patch is turned back through the pixel (-d for d), then
    clipped; ``valid`` is False where that still lands on the pixel itself (patches
    narrower than the neighbourhood)."""
    offsets = _neighbour_offsets(radius)
    sr = rows[:, None] + offsets[0]
    sc = cols[:, None] + offsets[1]
    sr = np.clip(np.where((sr < 0) | (sr >= h), rows[:, None] - offsets[0], sr), 0, h - 1)
    sc = np.clip(np.where((sc < 0) | (sc >= w), cols[:, None] - offsets[1], sc), 0, w - 1)
    valid = (sr != rows[:, None]) | (sc != cols[:, None])
    return sr, sc, valid


# 10 log10(MSE + eps): the PSNR loss's floor, an error of 1/255, keeps the near-noise-free
# patches (MSE -> 0) from taking all of the weight
_PSNR_LOSS_EPS = (1 / 255) ** 2


class PixelLoss(nn.Module):
    """Training loss between the network's output and its target.

    ``kind`` is "mse" (mean squared error), "l1" (mean absolute error) or "psnr" (minus
    the mean over patches of each patch's PSNR, i.e. ``10 log10(MSE_patch + eps)``: the
    average PSNR a benchmark reports, so each patch weighs by the inverse of its own
    error and lightly noisy patches are not drowned out by heavily noisy ones).
    With ``masked=True`` (blind-spot training) the target's last channel is the mask and
    only masked pixels count.
    """

    def __init__(self, kind="mse", masked=False):
        super().__init__()
        if kind not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {kind!r}.")
        self.kind = kind
        self.masked = masked

    def forward(self, y_pred, y_true):
        target = y_true[:, :-1] if self.masked else y_true
        error = y_pred - target
        pixel = error.abs() if self.kind == "l1" else error ** 2
        dims = tuple(range(1, pixel.ndim))
        if not self.masked:
            if self.kind != "psnr":
                return pixel.mean()
            per_patch = pixel.mean(dims)
        else:
            mask = y_true[:, -1:]
            pixel = pixel * mask
            if self.kind != "psnr":
                return pixel.sum() / (mask.sum() * y_pred.shape[1]).clamp_min(1.0)
            per_patch = pixel.sum(dims) / (mask.sum(dims) * y_pred.shape[1]).clamp_min(1.0)
        return 10 * torch.log10(per_patch + _PSNR_LOSS_EPS).mean()


def write_table_rows(text):
    """The sink of :class:`PlainPrintLog`: rows written through :func:`tqdm.tqdm.write`,
    which clears the progress bars on the terminal first and draws them again after, then
    flushed, so that in a log that takes stdout and stderr both the rows and the bars'
    lines stay whole and in order."""
    tqdm.write(str(text), file=sys.stdout)
    sys.stdout.flush()


def progress_bars_shown(stream=None):
    """Whether per-batch progress bars help: on a terminal or in a Jupyter kernel, not in a
    log file (where each redraw is one more line and the epoch table is the record)."""
    stream = sys.stderr if stream is None else stream
    try:
        interactive = stream.isatty()
    except (AttributeError, ValueError):
        interactive = False
    return interactive or "ipykernel" in sys.modules


class PlainPrintLog(PrintLog):
    """skorch's epoch table, without ANSI colour codes when stdout is not a terminal
    (a log redirected to a file would otherwise hold escape sequences). Built with
    ``sink=write_table_rows`` by :class:`~sklearn_denoise.CNNDenoiser`, so that its rows
    never break a progress bar's line."""

    def _sink(self, text, verbose):
        # skorch's own check writes to any sink but print whatever the verbosity
        if verbose:
            self.sink(text)

    def format_row(self, row, key, color):
        if sys.stdout.isatty():
            return super().format_row(row, key, color)
        plain = {k: v for k, v in row.items() if k != key + "_best"}
        return super().format_row(plain, key, color)


class CosineDecay:
    """``lr_lambda`` of :class:`torch.optim.lr_scheduler.LambdaLR`: the factor of the
    initial learning rate at epoch ``e`` (counted from the start of training), a cosine
    from 1 to 1 % over ``total_epochs`` epochs that starts again after each cycle (warm
    restarts, as in SGDR)."""

    def __init__(self, total_epochs):
        self.total_epochs = max(int(total_epochs), 1)

    def __call__(self, epoch):
        progress = (epoch % self.total_epochs) / self.total_epochs
        return FINAL_LR_FRACTION + (1 - FINAL_LR_FRACTION) * 0.5 * (
            1 + math.cos(math.pi * progress))

    def __repr__(self):
        return f"CosineDecay(total_epochs={self.total_epochs})"


def cosine_schedule(total_epochs):
    """The default learning-rate schedule: skorch's LRScheduler over LambdaLR with
    :class:`CosineDecay`. LambdaLR computes the rate from the epoch count in closed form,
    and skorch restarts the scheduler at ``len(history)`` on every ``fit``/``partial_fit``
    call, so ``partial_fit`` continues the same curve."""
    return LRScheduler(policy="LambdaLR", lr_lambda=CosineDecay(total_epochs))


def monitored_loss(net):
    """The loss a plateau schedule watches: the epoch's ``valid_loss`` when there is a
    validation split, its ``train_loss`` otherwise."""
    last = net.history[-1]
    return last.get("valid_loss", last["train_loss"])


#: ``lr_schedule="plateau"``: the rate is halved after this many epochs without a new
#: best monitored loss.
PLATEAU_PATIENCE = 2
PLATEAU_FACTOR = 0.5


def plateau_schedule():
    """skorch's LRScheduler over ReduceLROnPlateau (as CAREamics schedules): the rate is
    halved after ``PLATEAU_PATIENCE`` epochs without a new best :func:`monitored_loss`."""
    return LRScheduler(policy="ReduceLROnPlateau", monitor=monitored_loss,
                       factor=PLATEAU_FACTOR, patience=PLATEAU_PATIENCE,
                       min_lr=0.0)


class StopOnDivergence(Callback):
    """Stop training with a ValueError as soon as a training batch's loss is not finite.

    A loss that overflows to inf or NaN means the optimizer has left (or is about to
    leave) the weights as NaN: every later epoch, and every image the network would
    denoise, would be NaN. The error names the learning rate, the usual cause, and the
    scale of the training images, the other one. The net's weights are left as the
    failing step made them; train again (``fit``) with a lower ``lr``.
    """

    def on_batch_end(self, net, batch=None, training=None, loss=None, **kwargs):
        if not training or loss is None:
            return
        value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
        if math.isfinite(value):
            return
        rate = net.optimizer_.param_groups[0]["lr"]
        raise ValueError(
            f"Training diverged: the loss of a training batch became {value} in epoch "
            f"{len(net.history)} with lr={net.lr:g} (this epoch's rate {rate:.3g}). Use a "
            "lower lr "
            "(the default is 1e-3; 1e-4 to fine-tune) and check that the training images "
            "are on about [0, 1]; the weights are left as the failing step made them."
        )


class HeldOutSplit:
    """skorch ``train_split``: the training patches as they are, and a fixed validation
    dataset (patches of held-out images, drawn once with a fixed seed so that the
    validation loss of every epoch is measured on the same data)."""

    def __init__(self, valid_dataset):
        self.valid_dataset = valid_dataset

    def __call__(self, dataset, y=None, **fit_params):
        return dataset, self.valid_dataset


class FixedPatches(torch.utils.data.Dataset):
    """The patches of a :class:`PatchDataset`, drawn once and kept."""

    def __init__(self, dataset):
        self.items = [dataset[i] for i in range(len(dataset))]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, idx):
        return self.items[idx]


def validation_images(n_images, fraction, seed):
    """Indices of the images held out for validation (at least one when ``fraction`` > 0
    and at least one image is left to train on), fixed by ``seed``."""
    if fraction <= 0 or n_images < 2:
        return np.array([], dtype=int)
    n_valid = min(max(1, int(round(fraction * n_images))), n_images - 1)
    return np.sort(np.random.default_rng(seed).permutation(n_images)[:n_valid])
