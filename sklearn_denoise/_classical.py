"""Classical per-image denoisers: total variation, non-local means, bilateral and BM3D.

Each wraps a scikit-image function (or the optional ``bm3d`` package) as a stateless
transformer following the image convention: images are processed one by one (in parallel
over images with ``n_jobs``), colour images with ``channel_axis=-1``, and 1-D signals
(``X`` of shape ``(n, n_features)`` without ``image_shape``) as signals rather than as
images one pixel high wherever the method allows.
"""

import math

import numpy as np
from skimage.restoration import (
    denoise_bilateral,
    denoise_nl_means,
    denoise_tv_chambolle,
)
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from ._base import _ImageFilter
from ._color import from_opponent, opponent_noise_levels, to_opponent
from ._decision import pinned_decision
from ._noise_model import NoiseModelOption
from ._param_checks import (
    Anything,
    Axes,
    Bool,
    Float,
    Int,
    NJobs,
    Normalize,
    Options,
    Sigma,
    validate_params,
)
from ._sensor import estimate_gaussian_sigma
from ._strengths import BILATERAL_COLOR_PER_SIGMA, NLM_H_PER_SIGMA, TV_WEIGHT_PER_SIGMA
from ._tiling import make_contract, run_tiled
from ._validation import (
    _check_min_size,
)

__all__ = ["TVDenoiser", "NLMeansDenoiser", "BilateralDenoiser", "BM3DDenoiser"]



def _as_2d_or_color(image):
    """The array skimage expects: (H, W) for one channel, (H, W, C) with channel_axis=-1."""
    if image.shape[-1] == 1:
        return image[..., 0], None
    return image, -1


# BilateralDenoiser filters planes: scikit-image's bilateral filter is 2-D only, and
# running it plane by plane would bring nothing over axes="YX".
_PLANES_ONLY = (
    "this denoiser filters 2-D images only (axes 'YX' or 'YXC'). Denoise a volume or "
    "sequence jointly with WaveletDenoiser, TVDenoiser, NLMeansDenoiser or BM3DDenoiser "
    "(BM4D), or its planes "
    "one by one with axes='YX' and X.reshape(-1, H, W) (reshape the result back)."
)


# Images whose largest magnitude lies outside [2**-32, 2**32] are denoised at a power-of-two
# scale (peak in [0.5, 1)) and scaled back, which is exact in floating point: the methods
# square and sum intensities, which overflows to inf / NaN near the float limits (1e300 in
# float64, 1e38 in float32) and underflows near 0. Parameters on the intensity scale are
# scaled alike, so the result is the one the method gives in exact arithmetic.
_SAFE_EXPONENT = 32
# Parameters on the intensity scale are then kept within [2**-60, 2**30] times the image's
# peak magnitude: smaller ones (far below a float64 rounding step of the image, and still
# with a normal float32 square) cannot change the result and are set to 0; larger ones
# already act as infinitely large (every intensity difference is negligible against them)
# and are clipped, so that their squares cannot overflow.
_NEGLIGIBLE = 2.0**-60
_HUGE = 2.0**30


def _safe_exponents(images):
    """Power-of-two exponent bringing each image of a stack ``(n, ...)`` into safe range.

    ``images[i] * 2**-e[i]`` peaks in [0.5, 1); ``e[i]`` is 0 for an image already within
    [2**-32, 2**32] (or all zero), which is then used as it is.
    """
    n = len(images)
    if images.size == 0:
        return np.zeros(n, dtype=int)
    flat = images.reshape(n, -1)
    peak = np.maximum(flat.max(axis=1), -flat.min(axis=1)).astype(np.float64)
    in_range = (peak == 0) | (
        (peak >= 2.0**-_SAFE_EXPONENT) & (peak <= 2.0**_SAFE_EXPONENT)
    )
    return np.where(in_range, 0, np.frexp(peak)[1]).astype(int)


def _scale_back(out, exponent):
    """``out * 2**exponent`` (exponent broadcast), clipped to the finite range of its dtype."""
    with np.errstate(over="ignore"):
        out = np.ldexp(out, exponent)
    limit = np.finfo(out.dtype).max
    return np.clip(out, -limit, limit, out=out)


def _effective_param(value, exponent, peak):
    """An intensity-scale parameter for an image scaled by ``2**-exponent``.

    The scaled value is set to 0 below ``_NEGLIGIBLE * peak`` and clipped to
    ``_HUGE * peak``, ``peak`` being the scaled image's largest magnitude.
    """
    value = float(value)
    try:
        scaled = math.ldexp(value, -exponent)
    except OverflowError:
        scaled = math.copysign(math.inf, value)
    if peak == 0 or _NEGLIGIBLE * peak <= abs(scaled) <= _HUGE * peak:
        return scaled
    if abs(scaled) < _NEGLIGIBLE * peak:
        return 0.0
    return math.copysign(_HUGE * peak, scaled)


class _SafeRangeFilter(_ImageFilter):
    """Image filter that keeps images and intensity parameters in a safe floating range.

    Subclasses implement ``_denoise_in_range(image, layout)`` and list in
    ``_intensity_params`` their parameters on the intensity scale. Images near the float
    limits are denoised at a power-of-two scale and these parameters are scaled alike;
    parameters negligible or overwhelming against the image are set to 0 or clipped (see
    ``_NEGLIGIBLE`` and ``_HUGE``). Parameters left None are not touched.
    """

    _intensity_params = ()

    def _denoise_image(self, image, layout):
        exponent = int(_safe_exponents(image[np.newaxis])[0])
        if exponent:
            image = np.ldexp(image, -exponent)
        peak = float(np.max(np.abs(image))) if image.size else 0.0
        params = self.get_params(deep=False)
        changed = {}
        for name in self._intensity_params:
            if params[name] is not None:
                value = _effective_param(params[name], exponent, peak)
                if value != params[name]:
                    changed[name] = value
        denoiser = clone(self).set_params(**changed) if changed else self
        out = denoiser._denoise_in_range(image, layout)
        return _scale_back(out, exponent) if exponent else out


