"""Every denoiser on a shared machine: idle, with one core busy, inside GridSearchCV(n_jobs=2).

Six 256x256 gray crops of photos the package never saw (scikit-image's rocket, brick,
clock, cell, grass, gravel) with white noise sigma 25/255, float32. Each cell is the
median over ``--repeats`` runs of seconds per image of the default call (``transform``
of the six images, the CNN blind), each measured in a fresh process:

- "idle": nothing else runs;
- "1 core busy": a competing process keeps one core busy (a pure-Python loop);
- "GridSearchCV(n_jobs=2)": the wall time of a 2-candidate, 3-fold grid search divided by
  the 12 images it scores (the fits included: a weight load for the pretrained CNN).

"before" runs the same calls on an older checkout of the package (``--before PATH``,
e.g. ``git worktree add /tmp/before 11aa9ac``), where torch ran with its own thread
count (one per core); "after" on this one, where ``n_threads=None`` takes the idle cores.
The last column says whether the CNN's outputs were bit-identical between the two
thread counts (1 and 2) in this run. Target (issue #36): with one of two cores busy the
CNN's default call at most 2.5x its idle time.

    python benchmarks/bench_threads.py --before /tmp/before [--repeats 3]
        [--methods cnn,wavelet,tv,nlm,bilateral]
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

_WORKER = r"""
import sys, time
import numpy as np
import skimage.data
from skimage.color import rgb2gray
name, mode = sys.argv[1], sys.argv[2]
import sklearn_denoise as sd
from sklearn_denoise.noise import gaussian
crops = [rgb2gray(skimage.data.rocket())[100:356, 200:456]]
crops += [getattr(skimage.data, n)()[:256, :256] / 255.0
          for n in ("brick", "clock", "cell", "grass", "gravel")]
clean = np.stack(crops)
X = gaussian(clean, 25 / 255, random_state=0).astype(np.float32)
build = {
    "cnn": lambda: sd.CNNDenoiser.pretrained("gray", max_epochs=0),
    "wavelet": lambda: sd.WaveletDenoiser(),
    "tv": lambda: sd.TVDenoiser(weight=0.1),
    "nlm": lambda: sd.NLMeansDenoiser(),
    "bilateral": lambda: sd.BilateralDenoiser(sigma_color=0.15),
}
grids = {"cnn": {"sigma": [None, 25 / 255]}, "wavelet": {"wavelet": ["db1", "db2"]},
         "tv": {"weight": [0.05, 0.1]}, "nlm": {"patch_size": [5, 3]},
         "bilateral": {"sigma_spatial": [1.0, 1.5]}}
est = build[name]()
if mode == "grid":
    from sklearn.model_selection import GridSearchCV
    start = time.perf_counter()
    GridSearchCV(est, grids[name], cv=3, n_jobs=2).fit(X, clean.astype(np.float32))
    print((time.perf_counter() - start) / 12)
else:
    if not hasattr(est, "net_"):
        est.fit(X)
    est.transform(X[:1])  # warm-up
    start = time.perf_counter()
    out = est.transform(X)
    print((time.perf_counter() - start) / len(X))
    if len(sys.argv) > 3:
        np.save(sys.argv[3], out)
"""

_BUSY = "while True:\n    pass\n"


def _run(code_path, name, mode, save=None):
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env["PYTHONPATH"] = str(code_path)
    args = [sys.executable, "-c", _WORKER, name, "grid" if mode == "grid" else "call"]
    if save is not None:
        args.append(str(save))
    out = subprocess.run(args, capture_output=True, text=True, env=env, cwd="/",
                         timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=True, help="checkout of the older code")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", default="cnn,wavelet,tv,nlm,bilateral")
    args = parser.parse_args(argv)
    here = Path(__file__).resolve().parents[1]
    versions = {"before": Path(args.before).resolve(), "after": here}
    modes = ("idle", "busy", "grid")
    table = {}
    for mode in modes:
        busy = subprocess.Popen([sys.executable, "-c", _BUSY]) if mode == "busy" else None
        if busy is not None:
            time.sleep(3)  # the load is seen by then
        try:
            for name in args.methods.split(","):
                for version, path in versions.items():
                    times = [_run(path, name, mode) for _ in range(args.repeats)]
                    table[name, version, mode] = float(np.median(times))
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
    # bit-identity of the CNN between 1 and 2 threads, this checkout
    import tempfile

    identical = "-"
    if "cnn" in args.methods.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            outs = []
            for threads in ("1", "2"):
                env = {**os.environ, "PYTHONPATH": str(here), "OMP_NUM_THREADS": threads}
                path = Path(tmp) / f"{threads}.npy"
                subprocess.run([sys.executable, "-c", _WORKER, "cnn", "call", str(path)],
                               check=True, capture_output=True, env=env, cwd="/")
                outs.append(np.load(path))
            identical = "yes" if np.array_equal(*outs) else "NO"
    print(f"machine: {len(os.sched_getaffinity(0))} cores; seconds per image "
          f"(median of {args.repeats}); busy/idle is the ratio of the two")
    header = ["method", "version", "idle", "1 core busy", "busy/idle",
              "GridSearchCV(n_jobs=2)"]
    rows = [header]
    for name in args.methods.split(","):
        for version in versions:
            idle, busy, grid = (table[name, version, m] for m in modes)
            rows.append([name, version, f"{idle:.4f}", f"{busy:.4f}", f"{busy / idle:.2f}",
                         f"{grid:.4f}"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths)))
    print(f"CNN output bit-identical with 1 and 2 threads: {identical}")


if __name__ == "__main__":
    main()
