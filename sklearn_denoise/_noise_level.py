"""Blind noise levels: the weak-texture estimate of white noise and the learned estimate
of correlated noise (a small network shipped with the pretrained models).

The finest wavelet band (:func:`skimage.restoration.estimate_sigma`) also holds the
image's fine texture, so on photographs and textures it overestimates light noise (white
noise of sigma 2/255 read as up to 10.6/255 by ``benchmarks/bench_blind_level.py``), and a
denoiser told that level smooths away detail. The weak-texture
estimate (:func:`weak_texture_level`) reads the noise from the patches with the least
gradient energy instead. Either estimate of white noise misses noise that demosaicing
has correlated or JPEG has compressed; the network of
:class:`sklearn_denoise._modules.NoiseLevelNet`, trained on
:class:`sklearn_denoise.noise.Degradation` patches (``benchmarks/train_noise_estimator.py``),
predicts the per-pixel standard deviation of the noise as it was before compression, the
level a denoiser with a noise-level input is trained with.
"""

import functools
import math

import numpy as np
import torch
from scipy.stats import gamma

from . import _tiling

#: Registry name of the shipped estimator.
ESTIMATOR_NAME = "noise-level"
#: Registry name of the estimator of JPEG-compressed noise (the noise as the file stores
#: it, :func:`sklearn_denoise._cnn_steps._compressed_noise_levels`).
JPEG_ESTIMATOR_NAME = "noise-level-jpeg"
#: Large images are estimated on a grid of crops of this side (at most _GRID x _GRID).
_CROP = 128
_GRID = 4
#: Images smaller than this on either side carry too little noise to estimate.
MIN_SIDE = 8
#: A blind level is the learned estimate only when it finds this many times the noise of
#: the finest wavelet band, and this much more on the [0, 1] scale (``blind_level``)...
CORRELATED_RATIO = 1.6
CORRELATED_EXCESS = 3 / 255
#: ... or, for noise that is faint on the [0, 1] scale (an image whose normalised range is
#: set by a few far intensities, as air and bone set a CT slice's), this many times that
#: noise, at most CORRELATED_MAX_RATIO times (a finest band with nothing in it is a
#: noise-free image, whose edges the network reads as faint noise), and this much more
#: (:func:`looks_correlated`).
CORRELATED_FAINT_RATIO = 2.5
CORRELATED_MAX_RATIO = 20.0
CORRELATED_FAINT_EXCESS = 1.5 / 255
#: Noise that is the same everywhere, white or correlated, shows in the flattest parts of
#: an image too: a correlated level is taken only when the flattest quarter of the
#: image's FLAT_BLOCK x FLAT_BLOCK blocks varies at least FLAT_SUPPORT times as much
#: (:func:`flat_level`). Correlated noise of every kind in ``bench_blind_level.py`` gives
#: 0.6 or more; the smooth sky of a crowded star field (astropy's ``m13.fits``), whose
#: stars the learned estimator takes for correlated noise 190 times the finest band's,
#: about 0.05.
FLAT_BLOCK = 15
FLAT_SUPPORT = 0.25
#: Fewest blocks (away from clipped pixels) that :func:`flat_level` reads.
_FLAT_MIN_BLOCKS = 8
#: The weak-texture estimate: square patches of this side, at most this many per channel
#: (on a regular grid of positions), and the patch selection repeated this many times.
WEAK_TEXTURE_PATCH = 7
WEAK_TEXTURE_MAX_PATCHES = 1 << 16
_WEAK_TEXTURE_ITERATIONS = 3
# a noise-only patch has less gradient energy than the threshold with this probability
_WEAK_TEXTURE_CONFIDENCE = 1 - 1e-6


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


def _doubled_differences(patches):
    """Twice the horizontal and the vertical central differences inside each of the
    (n, p, p) patches (tensor): the gradient whose squared norm, over 4, is a patch's
    energy (:func:`_gradient_energy`)."""
    return patches[:, :, 2:] - patches[:, :, :-2], patches[:, 2:, :] - patches[:, :-2, :]


def _gradient_energy(patches):
    """Squared norm of the central differences inside each of the (n, p, p) patches."""
    across, down = _doubled_differences(patches)
    return (torch.square(across).sum(dim=(1, 2)) + torch.square(down).sum(dim=(1, 2))) / 4


