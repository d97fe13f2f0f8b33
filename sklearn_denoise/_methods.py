"""The denoising methods, in one table: :data:`METHODS`.

Read by ``sklearn-denoise denoise --method`` (the package's denoisers, applied to files),
``sklearn-denoise compare --methods`` and :func:`sklearn_denoise._compare.default_methods`
(every method, the scikit-image references included). Each entry says how to build the
method for a known noise level, its label in the comparison table, whether it needs an
optional package and whether it is slow.

Kinds of methods:

- ``"cnn"``: :class:`~sklearn_denoise.CNNDenoiser` with weights (the shipped pretrained
  models or a weight file), loaded by :func:`sklearn_denoise._cnn.load_cnn`;
- ``"denoiser"``: a classical denoiser of this package with its default parameters (the
  estimator a user gets in Python), built by :meth:`MethodSpec.denoiser` with the noise
  level ``sigma`` when it is known: their strength follows the noise level (TV weight
  ``0.9 * sigma``, bilateral colour spread ``1.5 * sigma``, NL-means ``h = 0.8 * sigma``)
  and, with ``sigma`` None, their ``noise_model="auto"`` also handles sensor noise;
- ``"reference"``: the scikit-image function the package's denoiser is compared with
  (``sk-wavelet``, ``sk-tv``, ``sk-nlm``), for the comparison only.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._strengths import BILATERAL_COLOR_PER_SIGMA, NLM_H_PER_SIGMA, TV_WEIGHT_PER_SIGMA

__all__ = [
    "METHODS",
    "METHOD_NAMES",
    "DENOISER_NAMES",
    "CLASSICAL_NAMES",
    "MethodSpec",
    "get_method",
]

# The classical methods are the estimators' defaults (their strength follows the noise
# level: TV weight, NL-means cut-off and bilateral colour spread proportional to sigma);
# these are for the labels and the scikit-image references.
_TV_WEIGHT = TV_WEIGHT_PER_SIGMA
_BILATERAL_COLOR = BILATERAL_COLOR_PER_SIGMA
_BILATERAL_SPATIAL = 1.5
_CYCLE_SPINS = 3
_NLM_PATCH, _NLM_DISTANCE, _NLM_H = 5, 6, NLM_H_PER_SIGMA


@dataclass(frozen=True)
class MethodSpec:
    """One denoising method of :data:`METHODS`.

    Parameters
    ----------
    name : str
        Short name (``--method``, ``--methods`` and the first column of the table).
    label : str
        What it is and with which parameters.
    kind : {"cnn", "denoiser", "reference"}
        See the module's docstring.
    build : callable, default=None
        ``"denoiser"``: ``build(sigma, color)`` returns the unfitted estimator for a noise
        level ``sigma`` on the [0, 1] scale (None: estimated per image) and RGB images or
        not. ``"reference"``: ``build(sigma)`` returns ``denoise(image) -> image`` for
        float (H, W) or (H, W, 3) images. None for ``"cnn"``.
    requires : str, default=None
        Optional package the method imports (also the name of the package's extra).
    slow : bool, default=False
        Seconds per image rather than fractions of a second; ``compare`` skips it unless
        asked for.
    """

    name: str
    label: str
    kind: str
    build: Callable | None = None
    requires: str | None = None
    slow: bool = False

    def unavailable(self):
        """Why the method cannot run in this installation (a missing optional package),
        or None."""
        if self.requires is None:
            return None
        try:
            importlib.import_module(self.requires)
        except ImportError:
            return (f"needs the optional {self.requires} package: pip install "
                    f"{self.requires} (or pip install 'sklearn-denoise[{self.requires}]')")
        return None

    def denoiser(self, sigma=None, *, color=False):
        """The unfitted estimator of a ``"denoiser"`` method for a noise level.

        Parameters
        ----------
        sigma : float, default=None
            Noise standard deviation on the images' [0, 1] intensity scale; None
            estimates it per image. Every returned estimator takes it as its ``sigma``
            parameter, so it is scaled with the images' normalisation and set by
            :class:`~sklearn_denoise.VarianceStabilizedDenoiser`.
        color : bool, default=False
            RGB images (the wavelet methods then work in YCbCr).
        """
        if self.kind != "denoiser":
            raise ValueError(f"Method {self.name!r} is not a classical denoiser of this "
                             f"package; choose from {list(CLASSICAL_NAMES)}.")
        return self.build(sigma, bool(color))

    def for_noise_level(self, sigma):
        """``denoise(image) -> image`` for float (H, W) or (H, W, 3) images with noise of
        standard deviation ``sigma`` ([0, 1] scale); a ``"denoiser"`` is fitted on each
        image (the classical denoisers are stateless)."""
        if self.kind == "reference":
            return self.build(sigma)
        if self.kind != "denoiser":
            raise ValueError(f"Method {self.name!r} needs weights: load them with "
                             "sklearn_denoise._cnn.load_cnn.")

        def denoise(image):
            est = self.build(sigma, image.ndim == 3)
            batch = image[np.newaxis]
            return est.fit(batch).transform(batch)[0]

        return denoise


# ------------------------------------------------------------------- builders of the table
def _wavelet(cycle_spins):
    def build(sigma, color):
        from ._wavelet import WaveletDenoiser

        return WaveletDenoiser(sigma=sigma, wavelet="db1", method="BayesShrink",
                               mode="soft", convert2ycbcr=color, cycle_spins=cycle_spins)

    return build


def _tv(sigma, color):  # weight = 0.9 * sigma, the default
    from ._classical import TVDenoiser

    return TVDenoiser(sigma=sigma)


def _bilateral(sigma, color):  # sigma_color = 1.5 * sigma, sigma_spatial 1.5: the defaults
    from ._classical import BilateralDenoiser

    return BilateralDenoiser(sigma=sigma)


def _nlm(sigma, color):  # h = 0.8 * sigma, patch 5, distance 6: the defaults
    from ._classical import NLMeansDenoiser

    return NLMeansDenoiser(sigma=sigma)


def _bm3d(sigma, color):
    from ._classical import BM3DDenoiser

    return BM3DDenoiser(sigma=sigma)


def _channel_axis(image):
    return -1 if image.ndim == 3 else None


def _sk_wavelet(sigma):
    from skimage.restoration import denoise_wavelet

    return lambda img: denoise_wavelet(
        img, sigma=sigma, wavelet="db1", method="BayesShrink", mode="soft",
        rescale_sigma=True, convert2ycbcr=img.ndim == 3, channel_axis=_channel_axis(img))


def _sk_tv(sigma):
    from skimage.restoration import denoise_tv_chambolle

    return lambda img: denoise_tv_chambolle(img, weight=_TV_WEIGHT * sigma,
                                            channel_axis=_channel_axis(img))


def _sk_nlm(sigma):
    from skimage.restoration import denoise_nl_means

    return lambda img: denoise_nl_means(
        img, patch_size=_NLM_PATCH, patch_distance=_NLM_DISTANCE, h=_NLM_H * sigma,
        sigma=sigma, fast_mode=True, channel_axis=_channel_axis(img))


#: Every denoising method, in the order of the comparison table.
METHODS = {spec.name: spec for spec in (
    MethodSpec("cnn", "CNNDenoiser.pretrained('gray'), RGB: 'color'", "cnn"),
    MethodSpec("wavelet", "WaveletDenoiser(BayesShrink, db1)", "denoiser", _wavelet(0)),
    MethodSpec("wavelet-cs", f"WaveletDenoiser(BayesShrink, db1, cycle_spins={_CYCLE_SPINS})",
               "denoiser", _wavelet(_CYCLE_SPINS)),
    MethodSpec("tv", f"TVDenoiser(weight={_TV_WEIGHT}*sigma)", "denoiser", _tv),
    MethodSpec("nlm", f"NLMeansDenoiser(patch {_NLM_PATCH}, distance {_NLM_DISTANCE}, "
               f"h={_NLM_H}*sigma)", "denoiser", _nlm),
    MethodSpec("bilateral", f"BilateralDenoiser(sigma_color={_BILATERAL_COLOR}*sigma, "
               f"sigma_spatial={_BILATERAL_SPATIAL})", "denoiser", _bilateral),
    MethodSpec("bm3d", "BM3DDenoiser(sigma, profile 'np')", "denoiser", _bm3d,
               requires="bm3d", slow=True),
    MethodSpec("sk-wavelet", "skimage denoise_wavelet(BayesShrink, db1)", "reference",
               _sk_wavelet),
    MethodSpec("sk-tv", f"skimage denoise_tv_chambolle(weight={_TV_WEIGHT}*sigma)",
               "reference", _sk_tv),
    MethodSpec("sk-nlm", f"skimage denoise_nl_means({_NLM_PATCH}, {_NLM_DISTANCE}, "
               f"h={_NLM_H}*sigma)", "reference", _sk_nlm),
)}

#: Every method name (``compare --methods``).
METHOD_NAMES = tuple(METHODS)
#: The package's denoisers, which ``denoise --method`` applies to files.
DENOISER_NAMES = tuple(name for name, m in METHODS.items() if m.kind != "reference")
#: The classical denoisers of the package (built for a noise level, no weights).
CLASSICAL_NAMES = tuple(name for name, m in METHODS.items() if m.kind == "denoiser")


def get_method(name):
    """The :class:`MethodSpec` of ``name``; ValueError naming the choices otherwise."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown method {name!r}; choose from {list(METHOD_NAMES)}.") \
            from None
