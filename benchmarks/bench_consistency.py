"""One denoiser, one result: the same denoiser called the ways a user calls it (issue #28).

Photos the package never saw (scikit-image's ``rocket``, ``brick``, ``clock`` and ``cell``,
gray, 256x256 crops; none is a sample image of the package, nor in train400 or Set12),
seeded noise. Each row is one way of calling, next to the reference call, in one run:

1. ``clone(CNNDenoiser.pretrained("gray")).fit(X_noisy, X_clean)``, what GridSearchCV,
   cross_validate and Pipeline do, against the pretrained model itself (PSNR on the same
   images, white noise sigma 25/255; seconds per fit).
2. A lone 2-D image ``(H, W)`` given to WaveletDenoiser, TVDenoiser and NLMeansDenoiser
   against the same image as ``img[np.newaxis]`` (PSNR).
3. ``sklearn-denoise denoise x.tif --method cnn --sigma 100`` on a float32 TIFF on
   [0, 4095] with Gaussian noise of std 100, with and without ``--sigma`` (PSNR of the
   input and of the output, data range 4095).
4. ``denoise_dask`` with 128-pixel chunks against ``transform``, blind, on a [0, 1] image
   with white noise sigma 0.1: the largest absolute difference (CNN, wavelet, NL-means).
5. The Python default (``WaveletDenoiser()``, ``NLMeansDenoiser()``, ``TVDenoiser()``) on
   uint16 sensor counts (black level 100, 60 photons at white, gain 1, read noise 2)
   against ``sklearn-denoise denoise --method ...`` on the same counts (PSNR in counts,
   data range 60).

It uses only calls that existed before the consistency work, so the same script measures
an older checkout:

    python benchmarks/bench_consistency.py                    # this checkout
    git worktree add /tmp/before 11aa9ac
    PYTHONPATH=/tmp/before python benchmarks/bench_consistency.py   # the code before
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import skimage.data
from skimage.color import rgb2gray
from sklearn.base import clone

import sklearn_denoise
from sklearn_denoise import CNNDenoiser, NLMeansDenoiser, TVDenoiser, WaveletDenoiser
from sklearn_denoise.io import read_image, write_image
from sklearn_denoise.metrics import psnr
from sklearn_denoise.noise import gaussian, poisson_gaussian

SIZE = 256


def _photos():
    """Four gray [0, 1] crops of photos the package never saw."""
    rocket = rgb2gray(skimage.data.rocket())[100:100 + SIZE, 200:200 + SIZE]
    others = [getattr(skimage.data, name)()[:SIZE, :SIZE] / 255.0
              for name in ("brick", "clock", "cell")]
    return np.stack([rocket, *others]).astype(np.float64)


def _cli(*args):
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-m", "sklearn_denoise", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    return proc


def row_meta_estimators(clean):
    noisy = gaussian(clean, 25 / 255, random_state=0).astype(np.float32)
    pretrained = CNNDenoiser.pretrained("gray")
    reference = psnr(clean, pretrained.transform(noisy))
    start = time.perf_counter()
    refit = clone(pretrained).fit(noisy, clean)
    seconds = time.perf_counter() - start
    return [("1 clone(pretrained).fit", "pretrained", f"{reference:.2f} dB",
             "clone + fit", f"{psnr(clean, refit.transform(noisy)):.2f} dB "
             f"({seconds:.1f} s, {len(refit.history_)} epochs)")]


def row_lone_image(clean):
    rows = []
    image = clean[0]
    noisy = gaussian(image, 25 / 255, random_state=1)
    for est in (WaveletDenoiser(), TVDenoiser(), NLMeansDenoiser()):
        stacked = clone(est).fit(noisy[np.newaxis]).transform(noisy[np.newaxis])[0]
        lone = clone(est).fit(noisy).transform(noisy)
        rows.append((f"2 lone (H, W), {type(est).__name__}", "img[np.newaxis]",
                     f"{psnr(image, stacked):.2f} dB", "img", f"{psnr(image, lone):.2f} dB"))
    return rows


def row_cli_sigma(clean, folder):
    truth = 4095 * clean[1]
    noisy = (truth + np.random.default_rng(0).normal(0, 100, truth.shape)).astype(np.float32)
    write_image(folder / "x.tif", noisy)
    _cli("denoise", folder / "x.tif", "-o", folder / "given", "--method", "cnn", "--sigma",
         100, "-q", "--overwrite")
    _cli("denoise", folder / "x.tif", "-o", folder / "blind", "--method", "cnn", "-q",
         "--overwrite")
    given = read_image(folder / "given" / "x.tif")
    blind = read_image(folder / "blind" / "x.tif")
    before = psnr(truth, noisy, data_range=4095)
    return [("3 CLI float [0, 4095], std 100", "input / no --sigma",
             f"{before:.2f} / {psnr(truth, blind, data_range=4095):.2f} dB", "--sigma 100",
             f"{psnr(truth, given, data_range=4095):.2f} dB")]


def row_dask(clean):
    import dask.array as da

    from sklearn_denoise.dask import denoise_dask

    noisy = gaussian(clean[0], 0.1, random_state=2).astype(np.float32)
    rows = []
    for est in (CNNDenoiser.pretrained("gray"), WaveletDenoiser(), NLMeansDenoiser()):
        if not hasattr(est, "net_"):
            est.fit(noisy[np.newaxis])
        expected = est.transform(noisy[np.newaxis])[0]
        chunked = denoise_dask(da.from_array(noisy, chunks=128), est).compute()
        rows.append((f"4 denoise_dask, {type(est).__name__}", "transform", "-",
                     "128-px chunks", f"max |diff| {np.abs(chunked - expected).max():.2g}"))
    return rows


def row_sensor_counts(clean, folder):
    peak = 60
    counts = np.stack([
        np.clip(np.rint(poisson_gaussian(peak * c, gain=1, read_sigma=2, black_level=100,
                                         random_state=k)), 0, 65535).astype(np.uint16)
        for k, c in enumerate(clean)])
    truth = 100 + peak * clean
    rows = []
    for k, image in enumerate(counts):
        write_image(folder / f"counts{k}.tif", image)
    for method, est in (("wavelet", WaveletDenoiser()), ("nlm", NLMeansDenoiser()),
                        ("tv", TVDenoiser())):
        python = clone(est).fit(counts).transform(counts)
        _cli("denoise", *[folder / f"counts{k}.tif" for k in range(len(counts))], "-o",
             folder / method, "--method", method, "-q", "--overwrite")
        cli = np.stack([read_image(folder / method / f"counts{k}.tif")
                        for k in range(len(counts))])
        score = [np.mean([psnr(t, o.astype(np.float64), data_range=peak)
                          for t, o in zip(truth, out)]) for out in (python, cli)]
        rows.append((f"5 uint16 counts, {method}", f"{type(est).__name__}()",
                     f"{score[0]:.2f} dB", f"CLI --method {method}", f"{score[1]:.2f} dB"))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="1,2,3,4,5", help="rows to run (default: all)")
    args = parser.parse_args(argv)
    wanted = {int(r) for r in args.rows.split(",")}
    clean = _photos()
    print(f"sklearn_denoise from {Path(sklearn_denoise.__file__).parent}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for number, run in ((1, lambda: row_meta_estimators(clean)),
                            (2, lambda: row_lone_image(clean)),
                            (3, lambda: row_cli_sigma(clean, folder)),
                            (4, lambda: row_dask(clean)),
                            (5, lambda: row_sensor_counts(clean, folder))):
            if number in wanted:
                rows.extend(run())
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    header = ("how it was called", "reference", "", "this call", "")
    for row in (header, *rows):
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths)))


if __name__ == "__main__":
    main()
