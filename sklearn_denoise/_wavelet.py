"""Wavelet shrinkage denoising, batched over images and channels with PyWavelets."""

import copy
import itertools
import warnings

import numpy as np
import pywt
from joblib import Parallel, delayed, effective_n_jobs
from scipy.stats import norm
from skimage.color import rgb2ycbcr, ycbcr2rgb

from ._base import _ImageFilter, _one_image, _progress
from ._classical import _effective_param, _safe_exponents, _scale_back
from ._decision import pinned_decision
from ._medical import RicianNoise, SpeckleNoise
from ._noise_model import NoiseModelOption
from ._param_checks import (
    Anything,
    Axes,
    Bool,
    Int,
    NJobs,
    Normalize,
    Options,
    Sigma,
    check_axes,
    check_int,
    is_volume_axes,
    validate_params,
)
from ._tiling import make_contract
from ._validation import plane_view
from .noise import NoiseModel

__all__ = ["WaveletDenoiser"]

_MODES = ("soft", "hard")
_METHODS = ("BayesShrink", "VisuShrink")
# 75th percentile of the standard normal: MAD / _MAD_DENOM estimates a Gaussian std.
_MAD_DENOM = float(norm.ppf(0.75))
# Largest cycle_spins: 64 shifts per axis (4096 transforms per image). Shifts by a
# multiple of 2**levels give the same decomposition up to the border handling, so more
# shifts bring nothing but run time (skimage's cycle_spin sets no bound; listing 10**6
# shifts per axis exhausted memory).
_MAX_CYCLE_SPINS = 63


def _check_wavelet(value, name):
    """A discrete wavelet name of PyWavelets."""
    if not isinstance(value, str):
        raise TypeError(
            f"{name} must be a str naming a discrete wavelet, got {value!r}; "
            "see pywt.wavelist(kind='discrete') for valid names."
        )
    if value not in pywt.wavelist(kind="discrete"):
        raise ValueError(
            f"Unknown wavelet {value!r}: {name} must be a discrete wavelet name "
            "from pywt.wavelist(kind='discrete'), e.g. 'db1', 'db2', 'sym4', 'coif1'."
        )
    return value


def _check_cycle_spins(value, name):
    """An int from 0 to ``_MAX_CYCLE_SPINS``."""
    value = check_int(value, name, minimum=0)
    if value > _MAX_CYCLE_SPINS:
        raise ValueError(
            f"{name} must be <= {_MAX_CYCLE_SPINS} (at most {_MAX_CYCLE_SPINS + 1} "
            f"shifts per axis, {(_MAX_CYCLE_SPINS + 1) ** 2} transforms per image), got "
            f"{value}. A few shifts (1 to 8) give most of the gain."
        )
    return value


def _default_levels(spatial_shape, wavelet):
    """Levels used with ``levels=None``: scikit-image's default, the maximum level the
    size allows minus 3, at least 1. A volume's ``(Z, H, W)`` gets the levels of its
    planes ``(H, W)``: a short Z axis (a few planes) must not cut the in-plane levels."""
    return max(pywt.dwtn_max_level(tuple(spatial_shape)[-2:], wavelet) - 3, 1)


def _ycbcr_matrix():
    """Linear part of skimage's rgb2ycbcr (rows: Y, Cb, Cr), read off the function itself."""
    basis = np.vstack([np.zeros(3), np.eye(3)])[:, np.newaxis, :]
    out = rgb2ycbcr(basis)[:, 0, :]
    return (out[1:] - out[0]).T


def _mad_sigma(detail, spatial_axes):
    """Noise std per (image, channel) from finest diagonal details, skimage's MAD estimator.

    ``detail`` has shape (n, C, *spatial). Coefficients that are exactly zero are left out
    (as scikit-image does); an image whose coefficients are all zero gets sigma 0.
    Returns an array of shape (n, C, 1, ..., 1).
    """
    n, n_ch = detail.shape[:2]
    rows = np.abs(detail).reshape(n * n_ch, -1)
    if np.all(rows):
        med = np.median(rows, axis=1)
    else:
        med = np.array([np.median(r[r != 0]) if np.any(r) else 0.0 for r in rows])
    return (med / _MAD_DENOM).reshape((n, n_ch) + (1,) * len(spatial_axes))