@functools.cache
def _gradient_threshold(patch):
    """tau: the gradient energy of a patch of white noise of variance v stays under
    ``tau * v`` with probability ``_WEAK_TEXTURE_CONFIDENCE`` (the gamma approximation of
    Liu et al. 2013, from the gradient operator's rank and trace)."""
    basis = torch.eye(patch * patch, dtype=torch.float64).reshape(-1, patch, patch)
    # the matrix taking a flattened patch to its central differences
    operator = torch.cat([d.flatten(1) for d in _doubled_differences(basis)], 1).T.numpy() / 2
    gram = operator.T @ operator
    rank = np.linalg.matrix_rank(gram)
    return float(gamma.ppf(_WEAK_TEXTURE_CONFIDENCE, rank / 2,
                           scale=2 * np.trace(gram) / rank))


def _smallest_variance(patches):
    """Noise variance read from the smallest eigenvalue of the patches' second moments
    (``patches``: an (n, dim) float32 tensor)."""
    n, dim = patches.shape
    moments = (patches.T @ patches).double() / (n - 1)
    smallest = float(torch.linalg.eigvalsh(moments)[0])
    # the smallest eigenvalue of n noise vectors' covariance sits near the lower edge of
    # the Marchenko-Pastur law, (1 - sqrt(dim / n))^2 times their variance
    return max(smallest, 0.0) / (1 - math.sqrt(dim / n)) ** 2


def _plane_weak_texture_level(plane):
    """:func:`weak_texture_level` of one (H, W) plane, or None when it has too few
    patches."""
    patch = WEAK_TEXTURE_PATCH
    dim = patch * patch
    height, width = plane.shape
    if min(height, width) < patch:
        return None
    positions = (height - patch + 1) * (width - patch + 1)
    step = max(1, math.ceil(math.sqrt(positions / WEAK_TEXTURE_MAX_PATCHES)))
    # only the patches on the grid are copied (once): large planes cost no full-size
    # temporaries
    windows = torch.from_numpy(np.asarray(plane, dtype=np.float32))
    windows = windows.unfold(0, patch, step).unfold(1, patch, step)
    if windows.shape[0] * windows.shape[1] < 2 * dim:
        return None
    patches = windows.reshape(-1, patch, patch)
    # the work in torch, whose threads the network uses next: numpy's BLAS threads would
    # keep spinning after a product and slow the network down by half on 2 cores
    with torch.inference_mode():
        # saturated or clipped pixels carry no noise: patches touching them are left out
        low, high = patches.amin(dim=(1, 2)), patches.amax(dim=(1, 2))
        # (compared in float32, the patches' precision)
        unclipped = ((low > float(np.float32(plane.min())))
                     & (high < float(np.float32(plane.max()))))
        if int(unclipped.sum()) >= 10 * dim:
            patches = patches[unclipped]
        energy = _gradient_energy(patches)
        patches = patches.reshape(-1, dim) - float(np.mean(plane, dtype=np.float64))
        tau = _gradient_threshold(patch)
        variance = _smallest_variance(patches)
        for _ in range(1, _WEAK_TEXTURE_ITERATIONS):
            weak = energy < tau * variance
            if int(weak.sum()) < 2 * dim:
                break
            patches, energy = patches[weak], energy[weak]
            variance = _smallest_variance(patches)
    return math.sqrt(variance)


def weak_texture_level(image):
    """White-noise standard deviation of one (H, W, C) image, averaged over channels, read
    from its weakly textured patches (Liu, Tanaka and Okutomi, "Single-image noise level
    estimation for blind denoising", IEEE TIP 2013).

    The smallest eigenvalue of the second moments of 7x7 patches is the noise variance
    when the patches hold noise only; the patches whose gradient energy exceeds what noise
    of that variance gives (with probability 1e-6) are dropped and the eigenvalue is taken
    again, three times in all. Patches that touch the image's minimum or maximum (clipped
    or saturated) are left out; the eigenvalue is corrected for its sampling bias (the
    Marchenko-Pastur lower edge). Large planes use up to 65536 patches on a regular grid.
    Returns None when a plane is too small for it (fewer than 98 patches).
    """
    levels = [_plane_weak_texture_level(image[..., c]) for c in range(image.shape[-1])]
    if any(level is None for level in levels):
        return None
    return float(np.mean(levels))


