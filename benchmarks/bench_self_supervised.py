"""Self-supervised training from scratch, side by side with CAREamics' Noise2Void (#35).

Both learn from the noisy images alone, on the same CPU threads, ours given the CPU time
CAREamics took (its epochs are fixed; ours are as many as fit in its training time, from
the time of one epoch measured first).

Data:

- a real fluorescence image: StarDist's ``img2d.tif`` (512x512 uint16 nuclei), shipped in
  the ``stardist`` wheel: ``pip download stardist --no-deps -d DIR`` and give
  ``--fluorescence DIR/stardist-*.whl`` (or any 2-D TIFF). Score: the blind-spot loss on
  the image itself (Batson & Royer 2019), lower is better: every pixel is predicted from
  the image with it (and a grid of others 4 apart) replaced by the mean of its 8
  neighbours, and the loss is the mean squared difference to the noisy pixel, in counts^2;
  the trained networks are evaluated on the image they were trained on, as a user would.
- photos made into sensor counts: Set12 images 01-06 (training, noisy only) and 07-12
  (testing) as uint16 ``100 + Poisson(peak * clean) + N(0, 2^2)`` at peaks 10 and 30
  (benchmarks/_protocol.py). Score: PSNR on the test images (counts, peak as data range).

Columns: CAREamics 0.3.5 N2V (``create_n2v_config`` defaults, batch 64, patch 64, run by
``--careamics-python`` in its own environment through benchmarks/_careamics_worker.py),
ours (``CNNDenoiser(max_epochs=E).fit(X)``, all self-supervised defaults) and the shipped
model with no training (``CNNDenoiser.pretrained("gray")``).

    python benchmarks/bench_self_supervised.py --fluorescence DIR/stardist-*.whl
        --careamics-python /work/venv-careamics/bin/python [--careamics-epochs 100]
        [--careamics-counts-epochs 40]
        [--threads 1] [--peaks 10,30] [--data fluo,counts] [--struct row]

``--streaks [--ablation EPOCHS]`` trains on one image with noise correlated along rows,
with and without structN2V row masks (PSNR against the clean image).

``--ablation EPOCHS`` (or ``--ablation-seconds S``) instead trains our variants
(``--variants masking``: the changes of #35 one at a time; ``size``: smaller networks;
``schedule``: learning-rate schedules) for
a fixed number of epochs (or as many as fit in S seconds) on the fluorescence image and
prints their blind-spot losses.
"""

import argparse
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import tifffile
import torch
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _protocol import DATA, counts_psnr, git_commit, read_folder, sensor_counts  # noqa: E402

from sklearn_denoise import CNNDenoiser  # noqa: E402

WORKER = Path(__file__).resolve().parent / "_careamics_worker.py"
STRIDE = 4


def read_fluorescence(path):
    """The 2-D image of a TIFF, or StarDist's ``img2d.tif`` inside its wheel."""
    path = Path(path)
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel, wheel.open("stardist/data/images/img2d.tif") as f:
            return tifffile.imread(f)
    return tifffile.imread(path)


def masked_stack(image, stride=STRIDE):
    """``stride**2`` copies of ``image`` (float32), copy k with the pixels of grid offset k
    replaced by the mean of their 8 neighbours (mirrored at the edges)."""
    image = np.asarray(image, dtype=np.float64)
    kernel = np.ones((3, 3)) / 8
    kernel[1, 1] = 0
    donut = ndimage.convolve(image, kernel, mode="mirror")
    stack = []
    for i in range(stride):
        for j in range(stride):
            copy = image.copy()
            copy[i::stride, j::stride] = donut[i::stride, j::stride]
            stack.append(copy)
    return np.stack(stack).astype(np.float32)


def blind_spot_loss(image, predictions, stride=STRIDE):
    """Mean squared difference between the noisy ``image`` and each pixel's prediction from
    the copy of :func:`masked_stack` in which it was masked."""
    image = np.asarray(image, dtype=np.float64)
    assembled = np.empty_like(image)
    k = 0
    for i in range(stride):
        for j in range(stride):
            assembled[i::stride, j::stride] = predictions[k][i::stride, j::stride]
            k += 1
    return float(np.mean((assembled - image) ** 2))


def run_careamics(python, train, predict, *, epochs, batch_size, threads, struct=None):
    """Train CAREamics N2V on ``train`` (n, H, W) and predict every stack of ``predict``
    (dict name -> (m, H, W)); returns (predictions dict, train seconds)."""
    with tempfile.TemporaryDirectory() as tmp:
        inputs, outputs = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(inputs, train=np.asarray(train, np.float32),
                 **{f"predict_{k}": np.asarray(v, np.float32) for k, v in predict.items()})
        cmd = [str(python), str(WORKER), str(inputs), str(outputs), "--epochs", str(epochs),
               "--batch-size", str(batch_size), "--threads", str(threads)]
        if struct:
            cmd += ["--struct", {"row": "horizontal", "column": "vertical"}[struct]]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        out = np.load(outputs)
        return ({k: out[f"predict_{k}"] for k in predict}, float(out["train_seconds"]))


