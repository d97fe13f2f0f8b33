"""Seeded noise models over image batches, and sensor noise models.

Every function takes images laid out as in the image convention and returns a float array
(or a list for list input) **without clipping**, so that the noise statistics stay exact;
clip it yourself if a method needs [0, 1] input. ``random_state`` makes the noise
reproducible.

:func:`gaussian`, :func:`poisson`, :func:`salt_and_pepper` and :func:`speckle` work on the
[0, 1] intensity scale (integers read on their dtype's full range).

:func:`correlated_gaussian` (white noise blurred, as after demosaicing and in-camera
processing) and :func:`jpeg` (lossy compression) model what real photos carry, and
:class:`Degradation` draws a random mixture of all of these per training patch (the
training noise of ``CNNDenoiser(train_noise="realistic")``), with the noise-level map a
network should be given for it.

The sensor-noise tools work in **data units**, the values taken as they are (integer images
as raw counts): :func:`poisson_gaussian` simulates the Poisson-Gaussian noise of a camera,
:class:`NoiseModel` describes it and :func:`estimate_noise_model` measures it from one noisy
image.
"""

import io
import math
from dataclasses import asdict, dataclass, fields

import numpy as np
from scipy.ndimage import gaussian_filter
from sklearn.utils import check_random_state

from ._noise_model import (
    MAX_NOISE_PARAMETER,
    NOISE_MODEL_OPTIONS,
    NoiseModel,
    estimate_noise_model,
)
from ._param_checks import check_real, check_sigma
from ._validation import to_float

