"""Inference of CNNDenoiser: one image (or tile) through the network, with its noise map,
and large images in overlapping tiles (the margins come from the estimator's spatial
contract, see :mod:`sklearn_denoise._tiling`)."""

import numpy as np
import torch

from ._allocator import engages, large_buffers_reused
from ._tiling import network_layout, run_tiled


def torch_device(device):
    """The torch device for a ``device`` option: "cpu", "cuda" or "auto" (CUDA if any)."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but CUDA is not available.")
    return device


def to_tensor(image):
    """(H, W, C) array -> (C, H, W) float32 tensor that owns its memory."""
    # a copy: a 1x1 crop with negative strides counts as contiguous but torch rejects it
    return torch.from_numpy(np.array(np.moveaxis(image, -1, 0), dtype=np.float32, order="C"))


def network_input(image, sigma, noise_level_input):
    """(H, W, C) float image -> (1, C[+1], H, W) tensor with the noise map if the network
    takes one; ``sigma`` is one level for the whole image or an (H, W, 1) map."""
    x = image.astype(np.float32, copy=False)
    if noise_level_input:
        level = np.broadcast_to(np.asarray(sigma, np.float32), x.shape[:2] + (1,))
        x = np.concatenate([x, level], axis=-1)
    return to_tensor(x)[None]


def run_network(module, image, sigma, *, noise_level_input, device):
    """One forward pass on one (h, w, C) image or tile -> (h, w, C_out) float32.

    Raises
    ------
    RuntimeError
        If the output holds NaN or infinite values while the input is finite (broken
        weights: diverged training, or values that overflow): never returned as a result.
    """
    x = network_layout(network_input(image, sigma, noise_level_input).to(device))
    with torch.inference_mode():
        out = module(x).cpu()
    out = np.moveaxis(out[0].numpy(), 0, -1)
    if not np.isfinite(out).all() and bool(torch.isfinite(x).all()):
        raise RuntimeError(
            "The network returned NaN or infinite values for a finite image: its weights "
            "are broken (training diverged, e.g. with too high a learning rate lr) or "
            "overflow on this input; no result is returned."
        )
    return out


# The eight symmetries of the square as (mirror left-right first, then quarter turns), in an
# order whose first 1, 2 and 4 (SELF_ENSEMBLE_SIZES) are subgroups: averaging over them is
# itself symmetric.
_DIHEDRAL = ((False, 0), (True, 0), (False, 2), (True, 2),
             (False, 1), (True, 1), (False, 3), (True, 3))


def _dihedral(array, mirror, turns, *, inverse=False):
    """One symmetry of the square applied to the first two axes of ``array`` (or undone)."""
    if inverse:
        array = np.rot90(array, -turns)
        return array[:, ::-1] if mirror else array
    array = array[:, ::-1] if mirror else array
    return np.rot90(array, turns)


def dihedral_average(denoise, image, sigma, size):
    """``denoise(image, sigma)`` averaged over the first ``size`` (1, 2, 4 or 8) flips and
    rotations of the (H, W, C) image and of ``sigma`` when it is an (H, W, 1) map, each
    result turned back before averaging (test-time self-ensemble)."""
    if size == 1:
        return denoise(image, sigma)
    total = None
    for mirror, turns in _DIHEDRAL[:size]:
        level = sigma if np.ndim(sigma) == 0 else _dihedral(sigma, mirror, turns)
        out = _dihedral(denoise(_dihedral(image, mirror, turns), level), mirror, turns,
                        inverse=True)
        total = np.array(out, dtype=np.float32) if total is None else total + out
    return total / np.float32(size)


def _first_width(module):
    """Output channels of the network's first convolution (its full-resolution width)."""
    conv = next((m for m in module.modules() if isinstance(m, torch.nn.Conv2d)), None)
    return conv.out_channels if conv is not None else 1


def denoise_tiled(module, image, sigma, *, tile_size, contract, out_channels,
                  noise_level_input, device):
    """Run ``module`` on one (H, W, C) image, in overlapping tiles when it is larger than
    ``tile_size``; ``sigma`` (one level or an (H, W, 1) map) is tiled with it. Tiles are
    at least twice the contract's margin, which keeps the context's cost under 4x the
    tile's own."""
    height, width = image.shape[:2]
    tile = max(tile_size, 2 * contract.margin)

    def run(rows, cols):
        level = sigma if np.ndim(sigma) == 0 else sigma[rows, cols]
        return run_network(module, image[rows, cols], level,
                           noise_level_input=noise_level_input, device=device)

    side = tile + 2 * contract.margin
    largest = min(height, side) * min(width, side) * _first_width(module) * 4  # float32
    largest = largest if str(device) == "cpu" else 0
    with large_buffers_reused(largest):
        if max(height, width) <= tile:
            return run(slice(None), slice(None))
        out = np.empty((height, width, out_channels), dtype=np.float32)
        # equal windows pay off where their buffers are reused; else clipped ones are less work
        return run_tiled(run, image.shape[:2], out, tile, contract,
                         equal_windows=engages(largest))