# Bounds of the window parameters: scikit-image allocates tables and padded copies of their
# size (bins: the intensity weights, 8 bytes each; the window: its spatial weights and the
# padding; NL-means: the image padded by patch_size // 2 + patch_distance on each side) and
# works per pixel in proportion to the window's area. Far beyond any useful setting, and
# far below the gigabytes to exabytes that unbounded values asked for.
MAX_BILATERAL_BINS = 1_000_000
MAX_BILATERAL_WINDOW = 301
MAX_SIGMA_SPATIAL = 50.0  # the default window of sigma_spatial=50 is 301 pixels
MAX_NLM_PATCH_SIZE = 64
MAX_NLM_PATCH_DISTANCE = 64

# Total variation has no finite receptive field, but the influence of a pixel decays fast:
# run to convergence (eps=1e-6) with 32 pixels of overlap, the chunked result differs from
# the in-memory one by 1e-4 RMS on noisy (sigma 0.1) sample images. With the default eps
# the difference is dominated by the stopping rule being applied per chunk (0.004 RMS).
_TV_MARGIN = 32


class TVDenoiser(_SafeRangeFilter):
    """Total-variation denoiser (Chambolle's algorithm).

    Applies :func:`skimage.restoration.denoise_tv_chambolle` to every image; colour
    channels are denoised separately; 1-D signals get 1-D total variation.

    Parameters
    ----------
    weight : float, default=None
        Denoising weight, > 0: the greater, the smoother the result (at the expense of
        fidelity to the input). On the [0, 1] intensity scale. None means ``0.9 * sigma``
        with the given or estimated noise level (after ``normalize``).
    sigma : float, default=None
        Noise standard deviation on the [0, 1] intensity scale (integers read on their
        dtype's range), which sets ``weight`` when that is None. None estimates it per
        image (:func:`skimage.restoration.estimate_sigma`, averaged over channels), or
        removes signal-dependent noise as ``noise_model`` says.
    noise_model : str or NoiseModel, default="auto"
        One of "auto", "gaussian", "poisson-gaussian", "rician" and "speckle", or a
        NoiseModel. "rician" (MR magnitude images: its dark-region bias removed) and
        "speckle" (multiplicative noise, removed in the log domain) apply to
        single-channel images, with ``sigma`` too (the Rician level); see the user
        guide's "Medical noise".
        The noise assumed when ``sigma`` is None and the strength is left to the noise
        level. "gaussian": white Gaussian noise of a level estimated per image.
        "poisson-gaussian": signal-dependent sensor noise whose gain, read noise and black
        level are estimated per image (:func:`sklearn_denoise.noise.estimate_noise_model`)
        and removed through the generalised Anscombe transform, this method at the
        stabilised level, and the exact unbiased inverse (as
        :class:`~sklearn_denoise.VarianceStabilizedDenoiser` does). "auto": Poisson-Gaussian
        when the estimated noise variance grows markedly with the signal (at least 3x from
        the darkest to the brightest percent of a grayscale image), Gaussian otherwise. A
        :class:`~sklearn_denoise.noise.NoiseModel`: known parameters in the data units of
        ``X`` (raw counts for integer images). Colour images and 1-D signals use the
        Gaussian model.
    eps : float, default=2e-4
        Relative tolerance of the stopping criterion on the change of the cost.
    max_num_iter : int, default=200
        Maximal number of iterations.
    normalize : {"auto", "percentile", "none"} or bool, default="auto"
        Map each image onto [0, 1] by its 0.1 % and 99.9 % percentiles before denoising
        and back afterwards; noise levels given on the image's scale are divided by the
        same factor. "auto" maps only images not already on about [0, 1] (16-bit counts
        filling a small part of the range, floats on [0, 255], negative offsets, ...);
        "percentile" (or True) always maps; "none" (or False) never does.
    image_shape : tuple of int, default=None
        Shape ``(H, W)`` or ``(H, W, C)`` of flattened images when ``X`` is 2-D
        ``(n, n_features)``; ``(n_features,)`` for 1-D signals. If None, a 2-D ``X`` holds
        1-D signals, or is one image when both its sides are at least 32.
    axes : {"YX", "YXC", "ZYX", "ZYXC", "TYX", "TYXC"}, default="YX"
        Axes of each sample, in tifffile's letters (see the user guide's "Volumes and
        sequences"): "YX" the image convention, "YXC" with a channel axis required;
        "ZYX" (volume) or "TYX" (sequence), with "C" for channels: ``X`` is
        ``(n, Z, H, W[, C])`` or a list of ``(Z, H, W[, C])`` volumes, each denoised
        jointly, its noise level estimated once on all its planes. With scikit-image's n-D
        Chambolle algorithm: z differences weigh as much as
        in-plane ones (the voxel spacing is not used, and ``weight`` is one number
        for every axis).
    n_jobs : int, default=None
        Number of joblib workers over images. None means 1.
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
    skimage.restoration.denoise_tv_chambolle : The function applied to each image.
    WaveletDenoiser : Wavelet shrinkage.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_denoise import TVDenoiser
    >>> rng = np.random.RandomState(0)
    >>> clean = np.zeros((2, 32, 32))
    >>> clean[:, 8:24, 8:24] = 1.0
    >>> noisy = clean + rng.normal(0, 0.1, clean.shape)
    >>> denoised = TVDenoiser(weight=0.1).fit(noisy).transform(noisy)
    >>> denoised.shape
    (2, 32, 32)
    >>> bool(np.abs(denoised - clean).mean() < np.abs(noisy - clean).mean())
    True
    """

    _intensity_params = ("weight", "sigma")
    _strength_params = ("weight",)

    def __init__(
        self, weight=None, *, sigma=None, noise_model="auto", eps=2e-4, max_num_iter=200,
        normalize="auto", image_shape=None, axes="YX", n_jobs=None, verbose=0,
    ):
        self.weight = weight
        self.sigma = sigma
        self.noise_model = noise_model
        self.eps = eps
        self.max_num_iter = max_num_iter
        self.normalize = normalize
        self.image_shape = image_shape
        self.axes = axes
        self.n_jobs = n_jobs
        self.verbose = verbose

    _parameter_constraints = {
        "weight": Float(0, low_inclusive=False, allow_none=True),
        "sigma": Sigma(),
        "noise_model": NoiseModelOption(),
        "eps": Float(0, low_inclusive=False),
        "max_num_iter": Int(1),
        "normalize": Normalize(),
        "image_shape": Anything,  # checked with the images (validate_images)
        "axes": Axes(),
        "n_jobs": NJobs(),
        "verbose": Int(0),
    }
    _inference_params = ("axes", "weight", "sigma", "noise_model", "eps", "max_num_iter",
                         "normalize", "n_jobs", "verbose")

    def spatial_contract(self):
        """What tiles of an image, or dask chunks, must give total variation.

        Used by :func:`sklearn_denoise.dask.denoise_dask` for the default overlap of
        chunks.

        Returns
        -------
        contract : SpatialContract
            Named tuple ``(margin, multiple, min_size, local)`` = ``(32, 1, 1, False)``,
            whatever the parameters. TV is a global method: every Chambolle iteration spreads each
            pixel's influence further, up to the whole image, and the stopping rule
            (``eps``) looks at the whole image's cost. The margin is therefore not a
            receptive radius but where that influence has decayed: with 32 pixels of
            context the result of a run to convergence (``eps=1e-6``) differs from the
            untiled one by about 1e-4 RMS on noisy (sigma 0.1) sample images; with the
            default ``eps`` the difference (about 0.004 RMS) comes from the stopping
            rule being applied per tile, which no margin removes. ``multiple`` 1: no
            downsampling grid; ``min_size`` 1: any image size works; ``local`` False:
            :func:`~sklearn_denoise.dask.denoise_dask` keeps each image whole (the
            in-memory result) unless given a ``depth``.
        """
        return make_contract(_TV_MARGIN, 1, self._fit_min_size(), local=False)

    def _denoise_in_range(self, image, layout):
        weight = self.weight
        if weight is None:
            sigma = self.sigma
            if sigma is None:
                sigma = estimate_gaussian_sigma(image, signal=layout.is_signal)
            weight = TV_WEIGHT_PER_SIGMA * sigma
        if weight == 0:  # a negligible weight after scaling: nothing to smooth
            return image.copy()
        kwargs = {"weight": weight, "eps": self.eps, "max_num_iter": self.max_num_iter}
        if layout.is_signal:
            return denoise_tv_chambolle(image[0, :, 0], **kwargs).reshape(image.shape)
        arr, channel_axis = _as_2d_or_color(image)
        out = denoise_tv_chambolle(arr, channel_axis=channel_axis, **kwargs)
        return out.reshape(image.shape)


