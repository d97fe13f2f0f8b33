"""The opponent colour space: how gray denoisers (BM3D, the 1-channel CNN) see RGB images.

``Y = mean(R, G, B)`` and two chroma differences (bm3d's ``colorspace="opp"``): orthogonal
rows, so white noise stays white and uncorrelated between the new channels, with a smaller
standard deviation in each (:func:`opponent_noise_levels`); with the offset, values stay in
[0, 1] for images in [0, 1], the range the networks were trained on.
"""

import numpy as np

OPPONENT = np.array(
    [[1 / 3, 1 / 3, 1 / 3], [1 / 2, 0.0, -1 / 2], [1 / 4, -1 / 2, 1 / 4]], dtype=np.float64
)
_OFFSET = np.array([0.0, 0.5, 0.5])
_INVERSE = np.linalg.inv(OPPONENT)
#: Standard deviation of each opponent channel for white noise of std 1 in R, G and B.
_ROW_NORMS = np.sqrt(np.sum(OPPONENT**2, axis=1))


def to_opponent(images, *, offset=True):
    """(..., 3) RGB -> (..., 3) opponent channels, in the input's float dtype."""
    out = images @ OPPONENT.T.astype(images.dtype)
    return out + _OFFSET.astype(images.dtype) if offset else out


def from_opponent(images, *, offset=True):
    """Inverse of :func:`to_opponent`."""
    if offset:
        images = images - _OFFSET.astype(images.dtype)
    return images @ _INVERSE.T.astype(images.dtype)


def opponent_noise_levels(sigma):
    """Noise std of the three opponent channels for white noise of std ``sigma`` in RGB."""
    return sigma * _ROW_NORMS


def opponent_noise_maps(rgb_variances):
    """Per-pixel noise std of the opponent channels from (H, W, 3) per-pixel variances of
    independent noise in R, G and B (e.g. Poisson-Gaussian noise of each colour plane)."""
    return np.sqrt(rgb_variances @ (OPPONENT**2).T.astype(rgb_variances.dtype))
