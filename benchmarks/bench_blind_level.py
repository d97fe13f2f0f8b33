"""The blind noise level of CNNDenoiser on images the package never trained on.

``sklearn_denoise._noise_level.blind_level`` takes the weak-texture estimate of white
noise (``weak_texture_level``: the noise of the most weakly textured 7x7 patches) unless
the shipped learned estimator (:func:`sklearn_denoise.noise.estimate_noise_level`) finds
at least ``CORRELATED_RATIO`` times the wavelet estimate
(:func:`skimage.restoration.estimate_sigma`, the finest wavelet band) and
``CORRELATED_EXCESS`` more, or ``CORRELATED_FAINT_RATIO`` to ``CORRELATED_MAX_RATIO``
times and ``CORRELATED_FAINT_EXCESS`` more (``looks_correlated``: noise faint on the
normalised scale, the last two rows). This script shows where the three estimates stand on each
kind of noise and what the rule is worth: on the grayscale images
of ``skimage.data`` that ship with scikit-image (photographs, textures, microscopy,
astronomy; central 320x320 crops), seeded noise of each kind, the pretrained "gray"
model's PSNR three ways: with the wavelet level alone (no noise taken for correlated
noise), with ``blind_level`` and ``correlated_level`` but the shipped network for every
noise, and as shipped: where the noise is taken for correlated noise, the correlated-noise
expert (``CNNDenoiser.correlated_expert_``) runs instead of the network; on white noise
also given the true level, the ceiling of any estimate. The levels are
estimated on the images as given; the CNN estimates them after its ``normalize="auto"``
step (images far from [0, 1], such as the low-contrast ``microaneurysms``, are stretched
first); the "learned taken" column counts the images on which the rule picks the learned
level for the CNN, after that step.

``--decisions`` prints only the correlated-noise decision, without denoising: per noise,
the images whose two estimates pass ``looks_correlated``, how many of them the flat-region
rule (``flat_regions_support``: the flattest quarter of 15x15 blocks varies at least
``FLAT_SUPPORT`` times the learned level) turns back, and the smallest ratio of that
spread to the learned level among them.

    python benchmarks/bench_blind_level.py [--threads 2] [--noises "none;white 2;..."]
        [--decisions]
"""

import argparse
import io
import sys

import numpy as np
import torch
from PIL import Image
from skimage import data

from sklearn_denoise import CNNDenoiser
from sklearn_denoise._noise_level import (
    CORRELATED_EXCESS,
    CORRELATED_FAINT_EXCESS,
    CORRELATED_FAINT_RATIO,
    CORRELATED_MAX_RATIO,
    CORRELATED_RATIO,
    FLAT_SUPPORT,
    NoiseReading,
    estimate_level,
    flat_level,
    looks_correlated,
    weak_texture_level,
)
from sklearn_denoise._normalize import fit_normalization
from sklearn_denoise._sensor import estimate_gaussian_sigma
from sklearn_denoise.metrics import psnr
from sklearn_denoise.noise import correlated_gaussian

IMAGES = ("camera", "coins", "moon", "text", "brick", "grass", "gravel", "page", "clock",
          "cell", "horse", "hubble_deep_field", "astronaut", "coffee", "chelsea", "rocket",
          "immunohistochemistry", "retina", "microaneurysms")
CROP = 320


def _wavelet_only(den, x):
    """The baseline: the wavelet level, no noise taken for correlated noise, no expert."""
    readings = NoiseReading.correlated_level, NoiseReading.blind_level
    expert, den.correlated_expert_ = den.correlated_expert_, None
    NoiseReading.correlated_level = lambda self: None
    NoiseReading.blind_level = lambda self: estimate_gaussian_sigma(self.image)
    try:
        return den.transform(x)
    finally:
        NoiseReading.correlated_level, NoiseReading.blind_level = readings
        den.correlated_expert_ = expert


def _without_expert(den, x):
    expert, den.correlated_expert_ = den.correlated_expert_, None
    try:
        return den.transform(x)
    finally:
        den.correlated_expert_ = expert


def _image(name):
    image = getattr(data, name)()
    if image.ndim == 3:
        image = image[..., :3].mean(axis=-1)
    image = image.astype(np.float64)
    image = image / 255 if image.max() > 1 else image
    top, left = (max(0, (side - CROP) // 2) for side in image.shape)
    return image[top : top + CROP, left : left + CROP]


def _jpeg(image, quality):
    buffer = io.BytesIO()
    Image.fromarray(np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)).save(
        buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer), dtype=np.float64) / 255


def _noises(clean, seed):
    rng = np.random.default_rng(seed)
    return {
        "none": clean,
        "white 2": clean + rng.normal(0, 2 / 255, clean.shape),
        "white 5": clean + rng.normal(0, 5 / 255, clean.shape),
        "white 10": clean + rng.normal(0, 10 / 255, clean.shape),
        "white 15": clean + rng.normal(0, 15 / 255, clean.shape),
        "white 25": clean + rng.normal(0, 25 / 255, clean.shape),
        "white 50": clean + rng.normal(0, 50 / 255, clean.shape),
        "correlated 20, blur 1": correlated_gaussian(clean, 20 / 255, correlation=1.0,
                                                     random_state=seed),
        "correlated 20, blur 1.5": correlated_gaussian(clean, 20 / 255, correlation=1.5,
                                                       random_state=seed),
        "correlated 20, blur 2": correlated_gaussian(clean, 20 / 255, correlation=2.0,
                                                     random_state=seed),
        "correlated 10, blur 1": correlated_gaussian(clean, 10 / 255, correlation=1.0,
                                                     random_state=seed),
        "white 15, JPEG 75": _jpeg(clean + rng.normal(0, 15 / 255, clean.shape), 75),
        "none, JPEG 50": _jpeg(clean, 50),
        # faint on the [0, 1] scale, as a wide intensity span leaves noise (CT in HU)
        "correlated 3, blur 1": correlated_gaussian(clean, 3 / 255, correlation=1.0,
                                                    random_state=seed),
        "correlated 5, blur 1.5": correlated_gaussian(clean, 5 / 255, correlation=1.5,
                                                      random_state=seed),
    }


