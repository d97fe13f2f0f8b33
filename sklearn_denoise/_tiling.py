"""Overlapping tiles for spatially local models (CNNDenoiser, denoise_dask).

A fully convolutional network computes each output pixel from a bounded neighbourhood of
the input. A large image can therefore be processed in tiles: each tile's *core* is
extended by a *margin* of context on every side (clipped at the image border), the model
runs on the extended tile, and only the core of its output is kept. With a margin at least
the model's receptive radius the result equals untiled inference; networks with
downsampling also need tile borders on their downsampling grid (multiples of
``multiple`` from the image origin), so that every tile sees the grid untiled inference
sees.

:class:`SpatialContract` is what a model asks of its tiles (or of dask chunks); every
denoiser reports its own through a ``spatial_contract()`` method, and
:func:`contract_of` asks any estimator for it (composing the steps of a Pipeline);
:func:`run_tiled` applies a function tile by tile; :func:`effective_radius` measures how
far the context of a trained model actually matters, which is usually much less than its
theoretical receptive radius.
"""

import copy
import hashlib
import inspect
import math
import weakref
from typing import NamedTuple

import numpy as np

__all__ = [
    "CHANNELS_LAST",
    "MEASURED_RADII",
    "SpatialContract",
    "UnknownContractError",
    "compose_contracts",
    "contract_of",
    "effective_radius",
    "for_image_shape",
    "make_contract",
    "measured_radius",
    "network_layout",
    "round_up",
    "run_tiled",
    "tile_windows",
    "weights_digest",
]

