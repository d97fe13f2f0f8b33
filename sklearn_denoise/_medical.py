"""The noise of medical and radar images: Rician (MR magnitude) and speckle (ultrasound,
SAR), removed with any denoiser made for white Gaussian noise.

- ``noise_model="rician"``: an MR magnitude image is ``M = |A + n1 + i n2|`` with ``n1``,
  ``n2`` Gaussian of standard deviation ``sigma``; where the signal ``A`` is strong ``M``
  is about ``A`` plus Gaussian noise, but in dark regions its mean is biased upward (at
  ``A = 0``, ``E[M] = sigma * sqrt(pi / 2)``). The image is denoised as Gaussian noise of
  level ``sigma`` (given, or estimated as for Gaussian noise and corrected for the
  smaller spread of Rician data in dark regions, :func:`rician_sigma`), which estimates the local
  mean ``E[M]``; the bias is then removed by inverting the Rician mean
  ``E[M] = sigma sqrt(pi/2) L_{1/2}(-A^2 / 2 sigma^2)`` (the expectation-inverse of Foi's
  Rician variance stabilisation, 2011): values below ``sigma sqrt(pi/2)`` map to 0.
- ``noise_model="speckle"``: multiplicative noise ``z = s * u`` with ``u`` of mean 1
  (gamma-distributed for ``L``-look intensity speckle). The logarithm makes it additive
  (homomorphic filtering): ``log z = log s + log u``, with ``log u`` of standard deviation
  ``sqrt(trigamma(L))`` and mean ``digamma(L) - log(L)``. The log image is denoised as
  Gaussian noise at its estimated level, ``L`` is found from that level, and the result
  is exponentiated with the mean of ``log u`` removed (the known bias of the log).

Both are for single-channel images.
"""

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter
from scipy.special import digamma, i0e, i1e, polygamma

__all__ = ["MEDICAL_NOISE_MODELS", "RicianNoise", "SpeckleNoise", "local_rician_sigma",
           "medical_noise", "rician_unbias", "to_gaussian"]

MEDICAL_NOISE_MODELS = ("rician", "speckle")
# values of z below this fraction of the image's 99.9th percentile are clipped before the
# logarithm of the speckle path (a zero has no logarithm)
_SPECKLE_FLOOR = 1e-3
_RATIOS = np.linspace(0.0, 40.0, 4001)  # A / sigma, where the Rician mean is tabulated
# local statistics of the Rician sigma correction: window side and share of the flattest
# windows whose mean / standard deviation ratio tells how Rician they are
# (15 and 25 %: within 0.94-1.02 of the true sigma on Set12 crops in a zero background at
# 2-10 % noise, where the Gaussian estimate alone reads 0.70-0.77; without background the
# correction stays within 0.97-1.1 like that estimate)
_WINDOW = 15
_FLATTEST = 25.0


@dataclass(frozen=True)
class RicianNoise:
    """Rician noise of the magnitude of complex Gaussian noise of standard deviation
    ``sigma`` (on the normalised scale, where a zero signal is at ``zero``)."""

    sigma: float
    zero: float = 0.0


@dataclass(frozen=True)
class SpeckleNoise:
    """Multiplicative speckle whose logarithm has standard deviation ``log_sigma``
    (``looks``: the equivalent number of looks L, ``sqrt(trigamma(L)) = log_sigma``)."""

    log_sigma: float
    looks: float
    zero: float = 0.0

    @property
    def log_bias(self):
        """Mean of the logarithm of unit-mean gamma(L) speckle: digamma(L) - log(L)."""
        return float(digamma(self.looks) - np.log(self.looks))


def rician_mean(amplitude, sigma):
    """``E[M]`` of Rician data of true amplitude ``amplitude``."""
    t = np.asarray(amplitude, float) ** 2 / (2 * sigma**2)
    laguerre = (1 + t) * i0e(t / 2) + t * i1e(t / 2)
    return sigma * np.sqrt(np.pi / 2) * laguerre


def rician_unbias(mean, sigma):
    """The amplitude whose Rician mean is ``mean`` (0 below ``sigma sqrt(pi/2)``);
    ``sigma`` one level or one per value (where it is 0, ``mean`` itself)."""
    mean = np.asarray(mean, float)
    sigma = np.broadcast_to(np.asarray(sigma, float), mean.shape)
    noisy = sigma > 0
    ratio = np.divide(mean, sigma, out=np.zeros_like(mean), where=noisy)
    table = rician_mean(_RATIOS, 1.0)
    out = np.interp(ratio, table, _RATIOS, left=0.0)
    far = ratio > table[-1]  # E[M] ~ sqrt(A^2 + sigma^2) for strong signals
    out[far] = np.sqrt(ratio[far] ** 2 - 1.0)
    return np.where(noisy, out * sigma, mean)


#: the spread of Rayleigh data (Rician at zero signal) in units of sigma, the least any
#: Rician data have: sqrt(2 - pi / 2)
RAYLEIGH_SPREAD = float(np.sqrt(2 - np.pi / 2))
#: where a window's standard deviation is under this share of the Rayleigh spread of the
#: image's sigma, its noise is weaker than that sigma (a masked or filtered background,
#: coil sensitivity): 5 standard errors of the spread of 15x15 Rayleigh samples away
_WEAK_SPREAD = 0.75


