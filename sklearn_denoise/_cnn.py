"""CNNDenoiser: a skorch-trained convolutional denoiser as a scikit-learn transformer."""

import os
import sys
from functools import partial

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNetRegressor
from skorch.callbacks import LRScheduler, ProgressBar
from tqdm.auto import tqdm

from ._base import DenoiserMixin, _one_image
from ._cnn_steps import denoise_image, inference_setup, read_noise
from ._color import opponent_noise_levels, to_opponent
from ._decision import pin_decision, pinned_decision
from ._inference import torch_device
from ._modules import add_context_planes, module_class, module_kwargs, receptive_radius
from ._normalize import check_normalize, fit_normalization
from ._param_checks import (
    FINE_TUNING_LR,
    LOSSES,
    Anything,
    Axes,
    Bool,
    Float,
    Int,
    Options,
    SelfEnsemble,
    Sigma,
    check_axes,
    check_choice,
    check_int,
    check_sigma,
    is_volume_axes,
    validate_params,
)
from ._sensor import (
    check_noise_model,
    estimate_gaussian_sigma,
)
from ._stack_training import StackPatches
from ._threads import resolve_threads, torch_threads
from ._tiling import make_contract, measured_radius
from ._training import (
    MASK_REPLACEMENTS,
    STRUCT_MASKS,
    FixedPatches,
    HeldOutSplit,
    PatchDataset,
    PixelLoss,
    PlainPrintLog,
    StopOnDivergence,
    cosine_schedule,
    plateau_schedule,
    progress_bars_shown,
    split_channels,
    validation_images,
    write_table_rows,
)
from ._validation import (
    dtype_scale,
    image_target,
    plane_view,
    restore_layout,
    validate_images,
)
from ._weights import (
    CONFIG_LIMITS,
    DENOISER_ARCHITECTURES,
    PARAM_LIMITS,
    check_config,
    load_expert,
    resolve_weights,
    save_weights,
)
from .noise import Degradation

_INFERENCE_PARAMS = ("axes", "sigma", "noise_model", "normalize", "self_ensemble",
                     "tile_size", "tile_overlap", "n_threads")
#: Neighbouring planes a stack network trained here from scratch or from 2-D
#: ``init_weights`` sees (2 on each side; the shipped one, trained longer, sees 6).
STACK_CONTEXT_PLANES = 4
_DEFAULTS = {
    "unet": {"depth": 4, "width": 16, "blocks": 2},
    "n2v2": {"depth": 4, "width": 16, "blocks": 1},
    "dncnn": {"depth": 17, "width": 64, "blocks": 1},
}
#: Largest learning rate: Adam moves every weight by up to about lr per step, so larger
#: rates only destroy the weights (and above about 1e37 overflow Adam's float32 state).
MAX_LR = 10.0
#: Self-supervised training with ``patches_per_image=None``: the patches of an epoch hold
#: this many times the training images' pixels (so that the default 10 epochs on one
#: 512x512 image, 5120 patches of 64x64, reach the blind-spot loss CAREamics reaches in
#: the same CPU time: bench_self_supervised.py).
SELF_SUPERVISED_COVERAGE = 8
#: Longest structN2V mask (``struct_mask_span``).
MAX_STRUCT_SPAN = 65

