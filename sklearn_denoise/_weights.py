"""Safe weight files: save atomically, load with ``weights_only=True``, verify contents.

A weight file holds ``{"format": "sklearn-denoise-cnn", "version": 1, "config": {...},
"state_dict": {...}, "metadata": {...}, "sha256": "..."}`` where ``config`` is what
rebuilds the module and ``metadata`` records how the weights were trained. Nothing is
unpickled beyond tensors and plain containers.

Every file is checked on load, before a module is built from it:

- ``config`` must describe a module within :data:`CONFIG_LIMITS` (architecture "unet",
  "n2v2" (the blind-spot U-Net) or "dncnn", or "noise-level" for a noise-level estimator;
  1 to 4 channels, at most 8 U-Net levels, 64 DnCNN layers or 16 estimator layers,
  width at most 512, at most 16 residual blocks per level, at most 32 at a U-Net's
  bottom when the file sets ``bottom_blocks``, a first level of at most 512 channels when it sets
  ``top_width``, and at most 8 neighbouring planes of a stack when it sets
  ``context_planes``);
- before anything is inflated, the zip directory of the file (``torch.save`` writes zip
  archives) is read: the pickled structure may declare at most :data:`MAX_PICKLE_BYTES`,
  and the tensor records (and the tensors the structure declares, read on the ``meta``
  device, without their data) at most the bytes the module ``config`` describes needs
  (8 bytes per value, four times that for a checkpoint with Adam's moments): a small file
  whose records inflate to gigabytes is refused before it costs that memory;
- the tensors must have exactly the names and shapes of the module ``config`` describes,
  real floating-point dtypes where the module has floats (no complex or integer tensors
  there) and integers where it has integers, finite values of magnitude at most
  :data:`MAX_ABS_VALUE`, and non-negative BatchNorm variances (a crafted file could
  otherwise load and make the network return NaN);
- ``sha256`` must be the checksum of the file's contents (:func:`content_digest`: every
  entry but ``sha256`` itself, tensors by name, dtype, shape and bytes). Files without it
  (written before the checksum existed) are accepted only when they are byte for byte a
  shipped pretrained file listed in ``pretrained/registry.json``. The checksum guards
  against damage (a truncated download, a flipped bit), not against tampering: anyone
  who can write a file can write its checksum too. What protects against a crafted file
  is that nothing in it is executed (no unpickling beyond tensors and plain values) and
  everything in it is range-checked as above.

Saving applies the same checks to the tensors it writes, so a file this module writes
always loads.

A weight delta (:func:`save_weight_delta`, format ``"sklearn-denoise-delta"``) holds only
the tensors that differ from a shipped model's, e.g. a correlated-noise expert trained
with the shipped model's bottom level frozen; its tensors must be a subset, with the same
shapes, of those of the module ``config`` describes.

A training checkpoint (:func:`save_checkpoint`) is a weight file of format
``"sklearn-denoise-checkpoint"`` that also holds the optimizer state (tensors and plain
values) and, as JSON text, the training history, the estimator parameters and the fitted
state needed to continue training; it goes through the same checks.
"""

import hashlib
import io
import json
import math
import os
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ._atomic import atomic_open

FORMAT_NAME = "sklearn-denoise-cnn"
CHECKPOINT_FORMAT_NAME = "sklearn-denoise-checkpoint"
DELTA_FORMAT_NAME = "sklearn-denoise-delta"
FORMAT_VERSION = 1
_CONFIG_KEYS = {
    "architecture": str,
    "channels": int,
    "depth": int,
    "width": int,
    "blocks": int,
    "noise_level_input": bool,
}
#: Entries a U-Net configuration may add (files without them keep their defaults).
_OPTIONAL_CONFIG_KEYS = {"bottom_blocks": int, "top_width": int, "context_planes": int}

#: Allowed module settings, the same for weight files and for the estimator parameters
#: that describe a module: ``(low, high)`` inclusive bounds, depth per architecture.
CONFIG_LIMITS = {
    "channels": (1, 4),
    "depth": {"unet": (1, 8), "n2v2": (1, 8), "dncnn": (2, 64), "noise-level": (3, 16)},
    "width": (1, 512),
    "blocks": (1, 16),
    "bottom_blocks": (1, 32),
    "top_width": (1, 512),
    "context_planes": (0, 8),
}
#: Largest magnitude a stored tensor value may have (trained weights, BatchNorm running
#: statistics included, are many orders of magnitude below; values near the float32
#: limit, 3.4e38, make the network overflow to inf and NaN).
MAX_ABS_VALUE = 1e8
#: Largest size the pickled structure of a file (``data.pkl``: the configuration,
#: metadata, and for checkpoints the training history as JSON) may declare.
MAX_PICKLE_BYTES = 64 * 2**20
# the other bookkeeping records of torch.save (version, byte order, alignment, id)
_MAX_SMALL_RECORD_BYTES = 4096
# tensor records: 8 bytes per value at most (float64); a checkpoint adds Adam's moments
# (exp_avg, exp_avg_sq, max_exp_avg_sq) and step counts
_BYTES_PER_VALUE = 8
_CHECKPOINT_COPIES = 4
_RECORD_SLACK_BYTES = 2**20
_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
ARCHITECTURES = ("unet", "n2v2", "dncnn", "noise-level")
#: The architectures that denoise (``"noise-level"`` estimates the noise level instead).
DENOISER_ARCHITECTURES = ("unet", "n2v2", "dncnn")
_KIND_NAMES = {str: "a string", int: "an integer", bool: "a boolean"}

