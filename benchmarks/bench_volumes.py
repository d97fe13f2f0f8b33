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
VarianceStabilizedDenoiser(WaveletDenoiser) with both axes (PSNR in counts, peak as range),
and, with ``cnn`` among the methods, through the pretrained CNN blind (issue #30's
counts target).

``cnn`` is the shipped model, blind: ``CNNDenoiser.pretrained("gray")`` plane by plane
against ``CNNDenoiser.pretrained("gray", axes="ZYX")``, the stack network that sees each
plane's neighbours (aligned onto it) -- issue #30's targets: moving sigma 25 +1.5 dB,
static sigma 50 +3 dB, counts +1.5 dB.

    python benchmarks/bench_volumes.py [--size 128] [--frames 7] [--images 12]
        [--sigmas 25 50] [--methods wavelet tv nlmeans cnn] [--peak 30]

``--memory`` instead measures a 512 x 512 x 64 uint16 stack (noise of a Set12 image
repeated, Poisson-Gaussian counts) denoised by the stack network, each in a fresh process
(3 runs of each, alternated; the best time and the largest peak are printed):
peak resident memory (``ru_maxrss``) and seconds per voxel, against the 2-D model on the
same 64 planes one by one (seconds per pixel); issue #30's targets: 2 GB, 1.5x.
"""

import argparse
import resource
import subprocess
import sys
import time

import numpy as np
from _protocol import DATA, counts_psnr, git_commit, read_folder, sensor_counts

from sklearn_denoise import (
    CNNDenoiser,
    NLMeansDenoiser,
    TVDenoiser,
    VarianceStabilizedDenoiser,
    WaveletDenoiser,
)
from sklearn_denoise._compare import add_noise, quantize
from sklearn_denoise.metrics import psnr


def _cnn(axes):
    return CNNDenoiser.pretrained("gray", axes=axes)


METHODS = {"wavelet": WaveletDenoiser, "tv": TVDenoiser, "nlmeans": NLMeansDenoiser,
           "cnn": _cnn}
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
    parser.add_argument("--memory", action="store_true",
                        help="peak memory and time of a 512x512x64 uint16 stack instead")
    parser.add_argument("--memory-child", choices=("joint", "planes"), default=None,
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return memory_child(args.memory_child)
    if args.memory:
        return memory()

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
    if "cnn" in args.methods:
        start = time.perf_counter()
        planes = counts.reshape(-1, *counts.shape[2:])
        flat = _cnn("YX").transform(planes).reshape(counts.shape)
        mid = time.perf_counter()
        joint = _cnn("ZYX").transform(counts)
        end = time.perf_counter()
        _counts_row("cnn", args.peak, clean, counts, flat, joint, mid - start, end - mid)
    noisy_psnr = np.mean([counts_psnr(c, args.peak, x) for c, x in zip(clean, counts)])
    start = time.perf_counter()
    planes = counts.reshape(-1, *counts.shape[2:])
    flat = VarianceStabilizedDenoiser(WaveletDenoiser(axes="YX")).fit(planes).transform(
        planes).reshape(counts.shape)
    mid = time.perf_counter()
    joint = VarianceStabilizedDenoiser(WaveletDenoiser(axes="ZYX")).fit(counts).transform(
        counts)
    end = time.perf_counter()
    _counts_row("vst+wav", args.peak, clean, counts, flat, joint, mid - start, end - mid)


def _counts_row(name, peak, clean, counts, flat, joint, flat_s, joint_s):
    noisy_psnr = np.mean([counts_psnr(c, peak, x) for c, x in zip(clean, counts)])
    p_flat = np.mean([counts_psnr(c, peak, x) for c, x in zip(clean, flat)])
    p_joint = np.mean([counts_psnr(c, peak, x) for c, x in zip(clean, joint)])
    print(f"{name:<10}{'counts':<8}{peak:>6g}{noisy_psnr:>8.2f}{p_flat:>8.2f}"
          f"{p_joint:>8.2f}{p_joint - p_flat:>+7.2f}{flat_s:>8.1f}{joint_s:>9.1f}",
          flush=True)


MEMORY_SHAPE = (64, 512, 512)


def memory_child(mode):
    """Denoise the 512 x 512 x 64 stack once (after a warm-up plane) and print seconds
    and the process's peak resident memory in bytes."""
    images, _ = read_folder(DATA / "set12")
    clean = np.repeat(images[0][None], MEMORY_SHAPE[0], axis=0)  # 512 x 512 Set12 image
    counts = np.stack([sensor_counts(c, 30.0, k) for k, c in enumerate(clean)])
    est = _cnn("ZYX" if mode == "joint" else "YX")
    est.transform(counts[None, :3] if mode == "joint" else counts[:1])  # warm-up
    start = time.perf_counter()
    if mode == "joint":
        est.transform(counts[None])
    else:
        est.transform(counts)
    seconds = time.perf_counter() - start
    print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def memory():
    voxels = int(np.prod(MEMORY_SHAPE))
    print(f"# commit {git_commit()}, {time.strftime('%Y-%m-%d')}, a {MEMORY_SHAPE[2]} x "
          f"{MEMORY_SHAPE[1]} x {MEMORY_SHAPE[0]} uint16 stack (Poisson-Gaussian counts)")
    print(f"{'model':<22}{'seconds':>9}{'us/voxel':>10}{'peak RSS':>11}")
    seconds, peaks = {"planes": [], "joint": []}, {"planes": [], "joint": []}
    # alternated, best of 3 each: on a shared machine the load changes between runs
    for mode in ("planes", "joint") * 3:
        out = subprocess.run([sys.executable, __file__, "--memory-child", mode],
                             capture_output=True, text=True, check=True).stdout.split()
        seconds[mode].append(float(out[-2]))
        peaks[mode].append(int(out[-1]))
    for mode in ("planes", "joint"):
        name = "2-D, plane by plane" if mode == "planes" else "stack network (ZYX)"
        best = min(seconds[mode])
        print(f"{name:<22}{best:>9.1f}{1e6 * best / voxels:>10.2f}"
              f"{max(peaks[mode]) / 2**30:>9.2f} GB", flush=True)
    print(f"time per voxel, stack / 2-D: {min(seconds['joint']) / min(seconds['planes']):.2f}x"
          f" (best of 3 alternated runs each; all: {seconds})")


if __name__ == "__main__":
    main()
