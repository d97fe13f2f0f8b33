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

``--dark`` puts dark spots below the range instead (absorbing particles): each image
dimmed to ``3 + 0.3 * image`` with 6 spots of 20 to 80 % of its brightest value taken
away; the ratios are then of the spots' depth below that background (centre pixel and
5x5 sum).

``--timing`` adds the cost of those passes where they cover a whole image: a 1024x1024
``camera`` with 300 spots of 3 to 30 times its range spread over it, the blind call timed
with the passes and without (``HEADROOM_PASSES = 0``), alternately, best of 2.

    python benchmarks/bench_bright_spots.py [--peak 100] [--dark] [--timing]
"""

import argparse
import time

import numpy as np
from skimage import data

from sklearn_denoise import CNNDenoiser, _cnn_steps
from sklearn_denoise.metrics import psnr
from sklearn_denoise.noise import poisson_gaussian

IMAGES = ("camera", "moon", "coins", "brick")
SIDE, SPOTS, BLACK = 256, 6, 100


def _spots(image, n, low, high, rng):
    """``image`` with ``n`` Gaussian spots of ``low`` to ``high`` times its maximum added,
    and their centres."""
    image = np.array(image, dtype=np.float64)  # the caller's stays as it is
    side = image.shape[0]
    yy, xx = np.mgrid[:side, :side]
    centres = rng.integers(8, side - 8, (n, 2))
    for (y, x), height in zip(centres, rng.uniform(low, high, n) * image.max()):
        window = (slice(y - 8, y + 9), slice(x - 8, x + 9))
        image[window] += height * np.exp(-((yy[window] - y) ** 2
                                           + (xx[window] - x) ** 2) / 2.88)
    return image, centres


def _scene(name, rng, dark=False):
    """(scene, spot centres, the scene without its spots)."""
    image = getattr(data, name)().astype(np.float64) / 255
    top, left = ((side - SIDE) // 2 for side in image.shape)
    image = image[top : top + SIDE, left : left + SIDE]
    if dark:
        image = 3 + 0.3 * image
        return (*_spots(image, SPOTS, -0.8, -0.2, rng), image)
    return (*_spots(image, SPOTS, 2, 16, rng), image)


def _timing(denoiser, peak):
    from skimage.transform import resize

    scene, _ = _spots(resize(data.camera() / 255.0, (1024, 1024)), 300, 3, 30,
                      np.random.default_rng(0))
    counts = np.clip(np.rint(poisson_gaussian(peak * scene, gain=1, read_sigma=2,
                                              black_level=BLACK, random_state=0)),
                     0, 65535).astype(np.uint16)[None]
    denoiser.transform(counts[:, :256, :256])  # warm-up
    passes, seconds = _cnn_steps.HEADROOM_PASSES, {}
    try:
        for _ in range(2):
            for n in (passes, 0):
                _cnn_steps.HEADROOM_PASSES = n
                start = time.perf_counter()
                denoiser.transform(counts)
                seconds[n] = min(seconds.get(n, np.inf), time.perf_counter() - start)
    finally:
        _cnn_steps.HEADROOM_PASSES = passes
    print(f"\n1024x1024 with 300 spots: {seconds[passes]:.2f} s with the passes, "
          f"{seconds[0]:.2f} s without: ratio {seconds[passes] / seconds[0]:.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peak", type=float, default=100.0,
                        help="photons at the scene's value 1")
    parser.add_argument("--dark", action="store_true",
                        help="dark spots below the range instead of bright ones")
    parser.add_argument("--timing", action="store_true",
                        help="also time the passes over a whole image")
    args = parser.parse_args()
    denoiser = CNNDenoiser.pretrained("gray")
    rows = []
    for seed, name in enumerate(IMAGES):
        rng = np.random.default_rng(seed)
        scene, centres, without = _scene(name, rng, args.dark)
        clean = BLACK + args.peak * scene
        # bright spots: against the black level; dark ones: their depth below the scene
        base = BLACK + args.peak * without if args.dark else np.full_like(clean, BLACK)
        counts = np.rint(poisson_gaussian(args.peak * scene, gain=1, read_sigma=2,
                                          black_level=BLACK, random_state=seed))
        counts = np.clip(counts, 0, 65535).astype(np.uint16)
        out = denoiser.transform(counts[None])[0].astype(np.float64)
        peaks = [(out[y, x] - base[y, x]) / (clean[y, x] - base[y, x]) for y, x in centres]
        windows = [(slice(y - 2, y + 3), slice(x - 2, x + 3)) for y, x in centres]
        flux = [(out[w] - base[w]).sum() / (clean[w] - base[w]).sum() for w in windows]
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
    if args.timing:
        _timing(denoiser, args.peak)


if __name__ == "__main__":
    main()
