"""Denoise large images and large stacks chunk by chunk with dask (optional ``dask`` extra).

Install with ``pip install "sklearn-denoise[dask]"``. Importing :mod:`sklearn_denoise` does
not import dask; this module does.

:func:`denoise_dask` maps a fitted denoiser over a :class:`dask.array.Array` holding one
image ``(H, W[, C])`` or a stack ``(n, H, W[, C])`` with :func:`dask.array.map_overlap`:
each chunk is extended on the spatial axes by ``depth`` pixels of its neighbours, denoised,
and trimmed back, so pixels near chunk borders see the same context as in one in-memory
``transform``. The result is a lazy dask array; call ``.compute()`` (or store it with
``dask.array.to_zarr`` and the like) to run it, on threads, processes or a
``dask.distributed`` cluster.

The default ``depth``, the grid chunk borders are aligned with and the smallest chunk
size come from the estimator's ``spatial_contract()`` (for a Pipeline, the composition of
its steps' contracts: their margins add up), the same contract the estimator's own tiles
of large images use; see :func:`default_depth`.

What ``transform`` decides from an image's content is decided once per image, on the
whole image, as ``transform`` decides it, and applied to each of its chunks: the map onto
[0, 1] (``normalize``), the noise (a given ``sigma``, or the estimated Gaussian level or
Poisson-Gaussian model of ``noise_model``), the wavelet's thresholds, the bilateral
filter's intensity range, the variance-stabilising wrapper's noise model, and whether the
shipped CNN runs its correlated-noise expert. It goes through the estimator's public
``for_image`` (the command line uses it too), run as one dask task per image, which
holds that image in memory once. The result then equals the in-memory ``transform``
within 1e-4 on [0, 1] for every denoiser (the tests check each, blind, on sensor counts,
in colour and on stacks):

- local methods (:class:`~sklearn_denoise.WaveletDenoiser` without ``cycle_spins``,
  :class:`~sklearn_denoise.NLMeansDenoiser`, :class:`~sklearn_denoise.BilateralDenoiser`,
  :class:`~sklearn_denoise.VarianceStabilizedDenoiser` around one of them) are chunked
  with their margin and equal ``transform`` up to float rounding;
- :class:`~sklearn_denoise.CNNDenoiser`: chunks overlap by the margin and are aligned
  with the downsampling grid that the estimator's ``spatial_contract()`` gives, the same
  as its own tiles of large images: the full receptive radius for weights of your own
  (equal up to float rounding), the measured effective radius for the shipped weights
  (96 pixels: about 1e-5 of untiled inference, at most 1e-4);
- global methods, whose contract says ``local=False`` (:class:`~sklearn_denoise.TVDenoiser`,
  whose stopping rule looks at the whole image; :class:`~sklearn_denoise.BM3DDenoiser`;
  a wavelet with ``cycle_spins``, whose circular shifts bring the opposite border into
  the pixels near the edges; a bilateral filter with ``mode="wrap"``), keep each image
  whole: chunks split the stack, not the images. Give ``depth`` to split them all the
  same; the result is then a close, equally good denoising rather than the same one;
- volumes and sequences (an estimator with a 3-D ``axes``) keep their Z (or T) axis
  whole and are chunked in y and x with the same margins, their decisions taken once per
  volume;
- a :class:`~sklearn.pipeline.Pipeline` is mapped step by step, each step deciding on the
  whole output of the one before, as ``Pipeline.transform`` does (with ``depth`` given,
  in one pass with that overlap instead).
"""

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from .compute import torch_threads as _torch_threads
from .tiling import (
    UnknownContractError,
    contract_of,
    for_image_shape,
    image_axes,
    make_contract,
    round_up,
)

try:
    import dask
    import dask.array as da
    from dask.array.overlap import overlap, trim_internal
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "sklearn_denoise.dask needs dask: pip install \"sklearn-denoise[dask]\" "
        "(or pip install \"dask[array,distributed]\")."
    ) from exc

__all__ = ["default_depth", "denoise_dask"]


def _no_depth_error(estimator, exc):
    return TypeError(
        f"No default overlap depth for {type(estimator).__name__}: pass depth= (the number "
        f"of pixels of context each output pixel depends on). {exc}"
    )


