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

The JPEG-compressed-noise estimator ("noise-level-jpeg"), which reads images that
:func:`sklearn_denoise._compression.looks_jpeg_compressed` finds decoded from JPEG files,
learns the level of the noise as a JPEG file stores it (white noise followed by JPEG at
quality 40-95, against the clean patch's JPEG), half the patches gray and half the
luminance of 4:2:0 colour JPEGs (:class:`CompressedNoise`)::

    python benchmarks/train_noise_estimator.py --threads 1 --compressed --out jpeg_level.pt
    python benchmarks/register_pretrained.py jpeg_level.pt --name noise-level-jpeg
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
from sklearn_denoise.noise import Degradation, jpeg  # noqa: E402

CONFIG = {"architecture": "noise-level", "channels": 1, "depth": 8, "width": 32, "blocks": 1,
          "noise_level_input": False}
_FLOOR = 0.5 / 255  # clean patches: the target is this level


class CompressedNoise:
    """Noise as a JPEG file stores it, for the JPEG-compressed-noise estimator
    (``--compressed``). Same interface as :meth:`sklearn_denoise.noise.Degradation.sample`.

    White Gaussian noise (sigma uniform in ``sigma_range``) is added and the image saved
    as an 8-bit JPEG (quality uniform in ``quality_range``): the gray patch itself, or with
    probability ``colour_probability`` an RGB patch made of it and a second patch (each
    colour plane a random mix of the two, so that colour edges need not follow the
    luminance), noise in each colour plane and Pillow's 4:2:0 chroma subsampling, of which
    the luminance of the opponent colour space (the mean of R, G and B) is returned.

    The map holds the standard deviation of the noise as the file stores it: the noisy
    patch's JPEG minus the clean patch's JPEG at the same quality, what JPEG left of the
    noise and the errors it made on it (in the luminance of colour patches also the part
    of the subsampled chroma noise it carries), without the compression error of the
    clean content, so that a clean JPEG reads as noise-free. That is the level a network
    trained on white noise must be given to remove the noise (``bench_compressed.py``:
    the best level for gray photos is about the noise's at quality 90 and 1.1 times it at
    75, for the luminance of colour photos 1.2 times at both, as this level is).
    """

    def __init__(self, sigma_range=(0.0, 55 / 255), quality_range=(40, 95),
                 colour_probability=0.5):
        self.sigma_range = sigma_range
        self.quality_range = quality_range
        self.colour_probability = colour_probability

    def __repr__(self):
        return (f"CompressedNoise(sigma_range={self.sigma_range!r}, "
                f"quality_range={self.quality_range!r}, "
                f"colour_probability={self.colour_probability!r})")

    def sample(self, clean, rng, other=None):
        sigma = float(rng.uniform(*self.sigma_range))
        quality = int(rng.integers(self.quality_range[0], self.quality_range[1] + 1))
        if other is not None and rng.random() < self.colour_probability:
            mix = rng.uniform(0.0, 1.0, size=3)
            rgb = (1 - 0.5 * mix) * clean + 0.5 * mix * other  # (H, W, 3)
            noisy = jpeg(rgb + rng.normal(0.0, sigma, size=rgb.shape), quality=quality)
            compressed = jpeg(rgb, quality=quality).mean(axis=-1)
            clean, noisy = rgb.mean(axis=-1), noisy.mean(axis=-1)
        else:
            clean = clean[..., 0]
            noisy = jpeg(clean + rng.normal(0.0, sigma, size=clean.shape), quality=quality)
            compressed = jpeg(clean, quality=quality)
        level = float(np.std(noisy - compressed))
        noisy = noisy[..., np.newaxis].astype(np.float32)
        return noisy, clean[..., np.newaxis], np.full(noisy.shape, level, np.float32), "jpeg"


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
        if isinstance(self.degradation, CompressedNoise):  # a second patch for colour
            other = self.images[rng.integers(len(self.images))]
            top = rng.integers(0, other.shape[0] - p + 1)
            left = rng.integers(0, other.shape[1] - p + 1)
            other = other[top : top + p, left : left + p, np.newaxis]
            noisy, _, noise_map, _ = self.degradation.sample(clean, rng, other)
        else:
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
    parser.add_argument("--compressed", action="store_true",
                        help="train the JPEG-compressed-noise estimator instead: white "
                        "noise then JPEG on every patch (CompressedNoise)")
    parser.add_argument("--out", required=True, help="weight file to write")
    args = parser.parse_args(argv)
    config = {**CONFIG, "depth": args.depth, "width": args.width}
    degradation = (CompressedNoise() if args.compressed
                   else Degradation(weights=(1 - args.correlated, 0.0, args.correlated)))
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
