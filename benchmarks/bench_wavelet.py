"""WaveletDenoiser on a batch against scikit-image's denoise_wavelet called per image.

Both compute the same result (checked here: the max abs difference is printed); the
estimator transforms a whole stack of same-sized images and all their channels at once with
PyWavelets. Times are the best of ``--repeats`` runs, the two contenders interleaved so
that a background load hits both alike; the estimator's time includes input validation and
the conversion back to the input layout.

    python benchmarks/bench_wavelet.py [--repeats 5] [--n-jobs 2]
"""

import argparse
import time

import numpy as np
from skimage.restoration import denoise_wavelet

from sklearn_denoise import WaveletDenoiser
from sklearn_denoise.datasets import load_sample_images
from sklearn_denoise.noise import gaussian

CASES = [  # (n images, size, colour)
    (64, 128, False),
    (64, 128, True),
    (16, 512, False),
    (16, 512, True),
]


def _batch(n, size, color, seed=0):
    """``n`` noisy crops (sigma 0.1) of the bundled photographs that are large enough."""
    photos = [img for img in load_sample_images(color=color) if min(img.shape[:2]) >= size]
    rng = np.random.RandomState(seed)
    crops = []
    for k in range(n):
        img = photos[k % len(photos)]
        top = rng.randint(0, img.shape[0] - size + 1)
        left = rng.randint(0, img.shape[1] - size + 1)
        crops.append(img[top : top + size, left : left + size])
    return gaussian(np.stack(crops) / 255.0, 0.1, random_state=seed)


def _best(func, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n-jobs", type=int, default=None,
                        help="also time WaveletDenoiser(n_jobs=N) (threads over the batch)")
    parser.add_argument("--wavelet", default="db1")
    args = parser.parse_args()

    header = f"{'batch':<22}{'skimage/image s':>16}{'WaveletDenoiser s':>19}{'ratio':>8}"
    if args.n_jobs:
        header += f"{f'n_jobs={args.n_jobs} s':>14}{'ratio':>8}"
    header += f"{'max |diff|':>12}"
    print(header)
    print("-" * len(header))
    for n, size, color in CASES:
        X = _batch(n, size, color)
        axis = -1 if color else None
        est = WaveletDenoiser(wavelet=args.wavelet).fit(X[:1])

        def per_image(X=X, axis=axis):
            return [denoise_wavelet(x, wavelet=args.wavelet, channel_axis=axis) for x in X]

        def batched(X=X, est=est):
            return est.transform(X)

        diff = float(np.max(np.abs(np.stack(per_image()) - batched())))
        t_ref = t_est = float("inf")
        for _ in range(args.repeats):  # interleaved
            t_ref = min(t_ref, _best(per_image, 1))
            t_est = min(t_est, _best(batched, 1))
        label = f"{n} x {size}x{size}{'x3' if color else ''}"
        row = f"{label:<22}{t_ref:>16.3f}{t_est:>19.3f}{t_ref / t_est:>7.2f}x"
        if args.n_jobs:
            par = WaveletDenoiser(wavelet=args.wavelet, n_jobs=args.n_jobs).fit(X[:1])
            t_par = _best(lambda X=X, par=par: par.transform(X), args.repeats)
            row += f"{t_par:>14.3f}{t_ref / t_par:>7.2f}x"
        row += f"{diff:>12.1e}"
        print(row, flush=True)
    print("ratio = skimage per image / WaveletDenoiser (> 1: the estimator is faster)")


if __name__ == "__main__":
    main()