# Adam's per-parameter state and the hyper-parameters a checkpoint may set
_OPTIMIZER_STATE_KEYS = {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
_TRAINING_MODES = ("supervised", "synthetic", "self_supervised")
_MAX_EPOCHS_RECORDED = 10**7

#: Bounds of CNNDenoiser's integer parameters, inclusive: its constraints table checks
#: them in ``fit`` (before anything is allocated), and a checkpoint's stored parameters
#: are checked against them before an estimator is built: no gigantic networks, batches,
#: patches or epochs.
PARAM_LIMITS = {
    "depth": (1, 64),
    "width": CONFIG_LIMITS["width"],
    "blocks": CONFIG_LIMITS["blocks"],
    "patch_size": (1, 4096),
    "patches_per_image": (1, 100_000),
    "batch_size": (1, 4096),
    "max_epochs": (0, 1_000_000),
    "tile_size": (16, 65_536),
    "verbose": (0, 10),
}


def _describe(path):
    return repr(str(path))


# ------------------------------------------------------------------------------ checksum
def content_digest(payload):
    """SHA-256 of a weight file's contents, in a canonical order.

    Every entry of ``payload`` except ``"sha256"`` is fed in sorted key order: tensors by
    name, dtype, shape and raw bytes (C order), other values by type and ``repr``, lists
    and tuples alike element by element. The digest does not depend on how ``torch.save``
    laid the file out, so it survives a save/load round trip.

    Parameters
    ----------
    payload : dict
        The dict stored in the file.

    Returns
    -------
    digest : str
        Hexadecimal SHA-256.
    """
    sha = hashlib.sha256()
    _feed(sha, "", {k: v for k, v in payload.items() if k != "sha256"})
    return sha.hexdigest()


def _feed(sha, name, value):
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        sha.update(f"{name}\0tensor\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        sha.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        sha.update(f"{name}\0dict\0{len(value)}\0".encode())
        for key, item in sorted(value.items(), key=lambda kv: repr(kv[0])):
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise ValueError(f"unexpected key {key!r} in {name or 'the file'}")
            _feed(sha, f"{name}/{key!r}", item)
    elif isinstance(value, (list, tuple)):
        sha.update(f"{name}\0sequence\0{len(value)}\0".encode())
        for k, item in enumerate(value):
            _feed(sha, f"{name}/{k}", item)
    elif value is None or isinstance(value, (bool, int, float, str)):
        sha.update(f"{name}\0{type(value).__name__}\0{value!r}\0".encode())
    else:
        raise ValueError(f"unexpected {type(value).__name__} entry {name or 'in the file'}")


# ------------------------------------------------------------------------------ config
def check_config(config, *, source="the weight file"):
    """Validate a module configuration against :data:`CONFIG_LIMITS`.

    Parameters
    ----------
    config : dict
        ``architecture``, ``channels``, ``depth``, ``width``, ``blocks`` and
        ``noise_level_input``; a U-Net's may add ``bottom_blocks``, ``top_width`` and
        ``context_planes``.
    source : str, default="the weight file"
        Named in error messages.

    Returns
    -------
    config : dict
        A copy with exactly these keys.

    Raises
    ------
    ValueError
        If an entry is missing, of the wrong type or out of range, or the architecture is
        unknown.
    """
    if not isinstance(config, dict):
        raise ValueError(f"{source} has no model configuration.")
    unexpected = sorted(map(str, set(config) - set(_CONFIG_KEYS) - set(_OPTIONAL_CONFIG_KEYS)))
    if unexpected:
        raise ValueError(f"{source}: unexpected configuration entries {unexpected}.")
    for key, kind in _CONFIG_KEYS.items():
        value = config.get(key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(
                f"{source}: configuration entry {key!r} is missing or not {_KIND_NAMES[kind]} "
                f"(got {value!r})."
            )
    architecture = config["architecture"]
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"{source}: unknown architecture {architecture!r}; expected one of "
            f"{list(ARCHITECTURES)}."
        )
    for key in ("channels", "depth", "width", "blocks"):
        limits = CONFIG_LIMITS[key]
        low, high = limits[architecture] if isinstance(limits, dict) else limits
        if not low <= config[key] <= high:
            what = f"{key} of {architecture}" if isinstance(limits, dict) else key
            raise ValueError(
                f"{source}: {what} must be in [{low}, {high}], got {config[key]}."
            )
    checked = {key: config[key] for key in _CONFIG_KEYS}
    for key in _OPTIONAL_CONFIG_KEYS:
        if key not in config:
            continue
        value = config[key]
        low, high = CONFIG_LIMITS[key]
        if architecture != "unet" and (architecture != "n2v2" or key == "context_planes"):
            raise ValueError(f"{source}: {key} is a U-Net setting, not {architecture}'s.")
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(f"{source}: {key} must be an integer in [{low}, {high}], "
                             f"got {value!r}.")
        checked[key] = value
    return checked


def _meta_module(config):
    from ._modules import module_class, module_kwargs

    with torch.device("meta"):  # shapes only: no memory, however large the module
        return module_class(config["architecture"])(**module_kwargs(config))


def _expected_shapes(config):
    """Names and shapes of the state dict of the module ``config`` describes."""
    return {name: tuple(t.shape) for name, t in _meta_module(config).state_dict().items()}


def _expected_kinds(config):
    """Names of the state dict's floating-point tensors, and of its BatchNorm variances."""
    module = _meta_module(config)
    floats = {name for name, t in module.state_dict().items() if t.is_floating_point()}
    variances = {f"{name}.running_var" if name else "running_var"
                 for name, m in module.named_modules()
                 if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
    return floats, variances


def _check_state(state, config, source, *, partial=False):
    if not isinstance(state, dict) or not state or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError(f"{source} has no valid state_dict.")
    expected = _expected_shapes(config)
    if partial:  # a delta: any non-empty subset of the tensors
        expected = {name: shape for name, shape in expected.items() if name in state}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"{source}: the tensors do not match the module its configuration describes "
            f"({_summary(config)}): missing {missing[:5]}{' ...' if len(missing) > 5 else ''}"
            f", unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}."
        )
    for name, shape in expected.items():
        if tuple(state[name].shape) != shape:
            raise ValueError(
                f"{source}: tensor {name!r} has shape {tuple(state[name].shape)}, but the "
                f"module its configuration describes ({_summary(config)}) needs {shape}."
            )
    floats, variances = _expected_kinds(config)
    for name, tensor in state.items():
        if name in floats and tensor.dtype not in _FLOAT_DTYPES:
            raise ValueError(
                f"{source}: tensor {name!r} is {tensor.dtype}, but the module holds real "
                "floating-point values there (float16, bfloat16, float32 or float64)."
            )
        if name not in floats and (tensor.is_floating_point() or tensor.is_complex()
                                   or tensor.dtype == torch.bool):
            raise ValueError(f"{source}: tensor {name!r} is {tensor.dtype}, but the module "
                             "holds integers there.")
    _check_finite(state, source)
    for name in variances & set(state):
        if _tensor_min(state[name]) < 0:
            raise ValueError(
                f"{source}: tensor {name!r} holds negative values: a BatchNorm variance "
                "is never negative (the network would return NaN)."
            )


def _tensor_min(tensor):
    """Smallest value of a tensor, through numpy (see :func:`_all_finite`)."""
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()
    return float(tensor.numpy(force=True).min()) if tensor.numel() else 0.0


def _check_finite(tensors, source):
    """Finite values of magnitude at most :data:`MAX_ABS_VALUE` in every float tensor;
    complex tensors are refused."""
    for name, tensor in tensors.items():
        if tensor.is_complex():
            raise ValueError(f"{source}: tensor {name!r} is complex ({tensor.dtype}).")
        if tensor.is_floating_point() and not _all_finite(tensor):
            raise ValueError(f"{source}: tensor {name!r} holds NaN or infinite values.")
        largest = _max_abs(tensor) if tensor.is_floating_point() else 0.0
        if largest > MAX_ABS_VALUE:
            raise ValueError(
                f"{source}: tensor {name!r} holds values of magnitude up to {largest:.3g}, "
                f"above the {MAX_ABS_VALUE:g} that weights may have (the network would "
                "overflow to inf and NaN)."
            )


def _max_abs(tensor):
    if not tensor.numel():
        return 0.0
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()
    return float(np.abs(tensor.numpy(force=True)).max())


def _as_float32(tensor):
    # through numpy for the same reason as _all_finite
    if tensor.dtype in (torch.float32, torch.bfloat16):
        return tensor.float()
    return torch.from_numpy(tensor.numpy(force=True).astype(np.float32))


def _all_finite(tensor):
    # numpy, not torch.isfinite: torch's half-precision kernels on CPU (and any torch op
    # while other torch work holds the cores) made this check most of a model's load time
    if tensor.dtype == torch.bfloat16:  # which numpy does not have
        tensor = tensor.float()
    return bool(np.isfinite(tensor.numpy(force=True)).all())


#: Side of the image the network runs on when weights are saved or loaded: a network
#: whose output on it is not finite is refused.
_PROBE_SIZE = 32


def check_output_finite(config, state, source):
    """Run the denoiser ``config`` describes, with ``state``, on a probe image (uniform
    noise on [0, 1], noise level 25/255 where the network takes one) and raise ValueError
    if its output is not finite: such weights (diverged training, a crafted file) must
    neither be saved nor loaded. Noise-level estimators are not run."""
    if config["architecture"] not in DENOISER_ARCHITECTURES:
        return
    from ._modules import module_class, module_kwargs

    module = module_class(config["architecture"])(**module_kwargs(config))
    module.load_state_dict({k: v.detach().cpu().to(module.state_dict()[k].dtype)
                            for k, v in state.items()})
    module.eval()
    generator = torch.Generator().manual_seed(0)
    size = (1, config["channels"], _PROBE_SIZE, _PROBE_SIZE)
    x = torch.rand(size, generator=generator)
    if config["noise_level_input"]:
        x = torch.cat([x, torch.full(size[:1] + (1,) + size[2:], 25 / 255)], dim=1)
    if config.get("context_planes"):  # neighbouring planes of a stack: the image again
        x = torch.cat([x] + [x[:, : config["channels"]]] * config["context_planes"], dim=1)
    with torch.inference_mode():
        finite = bool(torch.isfinite(module(x)).all())
    if not finite:
        raise ValueError(
            f"{source}: the network returns NaN or infinite values on a test image: the "
            "weights are broken (training diverged, e.g. with too high a learning rate lr, "
            "or the file was crafted); they are neither saved nor loaded."
        )


def _summary(config):
    return ", ".join(f"{k}={config[k]!r}" for k in _CONFIG_KEYS)


# ------------------------------------------------------------------------------ files
def save_weights(path, config, state_dict, metadata=None, *, half=False):
    """Write a weight file atomically (temporary file in the same folder, then rename).

    Parameters
    ----------
    path : str or path-like
        Destination.
    config : dict
        Module configuration, checked with :func:`check_config`.
    state_dict : dict of str to Tensor
        The module's tensors.
    metadata : dict, default=None
        JSON-like training record.
    half : bool, default=False
        Store floating-point tensors as float16.

    Returns
    -------
    path : pathlib.Path
    """
    path = Path(path)
    config = check_config(config, source="the model configuration")
    state = {
        key: (value.detach().cpu().half() if half and value.is_floating_point() else
              value.detach().cpu())
        for key, value in state_dict.items()
    }
    payload = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "config": config,
        "state_dict": state,
        "metadata": dict(metadata or {}),
    }
    _write(path, payload)
    return path


def _write(path, payload, *, partial=False):
    """Check the payload as :func:`_read` will, then write it atomically."""
    source = "the weights to save"
    _check_state(payload["state_dict"], payload["config"], source, partial=partial)
    if not partial:
        check_output_finite(payload["config"], payload["state_dict"], source)
    if "optimizer" in payload:
        _check_optimizer_structure(payload["optimizer"], "the optimizer state to save")
    payload["sha256"] = content_digest(payload)
    with atomic_open(path, "xb") as fh:
        torch.save(payload, fh)


def _read(path, format_name, what, *, partial=False):
    """The checked payload of a weight or checkpoint file (checksum verified)."""
    path = Path(path)
    source = _describe(path)
    if not path.is_file():
        raise ValueError(f"{what.capitalize()} {source} does not exist.")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"Cannot read {what} {source}: {exc.strerror or exc}.") from exc
    if not data.startswith(b"PK\x03\x04"):  # torch.save writes zip archives
        raise ValueError(
            f"Could not read {what} {source}: it is not a sklearn-denoise file (not a "
            "PyTorch zip archive; pickle files, such as joblib dumps, are never unpickled)."
        )
    records = _archive_records(data, source, what)
    # the structure first, tensors on the meta device (no data read, nothing inflated):
    # the configuration bounds what the tensor records may cost
    structure = _torch_load(data, source, what, map_location="meta")
    _check_header(structure, format_name, what, source)
    config = check_config(structure.get("config"), source=source)
    _check_declared_sizes(structure, records, config, format_name, source)
    payload = _torch_load(data, source, what)
    _check_header(payload, format_name, what, source)
    stored = payload.get("sha256")
    try:
        digest = content_digest(payload)
    except ValueError as exc:
        raise ValueError(f"{source} is not a valid {what}: {exc}.") from None
    if stored is None:
        if hashlib.sha256(data).hexdigest() not in _shipped_digests():
            raise ValueError(
                f"{source} has no checksum: it was written by an older version of "
                "sklearn-denoise or by another program. Only the shipped pretrained files "
                "are accepted without one; save the weights again with this version."
            )
    elif stored != digest:
        raise ValueError(
            f"{source} fails its checksum (contents sha256 {digest}, recorded {stored!r}): "
            "the file is damaged or was modified."
        )
    config = check_config(payload.get("config"), source=source)
    state = payload.get("state_dict")
    _check_state(state, config, source, partial=partial)
    if not partial:
        check_output_finite(config, state, source)
    metadata = payload.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ValueError(f"{source}: the metadata is not a dict.")
    check_noise_floor(metadata.get("noise_floor", 0.0), source)
    payload["config"] = config
    payload["state_dict"] = {k: _as_float32(v) if v.is_floating_point() else v
                             for k, v in state.items()}
    return payload