def _threshold(coeffs, value, mode):
    """pywt.threshold with per-(image, channel) thresholds broadcast over the band.

    A threshold of exactly 0 is raised to the smallest normal float: it keeps every
    coefficient unchanged while avoiding the 0/0 that makes pywt's soft threshold return NaN
    for zero coefficients.
    """
    value = np.maximum(np.asarray(value, dtype=coeffs.dtype), np.finfo(coeffs.dtype).tiny)
    return pywt.threshold(coeffs, value=value, mode=mode)


def _band_thresholds(details, sigma, method, spatial_axes, shape):
    """The threshold of every sub-band, as ``_wavelet_shrink`` computes it."""
    out = []
    for level in details:
        level_thresholds = {}
        for key, band in level.items():
            if method == "BayesShrink":
                dvar = np.mean(band * band, axis=spatial_axes, keepdims=True)
                eps = np.finfo(band.dtype).eps
                level_thresholds[key] = sigma * sigma / np.sqrt(
                    np.maximum(dvar - sigma * sigma, eps))
            else:
                size = int(np.prod([shape[a] for a in spatial_axes]))
                level_thresholds[key] = sigma * np.sqrt(2 * np.log(size))
        out.append(level_thresholds)
    return out


def _scale_thresholds(thresholds, factor):
    """Thresholds of an image multiplied by ``factor`` (broadcastable per channel)."""
    return [{key: value * factor for key, value in level.items()} for level in thresholds]


def _wavelet_shrink(x, spatial_axes, wavelet, sigma, mode, method, levels,
                    thresholds=None, captured=None):
    """Wavelet-threshold a batch ``x`` of shape (n, C, *spatial) over ``spatial_axes``.

    Same computation as scikit-image's ``_wavelet_threshold`` applied to each image and
    channel, done for the whole batch in one transform. ``sigma`` is None (estimate), a
    scalar or an array broadcastable to (n, C, 1, ..., 1). ``thresholds`` (one dict per
    level, sub-band key -> array broadcastable to (n, C, 1, ..., 1)) replaces the
    computed ones; the computed ones are appended to the list ``captured``.
    """
    with warnings.catch_warnings():
        # a volume's short Z axis allows fewer levels than its planes: PyWavelets warns
        # of boundary effects there and still reconstructs exactly
        warnings.filterwarnings("ignore", "Level value of", UserWarning)
        coeffs = pywt.wavedecn(x, wavelet=wavelet, level=levels, axes=spatial_axes)
    details = coeffs[1:]
    if thresholds is not None:
        new_details = [{key: _threshold(band, level_thresholds[key], mode)
                        for key, band in level.items()}
                       for level, level_thresholds in zip(details, thresholds)]
        out = pywt.waverecn([coeffs[0], *new_details], wavelet, axes=spatial_axes)
        return out[tuple(slice(s) for s in x.shape)].astype(x.dtype, copy=False)
    diag = "d" * len(spatial_axes)
    if sigma is None:
        sigma = _mad_sigma(details[-1][diag], spatial_axes)
    stat_shape = x.shape[:2] + (1,) * len(spatial_axes)
    sigma = np.broadcast_to(np.asarray(sigma, dtype=np.float64), stat_shape)
    if captured is not None:
        captured.append(_band_thresholds(details, sigma, method, spatial_axes, x.shape))
    if method == "BayesShrink":
        var = sigma * sigma
        new_details = []
        for level in details:
            new_level = {}
            for key, band in level.items():
                dvar = np.mean(band * band, axis=spatial_axes, keepdims=True)
                eps = np.finfo(band.dtype).eps
                thresh = var / np.sqrt(np.maximum(dvar - var, eps))
                new_level[key] = _threshold(band, thresh, mode)
            new_details.append(new_level)
    else:
        size = int(np.prod([x.shape[a] for a in spatial_axes]))
        thresh = sigma * np.sqrt(2 * np.log(size))
        new_details = [
            {key: _threshold(band, thresh, mode) for key, band in level.items()}
            for level in details
        ]
    out = pywt.waverecn([coeffs[0], *new_details], wavelet, axes=spatial_axes)
    # odd sizes come back one sample longer
    out = out[tuple(slice(s) for s in x.shape)]
    return out.astype(x.dtype, copy=False)


