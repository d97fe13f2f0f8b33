"""Cost of candidate U-Net shapes for the shipped model, before any multi-hour training.

For each candidate: parameters, float16 weight size, CPU time to denoise one 256x256 image
(median of 5) and its ratio to a 17-layer DnCNN's time measured in the same run (the speed
budget of the pretrained-quality issue: at most 1/3), and training throughput in 64x64
patches per second (batch 16, Adam, forward and backward), the figure that decides how many
epochs a CPU run can afford. All candidates are measured in one run, side by side.

    python benchmarks/bench_architectures.py [--threads 2]

``shipped`` is the shape of the shipped "gray" weights; ``top_width`` widens the first,
full-resolution level only (``UNet(top_width=...)``), ``blocks`` deepens every level but
the bottom (``train_pretrained.py --widen-top`` / ``--deepen`` start such a network from the
shipped weights, computing the same function).
"""

import argparse
import time

import torch

from sklearn_denoise.networks import DnCNN, UNet

BASE = {"channels": 1, "depth": 4, "width": 16, "blocks": 2, "bottom_blocks": 4,
        "noise_level_input": True}
CANDIDATES = {
    "shipped (4x16x2)": {},
    "top_width 24": {"top_width": 24},
    "top_width 32": {"top_width": 32},
    "blocks 3": {"blocks": 3},
    "top_width 32, blocks 3": {"top_width": 32, "blocks": 3},
}


def _inference_seconds(module, x, repeats=5):
    module.eval()
    with torch.inference_mode():
        module(x)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            module(x)
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def _training_patches_per_second(module, steps=10, batch=16, size=64):
    module.train()
    optimizer = torch.optim.Adam(module.parameters(), 1e-4)
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 2, size, size, generator=generator)
    y = torch.rand(batch, 1, size, size, generator=generator)

    def step():
        loss = torch.nn.functional.mse_loss(module(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dncnn_time = _inference_seconds(DnCNN(1, 17, 64), torch.rand(1, 1, 256, 256))
    print(f"torch threads: {args.threads}; DnCNN-17: {dncnn_time:.4f} s per 256x256 image\n")
    header = f"{'candidate':24s} {'params':>8s} {'MB fp16':>8s} {'s/image':>8s} " \
             f"{'/ DnCNN':>8s} {'patches/s':>10s}"
    print(header)
    print("-" * len(header))
    for name, change in CANDIDATES.items():
        module = UNet(**{**BASE, **change})
        n_params = sum(p.numel() for p in module.parameters())
        seconds = _inference_seconds(module, torch.rand(1, 2, 256, 256))
        rate = _training_patches_per_second(module)
        print(f"{name:24s} {n_params / 1e6:7.3f}M {2 * n_params / 1e6:8.2f} {seconds:8.4f} "
              f"{seconds / dncnn_time:8.3f} {rate:10.0f}", flush=True)


if __name__ == "__main__":
    main()
