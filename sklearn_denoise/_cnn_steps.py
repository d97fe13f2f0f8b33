"""The transform path of :class:`~sklearn_denoise.CNNDenoiser`, as named steps.

Denoising one ``(H, W, C)`` float image goes through four steps, each a function of its
own that owns one concern:

1. :func:`read_noise` -- *read the noise of this image*: its map onto [0, 1]
   (``normalize``), the colour space, and per network pass the noise (a given ``sigma``
   or ``noise_model``, or the level or Poisson-Gaussian model estimated from the image)
   and whether the correlated-noise expert runs. The result is an
   :class:`~sklearn_denoise._decision.ImageDecision`, the one ``for_image`` pins.
2. :func:`choose_network` -- *choose the network and the noise map* of one pass: the
   estimator's network or its correlated-noise expert, fed one level, a per-pixel map of
   sensor noise, or the variance-stabilised image at its stabilised level.
3. :func:`run_network` -- *run the network*, in overlapping tiles for large images and
   averaged over the ``self_ensemble`` flips and turns.
4. :func:`denoise_decided` -- *apply and undo*: the normalisation, the colour space and
   the passes of steps 2-3 per channel, then back to the input's scale.

:func:`denoise_image` chains them (what ``transform`` runs per image; ``for_image`` runs
step 1 only, and the command line and :func:`sklearn_denoise.dask.denoise_dask` reach the
steps through these two public methods). The steps read a fitted estimator only through
an :class:`InferenceSetup`, built once per call by :func:`inference_setup`, so each step
can be tested with a setup of its own.
"""

import dataclasses
import sys
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from ._anscombe import stabilize, unstabilize
from ._color import from_opponent, opponent_noise_levels, opponent_noise_maps, to_opponent
from ._compression import code_value, looks_jpeg_compressed
from ._decision import ImageDecision
from ._inference import denoise_tiled, dihedral_average
from ._medical import RicianNoise, SpeckleNoise, to_gaussian
from ._modules import StackInput
from ._noise_level import (
    JPEG_ESTIMATOR_NAME,
    NoiseReading,
    correlated_level,
    estimate_level,
)
from ._normalize import check_normalize, fit_normalization
from ._sensor import GaussianNoise, noise_level_map, resolve_noise
from ._stack import decision_planes, neighbour_planes, plane_positions
from ._validation import plane_view

__all__ = [
    "InferenceSetup",
    "below_noise_floor",
    "NetworkPass",
    "choose_network",
    "denoise_decided",
    "denoise_image",
    "inference_setup",
    "read_noise",
    "run_network",
    "run_volume",
]


@dataclass(frozen=True)
class InferenceSetup:
    """What the transform steps need of a fitted CNNDenoiser, read once per call.

    Parameters
    ----------
    module : torch.nn.Module
        The estimator's network, in eval mode.
    expert : torch.nn.Module or None
        The correlated-noise expert (``correlated_expert_``), or None.
    noise_level_input : bool
        Whether the networks take a noise-level map as an extra channel.
    out_channels : int
        Channels the networks return.
    sensor_maps : bool
        Whether the weights were trained on per-pixel Poisson-Gaussian noise maps (else
        such noise goes through the variance-stabilising transform).
    level_estimator : str or None
        The learned estimator the weights name for their blind level, or None.
    sigma, noise_model, normalize, channel_strategy, self_ensemble, tile_size
        The estimator's parameters of the same names.
    contract : SpatialContract
        The tiles' margin and grid (``spatial_contract()``).
    device : str or torch.device
        Where the networks run.
    context_planes : int
        Neighbouring planes the estimator's network sees (a stack network), else 0.
    verbose : bool
        Whether a volume's planes show a progress bar.
    noise_floor : float
        The level (on the normalised scale) under which the weights' own error exceeds
        the noise they remove (``weights_metadata_["noise_floor"]``, measured for the
        shipped weights by ``benchmarks/bench_noise_floor.py``; 0 for other weights):
        fainter noise is left in the image (:func:`below_noise_floor`).
    """

    module: object
    expert: object
    noise_level_input: bool
    out_channels: int
    sensor_maps: bool
    level_estimator: str | None
    sigma: float | None
    noise_model: object
    normalize: object
    channel_strategy: str
    self_ensemble: int
    tile_size: int
    contract: object
    device: object
    context_planes: int = 0
    verbose: bool = False
    noise_floor: float = 0.0