def default_depth(estimator, image_shape=None):
    """Overlap that :func:`denoise_dask` uses by default for a fitted denoiser.

    It is the ``margin`` of the estimator's ``spatial_contract()`` (which documents how
    each denoiser computes it), rounded up to the contract's grid:

    =====================  ==================================================================
    CNNDenoiser            96 pixels for the shipped weights (their measured effective
                           receptive radius), the theoretical receptive radius for others
                           (256 pixels for the default U-Net), or ``tile_overlap``; on the
                           network's downsampling grid
    NLMeansDenoiser        ``patch_distance + patch_size // 2``
    BilateralDenoiser      half the window, ``win_size // 2``
    WaveletDenoiser        ``(filter length - 1) * (2**levels - 1) + cycle_spins`` on the
                           ``2**levels`` grid, with ``levels`` as ``transform`` picks them
                           for the whole image
    TVDenoiser             32 (TV has no finite receptive field; influence decays fast),
                           used only with ``depth`` given (a global method)
    BM3DDenoiser           72 pixels, on the 9-pixel grid of bm3d's block matching
                           (measured, see ``tile_size``); its own tiles, not dask's
    VarianceStabilized...  that of the wrapped denoiser
    Pipeline               the sum of its steps' margins, on all their grids
    =====================  ==================================================================

    Parameters
    ----------
    estimator : fitted denoiser
        One of the package's denoisers, a Pipeline of them, or any estimator with a
        ``spatial_contract()`` method.
    image_shape : tuple of int, default=None
        ``(H, W)`` of the images (``(Z, H, W)`` of volumes, for an estimator with a 3-D
        ``axes``); needed for a WaveletDenoiser with ``levels=None``.

    Returns
    -------
    depth : int
        Pixels of overlap on each side of a chunk.

    Raises
    ------
    TypeError
        For an estimator that reports no spatial contract (pass ``depth=`` to
        :func:`denoise_dask`).
    """
    dims = 3 if image_axes(estimator)[0] in "ZT" else 2
    shape = None if image_shape is None else tuple(image_shape)[:dims]
    try:
        return contract_of(estimator, shape).margin
    except UnknownContractError as exc:
        raise _no_depth_error(estimator, exc) from exc


class _BlockDenoiser:
    """Picklable function run on every (overlapped) block, in the workers; ``estimator``
    (the image's own, with its decisions fixed by ``for_image``) replaces the one given
    at construction."""

    def __init__(self, estimator, single, torch_threads):
        self.estimator = estimator
        self.single = single
        self.torch_threads = torch_threads

    def __call__(self, block, estimator=None):
        if 0 in block.shape:
            return np.empty_like(block)
        estimator = self.estimator if estimator is None else estimator
        batch = block[np.newaxis] if self.single else block
        with _torch_threads(self.torch_threads):
            out = np.asarray(estimator.transform(batch))
        out = out[0] if self.single else out
        return out.astype(block.dtype, copy=False)


def _fix_decisions(estimator, image):
    """``estimator.for_image`` on one whole image (run as a dask task)."""
    return estimator.for_image(np.asarray(image)[np.newaxis])


def _overlapped_map(func, array, depths, *args):
    """``func(block, *args)`` on every chunk of ``array`` extended by ``depths`` pixels of
    its neighbours (none beyond the array's edges), trimmed back: dask's ``map_overlap``,
    which also takes ``Delayed`` arguments (the image's fixed decisions)."""
    meta = np.empty((0,) * array.ndim, dtype=array.dtype)
    if not any(depths.values()):
        return array.map_blocks(func, *args, dtype=array.dtype, meta=meta)
    extended = overlap(array, depth=depths, boundary="none")
    out = extended.map_blocks(func, *args, dtype=array.dtype, meta=meta)
    return trim_internal(out, depths, boundary="none")


def _map_decided(image, estimator, func, depths):
    """Denoise the chunks of one image (a dask array (H, W[, C])) with the estimator
    whose decisions are fixed on the whole image."""
    decided = dask.delayed(_fix_decisions, pure=True)(estimator, image)
    return _overlapped_map(func, image, depths, decided)


def _aligned_chunks(chunks, multiple, minimum):
    """Chunk sizes along one axis whose borders fall on ``multiple`` and that are all at
    least ``minimum`` long (the existing chunks when they already are)."""
    total = sum(chunks)
    starts_aligned = all(c % multiple == 0 for c in chunks[:-1])
    if starts_aligned and (len(chunks) == 1 or min(chunks) >= minimum):
        return tuple(chunks)
    size = round_up(max(max(chunks), minimum, 1), multiple)
    if size >= total:
        return (total,)
    n_full, rest = divmod(total, size)
    out = [size] * n_full
    if rest:
        if rest < minimum:
            out[-1] += rest
        else:
            out.append(rest)
    return tuple(out)


def _check_torch_threads(torch_threads):
    """``torch_threads`` is None or an int >= 1 (torch rejects 0 with a bare RuntimeError)."""
    if torch_threads is None:
        return
    message = (
        "torch_threads must be None (leave torch's setting alone) or an int >= 1, got "
        f"{torch_threads!r}."
    )
    if isinstance(torch_threads, bool) or not isinstance(torch_threads, (int, np.integer)):
        raise TypeError(message)
    if torch_threads < 1:
        raise ValueError(message)


