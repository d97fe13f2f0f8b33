"""The shipped "gray" model against BM3D and a 17-layer DnCNN: quality and CPU speed targets.

Quality: Set12 average PSNR/SSIM at sigma 15/25/50 with the protocol of
../shared/data/README.md (seeded noise, no clipping of the input, output clipped and
rounded to uint8), for the pretrained model used blind (noise level estimated from each
image), the same model given the true sigma (models with a noise-level input), and BM3D
(when the ``bm3d`` package is installed, given the true sigma) run side by side, next to the
published figures.
The model is also run blind with test-time self-ensemble (``self_ensemble``: N mirrored
and turned passes averaged) for each N of ``--self-ensemble``.
Speed: seconds per 256x256 image for the pretrained model (and its self-ensembles), a
17-layer 64-channel DnCNN built from the package's own module (untrained: only its cost
matters) and BM3D, timed in the same run, with the ratios the targets ask for (model <= 1/3
of DnCNN, >= 20x BM3D).

    python benchmarks/bench_pretrained.py [--images ../shared/data/set12] [--no-bm3d]
        [--self-ensemble 2,8]
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _protocol import DATA, evaluate, read_folder, seconds_per_image  # noqa: E402

from sklearn_denoise import CNNDenoiser  # noqa: E402

PUBLISHED = {"BM3D": (32.37, 29.97, 26.72), "DnCNN-S": (32.86, 30.44, 27.18)}
SIGMAS = (15, 25, 50)


def _bm3d():
    try:
        import bm3d
    except ImportError:
        return None
    return lambda img, s: bm3d.bm3d(img, s / 255)




def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", default=str(DATA / "set12"))
    parser.add_argument("--model", default="gray", help="pretrained name or weight file")
    parser.add_argument("--no-bm3d", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--self-ensemble", default="2,8", metavar="N1,N2,...",
                        help="self-ensemble sizes to run blind besides 1 ('' for none)")
    args = parser.parse_args(argv)
    ensembles = [int(n) for n in args.self_ensemble.split(",") if n.strip()]

    images, _ = read_folder(args.images)
    def load(**params):
        if Path(args.model).is_file():
            return CNNDenoiser.load(args.model, **params)
        return CNNDenoiser.pretrained(args.model, **params)

    model = load()
    bm3d = None if args.no_bm3d else _bm3d()

    def run_model(img, den=model):
        return den.transform(img[None].astype(np.float32))[0]

    ensembled = {n: load(self_ensemble=n) for n in ensembles}
    methods = {"sklearn-denoise gray (blind: sigma estimated)": lambda img, s: run_model(img)}
    for n, den in ensembled.items():
        methods[f"sklearn-denoise gray (blind, self_ensemble={n})"] = (
            lambda img, s, den=den: run_model(img, den))
    if model.config_["noise_level_input"]:
        known = {s: load(sigma=s / 255) for s in SIGMAS}
        methods["sklearn-denoise gray (true sigma given)"] = (
            lambda img, s: known[s].transform(img[None].astype(np.float32))[0])
    if bm3d is not None:
        methods["BM3D (bm3d package, known sigma)"] = bm3d
    print(f"## Quality on {Path(args.images).name} ({len(images)} images), PSNR dB / SSIM\n")
    print("| method | " + " | ".join(f"sigma {s}" for s in SIGMAS) + " |")
    print("|---|" + "---:|" * len(SIGMAS))
    for name, func in methods.items():
        cells = []
        for s in SIGMAS:
            p, q = evaluate(lambda img, f=func, s=s: f(img, s), images, s)
            cells.append(f"{p:.2f} / {q:.4f}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    for name, values in PUBLISHED.items():
        print(f"| {name} (published) | " + " | ".join(f"{v:.2f}" for v in values) + " |")

    rng = np.random.default_rng(0)
    first = images[0][:256, :256]  # mirrored up to 256x256 when smaller
    first = np.pad(first, [(0, 256 - n) for n in first.shape], mode="symmetric")
    image = np.clip(first / 255 + rng.normal(0, 25 / 255, (256, 256)), 0, 1)
    dncnn = CNNDenoiser("dncnn", depth=17, width=64, max_epochs=0, random_state=0)
    dncnn.fit(image[None].astype(np.float32))
    timings = {"sklearn-denoise gray": seconds_per_image(run_model, image, args.repeats)}
    for n, den in ensembled.items():
        timings[f"sklearn-denoise gray, self_ensemble={n}"] = seconds_per_image(
            lambda img, den=den: run_model(img, den), image, args.repeats)
    dncnn_name = "DnCNN 17x64 (same package module)"
    timings[dncnn_name] = seconds_per_image(
        lambda img: dncnn.transform(img[None].astype(np.float32)), image, args.repeats)
    if bm3d is not None:
        timings["BM3D"] = seconds_per_image(lambda img: bm3d(img, 25), image, 1)
    ours = timings["sklearn-denoise gray"]
    print("\n## CPU seconds per 256x256 image (median)\n")
    print("| method | s / image | time relative to sklearn-denoise gray "
          "| time relative to DnCNN 17x64 |")
    print("|---|---:|---:|---:|")
    for name, sec in timings.items():
        print(f"| {name} | {sec:.4f} | {sec / ours:.1f}x | {sec / timings[dncnn_name]:.3f} |")


if __name__ == "__main__":
    main()
