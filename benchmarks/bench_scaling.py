"""Time, throughput and peak memory of denoising as images grow, every size in one run.

Rows: the pretrained CNN's default call (``CNNDenoiser.pretrained("gray")`` on grayscale
images of 256^2 to 4096^2, ``pretrained("color")`` on a 4000x3000 RGB image), the same
model untiled and with the previous tiling defaults (the theoretical 256-pixel margin,
``tile_size=1024``) for comparison, and the classical denoisers at the sizes where they
finish in reasonable time. Images: the sample photographs (camera, astronaut) mirrored to
the size, with white Gaussian noise of sigma 25/255, as uint8.

Every (method, size) runs in a fresh subprocess, so peak resident memory (``ru_maxrss``
of that process: Python, torch, the model, the image and the denoising) does not mix
between rows; each child warms up on a 64x64 crop, then times ``transform`` (median of
``--repeats`` for images up to 1 MP, one call above). Rounds repeat the whole sweep
(interleaved, so drifts in machine load hit every row alike) and the table shows medians.
Throughput ratios are against the CNN's 512^2 row of the same run; the targets are >= 0.8
at 2048^2 and 4096^2, peak RSS <= 1 GiB at 4096^2 (CNN) and <= 2 GiB (BM3D, which
needs the optional ``bm3d`` package and takes several minutes at 4096^2: run it alone with
``--methods bm3d --rounds 1``).

    python benchmarks/bench_scaling.py [--threads 2] [--rounds 2] [--repeats 3]
        [--methods cnn,cnn-untiled,cnn-previous,wavelet,tv,nlmeans,bilateral,bm3d]

``cnn-landed`` is the default call of another source tree, in the same run: check out the
code before the tiling work (``git worktree add /tmp/landed 010a2c6``) and pass
``--landed-tree /tmp/landed``; its children import ``sklearn_denoise`` (and its weights)
from there.

``--measure-radius`` instead measures the effective receptive radius of the shipped model
(the figures behind ``sklearn_denoise._tiling.MEASURED_RADII``): on the Set12 images with
Gaussian noise of sigma 15, 25 and 50 (/255), (a) the largest change of the output in a
central square when the input farther than ``r`` from the square is replaced by black or by
white, and (b) the largest difference between tiled (64-pixel cores) and untiled inference
with a margin of ``r``:

    python benchmarks/bench_scaling.py --measure-radius [--images ../shared/data/set12]

``--measure-radius --expert`` measures the correlated-noise expert of the shipped model
(``CNNDenoiser.correlated_expert_``) alike, on the noise it runs on: correlated Gaussian
noise of std 20/255 with 1-, 1.5- and 2-pixel correlation instead of the three sigmas.

``--measure-bm3d-margin`` measures the same for ``bm3d`` (the figures behind
``sklearn_denoise._classical._BM3D_CONTRACT``): 256x256 crops of Set12 images 01, 05 and 09
at sigma 15, 25 and 50, tiles of 96 pixels on bm3d's 9-pixel grid with margins of 36 to
90 pixels, against the untiled call (largest and 99.9th-percentile difference, PSNR change):

    python benchmarks/bench_scaling.py --measure-bm3d-margin

``--measure-buffers`` shows what buffer reuse and equal windows do to the shipped network
alone (no tiling code): each case in a fresh process runs the U-Net on a 4x4 grid of
windows, either all of 816 pixels (the windows of a 4096^2 image at the default tile
size) or a mix of 720, 752 and 816 pixels (border-clipped windows), with
``sklearn_denoise._allocator.large_buffers_reused`` or glibc's defaults, and prints the
peak memory the passes added and the seconds per 816^2-equivalent window:

    python benchmarks/bench_scaling.py --measure-buffers
"""

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