def _check_volume_dims(array, axes, stack):
    """A volume ``(Z, H, W[, C])`` or stack of them for an estimator with a 3-D ``axes``."""
    named = ", ".join(axes)
    allowed = {None: (len(axes), len(axes) + 1), True: (len(axes) + 1,),
               False: (len(axes),)}[None if stack is None else bool(stack)]
    if array.ndim not in allowed:
        raise ValueError(
            f"The estimator takes axes={axes!r}: array must be one volume ({named}) or a "
            f"stack of them (n, {named}); got {array.ndim} dimensions"
            + ("" if stack is None else f" with stack={stack}") + "."
        )


def _planes_margin(estimator):
    """Planes of overlap a chunk of a volume needs along Z (the estimator's
    ``planes_margin()``), or None: the planes axis stays one chunk."""
    method = getattr(estimator, "planes_margin", None)
    return None if method is None else method()


def _check_known_chunks(array):
    """Raise a ValueError for unknown (NaN) chunk sizes, e.g. after boolean indexing."""
    unknown = [axis for axis, sizes in enumerate(array.chunks) if any(map(np.isnan, sizes))]
    if unknown:
        axes = ", ".join(map(str, unknown))
        raise ValueError(
            f"array has unknown chunk sizes on axis {axes} (shape {array.shape}), as after "
            "boolean indexing; denoise_dask needs them to overlap the chunks. Call "
            "array = array.compute_chunk_sizes() first."
        )


