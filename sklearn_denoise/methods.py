"""The denoising methods by name, as ``sklearn-denoise`` and :mod:`sklearn_denoise.compare`
name them.

:data:`METHODS` maps each name to a :class:`MethodSpec`: its label, its kind (``"cnn"``,
a classical ``"denoiser"`` of this package, or a scikit-image ``"reference"``), the
optional package it needs and whether it is slow. :func:`get_method` looks one up;
:meth:`MethodSpec.denoiser` builds the estimator of a classical method for a noise level::

    >>> from sklearn_denoise.methods import get_method
    >>> get_method("tv").denoiser(sigma=25 / 255)
    TVDenoiser(sigma=0.09803921568627451)

Also the choices of the CNN's options that the command line offers:
:data:`LOSSES` (``CNNDenoiser(loss=...)``), :data:`SELF_ENSEMBLE_SIZES`
(``CNNDenoiser(self_ensemble=...)``), :data:`FINE_TUNING_LR` (the learning rate of
loaded and pretrained models, 1e-4) and :data:`NOISE_MODEL_OPTIONS` (every denoiser's
``noise_model``). Importing this module imports neither torch nor the estimators.
"""

from ._methods import (
    CLASSICAL_NAMES,
    DENOISER_NAMES,
    METHOD_NAMES,
    METHODS,
    MethodSpec,
    get_method,
)
from ._noise_model import NOISE_MODEL_OPTIONS
from ._param_checks import FINE_TUNING_LR, LOSSES, SELF_ENSEMBLE_SIZES

__all__ = [
    "CLASSICAL_NAMES",
    "DENOISER_NAMES",
    "FINE_TUNING_LR",
    "LOSSES",
    "METHODS",
    "METHOD_NAMES",
    "MethodSpec",
    "NOISE_MODEL_OPTIONS",
    "SELF_ENSEMBLE_SIZES",
    "get_method",
]
