"""Safe weight files: save atomically, load with ``weights_only=True``, verify contents.

A file holds ``{"format": "sklearn-denoise-cnn", "version": 1, "config": {...},
"state_dict": {...}, "metadata": {...}}`` where ``config`` is what rebuilds the module and
``metadata`` records how the weights were trained. Nothing is unpickled beyond tensors and
plain containers.
"""

import hashlib
import json
import os
from importlib import resources
from pathlib import Path

import torch

from ._atomic import atomic_open

FORMAT_NAME = "sklearn-denoise-cnn"
FORMAT_VERSION = 1
_CONFIG_KEYS = {
    "architecture": str,
    "channels": int,
    "depth": int,
    "width": int,
    "blocks": int,
    "noise_level_input": bool,
}


def save_weights(path, config, state_dict, metadata=None, *, half=False):
    """Write a weight file atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    state = {
        key: (value.detach().cpu().half() if half and value.is_floating_point() else
              value.detach().cpu())
        for key, value in state_dict.items()
    }
    payload = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "config": dict(config),
        "state_dict": state,
        "metadata": dict(metadata or {}),
    }
    with atomic_open(path, "xb") as fh:
        torch.save(payload, fh)
    return path


def load_weights(path):
    """Read and check a weight file; raise ValueError naming what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"Weight file {str(path)!r} does not exist.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt files
        raise ValueError(
            f"Could not read weight file {str(path)!r}: it is corrupt, truncated or not a "
            f"sklearn-denoise weight file ({type(exc).__name__}: {exc})."
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        raise ValueError(f"{str(path)!r} is not a sklearn-denoise weight file.")
    if payload.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} has weight format version {payload.get('version')!r}; this "
            f"version of sklearn-denoise reads version {FORMAT_VERSION}."
        )
    config = payload.get("config")
    if not isinstance(config, dict):
        raise ValueError(f"{str(path)!r} has no model configuration.")
    for key, kind in _CONFIG_KEYS.items():
        if not isinstance(config.get(key), kind):
            raise ValueError(f"{str(path)!r}: configuration entry {key!r} is missing or invalid.")
    state = payload.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{str(path)!r} has no valid state_dict.")
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    return config, state, dict(payload.get("metadata") or {})


def _registry():
    text = resources.files("sklearn_denoise").joinpath("pretrained", "registry.json").read_text()
    return json.loads(text)


def available_models():
    """Names of the pretrained models shipped in the package."""
    return sorted(_registry())


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
