"""Denoising sensor counts: every denoiser on uint16 Poisson-Gaussian data, blind and with VST.

Data: the Set12 images as uint16 counts ``100 + Poisson(peak * clean) + N(0, 2^2)`` (gain 1,
black level 100, read noise 2 counts), peaks 10 / 30 / 100 photons, seeded, rounded to
integers (benchmarks/_protocol.py). Score: PSNR in counts with the peak as data range,
every output rounded to integer counts, averaged over the 12 images.

Rows: each denoiser's default call on the uint16 images (blind: nothing about the noise is
given), ``VarianceStabilizedDenoiser`` around each (noise model estimated per image), the
pretrained CNN given the true noise model, and the anchor: generalised Anscombe transform +
BM3D with the true noise model (when the ``bm3d`` package is installed).

Speed: seconds per 256x256 image of the pretrained CNN's default call on counts, next to
the same model on a [0, 1] float image with white Gaussian noise (the call before sensor
support: ``noise_model="gaussian", normalize="none"``), timed in the same run; target ratio
at most 1.5.

    python benchmarks/bench_sensor_noise.py [--images ../shared/data/set12] [--no-bm3d]
        [--methods cnn wavelet ...] [--peaks 10,30,100] [--model gray|PATH]
        [--baseline PATH]

``--baseline`` adds the default call of other weights next to the model's, e.g. the
previously shipped Gaussian-only weights, which reach counts through the variance-
stabilising transform (``git show 4903fbc:sklearn_denoise/pretrained/gray.pt > v1.pt``).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.frozen import FrozenEstimator

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _protocol import (  # noqa: E402
    BLACK_LEVEL,
    DATA,
    READ_NOISE,
    counts_psnr,
    has_bm3d,
    read_folder,
    seconds_per_image,
    sensor_counts,
)

from sklearn_denoise import (  # noqa: E402
    BilateralDenoiser,
    BM3DDenoiser,
    CNNDenoiser,
    NLMeansDenoiser,
    TVDenoiser,
    VarianceStabilizedDenoiser,
    WaveletDenoiser,
    available_models,
)
from sklearn_denoise._compare import add_noise  # noqa: E402
from sklearn_denoise.noise import NoiseModel  # noqa: E402

TRUE_MODEL = NoiseModel(gain=1.0, read_noise=READ_NOISE, black_level=BLACK_LEVEL)




def _classical(bm3d):
    methods = {
        "wavelet": WaveletDenoiser,
        "tv": TVDenoiser,
        "nlm": NLMeansDenoiser,
        "bilateral": BilateralDenoiser,
    }
    if bm3d:
        methods["bm3d"] = BM3DDenoiser
    return methods


def build_rows(names, bm3d, model="gray", baseline=None):
    """(label, make_denoiser) pairs; ``make_denoiser`` returns a fitted-on-use estimator."""
    rows = []
    if baseline is not None:
        rows.append(("baseline weights (default, blind)", lambda: _cnn(baseline)))
    if "cnn" in names:
        rows += [
            ("cnn (default, blind)", lambda: _cnn(model)),
            ("cnn (true noise model)", lambda: _cnn(model, noise_model=TRUE_MODEL)),
            ("cnn (gaussian assumption)", lambda: _cnn(model, noise_model="gaussian")),
            ("VST + cnn (estimated model)", lambda: VarianceStabilizedDenoiser(
                FrozenEstimator(_cnn(model, noise_model="gaussian")))),
        ]
    for name, cls in _classical(bm3d).items():
        if name not in names:
            continue
        rows += [
            (f"{name} (default, blind)", cls),
            (f"VST + {name} (estimated model)",
             lambda cls=cls: VarianceStabilizedDenoiser(cls())),
        ]
    if bm3d and "bm3d" in names:
        rows.append(("VST + bm3d (true model, anchor)", lambda: VarianceStabilizedDenoiser(
            BM3DDenoiser(), gain=TRUE_MODEL.gain, read_noise=TRUE_MODEL.read_noise,
            black_level=TRUE_MODEL.black_level)))
    return rows


def _cnn(model, **params):
    """The pretrained model of that name, or the weight file at that path."""
    if model in available_models():
        return CNNDenoiser.pretrained(model, **params)
    return CNNDenoiser.load(model, **params)


def _run(make, noisy):
    est = make()
    if not hasattr(est, "net_"):
        est = est.fit(noisy)
    start = time.perf_counter()
    out = est.transform(noisy)
    return out, (time.perf_counter() - start) / len(noisy)




def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", default=str(DATA / "set12"))
    parser.add_argument("--peaks", default="10,30,100")
    parser.add_argument("--methods", nargs="+",
                        default=["cnn", "wavelet", "tv", "nlm", "bilateral", "bm3d"])
    parser.add_argument("--no-bm3d", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", default="gray", help="pretrained name or weight file")
    parser.add_argument("--baseline", default=None, help="weight file to compare with")
    args = parser.parse_args(argv)
    peaks = [float(p) for p in args.peaks.split(",")]
    bm3d = has_bm3d() and not args.no_bm3d

    clean, _ = read_folder(args.images)
    noisy = {p: [sensor_counts(c, p, seed=k) for k, c in enumerate(clean)] for p in peaks}
    rows = [("noisy input", None)] + build_rows(set(args.methods), bm3d, args.model,
                                                args.baseline)

    header = "| method | " + " | ".join(f"peak {p:g}" for p in peaks) + " | s / image |"
    print(header)
    print("|" + "---|" * (len(peaks) + 2))
    results = {}
    for label, make in rows:
        scores, seconds = [], []
        for p in peaks:
            if make is None:
                out, sec = noisy[p], 0.0
            else:
                out, sec = _run(make, noisy[p])
            scores.append(np.mean([counts_psnr(c, p, o) for c, o in zip(clean, out)]))
            seconds.append(sec)
        results[label] = scores
        cells = " | ".join(f"{s:.2f}" for s in scores)
        print(f"| {label} | {cells} | {np.mean(seconds):.3f} |", flush=True)

    blind = results.get("cnn (default, blind)")
    for label in ("VST + bm3d (true model, anchor)", "baseline weights (default, blind)"):
        other = results.get(label)
        if other and blind:
            margins = ", ".join(f"{b - a:+.2f}" for a, b in zip(other, blind))
            print(f"\ncnn (default, blind) - {label}: {margins} dB (target > 0 at every "
                  "peak)")

    if "cnn" in args.methods:
        image = next(c for c in clean if c.shape == (256, 256))
        counts = sensor_counts(image, peaks[0], seed=0)
        gaussian_image = add_noise(image, 25, 0)
        sensor = _cnn(args.model)
        before = CNNDenoiser.pretrained("gray", noise_model="gaussian", normalize="none")
        t_sensor = seconds_per_image(lambda x: sensor.transform(x[None]), counts,
                                      args.repeats)
        t_before = seconds_per_image(lambda x: before.transform(x[None]), gaussian_image,
                                      args.repeats)
        print(f"\nCNN seconds per 256x256 image (median of {args.repeats}): counts, default "
              f"call {t_sensor:.4f}; Gaussian [0, 1] image, Gaussian-only call {t_before:.4f}; "
              f"ratio {t_sensor / t_before:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