class CNNDenoiser(DenoiserMixin, TransformerMixin, BaseEstimator):
    """Convolutional denoiser trained with skorch, usable as a scikit-learn transformer.

    Three training modes, chosen by the arguments of ``fit`` / ``partial_fit``:

    - **supervised**: ``fit(X_noisy, X_clean)`` with ``y`` of ``X``'s shape;
    - **synthetic noise**: ``fit(X_clean)`` with ``train_sigma`` set: fresh Gaussian noise
      of that sigma (or of a sigma drawn uniformly from a ``(low, high)`` range, per patch)
      is added to every training patch (the DnCNN recipe);
    - **self-supervised**: ``fit(X_noisy)`` with ``train_sigma=None``: blind-spot training
      in the style of Noise2Void (N2V2: median replacement, the "n2v2" U-Net), for when no
      clean images exist; one noisy image is enough.

    A ``y`` that is not image-shaped (class labels in a classifier Pipeline) counts as
    absent. Passing clean images as ``y`` together with ``train_sigma`` is ambiguous and
    raises ValueError.

    Training draws ``patches_per_image`` random crops of ``patch_size`` (random flips and
    90-degree rotations) per image and epoch, seeded by ``random_state``.

    Parameters
    ----------
    architecture : {"unet", "n2v2", "dncnn"} or None, default=None
        "unet": multi-scale residual U-Net (cheap per pixel on CPU); "n2v2": the same
        levels and blocks for blind-spot training (N2V2, Hoeck et al. 2022: no global
        residual connection, which would pass each pixel's own noise through once it is
        no longer masked, max-blur-pool downsampling, bilinear upsampling, no skip
        connection at full resolution); "dncnn": DnCNN. None means "unet", "n2v2" for
        self-supervised training, or the architecture of ``init_weights`` when given.
    depth : int, default=None
        Levels of the U-Net (default 4, at most 8) or layers of DnCNN (default 17, 2 to
        64).
    width : int, default=None
        Feature channels of the first U-Net level (default 16) or of DnCNN (default 64),
        at most 512.
    blocks : int, default=None
        Residual blocks per U-Net level (default 2, at most 16; ignored by DnCNN). These
        three are the limits of the weight files (a network that could not be saved is
        refused by ``fit`` before anything is allocated).
    noise_level_input : bool or None, default=None
        Feed a noise-level map as an extra input channel (FFDNet/DRUNet style). The map
        holds the noise sigma of each training patch; at transform time it holds ``sigma``
        or, when that is None, the sigma estimated from each image, so the model stays
        blind: the noise of its most weakly textured 7x7 patches (Liu et al. 2013; the
        finest wavelet band, :func:`skimage.restoration.estimate_sigma`, also reads fine
        texture as noise), unless :func:`sklearn_denoise.noise.estimate_noise_level` finds
        at least 1.6 times the noise of the finest wavelet band and 3/255 more (noise
        fainter than that on the normalised scale: 2.5 to 20 times, and 1.5/255 more;
        :func:`sklearn_denoise._noise_level.looks_correlated`), i.e. spatially correlated
        noise, which that band sees a fraction of; then its level.
        None means False, or whatever ``init_weights`` use (the shipped models take a
        noise map).
    sigma : float, default=None
        Known white Gaussian noise level on the images' intensity scale (the [0, 1] scale,
        integers read on their dtype's range) for the noise-level map at transform time;
        None estimates the noise per image as ``noise_model`` says. Only used by models with
        a noise-level input. Models with a correlated-noise expert (``correlated_expert_``)
        still read from each image whether its noise is correlated.
    noise_model : str or NoiseModel, default="auto"
        One of "auto", "gaussian", "poisson-gaussian", "rician" and "speckle", or a
        NoiseModel. "rician" (MR magnitude images: its dark-region bias removed) and
        "speckle" (multiplicative noise, removed in the log domain) apply to
        single-channel images, with ``sigma`` too (the Rician level); see the user
        guide's "Medical noise".
        The noise assumed at transform time by models with a noise-level input (when
        ``sigma`` is None). "gaussian": white Gaussian noise of a level estimated per image.
        "poisson-gaussian": signal-dependent sensor noise whose gain, read noise and black
        level are estimated per image (:func:`sklearn_denoise.noise.estimate_noise_model`);
        weights trained on sensor noise (``train_noise="mixed"`` or ``"realistic"``, the
        shipped ones among them) take the per-pixel noise-level map
        ``sqrt(gain * signal + read_noise^2)``, the others go through the generalised
        Anscombe transform, the network, and the exact unbiased inverse. "auto":
        Poisson-Gaussian when the estimated noise variance grows markedly with the signal
        (at least 3x from the darkest to the brightest percent of the image) and the noise
        is not spatially correlated (see ``noise_level_input``), Gaussian otherwise. A
        :class:`~sklearn_denoise.noise.NoiseModel`: known parameters, in the data units of
        ``X`` (raw counts for integer images). Multi-channel images use the Gaussian
        model, except RGB through ``channel_strategy="opponent"`` with weights that take
        per-pixel maps (the "color" model): one map per opponent channel.
    normalize : {"auto", "percentile", "none"} or bool, default="auto"
        Map each image onto [0, 1] by its 0.1 % and 99.9 % percentiles before the network
        (trained on [0, 1] images) and back afterwards; ``sigma`` and noise models are
        mapped alike. "auto" maps only images not already on about [0, 1] (16-bit counts
        filling a small part of the range, floats on [0, 255], negative offsets, ...);
        "percentile" (or True) always maps; "none" (or False) never does. ``fit`` and
        ``partial_fit`` map each training image by the same rule, fitted on the network's
        input (the noisy image; the clean one with ``train_sigma``) and applied to its
        target too, so counts and floats on any scale train as stored; ``train_sigma`` is
        then on that mapped scale.
    train_sigma : float or (float, float), default=None
        Synthetic-noise training: the Gaussian noise sigma, or a range it is drawn from.
    train_noise : {"gaussian", "mixed", "realistic"} or Degradation, default="gaussian"
        Synthetic-noise training: "gaussian" adds white Gaussian noise (``train_sigma``) to
        every patch; "mixed" does so for half of the patches and gives the other half
        Poisson-Gaussian sensor noise (photons at white drawn log-uniformly from [2, 1000],
        read noise uniformly from [0, 5] photo-electrons), normalised as at transform time
        and with a per-pixel noise-level map, so one model serves both kinds of noise.
        "mixed" needs a single-channel model with a noise-level input. A model trained so
        (``weights_metadata_["train_noise"] == "mixed"``) takes Poisson-Gaussian noise
        directly through its per-pixel noise map at transform time, without the
        variance-stabilising transform. "realistic" draws every patch's degradation from
        :class:`sklearn_denoise.noise.Degradation` (white, Poisson-Gaussian or spatially
        correlated noise, sometimes with JPEG compression; the Gaussian levels from
        ``train_sigma``) with its noise-level map; it needs the same kind of model, which
        then also takes sensor noise through its noise map. A
        :class:`~sklearn_denoise.noise.Degradation` instance trains like "realistic" with
        its own mixture (``Degradation(weights=(0.6, 0.2, 0.2))`` for more white noise);
        its ``sigma_range`` then replaces ``train_sigma``.
    channel_strategy : {"joint", "opponent"}, default="joint"
        "joint": the network sees all channels. "opponent": a 1-channel network denoises
        each channel of RGB images in a decorrelated colour space (mean and two chroma
        differences), which lets a grayscale model denoise colour images.
    patch_size : int, default=64
        Side of the training crops (capped by the smallest training image), at most 4096.
    patches_per_image : int or None, default=None
        Crops drawn from each image per epoch, at most 100,000. None: 8, and in
        self-supervised training enough crops to hold every image's pixels 8 times (at
        least 8), so that an epoch of one 512x512 image is 512 crops of 64x64 and the
        default 10 epochs take about 2 minutes on one core.
    batch_size : int, default=16
        Training batch size, at most 4096. Inference runs one image (or tile) at a time,
        so results never depend on which other images are in ``X``.
    lr : float, default=1e-3
        Initial Adam learning rate, in (0, 10]. Each ``fit``/``partial_fit`` call starts
        from the current value, so ``set_params(lr=...)`` then ``partial_fit`` fine-tunes
        at a new rate. Training that diverges (the loss of a training batch becomes
        infinite or NaN, typically from too high a rate) stops with a ValueError naming
        ``lr`` instead of leaving NaN weights behind silently.
    max_epochs : int, default=10
        Epochs of ``fit``, and the length of the cosine schedule. 0 makes ``fit`` load
        ``init_weights`` (or initialise) and train nothing; :meth:`pretrained` and
        :meth:`load` return denoisers with ``max_epochs=0``, so that the clones that
        ``GridSearchCV`` or ``cross_validate`` refit keep the loaded weights.
    lr_schedule : {"cosine", "plateau", "constant"}, default="cosine"
        "cosine": a skorch ``LRScheduler`` (``LambdaLR``) sets the rate of epoch ``e`` to
        ``lr * (0.01 + 0.99 * (1 + cos(pi * (e % max_epochs) / max_epochs)) / 2)``,
        where ``e`` counts the epochs since ``fit`` (or since loading), over ``fit`` and
        ``partial_fit`` calls alike: ``partial_fit`` continues the curve where the last
        call stopped, and once a cycle of ``max_epochs`` epochs is complete (after
        ``fit``, for example) the next epoch starts a new cycle at ``lr`` (a warm
        restart). A model loaded with :meth:`load` or :meth:`pretrained` starts at
        ``e = 0``, so repeated ``partial_fit(epochs=1)`` calls fine-tune with a full cosine
        over ``max_epochs`` calls. The rate of each epoch is in
        ``history_[:, "event_lr"]``. "plateau": skorch's ``LRScheduler`` over
        ``ReduceLROnPlateau``, as CAREamics schedules: the rate is halved after 2 epochs
        without a new best ``valid_loss`` (``train_loss`` without validation).
        "constant": ``lr`` throughout. A skorch ``LRScheduler`` in ``callbacks``
        replaces either.
    loss : {"mse", "l1", "psnr"}, default="mse"
        Training loss (the skorch ``criterion``). "mse": mean squared error. "l1": mean
        absolute error. "psnr": minus the mean PSNR of the training patches, i.e. the mean
        of ``10 log10(MSE_patch + (1/255)**2)``, which weighs every patch by the inverse of
        its own error, so that lightly noisy patches count as much as heavily noisy ones
        (the average PSNR a benchmark reports weighs them so). Takes effect at the next
        ``fit`` or ``partial_fit`` call, so ``set_params(loss="mse")`` after training
        with "l1" continues with the squared error. Self-supervised training applies it
        to the masked pixels only.
    mask_ratio : float, default=0.02
        Fraction of pixels masked per patch in self-supervised training (at least one
        pixel per patch); only they count in the loss. CAREamics uses 0.002; with our
        batches of 16 the larger fraction learns faster per CPU second (see the
        benchmarks' "Self-supervised training").
    mask_replacement : {"median", "random"} or None, default=None
        What a masked pixel's value becomes: the median of its 24 neighbours in a 5x5
        window, itself left out (N2V2), or the value of one of them drawn at random
        (Noise2Void). Neighbours beyond the patch's edge are taken on the pixel's other
        side; the pixel's own value is never used. None: "median" for the "n2v2"
        network, "random" for "unet" and "dncnn" (self-supervised fine-tuning of the
        shipped weights, for example): their global residual connection starts the
        output from the input, and with the smooth median there the network learns to
        keep its input (4 noisy 96x96 images at sigma 25: 19.1 dB, under the noisy
        20.2 dB; random: 26.1 dB; "n2v2" with the median: 27.7 dB).
    struct_mask : {"row", "column"} or None, default=None
        structN2V (Broaddus et al. 2020), for noise correlated along rows or columns
        (streaks of line-scanning or column-readout sensors), which a blind spot of one
        pixel cannot hide: the neighbours of each masked pixel along its row ("row") or
        column ("column"), ``struct_mask_span`` pixels in all, are replaced by values of
        random pixels of the patch, so the network cannot read the masked pixel's noise
        from them. None: pixel-wise blind spots (the noise is assumed independent from
        pixel to pixel).
    struct_mask_span : int, default=5
        Pixels of the structN2V line, the masked pixel included, from 2 to 65.
    init_weights : str or path, default=None
        Start from these weights: a pretrained model name (see
        :func:`sklearn_denoise.available_models`) or a file written by :meth:`save`.
        ``fit`` always restarts from them, so clones in a grid search fine-tune from the
        same start.
    callbacks : list of skorch callbacks, default=None
        Passed to the skorch net (``EarlyStopping()``, ``Checkpoint()``,
        ``LoadInitState``, ``LRScheduler``, ...); with a validation split their defaults
        (monitoring ``valid_loss``) work as they do on any skorch net. ``Checkpoint`` saves
        the module's weights (``module_``, the U-Net or DnCNN itself) and
        ``LoadInitState`` restores them with ``torch.load(weights_only=True)``.
    validation_fraction : float, default=0.1
        Fraction of the training images held out (at least one, chosen once per fit by
        ``random_state``) whose patches give skorch's ``valid_loss`` after every epoch;
        their patches are drawn once, with a fixed seed, so that the loss of every epoch
        is measured on the same data. 0 trains on every image with no validation. A
        single training image trains whole; in self-supervised training its
        ``valid_loss`` is then the blind-spot loss of fixed masked patches of the image
        itself (this fraction of an epoch's patches, at least one batch), as CAREamics
        validates, and without validation otherwise.
    tile_size : int, default=576
        Images with a side longer than this are denoised in tiles of at most this side
        (near-equal tiles on the network's downsampling grid), each extended on every side
        by ``tile_overlap`` pixels of context; tiles are never smaller than twice that
        overlap (512 pixels for weights whose 256-pixel receptive radius is used), so the
        context costs at most four times the tile itself. All tiles of an image have the
        same window size (so their activation buffers are reused from tile to tile), and
        on CPU the large buffers stay allocated while the image is denoised instead of
        being mapped afresh for every layer; large images then run about as fast per pixel
        as small ones. 576 keeps a 4096x4096 gray image well under 1 GiB of peak memory
        with the shipped models' 96-pixel overlap (windows of 704 pixels); 640 peaked at
        891 MiB there (windows of 784 pixels), too close to the budget, and with the
        64-pixel overlap used before 2026-12-07, 768 peaked at 850 to 1060 MiB from run
        to run (see "Large images" in the benchmarks).
    tile_overlap : int, default=None
        Pixels of context around each tile (see :meth:`spatial_contract`), rounded up to
        the downsampling multiple. None: the effective receptive radius measured for the
        shipped weights (96 pixels; tiled and untiled inference then differ by about
        1e-5 on [0, 1], at most 1e-4), and the theoretical receptive radius (the untiled
        result up to float rounding) for weights that were not measured, such as trained
        ones.
    self_ensemble : {1, 2, 4, 8}, default=1
        Test-time self-ensemble: denoise each image this many times, mirrored and turned
        (2: also mirrored left-right; 4: also turned half-way and mirrored top-bottom;
        8: all eight symmetries of the square), turn each result back and average them.
        Costs that many network passes per image and leaves training alone. With the
        shipped gray model on Set12 it adds about 0.05 dB PSNR at 2 passes and 0.10 at 8
        (see "Self-ensemble" in the benchmarks history).
    device : {"cpu", "cuda", "auto"}, default="cpu"
        Torch device; "auto" picks CUDA when available.
    n_threads : int, default=None
        CPU threads torch uses in ``fit``, ``partial_fit``, ``transform`` and
        ``for_image``, set for the call and restored afterwards (torch's process-wide
        setting is left as the caller had it). None, in ``transform`` and ``for_image``:
        the cores other processes leave idle, measured at each call, between 1 and
        torch's own setting, which honours ``OMP_NUM_THREADS``,
        :func:`threadpoolctl.threadpool_limits` and joblib's workers (so
        ``GridSearchCV(n_jobs=2)`` does not oversubscribe the cores): a network's threads
        wait for each other at every layer (on 2 cores with one busy, the blind call on a
        256x256 image took 2.78 times its idle time with torch's 2 threads, 1.78 with this
        rule: "Threads on a busy machine" in the benchmarks); the output does not depend
        on the count. None, in ``fit`` and ``partial_fit``: torch's own
        setting, because the sums of the gradients do depend on the count, and the same
        seed gives the same weights only with the same count; set ``n_threads=1`` to train
        on a busy machine. ``sklearn-denoise --threads`` sets it.
    image_shape : tuple of int, default=None
        Shape of each image when ``X`` is 2-D ``(n, n_features)`` flattened images. If
        None, a 2-D ``X`` with both sides at least 32 is one image.
    axes : {"YX", "YXC", "ZYX", "TYX", "ZYXC", "TYXC"}, default="YX"
        Axes of each image, in the letters of tifffile and CAREamics: "YX" takes every
        layout of the image convention, "YXC" requires a channel axis. A 3-D ``axes``
        takes volumes or sequences, ``X`` of shape ``(n, Z, H, W[, C])`` or a list of
        ``(Z, H, W[, C])`` arrays, with a stack network, which denoises each plane seeing
        its neighbours (aligned onto it): the shipped one is
        ``CNNDenoiser.pretrained("gray", axes="ZYX")`` (see :meth:`pretrained`); ``fit``
        with a 3-D ``axes`` trains one (a U-Net seeing 4 neighbouring planes, from
        2-D ``init_weights`` widened with zero weights for the neighbours, or from
        scratch) in every training mode, on patches of one plane with the same crop of
        its neighbours (the blind-spot mask on the plane only). "Z" and "T" are treated
        alike.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, patches, noise and masks. Same seed on CPU, same
        weights.
    verbose : int, default=0
        0 is silent; 1 prints skorch's epoch table and a progress bar per epoch, and a
        progress bar over the images of ``transform`` (for more than one image). The
        per-epoch bars are shown on a terminal or in a notebook only, not when stderr
        goes to a file, and the table's rows are written between bar updates
        (``tqdm.write``), so a log holds whole lines in order.

    Attributes
    ----------
    net_ : skorch.NeuralNetRegressor
        The trained skorch net; ``net_.module_`` is the torch module (U-Net or DnCNN),
        built from the module class with ``module__`` parameters.
    history_ : skorch.History
        Per-epoch training record (``train_loss``, ``valid_loss``, ``event_lr``,
        ``dur``); grows with ``partial_fit``.
    config_ : dict
        Module configuration (architecture, channels, depth, width, blocks,
        noise_level_input).
    n_channels_in_ : int
        Channels of the images seen in fit.
    n_features_in_ : int
        Features seen in fit; only set for 2-D ``X``.
    training_mode_ : str
        "supervised", "synthetic" or "self_supervised".
    n_partial_fit_calls_ : int
        Number of ``partial_fit`` calls since the last ``fit``.
    weights_metadata_ : dict
        Training record of ``init_weights`` (data, recipe, commit, ...), empty when
        training started from scratch.
    correlated_expert_ : torch.nn.Module or None
        A second network of the same architecture, trained on spatially correlated noise,
        that ``transform`` runs instead of ``net_.module_`` on images whose noise is
        Gaussian and correlated (:func:`sklearn_denoise.noise.estimate_noise_level` finds
        at least 1.6 times the noise of the finest wavelet band and 3/255 more, or 2.5 to
        20 times and 1.5/255 more: ``noise_level_input``). Shipped
        with the pretrained models (``weights_metadata_["correlated_expert"]``); None
        otherwise, and dropped by any training: it was trained next to the shipped
        weights, not next to fine-tuned ones.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_denoise import CNNDenoiser
    >>> from sklearn_denoise.noise import gaussian
    >>> rng = np.random.RandomState(0)
    >>> X_clean = rng.uniform(size=(4, 32, 32)).astype(np.float32)
    >>> den = CNNDenoiser(width=4, depth=2, max_epochs=1, train_sigma=0.1, random_state=0)
    >>> den.fit(X_clean).transform(gaussian(X_clean, 0.1, random_state=0)).shape
    (4, 32, 32)
    """

    def __init__(
        self,
        architecture=None,
        *,
        depth=None,
        width=None,
        blocks=None,
        noise_level_input=None,
        sigma=None,
        noise_model="auto",
        normalize="auto",
        train_sigma=None,
        train_noise="gaussian",
        channel_strategy="joint",
        patch_size=64,
        patches_per_image=None,
        batch_size=16,
        lr=1e-3,
        max_epochs=10,
        lr_schedule="cosine",
        loss="mse",
        mask_ratio=0.02,
        mask_replacement=None,
        struct_mask=None,
        struct_mask_span=5,
        init_weights=None,
        callbacks=None,
        validation_fraction=0.1,
        tile_size=576,
        tile_overlap=None,
        self_ensemble=1,
        device="cpu",
        n_threads=None,
        image_shape=None,
        axes="YX",
        random_state=None,
        verbose=0,
    ):
        self.architecture = architecture
        self.depth = depth
        self.width = width
        self.blocks = blocks
        self.noise_level_input = noise_level_input
        self.sigma = sigma
        self.noise_model = noise_model
        self.normalize = normalize
        self.train_sigma = train_sigma
        self.train_noise = train_noise
        self.channel_strategy = channel_strategy
        self.patch_size = patch_size
        self.patches_per_image = patches_per_image
        self.batch_size = batch_size
        self.lr = lr
        self.max_epochs = max_epochs
        self.lr_schedule = lr_schedule
        self.loss = loss
        self.mask_ratio = mask_ratio
        self.mask_replacement = mask_replacement
        self.struct_mask = struct_mask
        self.struct_mask_span = struct_mask_span
        self.init_weights = init_weights
        self.callbacks = callbacks
        self.validation_fraction = validation_fraction
        self.tile_size = tile_size
        self.tile_overlap = tile_overlap
        self.self_ensemble = self_ensemble
        self.device = device
        self.n_threads = n_threads
        self.image_shape = image_shape
        self.axes = axes
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ validation
    _parameter_constraints = {
        "architecture": Options("unet", "n2v2", "dncnn", allow_none=True),
        # the bounds of the weight files (_weights.CONFIG_LIMITS, PARAM_LIMITS): checked
        # in fit before anything is allocated
        "depth": Int(1, allow_none=True, maximum=PARAM_LIMITS["depth"][1]),
        "width": Int(1, allow_none=True, maximum=CONFIG_LIMITS["width"][1]),
        "blocks": Int(1, allow_none=True, maximum=CONFIG_LIMITS["blocks"][1]),
        "noise_level_input": Bool(allow_none=True),
        "sigma": Sigma(),
        "noise_model": lambda value, name: check_noise_model(value, name),
        "normalize": lambda value, name: check_normalize(value),
        "train_sigma": lambda value, name: _check_train_sigma(value),
        "train_noise": lambda value, name: _check_train_noise(value),
        "channel_strategy": Options("joint", "opponent"),
        "patch_size": Int(1, maximum=PARAM_LIMITS["patch_size"][1]),
        "patches_per_image": Int(1, allow_none=True,
                                 maximum=PARAM_LIMITS["patches_per_image"][1]),
        "batch_size": Int(1, maximum=PARAM_LIMITS["batch_size"][1]),
        "lr": Float(0, MAX_LR, low_inclusive=False),
        "max_epochs": Int(0, maximum=PARAM_LIMITS["max_epochs"][1]),
        "lr_schedule": Options("cosine", "plateau", "constant"),
        "loss": Options(*LOSSES),
        "mask_ratio": Float(0, 1, low_inclusive=False, high_inclusive=False),
        "mask_replacement": Options(*MASK_REPLACEMENTS, allow_none=True),
        "struct_mask": Options(*STRUCT_MASKS, allow_none=True),
        "struct_mask_span": Int(2, maximum=MAX_STRUCT_SPAN),
        "init_weights": Anything,
        "callbacks": lambda value, name: _check_callbacks(value),
        "validation_fraction": Float(0, 1, high_inclusive=False),
        "tile_size": Int(16),
        "tile_overlap": Int(0, allow_none=True),
        "self_ensemble": SelfEnsemble(),
        "device": Options("cpu", "cuda", "auto"),
        "n_threads": Int(1, allow_none=True),
        "image_shape": Anything,
        "axes": Axes(),
        "random_state": Anything,
        "verbose": Int(0),
    }

    def _check_params(self):
        """The constraints table, and the rules that tie parameters together."""
        validate_params(self)
        if self.architecture == "dncnn" and self.depth is not None and self.depth < 2:
            raise ValueError(f"depth must be >= 2 for DnCNN, got {self.depth}.")

    def _train_sigma_range(self):
        if isinstance(self.train_noise, Degradation):
            return tuple(self.train_noise.sigma_range)
        return _check_train_sigma(self.train_sigma)

    def network_config(self, n_channels, self_supervised=False):
        """The network that ``fit`` builds for ``n_channels``-channel images.

        The parameters are validated and the configuration is checked against the limits
        of the weight-file format (a network that could not be saved is refused before
        any training), e.g. by the command line before a long run.

        Parameters
        ----------
        n_channels : int
            Channels of the training images.
        self_supervised : bool, default=False
            Whether ``fit`` will be given noisy images alone (``architecture=None`` then
            builds the blind-spot U-Net, "n2v2").

        Returns
        -------
        config : dict
            ``architecture``, ``channels``, ``depth``, ``width``, ``blocks`` and
            ``noise_level_input``.

        Raises
        ------
        ValueError, TypeError
            If a parameter is invalid or the network is outside the weight-file limits.
        """
        from ._weights import check_config

        self._check_params()
        mode = "self_supervised" if self_supervised else None
        return check_config(self._resolve_config(n_channels, mode)[0],
                            source="the network options")

    def _resolve_config(self, n_channels, mode=None):
        """Module configuration from the parameters and, if any, ``init_weights``;
        ``architecture=None`` builds the blind-spot U-Net for self-supervised training."""
        module_channels = 1 if self.channel_strategy == "opponent" else n_channels
        if self.channel_strategy == "opponent" and n_channels not in (1, 3):
            raise ValueError(
                f"channel_strategy='opponent' needs 1- or 3-channel images, got {n_channels}."
            )
        state = metadata = None
        if self.init_weights is not None:
            config, state, metadata, entry = resolve_weights(self.init_weights)
            # what was measured next to the shipped weights: their expert, their floor
            metadata = {**metadata, **{key: entry[key] for key in
                                       ("correlated_expert", "noise_floor") if key in entry}}
            if config["architecture"] not in DENOISER_ARCHITECTURES:
                raise ValueError(
                    f"init_weights {self.init_weights!r} hold a {config['architecture']!r} "
                    f"network, not a denoiser (one of {list(DENOISER_ARCHITECTURES)})."
                )
            volume = is_volume_axes(check_axes(self.axes))
            if volume and not config.get("context_planes"):
                # today's 2-D weights seeing neighbours: zero weights for them at first
                state = add_context_planes(state, STACK_CONTEXT_PLANES)
                config = {**config, "context_planes": STACK_CONTEXT_PLANES}
            _check_network_axes(config, self.axes, f"init_weights {self.init_weights!r}")
            for key in ("architecture", "depth", "width", "blocks"):
                ours = getattr(self, key)
                if ours is not None and ours != config[key]:
                    raise ValueError(
                        f"{key}={ours!r} does not match init_weights ({key}={config[key]!r}); "
                        f"leave {key}=None to take it from the weights."
                    )
            if (self.noise_level_input is not None
                    and bool(self.noise_level_input) != config["noise_level_input"]):
                raise ValueError(
                    f"noise_level_input={self.noise_level_input} does not match init_weights "
                    f"(noise_level_input={config['noise_level_input']})."
                )
            if config["channels"] != module_channels:
                raise ValueError(
                    f"init_weights is a {config['channels']}-channel model but the network "
                    f"needs {module_channels} channel(s) for these images; use "
                    "channel_strategy='opponent' to apply a grayscale model to RGB images."
                )
            return dict(config), state, metadata
        volume = is_volume_axes(check_axes(self.axes))
        # the blind-spot U-Net sees single planes: volumes train the stack network
        arch = self.architecture or (
            "n2v2" if mode == "self_supervised" and not volume else "unet")
        defaults = _DEFAULTS[arch]
        config = {
            "architecture": arch,
            "channels": module_channels,
            "depth": self.depth if self.depth is not None else defaults["depth"],
            "width": self.width if self.width is not None else defaults["width"],
            "blocks": self.blocks if self.blocks is not None else defaults["blocks"],
            "noise_level_input": bool(self.noise_level_input),
        }
        if volume:
            if arch != "unet":
                raise ValueError(
                    f"axes={self.axes!r} trains a stack network, a U-Net; "
                    f"architecture={arch!r} denoises single images."
                )
            config["context_planes"] = STACK_CONTEXT_PLANES
        return config, None, None

    # ------------------------------------------------------------------ training
    def _prepare_training(self, X, y, *, reset):
        images, layout = validate_images(self, X, reset=reset)
        targets = image_target(X, y, layout)
        sigma_range = self._train_sigma_range()
        if targets is not None and sigma_range is not None:
            raise ValueError(
                "Ambiguous training data: y holds clean images (supervised pairs) but "
                "train_sigma (or a Degradation as train_noise) is also set (synthetic noise "
                "on clean X). Pass y=None to add "
                "synthetic noise to X, or train_sigma=None to train on the (X, y) pairs."
            )
        if targets is not None:
            mode = "supervised"
        elif sigma_range is not None:
            mode = "synthetic"
        else:
            mode = "self_supervised"
        images, targets = self._normalize_training(images, targets, layout.dtype)
        noise_scales = None
        if self.channel_strategy == "opponent":
            if layout.n_channels == 3:
                images = [to_opponent(img) for img in images]
                targets = [to_opponent(t) for t in targets] if targets is not None else None
                # RGB noise of sigma s becomes s * ||row|| in each opponent channel
                noise_scales = list(opponent_noise_levels(1.0)) * len(images)
            images = split_channels(images)
            targets = split_channels(targets) if targets is not None else None
        else:
            images = list(images)
            targets = list(targets) if targets is not None else None
        images = [img.astype(np.float32, copy=False) for img in images]
        if targets is not None:
            targets = [t.astype(np.float32, copy=False) for t in targets]
        return images, targets, layout, mode, noise_scales

    def _normalize_training(self, images, targets, dtype):
        """Each training image (and its target) mapped by the rule ``transform`` applies
        to it (``normalize``; ``dtype``: the dtype they were read from), fitted on the
        image the network is given."""
        mode = check_normalize(self.normalize)
        mapped_images, mapped_targets = [], []
        for k, image in enumerate(images):
            normalization = fit_normalization(image, mode, dtype=dtype)
            mapped_images.append(normalization.apply(image))
            if targets is not None:
                mapped_targets.append(normalization.apply(targets[k]))
        if isinstance(images, np.ndarray):
            mapped_images = np.stack(mapped_images)
            mapped_targets = np.stack(mapped_targets) if targets is not None else None
        return mapped_images, (mapped_targets if targets is not None else None)

    def _noise_map_sigmas(self, images, targets, mode):
        """Per-image sigma for the noise-level map (synthetic mode draws it per patch)."""
        if not self.config_["noise_level_input"] or mode == "synthetic":
            return None
        if mode == "supervised":
            return [float(np.std(x - t)) for x, t in zip(images, targets)]
        return [estimate_gaussian_sigma(plane_view(img)) for img in images]

    def _n_patches(self, images, mode):
        """Patches per epoch: ``patches_per_image`` per image, or by default 8 per image,
        and in self-supervised training enough to cover every pixel of the training
        images ``SELF_SUPERVISED_COVERAGE`` times (an image of 512x512 pixels gives 512
        patches of 64x64)."""
        if self.patches_per_image is not None:
            return self.patches_per_image * len(images)
        n_patches = 8 * len(images)
        if mode == "self_supervised":
            side = self.patch_size
            # patches per image that hold as many pixels as the image (a volume's
            # (Z, H, W, C): as many as all its planes)
            areas = sum(planes * h * w / (min(side, h) * min(side, w))
                        for planes, h, w in ((img.shape[0] if img.ndim == 4 else 1,
                                              *img.shape[-3:-1]) for img in images))
            n_patches = max(n_patches, int(np.ceil(SELF_SUPERVISED_COVERAGE * areas)))
        return min(n_patches, PARAM_LIMITS["patches_per_image"][1] * len(images))

    def _mask_replacement(self):
        """``mask_replacement``, or by default "median" for the blind-spot U-Net and
        "random" for the networks with a global residual connection."""
        if self.mask_replacement is not None:
            return self.mask_replacement
        return "median" if self.config_["architecture"] == "n2v2" else "random"

    def _make_dataset(self, images, targets, mode, seed, noise_scales, n_patches=None):
        if images and images[0].ndim == 4:  # volumes: a plane and its neighbours
            dataset = partial(StackPatches, context_planes=self.config_["context_planes"])
        else:
            dataset = PatchDataset
        return dataset(
            images, targets, mode=mode, patch_size=self.patch_size,
            n_patches=self._n_patches(images, mode) if n_patches is None else n_patches,
            sigma_range=self._train_sigma_range(),
            noise_level_input=self.config_["noise_level_input"],
            sigmas=self._noise_map_sigmas(images, targets, mode),
            mask_ratio=self.mask_ratio, mask_replacement=self._mask_replacement(),
            struct_mask=self.struct_mask, struct_span=self.struct_mask_span,
            seed=seed, noise_scales=noise_scales,
            train_noise=self._train_noise_kind() if mode == "synthetic" else "gaussian",
            degradation=self._degradation(),
        )

    def _initialize(self, n_channels, mode, config=None):
        if config is None:
            config, state, metadata = self._resolve_config(n_channels, mode)
            # the weight files' limits, before the network is allocated
            config = check_config(config, source="the network options")
        else:  # a checkpoint's own (checked) configuration; its weights come after
            config, state, metadata = dict(config), None, None
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        # the user's first: a LoadInitState restores the history before the schedule
        # starts from its length
        callbacks = list(self.callbacks or [])
        user_scheduler = any(isinstance(cb[1] if isinstance(cb, tuple) else cb, LRScheduler)
                             for cb in callbacks)
        if self.lr_schedule == "cosine" and not user_scheduler:
            callbacks.append(("lr_scheduler", cosine_schedule(self.max_epochs)))
        elif self.lr_schedule == "plateau" and not user_scheduler:
            callbacks.append(("lr_scheduler", plateau_schedule()))
        callbacks.append(("stop_on_divergence", StopOnDivergence()))
        if self.verbose and progress_bars_shown():
            callbacks.append(("progress_bar", ProgressBar()))
        net = NeuralNetRegressor(
            module_class(config["architecture"]),
            **{f"module__{key}": value for key, value in module_kwargs(config).items()},
            criterion=PixelLoss,
            criterion__kind=self.loss,
            criterion__masked=mode == "self_supervised",
            optimizer=torch.optim.Adam,
            lr=self.lr,
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            train_split=None,
            iterator_train__shuffle=True,
            iterator_train__generator=torch.Generator(),
            callbacks=callbacks,
            callbacks__print_log=PlainPrintLog(sink=write_table_rows),
            device=torch_device(self.device),
            verbose=int(self.verbose),
        )
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            net.initialize()
        if state is not None:
            try:
                net.module_.load_state_dict(state)
            except RuntimeError as exc:
                raise ValueError(
                    f"init_weights do not fit the module they describe: {exc}"
                ) from exc
        self.net_ = net
        self.history_ = net.history
        self.config_ = config
        self.training_mode_ = mode
        self.weights_metadata_ = metadata or {}
        self.correlated_expert_ = self._load_correlated_expert()
        self._seed = seed
        self.n_partial_fit_calls_ = 0

    def _train(self, images, targets, mode, noise_scales, *, epochs, seed):
        masked = mode == "self_supervised"
        criterion = self.net_.criterion_
        if (criterion.kind, criterion.masked) != (self.loss, masked):
            # skorch rebuilds the optimizer with the criterion; its state (Adam's moments,
            # step counts) carries over, as for any partial_fit
            optimizer_state = self.net_.optimizer_.state_dict()
            self.net_.set_params(criterion__kind=self.loss, criterion__masked=masked)
            self.net_.optimizer_.load_state_dict(optimizer_state)
        self.training_mode_ = mode
        if epochs == 0:
            return
        # the expert was trained, and the floor measured, next to the weights as shipped,
        # not next to new ones
        self.correlated_expert_ = None
        self.weights_metadata_.pop("correlated_expert", None)
        self.weights_metadata_.pop("noise_floor", None)
        if mode == "synthetic" and self._train_noise_kind() != "gaussian" and (
                not self.config_["noise_level_input"] or self.config_["channels"] != 1):
            raise ValueError(
                f"train_noise={self._train_noise_kind()!r} needs a single-channel model with a "
                "noise-level input (noise_level_input=True, grayscale images or "
                "channel_strategy='opponent')."
            )
        # skorch sets the optimizer's rate in place; a scheduler (re)started at
        # len(history) takes its base from "initial_lr", as torch schedulers do on resume
        self.net_.set_params(lr=float(self.lr))
        for group in self.net_.optimizer_.param_groups:
            group["initial_lr"] = float(self.lr)
        self.net_.set_params(train_split=self._validation_split(
            images, targets, mode, noise_scales, seed))
        keep = self._training_images(len(images))
        train_images = [images[i] for i in keep]
        train_targets = [targets[i] for i in keep] if targets is not None else None
        train_scales = [noise_scales[i] for i in keep] if noise_scales is not None else None
        dataset = self._make_dataset(train_images, train_targets, mode, seed, train_scales)
        self.net_.iterator_train__generator.manual_seed(seed)
        self.net_.partial_fit(dataset, None, epochs=epochs)
        self.history_ = self.net_.history  # a LoadInitState callback replaces it

    def _held_out(self, n_images):
        """Indices of the validation images (the same on every call after a fit)."""
        return validation_images(n_images, float(self.validation_fraction), self._seed)

    def _training_images(self, n_images):
        held_out = set(self._held_out(n_images).tolist())
        return [i for i in range(n_images) if i not in held_out]

    def _validation_split(self, images, targets, mode, noise_scales, seed):
        """skorch ``train_split`` giving the held-out images' fixed patches, or None."""
        held_out = self._held_out(len(images))
        if held_out.size == 0 and mode == "self_supervised" and self.validation_fraction > 0:
            # a single noisy image: fixed masked patches of the image itself (as CAREamics
            # does), whose blind-spot loss ranks denoisers of it without ground truth
            n_valid = max(self.batch_size, int(np.ceil(
                float(self.validation_fraction) * self._n_patches(images, mode))))
            return HeldOutSplit(FixedPatches(self._make_dataset(
                images, None, mode, self._seed + 1, noise_scales, n_patches=n_valid)))
        if held_out.size == 0:
            return None
        dataset = self._make_dataset(
            [images[i] for i in held_out],
            [targets[i] for i in held_out] if targets is not None else None,
            mode, self._seed + 1,
            [noise_scales[i] for i in held_out] if noise_scales is not None else None,
        )
        return HeldOutSplit(FixedPatches(dataset))

    def fit(self, X, y=None):
        """Train from scratch, or from ``init_weights``, for ``max_epochs`` epochs.

        Parameters
        ----------
        X : array-like or list of array-like
            Noisy images (supervised, self-supervised) or clean images (with
            ``train_sigma``), laid out as in the image convention.
        y : array-like of X's shape, default=None
            Clean images for supervised training; None or 1-D labels otherwise.

        Returns
        -------
        self : object
            Fitted denoiser.
        """
        self._check_params()
        # training keeps torch's own count unless told: gradient sums depend on it, and
        # the same seed must give the same weights whatever the machine's load
        with torch_threads(self.n_threads):
            images, targets, _, mode, scales = self._prepare_training(X, y, reset=True)
            self._initialize(self.n_channels_in_, mode)
            self._train(images, targets, mode, scales, epochs=self.max_epochs,
                        seed=self._seed)
        return self

    def partial_fit(self, X, y=None, *, epochs=1):
        """Continue training on ``X`` (and ``y``) for ``epochs`` epochs.

        The first call initialises (from ``init_weights`` if given); later calls keep the
        weights, the optimizer state and the position on the learning-rate schedule (see
        ``lr_schedule``), start from the current ``lr`` and reject images with a
        different channel count. The validation images are the same on every call with
        the same ``X``.

        Parameters
        ----------
        X : array-like or list of array-like
            Training images, as in :meth:`fit`.
        y : array-like of X's shape, default=None
            Clean images for supervised training.
        epochs : int, default=1
            Passes of ``patches_per_image`` crops per image.

        Returns
        -------
        self : object
            The denoiser.
        """
        self._check_params()
        epochs = check_int(epochs, "epochs", minimum=1)
        first = not hasattr(self, "net_")
        # training keeps torch's own count unless told: gradient sums depend on it, and
        # the same seed must give the same weights whatever the machine's load
        with torch_threads(self.n_threads):
            images, targets, _, mode, scales = self._prepare_training(X, y, reset=first)
            if first:
                self._initialize(self.n_channels_in_, mode)
            self.n_partial_fit_calls_ += 1
            self._train(images, targets, mode, scales, epochs=epochs,
                        seed=self._seed + 7919 * self.n_partial_fit_calls_)
        return self

    # ------------------------------------------------------------------ inference
    def transform(self, X):
        """Denoise images.

        Parameters
        ----------
        X : array-like or list of array-like
            Noisy images laid out as in the image convention, with fit's channel count.

        Returns
        -------
        X_denoised : ndarray or list of ndarray
            Same layout and dtype as ``X`` (integers rounded and clipped).

        Notes
        -----
        Each image goes through the steps of :mod:`sklearn_denoise._cnn_steps`: read its
        noise (normalisation, colour space, noise per channel pass, expert or not; what
        :meth:`for_image` fixes), choose the network and its noise map, run it in tiles,
        and undo the normalisation and colour space.
        """
        check_is_fitted(self, "net_")
        # only what inference reads, in case set_params changed it after fit
        validate_params(self, _INFERENCE_PARAMS)
        _check_network_axes(self.config_, self.axes, "The fitted network")
        images, layout = validate_images(self, X, reset=False)
        with torch_threads(resolve_threads(self.n_threads)):
            out = self._denoise(images, layout)
        return restore_layout(out, layout)

    def _denoise(self, images, layout):
        data_scale = dtype_scale(layout.dtype)
        # one image per forward pass: results never depend on batch composition
        progress = tqdm(images, desc=f"{type(self).__name__}.transform", unit="image",
                        disable=not self.verbose or len(images) < 2, file=sys.stderr,
                        leave=False)
        setup = inference_setup(self)
        decision = pinned_decision(self)
        outputs = [denoise_image(setup, img, layout.n_channels, data_scale, decision,
                                 dtype=layout.dtype)
                   for img in progress]
        dtype = np.float64 if layout.dtype == np.float64 else np.float32
        if layout.kind == "list":
            return [o.astype(dtype, copy=False) for o in outputs]
        if len(outputs) == 0:
            return np.asarray(images, dtype=dtype)
        return np.stack(outputs).astype(dtype, copy=False)

    def for_image(self, X):
        """This denoiser with every choice it makes from an image's content fixed.

        ``transform`` reads off each image its map onto [0, 1] (``normalize``), its noise
        (a given ``sigma`` or ``noise_model``, or the level or Poisson-Gaussian model
        estimated from the image, per opponent channel for colour) and whether the
        correlated-noise expert runs. The returned copy has those of ``X`` fixed in its
        ``decision_``: ``for_image(X).transform(X)`` equals ``transform(X)``, and
        transforming a tile, a dask chunk or another plane of the same stack with it
        applies ``X``'s choices (per-pixel noise maps are still computed from the pixels,
        which is local). :func:`sklearn_denoise.dask.denoise_dask` and the command line
        use it, so they decide once per image (or per stack) as ``transform`` does.

        Parameters
        ----------
        X : array-like
            One image: ``(H, W)``, ``(H, W, C)`` or a stack of one, laid out as in the
            image convention.

        Returns
        -------
        denoiser : CNNDenoiser
            A shallow copy sharing the fitted network, with ``decision_`` set (an
            :class:`~sklearn_denoise._decision.ImageDecision`: ``normalization``,
            ``noise``, ``correlated``, ``noise_source`` and ``describe(dtype)``).
        """
        check_is_fitted(self, "net_")
        validate_params(self, _INFERENCE_PARAMS)
        _check_network_axes(self.config_, self.axes, "The fitted network")
        images, layout = _one_image(self, X)
        with torch_threads(resolve_threads(self.n_threads)):
            decision = read_noise(inference_setup(self), images[0], layout.n_channels,
                                  dtype_scale(layout.dtype), dtype=layout.dtype)
            return pin_decision(self, decision)

    def _load_correlated_expert(self):
        """The shipped expert the weights name (``weights_metadata_["correlated_expert"]``,
        registry names only), in eval mode on the estimator's device, or None."""
        name = self.weights_metadata_.get("correlated_expert")
        if name is None:
            return None
        config, state = load_expert(name)
        # a stack network's expert is the 2-D network it was widened from
        own = {k: v for k, v in self.config_.items() if k != "context_planes"}
        if config != own:
            raise ValueError(
                f"The weights name the expert {name!r}, which is a different network "
                f"({config}) from theirs ({self.config_})."
            )
        module = module_class(config["architecture"])(**module_kwargs(config))
        module.load_state_dict(state)
        self._expert_radius = measured_radius(module)
        return module.to(self.net_.device).eval()

    def _takes_sensor_noise_maps(self):
        """Whether the weights were trained on per-pixel Poisson-Gaussian noise maps."""
        if self.weights_metadata_.get("train_noise") in ("mixed", "realistic"):
            return True
        return self.training_mode_ == "synthetic" and self._train_noise_kind() != "gaussian"

    def _train_noise_kind(self):
        """"gaussian", "mixed" or "realistic" (a Degradation instance is "realistic")."""
        return "realistic" if isinstance(self.train_noise, Degradation) else self.train_noise

    def _degradation(self):
        """The Degradation that draws "realistic" training patches."""
        if isinstance(self.train_noise, Degradation):
            return self.train_noise
        return Degradation(sigma_range=self._train_sigma_range() or (0.0, 55 / 255))

    def _weights_train_noise(self):
        """The training noise the weights have seen, most general last."""
        order = ("gaussian", "mixed", "realistic")
        seen = [self.weights_metadata_.get("train_noise", "gaussian")]
        if self.training_mode_ == "synthetic":
            seen.append(self._train_noise_kind())
        return max(seen, key=order.index)

    def spatial_contract(self):
        """What tiles of an image, or dask chunks, must give the network.

        Used by ``transform`` to tile images larger than ``tile_size`` and by
        :func:`sklearn_denoise.dask.denoise_dask` to overlap chunks.

        Returns
        -------
        contract : SpatialContract
            Named tuple ``(margin, multiple, min_size, local)``. ``margin``: pixels of context
            added on each side of a tile: ``tile_overlap`` when given, otherwise the
            smaller of the network's theoretical receptive radius and the effective
            radius measured for its weights (96 pixels for the shipped models, whose
            theoretical radius is 256; weights that were not measured, e.g. after
            training, use the theoretical radius), rounded up to ``multiple``.
            ``multiple``: tile borders fall on multiples of it (the U-Net's downsampling
            factor, 8 for 4 levels; 1 for DnCNN). ``local``: False for a stack network,
            whose neighbouring planes are registered on whole planes (tiles of a plane
            in ``transform`` share that registration; dask keeps planes whole and splits
            the volume along Z, see :meth:`planes_margin`).
        """
        check_is_fitted(self, "net_")
        module = self.net_.module_
        multiple = int(getattr(module, "multiple", 1))
        if self.tile_overlap is not None:
            return make_contract(self.tile_overlap, multiple)
        config = self.config_
        radius = receptive_radius(config["architecture"], config["depth"], config["blocks"],
                                  config.get("bottom_blocks"))
        # every network a transform may run: the estimator's own and its expert (never
        # trained here, so its radius is looked up once, when it is loaded)
        measured = [measured_radius(module)]
        if self.correlated_expert_ is not None:
            measured.append(self._expert_radius)
        if None not in measured:
            radius = min(radius, max(measured))
        # a stack network registers each whole plane onto its neighbours: a dask chunk
        # of part of a plane would register differently, so planes stay whole
        return make_contract(radius, multiple, local=not config.get("context_planes"))

    def planes_margin(self):
        """Planes of context a chunk of a volume needs on each side along Z (or T).

        :func:`sklearn_denoise.dask.denoise_dask` (and the command line) overlap chunks
        of a volume's planes axis by this many planes, with which the result equals
        ``transform``: the stack network sees ``context_planes // 2`` planes on each
        side, up to ``context_planes`` on one side for the planes at the volume's ends,
        and the translation between two planes depends on those two only.

        Returns
        -------
        margin : int or None
            ``context_planes`` for a stack network, None for a network of single images
            (which takes no volumes).
        """
        check_is_fitted(self, "net_")
        planes = int(self.config_.get("context_planes") or 0)
        return planes or None

    # ------------------------------------------------------------------ persistence
    def save(self, path, *, half=False, metadata=None):
        """Save the weights and the module configuration to a safe weight file.

        Written atomically (a temporary file, then rename): an interrupted save never
        leaves a half-written file at ``path``.

        Parameters
        ----------
        path : str or path-like
            Destination file.
        half : bool, default=False
            Store floating-point tensors as float16 (half the size).
        metadata : dict, default=None
            Extra JSON-like information to record (how the weights were trained).

        Returns
        -------
        path : pathlib.Path
        """
        check_is_fitted(self, "net_")
        info = dict(self.weights_metadata_)
        info.update(
            {
                "epochs_trained": len(self.history_),
                "training_mode": self.training_mode_,
                "channel_strategy": self.channel_strategy,
                "train_noise": self._weights_train_noise(),
            }
        )
        info.update(metadata or {})
        return save_weights(path, self.config_, self.net_.module_.state_dict(), info,
                            half=half)

    def save_checkpoint(self, path):
        """Save everything needed to resume training to a safe checkpoint file.

        The checkpoint holds tensors (the weights and the optimizer state) and JSON text
        (the estimator parameters, the training history and the fitted state), nothing
        that is unpickled, so :meth:`load_checkpoint` never runs code from the file. It is
        written atomically and carries a checksum.

        ``callbacks`` are not stored (pass them again to :meth:`load_checkpoint`), nor is
        a ``random_state`` that is not an int (the seed drawn from it is, so training
        continues as it would have).

        Parameters
        ----------
        path : str or path-like
            Destination file.

        Returns
        -------
        path : pathlib.Path
        """
        from ._weights import save_checkpoint

        check_is_fitted(self, "net_")
        params = self.get_params(deep=False)
        params["callbacks"] = None
        if not isinstance(params["random_state"], (int, np.integer)):
            params["random_state"] = None
        if params["init_weights"] is not None:
            params["init_weights"] = os.fspath(params["init_weights"])
        if not isinstance(params["noise_model"], str):  # a NoiseModel: its three numbers
            model = params["noise_model"]
            params["noise_model"] = {"gain": float(model.gain),
                                     "read_noise": float(model.read_noise),
                                     "black_level": float(model.black_level)}
        if isinstance(params["train_noise"], Degradation):
            params["train_noise"] = params["train_noise"].to_dict()
        fitted = {
            "n_channels_in": int(self.n_channels_in_),
            "training_mode": self.training_mode_,
            "n_partial_fit_calls": int(self.n_partial_fit_calls_),
            "seed": int(self._seed),
        }
        if hasattr(self, "n_features_in_"):
            fitted["n_features_in"] = int(self.n_features_in_)
        return save_checkpoint(
            path, self.config_, self.net_.module_.state_dict(),
            self.net_.optimizer_.state_dict(), history=self.history_.to_list(),
            params=params, fitted=fitted, metadata=self.weights_metadata_,
        )

    @staticmethod
    def _noise_model_from_json(fields, source):
        """The NoiseModel a checkpoint stores as ``{gain, read_noise, black_level}``."""
        from .noise import NoiseModel

        if set(fields) != {"gain", "read_noise", "black_level"}:
            raise ValueError(f"{source}: invalid noise_model {fields!r}.")
        try:
            return NoiseModel(**fields)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: invalid noise_model: {exc}") from None

    @classmethod
    def load_checkpoint(cls, path, **params):
        """Restore a denoiser saved by :meth:`save_checkpoint`, ready to continue training.

        Weights, optimizer state, training history, epoch count and parameters are
        restored, so ``partial_fit`` continues exactly where the saved estimator stopped.
        The file is read with ``torch.load(weights_only=True)`` and checked (checksum,
        module settings within their limits, tensor shapes, finite values, parameter
        ranges) before anything is built from it.

        Parameters
        ----------
        path : str or path-like
            Checkpoint file.
        **params
            Parameters to change (``verbose``, ``callbacks``, ``device``, ``lr``, ...);
            those describing the network must agree with the checkpoint.

        Returns
        -------
        denoiser : CNNDenoiser

        Raises
        ------
        ValueError
            If the file is missing, corrupt, not a checkpoint (pickles are refused, never
            loaded), fails its checksum, or holds out-of-range settings.
        """
        from skorch.history import History

        from ._weights import check_optimizer_state, load_checkpoint

        source = repr(os.fspath(path))
        checkpoint = load_checkpoint(path)
        config, fitted = checkpoint["config"], checkpoint["fitted"]
        stored = checkpoint["params"]
        unknown = sorted(set(stored) - set(cls._get_param_names()))
        if unknown:
            raise ValueError(f"{source}: unknown estimator parameters {unknown}.")
        if isinstance(stored.get("noise_model"), dict):
            stored["noise_model"] = cls._noise_model_from_json(stored["noise_model"], source)
        if isinstance(stored.get("train_noise"), dict):
            try:
                stored["train_noise"] = Degradation.from_dict(stored["train_noise"])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{source}: invalid train_noise: {exc}") from None
        est = cls(**{**stored, **params})
        est._check_params()
        network = {key: getattr(est, key) for key in
                   ("architecture", "depth", "width", "blocks", "noise_level_input")}
        for key, value in network.items():
            if value is not None and value != config[key]:
                raise ValueError(f"{key}={value!r} does not match the checkpoint {source} "
                                 f"({key}={config[key]!r}).")
        init_weights = est.init_weights
        # the module these parameters would build for the stored images, to check that
        # the stored module (built below, not the one init_weights describes) fits them
        est.set_params(init_weights=None, **{key: config[key] for key in network})
        try:
            expected, _, _ = est._resolve_config(fitted["n_channels_in"])
        finally:
            est.set_params(init_weights=init_weights, **network)
        if any(expected[key] != config[key] for key in expected):
            raise ValueError(
                f"{source}: the model ({config['channels']} channel(s)) does not fit "
                f"{fitted['n_channels_in']}-channel images with "
                f"channel_strategy={est.channel_strategy!r}."
            )
        est.n_channels_in_ = fitted["n_channels_in"]
        est._initialize(fitted["n_channels_in"], fitted["training_mode"], config=config)
        est.net_.module_.load_state_dict(checkpoint["state_dict"])
        optimizer = check_optimizer_state(checkpoint["optimizer"], est.net_.optimizer_,
                                          source=source)
        try:
            est.net_.optimizer_.load_state_dict(optimizer)
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise ValueError(f"{source}: the optimizer state cannot be restored: {exc}") \
                from exc
        est.net_.history = History(checkpoint["history"])
        est.history_ = est.net_.history
        est.n_partial_fit_calls_ = fitted["n_partial_fit_calls"]
        est._seed = fitted["seed"]
        est.weights_metadata_ = checkpoint["metadata"]
        est.correlated_expert_ = est._load_correlated_expert()
        if "n_features_in" in fitted:
            est.n_features_in_ = fitted["n_features_in"]
        return est

    @classmethod
    def load(cls, path, **params):
        """Load a weight file written by :meth:`save` as a fitted denoiser.

        Parameters
        ----------
        path : str or path-like
            Weight file, or the name of a shipped pretrained model.
        **params
            Other estimator parameters (``sigma``, ``tile_size``, ``device``, ...).
            Unless given, ``max_epochs=0`` and ``lr=1e-4``: ``fit``, which
            :func:`~sklearn.base.clone` and every meta-estimator (``GridSearchCV``,
            ``cross_validate``, ``Pipeline``) call, then reloads these weights and trains
            nothing, so the clone gives this denoiser's result at the cost of a weight
            load. Fine-tuning is asked for: ``max_epochs=5`` (or ``partial_fit``), at a
            rate of 1e-4, which adapts the weights without undoing them (1e-3, the rate
            of training from scratch, costs the shipped model 0.39 dB in 10 epochs).

        Returns
        -------
        denoiser : CNNDenoiser
            Ready to ``transform`` or fine-tune with ``partial_fit``.

        Raises
        ------
        ValueError
            If the file is missing, corrupt, truncated or not a weight file.
        """
        config, _, metadata, _ = resolve_weights(os.fspath(path))
        params.setdefault("channel_strategy", metadata.get("channel_strategy", "joint"))
        # a clone refitted by a meta-estimator keeps these weights unless training is asked
        # for; fine-tuning then starts at a rate that does not undo them
        params.setdefault("max_epochs", 0)
        params.setdefault("lr", FINE_TUNING_LR)
        est = cls(init_weights=os.fspath(path), noise_level_input=config["noise_level_input"],
                  **params)
        est._check_params()
        n_channels = 3 if est.channel_strategy == "opponent" else config["channels"]
        est.n_channels_in_ = n_channels
        est._initialize(n_channels, metadata.get("training_mode", "synthetic"))
        return est

    @classmethod
    def pretrained(cls, name="gray", **params):
        """A fitted denoiser with weights shipped inside the package.

        Parameters
        ----------
        name : str, default="gray"
            One of :func:`sklearn_denoise.available_models`. "color" applies the
            grayscale network to RGB images in a decorrelated colour space.
        **params
            Other estimator parameters; ``max_epochs`` is 0 and ``lr`` 1e-4 unless
            given (see :meth:`load`): refitting a clone keeps the shipped weights, and
            ``pretrained("gray", max_epochs=5)`` fine-tunes them. With a 3-D ``axes``
            ("ZYX", "TYX", "ZYXC", "TYXC") the model's stack network is loaded: the
            same U-Net seeing each plane's neighbours (the registry's ``stack`` entry).

        Returns
        -------
        denoiser : CNNDenoiser

        Examples
        --------
        >>> from sklearn.base import clone
        >>> from sklearn_denoise import CNNDenoiser
        >>> den = CNNDenoiser.pretrained("gray")
        >>> den.max_epochs, den.lr
        (0, 0.0001)
        """
        from ._weights import _registry, available_models

        registry = _registry()
        if name not in available_models():
            raise ValueError(
                f"Unknown pretrained model {name!r}; available: {available_models()}."
            )
        params.setdefault("channel_strategy", registry[name].get("channel_strategy", "joint"))
        weights = registry[name].get("weights", name)
        if is_volume_axes(check_axes(params.get("axes", "YX"))):
            weights = registry[name].get("stack")
            if weights is None:
                raise ValueError(
                    f"The pretrained model {name!r} has no stack network for "
                    f"axes={params['axes']!r}; denoise the planes one by one with "
                    "axes='YX'."
                )
        return cls.load(weights, **params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


def _check_network_axes(config, axes, source):
    """A stack network (``context_planes`` > 0) takes volumes, any other network images."""
    planes = int(config.get("context_planes") or 0)
    volume = is_volume_axes(check_axes(axes))
    if planes and not volume:
        raise ValueError(
            f"{source} is a stack network (it sees {planes} neighbouring planes) and "
            f"denoises volumes or sequences: set axes='ZYX' or 'TYX' (with 'C' for "
            f"channels), not axes={axes!r}."
        )
    if volume and not planes:
        raise ValueError(
            f"axes={axes!r} needs a stack network, which sees neighbouring planes: "
            f"{source} denoises single images. Load the shipped one with "
            f"CNNDenoiser.pretrained('gray', axes={axes!r}) (or 'color'), or denoise the "
            "planes one by one with axes='YX' and X.reshape(-1, H, W)."
        )


def _check_train_noise(value):
    if isinstance(value, Degradation):
        return value
    return check_choice(value, "train_noise", ("gaussian", "mixed", "realistic"))


def _check_train_sigma(value):
    """``train_sigma``: None, a level, or a ``(low, high)`` range -> None or (low, high)."""
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(
                f"train_sigma must be a float or a (low, high) pair, got {value!r}."
            )
        low = check_sigma(value[0], name="train_sigma[0]", allow_none=False)
        high = check_sigma(value[1], name="train_sigma[1]", allow_none=False)
        if low > high:
            raise ValueError(f"train_sigma range must have low <= high, got {value!r}.")
        return low, high
    level = check_sigma(value, name="train_sigma", allow_none=False)
    return level, level


def _check_callbacks(value):
    """None, or a list of skorch callbacks: Callback instances or classes, or (name,
    callback) pairs, as skorch takes them."""
    from skorch.callbacks import Callback

    def is_callback(cb):
        return isinstance(cb, Callback) or (isinstance(cb, type) and issubclass(cb, Callback))

    if value is None:
        return value
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"callbacks must be a list of skorch callbacks, got {value!r}.")
    for item in value:
        named = isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
        if not (is_callback(item[1]) if named else is_callback(item)):
            raise TypeError(
                f"callbacks must be a list of skorch callbacks (skorch.callbacks.Callback "
                f"instances, or (name, callback) pairs), got the item {item!r}."
            )
    return value


