"""Image-quality metrics over batches, and scorers for GridSearchCV / cross_validate.

``psnr`` and ``ssim`` take a batch laid out as described in the image convention (see
:mod:`sklearn_denoise`) and return the mean over images. Scorers are plain
``scorer(estimator, X, y) -> float`` callables (bigger is better), usable alone or in a
multi-metric ``scoring`` dict.
"""

from numbers import Real

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.restoration import denoise_invariant

from ._param_checks import check_axes, is_volume_axes
from ._validation import _is_array_like, to_float

__all__ = [
    "psnr",
    "ssim",
    "psnr_scorer",
    "ssim_scorer",
    "make_denoising_scorer",
    "j_invariant_loss",
    "j_invariant_scorer",
]


def _as_image_list(images, name):
    """Return a list of float64 (H, W, C) images, integers read on their dtype's range."""
    if isinstance(images, (list, tuple)) and len(images) == 0:
        arrays = []
    elif isinstance(images, (list, tuple)) and _is_array_like(images[0]):
        arrays = [np.asarray(img) for img in images]
    else:
        arr = np.asarray(images)
        if arr.ndim < 2:
            raise ValueError(
                f"{name} must be a batch of images (n, H, W), (n, H, W, C) or (n, n_features);"
                f" got an array of shape {arr.shape}."
            )
        arrays = list(arr)
    out = []
    for i, a in enumerate(arrays):
        if a.dtype.kind not in "uif":
            raise TypeError(f"{name}[{i}] has dtype {a.dtype}; expected integer or float images.")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name}[{i}] contains NaN or infinity.")
        a = a.reshape(1, -1) if a.ndim == 1 else a
        a = a[..., np.newaxis] if a.ndim == 2 else a
        if a.size == 0:
            raise ValueError(
                f"{name}[{i}] is an empty image (shape {a.shape}): every image needs at least "
                "one pixel."
            )
        out.append(to_float(a).astype(np.float64, copy=False))
    if not out:
        raise ValueError(
            f"{name} is an empty batch (no images): a mean over no images is undefined; pass "
            "at least one image."
        )
    return out


def _paired(y_true, y_pred):
    true = _as_image_list(y_true, "y_true")
    pred = _as_image_list(y_pred, "y_pred")
    if len(true) != len(pred):
        raise ValueError(f"y_true has {len(true)} images but y_pred has {len(pred)}.")
    for i, (t, p) in enumerate(zip(true, pred)):
        if t.shape != p.shape:
            raise ValueError(f"Image {i}: y_true has shape {t.shape} but y_pred {p.shape}.")
    return true, pred


def _mean_over_pairs(y_true, y_pred, data_range, score):
    """Mean of ``score(t, p, data_range)`` over the matching images of two batches, both
    checked (:func:`_paired`), as is ``data_range``."""
    true, pred = _paired(y_true, y_pred)
    rng = _data_range(data_range)
    return float(np.mean([score(t, p, rng) for t, p in zip(true, pred)]))


def _data_range(data_range):
    if data_range is None:
        return 1.0
    if (
        isinstance(data_range, (bool, np.bool_))
        or not isinstance(data_range, Real)
        or not np.isfinite(data_range)
        or not data_range > 0
    ):
        raise ValueError(
            "data_range must be a finite positive number (the peak intensity, 1.0 on the "
            f"[0, 1] scale), got {data_range!r}."
        )
    return float(data_range)


def psnr(y_true, y_pred, *, data_range=None):
    """Mean peak signal-to-noise ratio (dB) over a batch of images.

    Parameters
    ----------
    y_true, y_pred : array-like or list of array-like
        Clean and estimated images, laid out as in the image convention.
    data_range : float, default=None
        Peak intensity on the float scale of the image convention. Integer images are
        first read on their dtype's full range (``uint8`` 255 is 1.0), so the default of
        1.0 is right for them and for floats in [0, 1]. Must be finite and > 0.

    Returns
    -------
    float
        Mean PSNR over the images; identical images count as 100 dB rather than infinity
        so a mean stays finite.

    Raises
    ------
    ValueError
        For an empty batch or empty images (the mean would be undefined), images of
        different shapes, NaN or infinite values, or a bad ``data_range``.
    """
    return _mean_over_pairs(y_true, y_pred, data_range, _psnr_one)


def _psnr_one(t, p, data_range):
    if np.mean((t - p) ** 2) == 0:
        return 100.0
    return peak_signal_noise_ratio(t, p, data_range=data_range)


def ssim(y_true, y_pred, *, data_range=None, **kwargs):
    """Mean structural similarity over a batch of images.

    Each image is compared on its own (a stack is not treated as a 3-D volume); colour
    images use the channel axis; images smaller than 7x7 use the largest odd window that
    fits. Extra keyword arguments go to :func:`skimage.metrics.structural_similarity`.

    Parameters
    ----------
    y_true, y_pred : array-like or list of array-like
        Clean and estimated images, laid out as in the image convention.
    data_range : float, default=None
        Intensity range on the float scale of the image convention (default 1.0; integers
        are first read on their dtype's full range). Must be finite and > 0.

    Returns
    -------
    float
        Mean SSIM over the images.

    Raises
    ------
    ValueError
        For an empty batch or empty images (the mean would be undefined), images of
        different shapes, NaN or infinite values, or a bad ``data_range``.
    """
    def ssim_one(t, p, rng):
        opts = dict(kwargs)
        if "win_size" not in opts:
            smallest = min(t.shape[:2])
            if smallest < 7:
                opts["win_size"] = max(1, smallest - (1 - smallest % 2))
        if opts.get("win_size", 7) < 3:
            return _global_ssim(t, p, rng)
        return structural_similarity(t, p, data_range=rng, channel_axis=-1, **opts)

    return _mean_over_pairs(y_true, y_pred, data_range, ssim_one)


