"""Poisson-Gaussian sensor noise: the model, its parameter checks and its estimation.

Public through :mod:`sklearn_denoise.noise` (:class:`NoiseModel`,
:func:`estimate_noise_model`, :data:`NOISE_MODEL_OPTIONS`); kept apart so that the modules
that decide which noise an image has (:mod:`sklearn_denoise._sensor`) and those that check
estimator parameters need not import the synthetic-noise generators, and nothing imports
:mod:`sklearn_denoise.noise` back.
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter
from scipy.stats import chi2

from ._param_checks import check_bool, check_real

__all__ = [
    "MAX_NOISE_PARAMETER",
    "NOISE_MODEL_OPTIONS",
    "NoiseModel",
    "NoiseModelOption",
    "check_noise_model",
    "estimate_noise_model",
]

#: The ``noise_model`` options of the denoisers, besides a :class:`NoiseModel` instance.
NOISE_MODEL_OPTIONS = ("auto", "gaussian", "poisson-gaussian", "rician", "speckle")

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


def check_noise_model(value, name="noise_model"):
    """Validate a ``noise_model`` parameter: an option name or a NoiseModel instance."""
    if isinstance(value, NoiseModel):
        return value
    if not isinstance(value, str) or value not in NOISE_MODEL_OPTIONS:
        raise ValueError(
            f"{name} must be one of {list(NOISE_MODEL_OPTIONS)} or a "
            f"sklearn_denoise.noise.NoiseModel with known parameters, got {value!r}."
        )
    return value


def NoiseModelOption():  # noqa: N802
    """The ``noise_model`` parameter: "auto", "gaussian", "poisson-gaussian", "rician",
    "speckle" or a
    :class:`~sklearn_denoise.noise.NoiseModel` (a constraint of the parameter tables of
    :mod:`sklearn_denoise._param_checks`)."""
    return check_noise_model
