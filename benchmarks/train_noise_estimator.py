"""Train the noise-level estimator shipped with the pretrained models.

The network (:class:`sklearn_denoise._modules.NoiseLevelNet`, 8 layers of 32 channels, a
quarter-resolution output) learns the logarithm of the noise standard deviation of 64x64
patches of ``../shared/data/train400`` (never Set12) degraded by
:class:`sklearn_denoise.noise.Degradation` with white and correlated Gaussian noise only
(``weights=(1 - c, 0, c)``, ``--correlated c``; sensor noise has its own statistical
model), JPEG included:
the target is the level of the noise before compression, the level the denoiser's
noise-level map is trained with. L1 loss on the log level (relative errors count alike at
every level), Adam with skorch's cosine ``LRScheduler``, batch 32.

The shipped estimator (about 30 minutes on 1 thread next to other work here):

    python benchmarks/train_noise_estimator.py --threads 1 --out noise_level.pt
    python benchmarks/register_pretrained.py noise_level.pt --name noise-level

Its bias and spread against the true level on Set12: benchmarks/bench_realistic_noise.py.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from skorch import NeuralNetRegressor
from skorch.callbacks import LRScheduler

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _protocol import DATA, git_commit, read_folder  # noqa: E402

from sklearn_denoise._modules import NoiseLevelNet  # noqa: E402
from sklearn_denoise._weights import save_weights  # noqa: E402
from sklearn_denoise.noise import Degradation  # noqa: E402

CONFIG = {"architecture": "noise-level", "channels": 1, "depth": 8, "width": 32, "blocks": 1,
          "noise_level_input": False}
_FLOOR = 0.5 / 255  # clean patches: the target is this level


class _DegradedPatches(torch.utils.data.Dataset):
    """Random degraded patches, drawn afresh on every access; target: log noise level."""

    def __init__(self, images, n_patches, patch_size, seed, degradation):
        self.images = images
        self.degradation = degradation
        self.n_patches = n_patches
        self.patch_size = patch_size
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return self.n_patches

    def __getitem__(self, idx):
        rng = self.rng
        image = self.images[idx % len(self.images)]
        p = self.patch_size
        top = rng.integers(0, image.shape[0] - p + 1)
        left = rng.integers(0, image.shape[1] - p + 1)
        clean = np.rot90(image[top : top + p, left : left + p], rng.integers(4))[..., None]
        noisy, _, noise_map, _ = self.degradation.sample(clean, rng)
        level = np.log(max(float(noise_map[0, 0, 0]), _FLOOR))
        x = torch.from_numpy(np.ascontiguousarray(noisy[..., 0], dtype=np.float32))[None]
        y = torch.full((1, p // 4, p // 4), level, dtype=torch.float32)
        return x, y




def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DATA / "train400"))
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--patches-per-image", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--depth", type=int, default=CONFIG["depth"])
    parser.add_argument("--width", type=int, default=CONFIG["width"])
    parser.add_argument("--correlated", type=float, default=0.65,
                        help="share of correlated (vs white) Gaussian noise (default 0.65)")
    parser.add_argument("--out", required=True, help="weight file to write")
    args = parser.parse_args(argv)
    config = {**CONFIG, "depth": args.depth, "width": args.width}
    degradation = Degradation(weights=(1 - args.correlated, 0.0, args.correlated))
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train, _ = read_folder(args.data)
    images = [img.astype(np.float32) / 255.0 for img in train]
    dataset = _DegradedPatches(images, args.patches_per_image * len(images), 64, args.seed,
                               degradation)
    net = NeuralNetRegressor(
        NoiseLevelNet,
        module__channels=1, module__depth=config["depth"], module__width=config["width"],
        criterion=torch.nn.L1Loss, optimizer=torch.optim.Adam, lr=args.lr, batch_size=32,
        max_epochs=args.epochs, train_split=None, iterator_train__shuffle=True,
        callbacks=[LRScheduler("CosineAnnealingLR", T_max=args.epochs, eta_min=args.lr / 100)],
    )
    start = time.time()
    net.fit(dataset, None)
    metadata = {
        "data": "train400 (400 grayscale 180x180 crops, BSD)",
        "recipe": json.dumps({"degradation": repr(degradation), "patch_size": 64,
                              "patches_per_image": args.patches_per_image, "batch_size": 32,
                              "epochs": args.epochs, "lr": args.lr,
                              "schedule": "cosine to 1%", "loss": "L1 on log level",
                              "optimizer": "Adam"}),
        "minutes": round((time.time() - start) / 60, 1),
        "commit": git_commit(),
        "script": "benchmarks/train_noise_estimator.py",
    }
    save_weights(args.out, config, net.module_.state_dict(), metadata, half=True)
    print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
