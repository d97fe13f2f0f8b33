"""Self-supervised training on one noisy z-stack, side by side with CAREamics' 3-D
Noise2Void (issue #30).

Data: Set12 images made into z-stacks of ``--planes`` planes of uint16 sensor counts
(``100 + Poisson(peak * clean) + N(0, 2^2)``, benchmarks/_protocol.py), the scene drifting
by up to ``--drift`` pixels per plane (0: a still stack). Each side trains on the noisy
stack alone and denoises it; score: PSNR against the expected counts (peak as data range),
mean over the stacks.

Columns:

- CAREamics 0.3.5 N2V in 3-D (``create_n2v_config(axes="SZYX")`` defaults, patches of
  ``--careamics-patch`` planes x 64 x 64, batch 8), run by ``--careamics-python`` in its
  own environment through benchmarks/_careamics_worker.py;
- ours from scratch: ``CNNDenoiser(axes="ZYX").fit(X)`` (a stack network: each plane's
  blind-spot mask on the plane, its 4 neighbours seen), given the CPU time CAREamics took
  (as many epochs as fit in it, from the time of one epoch measured first);
- the shipped models, no training: ``pretrained("gray", axes="ZYX")`` and
  ``pretrained("gray")`` plane by plane.

    python benchmarks/bench_stack_self_supervised.py
        --careamics-python /work/venv-careamics/bin/python [--stacks 1] [--planes 32]
        [--size 256] [--peak 30] [--drift 1] [--careamics-epochs 20] [--threads 1]
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _protocol import DATA, counts_psnr, git_commit, read_folder, sensor_counts  # noqa: E402

from sklearn_denoise import CNNDenoiser  # noqa: E402

WORKER = Path(__file__).resolve().parent / "_careamics_worker.py"


def make_stack(image, planes, size, drift, rng):
    """(planes, size, size) uint8 crops of ``image`` drifting by up to ``drift`` px."""
    pad = drift * planes
    padded = np.pad(image, pad, mode="reflect")
    top = pad + (image.shape[0] - size) // 2
    left = pad + (image.shape[1] - size) // 2
    steps = rng.integers(-drift, drift + 1, size=(planes, 2)) if drift else np.zeros(
        (planes, 2), int)
    steps[0] = 0
    return np.stack([padded[top + dy: top + dy + size, left + dx: left + dx + size]
                     for dy, dx in np.cumsum(steps, axis=0)])


def run_careamics(python, stack, *, epochs, patch, threads):
    with tempfile.TemporaryDirectory() as work:
        inputs, outputs = Path(work, "in.npz"), Path(work, "out.npz")
        np.savez(inputs, train=stack[None].astype(np.float32),
                 predict_0=stack[None].astype(np.float32))
        subprocess.run([python, str(WORKER), str(inputs), str(outputs), "--epochs",
                        str(epochs), "--axes", "SZYX", "--patch-size", "64",
                        "--patch-planes", str(patch), "--batch-size", "8",
                        "--threads", str(threads)], check=True, capture_output=True)
        out = np.load(outputs)
        return out["predict_0"][0], float(out["train_seconds"])


def fit_ours(stack, seconds, threads):
    """Ours from scratch with as many epochs as fit in ``seconds`` (one epoch timed)."""
    def make(epochs):
        return CNNDenoiser(axes="ZYX", max_epochs=epochs, n_threads=threads, random_state=0)

    start = time.perf_counter()
    make(1).fit(stack[None])
    per_epoch = time.perf_counter() - start
    epochs = max(1, int(seconds / per_epoch))
    start = time.perf_counter()
    den = make(epochs).fit(stack[None])
    return den, epochs, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--careamics-python", required=True)
    parser.add_argument("--careamics-epochs", type=int, default=20)
    parser.add_argument("--careamics-patch", type=int, default=8,
                        help="planes per CAREamics training patch")
    parser.add_argument("--stacks", type=int, default=1)
    parser.add_argument("--planes", type=int, default=32)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--peak", type=float, default=30.0)
    parser.add_argument("--drift", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    images, names = read_folder(DATA / "set12")
    rng = np.random.default_rng(0)
    print(f"# commit {git_commit()}, {time.strftime('%Y-%m-%d')}, {args.stacks} stacks of "
          f"{args.planes} x {args.size} x {args.size}, peak {args.peak:g}, drift "
          f"{args.drift} px, {args.threads} thread(s)")
    print(f"{'stack':<10}{'noisy':>7}{'CAREamics 3-D N2V':>26}{'ours, from scratch':>26}"
          f"{'stack model':>13}{'2-D model':>11}")
    rows = []
    for k in range(args.stacks):
        clean = make_stack(images[k], args.planes, args.size, args.drift, rng)
        counts = np.stack([sensor_counts(c, args.peak, 100 * k + z)
                           for z, c in enumerate(clean)])

        def score(output, clean=clean):
            return counts_psnr(clean, args.peak, output)

        care, care_s = run_careamics(args.careamics_python, counts, threads=args.threads,
                                     epochs=args.careamics_epochs,
                                     patch=args.careamics_patch)
        ours, epochs, ours_s = fit_ours(counts, care_s, args.threads)
        stack_model = CNNDenoiser.pretrained("gray", axes="ZYX", n_threads=args.threads)
        flat_model = CNNDenoiser.pretrained("gray", n_threads=args.threads)
        row = (score(counts), score(care), score(ours.transform(counts[None])[0]),
               score(stack_model.transform(counts[None])[0]),
               score(flat_model.transform(counts)))
        rows.append(row)
        print(f"{names[k]:<10}{row[0]:>7.2f}"
              f"{f'{row[1]:.2f} ({args.careamics_epochs} ep, {care_s:.0f} s)':>26}"
              f"{f'{row[2]:.2f} ({epochs} ep, {ours_s:.0f} s)':>26}"
              f"{row[3]:>13.2f}{row[4]:>11.2f}", flush=True)
    mean = np.mean(rows, axis=0)
    print(f"{'mean':<10}{mean[0]:>7.2f}{mean[1]:>26.2f}{mean[2]:>26.2f}{mean[3]:>13.2f}"
          f"{mean[4]:>11.2f}")


if __name__ == "__main__":
    main()