#: the largest ``noise_floor`` a weight file may declare (on the normalised scale): the
#: shipped weights' is under 1/255
MAX_NOISE_FLOOR = 4 / 255


def check_noise_floor(value, source):
    """``value`` as a noise floor (a real number in [0, MAX_NOISE_FLOOR]), or ValueError."""
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not 0 <= value <= MAX_NOISE_FLOOR):
        raise ValueError(
            f"{source}: the metadata's noise_floor must be a number in [0, "
            f"{MAX_NOISE_FLOOR:.4g}], got {value!r}."
        )
    return float(value)


def _torch_load(data, source, what, map_location="cpu"):
    try:
        return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or unsafe files
        raise ValueError(
            f"Could not read {what} {source}: it is corrupt, truncated, not a "
            f"sklearn-denoise file, or holds objects other than tensors and plain values "
            f"(such files are never unpickled) ({type(exc).__name__}: {exc})."
        ) from exc


def _check_header(payload, format_name, what, source):
    if not isinstance(payload, dict) or payload.get("format") != format_name:
        found = payload.get("format") if isinstance(payload, dict) else None
        kinds = {FORMAT_NAME: "weight file", CHECKPOINT_FORMAT_NAME: "checkpoint",
                 DELTA_FORMAT_NAME: "weight delta"}
        hint = f" (it is a {kinds[found]})" if found in kinds else ""
        raise ValueError(f"{source} is not a sklearn-denoise {what}{hint}.")
    if payload.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"{source} has format version {payload.get('version')!r}; this version of "
            f"sklearn-denoise reads version {FORMAT_VERSION}."
        )


