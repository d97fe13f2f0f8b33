"""Reversible intensity normalisation: map each image onto the range a method was tuned for.

The CNN was trained on images in [0, 1] and several classical methods have parameters on
that scale (total-variation weight, bilateral colour spread, non-local means cut-off). Data
from scientific cameras rarely sits there: 16-bit counts that fill a few hundred of the
65535 levels on top of a black level, floats on [0, 255] or [0, 4095], negative offsets.
Networks are not scale-equivariant (biases, ReLU thresholds), so such images are mapped
affinely onto [0, 1] by robust percentiles of the noisy pixels (as CSBDeep/CARE and
CAREamics do) and the result is mapped back; noise levels are divided by the same scale.

The percentiles are taken on the noisy pixels, so the mapped range includes the noise
spread: the mapped noise level then stays within what the methods were tuned for
(a few percent to about 0.2 of the range) even at very low photon counts.
"""

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["Normalization", "check_normalize", "fit_normalization"]

_PERCENTILES = (0.1, 99.9)
# An image already "on [0, 1]" (uint8 photos, floats in [0, 1]) has its 1st and 99th
# percentiles at least this far apart and within these bounds (Gaussian noise up to sigma
# 80/255 included); it is used as it is, so the methods see exactly the data they were
# tuned on. The span is a quarter of the intensity scale's width: [-1, 1] for signed
# integers (scikit-image's scale), so int16 counts and the same uint16 counts are mapped
# alike.
_DECISION_PERCENTILES = (1.0, 99.0)
_MIN_SPAN = 0.25
_BOUNDS = (-0.75, 1.75)
# Percentiles of at most this many pixels (a regular subsample of larger images).
_MAX_SAMPLES = 1 << 20

NORMALIZE_OPTIONS = ("auto", "percentile", "none")


def check_normalize(value):
    """Validate the ``normalize`` parameter: "auto", "percentile", "none", True or False."""
    if value is True:
        return "percentile"
    if value is False or value is None:
        return "none"
    if not isinstance(value, str) or value not in NORMALIZE_OPTIONS:
        raise ValueError(
            f"normalize must be one of {list(NORMALIZE_OPTIONS)} (or True/False), got "
            f"{value!r}."
        )
    return value


@dataclass(frozen=True)
class Normalization:
    """The affine map ``(x - offset) / scale`` applied to one image, and its inverse."""

    offset: float = 0.0
    scale: float = 1.0
    flat: bool = False  # a (nearly) constant image: nothing to denoise

    @property
    def is_identity(self):
        return self.offset == 0.0 and self.scale == 1.0

    def apply(self, image):
        if self.is_identity:
            return image
        dtype = image.dtype
        return ((image.astype(np.float64) - self.offset) / self.scale).astype(dtype)

    def invert(self, image):
        if self.is_identity:
            return image
        dtype = image.dtype
        return (image.astype(np.float64) * self.scale + self.offset).astype(dtype)

    def noise_level(self, sigma, name="sigma"):
        """A noise standard deviation of the original image, on the mapped scale.

        A level above the image's whole range is a unit mistake: on an image used as it
        is (already on [0, 1]) it raises ValueError (the classic ``sigma=25`` for
        ``25/255``); on a mapped image (typically a ``sigma`` meant for an integer image's
        values rather than its dtype's [0, 1] scale) it warns and uses the image's whole
        range, the strongest meaningful level.
        """
        if sigma is None:
            return None
        mapped = sigma / self.scale
        if mapped > 1.0 and self.is_identity:
            raise ValueError(
                f"{name}={sigma:g} is above 1, the whole intensity range of this image: "
                "sigma is on the [0, 1] intensity scale (the classic 'sigma = 25' on 0-255 "
                f"images is 25/255 = {25 / 255:.4f})."
            )
        if mapped > 1.0:
            warnings.warn(
                f"{name}={sigma:g} is {mapped:.3g} times this image's intensity range "
                f"({self.scale:.3g} on the [0, 1] intensity scale, where integer images are "
                "read on their dtype's full range: 1.0 is the dtype's maximum); using the "
                "image's whole range instead. Give the noise level on that scale, or leave "
                "it None to estimate it.",
                UserWarning,
                stacklevel=2,
            )
            return 1.0
        return mapped


def robust_range(image, percentiles=_PERCENTILES):
    """Low and high percentiles (by default 0.1 %, 99.9 %) of the pixels, noise included."""
    flat = np.asarray(image).reshape(-1)
    step = max(1, flat.size // _MAX_SAMPLES)
    sample = flat[::step].astype(np.float64, copy=False)
    # scale first so that the percentile arithmetic cannot overflow near float64's limit
    peak = float(np.max(np.abs(sample))) if sample.size else 0.0
    if peak == 0.0:
        return (0.0,) * len(percentiles)
    return tuple(float(v) * peak for v in np.percentile(sample / peak, percentiles))


def _scale_width(dtype):
    """Width of the intensity scale of images read from ``dtype``: 2 for signed integers
    (on [-1, 1]), else 1."""
    return 2.0 if dtype is not None and np.dtype(dtype).kind == "i" else 1.0


def fit_normalization(image, mode="auto", *, dtype=None):
    """The normalisation of one image under ``mode`` (see :func:`check_normalize`).

    Parameters
    ----------
    image : ndarray
        One float image (any shape), on the package's intensity scale.
    mode : {"auto", "percentile", "none"}
        "none" never maps; "percentile" always maps the 0.1 % and 99.9 % percentiles onto
        0 and 1; "auto" maps only images that are not already on about [0, 1] (1st to
        99th percentile spanning less than a quarter of their intensity scale, or reaching
        beyond [-0.75, 1.75]).
    dtype : dtype or None, default=None
        The dtype the image was read from (None: a float image). Signed integers are on
        [-1, 1], a quarter of which is 0.5: int16 counts are mapped as the same uint16
        counts are.

    Returns
    -------
    normalization : Normalization
    """
    if mode == "none":
        return Normalization()
    low, p_low, p_high, high = robust_range(image, _PERCENTILES[:1] + _DECISION_PERCENTILES
                                            + _PERCENTILES[1:])
    if (mode == "auto" and p_high - p_low >= _MIN_SPAN * _scale_width(dtype)
            and p_low >= _BOUNDS[0]
            and p_high <= _BOUNDS[1]):
        return Normalization()
    span = high - low
    if not np.isfinite(span):
        raise ValueError(
            "The image's intensities span more than float64 can represent "
            f"({low:.3g} to {high:.3g}); rescale it before denoising."
        )
    if span <= 1e-12 * max(abs(low), abs(high)):
        # (nearly) constant image: nothing to scale, only move it to 0
        return Normalization(offset=low, scale=1.0, flat=True)
    return Normalization(offset=low, scale=span)
