"""Rician MR noise: the Gaussian path against noise_model="rician", overall and in dark
regions.

Set12 images (on [0, 1]) taken as MR magnitudes: ``M = |A + n1 + i n2|`` with ``n1``,
``n2`` Gaussian of standard deviation p times the image's peak (p = 3, 5, 10 %). Prints the
mean PSNR (data range 1) of the pretrained gray CNN with ``noise_model="gaussian"`` (the
path of today) and ``noise_model="rician"``, over the whole image and over its dark
region (pixels whose clean value is below 0.15), where the Rician bias lives. With
``--background`` each image is shown in a disc on a zero background, as MR slices are
(the dark region is then mostly background, and the noise level is read there). With
``--weak-background`` the background outside the disc carries a tenth of the noise, as
where a scanner masks or filters it; ``--given-sigma`` gives the paths the true sigma
(the disc's). The last column of each group removes the bias
with one sigma everywhere (``local_rician_sigma`` off: the path before per-pixel levels).

Usage: python benchmarks/bench_rician.py [--levels 0.03 0.05 0.1] [--n-images 12]
       [--background | --weak-background] [--given-sigma]
"""

import argparse
from pathlib import Path
from unittest import mock

import numpy as np

from sklearn_denoise import CNNDenoiser
from sklearn_denoise.io import read_image

SET12 = Path(__file__).resolve().parents[2] / "shared" / "data" / "set12"
DARK = 0.15


def _psnr(clean, out, mask=None):
    err = (clean - out) ** 2
    return 10 * np.log10(1.0 / (err[mask].mean() if mask is not None else err.mean()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=float, nargs="+", default=[0.03, 0.05, 0.10])
    parser.add_argument("--n-images", type=int, default=12)
    parser.add_argument("--background", action="store_true")
    parser.add_argument("--weak-background", action="store_true")
    parser.add_argument("--given-sigma", action="store_true",
                        help="give each path the true sigma (of the image's noisiest part)")
    args = parser.parse_args()
    images = [read_image(p) / 255.0 for p in sorted(SET12.glob("*.png"))[:args.n_images]]
    discs = [None] * len(images)
    if args.background or args.weak_background:
        def disc(image):
            yy, xx = np.indices(image.shape)
            h, w = image.shape
            return (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (0.4 * min(h, w)) ** 2

        discs = [disc(image) for image in images]
        images = [np.where(inside, 0.2 + 0.8 * image, 0.0)
                  for inside, image in zip(discs, images)]
    paths = {m: CNNDenoiser.pretrained("gray", noise_model=m) for m in ("gaussian", "rician")}
    rng = np.random.default_rng(0)
    print("| noise (% of peak) | noisy | gaussian path | rician path | one sigma | "
          "noisy (dark) | gaussian path (dark) | rician path (dark) | one sigma (dark) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for level in args.levels:
        rows = []
        for clean, inside in zip(images, discs):
            sigma = np.full(clean.shape, level * clean.max())
            if args.weak_background:
                sigma[~inside] /= 10
            noisy = np.hypot(clean + rng.normal(0, sigma),
                             rng.normal(0, sigma)).astype(np.float32)
            dark = clean < DARK
            for path in paths.values():
                path.set_params(sigma=float(sigma.max()) if args.given_sigma else None)
            outs = [noisy] + [paths[m].transform(noisy[np.newaxis])[0].astype(np.float64)
                              for m in ("gaussian", "rician")]
            with mock.patch("sklearn_denoise._medical.local_rician_sigma",
                            lambda image, sigma: sigma):
                outs.append(paths["rician"].transform(noisy[np.newaxis])[0]
                            .astype(np.float64))
            rows.append([_psnr(clean, o) for o in outs] + [_psnr(clean, o, dark)
                                                           for o in outs])
        m = np.mean(rows, axis=0)
        print(f"| {100 * level:g} | " + " | ".join(f"{v:.2f}" for v in m) + " |")


if __name__ == "__main__":
    main()
