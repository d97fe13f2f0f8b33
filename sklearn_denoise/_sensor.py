"""Which noise to assume for one image: white Gaussian, or signal-dependent Poisson-Gaussian.

One place for the rule used by :class:`~sklearn_denoise.CNNDenoiser`, the command line and
the benchmarks. Images here are already normalised (see :mod:`sklearn_denoise._normalize`),
so noise levels and models are on that [0, 1] scale.
"""

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter
from skimage.restoration import estimate_sigma

from ._noise_model import (
    NOISE_MODEL_OPTIONS,
    NoiseModel,
    check_noise_model,
    estimate_noise_model,
)
from ._normalize import fit_normalization
from ._validation import plane_view

__all__ = [
    "GaussianNoise",
    "NOISE_MODEL_OPTIONS",
    "check_noise_model",
    "estimate_gaussian_sigma",
    "noise_level_map",
    "resolve_noise",
    "sensor_training_patch",
]

# Poisson-Gaussian is assumed when the fitted noise variance at the bright end of the image
# (99th percentile) is at least this many times the variance at its dark end (1st
# percentile). Measured on Set12: white Gaussian noise (sigma 5-50 on 0-255) gives ratios of
# 1.0-2.2, Poisson-Gaussian counts at 10-100 photons 3.1-37.
_SIGNAL_DEPENDENCE_RATIO = 3.0


@dataclass(frozen=True)
class GaussianNoise:
    """White Gaussian noise of standard deviation ``sigma``."""

    sigma: float


def estimate_gaussian_sigma(image, *, signal=False):
    """White-noise standard deviation of one (H, W, C) image, averaged over channels.

    :func:`skimage.restoration.estimate_sigma` (wavelet detail, median absolute deviation);
    ``signal=True``: the image is a (1, L, 1) 1-D signal, estimated with a 1-D transform.
    0 for images too small to estimate or with no detail at all.
    """
    image = plane_view(image)  # a (Z, H, W, C) volume: on its planes, one above another
    if signal:
        data, options = image[0, :, 0], {}
    elif min(image.shape[:2]) < 2:
        return 0.0
    else:
        data, options = image, {"channel_axis": -1, "average_sigmas": True}
    with warnings.catch_warnings():
        # skimage warns when the last axis is short and might be channels, and on empty
        # medians; neither applies here
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        sigma = float(estimate_sigma(data, **options))
    return sigma if np.isfinite(sigma) else 0.0


def is_signal_dependent(model, image):
    """Whether ``model``'s variance grows markedly over the intensities of ``image``."""
    low, high = np.percentile(image, (1, 99))
    var_low = max(float(model.variance(low)), 1e-12)
    var_high = float(model.variance(high))
    return var_high >= _SIGNAL_DEPENDENCE_RATIO * var_low