def _archive_records(data, source, what):
    """The zip directory of a torch.save file: ``{name: declared size}``, checked for the
    records that are not tensors (read before anything is inflated)."""
    try:
        infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise ValueError(f"Could not read {what} {source}: it is corrupt, truncated, or not "
                         f"a sklearn-denoise file (not a valid zip archive: {exc}).") from exc
    records = {}
    for info in infos:
        records[info.filename] = info.file_size
        if _is_tensor_record(info.filename):
            continue
        limit = MAX_PICKLE_BYTES if info.filename.endswith("data.pkl") else \
            _MAX_SMALL_RECORD_BYTES
        if info.file_size > limit:
            raise ValueError(
                f"{source}: its record {info.filename!r} declares {info.file_size} bytes "
                f"(at most {limit} allowed); it is not inflated."
            )
    return records


def _is_tensor_record(name):
    parts = name.split("/")
    return len(parts) == 3 and parts[1] == "data"


def _tensors(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)


def _check_declared_sizes(structure, records, config, format_name, source):
    """Tensor records (declared in the zip directory) and tensors (declared by the pickled
    structure, loaded on the meta device) within what the module ``config`` needs."""
    values = sum(math.prod(shape) for shape in _expected_shapes(config).values())
    copies = _CHECKPOINT_COPIES if format_name == CHECKPOINT_FORMAT_NAME else 1
    budget = values * _BYTES_PER_VALUE * copies + _RECORD_SLACK_BYTES
    in_records = sum(size for name, size in records.items() if _is_tensor_record(name))
    declared = sum(max(t.untyped_storage().nbytes(), t.numel() * t.element_size())
                   for t in _tensors(structure))
    largest = max(in_records, declared)
    if largest > budget:
        raise ValueError(
            f"{source}: its tensors declare {largest} bytes, more than the {budget} that "
            f"the module its configuration describes ({_summary(config)}) can need; they "
            "are not inflated."
        )


