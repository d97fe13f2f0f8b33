"""Behaviour shared by every denoiser: scoring, tags and the per-image batch loop."""

import dataclasses
import sys

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from ._anscombe import stabilize, unstabilize
from ._decision import ImageDecision, pin_decision, pinned_decision
from ._medical import RicianNoise, SpeckleNoise, medical_noise, to_gaussian
from ._normalize import Normalization, check_normalize, fit_normalization, robust_range
from ._param_checks import validate_params
from ._sensor import GaussianNoise, check_noise_model, estimate_gaussian_sigma, resolve_noise
from ._validation import (
    dtype_scale,
    image_target,
    plane_view,
    restore_layout,
    validate_images,
)
from .metrics import j_invariant_loss, psnr
from .noise import NoiseModel


class DenoiserMixin:
    """Mixin for denoisers: ``score`` is the mean PSNR against clean images.

    With clean images ``y`` (same layout as ``X``) ``score`` returns the mean PSNR in dB of
    ``transform(X)`` against ``y``, so GridSearchCV's default scoring ranks denoisers by
    PSNR. With no image-shaped ``y`` (None, or class labels when the denoiser sits in a
    classifier Pipeline) it returns minus the self-supervised Noise2Self loss of
    :func:`sklearn_denoise.metrics.j_invariant_loss`, which needs no clean images.
    """

    def score(self, X, y=None):
        """Mean PSNR (dB) against clean ``y``, or minus the self-supervised loss.

        Parameters
        ----------
        X : array-like
            Noisy images.
        y : array-like of X's shape, default=None
            Clean images. If None or not image-shaped, the self-supervised score is used.

        Returns
        -------
        score : float
            Bigger is better.
        """
        check_is_fitted(self)
        _, layout = validate_images(self, X, reset=False)
        clean = image_target(X, y, layout)
        if clean is None:
            return -j_invariant_loss(self, X)
        X_hat = self.transform(X)
        return psnr(restore_layout(clean, layout), X_hat)

    def spatial_contract(self):
        """What tiles of an image, or dask chunks, must give this denoiser.

        Every denoiser of the package overrides this with its own margin, grid and minimum
        size, computed from its parameters; :func:`sklearn_denoise.dask.denoise_dask`
        uses it for the default overlap and alignment of chunks. The mixin cannot know
        how far a denoiser of your own looks around each pixel, and assuming a margin
        would silently give seams at chunk borders, so this default raises instead:
        override it (a denoiser whose contract depends on the image size may take an
        ``image_shape`` argument), or pass ``depth=`` to ``denoise_dask``.

        Returns
        -------
        contract : SpatialContract
            Named tuple ``(margin, multiple, min_size, local)``: pixels of context each
            output pixel needs on every side (a multiple of ``multiple``), the grid tile
            borders must fall on, the smallest height and width the denoiser can
            process, and whether tiles with that margin reproduce the whole-image result
            (False for global methods).

        Raises
        ------
        NotImplementedError
            Always, in this default.
        """
        raise NotImplementedError(
            f"{type(self).__name__} does not define spatial_contract(); override it with "
            "the context radius of the method, or pass depth= to denoise_dask."
        )

    def __sklearn_tags__(self):
        # What the image convention accepts: 2-D X (flattened images with image_shape, or
        # 1-D signals) and 3-D stacks (n, H, W) ((n, H, W, C) too, which the tags cannot
        # say); no 1-D X, sparse matrices or NaN. Output keeps X's dtype (integers too).
        tags = super().__sklearn_tags__()
        tags.input_tags.one_d_array = False
        tags.input_tags.two_d_array = True
        tags.input_tags.three_d_array = True
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.requires_fit = True
        return tags


