"""Neighbouring planes for the stack network: which planes it sees, and their alignment.

The stack network (a U-Net with ``context_planes`` extra input channels, issue #30)
denoises one plane of a z-stack or time series seeing the planes before and after it,
nearest first (offsets -1, +1, -2, +2, ...). Near either end of the stack, where an offset
falls outside it, the nearest plane not already seen takes its place (plane 0 of a long
stack sees planes 1, 2, 3 and 4, 5, 6): every plane sees ``context_planes`` distinct
neighbours, which mirroring (plane -1 as plane 1) would repeat, so the end planes gain
about as much as the middle ones (the "Volumes and sequences" tables of the benchmarks
page, before and after this rule).

A sequence that moves (a drifting sample, a panning camera) puts the same structure at
different places in neighbouring planes. Each neighbour is therefore shifted onto the
plane being denoised by the global integer translation between them, read by
cross-correlation (:func:`skimage.registration.phase_cross_correlation`) between each
pair of consecutive planes and summed along the stack. Integer shifts move pixels
without interpolating them, so the noise the network sees keeps its level and stays
independent between pixels. A shift is kept only where it lowers the mean squared
difference between the two planes: a static stack, or a pair with nothing to
register (flat or pure noise), is left as it is. Local motion (a moving object on a
still background) is not registered; the network was trained to tell neighbours that
match from those that do not.

The translation of each pair depends on those two planes only, so a chunk of planes with
``context_planes`` planes of overlap on each side gets the same neighbours as the whole
stack (what :func:`sklearn_denoise.dask.denoise_dask` and the command line rely on).
"""

import numpy as np

__all__ = ["DECISION_PLANES", "align_to", "consecutive_shift", "decision_plane_indices",
           "decision_planes", "mirror_index", "neighbour_offsets", "neighbour_planes",
           "neighbour_sources", "plane_positions"]

#: Most planes of a volume the stack network's decisions (normalisation, noise) are read
#: on: evenly spaced, so that the command line reads them off a file of any length in
#: bounded memory and decides as ``transform`` does.
DECISION_PLANES = 16


def decision_planes(volume):
    """The planes of a (Z, ...) volume that its decisions are read on: all of them up to
    :data:`DECISION_PLANES`, else that many evenly spaced, first and last included."""
    n_planes = len(volume)
    if n_planes <= DECISION_PLANES:
        return volume
    return volume[decision_plane_indices(n_planes)]


def decision_plane_indices(n_planes):
    """The planes of a volume that a stack network's decisions are read on.

    ``transform`` of ``CNNDenoiser.pretrained(..., axes="ZYX")`` fits its normalisation
    and reads the noise on these planes of each volume, seen as one image: all of them up
    to 16, else 16 evenly spaced, the first and the last included. A reader of a long file
    takes the same decisions from these planes alone (``for_image`` on them), then
    denoises the file in chunks of planes, as the command line does.

    Parameters
    ----------
    n_planes : int
        Planes (Z or T) of the volume.

    Returns
    -------
    indices : ndarray of int
        Sorted plane indices.

    Examples
    --------
    >>> from sklearn_denoise.tiling import decision_plane_indices
    >>> decision_plane_indices(5).tolist()
    [0, 1, 2, 3, 4]
    >>> len(decision_plane_indices(64)), decision_plane_indices(64)[[0, -1]].tolist()
    (16, [0, 63])
    """
    if n_planes <= DECISION_PLANES:
        return np.arange(n_planes)
    return np.unique(np.round(np.linspace(0, n_planes - 1, DECISION_PLANES)).astype(int))