def _decisions(kinds):
    """The correlated-noise decision on every image and noise, with and without the
    flat-region rule."""
    rows = {}
    for seed, name in enumerate(IMAGES):
        for kind, noisy in _noises(_image(name), seed).items():
            if kinds is not None and kind not in kinds:
                continue
            x = noisy.astype(np.float32)[..., None]
            seen = fit_normalization(x, "auto").apply(x).astype(np.float32)
            learned = estimate_level(seen)
            if not looks_correlated(learned, estimate_gaussian_sigma(seen)):
                rows.setdefault(kind, [])
                continue
            flat = flat_level(seen)
            rows.setdefault(kind, []).append(np.inf if flat is None else flat / learned)
    print(f"| noise | images | correlated by the two estimates | turned back (flat < "
          f"{FLAT_SUPPORT} x learned) | smallest flat / learned |")
    print("|---|---:|---:|---:|---:|")
    for kind, ratios in rows.items():
        ratios = np.array(ratios)
        smallest = f"{ratios.min():.2f}" if len(ratios) else "-"
        print(f"| {kind} | {len(IMAGES)} | {len(ratios)} | "
              f"{int((ratios < FLAT_SUPPORT).sum())} | {smallest} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--noises", default=None,
                        help="rows to run, separated by semicolons (default: all)")
    parser.add_argument("--decisions", action="store_true",
                        help="only the correlated-noise decision, without denoising")
    args = parser.parse_args(argv)
    kinds = None if args.noises is None else args.noises.split(";")
    torch.set_num_threads(args.threads)
    if args.decisions:
        _decisions(kinds)
        return
    den = CNNDenoiser.pretrained("gray")
    rows = {}
    for seed, name in enumerate(IMAGES):
        clean = _image(name)
        for kind, noisy in _noises(clean, seed).items():
            if kinds is not None and kind not in kinds:
                continue
            x = noisy.astype(np.float32)
            levels = [func(x[..., None]) * 255
                      for func in (estimate_level, estimate_gaussian_sigma, weak_texture_level)]
            scores = [psnr(clean, np.clip(run(den, x[None])[0], 0, 1))
                      for run in (_wavelet_only, _without_expert, CNNDenoiser.transform)]
            if kind.startswith("white") and "JPEG" not in kind:
                known = den.set_params(sigma=float(kind.split()[1]) / 255)
                scores.append(psnr(clean, np.clip(known.transform(x[None])[0], 0, 1)))
                den.set_params(sigma=None)
            else:
                scores.append(np.nan)
            # as the CNN reads it: after its normalize="auto" step
            seen = fit_normalization(x[..., None], "auto")
            taken = NoiseReading(seen.apply(x[..., None])).correlated_level() is not None
            rows.setdefault(kind, []).append((*levels, *scores, taken))
        print(name, file=sys.stderr, flush=True)
    print(f"{len(IMAGES)} images of skimage.data, {CROP}x{CROP}; levels in 1/255; rule: "
          f"learned >= {CORRELATED_RATIO} x wavelet and >= wavelet + "
          f"{CORRELATED_EXCESS * 255:.0f}/255, or {CORRELATED_FAINT_RATIO}-"
          f"{CORRELATED_MAX_RATIO:.0f} x wavelet and >= wavelet + "
          f"{CORRELATED_FAINT_EXCESS * 255:.1f}/255\n")
    print("| noise | learned (range) | wavelet (range) | patches (range) | learned / wavelet | "
          "learned taken | PSNR, wavelet level | PSNR, blind_level | "
          "PSNR, as shipped (+ expert) | PSNR, true level | shipped - wavelet (min / max) | "
          "blind level - wavelet where the learned level is not taken (min / max) |")
    print("|---|---|---|---|---|---:|---:|---:|---:|---:|---|---|")
    for kind, values in rows.items():
        a = np.array(values)
        ratio = a[:, 0] / np.maximum(a[:, 1], 1e-3)
        change = a[:, 5] - a[:, 3]
        taken = int(a[:, 7].sum())
        white = (a[:, 4] - a[:, 3])[a[:, 7] == 0]
        white = (f"{white.mean():+.2f} ({white.min():+.2f} / {white.max():+.2f})"
                 if len(white) else "-")
        true = "-" if np.isnan(a[:, 6]).any() else f"{a[:, 6].mean():.2f}"
        print(f"| {kind} | {a[:, 0].min():.1f}-{a[:, 0].max():.1f} | "
              f"{a[:, 1].min():.1f}-{a[:, 1].max():.1f} | "
              f"{a[:, 2].min():.1f}-{a[:, 2].max():.1f} | {ratio.min():.2f}-{ratio.max():.2f} | "
              f"{taken}/{len(a)} | {a[:, 3].mean():.2f} | {a[:, 4].mean():.2f} | "
              f"{a[:, 5].mean():.2f} | {true} | "
              f"{change.mean():+.2f} ({change.min():+.2f} / {change.max():+.2f}) | {white} |")


if __name__ == "__main__":
    main()