def looks_correlated(learned, white):
    """Whether noise read as ``learned`` by the learned estimator and as ``white`` in the
    finest wavelet band (both on the [0, 1] scale) is spatially correlated.

    Correlated noise (demosaiced, blurred, reconstructed) shows a fraction of itself in the
    finest band; on white noise the two agree within about 1.7x, also on textured
    photographs, and the learned estimate of a noise-free photograph, which reads its
    texture and compression as faint noise, exceeds the band's by up to a few 1/255
    (``benchmarks/bench_blind_level.py``). So the learned level must be at least
    :data:`CORRELATED_RATIO` times the band's and :data:`CORRELATED_EXCESS` larger; or,
    where it is fainter than that floor on the [0, 1] scale, at least
    :data:`CORRELATED_FAINT_RATIO` times the band's (a ratio white noise does not reach),
    at most :data:`CORRELATED_MAX_RATIO` times, and :data:`CORRELATED_FAINT_EXCESS`
    larger. The second test keeps the decision from depending on how far the image's
    extreme intensities stretch its normalised range: correlated noise of 21 HU in a CT
    slice spanning 1830 HU is 2.9/255 of it.
    """
    if learned is None:
        return False
    excess = learned - white
    if learned >= CORRELATED_RATIO * white and excess >= CORRELATED_EXCESS:
        return True
    return (CORRELATED_FAINT_RATIO * white <= learned <= CORRELATED_MAX_RATIO * white
            and excess >= CORRELATED_FAINT_EXCESS)


def flat_level(image):
    """Standard deviation of the flattest quarter of one (H, W, C) image's blocks: the
    25th percentile of the standard deviations of its non-overlapping
    :data:`FLAT_BLOCK` x :data:`FLAT_BLOCK` blocks, averaged over channels. Blocks that
    touch the channel's smallest or largest value are left out (clipped, saturated or
    masked pixels carry no noise). None when a channel has fewer than
    :data:`_FLAT_MIN_BLOCKS` such blocks."""
    levels = []
    side = FLAT_BLOCK
    for c in range(image.shape[-1]):
        plane = image[..., c]
        rows, cols = plane.shape[0] // side, plane.shape[1] // side
        if rows * cols < _FLAT_MIN_BLOCKS:
            return None
        blocks = np.asarray(plane[: rows * side, : cols * side], np.float32).reshape(
            rows, side, cols, side)
        low, high = blocks.min(axis=(1, 3)), blocks.max(axis=(1, 3))
        kept = (low > plane.min()) & (high < plane.max())
        if int(kept.sum()) < _FLAT_MIN_BLOCKS:
            return None
        spread = blocks.std(axis=(1, 3))[kept]
        levels.append(float(np.percentile(spread, 25)))
    return float(np.mean(levels))


def flat_regions_support(image, level):
    """Whether the flattest regions of one (H, W, C) image vary enough for noise of
    ``level`` everywhere (:data:`FLAT_SUPPORT`); True when :func:`flat_level` cannot
    tell."""
    flat = flat_level(image)
    return flat is None or flat >= FLAT_SUPPORT * level


def correlated_level(image):
    """Level of the spatially correlated noise of one (H, W, C) image on about [0, 1], or
    None when its noise looks white.

    The learned estimate, when it and the noise of the finest wavelet band
    (:func:`skimage.restoration.estimate_sigma`) pass :func:`looks_correlated`: at least
    :data:`CORRELATED_RATIO` times that noise and :data:`CORRELATED_EXCESS` more, or, for
    noise faint on the [0, 1] scale, :data:`CORRELATED_FAINT_RATIO` to
    :data:`CORRELATED_MAX_RATIO` times and :data:`CORRELATED_FAINT_EXCESS` more; and when
    the image's flattest regions vary as much as noise of that level everywhere would
    make them (:func:`flat_regions_support`): dense small structures (the stars of a
    crowded field, fine texture) on a smooth background read as correlated noise to the
    learned estimator, but not in the background.
    """
    return NoiseReading(image).correlated_level()


def blind_level(image):
    """Noise level of one (H, W, C) image on about [0, 1] for a denoiser told nothing.

    :func:`correlated_level` when the noise is correlated, else the white-noise estimate
    :func:`weak_texture_level` (the finest wavelet band's for images too small for it).
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
        if looks_correlated(learned, white) and flat_regions_support(self.image, learned):
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
        if correlated is not None:
            return correlated
        level = weak_texture_level(self.image)
        return white if level is None else level