def fit_ours(train, seconds, *, threads, epochs=None, **params):
    """Ours from scratch, self-supervised defaults: ``epochs`` epochs, or as many as fit in
    ``seconds`` (from a one-epoch fit timed first). Returns (fitted denoiser, seconds)."""
    def make(n):
        return CNNDenoiser(max_epochs=n, random_state=0, n_threads=threads, **params)

    if epochs is None:
        start = time.perf_counter()
        make(1).fit(train)
        per_epoch = time.perf_counter() - start
        epochs = max(1, int(round(seconds / per_epoch)))
    start = time.perf_counter()
    den = make(epochs).fit(train)
    return den, time.perf_counter() - start


def predict_ours(den, stack):
    return np.stack([den.transform(img[None])[0] for img in stack]).astype(np.float64)


def fluorescence_rows(args, image):
    stack = masked_stack(image)
    rows = []
    shipped = CNNDenoiser.pretrained("gray", n_threads=args.threads)
    start = time.perf_counter()
    shipped_loss = blind_spot_loss(image, predict_ours(shipped, stack))
    shipped_time = (time.perf_counter() - start) / len(stack)
    seconds = args.seconds
    care = ""
    if args.careamics_python:
        preds, seconds = run_careamics(args.careamics_python, image[None], {"fluo": stack},
                                       epochs=args.careamics_epochs,
                                       batch_size=args.careamics_batch_size,
                                       threads=args.threads, struct=args.struct)
        care = (f"{blind_spot_loss(image, preds['fluo']):.2f} "
                f"({args.careamics_epochs} ep, {seconds:.0f} s)")
    den, ours_time = fit_ours(image, seconds, threads=args.threads, epochs=args.ours_epochs,
                              struct_mask=args.struct)
    ours = (f"{blind_spot_loss(image, predict_ours(den, stack)):.2f} "
            f"({len(den.history_)} ep, {ours_time:.0f} s)")
    rows.append((f"fluorescence {image.shape[0]}x{image.shape[1]} {image.dtype}, "
                 "blind-spot loss", care, ours, f"{shipped_loss:.2f} ({shipped_time:.1f} s)"))
    return rows


def counts_rows(args, peak):
    images, names = read_folder(args.images)
    train_clean, test_clean = images[:6], images[6:12]
    train = [sensor_counts(c, peak, seed=k) for k, c in enumerate(train_clean)]
    test = [sensor_counts(c, peak, seed=100 + k) for k, c in enumerate(test_clean)]
    shipped = CNNDenoiser.pretrained("gray", n_threads=args.threads)
    shipped_psnr = np.mean([counts_psnr(c, peak, shipped.transform(t[None])[0])
                            for c, t in zip(test_clean, test)])
    seconds = args.seconds
    care = ""
    if args.careamics_python:
        shapes = {t.shape for t in train}
        if len(shapes) != 1:
            raise SystemExit("CAREamics' array input needs training images of one shape.")
        preds, seconds = run_careamics(
            args.careamics_python, np.stack(train).astype(np.float32),
            {f"t{k}": t[None] for k, t in enumerate(test)},
            epochs=args.careamics_counts_epochs, batch_size=args.careamics_batch_size,
            threads=args.threads)
        value = np.mean([counts_psnr(c, peak, preds[f"t{k}"][0])
                         for k, c in enumerate(test_clean)])
        care = f"{value:.2f} dB ({args.careamics_counts_epochs} ep, {seconds:.0f} s)"
    den, ours_time = fit_ours(train, seconds, threads=args.threads, epochs=args.ours_epochs)
    value = np.mean([counts_psnr(c, peak, den.transform(t[None])[0])
                     for c, t in zip(test_clean, test)])
    ours = f"{value:.2f} dB ({len(den.history_)} ep, {ours_time:.0f} s)"
    return [(f"Set12 counts peak {peak}, 6 train / 6 test, PSNR", care, ours,
             f"{shipped_psnr:.2f} dB")]


ABLATIONS = {
    "masking": {  # equal epochs
        "before #35: unet, random 5x5 neighbour, 2 %": dict(architecture="unet",
                                                            mask_replacement="random"),
        "n2v2 module, random neighbour, 2 %": dict(mask_replacement="random"),
        "n2v2 module, median, 2 % (default)": dict(mask_replacement="median"),
        "n2v2 module, median, 0.2 %": dict(mask_replacement="median", mask_ratio=0.002),
        "n2v2 module, median, 0.5 %": dict(mask_replacement="median", mask_ratio=0.005),
    },
    "schedule": {  # equal epochs
        "cosine (default)": dict(),
        "ReduceLROnPlateau, halved after 2 epochs without progress": dict(
            lr_schedule="plateau"),
    },
    "size": {  # equal time
        "n2v2, blocks 2": dict(blocks=2),
        "n2v2, blocks 1 (default)": dict(),
        "n2v2, blocks 1, depth 3": dict(blocks=1, depth=3),
        "n2v2, blocks 1, lr 3e-3": dict(blocks=1, lr=3e-3),
    },
}