#: Effective receptive radius (pixels) measured for shipped weights, by
#: :func:`weights_digest` of the module holding them: the smallest margin on the network's
#: 8-px grid with which tiles (or dask chunks) of 128 px reproduce untiled inference within
#: 1e-4 on [0, 1], white and correlated noise, gray and colour, on photos the models never
#: saw. Measured with ``python benchmarks/bench_consistency.py --margins`` (see
#: docs/benchmarks.rst, "One denoiser, one result"): 64 px left differences of up to
#: 1.9e-3, 96 px at most about 6e-6, 128 px none. The theoretical radius of the 4-level
#: U-Net is 256 px. (Before 2026-12-07 these were 64 px, the margin that kept tiles within
#: the 2e-3 tiling was then allowed; ``bench_scaling.py --measure-radius`` measures
#: replacement sensitivity.)
MEASURED_RADII = {
    # "gray" (and "color", the same network): U-Net 4 levels x 16 x 2 blocks, noise map;
    # stage 3 (sensor noise), shipped since 2026-12-02
    "9cce6d9eb0c569ca267fcd26cb74a778d929dc146cecd2042b55a118c38d66d7": 96,
    # "gray-correlated", the correlated-noise expert of "gray" (CNNDenoiser.correlated_expert_)
    "95cc2c37282eee130e3bb51f18f550d293472a091f5eb77b74f309796a71124f": 96,
    # the stage-2 weights (Gaussian noise only) shipped before
    "a80c590171efe8c2534257e984c5405ee05aa9876b715c2173e584e7716be351": 96,
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
    min_size : int, default=1
        Smallest height and width, in pixels, of an image (and so of a tile or an
        overlapped chunk) the model can process at all; ``transform`` rejects smaller
        images with a ValueError. 1 when any size works. Tilers keep tiles and chunks at
        least this long on each axis (an image smaller than it stays one tile, and fails
        as it would untiled).
    local : bool, default=True
        Whether a tile's (or chunk's) core, given ``margin`` pixels of context, equals the
        whole-image result (up to float rounding, or within 1e-4 on [0, 1] for a margin
        measured on trained weights). False for methods whose result depends on the whole
        image: total variation's global stopping rule, BM3D, a wavelet's circular cycle
        spinning; :func:`sklearn_denoise.dask.denoise_dask` then keeps each image whole
        unless a ``depth`` is given.
    """

    margin: int
    multiple: int
    min_size: int = 1
    local: bool = True


def round_up(value, multiple):
    """The smallest multiple of ``multiple`` that is >= ``value``."""
    return -(-int(value) // int(multiple)) * int(multiple)


def make_contract(radius, multiple=1, min_size=1, local=True):
    """The :class:`SpatialContract` of a model with this context radius, grid and minimum
    image size (the radius is rounded up to the grid; the others are at least 1), local
    or not."""
    multiple = max(1, int(multiple))
    return SpatialContract(round_up(max(0, radius), multiple), multiple, max(1, int(min_size)),
                           bool(local))


def compose_contracts(*contracts):
    """The contract of models applied one after the other (a Pipeline of denoisers).

    Each output pixel of the last model depends on its input within the sum of the
    margins, so the margins add; tile borders must sit on every model's grid (the least
    common multiple of the grids); every model must accept the tiles (the largest minimum
    size); the composition is local when every model is. With no contracts: the contract
    of the identity, ``(0, 1, 1, True)``.
    """
    contracts = [make_contract(*c) for c in contracts]
    margin = sum(c.margin for c in contracts)
    multiple = math.lcm(1, *(c.multiple for c in contracts))
    min_size = max((c.min_size for c in contracts), default=1)
    return make_contract(margin, multiple, min_size, all(c.local for c in contracts))


class UnknownContractError(TypeError):
    """An estimator reports no :class:`SpatialContract`: its context radius is unknown."""


def _takes_image_shape(method):
    try:
        return "image_shape" in inspect.signature(method).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return False


def _is_passthrough(step):
    return step is None or (isinstance(step, str) and step == "passthrough")


def _pipeline_steps(estimator):
    """The transformers of a fitted Pipeline (None and "passthrough" left out), or None
    for anything else."""
    from sklearn.pipeline import Pipeline

    if not isinstance(estimator, Pipeline):
        return None
    return [step for _, step in estimator.steps if not _is_passthrough(step)]


def image_axes(estimator):
    """The ``axes`` of the images an estimator takes (see the user guide's "Volumes and
    sequences"): its ``axes`` parameter, "YX" for estimators without one; for a
    :class:`~sklearn.pipeline.Pipeline` that of its steps, which must agree.

    Parameters
    ----------
    estimator : estimator

    Returns
    -------
    axes : str
        One of "YX", "YXC", "ZYX", "ZYXC", "TYX" and "TYXC" (upper case).

    Raises
    ------
    ValueError
        For an invalid ``axes``, or the steps of a Pipeline that disagree on Z/T.
    """
    from ._param_checks import check_axes, is_volume_axes

    steps = _pipeline_steps(estimator)
    if steps is None:
        return check_axes(getattr(estimator, "axes", "YX"))
    found = {image_axes(step) for step in steps} or {"YX"}
    volumes = {axes for axes in found if is_volume_axes(axes)}
    if volumes and len(volumes) != len(found):
        raise ValueError(
            f"The steps of the Pipeline disagree on axes ({sorted(found)}): give every "
            "step the same 3-D axes."
        )
    return sorted(volumes or found)[0]


def contract_of(estimator, image_shape=None):
    """The :class:`SpatialContract` of an estimator, asked from its ``spatial_contract()``.

    Every denoiser of the package has the method, and so may any other estimator, with or
    without an ``image_shape`` parameter (for contracts that depend on the image size,
    such as a WaveletDenoiser's with ``levels=None``); a plain ``(margin, multiple[,
    min_size])`` tuple is accepted too. A :class:`~sklearn.pipeline.Pipeline` gets the
    composition of the contracts of its steps (:func:`compose_contracts`).

    Parameters
    ----------
    estimator : estimator
        The model whose tiles or chunks are being planned.
    image_shape : tuple of int, default=None
        ``(H, W[, ...])`` of the images; passed on to methods that take it.

    Returns
    -------
    contract : SpatialContract
        Margin rounded up to the grid, as :func:`make_contract` gives it.

    Raises
    ------
    UnknownContractError
        A TypeError, when the estimator (or a step of the Pipeline) has no
        ``spatial_contract`` method, or its method raises NotImplementedError (the
        default of :class:`~sklearn_denoise.DenoiserMixin`): its context radius is
        unknown.
    """
    steps = _pipeline_steps(estimator)
    if steps is not None:
        return compose_contracts(*(contract_of(step, image_shape) for step in steps))
    method = getattr(estimator, "spatial_contract", None)
    if not callable(method):
        raise UnknownContractError(
            f"{type(estimator).__name__} has no spatial_contract() method: its context "
            "radius is unknown."
        )
    try:
        if _takes_image_shape(method):
            contract = method(image_shape=image_shape)
        else:
            contract = method()
    except NotImplementedError as exc:
        raise UnknownContractError(
            f"{type(estimator).__name__} does not report a spatial contract: {exc}"
        ) from exc
    return make_contract(*contract)


def for_image_shape(estimator, image_shape):
    """The estimator to run on tiles or chunks of images of ``image_shape``.

    Estimators whose behaviour depends on the size of the image they are given (a
    WaveletDenoiser with ``levels=None``) have a ``for_image_shape(image_shape)`` method
    returning a copy fixed to what they would do on the whole image; others, and
    estimators without the method, are returned as they are. A Pipeline is copied with
    each step treated so.
    """
    steps = _pipeline_steps(estimator)
    if steps is not None:
        pinned = [
            (name, step if _is_passthrough(step) else for_image_shape(step, image_shape))
            for name, step in estimator.steps
        ]
        if all(new is old for (_, new), (_, old) in zip(pinned, estimator.steps)):
            return estimator
        estimator = copy.copy(estimator)
        estimator.steps = pinned
        return estimator
    method = getattr(estimator, "for_image_shape", None)
    return method(image_shape) if callable(method) else estimator


def wrapper_for_image_shape(wrapper, image_shape):
    """:func:`for_image_shape` of a wrapper around one fitted denoiser (``denoiser_``):
    a shallow copy holding the inner denoiser's own ``for_image_shape``, or ``wrapper``
    itself when that changes nothing or before ``fit``."""
    fitted = getattr(wrapper, "denoiser_", None)
    if fitted is None:
        return wrapper
    pinned = for_image_shape(fitted, image_shape)
    if pinned is fitted:
        return wrapper
    out = copy.copy(wrapper)
    out.denoiser_ = pinned
    return out


def _split(length, tile, multiple):
    """Core intervals ``[start, stop)`` covering ``[0, length)``: as few as keep each core
    at most ``tile`` long (``multiple`` at least), of nearly equal lengths, with every
    inner border on a multiple of ``multiple``."""
    tile = max(multiple, tile // multiple * multiple)
    n_tiles = -(-length // tile)
    core = round_up(-(-length // n_tiles), multiple)
    starts = range(0, length, core)
    return [(start, min(start + core, length)) for start in starts]


def tile_windows(shape, tile, contract, *, equal=False):
    """The tiles of an image of spatial ``shape`` (H, W).

    Parameters
    ----------
    shape : tuple of int
        Height and width of the image.
    tile : int
        Longest side of a tile's core; images no larger than it on both axes are one tile.
    contract : SpatialContract
        The model's margin and grid.
    equal : bool, default=False
        Give all windows along an axis the same length where the image allows: a window
        that would cross the border is shifted inwards (more context, never less) instead
        of being clipped. Equal windows make equal activation buffers, which a heap that
        keeps freed buffers (see :mod:`sklearn_denoise._allocator`) hands back whole from
        tile to tile, at the cost of the extra context of the border tiles.

    Returns
    -------
    windows : list of ((slice, slice), (slice, slice))
        For each tile, its core and the extended window the model runs on, as (rows,
        columns) slices of the image: the core plus at least the margin on each side
        (less only at the image border).
    """
    margin, multiple = contract.margin, contract.multiple
    axes = []
    for length in shape[:2]:
        if length <= tile:
            intervals = [(0, length)]
        else:
            intervals = _split(length, tile, multiple)
        if not equal:
            axes.append([(slice(a, b), slice(max(0, a - margin), min(length, b + margin)))
                         for a, b in intervals])
            continue
        span = min(length, max(b - a for a, b in intervals) + 2 * margin)
        # on the grid, and never past the window that ends at the border
        last_start = max(0, round_up(length - span, multiple))
        windows = []
        for a, b in intervals:
            start = min(max(0, a - margin), last_start)
            windows.append((slice(a, b), slice(start, min(length, start + span))))
        axes.append(windows)
    return [((rows, cols), (ext_rows, ext_cols))
            for rows, ext_rows in axes[0] for cols, ext_cols in axes[1]]


def run_tiled(func, shape, out, tile, contract, *, equal_windows=False):
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
    equal_windows : bool, default=False
        Windows of one length per axis (see :func:`tile_windows`).

    Returns
    -------
    out : ndarray
        ``out``, filled.
    """
    for (rows, cols), (ext_rows, ext_cols) in tile_windows(shape, tile, contract,
                                                           equal=equal_windows):
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