def denoise_dask(array, estimator, *, depth=None, stack=None, torch_threads=1):
    """Denoise a dask array chunk by chunk with a fitted denoiser, overlapping the chunks.

    Parameters
    ----------
    array : dask.array.Array or array-like
        One image ``(H, W)`` / ``(H, W, C)``, or a stack ``(n, H, W)`` / ``(n, H, W, C)``,
        in any dtype the estimator accepts (integers are read on their full range as
        usual). Chunks may split the image axis and the spatial axes; the channel axis is
        made one chunk. A NumPy array is wrapped with :func:`dask.array.asarray`.
        For an estimator with a 3-D ``axes`` (``"ZYX"``, ``"TYX"``, with ``"C"``): one
        volume ``(Z, H, W[, C])`` or a stack ``(n, Z, H, W[, C])``; its Z (or T) axis is
        made one chunk (the methods denoise along it jointly), its planes are chunked
        and overlapped as images are, and the result equals ``transform`` as for
        images. A stack network (``CNNDenoiser.pretrained(..., axes="ZYX")``) keeps
        its planes whole and takes chunks along Z instead, overlapped by its
        ``planes_margin()`` planes.
    estimator : fitted denoiser
        Any of the package's denoisers, a Pipeline of them, any fitted transformer taking
        the image convention with a ``spatial_contract()`` method, or another one with
        ``depth`` given. It is pickled to the workers.
    depth : int, default=None
        Pixels of overlap on each side of a chunk, on the two spatial axes. None uses
        the margin of the estimator's ``spatial_contract()`` (:func:`default_depth`),
        with which the result equals the in-memory ``transform`` (within 1e-4 on
        [0, 1]); for a global method (a contract with ``local=False``) None keeps each
        image whole, and for a Pipeline maps it step by step, each with its own margin.
        Rounded up to the contract's grid (the downsampling multiple of a U-Net or a
        wavelet), and spatial chunks are re-aligned to that grid and made at least
        ``depth`` and the contract's ``min_size`` long. Given, it splits images whatever
        the method (for images too large to hold whole), at the cost of a result that
        is close to, not equal to, the in-memory one for global methods.
    stack : bool, default=None
        Whether ``array`` is a stack of images. None decides from the dimensions: 2-D is
        one image, 4-D a stack, and 3-D a stack of grayscale images when the estimator
        was fitted on one-channel images and one colour image otherwise.
    torch_threads : int or None, default=1
        Torch intra-op threads while a chunk is denoised (restored afterwards), so that
        dask's parallelism over chunks does not oversubscribe the cores; at least 1. None
        leaves torch's setting alone.

    Returns
    -------
    denoised : dask.array.Array
        Lazy result with the shape, chunks and dtype of ``array`` (after re-chunking).

    Raises
    ------
    ValueError
        For an array with unknown chunk sizes (NaN in ``array.chunks``, e.g. after
        boolean indexing): call ``array.compute_chunk_sizes()`` first. Also for an empty
        array (a zero in its shape), a bad ``depth``, ``stack`` or ``torch_threads``.
    TypeError
        Without ``depth`` for an estimator that reports no spatial contract.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from sklearn_denoise import BilateralDenoiser
    >>> from sklearn_denoise.dask import denoise_dask
    >>> image = da.from_array(np.random.RandomState(0).rand(512, 512), chunks=128)
    >>> den = BilateralDenoiser(sigma_color=0.1).fit(image[:64, :64].compute()[None])
    >>> denoise_dask(image, den).compute().shape
    (512, 512)
    """
    check_is_fitted(estimator)
    _check_torch_threads(torch_threads)
    if not isinstance(array, da.Array):
        array = da.asarray(array)
    axes = image_axes(estimator)
    volume = axes[0] in "ZT"
    if volume:
        _check_volume_dims(array, axes, stack)
    elif array.ndim not in (2, 3, 4):
        raise ValueError(
            "array must be one image (H, W) or (H, W, C), or a stack (n, H, W) or "
            f"(n, H, W, C); got {array.ndim} dimensions."
        )
    _check_known_chunks(array)
    if 0 in array.shape:
        raise ValueError(
            f"array of shape {array.shape} is empty: every image needs at least one pixel "
            "and one channel (and a stack at least one image)."
        )
    if stack is None and volume:
        stack = array.ndim == len(axes) + 1
    elif stack is None:
        if array.ndim == 3:
            stack = getattr(estimator, "n_channels_in_", 1) == 1
        else:
            stack = array.ndim == 4
    stack = bool(stack)
    if not volume and ((stack and array.ndim == 2) or (not stack and array.ndim == 4)):
        raise ValueError(
            f"stack={stack} does not fit an array of {array.ndim} dimensions."
        )
    first = 1 if stack else 0  # the first axis of an image
    # a volume's planes axis (Z or T) stays one chunk: the joint methods look along it,
    # and its few planes would leave no core to a chunk once overlapped
    planes_axis = first if volume else None
    spatial = (first + 1, first + 2) if volume else (first, first + 1)
    spatial_shape = tuple(array.shape[a] for a in spatial)
    if volume:  # contracts take a volume's (Z, H, W)
        spatial_shape = (array.shape[planes_axis], *spatial_shape)

    if depth is not None and (
        isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 0
    ):
        raise ValueError(f"depth must be a non-negative int, got {depth!r}.")
    if depth is None and isinstance(estimator, Pipeline):
        # step by step, each deciding on the whole output of the one before, as
        # Pipeline.transform does
        for _, step in estimator.steps:
            if step is not None and not (isinstance(step, str) and step == "passthrough"):
                array = denoise_dask(array, step, stack=stack, torch_threads=torch_threads)
        return array
    try:
        contract = contract_of(estimator, spatial_shape)
    except UnknownContractError as exc:
        if depth is None:
            raise _no_depth_error(estimator, exc) from exc
        contract = make_contract(0)  # unknown: no grid and no minimum size to respect
    whole_images = depth is None and not contract.local
    depth = contract.margin if depth is None else round_up(depth, contract.multiple)
    # e.g. a WaveletDenoiser with levels=None gets the levels of the whole image
    estimator = for_image_shape(estimator, spatial_shape)

    chunks = list(array.chunks)
    planes_margin = _planes_margin(estimator) if volume else None
    if volume and planes_margin is None:
        chunks[planes_axis] = (array.shape[planes_axis],)
    elif volume:  # a method that sees a few planes on each side: chunks along Z overlap
        chunks[planes_axis] = _aligned_chunks(chunks[planes_axis], 1, max(planes_margin, 1))
    for axis in spatial:
        if whole_images:
            # a global method (TV, BM3D, circular cycle spinning): no margin gives the
            # whole image's result, so each image stays whole
            chunks[axis] = (array.shape[axis],)
            continue
        chunks[axis] = _aligned_chunks(
            chunks[axis], contract.multiple, max(depth, contract.min_size)
        )
    has_channels = axes.endswith("C") if volume else array.ndim == (4 if stack else 3)
    if has_channels:
        chunks[-1] = (array.shape[-1],)
    if tuple(chunks) != array.chunks:
        array = array.rechunk(tuple(chunks))
    depths = {axis: 0 for axis in range(array.ndim)}
    for axis in spatial:
        depths[axis] = depth if len(array.chunks[axis]) > 1 else 0
    if planes_margin and len(array.chunks[planes_axis]) > 1:
        depths[planes_axis] = planes_margin

    if hasattr(estimator, "for_image"):
        # the image's decisions (normalisation, noise, network, thresholds) taken once on
        # the whole image, as transform takes them, then applied to each of its chunks
        func = _BlockDenoiser(estimator, single=True, torch_threads=torch_threads)
        if not stack:
            return _map_decided(array, estimator, func, depths)
        image_depths = {axis - 1: depths[axis] for axis in range(1, array.ndim)}
        images = [_map_decided(array[i], estimator, func, image_depths)
                  for i in range(array.shape[0])]
        return da.stack(images).rechunk({0: array.chunks[0]})
    func = _BlockDenoiser(estimator, single=not stack, torch_threads=torch_threads)
    return _overlapped_map(func, array, depths)
