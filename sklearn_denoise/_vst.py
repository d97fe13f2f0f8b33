"""Variance stabilisation of Poisson-Gaussian noise: the generalised Anscombe transform.

The transform lives in :mod:`sklearn_denoise._anscombe` (re-exported here):
:func:`stabilize` maps sensor data whose noise variance grows with the signal
(:class:`~sklearn_denoise.noise.NoiseModel`) to data with noise of standard deviation close
to 1 everywhere, so that a denoiser made for white Gaussian noise applies;
:func:`unstabilize` maps the denoised result back with the closed-form approximation of the
exact unbiased inverse, which removes the bias of the algebraic inverse at low counts.
:class:`VarianceStabilizedDenoiser` chains the three steps around any Gaussian denoiser.
"""

import copy
import dataclasses
import math

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.frozen import FrozenEstimator
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

from ._anscombe import _restabilize, stabilize, unstabilize
from ._base import DenoiserMixin, _one_image
from ._normalize import Normalization, robust_range
from ._param_checks import Float, validate_params
from ._tiling import contract_of, wrapper_for_image_shape
from ._validation import as_images, image_target, restore_layout, validate_images
from .noise import MAX_NOISE_PARAMETER, NoiseModel, estimate_noise_model

__all__ = ["VarianceStabilizedDenoiser", "stabilize", "unstabilize"]

# A given black level above this percentile of an image is a unit mistake.
_BLACK_PERCENTILE = 99.0
# What transform reads of the parameters (it runs the fitted denoiser_, not denoiser).
_INFERENCE_PARAMS = ("gain", "read_noise", "black_level")


def _check_denoiser(denoiser, name):
    """None, or an object with ``fit`` and ``transform``."""
    if denoiser is not None and not (hasattr(denoiser, "fit") and hasattr(denoiser, "transform")):
        raise TypeError(
            f"{name} must be None or a denoiser with fit and transform methods, got "
            f"{denoiser!r}."
        )
    return denoiser


def _dtype_scale(dtype):
    """Raw counts per unit of the [0, 1] intensity scale: an integer dtype's maximum."""
    dtype = np.dtype(dtype)
    return float(np.iinfo(dtype).max) if dtype.kind in "ui" else 1.0


def _in_layout(images, layout):
    """Float (H, W, C) images in the layout of X (what the wrapped denoiser takes)."""
    return restore_layout(images, dataclasses.replace(layout, dtype=np.dtype(np.float64)))


def _from_layout(output, layout):
    """Inverse of :func:`_in_layout`: a list of float (H, W, C) images."""
    if layout.kind == "list" or (layout.kind == "stack" and layout.channel_axis):
        images = [np.asarray(o, dtype=np.float64) for o in output]
        return images if layout.channel_axis else [img[..., np.newaxis] for img in images]
    return list(as_images(np.asarray(output, dtype=np.float64), layout))


