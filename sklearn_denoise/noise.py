"""Seeded noise models over image batches.

Every function takes images laid out as in the image convention, works on the [0, 1]
intensity scale (integers read on their dtype's full range) and returns a float array (or a
list for list input) **without clipping**, so that the noise statistics stay exact; clip it
yourself if a method needs [0, 1] input. ``random_state`` makes the noise reproducible.
"""

import numpy as np
from sklearn.utils import check_random_state

from ._param_checks import check_sigma
from ._validation import to_float

__all__ = ["gaussian", "poisson", "salt_and_pepper", "speckle"]


def _apply(images, func):
    if isinstance(images, (list, tuple)):
        return [func(to_float(np.asarray(img))) for img in images]
    arr = np.asarray(images)
    if arr.dtype.kind not in "uif":
        raise TypeError(f"images must be an integer or float array, got dtype {arr.dtype}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError("images contain NaN or infinity.")
    return func(to_float(arr))


def gaussian(images, sigma, *, random_state=None):
    """Add white Gaussian noise of standard deviation ``sigma`` (on the [0, 1] scale).

    Parameters
    ----------
    images : array-like or list of array-like
        Clean images.
    sigma : float
        Noise standard deviation; the classic "sigma = 25" is ``25 / 255``.
    random_state : int, RandomState instance or None, default=None
        Seed of the noise.

    Returns
    -------
    noisy : ndarray or list of ndarray
        Float images, not clipped.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_denoise.noise import gaussian
    >>> noisy = gaussian(np.zeros((2, 8, 8)), 25 / 255, random_state=0)
    >>> noisy.shape
    (2, 8, 8)
    """
    sigma = check_sigma(sigma, allow_none=False)
    rng = check_random_state(random_state)
    return _apply(images, lambda x: x + rng.normal(0.0, sigma, size=x.shape).astype(x.dtype))


def poisson(images, peak, *, random_state=None):
    """Poisson (shot) noise: ``Poisson(peak * x) / peak``; a smaller ``peak`` is noisier.

    Parameters
    ----------
    images : array-like or list of array-like
        Clean images with values in [0, 1].
    peak : float
        Photon count at intensity 1.0.
    random_state : int, RandomState instance or None, default=None
        Seed of the noise.

    Returns
    -------
    noisy : ndarray or list of ndarray
    """
    if not np.isscalar(peak) or not peak > 0:
        raise ValueError(f"peak must be a positive number, got {peak!r}.")
    rng = check_random_state(random_state)

    def add(x):
        if np.any(x < 0):
            raise ValueError("Poisson noise needs non-negative intensities.")
        return (rng.poisson(x * peak) / peak).astype(x.dtype)

    return _apply(images, add)


def salt_and_pepper(images, amount, *, salt_vs_pepper=0.5, random_state=None):
    """Set a fraction ``amount`` of the pixels to 0 (pepper) or 1 (salt).

    Parameters
    ----------
    images : array-like or list of array-like
        Clean images.
    amount : float
        Fraction of pixels replaced, in [0, 1].
    salt_vs_pepper : float, default=0.5
        Fraction of the replaced pixels set to 1.
    random_state : int, RandomState instance or None, default=None
        Seed of the noise.

    Returns
    -------
    noisy : ndarray or list of ndarray
    """
    amount = check_sigma(amount, name="amount", allow_none=False)
    salt_vs_pepper = check_sigma(salt_vs_pepper, name="salt_vs_pepper", allow_none=False)
    rng = check_random_state(random_state)

    def add(x):
        out = x.copy()
        hit = rng.random_sample(x.shape) < amount
        salt = rng.random_sample(x.shape) < salt_vs_pepper
        out[hit & salt] = 1.0
        out[hit & ~salt] = 0.0
        return out

    return _apply(images, add)


def speckle(images, sigma, *, random_state=None):
    """Multiplicative noise ``x * (1 + n)`` with ``n ~ N(0, sigma**2)``.

    Parameters
    ----------
    images : array-like or list of array-like
        Clean images.
    sigma : float
        Standard deviation of the multiplicative factor.
    random_state : int, RandomState instance or None, default=None
        Seed of the noise.

    Returns
    -------
    noisy : ndarray or list of ndarray
    """
    sigma = check_sigma(sigma, allow_none=False)
    rng = check_random_state(random_state)
    return _apply(
        images, lambda x: x * (1 + rng.normal(0.0, sigma, size=x.shape)).astype(x.dtype)
    )