class WaveletDenoiser(_ImageFilter):
    """Wavelet shrinkage denoiser (BayesShrink or VisuShrink thresholds).

    Computes the same result as :func:`skimage.restoration.denoise_wavelet` applied to every
    image (colour images with ``channel_axis=-1``), but transforms a whole batch of
    same-sized images and all their channels at once with PyWavelets. With ``cycle_spins``
    it averages over shifted copies like :func:`skimage.restoration.cycle_spin`.

    Parameters
    ----------
    sigma : float, default=None
        Noise standard deviation on the [0, 1] intensity scale (integer images are read on
        their dtype's full range, so ``sigma=25/255`` for "sigma 25" on ``uint8``). If None,
        it is estimated for every image and channel from the finest diagonal wavelet
        coefficients with the median absolute deviation (as scikit-image does), or
        signal-dependent noise is removed as ``noise_model`` says.
    noise_model : str or NoiseModel, default="auto"
        One of "auto", "gaussian", "poisson-gaussian", "rician" and "speckle", or a
        NoiseModel. "rician" (MR magnitude images: its dark-region bias removed) and
        "speckle" (multiplicative noise, removed in the log domain) apply to
        single-channel images, with ``sigma`` too (the Rician level); see the user
        guide's "Medical noise".
        The noise assumed when ``sigma`` is None. "gaussian": white Gaussian noise, its
        level estimated per image and channel. "poisson-gaussian": signal-dependent sensor
        noise whose gain, read noise and black level are estimated per image
        (:func:`sklearn_denoise.noise.estimate_noise_model`) and removed through the
        generalised Anscombe transform, wavelet shrinkage at the stabilised level, and the
        exact unbiased inverse (as :class:`~sklearn_denoise.VarianceStabilizedDenoiser`
        does). "auto": Poisson-Gaussian when the estimated noise variance grows markedly
        with the signal (at least 3x from the darkest to the brightest percent of a
        grayscale image), Gaussian otherwise. A :class:`~sklearn_denoise.noise.NoiseModel`:
        known parameters in the data units of ``X`` (raw counts for integer images).
        Colour images and 1-D signals use the Gaussian model.
    wavelet : str, default="db1"
        A discrete wavelet name from ``pywt.wavelist(kind="discrete")``, e.g. ``"db2"``,
        ``"sym4"``, ``"coif1"``. The thresholds assume an orthogonal wavelet; others warn.
    mode : {"soft", "hard"}, default="soft"
        Thresholding function.
    method : {"BayesShrink", "VisuShrink"}, default="BayesShrink"
        ``"BayesShrink"``: a threshold per sub-band, ``sigma**2 / sigma_signal``.
        ``"VisuShrink"``: the universal threshold ``sigma * sqrt(2 log(H * W))`` for all
        sub-bands (smoother results).
    levels : int, default=None
        Number of decomposition levels. None uses scikit-image's default: the maximum
        level the image size allows minus 3, at least 1. A value above the maximum level
        raises ValueError.
    rescale_sigma : bool, default=True
        With ``convert2ycbcr``, convert a given ``sigma`` from RGB to the YCbCr channels
        (as scikit-image does). ``sigma`` is always on the [0, 1] scale of the image
        convention, so no rescaling for integer dtypes is involved.
    convert2ycbcr : bool, default=False
        Denoise 3-channel RGB images in the YCbCr colour space (each channel rescaled to
        [0, 1]); often better for colour images. Needs images with 3 channels.
    cycle_spins : int, default=0
        Translation-invariant denoising: average the results over all circular shifts
        ``0..cycle_spins`` along each spatial axis (``(cycle_spins + 1)**2`` transforms
        for images, ``cycle_spins + 1`` for signals). 0 disables it; at most 63 (64 shifts
        per axis, 4096 transforms per image).
    normalize : {"auto", "percentile", "none"} or bool, default="auto"
        Map each image onto [0, 1] by its 0.1 % and 99.9 % percentiles before denoising
        and back afterwards; noise levels given on the image's scale are divided by the
        same factor. "auto" maps only images not already on about [0, 1] (16-bit counts
        filling a small part of the range, floats on [0, 255], negative offsets, ...);
        "percentile" (or True) always maps; "none" (or False) never does.
    image_shape : tuple of int, default=None
        Shape ``(H, W)`` or ``(H, W, C)`` of flattened images when ``X`` is 2-D
        ``(n, n_features)``; ``(n_features,)`` for 1-D signals, denoised with a 1-D
        wavelet transform along their length. If None, a 2-D ``X`` holds such signals, or
        is one image when both its sides are at least 32.
    axes : {"YX", "YXC", "ZYX", "ZYXC", "TYX", "TYXC"}, default="YX"
        Axes of each sample, in tifffile's letters (see the user guide's "Volumes and
        sequences"): "YX" the image convention, "YXC" with a channel axis required;
        "ZYX" (volume) or "TYX" (sequence), with "C" for channels: ``X`` is
        ``(n, Z, H, W[, C])`` or a list of ``(Z, H, W[, C])`` volumes, each denoised
        jointly, its noise level estimated once on all its planes. A 3-D separable
        transform over z, y and x, with the levels the
        planes ``(H, W)`` would get (a short z axis does not cut them) and the
        level read off the planes as ``sigma`` (averaged over channels); z is
        transformed as y and x (the voxel spacing is not used).
    n_jobs : int, default=None
        Number of threads that process chunks of a batch in parallel. None means 1.
    verbose : int, default=0
        1 or more shows a progress bar over the images of ``transform`` on stderr (with
        two images or more), as :class:`~sklearn_denoise.CNNDenoiser` does.

    Attributes
    ----------
    n_channels_in_ : int
        Number of channels of the images seen in :meth:`fit`.
    n_features_in_ : int
        Number of features of ``X`` seen in :meth:`fit`; only defined when ``X`` was 2-D.

    See Also
    --------
    skimage.restoration.denoise_wavelet : The per-image function this reproduces.
    TVDenoiser : Total-variation denoising.

    Notes
    -----
    The denoiser learns nothing from data: :meth:`fit` only checks the input. Float output
    is not clipped (like scikit-image); integer output is rounded and clipped to the dtype.
    An image whose wavelet coefficients are all zero (e.g. a constant image) gets an
    estimated sigma of 0 and is returned unchanged, where scikit-image returns NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_denoise import WaveletDenoiser
    >>> rng = np.random.RandomState(0)
    >>> clean = np.tile(np.linspace(0, 1, 32), (4, 32, 1))
    >>> noisy = clean + rng.normal(0, 0.1, clean.shape)
    >>> denoiser = WaveletDenoiser(sigma=0.1, wavelet="db2").fit(noisy)
    >>> denoised = denoiser.transform(noisy)
    >>> denoised.shape
    (4, 32, 32)
    >>> bool(np.abs(denoised - clean).mean() < np.abs(noisy - clean).mean())
    True
    """

    def __init__(
        self,
        sigma=None,
        noise_model="auto",
        wavelet="db1",
        mode="soft",
        method="BayesShrink",
        levels=None,
        rescale_sigma=True,
        convert2ycbcr=False,
        cycle_spins=0,
        normalize="auto",
        image_shape=None,
        axes="YX",
        n_jobs=None, verbose=0,
    ):
        self.sigma = sigma
        self.noise_model = noise_model
        self.wavelet = wavelet
        self.mode = mode
        self.method = method
        self.levels = levels
        self.rescale_sigma = rescale_sigma
        self.convert2ycbcr = convert2ycbcr
        self.cycle_spins = cycle_spins
        self.normalize = normalize
        self.image_shape = image_shape
        self.axes = axes
        self.n_jobs = n_jobs
        self.verbose = verbose

    _parameter_constraints = {
        "sigma": Sigma(),
        "noise_model": NoiseModelOption(),
        "wavelet": _check_wavelet,
        "mode": Options(*_MODES),
        "method": Options(*_METHODS),
        "levels": Int(1, allow_none=True),
        "rescale_sigma": Bool(),
        "convert2ycbcr": Bool(),
        "cycle_spins": _check_cycle_spins,
        "normalize": Normalize(),
        "image_shape": Anything,  # checked with the images (validate_images)
        "axes": Axes(),
        "n_jobs": NJobs(),
        "verbose": Int(0),
    }
    _inference_params = ("axes", "sigma", "noise_model", "wavelet", "mode", "method", "levels",
                         "rescale_sigma", "convert2ycbcr", "cycle_spins", "normalize",
                         "n_jobs", "verbose")

    def _check_params(self):
        """The constraints table; warns (once, in fit) about a non-orthogonal wavelet."""
        validate_params(self)
        if not pywt.Wavelet(self.wavelet).orthogonal:
            warnings.warn(
                f"Wavelet thresholding assumes an orthogonal wavelet; {self.wavelet!r} is not "
                "orthogonal, so the thresholds are likely suboptimal.",
                UserWarning,
                stacklevel=3,
            )

    def _check_layout(self, images, layout):
        if self.convert2ycbcr and layout.n_channels != 3:
            raise ValueError(
                f"convert2ycbcr=True needs RGB images with 3 channels; got {layout.n_channels} "
                "channel(s). Use convert2ycbcr=False."
            )
        if self.levels is None:
            return
        first = 1 if layout.volume else 0  # the planes' (H, W) of volumes
        shapes = {img.shape[first:first + 2] for img in images} if layout.kind == "list" else {
            images.shape[first + 1:first + 3]
        }
        for shape in shapes:
            spatial = shape[1:] if layout.is_signal else shape
            max_level = pywt.dwtn_max_level(spatial, self.wavelet)
            if self.levels > max_level:
                what = (
                    f"signal length {spatial[0]}" if layout.is_signal
                    else f"image of shape {spatial}"
                )
                raise ValueError(
                    f"The {what} is too small for levels={self.levels} with wavelet "
                    f"{self.wavelet!r}: it allows at most {max_level} level(s). Use fewer "
                    "levels, levels=None, or larger images."
                )

    def _checked_wavelet(self):
        """The ``pywt.Wavelet``, after checking the parameters the contract reads (the
        non-orthogonal warning is left to fit)."""
        validate_params(self, ("wavelet", "levels", "cycle_spins"))
        return pywt.Wavelet(self.wavelet)

    def spatial_contract(self, image_shape=None):
        """What tiles of an image, or dask chunks, must give wavelet shrinkage.

        Used by :func:`sklearn_denoise.dask.denoise_dask` for the default overlap of
        chunks, which also runs :meth:`for_image_shape` on them.

        Parameters
        ----------
        image_shape : tuple of int, default=None
            ``(H, W[, C])`` of the whole images. Needed with ``levels=None``: the
            levels, and so the contract, are then those ``transform`` picks for that
            size; ignored otherwise.

        Returns
        -------
        contract : SpatialContract
            Named tuple ``(margin, multiple, min_size, local)``, with ``L`` the filter length
            (``pywt.Wavelet(wavelet).dec_len``: 2 for "db1", 4 for "db2") and ``J`` the
            number of levels:

            - ``margin`` = ``(L - 1) * (2**J - 1) + cycle_spins``, rounded up to
              ``multiple``: a level-``J`` coefficient is computed from
              ``(L - 1) * (2**J - 1) + 1`` consecutive samples, and a pixel is synthesised
              from the coefficients whose support holds it; cycle spinning shifts the
              image circularly by up to ``cycle_spins`` pixels, which must not wrap the
              far border of a tile into the context.
            - ``multiple`` = ``2**J``: each level halves the sampling grid, so tile
              borders must fall on multiples of ``2**J`` for tiles to share the whole
              image's coefficient grid.
            - ``min_size`` = ``(L - 1) * 2**J``: the smallest side PyWavelets allows
              ``J`` levels for (``transform`` rejects smaller images when ``levels`` is
              given).

            - ``local``: True without cycle spinning. Its shifts are circular, as in
              :func:`skimage.restoration.cycle_spin`: pixels near the image's borders
              mix in the opposite border, which a tile does not hold, so
              :func:`~sklearn_denoise.dask.denoise_dask` keeps each image whole unless
              given a ``depth``.

            Thresholds use statistics of the whole image (BayesShrink's sub-band
            variances, VisuShrink's size-dependent threshold, an estimated ``sigma``),
            which are computed per tile unless the tile's denoiser comes from
            :meth:`for_image`, which fixes the whole image's.

        Raises
        ------
        ValueError
            With ``levels=None`` and no ``image_shape``.
        """
        wavelet = self._checked_wavelet()
        levels = self.levels
        if levels is None:
            if image_shape is None:
                raise ValueError(
                    "WaveletDenoiser with levels=None: pass image_shape, the levels depend "
                    "on it."
                )
            levels = _default_levels(self._plane_shape(image_shape), wavelet)
        taps = wavelet.dec_len - 1
        radius = taps * (2**levels - 1) + self.cycle_spins
        return make_contract(radius, 2**levels, taps * 2**levels, local=self.cycle_spins == 0)

    def for_image_shape(self, image_shape):
        """The denoiser to run on tiles or chunks of images of ``image_shape``.

        With ``levels=None`` the number of levels depends on the size of the image
        ``transform`` is given, so tiles would get fewer levels than the whole image;
        :func:`sklearn_denoise.dask.denoise_dask` runs this copy on its chunks instead.

        Parameters
        ----------
        image_shape : tuple of int
            ``(H, W[, C])`` of the whole images.

        Returns
        -------
        denoiser : WaveletDenoiser
            A shallow copy (sharing the fitted state) with ``levels`` set to what
            ``transform`` picks for ``image_shape``; ``self`` when ``levels`` is given, or
            when the image is too small for those levels (it is then processed whole).
        """
        wavelet = self._checked_wavelet()
        if self.levels is not None:
            return self
        spatial = self._plane_shape(image_shape)
        levels = _default_levels(spatial, wavelet)
        if levels > pywt.dwtn_max_level(spatial, wavelet):
            return self
        return copy.copy(self).set_params(levels=levels)

    def _plane_shape(self, image_shape):
        """``(H, W)`` of images of ``image_shape``: ``(H, W[, C])``, or ``(Z, H, W[, C])``
        with a 3-D ``axes``."""
        first = 1 if is_volume_axes(check_axes(self.axes)) else 0
        return tuple(image_shape)[first:first + 2]

    # ------------------------------------------------------------------ decisions
    def _estimate_sigma(self, image, layout):
        """The level the thresholds use when ``sigma`` is None: the median absolute
        deviation of the finest diagonal coefficients, averaged over channels (of a
        volume's planes, one above another: z motion or spacing does not read as noise)."""
        x = image[0] if layout.is_signal else plane_view(image)
        x = np.ascontiguousarray(np.moveaxis(x, -1, 0))[np.newaxis]
        axes = tuple(range(x.ndim - 1, 1, -1))
        details = pywt.wavedecn(x, self.wavelet, level=1, axes=axes)[-1]
        return float(np.mean(_mad_sigma(details["d" * len(axes)], axes)))

    def _takes_noise_level(self, decision):
        # an estimated level stays the method's own: per channel (and in YCbCr with
        # convert2ycbcr), as scikit-image estimates it; but a volume's is the decided one,
        # read off its planes: the finest 3-D diagonal band mixes motion or a coarse z
        # spacing into the noise (and is empty for a single plane)
        return decision.noise_source == "given" or is_volume_axes(check_axes(self.axes))

    def _whole_image_state(self, image, layout):
        captured = []
        self._denoise_stack(image[np.newaxis], layout.is_signal, captured)
        return tuple(captured)

    def for_image(self, X):
        # the levels of the whole image, which tiles of it would otherwise not get
        images, _ = _one_image(self, X, min_size=self._fit_min_size())
        pinned = self.for_image_shape(images[0].shape)
        return super(WaveletDenoiser, pinned).for_image(X)

    for_image.__doc__ = _ImageFilter.for_image.__doc__

    def _denoise_images(self, images, layout):
        if pinned_decision(self) is not None:
            return super()._denoise_images(images, layout)
        decisions = [self._decide(img, layout) for img in images]
        with _progress(self, len(images)) as progress:
            transformed = (NoiseModel, RicianNoise, SpeckleNoise)
            if layout.volume or any(
                    not d.normalization.is_identity or isinstance(d.noise[0], transformed)
                    for d in decisions):
                # images mapped or stabilised one by one (each with its own noise scale);
                # volumes one by one with the level decided on their planes
                out = []
                for img, d in zip(images, decisions):
                    out.append(self._denoise_decided(img, layout, d))
                    progress.update()
                return out
            # one batched transform per group of same-shape images instead of a loop
            if layout.kind != "list":
                out = self._denoise_batch(images, layout) if len(images) else images.copy()
                progress.update(len(images))
                return out
            out = [None] * len(images)
            groups = {}
            for i, img in enumerate(images):
                groups.setdefault((img.shape, img.dtype), []).append(i)
            for idx in groups.values():
                batch = self._denoise_batch(np.stack([images[i] for i in idx]), layout)
                for j, i in enumerate(idx):
                    out[i] = batch[j]
                progress.update(len(idx))
            return out

    def _denoise_image(self, image, layout):
        return self._denoise_batch(image[np.newaxis], layout)[0]

    def _denoise_batch(self, images, layout):
        """Denoise a float stack (n, H, W, C), in chunks over threads when n_jobs is set."""
        n_jobs = self.n_jobs
        n_chunks = 1 if n_jobs in (None, 1) else min(len(images), effective_n_jobs(n_jobs))
        if n_chunks <= 1:
            return self._denoise_stack(images, layout.is_signal)
        chunks = np.array_split(images, n_chunks)
        results = Parallel(n_jobs=n_chunks, prefer="threads")(
            delayed(self._denoise_stack)(chunk, layout.is_signal) for chunk in chunks
        )
        return np.concatenate(results)

    def _denoise_stack(self, images, is_signal, captured=None):
        x = images[:, 0] if is_signal else images  # signals: (n, L, C)
        # work channels-first and contiguous, transforming the last (contiguous) axis first:
        # the same coefficients as skimage's per-channel transform, but faster for pywt
        x = np.ascontiguousarray(np.moveaxis(x, -1, 1))
        # images near the float limits are denoised at a power-of-two scale, exactly, and
        # sigma is scaled alike (squares of 1e300 intensities overflow to NaN)
        exponents = _safe_exponents(x).reshape((len(x),) + (1,) * (x.ndim - 1))
        if np.any(exponents):
            x = np.ldexp(x, -exponents)
        sigma = self._effective_sigma(x, exponents)
        spatial = x.shape[2:]
        spatial_axes = tuple(range(x.ndim - 1, 1, -1))
        roll_axes = tuple(range(2, x.ndim))
        wavelet = pywt.Wavelet(self.wavelet)
        levels = self.levels
        if levels is None:
            levels = _default_levels(spatial, wavelet)
        shifts = list(itertools.product(range(self.cycle_spins + 1), repeat=len(spatial)))
        # thresholds of the whole image fixed by for_image, in the units of ``images``
        state = getattr(pinned_decision(self), "method_state", None)
        if state is not None and len(state) != len(shifts):
            state = None
        unit = np.exp2(-exponents.astype(np.float64))
        out = None
        for index, shift in enumerate(shifts):
            shifted = np.roll(x, shift, axis=roll_axes) if any(shift) else x
            thresholds = None
            if state is not None:
                thresholds = _scale_thresholds(state[index], unit)
            mine = [] if captured is not None else None
            den = self._denoise_once(shifted, spatial_axes, wavelet, levels, sigma,
                                     thresholds, mine)
            if mine:
                captured.append(_scale_thresholds(mine[0], 1.0 / unit))
            if any(shift):
                den = np.roll(den, tuple(-s for s in shift), axis=roll_axes)
            out = den if out is None else out + den
        if len(shifts) > 1:
            out /= len(shifts)
        if np.any(exponents):
            out = _scale_back(out, exponents)
        out = np.ascontiguousarray(np.moveaxis(out, 1, -1))
        return out[:, np.newaxis] if is_signal else out

    def _effective_sigma(self, x, exponents):
        """``sigma`` for the (scaled) batch ``x``, see ``_classical._effective_param``.

        The parameter itself, or an array of shape (n, 1, ..., 1) with one value per image
        where scaling or the safe range changed it.
        """
        if self.sigma is None:
            return None
        peaks = np.abs(x).reshape(len(x), -1).max(axis=1) if x.size else np.zeros(len(x))
        sigmas = np.array([
            _effective_param(self.sigma, int(e), float(p))
            for e, p in zip(exponents.ravel(), peaks)
        ])
        if np.all(sigmas == self.sigma):
            return self.sigma
        return sigmas.reshape(exponents.shape)

    def _denoise_once(self, x, spatial_axes, wavelet, levels, sigma, thresholds=None,
                      captured=None):
        """One transform of the (scaled) batch ``x`` (n, C, *spatial). ``thresholds``
        and ``captured`` are in the units of ``x`` (see ``_wavelet_shrink``)."""
        shrink = {"wavelet": wavelet, "mode": self.mode, "method": self.method, "levels": levels}
        if not self.convert2ycbcr:
            return _wavelet_shrink(x, spatial_axes, sigma=sigma, thresholds=thresholds,
                                   captured=captured, **shrink)
        ycc = np.ascontiguousarray(np.moveaxis(rgb2ycbcr(np.moveaxis(x, 1, -1)), -1, 1))
        low = ycc.min(axis=spatial_axes, keepdims=True)
        scale = ycc.max(axis=spatial_axes, keepdims=True) - low
        flat = scale == 0  # skimage leaves constant channels untouched
        safe = np.where(flat, 1, scale)
        if sigma is not None:
            # scalar or (n, 1, ..., 1), times the std of each YCbCr channel for i.i.d. RGB
            # noise of std 1 (or 1 without rescale_sigma)
            factor = np.ones(3)
            if self.rescale_sigma:
                factor = np.sqrt(np.sum(_ycbcr_matrix() ** 2, axis=1))
            factor = factor.reshape((1, 3) + (1,) * len(spatial_axes))
            sigma = np.asarray(sigma, dtype=np.float64) * factor / safe
        mine = [] if captured is not None else None
        if thresholds is not None:
            thresholds = _scale_thresholds(thresholds, 1.0 / safe)
        den = _wavelet_shrink((ycc - low) / safe, spatial_axes, sigma=sigma,
                              thresholds=thresholds, captured=mine, **shrink)
        if mine:
            captured.append(_scale_thresholds(mine[0], safe))
        den = np.where(flat, ycc, den * scale + low)
        rgb = ycbcr2rgb(np.moveaxis(den, 1, -1)).astype(x.dtype, copy=False)
        return np.moveaxis(rgb, -1, 1)