GRAY_SIZES = (256, 512, 1024, 2048, 4096)
RGB_SHAPE = (3000, 4000)
SIGMA = 25 / 255
# largest side each method is run at (the classical ones grow slow or need much memory)
METHODS = {
    "cnn": 4096,
    "cnn-plain-layout": 4096,
    "cnn-plain-allocator": 4096,
    "cnn-untiled": 2048,
    "cnn-previous": 4096,
    "cnn-landed": 4096,
    "wavelet": 4096,
    "tv": 1024,
    "bilateral": 1024,
    "nlmeans": 512,
    "bm3d": 4096,  # tiled (tile_size=1024): memory stays bounded
}
LABELS = {
    "cnn": "CNN pretrained, default call",
    "cnn-plain-layout": "CNN default call, torch's default memory layout",
    "cnn-plain-allocator": "CNN default call, glibc's default allocator settings",
    "cnn-untiled": "CNN untiled (tile_size=65536)",
    "cnn-previous": "CNN previous tiling (margin 256, tile_size=1024)",
    "cnn-landed": "CNN default call, code of --landed-tree",
    "wavelet": "WaveletDenoiser()",
    "tv": "TVDenoiser()",
    "bilateral": "BilateralDenoiser()",
    "nlmeans": "NLMeansDenoiser()",
    "bm3d": "BM3DDenoiser()",
}
DEFAULT_SET12 = Path(__file__).resolve().parents[2] / "shared" / "data" / "set12"


# ------------------------------------------------------------------------------ child
def _make_estimator(method, color):
    from sklearn_denoise import (
        BilateralDenoiser,
        BM3DDenoiser,
        CNNDenoiser,
        NLMeansDenoiser,
        TVDenoiser,
        WaveletDenoiser,
    )

    model = "color" if color else "gray"
    if method in ("cnn", "cnn-plain-layout", "cnn-plain-allocator", "cnn-landed"):
        return CNNDenoiser.pretrained(model)
    if method == "cnn-untiled":
        return CNNDenoiser.pretrained(model, tile_size=65536)
    if method == "cnn-previous":
        return CNNDenoiser.pretrained(model, tile_size=1024, tile_overlap=256)
    classes = {"wavelet": WaveletDenoiser, "tv": TVDenoiser, "bilateral": BilateralDenoiser,
               "nlmeans": NLMeansDenoiser, "bm3d": BM3DDenoiser}
    return classes[method]()


def _noisy_image(height, width, color):
    """A sample photograph mirrored to (height, width), Gaussian noise, uint8."""
    from sklearn_denoise.datasets import load_sample_images

    photo = load_sample_images(color=color)[0]  # astronaut or camera, 512x512
    reps = (-(-height // photo.shape[0]), -(-width // photo.shape[1]))
    rows = [photo if i % 2 == 0 else photo[::-1] for i in range(reps[0])]
    column = np.concatenate(rows, axis=0)
    cols = [column if j % 2 == 0 else column[:, ::-1] for j in range(reps[1])]
    clean = np.concatenate(cols, axis=1)[:height, :width]
    noise = np.random.default_rng(0).normal(0.0, 255 * SIGMA, clean.shape)
    return np.clip(np.rint(clean + noise), 0, 255).astype(np.uint8)


def _rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _child(spec):
    """Time one method on one image size; print a JSON line."""
    import torch

    torch.set_num_threads(spec["threads"])
    if spec.get("tree"):  # another checkout's package (which has neither module below)
        sys.path.insert(0, spec["tree"])
    else:
        from sklearn_denoise import _allocator, _tiling

        _tiling.CHANNELS_LAST = spec["method"] != "cnn-plain-layout"
        _allocator.REUSE_LARGE_BUFFERS = spec["method"] != "cnn-plain-allocator"
    height, width, color = spec["height"], spec["width"], spec["color"]
    image = _noisy_image(height, width, color)[None]
    est = _make_estimator(spec["method"], color).set_params(**spec.get("params", {}))
    if not spec["method"].startswith("cnn"):
        est.fit(image[:, :64, :64])
    est.transform(image[:, :64, :64])  # warm-up (oneDNN kernels, lazy imports)
    before = _rss_mib()
    repeats = spec["repeats"] if height * width <= 2**20 else 1
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = est.transform(image)
        times.append(time.perf_counter() - start)
        assert out.shape == image.shape and out.dtype == image.dtype
        del out
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": float(np.median(times)), "peak_mib": peak,
                      "before_mib": before}))