def local_rician_sigma(image, sigma):
    """Per-pixel Rician ``sigma`` for removing the bias of one normalised (H, W), (H, W, 1)
    image or (Z, H, W, 1) volume (a zero signal at 0): ``sigma`` where the image's 15x15
    windows vary at least as much as Rician noise of that level can (``RAYLEIGH_SPREAD``
    times it, in a dark background; more over tissue), and proportionally less where
    they vary less than :data:`_WEAK_SPREAD` of that: there the noise cannot be as
    strong. MR scanners mask, filter or scale the background of many magnitude images,
    and coil sensitivities vary the noise across the image; removing the bias of
    ``sigma`` there would wipe out a dim signal whose noise is far weaker.
    """
    x = np.asarray(image, np.float64)
    size = [1] * x.ndim
    spatial = (0, 1) if x.ndim == 2 else (-3, -2)  # (H, W), or channels last
    for axis in spatial:
        size[axis] = _WINDOW
    mean = uniform_filter(x, size)
    spread = np.sqrt(np.maximum(uniform_filter(x * x, size) - mean**2, 0.0))
    share = spread / (RAYLEIGH_SPREAD * sigma * _WEAK_SPREAD)
    return sigma * np.minimum(share, 1.0)


def rician_spread(ratio):
    """(mean / std, std / sigma) of Rician data at amplitudes ``ratio * sigma``."""
    mean = rician_mean(ratio, 1.0)
    std = np.sqrt(np.maximum(ratio**2 + 2.0 - mean**2, 1e-12))
    return mean / std, std


def rician_sigma(image, level):
    """The Rician ``sigma`` of one (H, W, 1) image from a Gaussian estimate ``level``.

    A Gaussian estimate reads the spread of the image's flattest regions; in the dark
    background of an MR image that is the spread of Rayleigh data, ``0.655 sigma``. The
    ratio of mean to standard deviation in the flattest 25 % of 15x15 windows (1.91 for
    pure background, large for bright tissue) gives the amplitude there, hence the
    spread of the Rician data relative to ``sigma``, by which ``level`` is divided.
    """
    x = image[..., 0].astype(np.float64)
    if min(x.shape) < _WINDOW:
        return float(level)
    mean = uniform_filter(x, _WINDOW)
    std = np.sqrt(np.maximum(uniform_filter(x * x, _WINDOW) - mean**2, 0.0))
    flat = std <= np.percentile(std, _FLATTEST)
    spread = float(np.median(std[flat]))
    if spread <= 0:
        return float(level)
    ratio = float(np.median(mean[flat])) / spread
    ratios, spreads = rician_spread(_RATIOS)
    return float(level) / float(np.interp(ratio, ratios, spreads))


def _looks(log_sigma):
    """L with sqrt(trigamma(L)) = log_sigma (trigamma decreases from +inf to 0)."""
    target = max(float(log_sigma), 1e-6) ** 2
    low, high = 1e-3, 1e7
    for _ in range(100):
        mid = np.sqrt(low * high)
        if polygamma(1, mid) > target:
            low = mid
        else:
            high = mid
    return float(np.sqrt(low * high))


def _log_image(x):
    floor = _SPECKLE_FLOOR * max(float(np.percentile(x, 99.9)), 1e-12)
    return np.log(np.maximum(x, floor))


def medical_noise(noise_model, image, sigma, estimate_level, zero=0.0):
    """The :class:`RicianNoise` or :class:`SpeckleNoise` of one normalised (H, W, 1)
    image; ``sigma`` a given level on the same scale (Rician) or None (estimated with
    ``estimate_level``, on the image or, for speckle, on its logarithm); ``zero`` is where
    the normalisation put a zero signal (``-offset / scale``): both noises are defined
    from there."""
    if image.shape[-1] != 1:
        raise ValueError(f"noise_model={noise_model!r} is for single-channel images (MR "
                         f"magnitude, ultrasound); got {image.shape[-1]} channels.")
    zero = float(zero)
    if noise_model == "rician":
        if sigma is None:
            sigma = rician_sigma(image - zero, estimate_level(image))
        return RicianNoise(float(sigma), zero)
    log_sigma = float(estimate_level(_log_image(image - zero).astype(image.dtype)))
    return SpeckleNoise(log_sigma, _looks(log_sigma), zero)


def to_gaussian(x, noise):
    """``(y, level, back)``: the image a Gaussian denoiser runs on (about [0, 1]), its noise
    level there and the map of the denoised ``y`` back to the image's scale."""
    zero = noise.zero
    if isinstance(noise, RicianNoise):
        if noise.sigma <= 0:
            return x, noise.sigma, lambda out: np.asarray(out).astype(x.dtype, copy=False)
        sigma = local_rician_sigma(x - zero, noise.sigma)
        return x, noise.sigma, lambda out: (rician_unbias(np.asarray(out) - zero, sigma)
                                            + zero).astype(x.dtype, copy=False)
    y = _log_image(x - zero)
    low, high = np.percentile(y, (0.1, 99.9))
    scale = max(float(high - low), 1e-12)

    def back(out):
        logs = np.asarray(out, np.float64) * scale + low - noise.log_bias
        return (np.exp(logs) + zero).astype(x.dtype, copy=False)

    return ((y - low) / scale).astype(x.dtype), noise.log_sigma / scale, back
