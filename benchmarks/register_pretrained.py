"""Install a trained weight file into the package as a shipped pretrained model.

    python benchmarks/register_pretrained.py /path/to/gray.pt

Copies the file to ``sklearn_denoise/pretrained/gray.pt`` and records its SHA-256 in
``sklearn_denoise/pretrained/registry.json`` under two names: "gray" (the network as
trained) and "color" (the same network applied to RGB images channel by channel in a
decorrelated colour space, ``channel_strategy="opponent"``). ``--set KEY=VALUE`` adds or
replaces entries of the file's training metadata in the shipped copy (weights unchanged,
stored as float16), e.g. to describe earlier training stages.

    python benchmarks/register_pretrained.py noise_level.pt --name noise-level

registers a noise-level estimator (architecture "noise-level",
benchmarks/train_noise_estimator.py) under its name only, as ``"kind": "noise-estimator"``;
a denoiser whose metadata has ``noise_estimator=NAME`` (``--set noise_estimator=noise-level``)
uses it for its blind noise level.

    python benchmarks/register_pretrained.py expert.pt --name gray-correlated --expert-of gray

registers a correlated-noise expert of the shipped model "gray" (trained from it with
``train_pretrained.py --init gray --freeze 'bottom.*'``): only the tensors that differ
from "gray" are stored (float16, ``"kind": "expert"``), and the "gray" and "color" entries
name it as their ``correlated_expert``. Registering "gray" again drops that link: an
expert belongs to the weights it was trained next to.

    python benchmarks/register_pretrained.py stack.pt --name gray-stack --stack-of gray

registers a stack network (``benchmarks/train_stack.py``) as ``"kind": "stack"``: the
"gray" and "color" entries name it as their ``stack``, which
``CNNDenoiser.pretrained(name, axes="ZYX")`` loads; it keeps their correlated-noise
expert, a 2-D network run plane by plane.
"""

import argparse
import hashlib
import json
import shutil
from pathlib import Path

from sklearn_denoise._weights import (
    load_weights,
    resolve_weights,
    save_weight_delta,
    save_weights,
)

PACKAGE = Path(__file__).resolve().parents[1] / "sklearn_denoise" / "pretrained"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("weights")
    parser.add_argument("--name", default="gray")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="metadata entry to add or replace (repeatable)")
    parser.add_argument("--stack-of", default=None, metavar="BASE",
                        help="register the weights (a stack network, train_stack.py) as "
                        "the network that the shipped model BASE, and the models that "
                        "share its weights, load for volumes (axes 'ZYX', 'TYX')")
    parser.add_argument("--expert-of", default=None, metavar="BASE",
                        help="register the weights as the correlated-noise expert of the "
                        "shipped model BASE, stored as their difference from it")
    args = parser.parse_args(argv)
    config, state, metadata = load_weights(args.weights)  # refuses corrupt files
    if config["channels"] != 1:
        raise SystemExit("the shipped models are 1-channel networks")
    updates = dict(item.split("=", 1) for item in args.set if "=" in item)
    if len(updates) != len(args.set):
        raise SystemExit("--set takes KEY=VALUE")
    target = PACKAGE / f"{args.name}.pt"
    registry_path = PACKAGE / "registry.json"
    registry = json.loads(registry_path.read_text())
    if args.expert_of:
        base_config, base_state, _, _ = resolve_weights(args.expert_of)
        if base_config != config:
            raise SystemExit(f"the weights are not the network of {args.expert_of!r}")
        metadata.update(updates)
        metadata["base"] = args.expert_of
        save_weight_delta(target, config, state, base_state, metadata)
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        registry[args.name] = {"file": target.name, "sha256": digest, "kind": "expert",
                               "base": args.expert_of}
        for entry in registry.values():
            if entry.get("weights") == args.expert_of or entry is registry[
                    args.expert_of]:
                entry["correlated_expert"] = args.name
        _finish(registry_path, registry, target, digest, metadata)
        return
    if args.stack_of:
        if not config.get("context_planes"):
            raise SystemExit("--stack-of takes a stack network (context_planes > 0)")
        metadata.update(updates)
        save_weights(target, config, state, metadata, half=True)
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        base = registry[args.stack_of]
        registry[args.name] = {"file": target.name, "sha256": digest, "kind": "stack",
                               "base": args.stack_of}
        if "correlated_expert" in base:  # a 2-D network: runs plane by plane
            registry[args.name]["correlated_expert"] = base["correlated_expert"]
        for entry in registry.values():
            if entry is base or entry.get("weights") == args.stack_of:
                entry["stack"] = args.name
        _finish(registry_path, registry, target, digest, metadata)
        return
    if updates:
        metadata.update(updates)
        save_weights(target, config, state, metadata, half=True)
    else:
        shutil.copyfile(args.weights, target)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    if config["architecture"] == "noise-level":
        registry[args.name] = {"file": target.name, "sha256": digest,
                               "kind": "noise-estimator"}
    else:
        # the one-line descriptions of `sklearn-denoise denoise --list-models` are kept
        kept = {name: {"description": registry[name]["description"]}
                for name in (args.name, "color")
                if "description" in registry.get(name, {})}
        registry[args.name] = {"file": target.name, "sha256": digest,
                               "channel_strategy": "joint", **kept.get(args.name, {})}
        registry["color"] = {"file": target.name, "sha256": digest, "weights": args.name,
                             "channel_strategy": "opponent", **kept.get("color", {})}
    _finish(registry_path, registry, target, digest, metadata)


def _finish(registry_path, registry, target, digest, metadata):
    registry_path.write_text(json.dumps(registry, indent=2, sort_keys=True) + "\n")
    size = sum(p.stat().st_size for p in PACKAGE.glob("*.pt"))
    print(f"registered {target} ({target.stat().st_size / 1e6:.2f} MB, all weights "
          f"{size / 1e6:.2f} MB), sha256 {digest}")
    print("metadata:", json.dumps(metadata, indent=2))


if __name__ == "__main__":
    main()
