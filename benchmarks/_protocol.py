"""Shared helpers for the benchmark and training scripts: image folders and the Set12 protocol.

Protocol (../shared/data/README.md): clean uint8 image -> float in [0, 1]; add
N(0, (sigma/255)^2) noise with a fixed seed, no clipping; denoise; clip to [0, 1], multiply
by 255 and round; PSNR against the uint8 clean image with peak 255.
"""

import subprocess
import time
from pathlib import Path

import numpy as np
from skimage import io

from sklearn_denoise._compare import add_noise, quantize
from sklearn_denoise.metrics import psnr, ssim

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def read_folder(folder, *, gray=True):
    """Read every PNG/JPEG/TIFF in ``folder`` (sorted) as uint8 arrays."""
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir()
                   if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".tif", ".tiff"})
    if not files:
        raise SystemExit(f"No images found in {folder}")
    images = [io.imread(p) for p in files]
    if gray:
        images = [img if img.ndim == 2 else img[..., 0] for img in images]
    return images, [p.stem for p in files]


def evaluate(denoise, images, sigma255, *, seed=0):
    """Mean PSNR and SSIM of ``denoise(noisy_float_image)`` over ``images`` at one sigma."""
    psnrs, ssims = [], []
    for k, clean in enumerate(images):
        noisy = add_noise(clean, sigma255, seed + k)
        out = quantize(denoise(noisy))
        psnrs.append(psnr(clean[None], out[None]))
        ssims.append(ssim(clean[None], out[None]))
    return float(np.mean(psnrs)), float(np.mean(ssims))


# Sensor-count protocol (benchmarks/bench_sensor_noise.py): uint16 counts
# black_level + Poisson(peak * clean) + N(0, read_noise^2), gain 1, rounded to integers;
# PSNR in counts with the peak as data range, outputs rounded to integer counts.
BLACK_LEVEL = 100
READ_NOISE = 2.0


def sensor_counts(clean, peak, seed):
    """Seeded uint16 counts of a clean uint8 image at ``peak`` photons for white."""
    from sklearn_denoise.noise import poisson_gaussian

    signal = peak * (np.asarray(clean, dtype=np.float64) / 255.0)
    noisy = poisson_gaussian(signal, gain=1.0, read_sigma=READ_NOISE, black_level=BLACK_LEVEL,
                             random_state=seed)
    return np.clip(np.rint(noisy), 0, np.iinfo(np.uint16).max).astype(np.uint16)


def counts_psnr(clean, peak, output):
    """PSNR (dB) of integer-rounded ``output`` counts against the expected counts."""
    expected = BLACK_LEVEL + peak * (np.asarray(clean, dtype=np.float64) / 255.0)
    rounded = np.rint(np.asarray(output, dtype=np.float64))
    mse = np.mean((rounded - expected) ** 2)
    return float(10 * np.log10(peak**2 / mse))


# Realistic-noise protocol (benchmarks/bench_realistic_noise.py, issue "practical blind
# denoising"): each kind is (what is done to the clean [0, 1] image, the true noise level).
REALISTIC_KINDS = {
    "correlated": "white Gaussian blurred by a 1-px Gaussian, std 20/255",
    "jpeg": "Gaussian sigma 15/255, then JPEG quality 75",
}


def realistic_noisy(clean, kind, seed):
    """Seeded noisy float image (and its true noise level) of a clean uint8 image."""
    from sklearn_denoise.noise import correlated_gaussian, gaussian, jpeg

    x = np.asarray(clean, dtype=np.float64) / 255.0
    if kind == "correlated":
        return correlated_gaussian(x, 20 / 255, correlation=1.0, random_state=seed), 20 / 255
    if kind == "jpeg":
        # a RandomState, as when these figures were first measured (an int seed would now
        # draw from numpy.random.default_rng, the generator of the Set12 protocol)
        rng = np.random.RandomState(seed)
        return jpeg(gaussian(x, 15 / 255, random_state=rng), quality=75), 15 / 255
    raise ValueError(f"unknown kind {kind!r}; one of {sorted(REALISTIC_KINDS)}")


def has_bm3d():
    """Whether the optional ``bm3d`` package is installed."""
    try:
        import bm3d  # noqa: F401
    except ImportError:
        return False
    return True


def seconds_per_image(func, image, repeats):
    """Median seconds of ``func(image)`` over ``repeats`` calls, after one warm-up call."""
    func(image)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func(image)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def git_commit():
    """The repository's short commit hash (for training records), or "unknown"."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