def ablation(args, image):
    stack = masked_stack(image)
    budget = (f"{args.ablation} epochs" if args.ablation_seconds is None
              else f"{args.ablation_seconds:.0f} s")
    print(f"| variant ({budget}, {args.threads} thread(s)) | blind-spot loss "
          "| epochs | train s |")
    print("|---|---|---|---|")
    for name, params in ABLATIONS[args.variants].items():
        den, seconds = fit_ours(image, args.ablation_seconds, threads=args.threads,
                                epochs=args.ablation, **params)
        loss = blind_spot_loss(image, predict_ours(den, stack))
        print(f"| {name} | {loss:.2f} | {len(den.history_)} | {seconds:.0f} |", flush=True)


def streak_rows(args):
    """structN2V on noise correlated along rows: Set12's House (02) on [0, 1] with white
    Gaussian noise averaged over ``args.streak_length`` neighbours along each row (sigma
    0.1 after averaging, correlated over ``length - 1`` pixels horizontally), one noisy
    image, PSNR against the clean one; pixel-wise blind spots vs row masks whose span
    covers the correlation (``2 * length - 1``) at equal epochs."""
    images, names = read_folder(args.images)
    clean = images[1].astype(np.float64) / 255
    rng = np.random.default_rng(0)
    n = args.streak_length
    white = rng.normal(0, 0.1 * np.sqrt(n), size=(clean.shape[0], clean.shape[1] + n - 1))
    streaks = np.stack([white[:, k:k + clean.shape[1]] for k in range(n)]).mean(axis=0)
    noisy = (clean + streaks).astype(np.float32)
    print(f"| noise averaged over {n} pixels along rows, House, sigma 0.1 | PSNR (dB) "
          "| train s |")
    print("|---|---|---|")
    from sklearn_denoise.metrics import psnr

    print(f"| noisy input | {psnr(clean[None], noisy[None], data_range=1.0):.2f} | |")
    span = 2 * n - 1
    for ratio in (0.02, 0.004):
        for name, struct in (("pixel-wise blind spots", None),
                             (f"struct_mask='row', struct_mask_span={span}", "row")):
            den, seconds = fit_ours(noisy, None, threads=args.threads,
                                    epochs=args.ablation or 10, struct_mask=struct,
                                    struct_mask_span=span, normalize="none", mask_ratio=ratio)
            out = den.transform(noisy[None])
            print(f"| {name}, mask_ratio={ratio} "
                  f"| {psnr(clean[None], np.clip(out, 0, 1), data_range=1.0):.2f} "
                  f"| {seconds:.0f} |", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fluorescence", help="a 2-D TIFF or the stardist wheel")
    parser.add_argument("--images", default=str(DATA / "set12"))
    parser.add_argument("--careamics-python", default=None,
                        help="python of an environment with careamics 0.3.5")
    parser.add_argument("--careamics-epochs", type=int, default=100,
                        help="on the fluorescence image (one 64-patch batch per epoch)")
    parser.add_argument("--careamics-counts-epochs", type=int, default=40,
                        help="on the 6 count images (two batches per epoch)")
    parser.add_argument("--careamics-batch-size", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=120.0,
                        help="our training time without CAREamics")
    parser.add_argument("--ours-epochs", type=int, default=None,
                        help="fixed epochs for ours instead of CAREamics' time")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--peaks", default="10,30")
    parser.add_argument("--data", default="fluo,counts")
    parser.add_argument("--struct", choices=("row", "column"), default=None,
                        help="structN2V masks on the fluorescence image (both sides)")
    parser.add_argument("--ablation", type=int, default=None, metavar="EPOCHS")
    parser.add_argument("--ablation-seconds", type=float, default=None)
    parser.add_argument("--variants", choices=sorted(ABLATIONS), default="masking")
    parser.add_argument("--streaks", action="store_true",
                        help="structN2V vs pixel masks on row-correlated noise")
    parser.add_argument("--streak-length", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {git_commit()}, "
          f"{args.threads} thread(s), torch {torch.__version__}")
    if args.streaks:
        streak_rows(args)
        return
    if args.ablation is not None or args.ablation_seconds is not None:
        ablation(args, read_fluorescence(args.fluorescence))
        return
    rows = []
    data = args.data.split(",")
    if "fluo" in data:
        rows += fluorescence_rows(args, read_fluorescence(args.fluorescence))
        print(rows[-1], flush=True)
    if "counts" in data:
        for peak in (int(p) for p in args.peaks.split(",")):
            rows += counts_rows(args, peak)
            print(rows[-1], flush=True)
    print("| data | CAREamics N2V | ours, self-supervised from scratch "
          "| ours, shipped model, no training |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