def channel_strategy_for(model_channels, n_channels, model="the model"):
    """How a network of ``model_channels`` channels denoises ``n_channels``-channel images:
    a 1-channel network takes RGB images in the opponent colour space."""
    if model_channels == 1 and n_channels == 3:
        return "opponent"
    if model_channels == n_channels:
        return "joint"
    raise ValueError(
        f"{model} denoises {model_channels}-channel images; these have {n_channels} "
        "channel(s)."
    )


def load_cnn(model, n_channels, **params):
    """A fitted CNNDenoiser for ``n_channels``-channel images (1 or 3).

    ``model`` is None (the shipped "gray" or "color" model), the name of a shipped model
    or a weight file. A 1-channel model is applied to RGB images in the decorrelated
    colour space (``channel_strategy="opponent"``).

    Raises
    ------
    ValueError
        If the model is missing, unreadable, or does not fit the images.
    """
    from ._weights import available_models

    shipped = available_models()
    if model is None:
        name = "color" if n_channels == 3 and "color" in shipped else "gray"
        if name not in shipped:
            raise ValueError(
                "No pretrained CNN model is shipped in this installation (available: "
                f"{shipped or 'none'}); pass a weight file (e.g. from `sklearn-denoise "
                "train`) or use a classical method."
            )
        if name == "gray" and n_channels == 3:
            params.setdefault("channel_strategy", "opponent")
        elif name == "gray":
            params.setdefault("channel_strategy", "joint")
        return CNNDenoiser.pretrained(name, **params)
    model = os.fspath(model)
    if model not in shipped and not os.path.exists(model):
        raise ValueError(
            f"Model {model!r} is neither a weight file nor a shipped model (shipped: "
            f"{shipped or 'none'})."
        )
    config, _, _, _ = resolve_weights(model)
    params["channel_strategy"] = channel_strategy_for(config["channels"], n_channels, model)
    if model in shipped:
        return CNNDenoiser.pretrained(model, **params)
    return CNNDenoiser.load(model, **params)