def inference_setup(estimator):
    """The :class:`InferenceSetup` of a fitted :class:`~sklearn_denoise.CNNDenoiser`."""
    module = estimator.net_.module_
    module.eval()
    return InferenceSetup(
        module=module,
        expert=estimator.correlated_expert_,
        noise_level_input=estimator.config_["noise_level_input"],
        out_channels=estimator.config_["channels"],
        sensor_maps=estimator._takes_sensor_noise_maps(),
        level_estimator=estimator.weights_metadata_.get("noise_estimator"),
        sigma=estimator.sigma,
        noise_model=estimator.noise_model,
        normalize=estimator.normalize,
        channel_strategy=estimator.channel_strategy,
        self_ensemble=estimator.self_ensemble,
        tile_size=estimator.tile_size,
        contract=estimator.spatial_contract(),
        device=estimator.net_.device,
        context_planes=int(estimator.config_.get("context_planes") or 0),
        verbose=bool(estimator.verbose),
        noise_floor=float(estimator.weights_metadata_.get("noise_floor", 0.0)),
    )


# ------------------------------------------------------------------ 1. read the noise
def read_noise(setup, image, n_channels, data_scale, *, dtype=None):
    """Step 1: the :class:`ImageDecision` of one (H, W, C) float image or (Z, H, W, C)
    volume, read on its planes (:func:`~sklearn_denoise._stack.decision_planes`: up to 16,
    evenly spaced) as one image (:func:`~sklearn_denoise._validation.plane_view`).

    Parameters
    ----------
    setup : InferenceSetup
    image : ndarray of shape (H, W, C) or (Z, H, W, C)
        The image or volume as given (not normalised).
    n_channels : int
        Its channel count C.
    data_scale : float
        What 1.0 on the intensity scale is in data units (an integer dtype's maximum).
    dtype : dtype or None
        The dtype the image was read from, for the ``normalize="auto"`` rule
        (:func:`~sklearn_denoise._normalize.fit_normalization`); None for floats.

    Returns
    -------
    decision : ImageDecision
    """
    if image.ndim == 4:  # a volume: read on (at most DECISION_PLANES of) its planes
        image = decision_planes(image)
    decision = _read_noise(setup, image, n_channels, data_scale, dtype)
    if decision.normalization.flat or setup.noise_floor <= 0:
        return decision

    def brightest(c):
        """The largest normalised value the pass ``c`` sees (signal-dependent noise is
        strongest there); only Poisson-Gaussian passes of image channels ask for it."""
        values = image if setup.channel_strategy != "opponent" else image[..., c]
        return float(decision.normalization.apply(np.max(values).reshape(1))[0])

    below = tuple(not isinstance(noise, tuple) and below_noise_floor(setup, noise,
                                                                     lambda c=c: brightest(c))
                  for c, noise in enumerate(decision.noise))
    return dataclasses.replace(decision, below_floor=below)


