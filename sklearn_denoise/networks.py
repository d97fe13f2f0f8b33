"""The torch modules behind :class:`~sklearn_denoise.CNNDenoiser`, for use with skorch or
plain PyTorch.

- :class:`UNet`: the multi-scale residual U-Net of the shipped models;
- :class:`N2V2UNet`: its blind-spot variant for self-supervised training (N2V2);
- :class:`DnCNN`: the classic residual DnCNN;
- :class:`NoiseLevelNet`: the noise-level estimator behind
  :func:`sklearn_denoise.noise.estimate_noise_level`.

``CNNDenoiser`` builds them through skorch as ``module=UNet`` with ``module__channels``,
``module__depth``, ``module__width``, ``module__blocks`` and ``module__noise_level_input``
(see ``CNNDenoiser().fit(...).net_.get_params()``); their ``state_dict`` is what the weight
files store. Inputs are ``(n, channels [+ 1 noise-level map], H, W)`` float tensors on
[0, 1]; outputs ``(n, channels, H, W)``.
"""

from ._modules import DnCNN, N2V2UNet, NoiseLevelNet, UNet

__all__ = ["DnCNN", "N2V2UNet", "NoiseLevelNet", "UNet"]
