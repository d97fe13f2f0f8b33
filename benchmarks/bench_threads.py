"""Torch threads on a shared machine: the pretrained CNN with 1 and 2 threads, alone and
next to a competing CPU-bound process, in one run.

The CLI's ``--threads`` default (``$OMP_NUM_THREADS``, else the idle cores between 1 and
2) rests on this measurement: OpenMP threads that spin-wait slow small convolutions down
badly when another process holds a core.

    python benchmarks/bench_threads.py [--repeats 3]
"""

import argparse
import subprocess
import sys
import time

import numpy as np

_WORKER = """
import sys, time, numpy as np, torch
from sklearn_denoise import CNNDenoiser
from skimage.data import camera
from sklearn_denoise.noise import gaussian
torch.set_num_threads(int(sys.argv[1]))
clean = np.repeat(camera()[None, :256, :256] / 255, 6, axis=0)
X = gaussian(clean, 25 / 255, random_state=0).astype("float32")
den = CNNDenoiser.pretrained("gray")
den.transform(X[:1])
times = []
for _ in range(int(sys.argv[2])):
    start = time.perf_counter(); den.transform(X); times.append(time.perf_counter() - start)
print(np.median(times) / len(X))
"""

_HOG = """
import torch
torch.set_num_threads(2)
a = torch.randn(512, 512)
while True:
    a = (a @ a).tanh()
"""


def _seconds_per_image(threads, repeats):
    out = subprocess.run([sys.executable, "-c", _WORKER, str(threads), str(repeats)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rows = {}
    for label in ("alone", "with a competing 2-thread process"):
        hog = None
        if label != "alone":
            hog = subprocess.Popen([sys.executable, "-c", _HOG])
            time.sleep(2)
        try:
            rows[label] = [_seconds_per_image(t, args.repeats) for t in (1, 2)]
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
    print("| condition | 1 thread (s / 256x256 image) | 2 threads | 2 threads / 1 thread |")
    print("|---|---|---|---|")
    for label, (one, two) in rows.items():
        print(f"| {label} | {one:.4f} | {two:.4f} | {two / one:.2f} |")
    print(f"\nload average at the end: {np.round(__import__('os').getloadavg(), 2).tolist()}")


if __name__ == "__main__":
    main()