def _read_noise(setup, image, n_channels, data_scale, dtype=None):
    """:func:`read_noise` of an image or of a volume's decision planes, before the noise
    floor."""
    normalization = fit_normalization(image, check_normalize(setup.normalize), dtype=dtype)
    source = "given" if setup.sigma is not None or not isinstance(
        setup.noise_model, str) else "estimated"
    if normalization.flat:
        return ImageDecision(normalization, (), (), data_scale, noise_source=source)
    # a volume's noise is read on all its planes at once: one decision per stack
    x = plane_view(normalization.apply(image))
    levels = (_compressed_noise_levels(setup, image, x, n_channels, normalization)
              if _reads_compressed_noise(setup, image, n_channels) else None)
    if levels is not None:
        gains = tuple(opponent_noise_levels(1.0)) if n_channels == 3 else None
        return ImageDecision(normalization, tuple(levels), (False,) * len(levels),
                             data_scale, noise_source=source, channel_gains=gains,
                             compressed=True)
    if setup.channel_strategy == "opponent" and n_channels == 3:
        levels = _opponent_noise_levels(setup, x, data_scale, normalization)
        if isinstance(levels, tuple):  # sensor noise of each colour plane: maps
            return ImageDecision(normalization, (levels,) * 3, (False,) * 3, data_scale,
                                 noise_source=source)
        opponent = to_opponent(x)
        passes = [_read_pass(setup, opponent[..., c : c + 1], levels[c], data_scale, None)
                  for c in range(3)]
        noise, correlated = zip(*passes)
        return ImageDecision(normalization, tuple(noise), tuple(correlated), data_scale,
                             noise_source=source,
                             channel_gains=tuple(opponent_noise_levels(1.0)))
    elif setup.channel_strategy == "opponent":
        passes = [_read_pass(setup, x[..., c : c + 1], None, data_scale, normalization)
                  for c in range(x.shape[-1])]
    else:
        passes = [_read_pass(setup, x, None, data_scale, normalization)]
    noise, correlated = zip(*passes)
    return ImageDecision(normalization, tuple(noise), tuple(correlated), data_scale,
                         noise_source=source)


#: The JPEG reading of clean JPEGs, in 8-bit codes, reaches 6.4 on 19 gray images and 8.2
#: (of R, G and B) on 11 colour photos at qualities 50, 75 and 90
#: (``benchmarks/bench_compressed.py --clean-readings``); the reading is taken from this
#: level on (``_compressed_noise_levels``).
JPEG_NOISE_FLOOR = 9.0


def _reads_compressed_noise(setup, image, n_channels):
    """Whether the noise of one (H, W, C) image is read as JPEG-compressed noise: a gray
    or (through the opponent space) colour image decoded from a JPEG file
    (:func:`~sklearn_denoise._compression.looks_jpeg_compressed`), for weights with a
    noise-level input and a Gaussian noise model (given or ``"auto"``)."""
    if image.ndim != 3 or not setup.noise_level_input:
        return False
    if not (n_channels == 1 or (n_channels == 3 and setup.channel_strategy == "opponent")):
        return False
    if setup.sigma is None and setup.noise_model not in ("auto", "gaussian"):
        return False
    return looks_jpeg_compressed(image)


def _compressed_noise_levels(setup, image, x, n_channels, normalization):
    """Levels (GaussianNoise) of the channel passes of a JPEG-compressed image (``image``
    as given, ``x`` normalised), or None when the noise is too faint to read this way.

    JPEG quantises away the noise's high frequencies, which the white-noise estimates
    read, adds its own errors, and subsamples a colour image's chroma, which then shows
    little of its noise but blotches of it. The level is read by the estimator trained on
    such images (``noise-level-jpeg``, ``benchmarks/train_noise_estimator.py
    --compressed``): the standard deviation of the noise as the file stores it (what JPEG
    left of it and the errors JPEG made on it, not the compression error of the picture
    itself, so that a clean JPEG reads as noise-free), the level a network trained on
    white noise must be given to remove it; on the luminance (the first opponent
    channel) of a colour image. The chroma channels get
    the levels white noise in R, G and B of the same luminance level has there
    (:func:`~sklearn_denoise._color.opponent_noise_levels`). A given ``sigma`` replaces
    the estimate. Every pass runs the main network: compressed chroma noise is not the
    fine-grained noise the correlated-noise expert is trained on.

    Clean JPEGs, their texture and compression read by the estimator as faint noise, read
    up to :data:`JPEG_NOISE_FLOOR` 8-bit codes (of gray or R, G and B); an image reading
    less is read as any other (None), since this reading cannot tell its noise from them.
    """
    if setup.sigma is not None:
        sigma = normalization.noise_level(setup.sigma)
    else:
        luminance = x if n_channels == 1 else to_opponent(x)[..., :1]
        level = estimate_level(np.ascontiguousarray(luminance, dtype=np.float32),
                               JPEG_ESTIMATOR_NAME)
        sigma = level if n_channels == 1 else level / opponent_noise_levels(1.0)[0]
        floor = normalization.noise_level(JPEG_NOISE_FLOOR * code_value(image))
        if sigma < floor:
            return None
    if n_channels == 1:
        return [GaussianNoise(sigma)]
    return [GaussianNoise(level) for level in opponent_noise_levels(sigma)]


