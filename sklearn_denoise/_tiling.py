"""Overlapping tiles for spatially local models (CNNDenoiser, denoise_dask).

A fully convolutional network computes each output pixel from a bounded neighbourhood of
the input. A large image can therefore be processed in tiles: each tile's *core* is
extended by a *margin* of context on every side (clipped at the image border), the model
runs on the extended tile, and only the core of its output is kept. With a margin at least
the model's receptive radius the result equals untiled inference; networks with
downsampling also need tile borders on their downsampling grid (multiples of
``multiple`` from the image origin), so that every tile sees the grid untiled inference
sees.

:class:`SpatialContract` is what a model asks of its tiles (or of dask chunks);
:func:`run_tiled` applies a function tile by tile; :func:`effective_radius` measures how
far the context of a trained model actually matters, which is usually much less than its
theoretical receptive radius.
"""

import hashlib
from typing import NamedTuple

import numpy as np

__all__ = [
    "CHANNELS_LAST",
    "MEASURED_RADII",
    "SpatialContract",
    "effective_radius",
    "make_contract",
    "measured_radius",
    "network_layout",
    "round_up",
    "run_tiled",
    "tile_windows",
    "weights_digest",
]

#: Effective receptive radius (pixels) measured for shipped weights, by
#: :func:`weights_digest` of the module holding them. Measured with
#: ``python benchmarks/bench_scaling.py --measure-radius`` (see docs/benchmarks.rst,
#: "Large images"): on the Set12 images with Gaussian noise of sigma 15, 25 and 50 (/255),
#: replacing the input farther than the radius from an output pixel by black or white moves
#: that pixel by at most 1.5e-3, and tiles of 64 px with this margin differ from untiled
#: inference by at most 1.0e-3 (7.9e-3 with a 48-px margin, 1.1e-4 with 80 px): the
#: smallest margin on the 8-px grid within the 2e-3 that tiling is allowed. The
#: theoretical radius of the 4-level U-Net is 256 px.
MEASURED_RADII = {
    # "gray" (and "color", the same network): U-Net 4 levels x 16 x 2 blocks, noise map
    "a80c590171efe8c2534257e984c5405ee05aa9876b715c2173e584e7716be351": 64,
}

#: Lay network inputs out channels-last on the CPU, the layout oneDNN's convolutions work in
#: (the network's activations follow the input's layout). Measured faster than torch's
#: default layout at every image size; ``benchmarks/bench_scaling.py`` compares both.
CHANNELS_LAST = True


class SpatialContract(NamedTuple):
    """What a spatially local model needs from the tiles or chunks it runs on.

    Attributes
    ----------
    margin : int
        Pixels of context needed on each side of a tile's core, a multiple of
        ``multiple``.
    multiple : int
        Tile (or chunk) borders must fall on multiples of it, counted from the image
        origin (the downsampling grid of a U-Net; 1 for models without downsampling).
    """

    margin: int
    multiple: int


