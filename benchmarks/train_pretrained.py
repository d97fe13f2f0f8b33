"""Train (or keep training) the shipped pretrained "gray" model with CNNDenoiser.partial_fit.

The recipe: a residual U-Net (4 levels, width 16, 2 residual blocks per level) trained on
``../shared/data/train400`` (never on Set12) with synthetic Gaussian noise, sigma drawn per
patch uniformly from [0, 55/255]; 64x64 patches, flips and rotations, batch 16, Adam with
a cosine learning-rate decay over ``--epochs`` epochs of 8 patches per image.

Resumable: after every epoch the whole estimator (weights, optimizer state, history) is
written atomically to ``--checkpoint``; running the same command again continues from it,
so a long CPU run can be spread over several sittings. ``--init`` starts a new cosine
cycle from existing weights (e.g. the shipped model) instead of from scratch.

    nohup python benchmarks/train_pretrained.py --epochs 240 \
        --checkpoint ~/ckpt/gray.joblib --export sklearn_denoise/pretrained/gray.pt &

Every ``--eval-every`` epochs it prints Set12 PSNR at sigma 15/25/50 (the protocol of
../shared/data/README.md) for monitoring only; Set12 never enters training.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _protocol import DATA, evaluate, read_folder  # noqa: E402

from sklearn_denoise import CNNDenoiser  # noqa: E402

RECIPE = {
    "architecture": "unet",
    "depth": 4,
    "width": 16,
    "blocks": 2,
    "train_sigma": (0.0, 55 / 255),
    "patch_size": 64,
    "patches_per_image": 8,
    "batch_size": 16,
}


def _atomic_dump(obj, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    joblib.dump(obj, tmp)
    os.replace(tmp, path)


def _commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DATA / "train400"))
    parser.add_argument("--val", default=str(DATA / "set12"))
    parser.add_argument("--epochs", type=int, default=240, help="length of the cosine cycle")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--checkpoint", required=True, help="joblib file, resumed if present")
    parser.add_argument("--init", default=None, help="start a new cycle from these weights")
    parser.add_argument("--export", default=None, help="weight file written after each eval")
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    train, _ = read_folder(args.data)
    X = np.stack(train).astype(np.float32) / 255.0
    val, _ = read_folder(args.val) if Path(args.val).is_dir() else ([], [])

    ckpt = Path(args.checkpoint).expanduser()
    if ckpt.exists():
        state = joblib.load(ckpt)
        den, done = state["estimator"], state["epochs_done"]
        print(f"resumed {ckpt} at epoch {done}/{args.epochs}", flush=True)
    else:
        den = CNNDenoiser(**RECIPE, lr=args.lr, init_weights=args.init,
                          random_state=args.seed)
        if args.init:
            for key in ("architecture", "depth", "width", "blocks"):
                den.set_params(**{key: None})
        done = 0
    start = time.time()
    while done < args.epochs:
        lr = args.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * done / args.epochs)))
        den.set_params(lr=lr)
        den.partial_fit(X, epochs=1)
        done += 1
        loss = den.history_[-1, "train_loss"]
        _atomic_dump({"estimator": den, "epochs_done": done}, ckpt)
        line = {"epoch": done, "lr": round(lr, 6), "loss": round(float(loss), 6),
                "minutes": round((time.time() - start) / 60, 1)}
        if val and (done % args.eval_every == 0 or done == args.epochs):
            for s in (15, 25, 50):
                line[f"set12_{s}"] = round(evaluate(
                    lambda img: den.transform(img[None].astype(np.float32))[0], val, s)[0], 3)
            if args.export:
                den.save(args.export, half=True, metadata={
                    "data": "train400 (400 grayscale 180x180 crops, BSD)",
                    "recipe": json.dumps({**RECIPE, "lr": args.lr, "epochs": args.epochs,
                                          "schedule": "cosine to 1%", "optimizer": "Adam",
                                          "noise": "gaussian, sigma ~ U[0, 55/255]"}),
                    "epochs_done": done,
                    "commit": _commit(),
                    "script": "benchmarks/train_pretrained.py",
                })
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