def _blind_level(setup, image):
    """Blind noise level of one normalised image: the learned estimator named by the
    weights when there is one, else :meth:`NoiseReading.blind_level`."""
    return NoiseReading(image, setup.level_estimator).blind_level()


def _opponent_noise_levels(setup, rgb, data_scale, normalization):
    """Noise levels of the three opponent channels of one normalised RGB image.

    A list of three levels (GaussianNoise) or None (estimated on each opponent channel),
    or a tuple of the three colour planes' noises when the noise is signal-dependent
    (estimated or a known NoiseModel, for weights that take per-pixel noise maps): their
    variance is carried through the opponent transform, one map per opponent channel
    (:func:`_opponent_maps`).
    """
    if setup.sigma is not None:
        return [GaussianNoise(level) for level in
                opponent_noise_levels(normalization.noise_level(setup.sigma))]
    if not (setup.noise_level_input and setup.sensor_maps) or (
            setup.noise_model == "gaussian"):
        return [None] * 3
    planes = [rgb[..., c : c + 1] for c in range(3)]
    noises = tuple(resolve_noise(p, setup.noise_model, None, data_scale=data_scale,
                                 normalization=normalization,
                                 estimate_level=lambda image: _blind_level(setup, image),
                                 correlated_level=correlated_level) for p in planes)
    if all(isinstance(noise, GaussianNoise) for noise in noises):
        return [None] * 3
    return noises


def _read_pass(setup, x, noise, data_scale, normalization):
    """(noise, whether the correlated-noise expert runs) for one network pass on a
    normalised image; ``normalization`` None means a colour channel whose noise (a
    GaussianNoise or None: estimated) is already mapped."""
    if not setup.noise_level_input:
        return None, False
    reading = NoiseReading(x, setup.level_estimator)
    if normalization is None:
        noise = noise if noise is not None else GaussianNoise(reading.blind_level())
    else:  # resolve_noise asks these of x itself, and speckle of x's logarithm
        def blind_level(image):
            return reading.blind_level() if image is x else _blind_level(setup, image)

        noise = resolve_noise(x, setup.noise_model, setup.sigma, data_scale=data_scale,
                              normalization=normalization, estimate_level=blind_level,
                              correlated_level=lambda _: reading.correlated_level())
    # Rician noise is Gaussian noise in all but its bias: correlated too when the scanner
    # interpolated the image (zero-filled k-space)
    correlated = (isinstance(noise, (GaussianNoise, RicianNoise)) and setup.expert is not None
                  and reading.correlated_level() is not None)
    return noise, bool(correlated)


# ------------------------------------------------------ 2. choose network and noise map
@dataclass(frozen=True)
class NetworkPass:
    """One network pass as :func:`choose_network` decides it.

    Parameters
    ----------
    module : torch.nn.Module
        The network to run.
    image : ndarray of shape (H, W, C)
        Its input: the normalised image, or its variance-stabilised version on [0, 1].
    level : float, ndarray of shape (H, W, 1) or None
        The noise-level input: one level, a per-pixel map, or None (no such input).
    stabilized : tuple or None
        ``(map onto [0, 1] of the stabilised image, NoiseModel)`` to undo after the
        network, for noise removed through the variance-stabilising transform.
    undo : callable or None
        Maps the network's output back, for Rician and speckle noise (removed as
        Gaussian noise after :func:`sklearn_denoise._medical.to_gaussian`).
    """

    module: object
    image: np.ndarray
    level: object
    stabilized: tuple | None = None
    undo: object = None


