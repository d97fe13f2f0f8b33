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
"""

import argparse
import hashlib
import json
import shutil
from pathlib import Path

from sklearn_denoise._weights import load_weights, save_weights

PACKAGE = Path(__file__).resolve().parents[1] / "sklearn_denoise" / "pretrained"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("weights")
    parser.add_argument("--name", default="gray")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="metadata entry to add or replace (repeatable)")
    args = parser.parse_args(argv)
    config, state, metadata = load_weights(args.weights)  # refuses corrupt files
    if config["channels"] != 1:
        raise SystemExit("the shipped models are 1-channel networks")
    updates = dict(item.split("=", 1) for item in args.set if "=" in item)
    if len(updates) != len(args.set):
        raise SystemExit("--set takes KEY=VALUE")
    target = PACKAGE / f"{args.name}.pt"
    if updates:
        metadata.update(updates)
        save_weights(target, config, state, metadata, half=True)
    else:
        shutil.copyfile(args.weights, target)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    registry_path = PACKAGE / "registry.json"
    registry = json.loads(registry_path.read_text())
    if config["architecture"] == "noise-level":
        registry[args.name] = {"file": target.name, "sha256": digest,
                               "kind": "noise-estimator"}
    else:
        registry[args.name] = {"file": target.name, "sha256": digest,
                               "channel_strategy": "joint"}
        registry["color"] = {"file": target.name, "sha256": digest, "weights": args.name,
                             "channel_strategy": "opponent"}
    registry_path.write_text(json.dumps(registry, indent=2, sort_keys=True) + "\n")
    size = sum(p.stat().st_size for p in PACKAGE.glob("*.pt"))
    print(f"registered {target} ({target.stat().st_size / 1e6:.2f} MB, all weights "
          f"{size / 1e6:.2f} MB), sha256 {digest}")
    print("metadata:", json.dumps(metadata, indent=2))


if __name__ == "__main__":
    main()
