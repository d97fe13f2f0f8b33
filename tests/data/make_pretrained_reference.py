"""Reference outputs of the shipped "gray"/"color" models (tests/data/pretrained_reference.npz).

Regenerate only when the shipped weights change on purpose:
    python tests/data/make_pretrained_reference.py
"""
import sys
from pathlib import Path

import numpy as np

from sklearn_denoise import CNNDenoiser
from sklearn_denoise.datasets import load_sample_images


def inputs():
    gray = load_sample_images(size=64)[:2].astype(np.float32) / 255
    noisy = (gray + np.random.default_rng(0).normal(0, 25 / 255, gray.shape)).astype(np.float32)
    rgb = np.stack([gray, gray[:, ::-1], gray[:, :, ::-1]], axis=-1)
    noisy_rgb = (rgb + np.random.default_rng(1).normal(0, 25 / 255, rgb.shape)).astype(np.float32)
    return noisy, noisy_rgb


def outputs():
    noisy, noisy_rgb = inputs()
    return {
        "gray_blind": CNNDenoiser.pretrained("gray").transform(noisy),
        "gray_sigma": CNNDenoiser.pretrained("gray", sigma=25 / 255).transform(noisy),
        "color_blind": CNNDenoiser.pretrained("color").transform(noisy_rgb),
    }


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name(
        "pretrained_reference.npz")
    np.savez_compressed(out, **outputs())
    print(f"wrote {out}")