# ------------------------------------------------------------------------------ parent
def _run_child(spec):
    cmd = [sys.executable, __file__, "--child", json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{spec}: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _cases(methods, sizes, rgb):
    for method in methods:
        for size in sizes:
            if size <= METHODS[method]:
                yield method, (size, size), False
        if rgb and method in ("cnn", "cnn-previous", "cnn-landed", "bm3d"):
            yield method, RGB_SHAPE, True


def _sweep(args):
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise SystemExit(f"unknown methods {unknown}; choose from {sorted(METHODS)}")
    if "cnn-landed" in methods and not args.landed_tree:
        raise SystemExit("cnn-landed needs --landed-tree DIR (a checkout of the other code)")
    sizes = [int(size) for size in args.sizes.split(",") if size]
    cases = list(_cases(methods, sizes, not args.no_rgb))
    results = {case: [] for case in cases}
    for round_ in range(args.rounds):
        for case in cases:
            method, (height, width), color = case
            spec = {"method": method, "height": height, "width": width, "color": color,
                    "threads": args.threads, "repeats": args.repeats}
            if method == "cnn-landed":
                spec["tree"] = str(Path(args.landed_tree).resolve())
            res = _run_child(spec)
            results[case].append(res)
            print(f"round {round_ + 1}: {method} {height}x{width}{'x3' if color else ''} "
                  f"{res['seconds']:.3f} s, peak {res['peak_mib']:.0f} MiB", file=sys.stderr,
                  flush=True)
    return results


def _table(results, args):
    import torch

    print(f"\ntorch {torch.__version__}, {args.threads} threads, {platform.processor() or ''}"
          f" {platform.machine()}, rounds {args.rounds} (median), "
          f"{time.strftime('%Y-%m-%d %H:%M %Z')}\n")
    ref = [np.median([r["seconds"] for r in v]) for (m, shape, color), v in results.items()
           if m == "cnn" and shape == (512, 512) and not color]
    ref_mps = 512 * 512 / 1e6 / ref[0] if ref else None
    print("| method | image | s / image | MP/s | vs CNN 512^2 | peak RSS MiB |")
    print("|---|---|---:|---:|---:|---:|")
    for (method, (height, width), color), runs in results.items():
        sec = float(np.median([r["seconds"] for r in runs]))
        peak = float(np.median([r["peak_mib"] for r in runs]))
        mps = height * width / 1e6 / sec
        ratio = f"{mps / ref_mps:.2f}" if ref_mps and method.startswith("cnn") else ""
        shape = f"{height}x{width}" + (" RGB" if color else "")
        print(f"| {LABELS[method]} | {shape} | {sec:.3f} | {mps:.2f} | {ratio} | {peak:.0f} |")


# ------------------------------------------------------------------------------ radius
def _measure_radius(args):
    from sklearn_denoise import CNNDenoiser
    from sklearn_denoise._cnn_steps import inference_setup, run_network
    from sklearn_denoise._io import read_image
    from sklearn_denoise._tiling import effective_radius, make_contract, run_tiled
    from sklearn_denoise.noise import correlated_gaussian, gaussian

    paths = sorted(Path(args.images).glob("*.png"))
    if not paths:
        raise SystemExit(f"no PNG images in {args.images}")
    den = CNNDenoiser.pretrained("gray")
    # the shipped network on white noise, or its correlated-noise expert on what it runs on
    setup = inference_setup(den)
    module = den.correlated_expert_ if args.expert else setup.module
    multiple = den.spatial_contract().multiple
    radii = range(16, 97, 8)
    perturbed = {r: 0.0 for r in radii}
    tiled = {r: 0.0 for r in radii}
    for k, path in enumerate(paths):
        clean = read_image(path).astype(np.float32) / 255
        for sigma255 in (15, 25, 50):
            sigma = sigma255 / 255
            if args.expert:  # 1-, 1.5- and 2-px correlation, std 20/255
                correlation = {15: 1.0, 25: 1.5, 50: 2.0}[sigma255]
                noisy = correlated_gaussian(clean, 20 / 255, correlation=correlation,
                                            random_state=k)
                sigma = 20 / 255
            else:
                noisy = gaussian(clean, sigma, random_state=k)
            noisy = noisy.astype(np.float32)[..., None]

            def forward(x, sigma=sigma):
                return run_network(setup, module, x, sigma)

            whole = forward(noisy)
            _, deviations = effective_radius(forward, noisy, tol=0.0, multiple=multiple,
                                             radii=radii)
            for r, dev in deviations.items():
                perturbed[r] = max(perturbed[r], dev)
            for r in radii:
                def window(rows, cols, noisy=noisy, forward=forward):
                    return forward(noisy[rows, cols])

                out = run_tiled(window, noisy.shape, np.empty_like(whole), 64,
                                make_contract(r, multiple))
                tiled[r] = max(tiled[r], float(np.abs(out - whole).max()))
        print(f"{path.name} done", file=sys.stderr, flush=True)
    print("\n| radius / margin (px) | input changed beyond it: max output change "
          "| tiles of 64 px with this margin: max difference to untiled |")
    print("|---:|---:|---:|")
    for r in radii:
        print(f"| {r} | {perturbed[r]:.1e} | {tiled[r]:.1e} |")


def _measure_bm3d_margin(args):
    import bm3d

    from sklearn_denoise._io import read_image
    from sklearn_denoise._tiling import make_contract, run_tiled
    from sklearn_denoise.metrics import psnr

    print("| image | sigma | margin (px) | max difference | 99.9th percentile "
          "| PSNR change (dB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in ("01.png", "05.png", "09.png"):
        clean = read_image(Path(args.images) / name)[:256, :256] / 255.0
        for sigma255 in (15, 25, 50):
            sigma = sigma255 / 255
            noisy = clean + np.random.default_rng(0).normal(0, sigma, clean.shape)
            whole = bm3d.bm3d(noisy, sigma)

            def tile(rows, cols, noisy=noisy, sigma=sigma):
                return bm3d.bm3d(noisy[rows, cols], sigma)

            for margin in (36, 54, 72, 90):
                tiled = run_tiled(tile, noisy.shape, np.empty_like(noisy), 96,
                                  make_contract(margin, 9))
                diff = np.abs(tiled - whole)
                change = (psnr(clean, np.clip(tiled, 0, 1), data_range=1.0)
                          - psnr(clean, np.clip(whole, 0, 1), data_range=1.0))
                print(f"| {name} | {sigma255} | {margin} | {diff.max():.4f} | "
                      f"{np.quantile(diff, 0.999):.4f} | {change:+.3f} |", flush=True)


def _buffers_child(spec):
    """Run the shipped U-Net on a grid of windows; print peak added memory and time."""
    import itertools

    import torch

    from sklearn_denoise import CNNDenoiser
    from sklearn_denoise._allocator import large_buffers_reused
    from sklearn_denoise._tiling import network_layout

    torch.set_num_threads(spec["threads"])
    module = CNNDenoiser.pretrained("gray").net_.module_.eval()
    with torch.inference_mode():
        module(network_layout(torch.rand(1, 2, 64, 64)))
    before = _rss_mib()
    sides = spec["sides"]
    start = time.perf_counter()
    with large_buffers_reused(1 << 40 if spec["reuse"] else 0), torch.inference_mode():
        for height, width in itertools.product(sides, sides):
            module(network_layout(torch.rand(1, 2, height, width)))
    seconds = time.perf_counter() - start
    pixels = sum(h * w for h, w in itertools.product(sides, sides))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"added_mib": peak - before, "seconds": seconds * 816**2 / pixels}))


