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
from scipy.ndimage import gaussian_filter, uniform_filter
from scipy.stats import chi2
from sklearn.utils import check_random_state

from ._param_checks import check_bool, check_real, check_sigma
from ._validation import to_float

__all__ = [
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
    weak one. For signal-dependent sensor noise use :func:`estimate_noise_model`.

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
    normalization = fit_normalization(x, "auto")
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


#: Largest gain and read noise of a noise model (data units): their squares enter the
#: variance and the variance-stabilising transform, and must stay finite floats.
MAX_NOISE_PARAMETER = 1e150


def _too_large(name, value):
    return (f"{name} must be <= {MAX_NOISE_PARAMETER:g} (its square enters the noise "
            f"variance and must be a finite float), got {value:g}.")


@dataclass(frozen=True)
class NoiseModel:
    """Poisson-Gaussian sensor noise, in data units.

    A pixel recorded around the value ``z`` has the noise variance
    ``gain * (z - black_level) + read_noise**2``: shot noise growing with the light above
    the black level, plus signal-independent read noise. ``gain=0`` is pure Gaussian noise
    of standard deviation ``read_noise``. This is the model simulated by
    :func:`poisson_gaussian` and measured by :func:`estimate_noise_model`.

    Parameters
    ----------
    gain : float
        Data units per photo-electron, in [0, 1e150] (:data:`MAX_NOISE_PARAMETER`).
    read_noise : float
        Standard deviation of the read noise, in [0, 1e150].
    black_level : float, default=0.0
        Value recorded for no light.

    See Also
    --------
    estimate_noise_model : Measure the model from one noisy image.

    Examples
    --------
    >>> from sklearn_denoise.noise import NoiseModel
    >>> model = NoiseModel(gain=2.0, read_noise=3.0, black_level=100.0)
    >>> float(model.variance(150.0))
    109.0
    >>> model.scaled(100.0, 10.0)
    NoiseModel(gain=0.2, read_noise=0.3, black_level=0.0)
    """

    gain: float
    read_noise: float
    black_level: float = 0.0

    def __post_init__(self):
        for name, low in (("gain", 0), ("read_noise", 0), ("black_level", None)):
            object.__setattr__(self, name, check_real(getattr(self, name), name, low=low))
        for name in ("gain", "read_noise"):
            value = getattr(self, name)
            if value > MAX_NOISE_PARAMETER:
                raise ValueError(_too_large(name, value))

    def variance(self, z):
        """Noise variance at the recorded value(s) ``z``, clipped at 0 below the black level.

        Parameters
        ----------
        z : float or array-like
            Expected recorded values, in data units.

        Returns
        -------
        variance : float or ndarray
        """
        z = np.asarray(z, dtype=np.float64)
        var = self.gain * (z - self.black_level) + self.read_noise**2
        return np.maximum(var, 0.0)[()]

    def scaled(self, offset, scale):
        """The model of the affinely mapped data ``(z - offset) / scale``.

        Parameters
        ----------
        offset : float
            Value subtracted from the data.
        scale : float
            Positive factor the data are divided by.

        Returns
        -------
        model : NoiseModel
            ``gain / scale``, ``read_noise / scale`` and ``(black_level - offset) / scale``.
        """
        offset = check_real(offset, "offset")
        scale = check_real(scale, "scale", low=0, low_inclusive=False)
        return NoiseModel(
            gain=self.gain / scale,
            read_noise=self.read_noise / scale,
            black_level=(self.black_level - offset) / scale,
        )


# Noise samples: the residual r of the separable high-pass [1, -2, 1] x [1, -2, 1] / 6 on
# the 3x3 pixel neighbourhoods centred on odd rows and columns (a stride-2 grid). It cancels
# locally constant, linear and bilinear signal and most smooth image content, and its noise
# variance is the mean of the neighbourhood's pixel variances weighted by the squared taps:
# ``gain * u + b`` with ``u`` the local mean under those weights.
_TAPS = np.array([1.0, -2.0, 1.0])
_KERNEL = np.outer(_TAPS, _TAPS) / np.sum(_TAPS**2)  # unit noise gain
# Each sample is binned by the mean of the 4x4 blocks of 2x2 pixels around it, leaving out
# the 2x2 blocks that hold its own neighbourhood: the binning is then independent of the
# sample's noise, so the bin averages of r**2 and u lie on the variance line (no regression
# towards the mean).
_RING_BLOCKS = 12
# Local energy of the residual: its mean square over _ENERGY_WINDOW**2 grid samples
# (a 10x10-pixel neighbourhood), and the quantiles used on it in each level set.
_ENERGY_WINDOW = 5
_SCALE_QUANTILE = 0.25
_KEEP_QUANTILE = 0.999
# Larger images: statistics on a regular subset of _TILE x _TILE tiles, about
# _MAX_SAMPLES samples in all (a 2048x2048 image then takes well under 0.1 s).
_MAX_SAMPLES = 1 << 18
_TILE = 128
_MIN_SAMPLES = 256  # about a 36x36-pixel image
# Level sets: up to 24 bins of the binning mean between these percentiles, kept when they
# hold _MIN_PER_LEVEL smooth samples; _MIN_LEVELS of them are needed for a line fit.
_MEAN_PERCENTILES = (0.5, 99.5)
_MIN_PER_LEVEL = 24
_MIN_LEVELS = 3
# The black level: this percentile of the 8x8-pixel local means.
_BLACK_PERCENTILE = 0.5
# Robust line fit: relative model error added to the sampling error of each level's
# variance, the quantile of the lower-envelope start, and Tukey's biweight constant.
_MODEL_ERROR = 0.05
_START_QUANTILE = 0.25
_TUKEY_C = 4.685


def _energy_dof():
    """Equivalent chi-square degrees of freedom of the local energy of pure Gaussian noise.

    Neighbouring grid samples share pixels (correlation 1/6 along rows and columns, 1/36
    along diagonals); a mean of ``K`` squared correlated Gaussians has about
    ``K**2 / sum(rho_ij**2)`` degrees of freedom (Satterthwaite), 22.9 here.
    """
    k = _ENERGY_WINDOW
    total = 0.0
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            shifted = np.zeros((7, 7))
            shifted[2 + 2 * dy : 5 + 2 * dy, 2 + 2 * dx : 5 + 2 * dx] = _KERNEL
            rho = float(np.sum(np.pad(_KERNEL, 2) * shifted))
            total += (k - abs(dy)) * (k - abs(dx)) * rho**2
    return k**4 / total


_ENERGY_DOF = _energy_dof()


def _noise_planes(image):
    """Validate the input of estimate_noise_model as (n, H, W) planes of its own dtype."""
    array = np.asarray(image)
    if array.ndim not in (2, 3):
        raise ValueError(
            "image must be one 2-D image (H, W) or a 3-D stack (n, H, W) of planes from one "
            f"sensor; got an array of shape {array.shape}."
        )
    if array.dtype.kind not in "uif":
        raise TypeError(f"image must be an integer or float array, got dtype {array.dtype}.")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise ValueError("image contains NaN or infinity.")
    planes = array if array.ndim == 3 else array[np.newaxis]
    if _n_samples(planes.shape) < _MIN_SAMPLES:
        raise ValueError(
            f"image of shape {array.shape} has too few pixels to estimate a noise model "
            "(about 36x36 pixels are needed)."
        )
    return planes


def _n_samples(shape):
    n, height, width = shape
    return n * max(height // 2 - 3, 0) * max(width // 2 - 3, 0)


def _sample_tiles(planes):
    """The planes as float64; for large ones, a regular subset of square tiles.

    Statistics on more than ``_MAX_SAMPLES`` samples gain little accuracy; taking every
    k-th tile (in raster order, so that the kept tiles are staggered) bounds the time.
    """
    n, height, width = planes.shape
    per_tile = _n_samples((1, _TILE, _TILE))
    if _n_samples(planes.shape) <= 2 * _MAX_SAMPLES or min(height, width) < 2 * _TILE:
        return planes.astype(np.float64)
    rows, cols = height // _TILE, width // _TILE
    step = max(1, (n * rows * cols * per_tile) // _MAX_SAMPLES)
    tiles = []
    for index in range(0, n * rows * cols, step):
        k, rest = divmod(index, rows * cols)
        r, c = divmod(rest, cols)
        tiles.append(planes[k, r * _TILE : (r + 1) * _TILE, c * _TILE : (c + 1) * _TILE])
    return np.stack(tiles).astype(np.float64)


def _local_statistics(planes, top, saturated):
    """Noise samples and local means of every plane, on the stride-2 grid.

    Returns flat arrays: ``residual`` (the high-pass samples), ``local`` (their local means
    ``u``), ``ring`` (the binning means, independent of the samples' noise), ``energy``
    (local mean square of the residual), ``smooth`` (8x8-pixel means) and ``usable``
    (False next to the saturated value ``top`` when ``saturated``).
    """
    n, height, width = planes.shape
    hb, wb = height // 2, width // 2
    z = planes[:, : 2 * hb, : 2 * wb]
    # samples centred on pixels (2i + 1, 2j + 1) for i in 1..hb-3, j in 1..wb-3, so that
    # the 4x4 blocks (i-1..i+2, j-1..j+2) around their 3x3 neighbourhood fit in the plane
    rows = [z[:, 2 + dy : 2 * hb - 4 + dy : 2] for dy in range(3)]
    high = sum(t * r for t, r in zip(_TAPS, rows))
    low = sum(t * t * r for t, r in zip(_TAPS, rows))
    w = 2 * wb - 6
    residual = sum(t * high[:, :, 2 + dx : 2 + dx + w : 2] for t, dx in zip(_TAPS, range(3)))
    local = sum(t * t * low[:, :, 2 + dx : 2 + dx + w : 2] for t, dx in zip(_TAPS, range(3)))
    norm = np.sum(_TAPS**2)
    residual /= norm
    local /= norm**2

    blocks = z[:, ::2, ::2] + z[:, ::2, 1::2] + z[:, 1::2, ::2] + z[:, 1::2, 1::2]
    # uniform filters of even size s average blocks p - s/2 .. p + s/2 - 1
    inner = slice(2, hb - 1), slice(2, wb - 1)
    outer_mean = uniform_filter(blocks, size=(1, 4, 4))[:, inner[0], inner[1]] / 4
    inner_mean = uniform_filter(blocks, size=(1, 2, 2))[:, inner[0], inner[1]] / 4
    ring = (16 * outer_mean - 4 * inner_mean) / _RING_BLOCKS
    energy = uniform_filter(residual * residual, size=(1, _ENERGY_WINDOW, _ENERGY_WINDOW),
                            mode="reflect")
    if saturated:
        at_top = z == top
        hit = at_top[:, ::2, ::2] | at_top[:, ::2, 1::2] | at_top[:, 1::2, ::2]
        hit |= at_top[:, 1::2, 1::2]
        usable = ~(hit[:, 1:-2, 1:-2] | hit[:, 2:-1, 1:-2] | hit[:, 1:-2, 2:-1]
                   | hit[:, 2:-1, 2:-1])
    else:
        usable = np.ones(residual.shape, dtype=bool)
    return (residual.ravel(), local.ravel(), ring.ravel(), energy.ravel(),
            outer_mean.ravel(), usable.ravel())


def _level_sets(ring, residual, local, energy):
    """Bin the samples by ring mean; robust noise variance and mean ``u`` of each bin.

    Returns ``means, variances, counts`` of the level sets with enough smooth samples.
    """
    lo, hi = np.percentile(ring, _MEAN_PERCENTILES)
    if not hi > lo:
        raise ValueError(
            "the image is flat (its local means do not vary): a noise model needs several "
            "signal levels."
        )
    n_levels = int(np.clip(ring.size // 1000, 8, 24))
    level = np.floor((ring - lo) * (n_levels / (hi - lo)))
    inside = (level >= 0) & (level < n_levels)
    level = level[inside].astype(np.int16)
    residual, local, energy = residual[inside], local[inside], energy[inside]

    # robust scale of each level set from a low quantile of the local energy
    counts = np.bincount(level, minlength=n_levels)
    grouped = energy[np.argsort(level, kind="stable")]  # a radix sort for int16
    ends = np.cumsum(counts)
    low_energy = np.zeros(n_levels)
    for j in np.flatnonzero(counts):
        segment = grouped[ends[j] - counts[j] : ends[j]]
        k = int(_SCALE_QUANTILE * (counts[j] - 1))
        low_energy[j] = np.partition(segment, k)[k]
    dof = _ENERGY_DOF
    scale = low_energy * dof / chi2.ppf(_SCALE_QUANTILE, dof)
    cut = chi2.ppf(_KEEP_QUANTILE, dof)
    keep = energy <= scale[level] * cut / dof

    kept = level[keep]
    n_kept = np.bincount(kept, minlength=n_levels)
    sum_r2 = np.bincount(kept, weights=residual[keep] ** 2, minlength=n_levels)
    sum_local = np.bincount(kept, weights=local[keep], minlength=n_levels)
    # E[r^2 | energy <= cut] for Gaussian noise, relative to the variance
    kept_fraction = chi2.cdf(cut, dof + 2) / chi2.cdf(cut, dof)
    ok = n_kept >= _MIN_PER_LEVEL
    n_ok = n_kept[ok]
    return sum_local[ok] / n_ok, sum_r2[ok] / n_ok / kept_fraction, n_ok


def _weighted_line(x, y, w):
    """Weighted least-squares line y = a x + b with a >= 0."""
    total = w.sum()
    x_bar, y_bar = (w @ x) / total, (w @ y) / total
    dx = x - x_bar
    sxx = w @ (dx * dx)
    slope = (w @ (dx * (y - y_bar))) / sxx if sxx > 0 else 0.0
    slope = max(slope, 0.0)
    return slope, y_bar - slope * x_bar


def _lower_line(means, variances, weights):
    """Start of the robust fit: a line near the lower envelope of the level sets.

    Texture and edges only ever add variance, so the start is the weighted
    ``_START_QUANTILE``-quantile regression of the relative residuals, searched over the
    lines through pairs of level sets (where its optimum lies) and the flat lines (a >= 0).
    """
    i, j = np.triu_indices(means.size, k=1)
    dm = means[j] - means[i]
    ok = dm > 0
    slopes = np.concatenate([(variances[j] - variances[i])[ok] / dm[ok], np.zeros(means.size)])
    anchors = np.concatenate([i[ok], np.arange(means.size)])
    slopes = np.maximum(slopes, 0.0)
    intercepts = variances[anchors] - slopes * means[anchors]
    pred = slopes[:, None] * means + intercepts[:, None]
    rel = (variances - pred) / variances
    loss = (np.where(rel < 0, _START_QUANTILE - 1, _START_QUANTILE) * rel) @ weights
    best = int(np.argmin(loss))
    return slopes[best], intercepts[best]


def _fit_variance_line(means, variances, counts):
    """Robust fit of ``variance = a * mean + b`` over the level sets (a >= 0).

    Each level's variance has a relative sampling error of ``sqrt(2 / (count - 1))``, to
    which a relative model error is added. From a start near the lower envelope,
    iteratively reweighted least squares with Tukey's biweight on the residuals
    standardised by that error discards level sets spoiled by texture, edges or clipping.
    """
    rel2 = 2.0 / np.maximum(counts - 1, 1) + _MODEL_ERROR**2
    positive = variances > 0
    a, b = _lower_line(means[positive], variances[positive], 1.0 / rel2[positive])
    floor = 1e-12 * variances.max()
    for _ in range(50):
        pred = np.maximum(a * means + b, floor)
        u = (variances - pred) / (pred * np.sqrt(rel2) * _TUKEY_C)
        robust = np.where(np.abs(u) < 1, (1 - u * u) ** 2, 0.0)
        if np.count_nonzero(robust) < 2:
            break
        a_new, b_new = _weighted_line(means, variances, robust / (pred**2 * rel2))
        done = abs(a_new - a) <= 1e-9 * abs(a_new) + 1e-15 and abs(b_new - b) <= 1e-9 * (
            abs(b_new) + floor
        )
        a, b = a_new, b_new
        if done:
            break
    return a, b


def estimate_noise_model(image, *, return_points=False):
    """Estimate the Poisson-Gaussian noise model of one noisy image.

    Measures ``gain``, ``read_noise`` and ``black_level`` of the model
    ``Var[z] = gain * (z - black_level) + read_noise**2`` (see :class:`NoiseModel`) from a
    single raw image, or from a stack of planes recorded by one sensor (pooled), in the
    spirit of Foi et al. (2008):

    1. noise samples: a high-pass residual (the separable second difference
       ``[1, -2, 1] x [1, -2, 1] / 6`` on a stride-2 grid), which cancels locally linear and
       bilinear signal and keeps white noise at unit gain; its noise variance lies on the
       variance line at ``u``, the local mean under the squared filter taps;
    2. level sets: the samples are binned (up to 24 bins between the 0.5th and 99.5th
       percentiles) by the mean of an 8x8-pixel ring around them that leaves out their own
       pixels, so that the binning is independent of their noise;
    3. smooth regions only: in each level set a low quantile of the local energy of the
       residual (over 10x10 pixels) gives a robust noise scale, and samples whose energy is
       implausible for noise alone (edges, texture) are rejected; the variance of a level
       set is the mean square of its remaining residuals (corrected for the rejection), its
       mean the average ``u``;
    4. a robust line fit ``variance = a * mean + b`` with ``a >= 0``: weighted by the
       sampling error of each level's variance, started near the lower envelope of the
       points (texture only adds variance) and refined by iteratively reweighted least
       squares with Tukey's biweight.

    Only ``a`` (the gain) and ``b = read_noise**2 - gain * black_level`` can be identified
    from variances against means, so the black level is measured separately as the
    darkest local mean level (the 0.5th percentile of the 8x8-pixel local means): this
    **assumes that some pixels (about 1 % of the image or more, in patches) receive no
    light**. When none do, the black level is overestimated and so is the read noise,
    ``sqrt(max(b + gain * black_level, 0))``, the fitted noise std at the black level. The
    gain, and the variance the model predicts at the levels present in the image, do not
    depend on this assumption.

    Values are taken as they are (integer images as raw counts, floats as given) and the
    model is returned in those units. Saturated pixels (the maximum value, when at least
    0.1 % of the pixels hold it) are left out; clipping at the bottom of the range is not
    handled. Images with more than about 2**19 pixels are measured on a regular subset of
    128x128-pixel tiles (a 2048x2048 image takes well under 0.1 s).

    Parameters
    ----------
    image : array-like of shape (H, W) or (n, H, W)
        One noisy image, or ``n`` planes from one sensor pooled into one estimate
        (e.g. the frames of a time series, or the four Bayer phases of a raw frame).
    return_points : bool, default=False
        Also return the mean and noise variance of each level set, for plotting the fit.

    Returns
    -------
    model : NoiseModel
        The estimated ``gain``, ``read_noise`` and ``black_level``, in data units.
    means : ndarray of shape (n_levels,)
        Mean of each level set; only returned with ``return_points=True``.
    variances : ndarray of shape (n_levels,)
        Noise variance of each level set; only returned with ``return_points=True``.

    Raises
    ------
    ValueError
        If the image is too small, constant, flat (a single signal level), noise-free, or
        leaves fewer than 3 usable level sets.

    See Also
    --------
    NoiseModel : The estimated model.
    poisson_gaussian : Simulate this noise.

    Notes
    -----
    Fine texture and the image's own noise (a photograph used as a "clean" image) pass the
    high-pass filter too; the rejection step removes what stands out from the noise, but
    finely textured images at high signal-to-noise ratios can still give a gain that is
    too high. With little shot noise against the read noise (low counts, large read noise)
    the gain is uncertain (tens of percent on a 256x256 image), the read noise is not.

    References
    ----------
    A. Foi, M. Trimeche, V. Katkovnik and K. Egiazarian, "Practical Poissonian-Gaussian
    noise modeling and fitting for single-image raw-data", IEEE Trans. Image Processing
    17(10), 2008.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_denoise.noise import estimate_noise_model, poisson_gaussian
    >>> yy, xx = np.mgrid[:256, :256] / 255
    >>> clean = np.clip(1.2 * xx * yy - 0.1, 0, 1)      # some pixels get no light
    >>> raw = poisson_gaussian(1000 * clean, gain=1, read_sigma=2, black_level=100,
    ...                        random_state=0)
    >>> model = estimate_noise_model(raw)
    >>> bool(abs(model.gain - 1) < 0.2), bool(abs(model.black_level - 100) < 2)
    (True, True)
    """
    return_points = check_bool(return_points, "return_points")
    planes = _noise_planes(image)
    top = planes.max()
    if planes.min() == top:
        raise ValueError("the image is constant: there is no noise to measure.")
    # many pixels at the maximum: the sensor saturated there
    saturated = np.count_nonzero(planes == top) >= max(16, 1e-3 * planes.size)
    residual, local, ring, energy, smooth, usable = _local_statistics(
        _sample_tiles(planes), float(top), saturated
    )
    if not usable.all():
        residual, local, ring = residual[usable], local[usable], ring[usable]
        energy, smooth = energy[usable], smooth[usable]
    if residual.size < _MIN_SAMPLES:
        raise ValueError(
            "too few unsaturated pixels to estimate a noise model "
            f"({residual.size} samples left after removing saturated ones)."
        )
    black = float(np.percentile(smooth, _BLACK_PERCENTILE))
    means, variances, counts = _level_sets(ring, residual, local, energy)
    if means.size < _MIN_LEVELS:
        raise ValueError(
            f"only {means.size} usable level set(s) of local means with at least "
            f"{_MIN_PER_LEVEL} smooth samples; at least {_MIN_LEVELS} are needed to fit the "
            "noise model (is the image too small, too textured or nearly flat?)."
        )
    if not variances.max() > 0:
        raise ValueError("the image shows no noise (its fine details are all zero).")
    noise_std = math.sqrt(np.median(variances))
    if means.max() - means.min() < 0.5 * noise_std:
        raise ValueError(
            "the image is flat: its local means span "
            f"{means.max() - means.min():.4g}, less than half the noise std {noise_std:.4g}; "
            "a noise model needs several signal levels."
        )
    gain, intercept = _fit_variance_line(means, variances, counts)
    read_noise = math.sqrt(max(intercept + gain * black, 0.0))
    model = NoiseModel(gain=float(gain), read_noise=read_noise, black_level=black)
    if return_points:
        return model, means, variances
    return model
