"""Bright spots above the normalised range (stars, fluorescent beads, highlights): the
pretrained CNN's blind call on uint16 counts.

The CNN maps each image's 0.1 % and 99.9 % percentiles onto [0, 1]; the shipped network
learned images on [0, 1] and compresses what lies above, which the parts it puts above
``HEADROOM_START`` are denoised again for (``_cnn_steps.run_network``). Data: four
grayscale images of ``skimage.data`` (central 256x256 crops) with 6 Gaussian spots
(standard deviation 1.2 pixels) of 2 to 16 times the image's brightest value added, as
uint16 counts ``100 + Poisson(peak * image) + N(0, 2^2)`` (seeded). Prints, mean over the
images: PSNR in counts (the clean image's range), and the median and smallest ratio of
the denoised to the clean spots' peak (their centre pixel) and flux (5x5 sum above the
black level).

    python benchmarks/bench_bright_spots.py [--peak 100]
"""

import argparse

import numpy as np
from skimage import data

from sklearn_denoise import CNNDenoiser
from sklearn_denoise.metrics import psnr
from sklearn_denoise.noise import poisson_gaussian

IMAGES = ("camera", "moon", "coins", "brick")
SIDE, SPOTS, BLACK = 256, 6, 100


def _scene(name, rng):
    image = getattr(data, name)().astype(np.float64) / 255
    top, left = ((side - SIDE) // 2 for side in image.shape)
    image = image[top : top + SIDE, left : left + SIDE]
    yy, xx = np.mgrid[:SIDE, :SIDE]
    centres = rng.integers(8, SIDE - 8, (SPOTS, 2))
    heights = rng.uniform(2, 16, SPOTS) * image.max()
    for (y, x), height in zip(centres, heights):
        image = image + height * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 2.88)
    return image, centres


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peak", type=float, default=100.0,
                        help="photons at the scene's value 1")
    args = parser.parse_args()
    denoiser = CNNDenoiser.pretrained("gray")
    rows = []
    for seed, name in enumerate(IMAGES):
        rng = np.random.default_rng(seed)
        scene, centres = _scene(name, rng)
        clean = BLACK + args.peak * scene
        counts = np.rint(poisson_gaussian(args.peak * scene, gain=1, read_sigma=2,
                                          black_level=BLACK, random_state=seed))
        counts = np.clip(counts, 0, 65535).astype(np.uint16)
        out = denoiser.transform(counts[None])[0].astype(np.float64)
        peaks = [out[y, x] / clean[y, x] for y, x in centres]
        flux = [(out[y - 2 : y + 3, x - 2 : x + 3] - BLACK).sum()
                / (clean[y - 2 : y + 3, x - 2 : x + 3] - BLACK).sum() for y, x in centres]
        data_range = clean.max() - clean.min()
        rows.append([psnr(clean, counts.astype(np.float64), data_range=data_range),
                     psnr(clean, out, data_range=data_range), np.median(peaks),
                     np.min(peaks), np.median(flux), np.min(flux)])
    print("| image | noisy | CNN | peak ratio: median | smallest | flux ratio: median "
          "| smallest |")
    print("|---|---|---|---|---|---|---|")
    for name, row in zip(IMAGES, rows):
        print(f"| {name} | " + " | ".join(f"{v:.2f}" if i < 2 else f"{v:.3f}"
                                          for i, v in enumerate(row)) + " |")
    mean = np.mean(rows, axis=0)
    print("| mean | " + " | ".join(f"{v:.2f}" if i < 2 else f"{v:.3f}"
                                   for i, v in enumerate(mean)) + " |")


if __name__ == "__main__":
    main()
