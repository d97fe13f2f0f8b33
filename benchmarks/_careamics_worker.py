"""CAREamics side of bench_self_supervised.py, run by the Python of a separate environment
that has CAREamics (and never imports sklearn_denoise).

    /path/to/venv/bin/python benchmarks/_careamics_worker.py IN.npz OUT.npz --epochs N
        [--batch-size 64] [--patch-size 64] [--n2v2] [--struct horizontal|vertical]
        [--threads 1] [--axes SZYX --patch-planes 8]

IN.npz holds ``train`` (n, H, W) float32 noisy images and ``predict_<k>`` (m, H, W) stacks
(with ``--axes SZYX``: (n, Z, H, W) volumes, 3-D Noise2Void on patches of
``--patch-planes`` planes);
OUT.npz gets ``predict_<k>`` (the predictions, same shapes), ``train_seconds`` (the
``CAREamist.train`` call) and ``predict_seconds``. CAREamics trains Noise2Void with its
own defaults (``create_n2v_config``: 0.2 % masked pixels, 11x11 replacement window,
mean/std normalisation, Adam, ReduceLROnPlateau on the validation loss, 8 held-out
validation patches of the training data) and predicts the whole images.
"""

import argparse
import tempfile
import time

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs")
    parser.add_argument("outputs")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--patch-size", type=int, default=64)
    parser.add_argument("--n2v2", action="store_true")
    parser.add_argument("--struct", choices=("horizontal", "vertical"), default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--axes", choices=("SYX", "SZYX"), default="SYX")
    parser.add_argument("--patch-planes", type=int, default=8)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from careamics import CAREamist
    from careamics.config import create_n2v_config, create_structn2v_config

    data = np.load(args.inputs)
    train = data["train"].astype(np.float32)
    patch = [args.patch_size, args.patch_size]
    if args.axes == "SZYX":
        patch = [args.patch_planes, *patch]
    common = dict(experiment_name="bench", data_type="array", axes=args.axes, patch_size=patch,
                  batch_size=args.batch_size, num_epochs=args.epochs, use_n2v2=args.n2v2)
    if args.struct:
        config = create_structn2v_config(struct_n2v_axes=args.struct, **common)
    else:
        config = create_n2v_config(**common)
    try:  # seeded where the configuration has a seed
        config.data_config.seed = args.seed
    except (AttributeError, ValueError):
        pass
    torch.manual_seed(args.seed)
    with tempfile.TemporaryDirectory() as work:
        careamist = CAREamist(config, work_dir=work, enable_progress_bar=False)
        start = time.perf_counter()
        careamist.train(train_data=train)
        train_seconds = time.perf_counter() - start
        out = {"train_seconds": train_seconds}
        start = time.perf_counter()
        for key in data.files:
            if not key.startswith("predict_"):
                continue
            stack = data[key].astype(np.float32)
            result = careamist.predict(stack, axes=args.axes, data_type="array")
            predictions = result[0] if isinstance(result, tuple) else result
            pred = np.concatenate([np.asarray(p).reshape(-1, *stack.shape[1:])
                                   for p in predictions])
            out[key] = pred.astype(np.float32)
        out["predict_seconds"] = time.perf_counter() - start
    np.savez(args.outputs, **out)


if __name__ == "__main__":
    main()