__all__ = [
    "MAX_NOISE_PARAMETER",
    "NOISE_MODEL_OPTIONS",
    "sigma_on_intensity_scale",
    "Degradation",
    "NoiseModel",
    "correlated_gaussian",
    "estimate_noise_level",
    "estimate_noise_model",
    "gaussian",
    "jpeg",
    "poisson",
    "poisson_gaussian",
    "salt_and_pepper",
    "speckle",
]


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

    The one source of Gaussian noise of the package: the Set12 protocol of
    ``sklearn-denoise compare`` and of the benchmarks draws its noise here too, so an int
    seed gives the same noise in both.

    Parameters
    ----------
    images : array-like or list of array-like
        Clean images.
    sigma : float
        Noise standard deviation; the classic "sigma = 25" is ``25 / 255``.
    random_state : int, numpy.random.Generator, RandomState instance or None, default=None
        Seed of the noise. An int seeds ``numpy.random.default_rng(random_state)`` (the
        generator of the Set12 protocol; for an image ``x`` of float64 values the result
        is exactly ``x + numpy.random.default_rng(seed).normal(0, sigma, x.shape)``). A
        Generator or RandomState instance is used as given (and advanced). None draws from
        numpy's global RandomState (scikit-learn's convention:
        :func:`numpy.random.seed` makes it reproducible).

    Returns
    -------
    noisy : ndarray or list of ndarray
        Float images, not clipped. A list is noised image by image from one generator.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_denoise.noise import gaussian
    >>> noisy = gaussian(np.zeros((2, 8, 8)), 25 / 255, random_state=0)
    >>> noisy.shape
    (2, 8, 8)
    >>> bool(np.all(noisy == np.random.default_rng(0).normal(0, 25 / 255, (2, 8, 8))))
    True
    """
    sigma = check_sigma(sigma, allow_none=False)
    if isinstance(random_state, (int, np.integer)):
        rng = np.random.default_rng(random_state)
    elif isinstance(random_state, np.random.Generator):
        rng = random_state
    else:
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


def _blurred_white_noise(shape, sigma, correlation, rng, spatial_axes=(0, 1)):
    """Gaussian noise of per-pixel std ``sigma``: white noise blurred along
    ``spatial_axes`` by a Gaussian of std ``correlation`` pixels."""
    white = rng.normal(0.0, 1.0, size=shape)
    if correlation <= 0:
        return sigma * white
    blur = tuple(correlation if axis in spatial_axes else 0 for axis in range(len(shape)))
    size = 2 * int(4 * correlation + 0.5) + 1  # the kernel's support (truncate=4)
    delta = np.zeros((size, size))
    delta[size // 2, size // 2] = 1.0
    kernel_energy = float(np.sum(gaussian_filter(delta, correlation) ** 2))
    return gaussian_filter(white, blur, mode="wrap") * (sigma / math.sqrt(kernel_energy))


def correlated_gaussian(images, sigma, *, correlation=1.0, random_state=None):
    """Add spatially correlated Gaussian noise of standard deviation ``sigma``.

    White Gaussian noise blurred by a Gaussian kernel of ``correlation`` pixels, then scaled
    so that its per-pixel standard deviation is ``sigma`` (on the [0, 1] scale): the
    noise of a photo after demosaicing and in-camera smoothing, which a white-noise
    estimate such as :func:`skimage.restoration.estimate_sigma` underestimates.

    Parameters
    ----------
    images : array-like or list of array-like
        Clean images, (H, W), (n, H, W) or (n, H, W, C); channels get independent noise.
    sigma : float
        Per-pixel noise standard deviation.
    correlation : float, default=1.0
        Standard deviation in pixels of the blur; 0 gives white noise.
    random_state : int, RandomState instance or None, default=None
        Seed of the noise.

    Returns
    -------
    noisy : ndarray or list of ndarray
        Float images, not clipped.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_denoise.noise import correlated_gaussian
    >>> noisy = correlated_gaussian(np.zeros((64, 64)), 20 / 255, random_state=0)
    >>> round(float(noisy.std() * 255))
    20
    """
    sigma = check_sigma(sigma, allow_none=False)
    correlation = check_real(correlation, "correlation", low=0)
    rng = check_random_state(random_state)

    def add(x):
        # (H, W), (n, H, W) or (n, H, W, C): the image plane is the first two axes
        # after the batch axis, if any
        axes = (0, 1) if x.ndim == 2 else (1, 2)
        return x + _blurred_white_noise(x.shape, sigma, correlation, rng, axes).astype(x.dtype)

    return _apply(images, add)


def _check_quality(quality):
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not (
        1 <= quality <= 100
    ):
        raise ValueError(f"quality must be an integer in [1, 100], got {quality!r}.")
    return int(quality)


def _jpeg_plane(plane, quality):
    """One (H, W) or (H, W, 3) [0, 1] image through an 8-bit JPEG round trip."""
    from PIL import Image

    pixels = np.rint(np.clip(plane, 0.0, 1.0) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded, dtype=np.float64) / 255.0


def jpeg(images, quality):
    """Compress and decompress with JPEG at ``quality`` (8-bit, as a camera or web page).

    The images are clipped to [0, 1] and rounded to 8 bits first, as any JPEG file is;
    gray images are coded as one luminance plane, RGB images with Pillow's default 4:2:0
    chroma subsampling. JPEG removes the noise's highest frequencies and adds its own
    block artefacts.

    Parameters
    ----------
    images : array-like or list of array-like
        Images on the [0, 1] scale: (H, W), (n, H, W), (H, W, 3) or (n, H, W, 1 or 3).
    quality : int
        JPEG quality in [1, 100] (75 is Pillow's and many cameras' default).

    Returns
    -------
    compressed : ndarray or list of ndarray
        Float images on [0, 1], in the input's layout.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_denoise.noise import jpeg
    >>> out = jpeg(np.full((16, 16), 0.5), quality=75)
    >>> round(float(out.mean()), 2)
    0.5
    """
    quality = _check_quality(quality)

    def compress(x):
        if x.ndim == 2 or (x.ndim == 3 and x.shape[-1] == 3):
            return _jpeg_plane(x, quality).astype(x.dtype)
        if x.ndim == 3:
            return np.stack([_jpeg_plane(p, quality) for p in x]).astype(x.dtype)
        if x.ndim == 4 and x.shape[-1] in (1, 3):
            return np.stack([_jpeg_plane(p[..., 0] if p.shape[-1] == 1 else p, quality)
                             .reshape(p.shape) for p in x]).astype(x.dtype)
        raise ValueError(
            f"jpeg takes (H, W), (n, H, W), (H, W, 3) or (n, H, W, 1|3) images, got shape "
            f"{x.shape}."
        )

    return _apply(images, compress)


@dataclass(frozen=True)
class Degradation:
    """Random degradations of clean training patches, each with its noise-level map.

    For every patch, one noise is drawn (with the probabilities ``weights``, in the order
    white Gaussian, Poisson-Gaussian sensor noise, spatially correlated Gaussian), and with
    probability ``jpeg_probability`` a JPEG round trip at a random quality is added before or
    after the noise (random order; never with sensor noise, whose counts are not 8-bit
    images). A correlated noise is itself a mixture: a random share of it stays white. The
    levels are those of the clean patch on the [0, 1] scale. This follows the degradation
    models of CBDNet (Guo et al., 2019) and SCUNet (Zhang et al., 2023), on gray patches.

    The noise-level map returned with each patch is what a network with a noise-level
    input is given for it: the per-pixel standard deviation of the added noise before any
    JPEG (for white and correlated noise one level; for sensor noise ``sqrt(gain * signal +
    read**2)`` per pixel, after the percentile normalisation that inference applies to
    sensor data).

    Parameters
    ----------
    sigma_range : tuple of float, default=(0, 55/255)
        Range of the uniform Gaussian (white and correlated) noise level.
    weights : tuple of 3 float, default=(0.4, 0.25, 0.35)
        Probabilities of white Gaussian, Poisson-Gaussian and correlated Gaussian noise.
    correlation_range : tuple of float, default=(0.5, 2.0)
        Range of the blur (pixels) of correlated noise.
    jpeg_probability : float, default=0.3
        Probability of a JPEG round trip for white and correlated noise.
    quality_range : tuple of int, default=(30, 95)
        Range of the JPEG quality.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_denoise.noise import Degradation
    >>> clean = np.full((32, 32, 1), 0.5, dtype=np.float32)
    >>> noisy, target, noise_map, kind = Degradation().sample(clean, np.random.default_rng(0))
    >>> noisy.shape == target.shape == noise_map.shape == clean.shape
    True
    """

    sigma_range: tuple = (0.0, 55 / 255)
    weights: tuple = (0.4, 0.25, 0.35)
    correlation_range: tuple = (0.5, 2.0)
    jpeg_probability: float = 0.3
    quality_range: tuple = (30, 95)

    def __post_init__(self):
        low, high = self.sigma_range
        check_sigma(low, "sigma_range[0]", allow_none=False)
        check_sigma(high, "sigma_range[1]", allow_none=False)
        weights = [check_real(w, "weights", low=0) for w in self.weights]
        if len(weights) != 3 or sum(weights) <= 0:
            raise ValueError(f"weights must be 3 non-negative numbers, got {self.weights!r}.")
        if not 0 <= self.correlation_range[0] <= self.correlation_range[1]:
            raise ValueError(f"correlation_range must be increasing and non-negative, got "
                             f"{self.correlation_range!r}.")
        check_sigma(self.jpeg_probability, "jpeg_probability", allow_none=False)
        _check_quality(self.quality_range[0])
        _check_quality(self.quality_range[1])

    def to_dict(self):
        """The settings as plain numbers (JSON), as a checkpoint stores them."""
        return {key: value if key == "jpeg_probability" else list(value)
                for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, settings):
        """The Degradation of :meth:`to_dict`'s settings, checked like the constructor's."""
        names = {field.name for field in fields(cls)}
        if not isinstance(settings, dict) or set(settings) != names:
            raise ValueError(f"Degradation settings must have the keys {sorted(names)}, got "
                             f"{settings!r}.")
        return cls(**{key: value if key == "jpeg_probability" else tuple(value)
                      for key, value in settings.items()})

    def sample(self, clean, rng):
        """Degrade one clean (H, W, 1) patch on [0, 1].

        Parameters
        ----------
        clean : ndarray of shape (H, W, 1)
        rng : numpy.random.Generator

        Returns
        -------
        noisy, target, noise_map : ndarray of shape (H, W, 1), clean's dtype
            The degraded patch, the clean patch (normalised like the noisy one for sensor
            noise) and the noise-level map.
        kind : str
            "gaussian", "poisson-gaussian" or "correlated", with "+jpeg" when compressed.
        """
        from ._sensor import sensor_training_patch

        weights = np.asarray(self.weights, dtype=np.float64)
        kind = ("gaussian", "poisson-gaussian", "correlated")[
            int(rng.choice(3, p=weights / weights.sum()))]
        if kind == "poisson-gaussian":
            noisy, target, noise_map = sensor_training_patch(clean, rng)
            return noisy, target, noise_map, kind
        sigma = float(rng.uniform(*self.sigma_range))
        if kind == "gaussian":
            noise = rng.normal(0.0, sigma, size=clean.shape)
        else:
            share = float(rng.uniform(0.0, 0.5))  # of the variance left white
            blurred = _blurred_white_noise(clean.shape, 1.0, rng.uniform(
                *self.correlation_range), rng)
            noise = sigma * (math.sqrt(share) * rng.normal(0.0, 1.0, size=clean.shape)
                             + math.sqrt(1 - share) * blurred)
        noisy = clean.astype(np.float64)
        compress = rng.random() < self.jpeg_probability
        quality = int(rng.integers(self.quality_range[0], self.quality_range[1] + 1))
        before = compress and rng.random() < 0.5
        if before:
            noisy = _jpeg_plane(noisy[..., 0], quality)[..., np.newaxis]
        noisy = noisy + noise
        if compress and not before:
            noisy = _jpeg_plane(noisy[..., 0], quality)[..., np.newaxis]
        noise_map = np.full(clean.shape, sigma, dtype=clean.dtype)
        kind += "+jpeg" if compress else ""
        return noisy.astype(clean.dtype), clean, noise_map, kind


def sigma_on_intensity_scale(sigma, dtype):
    """A noise standard deviation in an image's own units, as the denoisers' ``sigma``.

    The one rule between the two scales: the denoisers' ``sigma`` is on the intensity
    scale of the image convention, where an integer dtype's range is [0, 1] (``uint8``
    255 is 1.0) and floats are taken as stored; the command line's ``--sigma`` is in the
    file's own units (0-255 for 8-bit files, counts for 16-bit ones, the stored values for
    float files). ``sigma`` in data units is divided by the dtype's maximum for integers
    and kept for floats, so both give the same result for every dtype and every
    ``normalize`` setting (the denoisers map it with the image).

    Parameters
    ----------
    sigma : float
        Noise standard deviation in the data units of images of ``dtype`` (> 0).
    dtype : dtype
        The images' dtype.

    Returns
    -------
    sigma : float
        The same noise on the intensity scale, for a ``sigma`` parameter.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_denoise.noise import sigma_on_intensity_scale
    >>> round(sigma_on_intensity_scale(25, np.uint8), 4)
    0.098
    >>> sigma_on_intensity_scale(100, np.float32)
    100.0
    """
    from ._validation import dtype_scale

    sigma = float(sigma)
    if not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma}.")
    return sigma / dtype_scale(dtype)


def estimate_noise_level(image, *, channel_axis=None):
    """Estimate the standard deviation of white, correlated or compressed noise.

    A small network shipped with the package (trained on :class:`Degradation` patches of
    white and spatially correlated Gaussian noise, with and without JPEG compression, by
    ``benchmarks/train_noise_estimator.py``) predicts the noise level over the image; the
    median is returned. For correlated noise the level is the per-pixel standard deviation;
    for compressed noise, that of the noise before compression (what a denoiser's
    noise-level input expects). Unlike :func:`skimage.restoration.estimate_sigma`, which
    reads the finest wavelet band, it does not take correlated or compressed noise for a
    weak one. For signal-dependent sensor noise use :func:`estimate_noise_model`. Dense
    small structures on a smooth background (the stars of a crowded field) read as noise
    too; the denoisers' blind decision also checks the image's flattest regions
    (``decision_`` of :meth:`sklearn_denoise.CNNDenoiser.for_image`).

    Parameters
    ----------
    image : array-like of shape (H, W) or (H, W, C)
        One image; integers are read on their dtype's range, floats as they are (on
        [0, 255] the level comes out on [0, 255]).
    channel_axis : int or None, default=None
        Axis of the channels, if any; the level is averaged over channels.

    Returns
    -------
    sigma : float
        On the image's own intensity scale (integers: the [0, 1] scale of their dtype).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_denoise.noise import correlated_gaussian, estimate_noise_level
    >>> from skimage.data import camera
    >>> noisy = correlated_gaussian(camera() / 255.0, 20 / 255, random_state=0)
    >>> 15 < estimate_noise_level(noisy) * 255 < 25
    True
    """
    from ._noise_level import MIN_SIDE, estimate_level
    from ._normalize import fit_normalization

    array = np.asarray(image)
    if array.dtype.kind not in "uif":
        raise TypeError(f"image must be an integer or float array, got dtype {array.dtype}.")
    if channel_axis is not None:
        array = np.moveaxis(array, channel_axis, -1)
    if array.ndim == 2:
        array = array[..., np.newaxis]
    if array.ndim != 3:
        raise ValueError(
            f"image must be (H, W) or (H, W, C) (with channel_axis), got shape {image.shape}."
        )
    if min(array.shape[:2]) < MIN_SIDE:
        raise ValueError(
            f"image must be at least {MIN_SIDE}x{MIN_SIDE} pixels to estimate its noise, got "
            f"{array.shape[0]}x{array.shape[1]}."
        )
    x = to_float(array)
    if not np.all(np.isfinite(x)):
        raise ValueError("image contains NaN or infinity.")
    normalization = fit_normalization(x, "auto", dtype=array.dtype)
    if normalization.flat:
        return 0.0
    return estimate_level(normalization.apply(x)) * normalization.scale


# ----------------------------------------------------------------------------- sensor noise


def _raw_values(array, name):
    """One numeric array as float64 values taken as they are (integers as raw counts)."""
    array = np.asarray(array)
    if array.dtype.kind not in "uif":
        raise TypeError(f"{name} must be an integer or float array, got dtype {array.dtype}.")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contain NaN or infinity.")
    return array


def poisson_gaussian(images, *, gain, read_sigma, black_level=0.0, random_state=None):
    """Camera noise: Poisson shot noise and Gaussian read noise, in data units.

    Returns ``z = black_level + gain * Poisson(x / gain) + N(0, read_sigma**2)`` where ``x``
    is the expected signal above the black level, so that ``E[z] = black_level + x`` and
    ``Var[z] = gain * x + read_sigma**2``. Unlike :func:`gaussian` and :func:`poisson`, the
    values are taken **as they are**: integer images are raw counts (not read on their
    dtype's range) and float images keep their scale; ``gain``, ``read_sigma`` and
    ``black_level`` are in those same units.

    Two common uses:

    - **sensor counts**: ``poisson_gaussian(peak * clean, gain=1, read_sigma=2,
      black_level=100)`` gives raw counts of a camera recording ``peak`` photo-electrons at
      intensity 1.0 (one count per electron), with 2 counts of read noise on a black level
      of 100; round it (and clip to the dtype) to store it as integers;
    - **[0, 1] images**: ``poisson_gaussian(clean, gain=1 / peak, read_sigma=s)`` gives
      ``Poisson(peak * x) / peak + N(0, s**2)``, the model of :func:`poisson` plus read
      noise.

    Parameters
    ----------
    images : array-like or list of array-like
        Expected signal above the black level, non-negative, in data units.
    gain : float
        Data units per photo-electron, > 0 (the slope of the variance against the mean).
    read_sigma : float
        Standard deviation of the signal-independent Gaussian read noise, >= 0.
    black_level : float, default=0.0
        Offset recorded for no light.
    random_state : int, RandomState instance or None, default=None
        Seed of the noise.

    Returns
    -------
    noisy : ndarray or list of ndarray
        float64 images, neither rounded nor clipped.

    See Also
    --------
    NoiseModel : The variance of this noise as a function of the recorded value.
    estimate_noise_model : Measure ``gain``, ``read_sigma`` and ``black_level`` back.

    Examples
    --------
    Raw counts of a sensor (one count per photo-electron, 100 photo-electrons at 1.0):

    >>> import numpy as np
    >>> from sklearn_denoise.noise import poisson_gaussian
    >>> clean = np.tile(np.linspace(0, 1, 64), (64, 1))
    >>> peak = 100
    >>> raw = poisson_gaussian(peak * clean, gain=1, read_sigma=2, black_level=100,
    ...                        random_state=0)
    >>> raw_u16 = np.clip(np.rint(raw), 0, 65535).astype(np.uint16)
    >>> round(float(raw.mean()))
    150

    The same photon budget on the [0, 1] scale:

    >>> noisy = poisson_gaussian(clean, gain=1 / peak, read_sigma=0.01, random_state=0)
    >>> round(float(noisy.mean()), 1)
    0.5
    """
    gain = check_real(gain, "gain", low=0, low_inclusive=False)
    read_sigma = check_real(read_sigma, "read_sigma", low=0)
    black_level = check_real(black_level, "black_level")
    rng = check_random_state(random_state)

    def add(image, name):
        x = _raw_values(image, name)
        if np.any(x < 0):
            raise ValueError(
                f"{name} must be non-negative: they are the expected signal above the black "
                f"level (minimum {x.min()})."
            )
        shot = gain * rng.poisson(x / gain)
        return black_level + shot + rng.normal(0.0, read_sigma, size=x.shape)

    if isinstance(images, (list, tuple)):
        return [add(img, f"images[{i}]") for i, img in enumerate(images)]
    return add(images, "images")
