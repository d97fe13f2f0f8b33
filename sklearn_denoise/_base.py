"""Behaviour shared by every denoiser: scoring, tags and the per-image batch loop."""

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from ._normalize import check_normalize, fit_normalization
from ._param_checks import validate_params
from ._validation import image_target, restore_layout, validate_images
from .metrics import j_invariant_loss, psnr


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
            Named tuple ``(margin, multiple, min_size)``: pixels of context each output
            pixel needs on every side (a multiple of ``multiple``), the grid tile borders
            must fall on, and the smallest height and width the denoiser can process.

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
                normalization = fit_normalization(image, mode)
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

    def _denoise_images(self, images, layout):
        n_jobs = getattr(self, "n_jobs", None)
        if n_jobs in (None, 1) or len(images) < 2:
            return [self._denoise_normalized(img, layout) for img in images]
        return Parallel(n_jobs=n_jobs)(
            delayed(self._denoise_normalized)(img, layout) for img in images
        )

    def _normalize_mode(self):
        # a subclass without a ``normalize`` parameter works on the images as given
        return check_normalize(getattr(self, "normalize", "none"))

    def _denoise_normalized(self, image, layout):
        normalization = fit_normalization(image, self._normalize_mode())
        params = self.get_params(deep=False)
        sigma = normalization.noise_level(params.get("sigma"))  # checks its scale too
        if normalization.is_identity:
            return self._denoise_image(image, layout)
        scaled = {
            name: params[name] / normalization.scale
            for name in self._noise_level_params
            if params.get(name) is not None
        }
        if sigma is not None:
            scaled["sigma"] = sigma
        denoiser = clone(self).set_params(**scaled) if scaled else self
        out = denoiser._denoise_image(normalization.apply(image), layout)
        return normalization.invert(out)