def choose_network(setup, x, noise, correlated):
    """Step 2: the network and its noise-level input for one pass on a normalised image.

    Parameters
    ----------
    setup : InferenceSetup
    x : ndarray of shape (H, W, C)
        The normalised image (one channel pass).
    noise : None, GaussianNoise, NoiseModel, RicianNoise, SpeckleNoise or ndarray
        The decided noise of the pass: None (the network takes no noise level), white or
        correlated Gaussian noise, Poisson-Gaussian noise, Rician or speckle noise, or a
        per-pixel map of shape (H, W, 1).
    correlated : bool
        Whether the correlated-noise expert runs (for Gaussian noise).

    Returns
    -------
    network_pass : NetworkPass
    """
    if noise is None:
        return NetworkPass(setup.module, x, None)
    if isinstance(noise, np.ndarray):
        return NetworkPass(setup.module, x, noise)
    if isinstance(noise, GaussianNoise):
        return NetworkPass(setup.expert if correlated else setup.module, x, noise.sigma)
    if isinstance(noise, (RicianNoise, SpeckleNoise)):
        gaussian_image, level, undo = to_gaussian(x, noise)
        module = setup.expert if correlated and isinstance(noise, RicianNoise) else setup.module
        return NetworkPass(module, gaussian_image, level, undo=undo)
    if setup.sensor_maps:
        return NetworkPass(setup.module, x, noise_level_map(x, noise))
    # signal-dependent noise: variance-stabilise, denoise at the stabilised level (std 1
    # before the stabilised image is mapped onto [0, 1]), invert without bias
    stabilized = stabilize(x, noise)
    to_unit = fit_normalization(stabilized, "percentile")
    return NetworkPass(setup.module, to_unit.apply(stabilized),
                       min(1.0, 1.0 / to_unit.scale), stabilized=(to_unit, noise))


# ------------------------------------------------------------------ 3. run the network
#: The shipped networks learned images on [0, 1] and compress what lies beyond it: a flat
#: 1.5 comes out as 1.34 and a flat -1.0 as -0.89, a star's core at 2.1 times the
#: normalisation's 99.9th percentile as 1.35 (the brightest pixel of astropy's m13.fits,
#: 3618 counts, as 2355). Where a pass puts values more than HEADROOM_START beyond [0, 1],
#: that part is denoised again with the image scaled by 1 / HEADROOM_GAIN about the
#: range's near end (about 0 for values above it, about 1 for values below) and its noise
#: level divided by the gain (a network told the noise level denoises ``x / g`` at
#: ``s / g`` as ``x`` at ``s``, divided by ``g``), blended in over HEADROOM_BLEND, at most
#: HEADROOM_PASSES times (up to 64 times the range). Images on [0, 1] (8-bit
#: photographs, noise and all) do not reach it: their results and cost stay.
HEADROOM_GAIN = 4.0
HEADROOM_START = 0.05
HEADROOM_BLEND = 0.1
HEADROOM_PASSES = 3


def run_network(setup, module, image, level):
    """Step 3: run ``module`` on one (H, W, C) image with its noise-level input ``level``
    (one level or an (H, W, 1) map), tiled when large (``tile_size`` and the setup's
    contract), averaged over ``self_ensemble`` flips and rotations. Values the network
    puts more than :data:`HEADROOM_START` beyond [0, 1] are denoised again at a lower
    gain (:data:`HEADROOM_GAIN`), on the part of the image around them (with the
    contract's margin), when it takes a noise level.

    Returns
    -------
    out : ndarray of shape (H, W, out_channels), float32
    """
    def run(image, level):
        return dihedral_average(lambda i, lv: denoise_tiled(
            module, i, lv, tile_size=setup.tile_size, contract=setup.contract,
            out_channels=setup.out_channels, noise_level_input=setup.noise_level_input,
            device=setup.device,
        ), image, level, setup.self_ensemble)

    out = run(image, level)
    if level is None or not setup.noise_level_input:
        return out
    result = out
    # above the range (scaled about 0), below it (about 1); most images are in it, and
    # their output's extremes say so without full-size temporaries
    for anchor, beyond in ((0.0, float(out.max()) - 1.0), (1.0, -float(out.min()))):
        if beyond > HEADROOM_START:
            result = _beyond_range(run, int(setup.contract.margin), image, level, out,
                                   result, anchor)
    return result


