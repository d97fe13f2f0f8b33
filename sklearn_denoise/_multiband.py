"""Joint denoising of multi-band images: noise-whitened PCA across bands, a gray denoiser
on each component.

The bands of one scene (multispectral remote sensing, fluorescence channels) are strongly
correlated: a few principal components hold nearly all the signal. Each band is first
divided by its own noise level (estimated per band, or given), so that the noise of every
band has standard deviation 1; the principal components of these whitened bands (fitted
on the image itself, as the opponent colour space decorrelates RGB) then also have noise
of standard deviation 1, while their signal is concentrated in the first ones. Each
component with signal is mapped onto about [0, 1] and denoised by a gray denoiser at its
own noise level (1 over its range); components whose variance is close to that of the
noise alone are shrunk by their Wiener gain instead. The components are mapped back to
bands, and the bands to their own units and dtype.
"""

import copy

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from ._base import DenoiserMixin
from ._param_checks import validate_params
from ._tiling import contract_of, wrapper_for_image_shape
from ._validation import restore_layout, validate_images

__all__ = ["MultibandDenoiser"]

# A component is denoised by the gray denoiser when its noise level on [0, 1] (1 over its
# robust range) is at most this (64/255: the strongest noise the shipped CNNs take);
# weaker components are shrunk by their Wiener gain.
_MAX_COMPONENT_SIGMA = 0.25


def _check_denoiser(value, name):
    if value is not None and not (hasattr(value, "transform") and hasattr(value, "fit")):
        raise TypeError(f"{name} must be None or a gray denoiser with fit and transform, "
                        f"got {value!r}.")
    return value


def _check_band_sigma(value, name):
    if value is None:
        return value
    array = np.asarray(value, dtype=float)
    if array.ndim > 1 or not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise ValueError(f"{name} must be None, a positive number or a 1-D array of "
                         f"positive numbers (one per band), got {value!r}.")
    return value


class _BandDecision:
    """What :class:`MultibandDenoiser` reads off one image: per-band mean and noise level,
    the components, their ranges and which are denoised."""

    def __init__(self, mean, sigma, vectors, variances, low, scale, source, centre):
        self.mean, self.sigma, self.vectors = mean, sigma, vectors
        self.variances, self.low, self.scale = variances, low, scale
        self.noise_source = source
        self.centre = centre  # mean of each component over the image
        # the gray denoiser of each denoised component with its own decisions fixed on
        # the whole component (for_image), so that tiles and dask chunks get them too
        self.component_denoisers = None

    @property
    def denoised(self):
        return 1.0 / self.scale <= _MAX_COMPONENT_SIGMA

    def noise_in_data_units(self):
        return None

    def describe(self, dtype, source=None):
        """One line for people, as ``ImageDecision.describe`` (``source``: "given" or
        "estimated", else the decision's own)."""
        kept = int(self.denoised.sum())
        levels = ", ".join(f"{s:.3g}" for s in self.sigma)
        return (f"{len(self.sigma)} bands denoised jointly ({kept} of {len(self.sigma)} "
                f"noise-whitened principal components with signal), per-band gaussian "
                f"noise sigma {levels} ({source or self.noise_source})")