def resolve_noise(image, noise_model="auto", sigma=None, *, data_scale=1.0,
                  normalization=None, estimate_level=estimate_gaussian_sigma,
                  correlated_level=None):
    """The noise to assume for one normalised (H, W, C) image.

    Parameters
    ----------
    image : ndarray of shape (H, W, C)
        The image, after normalisation.
    noise_model : {"auto", "gaussian", "poisson-gaussian", "rician", "speckle"} or NoiseModel
        "rician", "speckle": see :mod:`sklearn_denoise._medical` (``sigma`` is the Rician
        level). "gaussian": white Gaussian noise, its sigma estimated unless given.
        "poisson-gaussian":
        a Poisson-Gaussian model estimated from the image. "auto": the Poisson-Gaussian
        model when its variance grows markedly with the signal, white Gaussian otherwise.
        A NoiseModel: known parameters, in the data units of the original image.
    sigma : float or None
        Known Gaussian noise level on the original image's intensity scale; takes
        precedence over ``noise_model``.
    data_scale : float
        What 1.0 on the intensity scale is in data units (an integer dtype's maximum).
    normalization : Normalization or None
        The map that produced ``image`` from the original.
    estimate_level : callable, default=estimate_gaussian_sigma
        ``(H, W, C) image -> sigma``, the estimate of a signal-independent noise level.
    correlated_level : callable or None, default=None
        ``(H, W, C) image -> sigma or None``, the level of spatially correlated noise
        (None when the noise looks white). With "auto", noise whose variance seems to grow
        with the signal but that is correlated is taken as Gaussian noise of that level:
        the Poisson-Gaussian model is estimated from the finest scale, which sees a
        fraction of correlated noise.

    Returns
    -------
    noise : GaussianNoise or NoiseModel
        On the normalised scale of ``image``.
    """
    offset = normalization.offset if normalization is not None else 0.0
    scale = normalization.scale if normalization is not None else 1.0
    if isinstance(noise_model, str) and noise_model in ("rician", "speckle"):
        from ._medical import medical_noise

        given = None
        if sigma is not None:
            given = normalization.noise_level(sigma) if normalization is not None else sigma
        return medical_noise(noise_model, image, given, estimate_level,
                             zero=-offset / scale)
    if sigma is not None:
        if normalization is None:
            return GaussianNoise(sigma)
        return GaussianNoise(normalization.noise_level(sigma))
    if isinstance(noise_model, NoiseModel):
        return noise_model.scaled(0.0, data_scale).scaled(offset, scale)
    if noise_model == "gaussian" or image.shape[-1] != 1:
        return GaussianNoise(estimate_level(image))
    try:
        model = estimate_noise_model(image[..., 0])
    except ValueError:
        if noise_model == "poisson-gaussian":
            raise
        return GaussianNoise(estimate_level(image))
    if noise_model == "poisson-gaussian":
        return model
    if is_signal_dependent(model, image):
        level = correlated_level(image) if correlated_level is not None else None
        return model if level is None else GaussianNoise(level)
    return GaussianNoise(estimate_level(image))


# Sensor noise drawn for training patches (CNNDenoiser(train_noise="mixed")): photons at
# white log-uniform over this range (a few photons is a very dark fluorescence image,
# a thousand a well-exposed one) and read noise in photo-electrons uniform over that range.
TRAINING_PEAKS = (2.0, 1000.0)
TRAINING_READ_NOISE = (0.0, 5.0)
# The signal under a pixel, for its noise level, is the noisy image smoothed at this scale.
_SIGNAL_SMOOTHING = 1.5


def noise_level_map(image, model):
    """Per-pixel noise standard deviation of one normalised image under ``model``.

    ``sqrt(gain * (s - black_level) + read_noise^2)`` with ``s`` the image smoothed by a
    Gaussian of 1.5 pixels, a cheap estimate of the signal under each pixel (FFDNet-style
    noise-level map for signal-dependent noise). ``image`` is (H, W, 1), or a (Z, H, W, 1)
    volume whose planes are smoothed one by one (as the stack network's maps were made);
    so is the map.
    """
    plane = image[..., 0]
    smoothing = (0.0,) * (plane.ndim - 2) + (_SIGNAL_SMOOTHING,) * 2
    signal = gaussian_filter(plane.astype(np.float64), smoothing)
    return np.sqrt(model.variance(signal))[..., np.newaxis].astype(image.dtype)


def sensor_training_patch(clean, rng):
    """Poisson-Gaussian noise on one clean (H, W, 1) patch, normalised as at inference.

    Returns the normalised noisy patch, the clean patch mapped alike (the target) and the
    noise-level map of the noisy patch.
    """
    peak = float(np.exp(rng.uniform(*np.log(TRAINING_PEAKS))))
    read = float(rng.uniform(*TRAINING_READ_NOISE)) / peak
    signal = np.clip(clean.astype(np.float64), 0.0, None)
    noisy = rng.poisson(signal * peak) / peak + rng.normal(0.0, read, size=clean.shape)
    model = NoiseModel(gain=1.0 / peak, read_noise=read, black_level=0.0)
    normalization = fit_normalization(noisy, "percentile")
    model = model.scaled(normalization.offset, normalization.scale)
    noisy = normalization.apply(noisy).astype(clean.dtype)
    target = normalization.apply(clean.astype(np.float64)).astype(clean.dtype)
    return noisy, target, noise_level_map(noisy, model)