class VarianceStabilizedDenoiser(DenoiserMixin, TransformerMixin, BaseEstimator):
    """Denoise Poisson-Gaussian (sensor) noise with a Gaussian denoiser, through a VST.

    Each image goes through the generalised Anscombe transform (:func:`stabilize`), which
    turns its signal-dependent noise into noise of standard deviation about 1, then through
    the wrapped Gaussian denoiser, then back through the exact unbiased inverse
    (:func:`unstabilize`). The noise model (gain, read noise, black level) is given, or
    estimated from each image with :func:`~sklearn_denoise.noise.estimate_noise_model`.

    Parameters
    ----------
    denoiser : estimator, default=None
        A denoiser for white Gaussian noise following the image convention; None means
        :class:`~sklearn_denoise.WaveletDenoiser`. It is cloned in :meth:`fit` and fitted on
        the stabilised images. To keep a fitted denoiser as it is (e.g.
        ``CNNDenoiser.pretrained()``, which cloning would retrain from its initial weights),
        wrap it in :class:`sklearn.frozen.FrozenEstimator`: the clone of a frozen estimator
        is the fitted estimator itself and its ``fit`` does nothing. Its parameters are
        tunable as ``denoiser__<name>`` (set ``denoiser`` explicitly to tune them).
    gain : float, default=None
        Data units per photo-electron (0 to 1e150; 0 is pure Gaussian noise). None
        estimates it per image.
    read_noise : float, default=None
        Standard deviation of the read noise (0 to 1e150). None estimates it per image; when the
        black level is given but the read noise is not, the estimated noise variance at
        the given black level is used.
    black_level : float, default=None
        Value recorded for no light. None estimates it per image (the darkest local mean
        level, which assumes that some pixels receive no light).

    Attributes
    ----------
    denoiser_ : estimator
        The fitted clone of ``denoiser`` (the frozen estimator itself for a
        :class:`~sklearn.frozen.FrozenEstimator`).
    noise_models_ : list of tuple of NoiseModel
        The noise model used for each image seen in :meth:`fit`, one per channel, in data
        units.
    n_channels_in_ : int
        Number of channels of the images seen in :meth:`fit`.
    n_features_in_ : int
        Number of features of ``X`` seen in :meth:`fit`; only defined when ``X`` was 2-D.

    See Also
    --------
    sklearn_denoise.noise.estimate_noise_model : The per-image noise model.
    sklearn_denoise.noise.poisson_gaussian : Simulate the noise this denoiser removes.

    Notes
    -----
    **Units.** ``gain``, ``read_noise`` and ``black_level`` are in the data units of ``X``:
    raw counts for integer images (although the package otherwise reads integers on their
    dtype's range), the values as given for float images. The result has ``X``'s layout
    and dtype, on ``X``'s scale (uint16 counts in, uint16 counts out).

    **The wrapped denoiser's noise level.** The stabilised image is mapped onto about
    [0, 1] by its 0.1 and 99.9 percentiles before the wrapped denoiser sees it, and back
    afterwards: networks and several classical methods are tuned for [0, 1] images, and the
    package's ``sigma`` parameters accept values up to 1 only (the map never stretches an
    image whose percentiles are less than 1 apart, so the noise level stays <= 1). When
    the wrapped denoiser (or the estimator inside a FrozenEstimator) has a ``sigma``
    parameter, a copy of it gets, for each image, the stabilised noise level on that
    scale: ``sigma=None`` (the default) stands for the stabilised noise std of 1, a value
    you set is read in stabilised units (e.g. 1.2 to smooth more). A denoiser without a
    ``sigma`` parameter uses its own noise estimate. A ``normalize`` parameter is set to
    "none" on that copy: the image is already mapped.

    **Per image.** Each image of ``X``, and each channel of a multi-channel image, gets its
    own noise model and its own mapping, so a result never depends on the other images of
    the batch.

    **Training.** :meth:`fit` passes the stabilised, mapped images to the wrapped
    denoiser's ``fit``; clean images ``y`` are mapped to the stabilised value whose unbiased
    inverse they are (the expected stabilised noisy value), with the same mapping as the
    matching noisy image.

    References
    ----------
    M. Makitalo and A. Foi, "Optimal inversion of the generalized Anscombe transformation
    for Poisson-Gaussian noise", IEEE Trans. Image Processing 22(1), 2013.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_denoise import VarianceStabilizedDenoiser
    >>> from sklearn_denoise.noise import poisson_gaussian
    >>> yy, xx = np.mgrid[:64, :64] / 63
    >>> clean = np.stack([np.clip(xx * yy * 1.2 - 0.1, 0, 1)] * 4)
    >>> raw = poisson_gaussian(30 * clean, gain=1, read_sigma=2, black_level=100,
    ...                        random_state=0)
    >>> counts = np.rint(raw).astype(np.uint16)
    >>> den = VarianceStabilizedDenoiser(gain=1, read_noise=2, black_level=100).fit(counts)
    >>> out = den.transform(counts)
    >>> out.dtype, out.shape
    (dtype('uint16'), (4, 64, 64))
    >>> truth = 100 + 30 * clean
    >>> bool(np.abs(out - truth).mean() < np.abs(counts - truth).mean())
    True

    The shipped network, kept as it is (not retrained by ``fit``), with the noise model
    estimated from each image:

    >>> from sklearn.frozen import FrozenEstimator
    >>> from sklearn_denoise import CNNDenoiser
    >>> cnn = FrozenEstimator(CNNDenoiser.pretrained("gray"))
    >>> den = VarianceStabilizedDenoiser(cnn).fit(counts)
    >>> den.denoiser_ is cnn
    True
    >>> out = den.transform(counts)
    """

    def __init__(self, denoiser=None, *, gain=None, read_noise=None, black_level=None):
        self.denoiser = denoiser
        self.gain = gain
        self.read_noise = read_noise
        self.black_level = black_level

    @property
    def image_shape(self):
        """Shape of flattened images, taken from the wrapped denoiser (None: not flat)."""
        return getattr(self._template(), "image_shape", None)

    @property
    def axes(self):
        """Axes of the images, taken from the wrapped denoiser ("YX" when it has none): a
        3-D ``axes`` (``"ZYX"``, ...) makes ``X`` volumes, whose noise model is estimated
        on all their planes and which the wrapped denoiser denoises jointly."""
        return getattr(self._template(), "axes", "YX")

    def _template(self):
        if self.denoiser is None:
            from ._wavelet import WaveletDenoiser

            return WaveletDenoiser()
        return self.denoiser

    _parameter_constraints = {
        "denoiser": _check_denoiser,
        "gain": Float(0, MAX_NOISE_PARAMETER, allow_none=True),
        "read_noise": Float(0, MAX_NOISE_PARAMETER, allow_none=True),
        "black_level": Float(allow_none=True),
    }

    def _check_params(self, names=None):
        """The constraints table (all of it, or the parameters in ``names``), and the rule
        that ties ``gain`` and ``read_noise`` together."""
        validate_params(self, names)
        if self.gain == 0 and self.read_noise == 0:
            raise ValueError(
                "gain=0 and read_noise=0 describe noise-free data: there is nothing to "
                "denoise."
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # as deterministic as the wrapped denoiser (for a fixed random_state)
        template = self._template()
        if hasattr(template, "__sklearn_tags__"):
            tags.non_deterministic = get_tags(template).non_deterministic
        return tags

    # ------------------------------------------------------------------ tiling
    def _inner(self):
        """The fitted wrapped denoiser, or the unfitted template before fit."""
        fitted = getattr(self, "denoiser_", None)
        return self._template() if fitted is None else fitted

    def spatial_contract(self, image_shape=None):
        """What tiles of an image, or dask chunks, must give this denoiser.

        Used by :func:`sklearn_denoise.dask.denoise_dask` for the default overlap of
        chunks, which also runs :meth:`for_image_shape` on them.

        Parameters
        ----------
        image_shape : tuple of int, default=None
            ``(H, W[, C])`` of the whole images, passed on to the wrapped denoiser when
            its contract depends on it (a WaveletDenoiser with ``levels=None``, the
            default denoiser).

        Returns
        -------
        contract : SpatialContract
            The wrapped denoiser's (the fitted ``denoiser_``, or ``denoiser`` before
            :meth:`fit`): the stabilising transform and its inverse work pixel by pixel,
            so they need no context, grid or size of their own. The noise model
            (when not given) and the map onto [0, 1] are estimated from each tile unless
            the tile's denoiser comes from :meth:`for_image`, which fixes the whole
            image's.

        Raises
        ------
        TypeError
            When the wrapped denoiser reports no contract.
        """
        return contract_of(self._inner(), image_shape)

    def for_image_shape(self, image_shape):
        """The denoiser to run on tiles or chunks of images of ``image_shape``.

        Parameters
        ----------
        image_shape : tuple of int
            ``(H, W[, C])`` of the whole images.

        Returns
        -------
        denoiser : VarianceStabilizedDenoiser
            A shallow copy whose ``denoiser_`` is the wrapped denoiser's own
            ``for_image_shape`` (e.g. a WaveletDenoiser with ``levels=None`` gets the
            levels ``transform`` picks for the whole image); ``self`` when that changes
            nothing or before :meth:`fit`.
        """
        return wrapper_for_image_shape(self, image_shape)

    # ------------------------------------------------------------------ noise models
    def _plane_model(self, plane, where):
        """The noise model of one (H, W) plane in data units: given, estimated or mixed."""
        given = (self.gain, self.read_noise, self.black_level)
        if self.black_level is not None:
            top = float(np.percentile(plane, _BLACK_PERCENTILE))
            if self.black_level > top:
                raise ValueError(
                    f"black_level={self.black_level} is above the {_BLACK_PERCENTILE:g}th "
                    f"percentile ({top:.6g}) of {where}: the black level is the value "
                    "recorded for no light, in X's data units (raw counts for integer "
                    "images)."
                )
        if all(v is not None for v in given):
            return NoiseModel(*given)
        try:
            est = estimate_noise_model(plane)
        except ValueError as exc:
            raise ValueError(
                f"Could not estimate the noise model of {where}: {exc} Pass gain, "
                "read_noise and black_level to use a known model."
            ) from exc
        black = est.black_level if self.black_level is None else float(self.black_level)
        if self.read_noise is not None:
            read = float(self.read_noise)
        else:
            # the estimated variance line evaluated at the black level
            read = math.sqrt(max(est.read_noise**2 + est.gain * (black - est.black_level), 0))
        gain = est.gain if self.gain is None else float(self.gain)
        if gain == 0 and read == 0:
            raise ValueError(f"{where} shows no noise: there is nothing to denoise.")
        return NoiseModel(gain=gain, read_noise=read, black_level=black)

    def _image_models(self, counts, index):
        """The noise model of each channel of one (H, W, C) image in data units."""
        n_channels = counts.shape[-1]
        return tuple(
            self._plane_model(
                # a (Z, H, W) volume's planes one above another: one model per stack
                counts[..., c].reshape(-1, counts.shape[-2]),
                f"image {index}, channel {c}" if n_channels > 1 else
                f"image {index}"
            )
            for c in range(n_channels)
        )

    def _decide(self, counts, index, layout, *, fix_inner=False):
        """What ``transform`` reads off one image of counts ``(H, W, C)``: the noise model
        of each channel, the map of the stabilised image onto [0, 1] and the wrapped
        denoiser set up for it (with its own choices fixed on this image when
        ``fix_inner``); and the mapped stabilised image."""
        models = self._image_models(counts, index)
        unit_input, unit = self._stabilize_image(counts, models)
        denoiser = self._denoiser_for(unit)
        if fix_inner and callable(getattr(denoiser, "for_image", None)):
            denoiser = denoiser.for_image(_in_layout([unit_input], layout))
        return models, unit, denoiser, unit_input

    def for_image(self, X):
        """This denoiser with every choice it makes from an image's content fixed.

        ``transform`` reads off each image the noise model of each channel (what
        ``gain``, ``read_noise`` and ``black_level`` leave to estimate), the map of the
        stabilised image onto [0, 1], and passes the wrapped denoiser the stabilised
        image, on which it makes its own choices (its noise level, thresholds). The
        returned copy has all of them fixed on ``X``: ``for_image(X).transform(X)``
        equals ``transform(X)``, and a tile, a dask chunk or another plane of the same
        stack transformed with it gets ``X``'s choices
        (:func:`sklearn_denoise.dask.denoise_dask` uses it).

        Parameters
        ----------
        X : array-like
            One image: ``(H, W)``, ``(H, W, C)`` or a stack of one.

        Returns
        -------
        denoiser : VarianceStabilizedDenoiser
            A shallow copy of this fitted denoiser with ``decision_`` set: a tuple
            ``(noise_models, stabilized_map, denoiser)``, the noise model of each channel
            in data units, the :class:`~sklearn_denoise._normalize.Normalization` of the
            stabilised image and the wrapped denoiser as set up (and fixed) for it.
        """
        check_is_fitted(self)
        self._check_params(_INFERENCE_PARAMS)
        images, layout = _one_image(self, X)
        counts = images[0].astype(np.float64) * _dtype_scale(layout.dtype)
        models, unit, denoiser, _ = self._decide(counts, 0, layout, fix_inner=True)
        pinned = copy.copy(self)
        pinned.decision_ = (models, unit, denoiser)
        return pinned

    @staticmethod
    def _stabilized(counts, models):
        return np.stack(
            [stabilize(counts[..., c], m) for c, m in enumerate(models)], axis=-1
        )

    @staticmethod
    def _stabilize_image(counts, models):
        """Stabilise every channel of one (H, W, C) image and map it onto about [0, 1].

        The map sends the 0.1 and 99.9 percentiles to 0 and 1, but never stretches: the
        stabilised noise (std 1) stays at most 1 on the mapped scale.
        """
        stabilized = VarianceStabilizedDenoiser._stabilized(counts, models)
        low, high = robust_range(stabilized)
        unit = Normalization(offset=low, scale=max(high - low, 1.0))
        return unit.apply(stabilized), unit

    # ------------------------------------------------------------------ estimator API
    def fit(self, X, y=None):
        """Fit the wrapped denoiser on the stabilised images.

        Parameters
        ----------
        X : array-like or list of array-like
            Noisy images laid out as in the image convention.
        y : None, 1-D labels or array-like of X's shape, default=None
            Clean images matching ``X``, stabilised like ``X`` (to the stabilised value
            whose unbiased inverse is the clean value) for supervised denoisers; labels
            are passed on unchanged.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        self._check_params()
        images, layout = validate_images(self, X, reset=True)
        clean = image_target(X, y, layout)
        scale = _dtype_scale(layout.dtype)
        models, inputs, targets = [], [], []
        for i, img in enumerate(images):
            counts = img.astype(np.float64) * scale
            image_models = self._image_models(counts, i)
            unit_input, unit = self._stabilize_image(counts, image_models)
            models.append(image_models)
            inputs.append(unit_input)
            if clean is not None:
                clean_counts = np.asarray(clean[i], dtype=np.float64) * scale
                target = np.stack(
                    [_restabilize(clean_counts[..., c], m) for c, m in enumerate(image_models)],
                    axis=-1,
                )
                targets.append(unit.apply(target))
        fit_target = _in_layout(targets, layout) if clean is not None else y
        self.denoiser_ = clone(self._template())
        params = self.denoiser_.get_params(deep=False)
        sigma = params.get("sigma")
        if sigma is not None:
            # sigma is in stabilised units, converted per image in transform; the wrapped
            # fit would check it against the mapped images' [0, 1] scale instead
            self.denoiser_.set_params(sigma=None)
        self.denoiser_.fit(_in_layout(inputs, layout), fit_target)
        if sigma is not None:
            self.denoiser_.set_params(sigma=sigma)
        self.noise_models_ = models
        return self

    def _denoiser_for(self, normalization):
        """The fitted denoiser set up for one mapped stabilised image.

        ``sigma`` becomes the stabilised noise level on the mapped scale, and ``normalize``
        "none": the image is already mapped, a second mapping would only rescale it. Both
        are set on a shallow copy, which shares the fitted state.
        """
        fitted = self.denoiser_
        inner = fitted.estimator if isinstance(fitted, FrozenEstimator) else fitted
        get_params = getattr(inner, "get_params", None)
        params = get_params(deep=False) if get_params is not None else {}
        settings = {}
        if "sigma" in params:
            sigma = 1.0 if params["sigma"] is None else params["sigma"]
            settings["sigma"] = normalization.noise_level(sigma)
        if "normalize" in params:
            settings["normalize"] = "none"
        if not settings:
            return fitted
        inner = copy.copy(inner)
        for name, value in settings.items():
            setattr(inner, name, value)
        return inner

    def transform(self, X):
        """Denoise images: stabilise, run the wrapped denoiser, invert.

        Parameters
        ----------
        X : array-like or list of array-like
            Noisy images laid out as in the image convention, with fit's channel count.

        Returns
        -------
        X_denoised : ndarray or list of ndarray
            Same layout, dtype and scale as ``X``.
        """
        check_is_fitted(self)
        # only what inference reads, in case set_params changed it after fit
        self._check_params(_INFERENCE_PARAMS)
        images, layout = validate_images(self, X, reset=False)
        scale = _dtype_scale(layout.dtype)
        decision = getattr(self, "decision_", None)
        out = []
        for i, img in enumerate(images):
            counts = img.astype(np.float64) * scale
            if decision is None:
                models, unit, denoiser, unit_input = self._decide(counts, i, layout)
            else:
                models, unit, denoiser = decision
                unit_input = unit.apply(self._stabilized(counts, models))
            (denoised,) = _from_layout(denoiser.transform(_in_layout([unit_input], layout)),
                                       layout)
            stabilized = unit.invert(denoised)
            restored = np.stack(
                [unstabilize(stabilized[..., c], m) for c, m in enumerate(models)], axis=-1
            )
            out.append(restored / scale)
        if layout.kind != "list":
            out = np.stack(out) if out else np.asarray(images, dtype=np.float64)
        return restore_layout(out, layout)