class MultibandDenoiser(DenoiserMixin, TransformerMixin, BaseEstimator):
    """Denoise multi-band images jointly in a noise-whitened principal component space.

    Each image ``(H, W, B)`` is decorrelated across its bands: the bands are divided by
    their noise levels (estimated per band with
    :func:`sklearn_denoise.noise.estimate_noise_level`, or ``band_sigma``), a PCA of these
    whitened bands is fitted on the image (so every component has noise of standard
    deviation 1 and the signal gathers in the first components), each component with
    signal is mapped onto about [0, 1] and denoised by ``denoiser`` at its noise level,
    the others are shrunk by their Wiener gain, and everything is mapped back. The bands
    of one scene denoised together so gain from their correlation; a gray denoiser run on
    each band alone does not.

    Parameters
    ----------
    denoiser : estimator, default=None
        Gray denoiser with a ``sigma`` parameter (noise level on [0, 1]) applied to each
        component: a fitted one is used as is (not refitted), an unfitted one is cloned
        and fitted in :meth:`fit`. None means the shipped pretrained gray CNN
        (``CNNDenoiser.pretrained("gray")``).
    band_sigma : float or array-like of shape (n_bands,), default=None
        Known noise standard deviation of each band in the image's data units (counts for
        integer images); None estimates it per band and per image.

    Attributes
    ----------
    denoiser_ : estimator
        The fitted gray denoiser.
    n_bands_ : int
        Number of bands seen in :meth:`fit`.

    See Also
    --------
    sklearn_denoise.CNNDenoiser : Its ``channel_strategy="opponent"`` decorrelates RGB.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_denoise import MultibandDenoiser, WaveletDenoiser
    >>> rng = np.random.default_rng(0)
    >>> scene = np.outer(np.hanning(64), np.hanning(64))
    >>> bands = np.stack([scene * w for w in np.linspace(0.5, 1.0, 6)], axis=-1)
    >>> noisy = bands + rng.normal(0, 0.05, bands.shape)
    >>> est = MultibandDenoiser(WaveletDenoiser()).fit(noisy[np.newaxis])
    >>> out = est.transform(noisy[np.newaxis])[0]
    >>> out.shape
    (64, 64, 6)
    >>> bool(np.abs(out - bands).std() < np.abs(noisy - bands).std() / 2)
    True
    """

    _parameter_constraints = {"denoiser": _check_denoiser, "band_sigma": _check_band_sigma}
    _inference_params = ("band_sigma",)

    def __init__(self, denoiser=None, *, band_sigma=None):
        self.denoiser = denoiser
        self.band_sigma = band_sigma

    def fit(self, X, y=None):
        """Check the images and set up the gray denoiser.

        Parameters
        ----------
        X : array-like of shape (n, H, W, B) or list of (H, W, B) arrays
            Multi-band images, B >= 2.
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted denoiser.
        """
        validate_params(self)
        images, layout = validate_images(self, X, reset=True)
        if layout.n_channels < 2:
            raise ValueError(f"MultibandDenoiser needs images with 2 bands or more, got "
                             f"{layout.n_channels}; use a gray denoiser for one band.")
        self._check_band_sigma(layout.n_channels)
        if self.denoiser is None:
            from ._cnn import CNNDenoiser

            self.denoiser_ = CNNDenoiser.pretrained("gray")
        else:
            try:
                check_is_fitted(self.denoiser)
                self.denoiser_ = self.denoiser
            except Exception:  # NotFittedError, or an estimator without fitted attributes
                first = images[0][np.newaxis, ..., 0]
                self.denoiser_ = clone(self.denoiser).fit(first)
        self.n_bands_ = layout.n_channels
        return self

    def _check_band_sigma(self, n_bands):
        if self.band_sigma is None:
            return None
        sigma = np.broadcast_to(np.asarray(self.band_sigma, float), (n_bands,)) \
            if np.ndim(self.band_sigma) == 0 else np.asarray(self.band_sigma, float)
        if sigma.shape != (n_bands,):
            raise ValueError(f"band_sigma has {sigma.size} values for images of {n_bands} "
                             "bands.")
        return sigma

    def transform(self, X):
        """Denoise multi-band images.

        Parameters
        ----------
        X : array-like of shape (n, H, W, B) or list of (H, W, B) arrays
            Noisy images with fit's number of bands.

        Returns
        -------
        X_denoised : ndarray or list of ndarray
            Same layout and dtype as ``X``.
        """
        check_is_fitted(self)
        validate_params(self)
        images, layout = validate_images(self, X, reset=False)
        decision = getattr(self, "decision_", None)
        out = [self._denoise(img, layout, decision or self._decide(img, layout))
               for img in images]
        if layout.kind != "list":
            out = np.stack(out) if len(out) else np.empty_like(images)
        return restore_layout(out, layout)

    def for_image(self, X):
        """This denoiser with the bands' noise levels and components of ``X`` fixed.

        Parameters
        ----------
        X : array-like of shape (1, H, W, B) or (H, W, B)
            One image.

        Returns
        -------
        denoiser : MultibandDenoiser
            A shallow copy with ``decision_`` set (``describe(dtype)`` tells the noise).
        """
        check_is_fitted(self)
        X = np.asarray(X)
        images, layout = validate_images(self, X if X.ndim == 4 else X[np.newaxis],
                                         reset=False)
        if len(images) != 1:
            raise ValueError(f"for_image takes one image, X holds {len(images)}.")
        pinned = copy.copy(self)
        decision = self._decide(images[0], layout)
        components = self._components(images[0], decision)
        denoisers = []
        for k in range(components.shape[-1]):
            est = None
            if decision.denoised[k]:
                est = self._component_denoiser(1.0 / decision.scale[k])
                if hasattr(est, "for_image"):
                    est = est.for_image(self._unit(components[..., k], decision, k)[None])
            denoisers.append(est)
        decision.component_denoisers = denoisers
        pinned.decision_ = decision
        return pinned

    def _gray_denoiser(self):
        fitted = getattr(self, "denoiser_", None)
        if fitted is not None:
            return fitted
        if self.denoiser is not None:
            return self.denoiser
        from ._cnn import CNNDenoiser

        return CNNDenoiser.pretrained("gray")

    def spatial_contract(self, image_shape=None):
        """What tiles of an image, or dask chunks, must give this denoiser.

        Parameters
        ----------
        image_shape : tuple of int, default=None
            ``(H, W[, B])`` of the whole images, passed on to the gray denoiser.

        Returns
        -------
        contract : SpatialContract
            The gray denoiser's: the whitening and the principal components work pixel by
            pixel once :meth:`for_image` has fitted them on the whole image, which
            :func:`sklearn_denoise.dask.denoise_dask` does before it maps the chunks.
        """
        shape = None if image_shape is None else tuple(image_shape)[:2]
        return contract_of(self._gray_denoiser(), shape)

    def for_image_shape(self, image_shape):
        """The denoiser to run on tiles or chunks of images of ``image_shape``.

        Parameters
        ----------
        image_shape : tuple of int
            ``(H, W[, B])`` of the whole images.

        Returns
        -------
        denoiser : MultibandDenoiser
            A shallow copy whose ``denoiser_`` is the gray denoiser's own
            ``for_image_shape``; ``self`` when that changes nothing or before :meth:`fit`.
        """
        return wrapper_for_image_shape(self, tuple(image_shape)[:2])

    def _decide(self, image, layout):
        from .noise import estimate_noise_level

        x = image.astype(np.float64)
        given = self._check_band_sigma(x.shape[-1])
        if given is not None:
            scale = 1.0 if layout.dtype.kind == "f" else float(np.iinfo(layout.dtype).max)
            sigma, source = given / scale, "given"
        else:
            sigma = np.array([estimate_noise_level(x[..., b]) for b in range(x.shape[-1])])
            source = "estimated"
        spread = x.reshape(-1, x.shape[-1]).std(axis=0)
        sigma = np.maximum(sigma, 1e-6 * np.maximum(spread, 1e-12))
        mean = x.reshape(-1, x.shape[-1]).mean(axis=0)
        white = ((x - mean) / sigma).reshape(-1, x.shape[-1])
        variances, vectors = np.linalg.eigh(white.T @ white / len(white))
        order = np.argsort(variances)[::-1]
        variances, vectors = variances[order], vectors[:, order]
        components = white @ vectors
        low, high = np.percentile(components, (0.1, 99.9), axis=0)
        scale = np.maximum(high - low, 1.0)
        return _BandDecision(mean, sigma, vectors, variances, low, scale, source,
                             components.mean(axis=0))

    def _component_denoiser(self, sigma):
        est = copy.copy(self.denoiser_)
        params = est.get_params(deep=False)
        settings = {"sigma": float(sigma)}
        if "normalize" in params:
            settings["normalize"] = "none"  # the component is mapped onto [0, 1] here
        if "noise_model" in params:
            settings["noise_model"] = "gaussian"
        return est.set_params(**settings)

    @staticmethod
    def _components(image, decision):
        """The noise-whitened principal components of one (H, W, B) image, (H, W, B)."""
        x = image.astype(np.float64)
        white = ((x - decision.mean) / decision.sigma).reshape(-1, x.shape[-1])
        return (white @ decision.vectors).reshape(x.shape)

    @staticmethod
    def _unit(component, decision, k):
        """Component ``k`` mapped onto about [0, 1] for the gray denoiser, float32."""
        return ((component - decision.low[k]) / decision.scale[k]).astype(np.float32)

    def _denoise(self, image, layout, decision):
        shape = image.shape
        components = self._components(image, decision).reshape(-1, shape[-1])
        out = np.empty_like(components)
        pinned = decision.component_denoisers
        for k in range(components.shape[1]):
            c = components[:, k]
            if decision.denoised[k]:
                unit = self._unit(c.reshape(shape[:2]), decision, k)
                est = pinned[k] if pinned is not None else self._component_denoiser(
                    1.0 / decision.scale[k])
                result = est.transform(unit[np.newaxis])[0]
                out[:, k] = np.asarray(result, np.float64).ravel() * decision.scale[k] \
                    + decision.low[k]
            else:  # about as much noise as signal: the Wiener gain of the component
                gain = max(0.0, 1.0 - 1.0 / max(decision.variances[k], 1e-12))
                out[:, k] = gain * (c - decision.centre[k]) + decision.centre[k]
        bands = (out @ decision.vectors.T).reshape(shape) * decision.sigma + decision.mean
        return bands.astype(image.dtype, copy=False)