def _measure_buffers(args):
    equal, mixed = [816] * 4, [752, 816, 816, 720]
    print("| windows | buffer reuse | peak added MiB | s per 816^2 window |")
    print("|---|---|---:|---:|")
    for name, sides in (("equal 816", equal), ("mixed 720-816", mixed)):
        for reuse in (True, False):
            spec = {"buffers": True, "sides": sides, "reuse": reuse, "threads": args.threads}
            res = _run_child(spec)
            print(f"| {name} | {'yes' if reuse else 'no'} | {res['added_mib']:.0f} | "
                  f"{res['seconds']:.3f} |", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", default=",".join(m for m in METHODS if m != "cnn-landed"))
    parser.add_argument("--sizes", default=",".join(map(str, GRAY_SIZES)),
                        help="sides of the square gray images")
    parser.add_argument("--no-rgb", action="store_true", help="skip the 4000x3000 RGB image")
    parser.add_argument("--landed-tree", default=None,
                        help="source tree whose sklearn_denoise the cnn-landed rows use")
    parser.add_argument("--measure-radius", action="store_true")
    parser.add_argument("--expert", action="store_true",
                        help="with --measure-radius: the correlated-noise expert, on "
                        "correlated noise (std 20/255, 1-, 1.5- and 2-px correlation)")
    parser.add_argument("--measure-bm3d-margin", action="store_true")
    parser.add_argument("--measure-buffers", action="store_true")
    parser.add_argument("--images", default=str(DEFAULT_SET12))
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        _buffers_child(spec) if spec.get("buffers") else _child(spec)
    elif args.measure_buffers:
        _measure_buffers(args)
    elif args.measure_radius:
        _measure_radius(args)
    elif args.measure_bm3d_margin:
        _measure_bm3d_margin(args)
    else:
        _table(_sweep(args), args)


if __name__ == "__main__":
    main()