def neighbour_offsets(context_planes):
    """Offsets of the neighbouring planes in the network's input order: -1, +1, -2, +2, ..."""
    return [sign * k for k in range(1, context_planes // 2 + 1) for sign in (-1, 1)]


def consecutive_shift(reference, moving):
    """The integer (dy, dx) that moves ``moving`` onto ``reference`` (two (H, W) planes),
    or (0, 0) where shifting does not bring them closer.

    Plain cross-correlation, not phase correlation: whitening the spectrum would let the
    noise's flat spectrum drown the structure of noisy planes.
    """
    from skimage.registration import phase_cross_correlation

    reference = np.asarray(reference, np.float64)
    moving = np.asarray(moving, np.float64)
    height, width = reference.shape
    if min(height, width) < 8 or np.ptp(reference) == 0 or np.ptp(moving) == 0:
        return (0, 0)
    shift, _, _ = phase_cross_correlation(reference, moving, normalization=None)
    dy, dx = (int(round(s)) for s in shift)
    if (dy, dx) == (0, 0) or abs(dy) > height // 4 or abs(dx) > width // 4:
        return (0, 0)
    rows = slice(abs(dy), height - abs(dy))
    cols = slice(abs(dx), width - abs(dx))
    shifted = align_to(moving, (dy, dx))
    if np.mean((reference - shifted)[rows, cols] ** 2) < np.mean(
        (reference - moving)[rows, cols] ** 2
    ):
        return (dy, dx)
    return (0, 0)


def plane_positions(planes):
    """Integer (Z, 2) position of each plane of a (Z, H, W) or (Z, H, W, C) stack relative
    to the first, from the translation between each pair of consecutive planes (their
    channels averaged)."""
    planes = np.asarray(planes)
    if planes.ndim == 4:
        planes = planes.mean(axis=-1)
    steps = [consecutive_shift(planes[z], planes[z + 1]) for z in range(len(planes) - 1)]
    positions = np.zeros((len(planes), 2), int)
    if steps:
        positions[1:] = np.cumsum(steps, axis=0)
    return positions


def align_to(plane, shift):
    """``plane`` (H, W[, C]) moved by the integer ``shift`` (dy, dx); the pixels that come
    in at the borders repeat the edge."""
    dy, dx = shift
    if dy == 0 and dx == 0:
        return plane
    height, width = plane.shape[:2]
    pad = [(max(dy, 0), max(-dy, 0)), (max(dx, 0), max(-dx, 0))]
    pad += [(0, 0)] * (plane.ndim - 2)
    padded = np.pad(plane, pad, mode="edge")
    top, left = max(-dy, 0), max(-dx, 0)
    return padded[top: top + height, left: left + width]


def neighbour_sources(index, n_planes, context_planes):
    """Indices of the ``context_planes`` neighbours of plane ``index`` in a stack of
    ``n_planes``, in input order: the planes at offsets -1, +1, -2, +2, ..., and for an
    offset outside the stack the nearest plane not yet taken (mirrored only in stacks
    too short to have enough distinct planes)."""
    offsets = neighbour_offsets(context_planes)
    sources = [index + o if 0 <= index + o < n_planes else None for o in offsets]
    taken = {index, *(s for s in sources if s is not None)}
    spare = sorted((p for p in range(n_planes) if p not in taken),
                   key=lambda p: (abs(p - index), p))
    return [s if s is not None else (spare.pop(0) if spare
                                     else mirror_index(index + o, n_planes))
            for s, o in zip(sources, offsets)]


def neighbour_planes(planes, index, context_planes, positions=None):
    """The ``context_planes`` neighbours of plane ``index`` of a (Z, H, W[, C]) stack, in
    input order (:func:`neighbour_sources`) and, given the stack's ``positions``
    (:func:`plane_positions`), shifted onto plane ``index``."""
    out = []
    for source in neighbour_sources(index, len(planes), context_planes):
        plane = planes[source]
        if positions is not None:
            plane = align_to(plane, tuple(int(v) for v in positions[source] - positions[index]))
        out.append(plane)
    return out


def mirror_index(index, n_planes):
    """``index`` reflected into [0, n_planes) without repeating the end plane."""
    if n_planes == 1:
        return 0
    period = 2 * (n_planes - 1)
    index %= period
    return index if index < n_planes else period - index