def load_weights(path):
    """Read and check a weight file; raise ValueError naming what is wrong.

    Returns
    -------
    config : dict
    state_dict : dict of str to Tensor
        Floating-point tensors as float32.
    metadata : dict
    """
    payload = _read(path, FORMAT_NAME, "weight file")
    return payload["config"], payload["state_dict"], dict(payload["metadata"])


def save_weight_delta(path, config, state_dict, base_state, metadata=None):
    """Write, as float16, the tensors of ``state_dict`` that differ from ``base_state``.

    The base is named in ``metadata["base"]`` (a shipped model); :func:`load_expert` puts
    the delta back on it. Written atomically, with a checksum, like a weight file.

    Returns
    -------
    path : pathlib.Path
    """
    config = check_config(config, source="the model configuration")
    _check_state({k: v.detach().cpu() for k, v in state_dict.items()}, config,
                 "the weights to save")
    delta = {key: value.detach().cpu().half() for key, value in state_dict.items()
             if not torch.equal(value.detach().cpu().float(), base_state[key].float())}
    if not delta:
        raise ValueError("The weights equal the base model's: there is no delta to save.")
    payload = {"format": DELTA_FORMAT_NAME, "version": FORMAT_VERSION, "config": config,
               "state_dict": delta, "metadata": dict(metadata or {})}
    path = Path(path)
    _write(path, payload, partial=True)
    return path


