"""Multi-band images: joint denoising (MultibandDenoiser) against the pretrained gray CNN
band by band.

Eight uint16 bands mixed from three Set12 scenes (a random positive 8 x 3 mixing matrix,
bands of 2000-40000 counts), white Gaussian noise of a different level in each band (1.5
to 4 % of the band's peak), rounded to counts. Prints the PSNR over all bands (data range
65535) of the noisy cube, of ``CNNDenoiser.pretrained("gray")`` run on each band alone and
of ``MultibandDenoiser()`` (the same CNN on noise-whitened principal components), and the
gain.

Usage: python benchmarks/bench_multiband.py [--size 256] [--seeds 0 1 2]
"""

import argparse
import time
from pathlib import Path

import numpy as np

from sklearn_denoise import CNNDenoiser, MultibandDenoiser
from sklearn_denoise.io import read_image
from sklearn_denoise.metrics import psnr

SET12 = Path(__file__).resolve().parents[2] / "shared" / "data" / "set12"


def make_cube(seed, size):
    rng = np.random.default_rng(seed)
    names = sorted(SET12.glob("*.png"))
    picks = rng.choice(len(names), 3, replace=False)
    scenes = np.stack([read_image(names[i])[:size, :size] / 255.0 for i in picks], -1)
    mixing = rng.uniform(0.05, 1.0, (3, 8))
    mixing /= mixing.sum(axis=0)
    peaks = rng.uniform(2000, 40000, 8)
    clean = scenes @ mixing * peaks
    sigma = rng.uniform(0.015, 0.04, 8) * peaks
    noisy = clean + rng.normal(size=clean.shape) * sigma
    to_counts = lambda a: np.clip(np.rint(a), 0, 65535).astype(np.uint16)  # noqa: E731
    return to_counts(clean), to_counts(noisy)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    gray = CNNDenoiser.pretrained("gray")
    joint = MultibandDenoiser().fit(np.zeros((1, 16, 16, 8), np.uint16))
    print("| seed | noisy | band by band (CNN) | joint (MultibandDenoiser) | gain | time |")
    print("|---|---|---|---|---|---|")
    gains = []
    for seed in args.seeds:
        clean, noisy = make_cube(seed, args.size)
        ref = clean.astype(np.float64)
        bands = np.stack([gray.transform(noisy[np.newaxis, ..., b])[0]
                          for b in range(8)], -1)
        start = time.perf_counter()
        together = joint.transform(noisy[np.newaxis])[0]
        elapsed = time.perf_counter() - start
        scores = [psnr(ref, a.astype(np.float64), data_range=65535)
                  for a in (noisy, bands, together)]
        gains.append(scores[2] - scores[1])
        print(f"| {seed} | {scores[0]:.2f} | {scores[1]:.2f} | {scores[2]:.2f} | "
              f"{gains[-1]:+.2f} dB | {elapsed:.1f} s |")
    print(f"\nmean gain of joint over band by band: {np.mean(gains):+.2f} dB")


if __name__ == "__main__":
    main()
