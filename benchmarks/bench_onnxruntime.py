"""The shipped U-Net in plain torch against ONNX Runtime, same windows, same run.

Measures whether an optional ONNX Runtime backend would pay for itself: the network alone
(no tiling, no noise estimate) on square windows of 512 and 816 pixels (the windows of a
4096x4096 image at the default tile size). Each backend runs in a process of its own
(the two thread pools slow each other down in one process), after one warm-up pass per
window; rounds alternate the backends; the table shows medians. Torch runs as the package
runs it (channels-last, ``sklearn_denoise._allocator.large_buffers_reused``); ONNX
Runtime gets the module exported with dynamic height and width, its default CPU provider
and the same number of threads. Needs the optional packages ``onnxruntime onnx
onnxscript`` (not dependencies of the package)::

    python benchmarks/bench_onnxruntime.py [--threads 2] [--rounds 3] [--repeats 3]
"""

import argparse
import io
import json
import subprocess
import sys
import time
import warnings

import numpy as np
import torch

SIDES = (512, 816)


def _inputs(side):
    return torch.rand(1, 2, side, side, generator=torch.Generator().manual_seed(side))


def _module():
    from sklearn_denoise import CNNDenoiser

    return CNNDenoiser.pretrained("gray").net_.module_.eval()


def _onnx_session(module, threads):
    import onnxruntime

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (_inputs(64),), buffer, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {2: "h", 3: "w"},
                                                            "y": {2: "h", 3: "w"}},
                          dynamo=False, opset_version=17)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(buffer.getvalue(), options,
                                        providers=["CPUExecutionProvider"])


def _child(spec):
    """Time one backend on every window; print seconds and a sample of the output."""
    from sklearn_denoise._allocator import large_buffers_reused
    from sklearn_denoise._tiling import network_layout

    torch.set_num_threads(spec["threads"])
    module = _module()
    if spec["backend"] == "torch":
        def run(x):
            with large_buffers_reused(1 << 40), torch.inference_mode():
                return module(network_layout(x)).numpy()
    else:
        session = _onnx_session(module, spec["threads"])

        def run(x):
            return session.run(None, {"x": x.numpy()})[0]
    result = {}
    for side in SIDES:
        x = _inputs(side)
        out = run(x)  # warm-up
        times = []
        for _ in range(spec["repeats"]):
            start = time.perf_counter()
            run(x)
            times.append(time.perf_counter() - start)
        result[side] = {"seconds": float(np.median(times)), "corner": out[0, 0, :8, :8].tolist()}
    print(json.dumps(result))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(json.loads(args.child))
        return
    runs = {"torch": [], "onnx": []}
    for _ in range(args.rounds):
        for backend in runs:
            spec = {"backend": backend, "threads": args.threads, "repeats": args.repeats}
            proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)],
                                  capture_output=True, text=True, check=True)
            runs[backend].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    import onnxruntime

    print(f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
          f"{args.threads} threads, {args.rounds} rounds (median), "
          f"{time.strftime('%Y-%m-%d %H:%M %Z')}\n")
    print("| window | torch s | onnxruntime s | torch / onnxruntime | max abs difference |")
    print("|---|---:|---:|---:|---:|")
    for side in map(str, SIDES):
        t = np.median([r[side]["seconds"] for r in runs["torch"]])
        o = np.median([r[side]["seconds"] for r in runs["onnx"]])
        difference = np.abs(np.array(runs["torch"][0][side]["corner"])
                            - np.array(runs["onnx"][0][side]["corner"])).max()
        print(f"| {side}x{side} | {t:.3f} | {o:.3f} | {t / o:.2f} | {difference:.1e} |")


if __name__ == "__main__":
    main()