def _beyond_range(run, margin, image, level, out, result, anchor):
    """``result`` with the parts where ``out`` (the first pass) lies beyond the range on
    the side away from ``anchor`` denoised again at lower gains (:func:`run_network`)."""
    scaled, gain = out, 1.0  # the last pass's output on its own scale
    for _ in range(HEADROOM_PASSES):
        excess = scaled - 1.0 if anchor == 0.0 else -scaled
        weight = np.clip((excess - HEADROOM_START) / HEADROOM_BLEND, 0.0, 1.0)
        rows, cols = np.nonzero(weight.max(axis=-1) > 0)
        if rows.size == 0:
            break
        if result is out:
            result = out.copy()
        gain *= HEADROOM_GAIN
        crop = (slice(max(int(rows.min()) - margin, 0), int(rows.max()) + margin + 1),
                slice(max(int(cols.min()) - margin, 0), int(cols.max()) + margin + 1))
        crop_level = level / gain if np.ndim(level) == 0 else level[crop] / gain
        again = run((image[crop] - anchor) / np.float32(gain) + anchor, crop_level)
        blend = weight[crop]
        result[crop] = (1 - blend) * result[crop] + blend * (gain * (again - anchor) + anchor)
        scaled = np.full_like(out, 0.5)
        scaled[crop] = again
    return result


def run_volume(setup, module, volume, level, positions=None):
    """Step 3 for a (Z, H, W, C) volume: each plane through ``module``.

    The estimator's stack network sees each plane with its ``context_planes``
    neighbours, mirrored beyond the ends and shifted onto it by the integer translation
    between the planes (:mod:`sklearn_denoise._stack`); a network of single images (the
    correlated-noise expert) denoises the planes one by one. ``level`` is one level or a
    (Z, H, W, 1) map; ``positions`` the planes' (Z, 2) positions
    (:func:`~sklearn_denoise._stack.plane_positions`), read on ``volume`` when None.

    Returns
    -------
    out : ndarray of shape (Z, H, W, out_channels), float32
    """
    def level_of(z):
        return level if level is None or np.ndim(level) == 0 else level[z]

    planes = tqdm(range(len(volume)), desc="planes", unit="plane", leave=False,
                  disable=not setup.verbose or len(volume) < 2, file=sys.stderr)
    out = np.empty(volume.shape[:-1] + (setup.out_channels,), np.float32)
    if module is not setup.module or not setup.context_planes:
        for z in planes:
            out[z] = run_network(setup, module, volume[z], level_of(z))
        return out
    stack_module = StackInput(module)
    if positions is None:
        positions = plane_positions(volume)
    for z in planes:
        neighbours = neighbour_planes(volume, z, setup.context_planes, positions)
        window = np.concatenate([volume[z], *neighbours], axis=-1)
        out[z] = run_network(setup, stack_module, window, level_of(z))
    return out


def below_noise_floor(setup, noise, brightest):
    """Whether the decided ``noise`` of one pass is everywhere fainter than the weights'
    ``noise_floor`` (``brightest()``: the pass's largest normalised value, asked of
    Poisson-Gaussian noise only): a network trained on 8-bit
    photographs adds more error (tenths of a code, partly a pattern on its pooling grid)
    than such noise holds, which shows on smooth 16-bit images (a lossy-compressed CT
    slice read as noise-free). Speckle (multiplicative) and a network without a
    noise-level input are never below it. Decided once per image by :func:`read_noise`
    (``ImageDecision.below_floor``): tiles and dask chunks follow the whole image."""
    if setup.noise_floor <= 0 or noise is None or isinstance(noise, SpeckleNoise):
        return False
    if isinstance(noise, np.ndarray):
        return float(np.max(noise)) < setup.noise_floor
    if isinstance(noise, (GaussianNoise, RicianNoise)):
        return noise.sigma < setup.noise_floor
    return float(np.sqrt(noise.variance(brightest()))) < setup.noise_floor


