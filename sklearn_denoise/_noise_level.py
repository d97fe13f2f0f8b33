"""The learned noise-level estimate (a small network shipped with the pretrained models).

A white-noise estimate from the finest wavelet band (:func:`skimage.restoration.estimate_sigma`)
misses noise that demosaicing has correlated or JPEG has compressed; the network of
:class:`sklearn_denoise._modules.NoiseLevelNet`, trained on
:class:`sklearn_denoise.noise.Degradation` patches (``benchmarks/train_noise_estimator.py``),
predicts the per-pixel standard deviation of the noise as it was before compression, the
level a denoiser with a noise-level input is trained with.
"""

import functools

import numpy as np
import torch

from . import _tiling

#: Registry name of the shipped estimator.
ESTIMATOR_NAME = "noise-level"
#: Large images are estimated on a grid of crops of this side (at most _GRID x _GRID).
_CROP = 128
_GRID = 4
#: Images smaller than this on either side carry too little noise to estimate.
MIN_SIDE = 8
#: A blind level is the learned estimate only when it finds this many times the noise of
#: the finest wavelet band, and this much more on the [0, 1] scale (``blind_level``).
CORRELATED_RATIO = 1.6
CORRELATED_EXCESS = 3 / 255


def noise_estimators():
    """Registry names of the shipped noise-level estimators."""
    from ._weights import _registry

    return sorted(name for name, entry in _registry().items()
                  if entry.get("kind") == "noise-estimator")


@functools.lru_cache(maxsize=4)
def load_estimator(name=ESTIMATOR_NAME):
    """The shipped estimator ``name`` (eval mode), checksum and contents checked.

    Only registry names: the name may come from a weight file's metadata, which must not
    be able to point the package at an arbitrary file.
    """
    from ._modules import NoiseLevelNet
    from ._weights import resolve_weights

    if name not in noise_estimators():
        raise ValueError(
            f"Unknown noise-level estimator {name!r}; shipped: {noise_estimators()}."
        )
    config, state, metadata, _ = resolve_weights(name)
    if config["architecture"] != "noise-level":
        raise ValueError(
            f"{name!r} holds a {config['architecture']!r} network, not a noise-level "
            "estimator."
        )
    module = NoiseLevelNet(config["channels"], config["depth"], config["width"])
    module.load_state_dict({k: v.float() for k, v in state.items()})
    module.eval()
    if _tiling.CHANNELS_LAST:  # activations too (one channel in): 2.5x faster at 256x256
        module = module.to(memory_format=torch.channels_last)
    return module


def _crops(plane):
    """The whole (H, W) plane, or an even grid of crops of a large one."""
    height, width = plane.shape
    if height * width <= (_GRID * _CROP) ** 2 * 2:
        return [plane]
    tops = np.linspace(0, height - min(_CROP, height), _GRID).astype(int)
    lefts = np.linspace(0, width - min(_CROP, width), _GRID).astype(int)
    return [plane[top : top + _CROP, left : left + _CROP] for top in tops for left in lefts]


def estimate_level(image, name=ESTIMATOR_NAME):
    """Noise standard deviation of one (H, W, C) image on about [0, 1], averaged over
    channels: the median of the estimator's map over the image (or a grid of crops).

    Returns ``None`` for images under :data:`MIN_SIDE` pixels on a side.
    """
    if min(image.shape[:2]) < MIN_SIDE:
        return None
    module = load_estimator(name)
    levels = []
    with torch.inference_mode():
        for c in range(image.shape[-1]):
            logs = []
            for crop in _crops(np.asarray(image[..., c], dtype=np.float32)):
                x = torch.from_numpy(np.ascontiguousarray(crop))[None, None]
                logs.append(module(x)[0, 0].reshape(-1))
            levels.append(float(torch.exp(torch.median(torch.cat(logs)))))
    return float(np.mean(levels))


def correlated_level(image):
    """Level of the spatially correlated noise of one (H, W, C) image on about [0, 1], or
    None when its noise looks white.

    The learned estimate, when it finds at least :data:`CORRELATED_RATIO` times the noise
    of the finest wavelet band (:func:`skimage.restoration.estimate_sigma`) and
    :data:`CORRELATED_EXCESS` more: correlated noise (demosaiced, blurred) shows a fraction
    of itself in that band. On white noise, also on textured photographs, the two agree
    within about 1.45x (``benchmarks/bench_blind_level.py``).
    """
    return NoiseReading(image).correlated_level()


def blind_level(image):
    """Noise level of one (H, W, C) image on about [0, 1] for a denoiser told nothing.

    :func:`correlated_level` when the noise is correlated, else the white-noise estimate
    of the finest wavelet band, the more precise of the two on white noise.
    """
    return NoiseReading(image).blind_level()


class NoiseReading:
    """What a denoiser reads of the noise of one (H, W, C) image, each estimate computed
    at most once and only when asked for.

    Parameters
    ----------
    image : ndarray of shape (H, W, C)
        The image on about [0, 1].
    level_estimator : str or None
        A shipped learned estimator that gives the blind level instead (weights trained
        with their own, ``weights_metadata_["noise_estimator"]``); None for
        :func:`blind_level`.
    """

    def __init__(self, image, level_estimator=None):
        self.image = image
        self.level_estimator = level_estimator

    @functools.cached_property
    def _correlated_and_white(self):
        """(correlated level or None, wavelet level)."""
        from ._sensor import estimate_gaussian_sigma

        white = estimate_gaussian_sigma(self.image)
        learned = estimate_level(self.image)
        if learned is not None and learned >= CORRELATED_RATIO * white and (
                learned - white >= CORRELATED_EXCESS):
            return learned, white
        return None, white

    def correlated_level(self):
        """:func:`correlated_level` of the image."""
        return self._correlated_and_white[0]

    def blind_level(self):
        """:func:`blind_level` of the image, or the level of ``level_estimator``."""
        if self.level_estimator is not None:
            level = estimate_level(self.image, self.level_estimator)
            if level is not None:
                return level
        correlated, white = self._correlated_and_white
        return white if correlated is None else correlated
