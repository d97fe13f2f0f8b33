"""Shared helpers for the benchmark and training scripts: image folders and the Set12 protocol.

Protocol (../shared/data/README.md): clean uint8 image -> float in [0, 1]; add
N(0, (sigma/255)^2) noise with a fixed seed, no clipping; denoise; clip to [0, 1], multiply
by 255 and round; PSNR against the uint8 clean image with peak 255.
"""

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
