"""Joint (``axes="ZYX"``) against plane-by-plane (``axes="YX"``) classical denoising of stacks.

Synthetic sequences from Set12: each image (centre crop of ``--size`` pixels) becomes a
stack of ``--frames`` planes, either static (the same plane repeated) or moving (each frame
shifted from the one before by a random integer step of -2 to 2 pixels in y and x, cut out
of the reflect-padded image), with independent Gaussian noise per plane (the Set12
protocol per stack: seeded N(0, (sigma/255)^2), no clipping; outputs clipped, rounded to
uint8; PSNR over the whole stack, peak 255). The 2-D column denoises every plane on its
own (``X`` of shape ``(n * Z, H, W)``), the joint column every stack as one volume (``X``
of shape ``(n, Z, H, W)``, one noise estimate per stack). Defaults of each denoiser, noise
level estimated. The last rows put uint16 sensor counts (peak ``--peak`` photons, black
level 100, read noise 2, gain 1) of the static stacks through
VarianceStabilizedDenoiser(WaveletDenoiser) with both axes (PSNR in counts, peak as range).

    python benchmarks/bench_volumes.py [--size 128] [--frames 7] [--images 12]
        [--sigmas 25 50] [--methods wavelet tv nlmeans] [--peak 30]
"""

import argparse
import time

import numpy as np
from _protocol import DATA, counts_psnr, git_commit, read_folder, sensor_counts

from sklearn_denoise import (
    NLMeansDenoiser,
    TVDenoiser,
    VarianceStabilizedDenoiser,
    WaveletDenoiser,
)
from sklearn_denoise._compare import add_noise, quantize
from sklearn_denoise.metrics import psnr

METHODS = {"wavelet": WaveletDenoiser, "tv": TVDenoiser, "nlmeans": NLMeansDenoiser}
MAX_STEP = 2


def stack_of(image, frames, size, moving, rng):
    """A (frames, size, size) uint8 stack cut from the centre of ``image``."""
    top = (image.shape[0] - size) // 2
    left = (image.shape[1] - size) // 2
    if not moving:
        return np.repeat(image[None, top:top + size, left:left + size], frames, axis=0)
    pad = MAX_STEP * frames
    padded = np.pad(image, pad, mode="reflect")
    steps = rng.randint(-MAX_STEP, MAX_STEP + 1, size=(frames, 2))
    steps[0] = 0
    offsets = np.cumsum(steps, axis=0)
    return np.stack([
        padded[pad + top + dy:pad + top + dy + size, pad + left + dx:pad + left + dx + size]
        for dy, dx in offsets
    ])


def stacks(images, frames, size, moving, seed=0):
    rng = np.random.RandomState(seed)
    return np.stack([stack_of(img, frames, size, moving, rng) for img in images])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--frames", type=int, default=7)
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--sigmas", type=int, nargs="+", default=[25, 50])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--peak", type=float, default=30.0)
    args = parser.parse_args()

    images, _ = read_folder(DATA / "set12")
    images = images[:args.images]
    print(f"# commit {git_commit()}, {time.strftime('%Y-%m-%d')}, {len(images)} Set12 "
          f"images, {args.frames} frames of {args.size}x{args.size}")
    print(f"{'method':<10}{'stack':<8}{'sigma':>6}{'noisy':>8}{'2-D':>8}{'joint':>8}"
          f"{'gain':>7}{'2-D s':>8}{'joint s':>9}")
    for moving in (False, True):
        clean = stacks(images, args.frames, args.size, moving)
        for sigma in args.sigmas:
            noisy = np.stack([add_noise(c, sigma, k) for k, c in enumerate(clean)])
            noisy_psnr = psnr(clean, quantize(noisy))
            for name in args.methods:
                start = time.perf_counter()
                planes = noisy.reshape(-1, *noisy.shape[2:])
                den = METHODS[name](axes="YX").fit(planes)
                flat = den.transform(planes).reshape(noisy.shape)
                mid = time.perf_counter()
                joint = METHODS[name](axes="ZYX").fit(noisy).transform(noisy)
                end = time.perf_counter()
                p_flat = psnr(clean, quantize(flat))
                p_joint = psnr(clean, quantize(joint))
                print(f"{name:<10}{'moving' if moving else 'static':<8}{sigma:>6}"
                      f"{noisy_psnr:>8.2f}{p_flat:>8.2f}{p_joint:>8.2f}"
                      f"{p_joint - p_flat:>+7.2f}{mid - start:>8.1f}{end - mid:>9.1f}",
                      flush=True)

    clean = stacks(images, args.frames, args.size, moving=False)
    counts = np.stack([sensor_counts(c, args.peak, k) for k, c in enumerate(clean)])
    noisy_psnr = np.mean([counts_psnr(c, args.peak, x) for c, x in zip(clean, counts)])
    start = time.perf_counter()
    planes = counts.reshape(-1, *counts.shape[2:])
    flat = VarianceStabilizedDenoiser(WaveletDenoiser(axes="YX")).fit(planes).transform(
        planes).reshape(counts.shape)
    mid = time.perf_counter()
    joint = VarianceStabilizedDenoiser(WaveletDenoiser(axes="ZYX")).fit(counts).transform(
        counts)
    end = time.perf_counter()
    p_flat = np.mean([counts_psnr(c, args.peak, x) for c, x in zip(clean, flat)])
    p_joint = np.mean([counts_psnr(c, args.peak, x) for c, x in zip(clean, joint)])
    print(f"{'vst+wav':<10}{'counts':<8}{args.peak:>6g}{noisy_psnr:>8.2f}{p_flat:>8.2f}"
          f"{p_joint:>8.2f}{p_joint - p_flat:>+7.2f}{mid - start:>8.1f}{end - mid:>9.1f}")


if __name__ == "__main__":
    main()
