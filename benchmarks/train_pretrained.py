"""Train (or keep training) the shipped pretrained "gray" model with CNNDenoiser.partial_fit.

The recipe: a residual U-Net (4 levels, width 16, 2 residual blocks per level) trained on
``../shared/data/train400`` (never on Set12) with synthetic Gaussian noise, sigma drawn per
patch uniformly from [0, 55/255]; 64x64 patches, flips and rotations, batch 16, Adam with
a cosine learning-rate decay over ``--epochs`` epochs of 8 patches per image.

Resumable: after every epoch the estimator's weights, optimizer state, history and
parameters are written atomically to ``--checkpoint`` (``CNNDenoiser.save_checkpoint``:
tensors and JSON, never a pickle); running the same command again continues from it
(``CNNDenoiser.load_checkpoint``), so a long CPU run can be spread over several sittings.
``--init`` starts a new cosine cycle from existing weights (e.g. the shipped model)
instead of from scratch.

The network takes a noise-level map as an extra input channel (the true sigma of each
training patch; at inference the estimator fills it with ``skimage.restoration.estimate_sigma``
of the input, so the model stays blind for the user). ``--add-noise-map`` turns blind
weights (no noise-map channel) into such a model: the first convolution gets an extra input
channel with zero weights, so training starts from exactly the blind model's output.

    nohup python benchmarks/train_pretrained.py --epochs 240 \
        --checkpoint ~/ckpt/gray.ckpt.pt --export sklearn_denoise/pretrained/gray.pt &

``--train-noise mixed`` (the third stage, for sensor data) gives half of the patches
Poisson-Gaussian noise instead (photons at white log-uniform in [2, 1000], read noise
uniform in [0, 5] photo-electrons), each such patch normalised as at inference and given
its per-pixel noise-level map (``CNNDenoiser(train_noise="mixed")``)::

    nohup python benchmarks/train_pretrained.py --init gray --train-noise mixed \
        --lr 2e-4 --epochs 24 --eval-every 4 --checkpoint ~/ckpt/mixed.ckpt.pt \
        --export mixed.pt &

The correlated-noise expert shipped with the model ("gray-correlated",
``CNNDenoiser.correlated_expert_``) is the shipped network trained further on
:class:`sklearn_denoise.noise.Degradation` patches, four in five with spatially correlated
noise and one in five with white noise (JPEG after or before the noise on 30 % of them),
with its bottom level frozen (``skorch.callbacks.Freezer``), so that only the other
levels, a quarter of the parameters, need shipping; it is then registered as a delta on
the shipped weights (``register_pretrained.py --expert-of gray``)::

    nohup python benchmarks/train_pretrained.py --init gray --train-noise realistic \
        --degradation-weights 0.2 0 0.8 --freeze 'bottom.*' --lr 4e-4 --epochs 40 \
        --eval-every 10 --checkpoint ~/ckpt/expert.ckpt.pt --export expert.pt &

``--loss`` sets ``CNNDenoiser(loss=...)`` ("mse", the default of every stage above,
"l1" or "psnr": minus the mean patch PSNR, which weighs lightly noisy patches as much as
heavily noisy ones); it applies on resume too, so a run can go from "l1" to "mse".

Every ``--eval-every`` epochs it prints Set12 PSNR at sigma 15/25/50 (the protocol of
../shared/data/README.md) and, on Set12 as uint16 sensor counts at peaks 10/30/100, the
PSNR of benchmarks/bench_sensor_noise.py, for monitoring only; Set12 never enters
training.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Freezer

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _protocol import (  # noqa: E402
    DATA,
    REALISTIC_KINDS,
    counts_psnr,
    evaluate,
    git_commit,
    read_folder,
    realistic_noisy,
    sensor_counts,
)

from sklearn_denoise import CNNDenoiser  # noqa: E402
from sklearn_denoise._compare import quantize  # noqa: E402
from sklearn_denoise._weights import resolve_weights, save_weights  # noqa: E402
from sklearn_denoise.metrics import psnr  # noqa: E402
from sklearn_denoise.noise import Degradation  # noqa: E402

RECIPE = {
    "architecture": "unet",
    "depth": 4,
    "width": 16,
    "blocks": 2,
    "train_sigma": (0.0, 55 / 255),
    "patch_size": 64,
    "patches_per_image": 8,
    "batch_size": 16,
    "noise_level_input": True,
}


_NOISE_RECORDS = {
    "gaussian": "gaussian, sigma ~ U[0, 55/255]",
    "mixed": "gaussian, sigma ~ U[0, 55/255]; half the patches Poisson-Gaussian (peak "
             "log-U[2, 1000], read noise U[0, 5]/peak), per-pixel noise map",
    "realistic": "sklearn_denoise.noise.Degradation() per patch: white Gaussian (0.4), "
                 "Poisson-Gaussian (0.25), correlated Gaussian (0.35), sigma ~ U[0, 55/255], "
                 "JPEG q ~ U[30, 95] with probability 0.3; per-pixel noise map",
}


def _with_noise_map_channel(init, out):
    """Copy blind weights to ``out`` with a zero-weight noise-map input channel."""
    config, state, metadata, _ = resolve_weights(init)
    if config["noise_level_input"]:
        raise ValueError(f"{init!r} already takes a noise-level map.")
    key = "head.weight" if "head.weight" in state else "body.0.weight"  # U-Net or DnCNN
    state[key] = torch.cat([state[key], torch.zeros_like(state[key][:, :1])], dim=1)
    config = {**config, "noise_level_input": True}
    metadata = {**metadata, "initialized_from": f"{init} (+ zero noise-map channel)"}
    return save_weights(out, config, state, metadata)


def _widened(init, width, out, top_width=None):
    """Copy U-Net weights to a wider U-Net that computes exactly the same function.

    ``width`` widens every level (None keeps it), ``top_width`` the first,
    full-resolution level only (``UNet(top_width=...)``: the level of most computation and
    fewest parameters).

    Every convolution keeps the old weights in its first channels; the new output channels
    keep their random initialisation, and the weights from new input channels to old
    output channels are zero: the new channels carry values that never reach the old
    ones or the output until training makes them useful (function-preserving widening,
    in the spirit of Net2Net).
    """
    from sklearn_denoise._modules import module_kwargs
    from sklearn_denoise.networks import UNet

    config, state, metadata, _ = resolve_weights(init)
    width = width or config["width"]
    old_top = config.get("top_width") or config["width"]
    top_width = top_width or (width if "top_width" not in config else old_top)
    if config["architecture"] != "unet" or width < config["width"] or top_width < old_top \
            or (width, top_width) == (config["width"], old_top):
        raise ValueError(f"--widen/--widen-top need a U-Net narrower than {width} "
                         f"(first level {top_width}).")
    config = {**config, "width": width}
    if top_width != width:
        config["top_width"] = top_width
    torch.manual_seed(0)
    wide = UNet(**module_kwargs(config)).state_dict()
    for name, old in state.items():
        new = wide[name]
        new[tuple(slice(0, n) for n in old.shape)] = old.to(new.dtype)
        if new.ndim == 4 and "upsample" in name:  # ConvTranspose2d: (in, out, kh, kw)
            new[old.shape[0]:, : old.shape[1]] = 0
        elif new.ndim == 4:  # Conv2d: (out, in, kh, kw)
            new[: old.shape[0], old.shape[1]:] = 0
    metadata = {**metadata, "initialized_from": f"{init} (widened to width {width}, first "
                f"level {top_width}, function-preserving)"}
    return save_weights(out, config, wide, metadata)




def _deepened(init, blocks, out):
    """Copy U-Net weights to one with ``blocks`` residual blocks per level, same function.

    The old blocks keep their weights; every new block's second convolution is zero, so
    the block adds nothing (x + 0) until training makes it useful. The bottom level keeps
    its blocks (``bottom_blocks``): it holds most of the parameters of the weight budget.
    """
    from sklearn_denoise.networks import UNet

    config, state, metadata, _ = resolve_weights(init)
    old = config["blocks"]
    if config["architecture"] != "unet" or blocks <= old:
        raise ValueError(f"--deepen needs a U-Net with fewer than {blocks} blocks per level.")
    bottom = config.get("bottom_blocks") or 2 * old
    torch.manual_seed(0)
    deep = UNet(config["channels"], config["depth"], config["width"], blocks,
                config["noise_level_input"], bottom_blocks=bottom).state_dict()

    def new_name(name):
        parts = name.split(".")
        if parts[0] == "down" and parts[2] == str(old):  # the strided conv after the blocks
            parts[2] = str(blocks)
        return ".".join(parts)

    for name, value in state.items():
        deep[new_name(name)] = value.to(deep[new_name(name)].dtype)
    copied = {new_name(name) for name in state}
    for name in deep:
        if name not in copied and ".conv2." in name:
            deep[name].zero_()
    metadata = {**metadata, "initialized_from": f"{init} (deepened from {old} to {blocks} "
                f"residual blocks per level, function-preserving)"}
    config = {**config, "blocks": blocks, "bottom_blocks": bottom}
    return save_weights(out, config, deep, metadata)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DATA / "train400"))
    parser.add_argument("--val", default=str(DATA / "set12"))
    parser.add_argument("--epochs", type=int, default=240, help="length of the cosine cycle")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--checkpoint", required=True,
                        help="checkpoint file (CNNDenoiser.save_checkpoint), resumed if present")
    parser.add_argument("--init", default=None, help="start a new cycle from these weights")
    parser.add_argument("--blind", action="store_true",
                        help="train without the noise-level map input (the first stage of "
                        "the shipped model)")
    parser.add_argument("--add-noise-map", action="store_true",
                        help="--init weights are blind: add a zero noise-map input channel")
    parser.add_argument("--widen", type=int, default=None, metavar="WIDTH",
                        help="--init is a U-Net: start from it widened to WIDTH channels, "
                        "computing the same function")
    parser.add_argument("--widen-top", type=int, default=None, metavar="WIDTH",
                        help="--init is a U-Net: start from it with its first "
                        "(full-resolution) level widened to WIDTH channels, computing the "
                        "same function")
    parser.add_argument("--deepen", type=int, default=None, metavar="BLOCKS",
                        help="--init is a U-Net: start from it with BLOCKS residual blocks "
                        "per level (new blocks start as identities)")
    parser.add_argument("--degradation-weights", type=float, nargs=3, default=None,
                        metavar=("WHITE", "SENSOR", "CORRELATED"),
                        help="with --train-noise realistic: Degradation(weights=...), the "
                        "shares of white Gaussian, Poisson-Gaussian and correlated noise")
    parser.add_argument("--freeze", nargs="+", default=None, metavar="PATTERN",
                        help="parameters to keep fixed (skorch.callbacks.Freezer patterns, "
                        "e.g. 'bottom.*'); the correlated-noise expert trains all but the "
                        "bottom level")
    parser.add_argument("--export", default=None, help="weight file written after each eval")
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-noise", default="gaussian",
                        choices=["gaussian", "mixed", "realistic"],
                        help="CNNDenoiser's train_noise: mixed gives half the patches "
                        "Poisson-Gaussian sensor noise, realistic draws every patch's "
                        "degradation from sklearn_denoise.noise.Degradation; both with a "
                        "per-pixel noise map")
    parser.add_argument("--loss", default="mse", choices=["mse", "l1", "psnr"],
                        help="CNNDenoiser's loss (applied on resume too, so a run can "
                        "switch, e.g. from l1 to mse)")
    args = parser.parse_args(argv)
    recipe = {**RECIPE, "noise_level_input": not args.blind, "train_noise": args.train_noise}
    noise_record, noise_kind = _NOISE_RECORDS[args.train_noise], args.train_noise
    if args.degradation_weights:
        recipe["train_noise"] = Degradation(sigma_range=RECIPE["train_sigma"],
                                            weights=tuple(args.degradation_weights))
        noise_record = f"sklearn_denoise.noise.{recipe['train_noise']!r} per patch; per-pixel " \
            "noise map"
        noise_kind = "realistic"
    if args.threads:
        torch.set_num_threads(args.threads)

    train, _ = read_folder(args.data)
    X = np.stack(train).astype(np.float32) / 255.0
    val, _ = read_folder(args.val) if Path(args.val).is_dir() else ([], [])

    ckpt = Path(args.checkpoint).expanduser()
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    # the estimator's cosine schedule runs over --epochs partial_fit calls of one epoch
    # (see CNNDenoiser's lr_schedule; e = len(history_) at the epoch's start); Set12, not a
    # held-out part of train400, is the monitor
    schedule = {"lr": args.lr, "max_epochs": args.epochs, "lr_schedule": "cosine",
                "validation_fraction": 0.0, "loss": args.loss}
    if args.freeze:  # not stored in checkpoints: the same command passes it again on resume
        # at every epoch: Freezer's default (the first epoch of the history) never comes
        # again after a resume, whose module starts unfrozen
        schedule["callbacks"] = [("freezer", Freezer(args.freeze, at=lambda net: True))]
    if ckpt.exists():
        den = CNNDenoiser.load_checkpoint(ckpt, **schedule)  # checked; nothing is unpickled
        done = len(den.history_)
        print(f"resumed {ckpt} at epoch {done}/{args.epochs}", flush=True)
    else:
        init = args.init
        if init and args.add_noise_map:
            init = str(_with_noise_map_channel(init, ckpt.with_suffix(".init.pt")))
        if init and (args.widen or args.widen_top):
            init = str(_widened(init, args.widen, ckpt.with_suffix(".wide.pt"),
                                top_width=args.widen_top))
        if init and args.deepen:
            init = str(_deepened(init, args.deepen, ckpt.with_suffix(".deep.pt")))
        den = CNNDenoiser(**recipe, **schedule, init_weights=init, random_state=args.seed)
        if args.init:
            for key in ("architecture", "depth", "width", "blocks"):
                den.set_params(**{key: None})
        done = 0
    start = time.time()
    while done < args.epochs:
        den.partial_fit(X, epochs=1)
        done += 1
        loss = den.history_[-1, "train_loss"]
        den.save_checkpoint(ckpt)
        line = {"epoch": done, "lr": round(float(den.history_[-1, "event_lr"]), 7),
                "loss": round(float(loss), 6), "minutes": round((time.time() - start) / 60, 1)}
        if val and (done % args.eval_every == 0 or done == args.epochs):
            for s in (15, 25, 50):
                line[f"set12_{s}"] = round(evaluate(
                    lambda img: den.transform(img[None].astype(np.float32))[0], val, s)[0], 3)
            for peak in (10, 30, 100):  # sensor counts, benchmarks/bench_sensor_noise.py
                line[f"counts_{peak}"] = round(float(np.mean([
                    counts_psnr(clean, peak, den.transform(sensor_counts(clean, peak, k)[None])[0])
                    for k, clean in enumerate(val)
                ])), 3)
            for kind in REALISTIC_KINDS:  # benchmarks/bench_realistic_noise.py, true level
                scores = []
                for k, clean in enumerate(val):
                    noisy, level = realistic_noisy(clean, kind, k)
                    out = den.set_params(sigma=level).transform(
                        noisy[None].astype(np.float32))[0]
                    scores.append(psnr(clean[None], quantize(out)[None]))
                den.set_params(sigma=None)
                line[f"{kind}_true"] = round(float(np.mean(scores)), 3)
            if args.export:
                den.save(args.export, half=True, metadata={
                    "data": "train400 (400 grayscale 180x180 crops, BSD)",
                    "recipe": json.dumps({**recipe, "train_noise": noise_kind,
                                          "lr": args.lr, "epochs": args.epochs, "loss": args.loss,
                                          "schedule": "cosine to 1%", "optimizer": "Adam",
                                          "noise": noise_record}),
                    "epochs_done": done,
                    "init": args.init,
                    "noise_map_added_to_init": bool(args.add_noise_map),
                    "frozen": " ".join(args.freeze or []),
                    "commit": git_commit(),
                    "script": "benchmarks/train_pretrained.py",
                })
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
