"""Image denoising as scikit-learn transformers.

Every denoiser follows one image convention (see :mod:`sklearn_denoise._validation`):
``X`` is ``(n, H, W)``, ``(n, H, W, C)``, ``(n, n_features)`` with ``image_shape`` set
(or 1-D signals without it), or a list of images; integer images are read on their dtype's
full range; ``sigma`` is on the [0, 1] intensity scale; output keeps the input's dtype.
"""

from ._base import DenoiserMixin
from ._classical import BilateralDenoiser, BM3DDenoiser, NLMeansDenoiser, TVDenoiser
from ._cnn import CNNDenoiser
from ._multiband import MultibandDenoiser
from ._vst import VarianceStabilizedDenoiser
from ._wavelet import WaveletDenoiser
from ._weights import available_models

__version__ = "0.1.0.dev0"

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
