"""Train the stack network: the shipped "gray" U-Net that also sees neighbouring planes.

Issue #30 (volumes and sequences). The network is today's gray model with
``context_planes`` extra input channels (the planes before and after the one it
denoises, nearest first), initialised with :func:`sklearn_denoise._modules.add_context_planes`
so that it starts from exactly the 2-D model's output and learns only what the
neighbours add. Input layout: the plane, its noise-level map, then the neighbours
(offsets -1, +1, -2, +2, ...); output: the plane.

Training data: synthetic sequences from ``../shared/data/train400`` (never Set12), 64x64
patches with flips and rotations. Each sample is a short sequence of one scene:
static (``--static-fraction``, half by default) or moving by a random integer shift of up
to ``--max-shift`` pixels per plane, with a brightness drift (30 %) and a defocus blur of
the neighbours (20 %); each plane gets its own noise, Gaussian of a random sigma in
[0, 55/255] (half) or Poisson-Gaussian normalised as at inference, as
``train_noise="mixed"`` does for the 2-D model (half), with the centre plane's per-pixel
noise-level map.

skorch does the loop: Adam, cosine ``LRScheduler``, ``Checkpoint`` after every epoch and
``LoadInitState``, so running the same command again resumes where it stopped::

    nohup python benchmarks/train_stack.py --epochs 60 --threads 1 \
        --checkpoint-dir ~/ckpt/stack --export stack.pt > stack.log 2>&1 &

With ``--epochs`` at or below the checkpoint's epoch count it trains nothing and exports
the checkpoint's weights (with the monitoring line), e.g. to stop a run early.

The first stage (2026-12-07, commit 07b92f0 for its first 14 epochs, about 40 minutes on
one thread next to other work, resumed from their checkpoint on 4a4fdc5 for the last 10,
6 minutes on two idle threads)::

    python benchmarks/train_stack.py --epochs 24 --patches-per-epoch 2000 --lr 3e-4 \
        --eval-every 4 --checkpoint-dir ~/ckpt/stack --export stack-stage1.pt

is ``benchmarks/weights/stack-stage1.pt``, not shipped. Its monitoring line at epoch
4 / 8 / 12 / 16 / 20 / 24: static sigma 50 +0.85 / +1.22 / +1.93 / +2.09 / +2.24 / +2.32 dB
over the 2-D model, moving sigma 25 -0.93 / -0.94 / -0.68 / -0.41 / -0.40 / -0.35 dB. A
second stage starts from it with ``--init benchmarks/weights/stack-stage1.pt``, a new
``--checkpoint-dir`` and a lower ``--lr`` (1e-4: a fresh Adam at 3e-4 undid much of the
first stage in its first steps), e.g. with more moving sequences::

    nohup python benchmarks/train_stack.py --init benchmarks/weights/stack-stage1.pt \
        --lr 1e-4 --static-fraction 0.3 --epochs 36 --checkpoint-dir ~/ckpt/stack2 \
        --export stack.pt &

The second stage was that command (2026-12-07, commit 98413d7,
36 epochs, about 25 minutes on two threads): ``benchmarks/weights/stack-stage2.pt``, not
shipped. Monitoring line at epoch 6 / 12 / 18 / 30 / 36: static sigma 50 +2.22 / +2.37 /
+2.45 / +2.54 / +2.56 dB, moving sigma 25 -0.16 / -0.07 / -0.05 / -0.02 / -0.01 dB: it
learned to leave moving planes alone, not yet to use them. ``CNNDenoiser`` now shifts each
neighbour onto the plane by the translation between them (:mod:`sklearn_denoise._stack`),
and this script's monitoring does too: stage 2's checkpoint, exported again with the
second stage's command and ``--epochs 36`` on commit 7a817c2, then reads moving sigma 25
+2.50 dB, still sigma 50 +2.56 dB.

The third stage widens stage 2 to 6 neighbours (the new planes' input weights start at
zero) and trains on half still sequences, the others moving by up to 1 pixel per plane
(what is left of the motion once aligned)::

    nohup python benchmarks/train_stack.py --init benchmarks/weights/stack-stage2.pt \
        --context-planes 6 --lr 2e-4 --max-shift 1 --static-fraction 0.5 --epochs 40 \
        --eval-every 5 --threads 2 --checkpoint-dir ~/ckpt/stack3 --export stack.pt &

(2026-12-07: its first 3 epochs on commit e02439b, 8 to 18 minutes each on the cores
shared with two other runs; exported there with ``--epochs 3`` on commit 2b68ef3: moving
sigma 25 +2.99 dB, still sigma 50 +3.00 dB; then resumed by the same command with
``--threads 1`` on commit cd4f486, 1 to 2 minutes per epoch, to epoch 40) is
``benchmarks/weights/stack-stage3.pt``, shipped as "gray-stack"
(``register_pretrained.py --stack-of gray``). Monitoring line at epoch 5 / 10 / 15 / 20 /
25 / 40: moving sigma 25 +2.84 / +3.16 / +3.24 / +3.43 / +3.52 / +3.55 dB, still sigma 50
+2.96 / +3.20 / +3.46 / +3.53 / +3.63 / +3.67 dB.

Every ``--eval-every`` epochs it prints, on 4 Set12 images made into 7-plane sequences
(:func:`make_sequence`), the centre plane's PSNR for the stack network against the 2-D
model plane by plane (moving at sigma 25, static at sigma 50), for monitoring only.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter
from skorch import NeuralNetRegressor
from skorch.callbacks import Callback, Checkpoint, LoadInitState, LRScheduler

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _protocol import DATA, git_commit, read_folder  # noqa: E402

from sklearn_denoise._modules import UNet, add_context_planes  # noqa: E402
from sklearn_denoise._normalize import fit_normalization  # noqa: E402
from sklearn_denoise._sensor import (  # noqa: E402
    TRAINING_PEAKS,
    TRAINING_READ_NOISE,
    noise_level_map,
)
from sklearn_denoise._stack import (  # noqa: E402
    neighbour_offsets,
    neighbour_planes,
    plane_positions,
)
from sklearn_denoise._weights import resolve_weights, save_weights  # noqa: E402
from sklearn_denoise.metrics import psnr  # noqa: E402
from sklearn_denoise.noise import NoiseModel  # noqa: E402

SIGMA_RANGE = (0.0, 55 / 255)


def make_sequence(clean, n_planes, max_shift, rng, *, static=False, drift=0.0, blur=0.0):
    """A sequence of ``n_planes`` views of one (H, W) scene: crops of ``clean`` that move
    by a random integer shift of up to ``max_shift`` pixels per plane (none when
    ``static``), each scaled by a brightness drift of relative std ``drift`` per plane and,
    except the centre, blurred by a Gaussian of up to ``blur`` pixels.

    Returns an (n_planes, H - 2 m, W - 2 m) array, m = max_shift * (n_planes // 2).
    """
    centre = n_planes // 2
    margin = max_shift * centre
    steps = (np.zeros((n_planes - 1, 2), int) if static
             else rng.integers(-max_shift, max_shift + 1, size=(n_planes - 1, 2)))
    positions = np.zeros((n_planes, 2), int)
    positions[centre + 1:] = np.cumsum(steps[centre:], axis=0)
    positions[:centre] = -np.cumsum(steps[:centre][::-1], axis=0)[::-1]
    height, width = clean.shape[0] - 2 * margin, clean.shape[1] - 2 * margin
    planes = []
    gain = 1.0
    for t, (dy, dx) in enumerate(positions):
        plane = clean[margin + dy: margin + dy + height, margin + dx: margin + dx + width]
        if drift:
            gain = 1.0 + rng.normal(0.0, drift) if t != centre else 1.0
            plane = plane * gain
        if blur and t != centre:
            plane = gaussian_filter(plane, rng.uniform(0.0, blur))
        planes.append(plane)
    return np.stack(planes).astype(np.float32)


def noisy_stack(planes, rng):
    """Independent noise on each plane of a clean (T, H, W) sequence.

    Returns (noisy planes, clean planes mapped alike, the centre plane's noise map), the
    sensor case normalised by the centre plane as the 2-D model's training patches are.
    """
    centre = planes.shape[0] // 2
    if rng.random() < 0.5:
        sigma = rng.uniform(*SIGMA_RANGE)
        noisy = planes + rng.normal(0.0, sigma, size=planes.shape).astype(np.float32)
        return noisy, planes, np.full(planes.shape[1:], sigma, np.float32)
    peak = float(np.exp(rng.uniform(*np.log(TRAINING_PEAKS))))
    read = float(rng.uniform(*TRAINING_READ_NOISE)) / peak
    signal = np.clip(planes.astype(np.float64), 0.0, None)
    noisy = rng.poisson(signal * peak) / peak + rng.normal(0.0, read, size=planes.shape)
    normalization = fit_normalization(noisy[centre][..., None], "percentile")
    model = NoiseModel(gain=1.0 / peak, read_noise=read, black_level=0.0).scaled(
        normalization.offset, normalization.scale)
    noisy = normalization.apply(noisy).astype(np.float32)
    clean = normalization.apply(planes.astype(np.float64)).astype(np.float32)
    noise_map = noise_level_map(noisy[centre][..., None], model)[..., 0]
    return noisy, clean, noise_map


def network_input(noisy, noise_map, context_planes):
    """(C, H, W) input of the stack network for the centre plane of ``noisy``."""
    centre = noisy.shape[0] // 2
    neighbours = [noisy[centre + k] for k in neighbour_offsets(context_planes)]
    return np.stack([noisy[centre], noise_map] + neighbours)


class SequencePatches(torch.utils.data.Dataset):
    """Random synthetic sequences, drawn afresh on every access."""

    def __init__(self, images, n_patches, patch_size, context_planes, max_shift, seed,
                 static_fraction=0.5):
        self.images = images
        self.static_fraction = static_fraction
        self.n_patches = n_patches
        self.patch_size = patch_size
        self.context_planes = context_planes
        self.max_shift = max_shift
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return self.n_patches

    def __getitem__(self, idx):
        rng = self.rng
        image = self.images[idx % len(self.images)]
        n_planes = self.context_planes + 1
        size = self.patch_size + 2 * self.max_shift * (n_planes // 2)
        top = rng.integers(0, image.shape[0] - size + 1)
        left = rng.integers(0, image.shape[1] - size + 1)
        crop = np.rot90(image[top: top + size, left: left + size], int(rng.integers(4)))
        if rng.integers(2):
            crop = crop[:, ::-1]
        planes = make_sequence(crop, n_planes, self.max_shift, rng,
                               static=rng.random() < self.static_fraction,
                               drift=0.03 if rng.random() < 0.3 else 0.0,
                               blur=1.0 if rng.random() < 0.2 else 0.0)
        noisy, clean, noise_map = noisy_stack(planes, rng)
        x = network_input(noisy, noise_map, self.context_planes)
        return torch.from_numpy(x), torch.from_numpy(clean[n_planes // 2][None])


def denoise_stack(module, noisy, sigma, context_planes):
    """Each plane of a (T, H, W) sequence with Gaussian noise ``sigma`` denoised by the
    stack network, its neighbours mirrored beyond the ends and aligned onto it as
    ``CNNDenoiser`` aligns them (:mod:`sklearn_denoise._stack`)."""
    positions = plane_positions(noisy)
    noise_map = np.full(noisy.shape[1:], sigma, np.float32)
    out = []
    with torch.inference_mode():
        for t in range(noisy.shape[0]):
            neighbours = neighbour_planes(noisy, t, context_planes, positions)
            x = np.stack([noisy[t], noise_map] + neighbours)
            out.append(module(torch.from_numpy(x)[None])[0, 0].numpy())
    return np.stack(out)


def evaluate(module, module_2d, images, context_planes):
    """Centre-plane PSNR, stack network vs the 2-D network plane by plane."""
    rows = []
    cases = (("moving, sigma 25", 25, False), ("static, sigma 50", 50, True))
    for label, sigma255, static in cases:
        joint, single = [], []
        for k, image in enumerate(images):
            rng = np.random.default_rng(k)
            clean = make_sequence(image / 255.0, 7, 2, rng, static=static)
            noisy = clean + rng.normal(0, sigma255 / 255, clean.shape).astype(np.float32)
            centre = 3
            out = denoise_stack(module, noisy, sigma255 / 255, context_planes)[centre]
            x = np.stack([noisy[centre], np.full(noisy.shape[1:], sigma255 / 255, np.float32)])
            with torch.inference_mode():
                ref = module_2d(torch.from_numpy(x)[None])[0, 0].numpy()
            joint.append(psnr(clean[centre], np.clip(out, 0, 1), data_range=1.0))
            single.append(psnr(clean[centre], np.clip(ref, 0, 1), data_range=1.0))
        rows.append(f"{label}: stack {np.mean(joint):.2f} dB, 2-D {np.mean(single):.2f} dB "
                    f"({np.mean(joint) - np.mean(single):+.2f})")
    return "; ".join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--patches-per-epoch", type=int, default=2000)
    parser.add_argument("--patch-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--context-planes", type=int, default=4)
    parser.add_argument("--max-shift", type=int, default=2)
    parser.add_argument("--static-fraction", type=float, default=0.5,
                        help="share of the training sequences that do not move")
    parser.add_argument("--init", default="gray",
                        help="weights to start from: a registered 2-D model, or a weight "
                             "file of a stack network (a new cosine cycle from it)")
    parser.add_argument("--reference", default="gray",
                        help="the 2-D model the monitoring compares with")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--checkpoint-dir", required=True)
    parser.add_argument("--export", default=None, help="weight file written at the end")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    config, state, _, _ = resolve_weights(args.reference)
    kwargs = {k: config[k] for k in ("channels", "depth", "width", "blocks",
                                      "noise_level_input")}
    module_2d = UNet(**kwargs).eval()
    module_2d.load_state_dict({k: v.float() for k, v in state.items()})
    init_config, init_state, _, _ = resolve_weights(args.init)
    init_state = {k: v.float() for k, v in init_state.items()}
    # a 2-D model, or a stack network with fewer planes: the new planes start at zero
    init_planes = init_config.get("context_planes") or 0
    if init_planes > args.context_planes:
        raise SystemExit(f"--init has {init_planes} context planes, more than "
                         f"--context-planes {args.context_planes}")
    stack_state = add_context_planes(init_state, args.context_planes - init_planes)

    train = [np.asarray(i, np.float32) / 255 for i in read_folder(DATA / "train400")[0]]
    monitor = [np.asarray(i, np.float32) for i in read_folder(DATA / "set12")[0][:4]]
    dataset = SequencePatches(train, args.patches_per_epoch, args.patch_size,
                              args.context_planes, args.max_shift, args.seed,
                              args.static_fraction)
    checkpoint = Checkpoint(dirname=args.checkpoint_dir, monitor=None, f_criterion=None)

    class _Evaluate(Callback):
        def on_epoch_end(self, net, **kwargs):
            epoch = len(net.history)
            if epoch % args.eval_every == 0 or epoch == args.epochs:
                net.module_.eval()
                scores = evaluate(net.module_, module_2d, monitor, args.context_planes)
                print(f"epoch {epoch}: {scores}", flush=True)
                net.module_.train()

    net = NeuralNetRegressor(
        UNet, module__context_planes=args.context_planes,
        **{f"module__{k}": v for k, v in kwargs.items()},
        optimizer=torch.optim.Adam, lr=args.lr, batch_size=args.batch_size,
        max_epochs=args.epochs, train_split=None, iterator_train__shuffle=False,
        # LoadInitState first: the scheduler resumes from the loaded history
        callbacks=[LoadInitState(checkpoint),
                   LRScheduler(policy="CosineAnnealingLR", T_max=args.epochs),
                   checkpoint, _Evaluate()],
    )
    net.initialize()
    net.module_.load_state_dict(stack_state)
    done = 0
    if Path(args.checkpoint_dir, "history.json").exists():
        from skorch.history import History

        done = len(History.from_file(str(Path(args.checkpoint_dir, "history.json"))))
    print(f"commit {git_commit()}; starting at epoch {done} of {args.epochs}", flush=True)
    start = time.time()
    if done < args.epochs:
        net.partial_fit(dataset, y=None, epochs=args.epochs - done)
    elif done:  # nothing left to train: export the checkpoint as it is
        net.load_params(checkpoint=checkpoint)
        net.module_.eval()
        print(f"epoch {done}: {evaluate(net.module_, module_2d, monitor, args.context_planes)}",
              flush=True)
    if args.export:
        metadata = {"script": "benchmarks/train_stack.py", "init": args.init,
                    "epochs": args.epochs, "patches_per_epoch": args.patches_per_epoch,
                    "context_planes": args.context_planes, "max_shift": args.max_shift,
                    "static_fraction": args.static_fraction,
                    "lr": args.lr, "commit": git_commit(),
                    "wall_time_this_run_s": round(time.time() - start)}
        save_weights(args.export, {**config, "context_planes": args.context_planes},
                     net.module_.state_dict(), metadata, half=True)
        print(f"wrote {args.export}", flush=True)


if __name__ == "__main__":
    main()