# module -> (its tensors' storage and version counters, digest): hashing the weights
# costs about as much as a tenth of a 256x256 image's denoising, on every transform
_DIGESTS = weakref.WeakKeyDictionary()


def _state_fingerprint(module):
    """Changes whenever a tensor of ``module``'s state is replaced or modified in place
    (torch bumps a tensor's version counter on every in-place write, training steps and
    ``load_state_dict`` included); None for a module built under
    ``torch.inference_mode()``, whose tensors keep no version counter."""
    state = module.state_dict(keep_vars=True)
    if any(tensor.is_inference() for tensor in state.values()):
        return None
    return tuple((name, tensor.data_ptr(), tensor._version) for name, tensor in state.items())


def measured_radius(module):
    """The effective receptive radius recorded in :data:`MEASURED_RADII` for the weights
    of ``module``, or None for weights that were not measured."""
    fingerprint = _state_fingerprint(module)
    cached = _DIGESTS.get(module)
    if fingerprint is None or cached is None or cached[0] != fingerprint:
        cached = (fingerprint, weights_digest(module))
        _DIGESTS[module] = cached
    return MEASURED_RADII.get(cached[1])


def network_layout(tensor):
    """``tensor`` of shape (N, C, H, W) in the memory layout inference runs fastest in:
    channels-last on the CPU (see :data:`CHANNELS_LAST`), unchanged elsewhere."""
    import torch

    if CHANNELS_LAST and tensor.device.type == "cpu":
        return tensor.contiguous(memory_format=torch.channels_last)
    return tensor