def round_up(value, multiple):
    """The smallest multiple of ``multiple`` that is >= ``value``."""
    return -(-int(value) // int(multiple)) * int(multiple)


def make_contract(radius, multiple=1):
    """The :class:`SpatialContract` of a model with this context radius and grid."""
    multiple = max(1, int(multiple))
    return SpatialContract(round_up(max(0, radius), multiple), multiple)


def _split(length, tile, multiple):
    """Core intervals ``[start, stop)`` covering ``[0, length)``: as few as keep each core
    at most ``tile`` long (``multiple`` at least), of nearly equal lengths, with every
    inner border on a multiple of ``multiple``."""
    tile = max(multiple, tile // multiple * multiple)
    n_tiles = -(-length // tile)
    core = round_up(-(-length // n_tiles), multiple)
    starts = range(0, length, core)
    return [(start, min(start + core, length)) for start in starts]


def tile_windows(shape, tile, contract):
    """The tiles of an image of spatial ``shape`` (H, W).

    Parameters
    ----------
    shape : tuple of int
        Height and width of the image.
    tile : int
        Longest side of a tile's core; images no larger than it on both axes are one tile.
    contract : SpatialContract
        The model's margin and grid.

    Returns
    -------
    windows : list of ((slice, slice), (slice, slice))
        For each tile, its core and the extended window the model runs on (the core plus
        the margin, clipped at the image border), as (rows, columns) slices of the image.
    """
    axes = []
    for length in shape[:2]:
        if length <= tile:
            intervals = [(0, length)]
        else:
            intervals = _split(length, tile, contract.multiple)
        axes.append(
            [(slice(a, b), slice(max(0, a - contract.margin), min(length, b + contract.margin)))
             for a, b in intervals]
        )
    return [((rows, cols), (ext_rows, ext_cols))
            for rows, ext_rows in axes[0] for cols, ext_cols in axes[1]]


def run_tiled(func, shape, out, tile, contract):
    """Fill ``out`` tile by tile with the output of ``func`` on the extended tiles.

    Parameters
    ----------
    func : callable
        ``func(rows, cols)`` returns the model's output, of shape ``(h, w, ...)``, on the
        extended window ``image[rows, cols]`` of the input (the caller slices the image
        and anything that goes with it, such as a noise-level map).
    shape : tuple of int
        Height and width of the image.
    out : ndarray of shape (H, W, ...)
        Written in place; only one tile's output is held at a time besides it.
    tile : int
        Longest side of a tile's core (see :func:`tile_windows`).
    contract : SpatialContract
        The model's margin and grid.

    Returns
    -------
    out : ndarray
        ``out``, filled.
    """
    for (rows, cols), (ext_rows, ext_cols) in tile_windows(shape, tile, contract):
        result = func(ext_rows, ext_cols)
        top, left = rows.start - ext_rows.start, cols.start - ext_cols.start
        out[rows, cols] = result[top : top + rows.stop - rows.start,
                                 left : left + cols.stop - cols.start]
    return out


def effective_radius(func, image, *, tol, multiple=1, radii=None, fills=(0.0, 1.0)):
    """Measured context radius: beyond it, changing the input moves the output by < ``tol``.

    The input outside a central square, dilated by a radius ``r``, is replaced by each of
    ``fills`` (constant values), and the output inside the square is compared with the
    output on the unchanged image. The effective radius is the smallest tested ``r`` for
    which every such change moves every output pixel of the square by at most ``tol``.

    Parameters
    ----------
    func : callable
        Maps an ``(H, W, C)`` float array to the ``(H, W, C_out)`` output of the model.
    image : ndarray of shape (H, W, C)
        A representative input (a noisy image, with its noise-level map if the model
        takes one); the central square is a quarter of its side.
    tol : float
        Largest output change that counts as no change.
    multiple : int, default=1
        The model's downsampling grid: the square and the radii are kept on it.
    radii : iterable of int, default=None
        Radii to test, increasing; defaults to the multiples of ``multiple`` up to the
        distance from the square to the image border.
    fills : tuple of float, default=(0.0, 1.0)
        Values the outside is replaced with.

    Returns
    -------
    radius : int or None
        The smallest sufficient radius, or None when none of ``radii`` is.
    deviations : dict
        ``{r: largest output change}`` for every tested radius.
    """
    height, width = image.shape[:2]
    side = max(multiple, min(height, width) // 4 // multiple * multiple)
    top = (height - side) // 2 // multiple * multiple
    left = (width - side) // 2 // multiple * multiple
    core = (slice(top, top + side), slice(left, left + side))
    reach = min(top, left, height - top - side, width - left - side)
    if radii is None:
        radii = range(multiple, reach + 1, multiple)
    reference = func(image)[core]
    deviations = {}
    radius = None
    for r in radii:
        window = (slice(max(0, top - r), top + side + r),
                  slice(max(0, left - r), left + side + r))
        worst = 0.0
        for fill in fills:
            changed = np.full_like(image, fill)
            changed[window] = image[window]
            worst = max(worst, float(np.max(np.abs(func(changed)[core] - reference))))
        deviations[r] = worst
        if worst <= tol and radius is None:
            radius = r
    return radius, deviations


def weights_digest(module):
    """SHA-256 of a module's state (tensor names, shapes and float32 values).

    Identifies weights independently of how they were loaded: any training step or
    manual change gives another digest.
    """
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        values = tensor.detach().cpu().float().contiguous().numpy()
        digest.update(f"{name}{tuple(values.shape)}".encode())
        digest.update(memoryview(values).cast("B"))
    return digest.hexdigest()


def measured_radius(module):
    """The effective receptive radius recorded in :data:`MEASURED_RADII` for the weights
    of ``module``, or None for weights that were not measured."""
    return MEASURED_RADII.get(weights_digest(module))


def network_layout(tensor):
    """``tensor`` of shape (N, C, H, W) in the memory layout inference runs fastest in:
    channels-last on the CPU (see :data:`CHANNELS_LAST`), unchanged elsewhere."""
    import torch

    if CHANNELS_LAST and tensor.device.type == "cpu":
        return tensor.contiguous(memory_format=torch.channels_last)
    return tensor
