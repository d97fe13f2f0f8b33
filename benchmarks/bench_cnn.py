"""Training and inference throughput of CNNDenoiser, side by side with plain PyTorch.

Training: ``CNNDenoiser.fit`` (skorch, no validation split) against a hand-written PyTorch
loop over the same module class (``sklearn_denoise.networks.UNet``), the same patch recipe
(random 64x64 crops, rotations and flips, Gaussian noise of a random sigma), batch size,
optimizer and number of epochs, in the same run; the ratio shows skorch's overhead
(target: within 10%). Inference: megapixels per
second of ``transform`` for each architecture at its default size, on one 512x512 image.

    python benchmarks/bench_cnn.py [--epochs 3] [--repeats 3]
"""

import argparse
import time

import numpy as np
import torch
from torch import nn

from sklearn_denoise import CNNDenoiser
from sklearn_denoise.datasets import load_sample_images
from sklearn_denoise.networks import UNet
from sklearn_denoise.noise import gaussian

PARAMS = dict(architecture="unet", depth=4, width=16, blocks=2, patch_size=64,
              patches_per_image=64, batch_size=16, train_sigma=(0.0, 55 / 255), lr=1e-3)


class _Patches(torch.utils.data.Dataset):
    """Random noisy/clean patch pairs, drawn afresh on every access."""

    def __init__(self, images, n_patches, seed):
        self.images = images
        self.n_patches = n_patches
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return self.n_patches

    def __getitem__(self, idx):
        rng, p = self.rng, PARAMS["patch_size"]
        image = self.images[idx % len(self.images)]
        top = rng.integers(0, image.shape[0] - p + 1)
        left = rng.integers(0, image.shape[1] - p + 1)
        clean = np.rot90(image[top : top + p, left : left + p], rng.integers(4))
        if rng.integers(2):
            clean = clean[:, ::-1]
        noisy = clean + rng.normal(0, rng.uniform(*PARAMS["train_sigma"]), clean.shape)
        as_tensor = lambda a: torch.from_numpy(np.array(np.moveaxis(a, -1, 0),  # noqa: E731
                                                        dtype=np.float32))
        return as_tensor(noisy), as_tensor(clean)


def _plain_torch(images, epochs, seed):
    """The same training with a plain PyTorch loop (no skorch)."""
    torch.manual_seed(seed)
    module = UNet(1, PARAMS["depth"], PARAMS["width"], PARAMS["blocks"])
    optimizer = torch.optim.Adam(module.parameters(), lr=PARAMS["lr"])
    criterion = nn.MSELoss()
    dataset = _Patches(list(images), PARAMS["patches_per_image"] * len(images), seed)
    loader = torch.utils.data.DataLoader(dataset, batch_size=PARAMS["batch_size"], shuffle=True)
    module.train()
    for _ in range(epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(module(xb), yb)
            loss.backward()
            optimizer.step()
    return len(dataset) * epochs


def _skorch(images, epochs, seed):
    CNNDenoiser(**PARAMS, max_epochs=epochs, lr_schedule="constant", validation_fraction=0.0,
                random_state=seed).fit(
        images[..., 0]
    )
    return PARAMS["patches_per_image"] * len(images) * epochs


def _time(func, *args):
    start = time.perf_counter()
    result = func(*args)
    return result, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    images = (load_sample_images(size=160).astype(np.float32) / 255)[..., None]
    rows = {"plain PyTorch loop": [], "CNNDenoiser.fit (skorch)": []}
    for rep in range(args.repeats):  # interleaved so drifts in machine load hit both
        n, sec = _time(_plain_torch, images, args.epochs, rep)
        rows["plain PyTorch loop"].append(n / sec)
        n, sec = _time(_skorch, images, args.epochs, rep)
        rows["CNNDenoiser.fit (skorch)"].append(n / sec)
    plain = np.median(rows["plain PyTorch loop"])
    print("\n## Training throughput (64x64 patches, batch 16, U-Net 4x16x2, median of "
          f"{args.repeats})\n")
    print("| path | patches/s | relative to plain loop |")
    print("|---|---:|---:|")
    for name, values in rows.items():
        med = np.median(values)
        print(f"| {name} | {med:.1f} | {med / plain:.3f} |")

    print("\n## Inference throughput (one 512x512 grayscale image, median of "
          f"{args.repeats})\n")
    print("| architecture | parameters | s / image | megapixels/s |")
    print("|---|---:|---:|---:|")
    clean = load_sample_images()[0][None].astype(np.float32) / 255  # camera, 512x512
    noisy = gaussian(clean, 25 / 255, random_state=0).astype(np.float32)
    for arch, extra in [("unet", {}), ("dncnn", {"depth": 17, "width": 64})]:
        den = CNNDenoiser(arch, **extra, max_epochs=0, random_state=0).fit(noisy)
        den.transform(noisy)  # warm-up
        times = [_time(den.transform, noisy)[1] for _ in range(args.repeats)]
        sec = float(np.median(times))
        n_params = sum(p.numel() for p in den.net_.module_.parameters())
        label = f"{arch} ({den.config_['depth']}x{den.config_['width']})"
        print(f"| {label} | {n_params} | {sec:.3f} | {noisy[0].size / sec / 1e6:.2f} |")


if __name__ == "__main__":
    main()
