"""Image denoising as scikit-learn transformers.

Every denoiser follows one image convention (see :mod:`sklearn_denoise._validation`):
``X`` is ``(n, H, W)``, ``(n, H, W, C)``, ``(n, n_features)`` with ``image_shape`` set
(or 1-D signals without it), or a list of images; integer images are read on their dtype's
full range; ``sigma`` is on the [0, 1] intensity scale; output keeps the input's dtype.

The names below are imported on first use (PEP 562), so that ``import sklearn_denoise``
and ``sklearn-denoise --version`` stay fast and do not import torch; ``from
sklearn_denoise import CNNDenoiser`` works as usual.
"""

import importlib

__version__ = "0.1.0.dev0"

#: public name -> the module that defines it
_EXPORTS = {
    "BilateralDenoiser": "._classical",
    "BM3DDenoiser": "._classical",
    "CNNDenoiser": "._cnn",
    "DenoiserMixin": "._base",
    "MultibandDenoiser": "._multiband",
    "NLMeansDenoiser": "._classical",
    "TVDenoiser": "._classical",
    "VarianceStabilizedDenoiser": "._vst",
    "WaveletDenoiser": "._wavelet",
    "available_models": "._weights",
}

__all__ = [
    "BilateralDenoiser",
    "BM3DDenoiser",
    "CNNDenoiser",
    "DenoiserMixin",
    "MultibandDenoiser",
    "NLMeansDenoiser",
    "TVDenoiser",
    "VarianceStabilizedDenoiser",
    "WaveletDenoiser",
    "available_models",
    "__version__",
]


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