class _ImageFilter(DenoiserMixin, TransformerMixin, BaseEstimator):
    """Base for stateless denoisers that process each image on its own.

    Subclasses declare ``_parameter_constraints`` (every ``__init__`` parameter -> its check,
    see :mod:`sklearn_denoise._param_checks`), validated in :meth:`fit`, and
    ``_inference_params``, the parameters ``transform`` reads and re-checks (a value set with
    ``set_params`` after fit); they implement ``_denoise_image(image, layout)`` for one
    float image of shape (H, W, C) and ``spatial_contract()`` (their context radius, see
    :meth:`DenoiserMixin.spatial_contract`; its ``min_size`` is usually
    ``self._fit_min_size()``), may add the rules that tie parameters together in
    ``_check_params()``, and may set ``_min_size`` (in pixels) or override
    ``_check_layout`` to reject input the method cannot process.

    Each image is first mapped onto [0, 1] as the ``normalize`` parameter says (see
    :mod:`sklearn_denoise._normalize`) and mapped back after denoising; the parameters
    named in ``_noise_level_params`` (noise levels on the image's intensity scale) are
    divided by the same scale, so a known ``sigma`` keeps its meaning.
    """

    _min_size = 1
    _noise_level_params = ("sigma", "h", "sigma_color")
    _parameter_constraints = {}
    _inference_params = ()

    def _check_params(self):
        """The constraints table (ValueError / TypeError naming the bad parameter); a
        subclass adds the rules that tie parameters together."""
        validate_params(self)

    def _fit_min_size(self):
        return self._min_size

    def _check_layout(self, images, layout):
        """Raise ValueError for validated input the method cannot process (fit and transform)."""

    def fit(self, X, y=None):
        """Check the images and parameters; these denoisers learn nothing from data.

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
        self._check_params()
        mode = self._normalize_mode()
        images, layout = validate_images(self, X, reset=True, min_size=self._fit_min_size())
        image_target(X, y, layout)
        self._check_layout(images, layout)
        sigma = self.get_params(deep=False).get("sigma")
        if sigma is not None:
            for image in images:
                normalization = fit_normalization(image, mode, dtype=layout.dtype)
                if normalization.is_identity:
                    normalization.noise_level(sigma)  # the classic sigma=25 for 25/255
        return self

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
        # only what inference reads, in case set_params changed it after fit
        validate_params(self, self._inference_params)
        images, layout = validate_images(self, X, reset=False, min_size=self._fit_min_size())
        self._check_layout(images, layout)
        out = self._denoise_images(images, layout)
        if layout.kind != "list":
            out = np.stack(out) if len(out) else np.empty_like(images)
        return restore_layout(out, layout)

    def for_image(self, X):
        """This denoiser with every choice it makes from an image's content fixed.

        ``transform`` reads off each image its map onto [0, 1] (``normalize``), its noise
        (a given ``sigma``, an estimated Gaussian level, or, with ``noise_model``, an
        estimated Poisson-Gaussian model that is variance-stabilised) and, for the wavelet,
        its thresholds. The returned copy has those of ``X`` fixed in its ``decision_``:
        ``for_image(X).transform(X)`` equals ``transform(X)``, and transforming a tile, a
        dask chunk or another plane of the same stack with it applies ``X``'s choices.
        :func:`sklearn_denoise.dask.denoise_dask` and the command line use it, so they
        decide once per image (or per stack) as ``transform`` does.

        Parameters
        ----------
        X : array-like
            One image: ``(H, W)``, ``(H, W, C)`` or a stack of one, laid out as in the
            image convention; with a 3-D ``axes``, one volume ``(1, Z, H, W[, C])``,
            whose choices are then made on all its planes.

        Returns
        -------
        denoiser : estimator
            A shallow copy of this fitted denoiser, with ``decision_`` set (an
            :class:`~sklearn_denoise._decision.ImageDecision`: ``normalization``,
            ``noise``, ``noise_source`` and ``describe(dtype)``).
        """
        check_is_fitted(self)
        validate_params(self, self._inference_params)
        images, layout = _one_image(self, X, min_size=self._fit_min_size())
        self._check_layout(images, layout)
        decision = self._decide(images[0], layout, keep_state=True)
        return pin_decision(self, decision)

    def _denoise_images(self, images, layout):
        n_jobs = getattr(self, "n_jobs", None)
        with _progress(self, len(images)) as progress:
            if n_jobs in (None, 1) or len(images) < 2:
                results = (self._denoise_normalized(img, layout) for img in images)
            else:
                results = Parallel(n_jobs=n_jobs, return_as="generator")(
                    delayed(self._denoise_normalized)(img, layout) for img in images
                )
            out = []
            for result in results:
                out.append(result)
                progress.update()
        return out

    def _normalize_mode(self):
        # a subclass without a ``normalize`` parameter works on the images as given
        return check_normalize(getattr(self, "normalize", "none"))

    # ------------------------------------------------------------------ decisions
    def _reads_noise(self, params):
        """Whether the strength follows the noise: the method has ``sigma`` and no other
        strength parameter (``_strength_params``) was given."""
        return "sigma" in params and all(
            params.get(name) is None for name in self._strength_params)

    _strength_params = ()

    def _estimate_sigma(self, image, layout):
        """The white-noise level of one normalised image (the method's own estimate)."""
        return estimate_gaussian_sigma(image, signal=layout.is_signal)

    def _decide(self, image, layout, *, keep_state=False):
        """The :class:`ImageDecision` of one (H, W, C) float image."""
        normalization = fit_normalization(image, self._normalize_mode(), dtype=layout.dtype)
        params = self.get_params(deep=False)
        sigma = normalization.noise_level(params.get("sigma"))  # checks its scale too
        noise, source = (GaussianNoise(sigma), "given") if sigma is not None else (None, None)
        noise_model = check_noise_model(params.get("noise_model", "gaussian"))
        if isinstance(noise_model, NoiseModel) and sigma is None:
            source = "given"
        # noise is read off a volume's planes (plane_view): one decision per stack
        if noise_model in ("rician", "speckle") and "sigma" in params and (
                not normalization.flat):
            noise = medical_noise(noise_model, plane_view(normalization.apply(image)), sigma,
                                  lambda img: self._estimate_sigma(img, layout),
                                  zero=-normalization.offset / normalization.scale)
            source = source or "estimated"
        if noise is None and "sigma" in params and not normalization.flat:
            x = plane_view(normalization.apply(image))
            source = source or "estimated"

            def level(img):
                return self._estimate_sigma(img, layout)

            # a strength given as such (weight, h, sigma_color) keeps the Gaussian model
            if layout.is_signal or not self._reads_noise(params) or (
                    not isinstance(noise_model, NoiseModel) and (
                        noise_model == "gaussian" or image.shape[-1] != 1)):
                noise = GaussianNoise(level(x))
            else:
                noise = resolve_noise(x, noise_model, None,
                                      data_scale=dtype_scale(layout.dtype),
                                      normalization=normalization, estimate_level=level)
        stabilized = None
        if isinstance(noise, NoiseModel):
            stabilized = _stabilized_map(normalization.apply(image), noise)
        decision = ImageDecision(normalization, (noise,), (False,),
                                 dtype_scale(layout.dtype), noise_source=source,
                                 stabilized=stabilized)
        if keep_state:
            x, denoiser, _ = self._method_input(image, decision)
            state = denoiser._whole_image_state(x, layout)
            if state is not None:
                decision = dataclasses.replace(decision, method_state=state)
        return decision

    def _whole_image_state(self, image, layout):
        """Statistics of the whole (mapped) image the method would otherwise take from
        each tile (None: the method is local once its noise level is fixed)."""
        return None

    def _method_input(self, image, decision):
        """(image the method runs on, the denoiser set up for it, the stabilised map or
        None)."""
        normalization = decision.normalization
        noise = decision.noise[0]
        x = normalization.apply(image)
        params = self.get_params(deep=False)
        settings = {}
        if not normalization.is_identity:
            settings = {name: params[name] / normalization.scale
                        for name in self._noise_level_params
                        if name != "sigma" and params.get(name) is not None}
        unit = None
        if isinstance(noise, (RicianNoise, SpeckleNoise)):
            # Rician or speckle: denoised as Gaussian noise, mapped back without bias
            x, settings["sigma"], unit = to_gaussian(x, noise)
        elif isinstance(noise, NoiseModel):
            # Poisson-Gaussian noise: variance-stabilised (std about 1), mapped onto
            # about [0, 1] (decided on the whole image), denoised at that level, inverted
            unit = decision.stabilized or _stabilized_map(x, noise)
            x = unit.apply(stabilize(x, noise).astype(image.dtype, copy=False))
            settings["sigma"] = 1.0 / unit.scale
        elif noise is not None and self._takes_noise_level(decision):
            settings["sigma"] = noise.sigma
        if "noise_model" in params:
            settings["noise_model"] = "gaussian"
        denoiser = clone(self).set_params(**settings) if settings else self
        return x, denoiser, unit

    def _takes_noise_level(self, decision):
        """Whether the decided Gaussian level becomes the method's ``sigma``."""
        return "sigma" in self.get_params(deep=False)

    def _denoise_normalized(self, image, layout):
        decision = pinned_decision(self)
        if decision is None:
            decision = self._decide(image, layout)
        return self._denoise_decided(image, layout, decision)

    def _denoise_decided(self, image, layout, decision):
        x, denoiser, unit = self._method_input(image, decision)
        if decision.method_state is not None:
            denoiser = pin_decision(denoiser, decision)
        out = denoiser._denoise_image(x, layout)
        if callable(unit):  # Rician or speckle
            out = unit(out)
        elif unit is not None:
            noise = decision.noise[0]
            out = unstabilize(unit.invert(out), noise).astype(image.dtype, copy=False)
        return decision.normalization.invert(out)


def _progress(estimator, n_images):
    """A tqdm bar over the images of ``transform`` on stderr, shown when the estimator's
    ``verbose`` is set and there are two images or more."""
    return tqdm(total=n_images, desc=f"{type(estimator).__name__}.transform", unit="image",
                disable=not getattr(estimator, "verbose", 0) or n_images < 2,
                file=sys.stderr, leave=False)


def _stabilized_map(image, noise):
    """The map of a variance-stabilised image onto about [0, 1]: its 0.1 and 99.9
    percentiles onto 0 and 1, but never stretching, so that the stabilised noise (std 1)
    stays at most 1 on the mapped scale (as :class:`VarianceStabilizedDenoiser` maps)."""
    low, high = robust_range(stabilize(image, noise))
    return Normalization(offset=low, scale=max(high - low, 1.0))


def _one_image(estimator, X, *, min_size=1):
    """Validated ``X`` holding exactly one image (``for_image``)."""
    images, layout = validate_images(estimator, X, reset=False, min_size=min_size)
    if len(images) != 1:
        raise ValueError(
            f"for_image takes one image ((H, W), (H, W, C) or a stack of one); X holds "
            f"{len(images)} images. Call it on each image (or on one plane of a stack)."
        )
    return images, layout