class NLMeansDenoiser(_SafeRangeFilter):
    """Non-local means denoiser.

    Applies :func:`skimage.restoration.denoise_nl_means` to every image (colour images
    with ``channel_axis=-1``), with the noise level estimated per image by default.

    Parameters
    ----------
    patch_size : int, default=5
        Side of the patches compared, in pixels (1 to 64).
    patch_distance : int, default=6
        Maximal distance in pixels of the patches searched for (1 to 64).
    h : float, default=None
        Cut-off distance (on the [0, 1] intensity scale): the greater, the more
        permissive the averaging of patches. None means ``0.8 * sigma`` with the given or
        estimated ``sigma`` (scikit-image's recommendation when ``sigma`` is passed).
    sigma : float, default=None
        Noise standard deviation on the [0, 1] intensity scale, subtracted from the patch
        distances. None estimates it per image with
        :func:`skimage.restoration.estimate_sigma` (averaged over channels), or removes
        signal-dependent noise as ``noise_model`` says (when ``h`` is None).
    noise_model : str or NoiseModel, default="auto"
        One of "auto", "gaussian", "poisson-gaussian", "rician" and "speckle", or a
        NoiseModel. "rician" (MR magnitude images: its dark-region bias removed) and
        "speckle" (multiplicative noise, removed in the log domain) apply to
        single-channel images, with ``sigma`` too (the Rician level); see the user
        guide's "Medical noise".
        The noise assumed when ``sigma`` is None and the strength is left to the noise
        level. "gaussian": white Gaussian noise of a level estimated per image.
        "poisson-gaussian": signal-dependent sensor noise whose gain, read noise and black
        level are estimated per image (:func:`sklearn_denoise.noise.estimate_noise_model`)
        and removed through the generalised Anscombe transform, this method at the
        stabilised level, and the exact unbiased inverse (as
        :class:`~sklearn_denoise.VarianceStabilizedDenoiser` does). "auto": Poisson-Gaussian
        when the estimated noise variance grows markedly with the signal (at least 3x from
        the darkest to the brightest percent of a grayscale image), Gaussian otherwise. A
        :class:`~sklearn_denoise.noise.NoiseModel`: known parameters in the data units of
        ``X`` (raw counts for integer images). Colour images and 1-D signals use the
        Gaussian model.
    fast_mode : bool, default=True
        Use the fast algorithm (uniform spatial weights in the patches).
    normalize : {"auto", "percentile", "none"} or bool, default="auto"
        Map each image onto [0, 1] by its 0.1 % and 99.9 % percentiles before denoising
        and back afterwards; noise levels given on the image's scale are divided by the
        same factor. "auto" maps only images not already on about [0, 1] (16-bit counts
        filling a small part of the range, floats on [0, 255], negative offsets, ...);
        "percentile" (or True) always maps; "none" (or False) never does.
    image_shape : tuple of int, default=None
        Shape ``(H, W)`` or ``(H, W, C)`` of flattened images when ``X`` is 2-D
        ``(n, n_features)``; ``(n_features,)`` for 1-D signals. If None, a 2-D ``X`` holds
        1-D signals (denoised as images one pixel high, whose reflected borders make the
        patches 1-D), or is one image when both its sides are at least 32.
    axes : {"YX", "YXC", "ZYX", "ZYXC", "TYX", "TYXC"}, default="YX"
        Axes of each sample, in tifffile's letters (see the user guide's "Volumes and
        sequences"): "YX" the image convention, "YXC" with a channel axis required;
        "ZYX" (volume) or "TYX" (sequence), with "C" for channels: ``X`` is
        ``(n, Z, H, W[, C])`` or a list of ``(Z, H, W[, C])`` volumes, each denoised
        jointly, its noise level estimated once on all its planes. With scikit-image's 3-D
        algorithm: cubic patches of ``patch_size**3``
        voxels and a search cube of ``(2 * patch_distance + 1)**3`` offsets (the run
        time grows with its volume); the voxel spacing is not used.
    n_jobs : int, default=None
        Number of joblib workers over images. None means 1.
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
    skimage.restoration.denoise_nl_means : The function applied to each image.

    Notes
    -----
    When the (estimated) noise level and so ``h`` are 0 the image is returned unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_denoise import NLMeansDenoiser
    >>> rng = np.random.RandomState(0)
    >>> clean = np.zeros((2, 32, 32))
    >>> clean[:, 8:24, 8:24] = 1.0
    >>> noisy = clean + rng.normal(0, 0.1, clean.shape)
    >>> denoised = NLMeansDenoiser().fit(noisy).transform(noisy)
    >>> bool(np.abs(denoised - clean).mean() < np.abs(noisy - clean).mean())
    True
    """

    _intensity_params = ("h", "sigma")
    _strength_params = ("h",)

    def __init__(
        self,
        patch_size=5,
        patch_distance=6,
        h=None,
        sigma=None,
        noise_model="auto",
        fast_mode=True,
        normalize="auto",
        image_shape=None,
        axes="YX",
        n_jobs=None, verbose=0,
    ):
        self.patch_size = patch_size
        self.patch_distance = patch_distance
        self.h = h
        self.sigma = sigma
        self.noise_model = noise_model
        self.fast_mode = fast_mode
        self.normalize = normalize
        self.image_shape = image_shape
        self.axes = axes
        self.n_jobs = n_jobs
        self.verbose = verbose

    _parameter_constraints = {
        "patch_size": Int(1, maximum=MAX_NLM_PATCH_SIZE),
        "patch_distance": Int(1, maximum=MAX_NLM_PATCH_DISTANCE),
        "h": Float(0, low_inclusive=False, allow_none=True),
        "sigma": Sigma(),
        "noise_model": NoiseModelOption(),
        "fast_mode": Bool(),
        "normalize": Normalize(),
        "image_shape": Anything,  # checked with the images (validate_images)
        "axes": Axes(),
        "n_jobs": NJobs(),
        "verbose": Int(0),
    }
    _inference_params = ("axes", "patch_size", "patch_distance", "h", "sigma", "noise_model",
                         "fast_mode", "normalize", "n_jobs", "verbose")

    def spatial_contract(self):
        """What tiles of an image, or dask chunks, must give non-local means.

        Used by :func:`sklearn_denoise.dask.denoise_dask` for the default overlap of
        chunks.

        Returns
        -------
        contract : SpatialContract
            Named tuple ``(margin, multiple, min_size, local)``. ``margin`` is
            ``patch_distance + patch_size // 2`` (8 by default): an output pixel averages
            the pixels up to ``patch_distance`` away, weighted by the distance between
            their patch and its own, and a patch reaches ``patch_size // 2`` further. With
            this margin a tile's core equals the untiled result up to float rounding
            when ``sigma`` (or ``h``) is given; an estimated noise level is estimated per
            tile. ``multiple`` 1: no downsampling grid; ``min_size`` 1: images are padded
            by reflection, so any size works.
        """
        validate_params(self, ("patch_size", "patch_distance"))
        radius = self.patch_distance + self.patch_size // 2
        return make_contract(radius, 1, self._fit_min_size())

    def _denoise_in_range(self, image, layout):
        sigma = self.sigma
        if sigma is None:
            sigma = estimate_gaussian_sigma(image, signal=layout.is_signal)
        h = self.h if self.h is not None else NLM_H_PER_SIGMA * sigma
        if h == 0:
            return image.copy()
        arr, channel_axis = _as_2d_or_color(image)
        out = denoise_nl_means(
            arr,
            patch_size=self.patch_size,
            patch_distance=self.patch_distance,
            h=h,
            fast_mode=self.fast_mode,
            sigma=sigma,
            channel_axis=channel_axis,
        )
        # skimage drops axes of length 1 (a (1, L) image comes back as (L,))
        return np.asarray(out).reshape(image.shape)