def load_expert(name):
    """Config and full state of the shipped expert ``name``: its base model's tensors with
    the expert's delta on them, every file checksum- and shape-checked.

    Only registry names: the name comes from a weight file's metadata, which must not be
    able to point the package at an arbitrary file.
    """
    registry = _registry()
    entry = registry.get(name)
    if entry is None or entry.get("kind") != "expert" or entry.get("base") not in registry:
        experts = sorted(n for n, e in registry.items() if e.get("kind") == "expert")
        raise ValueError(f"Unknown expert weights {name!r}; shipped: {experts}.")
    path, _ = pretrained_path(name)
    payload = _read(path, DELTA_FORMAT_NAME, "weight delta", partial=True)
    config, base_state, _, _ = resolve_weights(entry["base"])
    if payload["config"] != config:
        raise ValueError(
            f"Expert weights {name!r} describe a module ({_summary(payload['config'])}) "
            f"other than their base {entry['base']!r} ({_summary(config)})."
        )
    return config, {**base_state, **payload["state_dict"]}


# ------------------------------------------------------------------------------ checkpoints
def save_checkpoint(path, config, state_dict, optimizer_state, *, history, params, fitted,
                    metadata=None):
    """Write a training checkpoint atomically: a weight file plus what resumes training.

    Parameters
    ----------
    path : str or path-like
        Destination.
    config, state_dict, metadata
        As in :func:`save_weights` (tensors kept in full precision).
    optimizer_state : dict
        ``optimizer.state_dict()`` (tensors and plain values).
    history : list of dict
        Training history (stored as JSON).
    params : dict
        JSON-able estimator parameters (stored as JSON).
    fitted : dict
        JSON-able fitted state (stored as JSON).

    Returns
    -------
    path : pathlib.Path
    """
    path = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT_NAME,
        "version": FORMAT_VERSION,
        "config": check_config(config, source="the model configuration"),
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "optimizer": _detach(optimizer_state),
        "history": _to_json(list(history), "the training history", allow_nan=True),
        "params": _to_json(params, "the estimator parameters"),
        "fitted": _to_json(fitted, "the fitted state"),
        "metadata": dict(metadata or {}),
    }
    _write(path, payload)
    return path


def _to_json(value, what, *, allow_nan=False):
    def scalar(obj):  # numpy scalars
        if getattr(obj, "ndim", None) == 0 and hasattr(obj, "item"):
            return obj.item()
        raise TypeError(f"{type(obj).__name__} is not JSON serializable")

    try:
        return json.dumps(value, allow_nan=allow_nan, default=scalar)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Cannot store {what} in a checkpoint: {exc}.") from exc