def _global_ssim(t, p, data_range):
    """SSIM computed once over the whole image, for images too thin for a window."""
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mt, mp = t.mean(), p.mean()
    vt, vp = t.var(), p.var()
    cov = np.mean((t - mt) * (p - mp))
    return float(((2 * mt * mp + c1) * (2 * cov + c2)) / ((mt**2 + mp**2 + c1) * (vt + vp + c2)))


def make_denoising_scorer(metric, *, greater_is_better=True, **metric_kwargs):
    """Make a scorer ``scorer(estimator, X, y)`` from a metric ``metric(y_true, y_pred)``.

    The scorer denoises ``X`` with ``estimator.transform`` and compares the result with the
    clean images ``y``. Use it in ``GridSearchCV(scoring=...)`` or ``cross_validate``.

    Parameters
    ----------
    metric : callable
        ``metric(y_true, y_pred, **metric_kwargs) -> float``.
    greater_is_better : bool, default=True
        If False the scorer returns the negated metric, so that bigger is still better.
    **metric_kwargs
        Passed to ``metric``.

    Returns
    -------
    callable
        The scorer.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_denoise.metrics import make_denoising_scorer
    >>> mae = make_denoising_scorer(
    ...     lambda t, p: float(np.mean(np.abs(np.subtract(t, p)))), greater_is_better=False)
    """
    if not callable(metric):
        raise TypeError(f"metric must be callable, got {metric!r}.")
    sign = 1.0 if greater_is_better else -1.0

    def scorer(estimator, X, y):
        if y is None:
            raise ValueError(
                "This scorer compares with clean images: pass them as y. Without clean "
                "images use sklearn_denoise.metrics.j_invariant_scorer."
            )
        return sign * float(metric(y, estimator.transform(X), **metric_kwargs))

    scorer.__name__ = f"{getattr(metric, '__name__', 'metric')}_scorer"
    return scorer


psnr_scorer = make_denoising_scorer(psnr)
psnr_scorer.__doc__ = "Scorer: mean PSNR (dB) of ``estimator.transform(X)`` against ``y``."
ssim_scorer = make_denoising_scorer(ssim)
ssim_scorer.__doc__ = "Scorer: mean SSIM of ``estimator.transform(X)`` against ``y``."


def j_invariant_loss(estimator, X, *, stride=4):
    """Self-supervised loss of a fitted denoiser on noisy images alone (Noise2Self).

    Each pixel is predicted by the denoiser from an image in which that pixel (and a grid of
    others, ``stride`` apart) was replaced by the mean of its neighbours, so the denoiser
    cannot copy the noise; the loss is the mean squared difference between those
    predictions and the noisy pixels. For zero-mean noise independent between pixels it
    equals the error against the clean image plus the noise variance, so minimising it picks
    the same denoiser as minimising the true error (Batson & Royer, 2019).

    Parameters
    ----------
    estimator : fitted denoiser
        Anything with ``transform`` accepting a single-image batch.
    X : array-like
        Noisy images, laid out as in the image convention.
    stride : int, default=4
        Spacing of the masking grid; ``stride**2`` denoiser calls per image.

    Returns
    -------
    float
        Mean squared self-supervised error over the images (on the [0, 1] scale).
    """
    _as_image_list(X, "X")  # validates values and dtypes
    axes = check_axes(getattr(estimator, "axes", "YX"))
    samples = list(X) if isinstance(X, (list, tuple)) else list(np.asarray(X))
    losses = []
    for sample in samples:
        sample = np.asarray(sample)
        noisy = to_float(sample).astype(np.float64)

        def denoise(masked, channel_axis=None, _dtype=sample.dtype, _shape=sample.shape):
            # integer inputs are handed back to the estimator as floats in [0, 1]
            batch = masked.reshape((1, *_shape))
            if _dtype.kind == "f":
                batch = batch.astype(_dtype)
            return to_float(np.asarray(estimator.transform(batch))).reshape(_shape)

        # a 3-D sample is (H, W, C): mask all channels of a pixel together; a volume's
        # (Z, H, W[, C]) per voxel (a 3-D axes of the estimator)
        if is_volume_axes(axes):
            channel_axis = -1 if axes.endswith("C") else None
        else:
            channel_axis = -1 if noisy.ndim == 3 else None
        spatial = noisy.shape[:-1] if channel_axis is not None else noisy.shape
        stride_eff = max(1, min(stride, *spatial))
        invariant = denoise_invariant(
            noisy, denoise, stride=stride_eff, denoiser_kwargs={"channel_axis": channel_axis}
        )
        losses.append(np.mean((invariant - noisy) ** 2))
    return float(np.mean(losses))


def j_invariant_scorer(estimator, X, y=None):
    """Scorer for tuning on noisy images alone: minus :func:`j_invariant_loss`.

    ``y`` is ignored, so ``GridSearchCV(denoiser, grid, scoring=j_invariant_scorer)
    .fit(X_noisy)`` needs no clean images.
    """
    return -j_invariant_loss(estimator, X)