class BilateralDenoiser(_SafeRangeFilter):
    """Bilateral filter: edge-preserving averaging of nearby pixels of similar intensity.

    Applies :func:`skimage.restoration.denoise_bilateral` to every image (colour images
    with ``channel_axis=-1``). 1-D signals get a 1-D bilateral filter with the same
    Gaussian spatial and intensity weights.

    Parameters
    ----------
    sigma_color : float, default=None
        Standard deviation of the intensity (or colour) distance, on the [0, 1] intensity
        scale: larger values average pixels of more different intensities. None means
        ``1.5 * sigma`` with the given or estimated noise level (after ``normalize``).
    sigma : float, default=None
        Noise standard deviation on the [0, 1] intensity scale (integers read on their
        dtype's range), which sets ``sigma_color`` when that is None. None estimates it
        per image (:func:`skimage.restoration.estimate_sigma`, averaged over channels),
        or removes signal-dependent noise as ``noise_model`` says.
    noise_model : str or NoiseModel, default="auto"
        One of "auto", "gaussian", "poisson-gaussian", "rician" and "speckle", or a
        NoiseModel. "rician" (MR magnitude images: its dark-region bias removed) and
        "speckle" (multiplicative noise, removed in the log domain) apply to
        single-channel images, with ``sigma`` too (the Rician level); see the user
        guide's "Medical noise".
        The noise assumed when ``sigma`` is None and the strength is left to the noise
        level. "gaussian": white Gaussian noise of a level estimated per image.
        "poisson-gaussian": signal-dependent sensor noise whose gain, read noise and black
        level are estimated per image (:func:`sklearn_denoise.noise.estimate_noise_model`)
        and removed through the generalised Anscombe transform, this method at the
        stabilised level, and the exact unbiased inverse (as
        :class:`~sklearn_denoise.VarianceStabilizedDenoiser` does). "auto": Poisson-Gaussian
        when the estimated noise variance grows markedly with the signal (at least 3x from
        the darkest to the brightest percent of a grayscale image), Gaussian otherwise. A
        :class:`~sklearn_denoise.noise.NoiseModel`: known parameters in the data units of
        ``X`` (raw counts for integer images). Colour images and 1-D signals use the
        Gaussian model.
    sigma_spatial : float, default=1.5
        Standard deviation of the spatial distance, in pixels, at most 50.
    win_size : int, default=None
        Window size, at most 301; None means ``max(5, 2 * ceil(3 * sigma_spatial) + 1)``.
    bins : int, default=10000
        Number of discrete values of the intensity weights, at most 1,000,000.
    mode : {"reflect", "constant", "edge", "symmetric", "wrap"}, default="reflect"
        How pixels outside the image are filled (see :func:`numpy.pad`). Not
        scikit-image's "constant": a fill value pulls the borders towards it, and on
        images not much larger than the window (2x2) it makes most of each window.
    cval : float, default=0.0
        Fill value with ``mode="constant"``, on the images' intensity scale; clipped to
        each image's range (scikit-image tabulates the intensity weights over that range,
        so a value beyond it would weigh as much as the range's end and leak into the
        output).
    normalize : {"auto", "percentile", "none"} or bool, default="auto"
        Map each image onto [0, 1] by its 0.1 % and 99.9 % percentiles before denoising
        and back afterwards; noise levels given on the image's scale are divided by the
        same factor. "auto" maps only images not already on about [0, 1] (16-bit counts
        filling a small part of the range, floats on [0, 255], negative offsets, ...);
        "percentile" (or True) always maps; "none" (or False) never does.
    image_shape : tuple of int, default=None
        Shape ``(H, W)`` or ``(H, W, C)`` of flattened images when ``X`` is 2-D
        ``(n, n_features)``; ``(n_features,)`` for 1-D signals. If None, a 2-D ``X`` holds
        1-D signals, or is one image when both its sides are at least 32.
    axes : {"YX", "YXC"}, default="YX"
        Axes of each image, in tifffile's letters: "YX" the image convention, "YXC" with a
        channel axis required. The filter is 2-D: a 3-D ``axes`` ("ZYX", "TYX") raises a
        ValueError that says how to denoise volumes (see the user guide's "Volumes and
        sequences").
    n_jobs : int, default=None
        Number of joblib workers over images. None means 1.
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
    skimage.restoration.denoise_bilateral : The function applied to each image.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_denoise import BilateralDenoiser
    >>> rng = np.random.RandomState(0)
    >>> clean = np.zeros((2, 32, 32))
    >>> clean[:, 8:24, 8:24] = 1.0
    >>> noisy = clean + rng.normal(0, 0.1, clean.shape)
    >>> denoiser = BilateralDenoiser(sigma_color=0.2, sigma_spatial=2, mode="edge")
    >>> denoised = denoiser.fit(noisy).transform(noisy)
    >>> bool(np.abs(denoised - clean).mean() < np.abs(noisy - clean).mean())
    True
    """

    _intensity_params = ("sigma_color", "sigma", "cval")
    _strength_params = ("sigma_color",)
    _MODES = ("constant", "edge", "symmetric", "reflect", "wrap")

    def __init__(
        self,
        sigma_color=None,
        sigma=None,
        noise_model="auto",
        sigma_spatial=1.5,
        win_size=None,
        bins=10000,
        mode="reflect",
        cval=0.0,
        normalize="auto",
        image_shape=None,
        axes="YX",
        n_jobs=None, verbose=0,
    ):
        self.sigma_color = sigma_color
        self.sigma = sigma
        self.noise_model = noise_model
        self.sigma_spatial = sigma_spatial
        self.win_size = win_size
        self.bins = bins
        self.mode = mode
        self.cval = cval
        self.normalize = normalize
        self.image_shape = image_shape
        self.axes = axes
        self.n_jobs = n_jobs
        self.verbose = verbose

    _parameter_constraints = {
        "sigma_color": Float(0, low_inclusive=False, allow_none=True),
        "sigma": Sigma(),
        "noise_model": NoiseModelOption(),
        "sigma_spatial": Float(0, MAX_SIGMA_SPATIAL, low_inclusive=False),
        "win_size": Int(1, allow_none=True, maximum=MAX_BILATERAL_WINDOW),
        "bins": Int(1, maximum=MAX_BILATERAL_BINS),
        "mode": Options(*_MODES),
        "cval": Float(),
        "normalize": Normalize(),
        "image_shape": Anything,  # checked with the images (validate_images)
        "axes": Axes(planes_only=_PLANES_ONLY),
        "n_jobs": NJobs(),
        "verbose": Int(0),
    }
    _inference_params = ("axes", "sigma_color", "sigma", "noise_model", "sigma_spatial",
                         "win_size", "bins", "mode", "cval", "normalize", "n_jobs", "verbose")

    def _window(self):
        if self.win_size is not None:
            return self.win_size
        return max(5, 2 * math.ceil(3 * self.sigma_spatial) + 1)

    def _cval(self, image):
        """``cval`` as scikit-image needs it: clipped to the image's range (its weight
        table ends there), and on the scale of the image it filters, which it shifts to
        start at 0 when the image has negative values (without shifting ``cval``)."""
        if self.mode != "constant" or image.size == 0:
            return self.cval
        low, high = float(image.min()), float(image.max())
        return float(np.clip(self.cval, low, high)) - min(low, 0.0)

    def spatial_contract(self):
        """What tiles of an image, or dask chunks, must give the bilateral filter.

        Used by :func:`sklearn_denoise.dask.denoise_dask` for the default overlap of
        chunks.

        Returns
        -------
        contract : SpatialContract
            Named tuple ``(margin, multiple, min_size, local)``. ``margin`` is half the window,
            ``win_size // 2`` (3 for the default window of 7 pixels, ``max(5, 2 *
            ceil(3 * sigma_spatial) + 1)`` when ``win_size`` is None): each output pixel
            is a weighted mean of the window centred on it (an even ``win_size`` reaches
            only ``(win_size - 1) // 2``, so the margin is then one pixel more than
            needed). With ``sigma_color`` given and images on [0, 1] a tile's core equals
            the untiled result; scikit-image scales its intensity look-up table by each
            image's maximum (and shifts images with negative values), which then happens
            per tile, unless the tile's denoiser comes from :meth:`for_image`, which
            fixes the whole image's range. ``multiple`` 1: no downsampling grid;
            ``min_size`` 1: any size works; ``local``: True except with ``mode="wrap"``
            (the opposite border of the whole image).
        """
        validate_params(self, ("win_size", "sigma_spatial", "mode"))
        return make_contract(self._window() // 2, 1, self._fit_min_size(),
                             local=self.mode != "wrap")

    def _denoise_in_range(self, image, layout):
        sigma_color = self.sigma_color
        if sigma_color is None:
            sigma = self.sigma
            if sigma is None:
                sigma = estimate_gaussian_sigma(image, signal=layout.is_signal)
            sigma_color = max(BILATERAL_COLOR_PER_SIGMA * sigma, 0.0)
        if sigma_color == 0:  # a negligible colour spread after scaling: no averaging
            return image.copy()
        kwargs = {
            "win_size": self._window(),
            "sigma_color": sigma_color,
            "sigma_spatial": self.sigma_spatial,
            "bins": self.bins,
            "mode": self.mode,
            "cval": self._cval(image),
        }
        if layout.is_signal:
            # Stack copies of the signal so the middle row's window holds only copies: its
            # vertical offsets then scale all spatial weights alike, leaving a 1-D filter
            # (rather than one that mixes in the padding above and below the signal).
            rows = 2 * (kwargs["win_size"] // 2) + 1
            stacked = np.repeat(image[..., 0], rows, axis=0)
            out = denoise_bilateral(stacked, **kwargs)
            out = np.asarray(out).reshape(stacked.shape)[rows // 2]
            return out.reshape(image.shape).astype(image.dtype, copy=False)
        arr, channel_axis = _as_2d_or_color(image)
        value_range = getattr(pinned_decision(self), "method_state", None)
        if value_range is not None and (arr.min(), arr.max()) != value_range:
            # a tile of an image whose range for_image fixed
            out = self._filter_in_range(arr, value_range, channel_axis, kwargs)
            return np.array(out, dtype=image.dtype).reshape(image.shape)
        if not arr.flags.writeable:
            # read-only or memory-mapped input: skimage's Cython kernel needs a writable buffer
            arr = arr.copy()
        out = denoise_bilateral(arr, channel_axis=channel_axis, **kwargs)
        # skimage returns its input for constant images and squeezes axes of length 1
        return np.array(out, dtype=image.dtype).reshape(image.shape)

    def _filter_in_range(self, arr, value_range, channel_axis, kwargs):
        """``denoise_bilateral`` of a tile as of the whole image whose (min, max) is
        ``value_range``: scikit-image scales its intensity look-up table by the range of
        the array it is given. The tile gets its border padding here, as ``mode`` pads
        (skimage's modes are numpy.pad's), and one more row beyond every window of its
        pixels that holds the image's minimum and maximum."""
        pad = kwargs["win_size"] // 2
        low, high = value_range
        widths = [(pad, pad), (pad, pad)] + [(0, 0)] * (arr.ndim - 2)
        if self.mode == "constant":
            padded = np.pad(arr, widths, mode="constant",
                            constant_values=np.clip(self.cval, low, high))
        else:
            padded = np.pad(arr, widths, mode=self.mode)
        extremes = np.full((1,) + padded.shape[1:], low, dtype=padded.dtype)
        extremes[0, 0] = high
        padded = np.concatenate([padded, extremes])
        kwargs = {**kwargs, "mode": "edge", "cval": 0}
        out = denoise_bilateral(padded, channel_axis=channel_axis, **kwargs)
        out = np.asarray(out).reshape(padded.shape)
        return out[pad:pad + arr.shape[0], pad:pad + arr.shape[1]]

    def _whole_image_state(self, image, layout):
        # scikit-image scales its intensity look-up table by the image's range (and
        # shifts images with negative values): a tile must use the whole image's
        if layout.is_signal:
            return None
        return (image.min(), image.max())


_BM3D_PROFILES = ("np", "refilter", "vn", "high", "vn_old", "deb")
# largest block size (hard thresholding or Wiener) of each profile of the bm3d package
_BM3D_BLOCK = {"np": 8, "refilter": 8, "vn": 11, "high": 8, "vn_old": 12, "deb": 8}
_BM3D_STAGES = ("all", "hard_thresholding")
# Context BM3D needs around a tile, and the grid tile borders must fall on, measured with
# ``python benchmarks/bench_scaling.py --measure-bm3d-margin`` (256x256 crops of three
# Set12 images, sigma 15/25/50, tiles of 96 px): bm3d's block-matching grid repeats every
# 9 pixels (a tile starting off that grid differs by up to 0.1 everywhere); on the grid,
# a margin of 72 px keeps tiled results within 0.03 of untiled ones (99.9th percentile
# 0.001 to 0.010, PSNR within 0.003 dB), and a pixel 80 px from a cut moves by < 2e-4.
_BM3D_MARGIN = 72
_BM3D_GRID = 9


def _bm3d_profile(bm3d, name):
    """The bm3d package's profile ``name``, single-threaded: its multi-threaded
    aggregation adds in a varying order, so results differ from run to run in the last
    bits (about 4e-7 measured); one thread makes them bit-repeatable (parallelism comes
    from ``n_jobs`` over images instead)."""
    classes = {"np": bm3d.BM3DProfile, "refilter": bm3d.BM3DProfileRefilter,
               "vn": bm3d.BM3DProfileVN, "high": bm3d.BM3DProfileHigh,
               "vn_old": bm3d.BM3DProfileVNOld, "deb": bm3d.BM3DProfileDeb}
    profile = classes[name]()
    profile.num_threads = 1
    return profile


def _import_bm3d():
    try:
        import bm3d
    except ImportError as exc:
        raise ImportError(
            "BM3DDenoiser needs the optional 'bm3d' package: "
            'pip install "sklearn-denoise[bm3d]" (or pip install bm3d).'
        ) from exc
    return bm3d


# BM4D (the ``bm4d`` package, a dependency of ``bm3d`` 4) for volumes: the profiles it
# has, and the single-threaded setting for bit-repeatable results as with bm3d
_BM4D_PROFILES = ("np", "refilter")


def _import_bm4d():
    try:
        import bm4d
    except ImportError as exc:
        raise ImportError(
            "BM3DDenoiser with a 3-D axes needs the optional 'bm4d' package: "
            'pip install "sklearn-denoise[bm4d]" (or pip install bm4d).'
        ) from exc
    return bm4d


def _bm4d_profile(bm4d, name):
    profile = {"np": bm4d.BM4DProfile, "refilter": bm4d.BM4DProfileRefilter}[name]()
    profile.num_threads = 1
    return profile


class BM3DDenoiser(_SafeRangeFilter):
    """BM3D denoiser (block matching and 3-D collaborative filtering).

    Wraps the optional ``bm3d`` package (``pip install "sklearn-denoise[bm3d]"``; its
    licence allows non-commercial use only). Grayscale images and each channel of images
    with other than 3 channels go through ``bm3d.bm3d``; 3-channel images are treated as
    RGB and denoised like ``bm3d.bm3d_rgb`` (opponent colour space, block matching on the
    luminance). Volumes and sequences (``axes="ZYX"`` or ``"TYX"``) go through BM4D
    (``bm4d.bm4d``, the optional ``bm4d`` package, same licence), each channel on its own.

    Parameters
    ----------
    sigma : float, default=None
        Noise standard deviation on the [0, 1] intensity scale. None estimates it per
        image with :func:`skimage.restoration.estimate_sigma` (averaged over channels).
    noise_model : str or NoiseModel, default="auto"
        One of "auto", "gaussian", "poisson-gaussian", "rician" and "speckle", or a
        NoiseModel. "rician" (MR magnitude images: its dark-region bias removed) and
        "speckle" (multiplicative noise, removed in the log domain) apply to
        single-channel images, with ``sigma`` too (the Rician level); see the user
        guide's "Medical noise".
        The noise assumed when ``sigma`` is None and the strength is left to the noise
        level. "gaussian": white Gaussian noise of a level estimated per image.
        "poisson-gaussian": signal-dependent sensor noise whose gain, read noise and black
        level are estimated per image (:func:`sklearn_denoise.noise.estimate_noise_model`)
        and removed through the generalised Anscombe transform, this method at the
        stabilised level, and the exact unbiased inverse (as
        :class:`~sklearn_denoise.VarianceStabilizedDenoiser` does). "auto": Poisson-Gaussian
        when the estimated noise variance grows markedly with the signal (at least 3x from
        the darkest to the brightest percent of a grayscale image), Gaussian otherwise. A
        :class:`~sklearn_denoise.noise.NoiseModel`: known parameters in the data units of
        ``X`` (raw counts for integer images). Colour images and 1-D signals use the
        Gaussian model.
    profile : {"np", "refilter", "vn", "high", "vn_old", "deb"}, default="np"
        Parameter profile of the ``bm3d`` package ("np": normal profile, "refilter",
        "vn": very noisy, "high": high quality, "vn_old", "deb": deblurring).
    stage : {"all", "hard_thresholding"}, default="all"
        Run both stages (hard thresholding, then Wiener filtering) or only the first.
    normalize : {"auto", "percentile", "none"} or bool, default="auto"
        Map each image onto [0, 1] by its 0.1 % and 99.9 % percentiles before denoising
        and back afterwards; noise levels given on the image's scale are divided by the
        same factor. "auto" maps only images not already on about [0, 1] (16-bit counts
        filling a small part of the range, floats on [0, 255], negative offsets, ...);
        "percentile" (or True) always maps; "none" (or False) never does.
    image_shape : tuple of int, default=None
        Shape ``(H, W)`` or ``(H, W, C)`` of flattened images when ``X`` is 2-D
        ``(n, n_features)``. Required for 2-D ``X``: BM3D does not handle 1-D signals.
    axes : {"YX", "YXC", "ZYX", "ZYXC", "TYX", "TYXC"}, default="YX"
        Axes of each sample, in tifffile's letters (see the user guide's "Volumes and
        sequences"): "YX" the image convention, "YXC" with a channel axis required;
        "ZYX" (volume) or "TYX" (sequence), with "C" for channels: ``X`` is
        ``(n, Z, H, W[, C])`` or a list of ``(Z, H, W[, C])`` volumes, each denoised
        with BM4D (profiles "np" and "refilter" only; every side at least the profile's
        largest block, 5 voxels for both; whole, ``tile_size`` not applied), its noise
        level estimated once on all its planes; the voxel spacing is not used.
    tile_size : int, default=1024
        Images with a side longer than this are denoised in overlapping tiles of at most
        this side (see :meth:`spatial_contract`), which bounds memory: the ``bm3d``
        package needs about 600 bytes per pixel (9.6 GB for one 4096x4096 image untiled).
        The noise level is estimated once on the whole image. Tiled results differ from
        untiled ones by less than 0.05 on [0, 1] (about 0.01 at the 99.9th percentile; PSNR
        within 0.01 dB).
    n_jobs : int, default=None
        Number of joblib workers over images. None means 1.
    verbose : int, default=0
        1 or more shows a progress bar over the images of ``transform`` on stderr (with
        two images or more), as :class:`~sklearn_denoise.CNNDenoiser` does.

    Attributes
    ----------
    n_channels_in_ : int
        Number of channels of the images seen in :meth:`fit`.
    n_features_in_ : int
        Number of features of ``X`` seen in :meth:`fit`; only defined when ``X`` was 2-D.

    Notes
    -----
    Images must be larger than the profile's block size in both directions: at least
    9x9 pixels for "np", "refilter", "high" and "deb", 12x12 for "vn", 13x13 for "vn_old".
    When the noise level is 0 the image is returned unchanged.

    BM3D is slow, and its time grows with the pixel count: about 50 s per megapixel on
    one core (a 1024x1024 gray image, profile "np", both stages: 54 s and a peak of
    907 MiB, ``python benchmarks/bench_scaling.py --methods bm3d --sizes 1024 --rounds 1
    --repeats 1 --no-rgb``). A 4096x4096 image, 16 tiles of 1024 pixels with their
    72-pixel margins (1.3 times the pixels), therefore takes about 18 minutes per core
    (extrapolated), more on a busy machine, in the memory of one tile (about 1 GiB).
    The ``bm3d`` package runs single-threaded here, so results are bit-repeatable (its
    threads add in a varying order); use ``n_jobs`` over images, or
    :func:`sklearn_denoise.dask.denoise_dask` over chunks of one large image, for
    several cores.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_denoise import BM3DDenoiser
    >>> rng = np.random.RandomState(0)
    >>> clean = np.zeros((1, 32, 32))
    >>> clean[:, 8:24, 8:24] = 1.0
    >>> noisy = clean + rng.normal(0, 0.1, clean.shape)
    >>> denoised = BM3DDenoiser(sigma=0.1).fit(noisy).transform(noisy)  # doctest: +SKIP
    """

    _intensity_params = ("sigma",)

    def __init__(
        self, sigma=None, noise_model="auto", profile="np", stage="all", normalize="auto",
        image_shape=None,
        axes="YX",
        tile_size=1024, n_jobs=None, verbose=0,
    ):
        self.sigma = sigma
        self.noise_model = noise_model
        self.profile = profile
        self.stage = stage
        self.normalize = normalize
        self.image_shape = image_shape
        self.axes = axes
        self.tile_size = tile_size
        self.n_jobs = n_jobs
        self.verbose = verbose

    _parameter_constraints = {
        "sigma": Sigma(),
        "noise_model": NoiseModelOption(),
        "profile": Options(*_BM3D_PROFILES),
        "stage": Options(*_BM3D_STAGES),
        "normalize": Normalize(),
        "image_shape": Anything,  # checked with the images (validate_images)
        "axes": Axes(),
        "tile_size": Int(64),
        "n_jobs": NJobs(),
        "verbose": Int(0),
    }
    _inference_params = ("axes", "sigma", "noise_model", "profile", "stage", "normalize",
                         "tile_size", "n_jobs", "verbose")

    def _check_layout(self, images, layout):
        # signals first: "needs 9x9 images, got signal length 3" would be misleading
        if layout.is_signal:
            raise ValueError(
                "BM3DDenoiser works on 2-D images only; X of shape (n, n_features) without "
                "image_shape holds 1-D signals. Pass (n, H, W) images or set image_shape."
            )
        if layout.volume:
            self._check_volumes(images, layout)
            return
        min_size = self.spatial_contract().min_size
        shapes = {img.shape[:2] for img in images} if layout.kind == "list" else {
            images.shape[1:3]
        }
        for shape in shapes:
            _check_min_size(shape, min_size, self, False)

    def _check_volumes(self, images, layout):
        """BM4D's profiles, and volumes at least its blocks in every direction."""
        if self.profile not in _BM4D_PROFILES:
            raise ValueError(
                f"profile={self.profile!r} has no BM4D counterpart: volumes (axes="
                f"{self.axes!r}) take profile 'np' or 'refilter'."
            )
        bm4d = _import_bm4d()
        profile = _bm4d_profile(bm4d, self.profile)
        block = tuple(int(b) for b in np.maximum(profile.bs_ht, profile.bs_wiener))
        shapes = {img.shape[:3] for img in images} if layout.kind == "list" else {
            images.shape[1:4]
        }
        for shape in shapes:
            if np.any(np.asarray(shape) < block):
                raise ValueError(
                    f"BM3DDenoiser (BM4D) needs volumes of at least {block} voxels "
                    f"(Z, H, W) with profile {self.profile!r}; got {shape}."
                )

    def fit(self, X, y=None):
        """Check that bm3d is installed, and the images and parameters.

        Parameters
        ----------
        X : array-like
            Images laid out as in the image convention.
        y : None, 1-D labels or array-like of X's shape, default=None
            Ignored; an image-shaped ``y`` that does not match ``X`` raises ValueError.

        Returns
        -------
        self : object
            Fitted denoiser.
        """
        _import_bm3d()
        return super().fit(X, y)

    def transform(self, X):
        """Denoise images.

        Parameters
        ----------
        X : array-like
            Noisy images laid out as in the image convention, with fit's channel count.

        Returns
        -------
        X_denoised : ndarray or list of ndarray
            Same layout and dtype as ``X``.
        """
        check_is_fitted(self)
        _import_bm3d()
        return super().transform(X)

    def spatial_contract(self):
        """What tiles of an image, or dask chunks, must give BM3D.

        Used by ``transform`` to tile images larger than ``tile_size`` and by
        :func:`sklearn_denoise.dask.denoise_dask` to overlap chunks.

        Returns
        -------
        contract : SpatialContract
            Named tuple ``(margin, multiple, min_size, local)``: 72 pixels of context on each
            side of a tile, and tile borders on multiples of 9 pixels (the grid of
            ``bm3d``'s block matching: a tile starting off it differs from untiled
            results everywhere), both measured as described under ``tile_size``.
            ``min_size`` is one pixel more than the profile's largest block (9 for "np",
            12 for "vn", 13 for "vn_old"): ``bm3d`` rejects images smaller than its
            blocks and crashes the interpreter on images exactly one block in size.
            ``local`` False: tiles with this margin stay within about 0.03 of the
            untiled result, not equal to it, so
            :func:`~sklearn_denoise.dask.denoise_dask` keeps each image whole (and
            ``transform`` tiles it as above) unless given a ``depth``.
        """
        validate_params(self, ("profile",))
        return make_contract(_BM3D_MARGIN, _BM3D_GRID, _BM3D_BLOCK[self.profile] + 1,
                             local=False)

    def _denoise_in_range(self, image, layout):
        bm3d = _import_bm3d()
        sigma = self.sigma
        if sigma is None:
            sigma = estimate_gaussian_sigma(image, signal=layout.is_signal)
        if sigma == 0:
            return image.copy()
        stage = (
            bm3d.BM3DStages.ALL_STAGES if self.stage == "all"
            else bm3d.BM3DStages.HARD_THRESHOLDING
        )
        if image.ndim == 4:  # a volume: BM4D, channel by channel, whole
            bm4d = _import_bm4d()
            stages = bm4d.BM4DStages
            profile = _bm4d_profile(bm4d, self.profile)
            stage = stages.ALL_STAGES if self.stage == "all" else stages.HARD_THRESHOLDING
            return np.stack([
                bm4d.bm4d(image[..., c].astype(np.float64), sigma, profile=profile,
                          stage_arg=stage)
                for c in range(image.shape[-1])
            ], axis=-1).astype(image.dtype, copy=False)
        profile = _bm3d_profile(bm3d, self.profile)

        def run(rows, cols):
            img = image[rows, cols].astype(np.float64)
            if img.shape[-1] == 3:
                return self._bm3d_rgb(bm3d, img, sigma, stage, profile)
            return np.stack(
                [
                    bm3d.bm3d(img[..., c], sigma, profile=profile, stage_arg=stage)
                    for c in range(img.shape[-1])
                ],
                axis=-1,
            )

        out = np.empty(image.shape, dtype=image.dtype)
        return run_tiled(run, image.shape[:2], out, self.tile_size, self.spatial_contract())

    def _bm3d_rgb(self, bm3d, img, sigma, stage, profile):
        """bm3d.bm3d_rgb with a stage choice, safe for channels that are constant."""
        opp = to_opponent(img, offset=False)
        low = opp.min(axis=(0, 1))
        span = opp.max(axis=(0, 1)) - low
        flat = span == 0  # e.g. the chroma of a gray image: nothing to denoise there
        safe = np.where(flat, 1.0, span)
        z = (opp - low) / safe
        sigmas = opponent_noise_levels(sigma) / safe
        den = bm3d.bm3d(z, list(sigmas), profile=profile, stage_arg=stage)
        den = np.where(flat, z, den)
        return from_opponent(den * safe + low, offset=False)