def _detach(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, dict):
        return {k: _detach(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_detach(v) for v in value)
    return value


def load_checkpoint(path):
    """Read and check a training checkpoint written by :func:`save_checkpoint`.

    Returns
    -------
    checkpoint : dict
        ``config``, ``state_dict`` (float32), ``optimizer`` (checked for structure and
        finite values; matched to the module by :func:`check_optimizer_state`),
        ``history`` (list of dict), ``params`` (dict), ``fitted`` (dict, range-checked)
        and ``metadata``.

    Raises
    ------
    ValueError
        If the file is missing, corrupt, unsafe, fails its checksum or holds out-of-range
        settings.
    """
    source = _describe(path)
    payload = _read(path, CHECKPOINT_FORMAT_NAME, "checkpoint")
    out = {"config": payload["config"], "state_dict": payload["state_dict"],
           "metadata": dict(payload["metadata"])}
    for key, kind in (("history", list), ("params", dict), ("fitted", dict)):
        text = payload.get(key)
        try:
            value = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            value = None
        if not isinstance(value, kind):
            raise ValueError(f"{source}: the checkpoint entry {key!r} is missing or invalid.")
        out[key] = value
    if len(out["history"]) > _MAX_EPOCHS_RECORDED or not all(
        isinstance(row, dict) for row in out["history"]
    ):
        raise ValueError(f"{source}: the training history is invalid.")
    out["fitted"] = _check_fitted(out["fitted"], source)
    out["params"] = _check_params(out["params"], source)
    out["optimizer"] = _check_optimizer_structure(payload.get("optimizer"), source)
    return out


def _check_int_entry(value, name, low, high, source):
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{source}: {name} must be an integer in [{low}, {high}], got "
                         f"{value!r}.")
    return value


def _check_params(params, source):
    """JSON estimator parameters: bounded integers, and tuples where the estimator expects
    them (the other checks are the estimator's own)."""
    for name, (low, high) in PARAM_LIMITS.items():
        if params.get(name) is not None:
            _check_int_entry(params[name], f"parameter {name}", low, high, source)
    for name in ("train_sigma", "image_shape"):
        if isinstance(params.get(name), list):
            params[name] = tuple(params[name])
    for name in ("random_state", "init_weights", "callbacks"):
        value = params.get(name)
        kind = {"random_state": int, "init_weights": str, "callbacks": type(None)}[name]
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise ValueError(f"{source}: parameter {name}={value!r} cannot be restored from "
                             "a checkpoint.")
    return params


def _check_fitted(fitted, source):
    allowed = {"n_channels_in", "n_features_in", "training_mode", "n_partial_fit_calls",
               "seed"}
    unexpected = sorted(set(fitted) - allowed)
    if unexpected:
        raise ValueError(f"{source}: unexpected fitted-state entries {unexpected}.")
    low, high = CONFIG_LIMITS["channels"]
    out = {
        "n_channels_in": _check_int_entry(fitted.get("n_channels_in"), "n_channels_in", low,
                                          high, source),
        "n_partial_fit_calls": _check_int_entry(fitted.get("n_partial_fit_calls"),
                                                "n_partial_fit_calls", 0,
                                                _MAX_EPOCHS_RECORDED, source),
        "seed": _check_int_entry(fitted.get("seed"), "seed", 0, 2**31 - 1, source),
    }
    if fitted.get("training_mode") not in _TRAINING_MODES:
        raise ValueError(f"{source}: training_mode must be one of {list(_TRAINING_MODES)}, "
                         f"got {fitted.get('training_mode')!r}.")
    out["training_mode"] = fitted["training_mode"]
    if fitted.get("n_features_in") is not None:
        out["n_features_in"] = _check_int_entry(fitted["n_features_in"], "n_features_in", 1,
                                                2**40, source)
    return out


def _check_optimizer_structure(state, source):
    def bad(reason):
        return ValueError(f"{source}: invalid optimizer state ({reason}).")

    if not isinstance(state, dict) or set(state) != {"state", "param_groups"}:
        raise bad("expected the entries 'state' and 'param_groups'")
    groups, per_param = state["param_groups"], state["state"]
    if not isinstance(groups, (list, tuple)) or not groups:
        raise bad("no parameter groups")
    ids = []
    for group in groups:
        if not isinstance(group, dict) or not isinstance(group.get("params"), (list, tuple)):
            raise bad("a parameter group without parameters")
        ids += list(group["params"])
        for key, value in group.items():
            if key == "params":
                continue
            values = value if isinstance(value, (list, tuple)) else [value]
            for v in values:
                if v is not None and not isinstance(v, (bool, int, float)):
                    raise bad(f"hyper-parameter {key!r} is {v!r}")
                if isinstance(v, float) and not math.isfinite(v):
                    raise bad(f"hyper-parameter {key!r} is {v!r}")
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids) or len(
        set(ids)
    ) != len(ids):
        raise bad("parameter ids must be distinct integers")
    if not isinstance(per_param, dict) or not set(per_param) <= set(ids):
        raise bad("state for unknown parameters")
    for pid, entry in per_param.items():
        if not isinstance(entry, dict) or not set(entry) <= _OPTIMIZER_STATE_KEYS or not all(
            isinstance(v, torch.Tensor) for v in entry.values()
        ):
            raise bad(f"parameter {pid}: expected tensors among {sorted(_OPTIMIZER_STATE_KEYS)}")
        _check_finite({f"optimizer state {pid}/{k}": v for k, v in entry.items()}, source)
    return state