def _denoise_pass(setup, x, noise, correlated, positions=None, below_floor=False):
    """Steps 2 and 3 for one pass on an image or a volume (its planes' ``positions``),
    the variance-stabilising transform undone; the pass itself where its noise is below
    the weights' floor (:func:`below_noise_floor`)."""
    if below_floor:
        return x.copy()
    network_pass = choose_network(setup, x, noise, correlated)
    if x.ndim == 4:
        out = run_volume(setup, network_pass.module, network_pass.image, network_pass.level,
                         positions)
    else:
        out = run_network(setup, network_pass.module, network_pass.image,
                          network_pass.level)
    if network_pass.undo is not None:
        return network_pass.undo(out)
    if network_pass.stabilized is None:
        return out
    to_unit, model = network_pass.stabilized
    return unstabilize(to_unit.invert(out), model).astype(x.dtype, copy=False)


# ---------------------------------------------------------------- 4. apply and undo
def denoise_decided(setup, image, n_channels, decision):
    """Step 4: denoise one (H, W, C) float image with its ``decision``: normalise, change
    colour space, run each channel pass (steps 2 and 3), and undo both.

    Returns
    -------
    out : ndarray of shape (H, W, C)
        On the input's scale, in its float dtype.
    """
    normalization = decision.normalization
    if normalization.flat:
        # the network's small response to a flat input (biases, borders) would be all
        # the output has, magnified by the dtype's scale for integer images
        return image.copy()
    if decision.below_floor and all(decision.below_floor):
        return image.copy()  # exactly, not through the normalisation and back
    x = normalization.apply(image)
    # a volume's planes are aligned once, on all its channels: every channel pass (the
    # opponent channels of colour) shifts its neighbours alike
    positions = plane_positions(x) if x.ndim == 4 and setup.context_planes else None
    below_floor = decision.below_floor or (False,) * len(decision.noise)
    passes = [(noise, correlated, positions, below)
              for noise, correlated, below in zip(decision.noise, decision.correlated,
                                                  below_floor)]
    if setup.channel_strategy == "opponent" and n_channels == 3:
        if isinstance(decision.noise[0], tuple):
            maps = _opponent_maps(x, decision.noise[0])
            passes = [(maps[..., c : c + 1], False, positions) for c in range(3)]
        x = to_opponent(x)
        out = from_opponent(np.concatenate(
            [_denoise_pass(setup, x[..., c : c + 1], *passes[c]) for c in range(3)],
            axis=-1,
        ))
    elif setup.channel_strategy == "opponent":
        out = np.concatenate(
            [_denoise_pass(setup, x[..., c : c + 1], *passes[c])
             for c in range(x.shape[-1])],
            axis=-1,
        )
    else:
        out = _denoise_pass(setup, x, *passes[0])
    # back in the input's precision before the inverse map (float64 reaches 1e308)
    return normalization.invert(out.astype(image.dtype, copy=False))


def _opponent_maps(rgb, noises):
    """Per-pixel noise maps of the three opponent channels (..., 3) from the noise of
    each colour plane of one normalised RGB image or volume."""
    variances = np.concatenate([
        np.full(rgb.shape[:-1] + (1,), noise.sigma**2, rgb.dtype)
        if isinstance(noise, GaussianNoise)
        else noise_level_map(rgb[..., c : c + 1], noise) ** 2
        for c, noise in enumerate(noises)
    ], axis=-1)
    return opponent_noise_maps(variances)


def denoise_image(setup, image, n_channels, data_scale, decision=None, *, dtype=None):
    """The four steps on one (H, W, C) float image (read from ``dtype``, None for floats);
    ``decision`` (from ``for_image``) replaces step 1."""
    if decision is None:
        decision = read_noise(setup, image, n_channels, data_scale, dtype=dtype)
    return denoise_decided(setup, image, n_channels, decision)
