"""Blind denoising of realistic noise: white, correlated, JPEG-compressed and sensor noise.

Data: the Set12 images (../shared/data/set12), seeded per image (benchmarks/_protocol.py):

- ``correlated``: white Gaussian noise blurred by a 1-px Gaussian, per-pixel std 20/255;
- ``jpeg``: Gaussian noise sigma 15/255, then JPEG quality 75;
- ``gauss15`` / ``gauss25`` / ``gauss50``: white Gaussian noise (the protocol of
  ../shared/data/README.md);
- ``counts10`` / ``counts30`` / ``counts100``: uint16 sensor counts ``100 + Poisson(peak *
  clean) + N(0, 2^2)`` (benchmarks/bench_sensor_noise.py).

PSNR in dB averaged over the 12 images: float outputs clipped and rounded to uint8 against
the clean image; counts rounded to integers against the expected counts with the peak as
data range. Rows: the noisy input; the CNN's default call (blind); the same network given
the true noise level (``sigma``) or, for counts, the true ``NoiseModel``; the default call
without the correlated-noise expert (``correlated_expert_ = None``: the shipped network
on every noise); NLMeansDenoiser();
VarianceStabilizedDenoiser(BM3DDenoiser()) (noise model estimated per image; needs the
``bm3d`` package). Then the margins the targets ask for, the noise-level estimates against
the true level on every float noise (bias and spread, in 1/255 units; the weak-texture
estimate is the CNN's blind level of white noise), and the CNN's
seconds per 256x256 image (white and correlated noise) next to a 17-layer DnCNN's in the
same run.

    python benchmarks/bench_realistic_noise.py [--model gray|PATH] [--no-bm3d]
        [--noises correlated,jpeg,...]
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from skimage.restoration import estimate_sigma

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _protocol import (  # noqa: E402
    BLACK_LEVEL,
    DATA,
    READ_NOISE,
    counts_psnr,
    has_bm3d,
    read_folder,
    realistic_noisy,
    seconds_per_image,
    sensor_counts,
)

from sklearn_denoise import (  # noqa: E402
    BM3DDenoiser,
    CNNDenoiser,
    NLMeansDenoiser,
    VarianceStabilizedDenoiser,
    available_models,
)
from sklearn_denoise._compare import add_noise, quantize  # noqa: E402
from sklearn_denoise._noise_level import weak_texture_level  # noqa: E402
from sklearn_denoise.metrics import psnr  # noqa: E402
from sklearn_denoise.noise import NoiseModel, estimate_noise_level  # noqa: E402

NOISES = ("correlated", "jpeg", "gauss15", "gauss25", "gauss50", "counts10", "counts30",
          "counts100")
TRUE_MODEL = NoiseModel(gain=1.0, read_noise=READ_NOISE, black_level=BLACK_LEVEL)


def noisy_set(noise, clean):
    """Seeded noisy images of one noise type, with the true level (None for counts)."""
    if noise.startswith("counts"):
        peak = float(noise[len("counts"):])
        return [sensor_counts(c, peak, seed=k) for k, c in enumerate(clean)], None
    if noise.startswith("gauss"):
        sigma = int(noise[len("gauss"):])
        return [add_noise(c, sigma, k) for k, c in enumerate(clean)], sigma / 255
    pairs = [realistic_noisy(c, noise, k) for k, c in enumerate(clean)]
    return [p[0] for p in pairs], pairs[0][1]


def score(noise, clean, outputs):
    if noise.startswith("counts"):
        peak = float(noise[len("counts"):])
        return float(np.mean([counts_psnr(c, peak, o) for c, o in zip(clean, outputs)]))
    return float(np.mean([psnr(c[None], quantize(o)[None]) for c, o in zip(clean, outputs)]))


def _cnn(model, **params):
    if model in available_models():
        return CNNDenoiser.pretrained(model, **params)
    return CNNDenoiser.load(model, **params)




def _denoise_each(make, images):
    outputs = []
    for img in images:
        x = img[None] if img.dtype == np.uint16 else img[None].astype(np.float32)
        est = make()
        if not hasattr(est, "n_channels_in_"):
            est.fit(x)
        outputs.append(est.transform(x)[0])
    return outputs




def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", default=str(DATA / "set12"))
    parser.add_argument("--model", default="gray", help="pretrained name or weight file")
    parser.add_argument("--noises", default=",".join(NOISES))
    parser.add_argument("--no-bm3d", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    noises = args.noises.split(",")
    clean, _ = read_folder(args.images)
    data = {noise: noisy_set(noise, clean) for noise in noises}
    blind = _cnn(args.model)
    single = _cnn(args.model)
    single.correlated_expert_ = None
    bm3d = has_bm3d() and not args.no_bm3d

    def true_level(noise, level):
        if level is None:
            return lambda: _cnn(args.model, noise_model=TRUE_MODEL)
        return lambda: _cnn(args.model, sigma=level)

    rows = {
        "noisy input": lambda noise, images, level: images,
        "cnn (default, blind)": lambda noise, images, level: _denoise_each(lambda: blind,
                                                                           images),
        "cnn (true level / model)": lambda noise, images, level: _denoise_each(
            true_level(noise, level), images),
        "cnn (blind, no expert)": lambda noise, images, level: _denoise_each(
            lambda: single, images),
        "NLMeansDenoiser()": lambda noise, images, level: _denoise_each(NLMeansDenoiser,
                                                                        images),
    }
    if bm3d:
        rows["VST + BM3D (estimated model)"] = lambda noise, images, level: _denoise_each(
            lambda: VarianceStabilizedDenoiser(BM3DDenoiser()), images)

    print(f"## PSNR (dB) on {Path(args.images).name}, model {args.model}\n")
    print("| method | " + " | ".join(noises) + " |")
    print("|---|" + "---:|" * len(noises))
    results = {}
    for label, run in rows.items():
        cells = []
        for noise in noises:
            images, level = data[noise]
            value = score(noise, clean, run(noise, images, level))
            results.setdefault(label, {})[noise] = value
            cells.append(f"{value:.2f}")
        print(f"| {label} | " + " | ".join(cells) + " |", flush=True)

    print("\n## Targets: blind - true (>= -0.3), blind - NLM and blind - VST+BM3D (>= 1)\n")
    print("| margin | " + " | ".join(noises) + " |")
    print("|---|" + "---:|" * len(noises))
    ours = results["cnn (default, blind)"]
    for label in ("cnn (true level / model)", "NLMeansDenoiser()",
                  "VST + BM3D (estimated model)"):
        if label in results:
            print(f"| blind - {label} | " + " | ".join(
                f"{ours[n] - results[label][n]:+.2f}" for n in noises) + " |")

    print("\n## Noise-level estimates against the true level (1/255 units): "
          "mean bias / std over the images\n")
    print("| noise | true | estimate_noise_level | skimage estimate_sigma (wavelet) | "
          "weak_texture_level (patches) |")
    print("|---|---:|---:|---:|---:|")
    for noise in noises:
        images, level = data[noise]
        if level is None:
            continue
        learned = np.array([estimate_noise_level(img) for img in images]) * 255
        wavelet = np.array([estimate_sigma(img) for img in images]) * 255
        patches = np.array([weak_texture_level(img[..., None]) for img in images]) * 255
        true = level * 255
        print(f"| {noise} | {true:.1f} | {learned.mean() - true:+.2f} / {learned.std():.2f} "
              f"| {wavelet.mean() - true:+.2f} / {wavelet.std():.2f} "
              f"| {patches.mean() - true:+.2f} / {patches.std():.2f} |")

    image = next(img for img in data.get("gauss25", data[noises[0]])[0]
                 if img.shape == (256, 256))
    x = image[None].astype(np.float32)
    dncnn = CNNDenoiser("dncnn", depth=17, width=64, max_epochs=0, random_state=0).fit(x)
    ours_s = seconds_per_image(blind.transform, x, args.repeats)
    dncnn_s = seconds_per_image(dncnn.transform, x, args.repeats)
    print(f"\nCNN default call {ours_s:.4f} s per 256x256 image, DnCNN 17x64 {dncnn_s:.4f} s: "
          f"ratio {ours_s / dncnn_s:.3f} (target <= 0.333); median of {args.repeats}")
    if "correlated" in data:
        image = next(img for img in data["correlated"][0] if img.shape == (256, 256))
        corr_s = seconds_per_image(blind.transform, image[None].astype(np.float32),
                                   args.repeats)
        print(f"CNN default call on correlated noise (the expert) {corr_s:.4f} s: ratio "
              f"{corr_s / dncnn_s:.3f}")


if __name__ == "__main__":
    main()