def check_optimizer_state(state, optimizer, *, source="the checkpoint"):
    """Check that a stored optimizer state fits ``optimizer`` before loading it.

    Parameter groups and their sizes must match, every per-parameter tensor but the scalar
    step count must have its parameter's shape, and the hyper-parameters are range-checked
    (``lr`` and ``eps`` positive, ``betas`` in [0, 1), ``weight_decay`` >= 0). Settings
    other than these and ``amsgrad``/``maximize`` keep the values of ``optimizer``.

    Returns
    -------
    state : dict
        A state dict ready for ``optimizer.load_state_dict``.
    """
    def bad(reason):
        return ValueError(f"{source}: the optimizer state does not fit the model ({reason}).")

    current = optimizer.state_dict()
    if len(state["param_groups"]) != len(current["param_groups"]):
        raise bad("different number of parameter groups")
    groups = []
    for stored, group, live in zip(state["param_groups"], current["param_groups"],
                                   optimizer.param_groups):
        if len(stored["params"]) != len(group["params"]):
            raise bad("different number of parameters")
        for pid, param in zip(stored["params"], live["params"]):
            for key, value in state["state"].get(pid, {}).items():
                if key != "step" and tuple(value.shape) != tuple(param.shape):
                    raise bad(f"{key} of shape {tuple(value.shape)} for a parameter of "
                              f"shape {tuple(param.shape)}")
                if key == "step" and (value.numel() != 1 or float(value) < 0):
                    raise bad("the step count must be one number >= 0")
        new = dict(group, params=list(stored["params"]))
        new.update(_optimizer_hyper_parameters(stored, bad))
        groups.append(new)
    return {"state": state["state"], "param_groups": groups}


def _optimizer_hyper_parameters(group, bad):
    out = {}
    checks = {
        "lr": lambda v: isinstance(v, (int, float)) and v > 0,
        "eps": lambda v: isinstance(v, (int, float)) and v > 0,
        "weight_decay": lambda v: isinstance(v, (int, float)) and v >= 0,
        "betas": lambda v: isinstance(v, (list, tuple)) and len(v) == 2
        and all(isinstance(b, (int, float)) and 0 <= b < 1 for b in v),
        "amsgrad": lambda v: isinstance(v, bool),
        "maximize": lambda v: isinstance(v, bool),
    }
    for key, ok in checks.items():
        if key in group:
            value = group[key]
            if (isinstance(value, bool) and key not in ("amsgrad", "maximize")) or not ok(value):
                raise bad(f"hyper-parameter {key}={value!r}")
            out[key] = tuple(value) if key == "betas" else value
    return out


# ------------------------------------------------------------------------------ registry
def _registry():
    text = resources.files("sklearn_denoise").joinpath("pretrained", "registry.json").read_text()
    return json.loads(text)


def _shipped_digests():
    return {entry["sha256"] for entry in _registry().values() if "sha256" in entry}


def available_models():
    """Names of the pretrained denoisers shipped in the package (experts excluded: they
    come with the model that names them)."""
    return sorted(name for name, entry in _registry().items()
                  if entry.get("kind", "denoiser") == "denoiser")


def model_descriptions():
    """``{name: one-line description}`` of the shipped pretrained denoisers (the registry's
    ``description``; "" for an entry without one)."""
    registry = _registry()
    return {name: registry[name].get("description", "") for name in available_models()}


def pretrained_path(name):
    """Path of a shipped model's weight file, after checking its SHA-256 checksum."""
    registry = _registry()
    if name not in registry:
        raise ValueError(
            f"Unknown pretrained model {name!r}; available: {sorted(registry)}."
        )
    entry = registry[name]
    path = Path(str(resources.files("sklearn_denoise").joinpath("pretrained", entry["file"])))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != entry["sha256"]:
        raise ValueError(
            f"Pretrained weights {path} fail their checksum (sha256 {digest}, expected "
            f"{entry['sha256']}): the installation is damaged; reinstall sklearn-denoise."
        )
    return path, entry


def resolve_weights(init_weights):
    """Load weights given a shipped model name or a file path."""
    if isinstance(init_weights, (str, os.PathLike)):
        name = os.fspath(init_weights)
        if name in _registry():
            path, entry = pretrained_path(name)
            config, state, metadata = load_weights(path)
            return config, state, metadata, entry
        return (*load_weights(name), {})
    raise TypeError(
        f"init_weights must be None, a pretrained model name or a file path, got "
        f"{init_weights!r}."
    )
