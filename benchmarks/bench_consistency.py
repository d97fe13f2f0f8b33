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
4. ``denoise_dask`` with 128-pixel chunks against ``transform``, blind, for every
   denoiser: a [0, 1] image with white noise sigma 0.1 (correlated noise for the CNN's
   expert, a colour photo for "color", uint16 counts for the sensor cases): the largest
   absolute difference on [0, 1]. ``--margins`` prints instead the shipped CNNs'
   difference by overlap (64 to 128 px), the measurement behind their 96-px radius.
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


def _colour_photo():
    return skimage.data.astronaut()[:SIZE, :SIZE] / 255.0


def _dask_cases(clean):
    """(label, estimator, noisy image) for every denoiser of the package, blind."""
    from scipy.ndimage import gaussian_filter
    from sklearn.pipeline import make_pipeline

    from sklearn_denoise import BilateralDenoiser, BM3DDenoiser, VarianceStabilizedDenoiser

    white = gaussian(clean[0], 0.1, random_state=2).astype(np.float32)
    rng = np.random.RandomState(3)
    correlated = gaussian_filter(rng.normal(size=clean[1].shape), 1.5)
    correlated = (clean[1] + correlated * 0.08 / correlated.std()).astype(np.float32)
    colour = gaussian(_colour_photo(), 0.1, random_state=4).astype(np.float32)
    counts = np.clip(np.rint(poisson_gaussian(60 * clean[2], gain=1, read_sigma=2,
                                              black_level=100, random_state=5)),
                     0, 65535).astype(np.uint16)
    cases = [
        ("CNN gray", CNNDenoiser.pretrained("gray"), white),
        ("CNN gray, correlated noise (expert)", CNNDenoiser.pretrained("gray"), correlated),
        ("CNN gray, uint16 counts", CNNDenoiser.pretrained("gray"), counts),
        ("CNN color", CNNDenoiser.pretrained("color"), colour),
        ("WaveletDenoiser()", WaveletDenoiser(), white),
        ("WaveletDenoiser(cycle_spins=2)", WaveletDenoiser(cycle_spins=2), white),
        ("NLMeansDenoiser()", NLMeansDenoiser(), white),
        ("TVDenoiser()", TVDenoiser(), white),
        ("BilateralDenoiser()", BilateralDenoiser(), white),
        ("TVDenoiser(), uint16 counts", TVDenoiser(), counts),
        ("VarianceStabilizedDenoiser()", VarianceStabilizedDenoiser(), counts),
        ("Pipeline(NLMeans, Wavelet)",
         make_pipeline(NLMeansDenoiser(), WaveletDenoiser()), white),
    ]
    try:
        import bm3d  # noqa: F401
        cases.append(("BM3DDenoiser()", BM3DDenoiser(), white))
    except ImportError:
        pass
    return cases


def row_dask(clean):
    import dask.array as da

    from sklearn_denoise.dask import denoise_dask

    rows = []
    for label, est, noisy in _dask_cases(clean):
        if not hasattr(est, "net_"):
            est.fit(noisy[np.newaxis])
        expected = est.transform(noisy[np.newaxis])[0]
        chunks = (128, 128) + noisy.shape[2:]
        chunked = denoise_dask(da.from_array(noisy, chunks=chunks), est).compute()
        scale = 65535.0 if noisy.dtype == np.uint16 else 1.0
        diff = np.abs(chunked.astype(np.float64) - expected.astype(np.float64)).max() / scale
        rows.append((f"4 denoise_dask, {label}", "transform", "-",
                     "128-px chunks", f"max |diff| {diff:.2g}"))
    return rows


def margins(clean):
    """Max |difference| between denoise_dask with 128-px chunks and transform for the
    shipped CNNs, by overlap (the measurement behind MEASURED_RADII)."""
    import dask.array as da
    from scipy.ndimage import gaussian_filter

    from sklearn_denoise.dask import denoise_dask

    depths = (64, 80, 96, 128)
    print("model | image | noise | " + " | ".join(f"depth {d}" for d in depths))
    photos = {"rocket": clean[0], "brick": clean[1], "clock": clean[2]}
    for model in ("gray", "color"):
        den = CNNDenoiser.pretrained(model)
        for name, image in photos.items():
            if model == "color":
                image = _colour_photo() if name == "rocket" else np.repeat(
                    image[..., np.newaxis], 3, axis=-1) * np.array([1.0, 0.9, 0.8])
            for noise in ("white", "correlated"):
                rng = np.random.RandomState(0)
                n = rng.normal(0, 0.1, image.shape)
                if noise == "correlated":
                    n = gaussian_filter(n, (1.5, 1.5) + (0,) * (image.ndim - 2))
                    n *= 0.08 / n.std()
                noisy = (image + n).astype(np.float32)
                expected = den.transform(noisy[np.newaxis])[0]
                chunks = (128, 128) + noisy.shape[2:]
                cells = []
                for depth in depths:
                    got = denoise_dask(da.from_array(noisy, chunks=chunks), den,
                                       depth=depth).compute()
                    cells.append(f"{np.abs(got - expected).max():.1e}")
                label = "astronaut" if model == "color" and name == "rocket" else name
                print(f"{model} | {label} | {noise} | " + " | ".join(cells), flush=True)


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
    parser.add_argument("--margins", action="store_true",
                        help="only the CNN overlap table (dask vs transform by depth)")
    args = parser.parse_args(argv)
    wanted = {int(r) for r in args.rows.split(",")}
    clean = _photos()
    print(f"sklearn_denoise from {Path(sklearn_denoise.__file__).parent}")
    if args.margins:
        margins(clean)
        return
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
