"""Where the shipped networks stop helping: faint noise on smooth, high-bit-depth images.

A network trained on 8-bit photographs has an error floor of its own (a few tenths of a
code, partly a pattern on its 4-pixel grid). Faint noise sits under it: a 16-bit CT or
microscopy image whose noise is a fraction of 1/255 of its range comes out of the
network with more error than it went in. This script measures the crossover: the grayscale
images of ``skimage.data`` (central 256x256 crops, floats on [0, 1], not quantised),
as they are and blurred by a Gaussian of 1.5 pixels (standing in for smooth scientific
images), white Gaussian noise of 0 to 2/255 (seeded), each network given the true level.
Rows: the level; columns: the root-mean-square error (in 1/255) of the input (the noise
itself) and of each network's output, averaged over images. The floor the estimator
uses (``registry.json``, ``noise_floor``) is the largest level at which a network's
error still exceeds the input's.

With ``--volumes``, the stack network (``CNNDenoiser.pretrained("gray", axes="ZYX")``)
on static z-stacks of the same crops (5 planes, fresh noise on each).

    python benchmarks/bench_noise_floor.py [--threads 2] [--volumes]
"""

import argparse
import dataclasses

import numpy as np
import torch
from skimage import data
from skimage.filters import gaussian

from sklearn_denoise import CNNDenoiser
from sklearn_denoise._cnn_steps import (
    denoise_decided,
    inference_setup,
    read_noise,
    run_network,
)

IMAGES = ("camera", "coins", "moon", "text", "brick", "grass", "gravel", "page", "clock",
          "cell", "horse", "hubble_deep_field")
LEVELS = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
CROP = 256


def images(blur):
    out = []
    for name in IMAGES:
        image = getattr(data, name)()
        if image.ndim == 3:
            image = image[..., :3].mean(axis=-1)
        image = np.asarray(image, np.float64)
        image = image / 255.0 if image.max() > 1 else image
        top, left = (image.shape[0] - CROP) // 2, (image.shape[1] - CROP) // 2
        image = image[top : top + CROP, left : left + CROP]
        out.append(gaussian(image, 1.5) if blur else image)
    return out


def rms_errors(den, clean, level):
    """Mean rms error (1/255) of the input, of the network and of the correlated-noise
    expert run directly at ``level`` (no floor), and of ``transform`` as shipped."""
    setup = inference_setup(den)
    rng = np.random.default_rng(0)
    errors = []
    for image in clean:
        noisy = (image + rng.normal(0.0, level / 255, image.shape)).astype(np.float32)
        outs = [noisy]
        for module in (setup.module, setup.expert):
            outs.append(run_network(setup, module, noisy[..., None], level / 255)[..., 0])
        outs.append(den.transform(noisy[None])[0])
        errors.append([np.sqrt(np.mean((out - image) ** 2)) * 255 for out in outs])
    return np.mean(errors, axis=0)


def volume_errors(den, clean, level, planes=5):
    """Mean rms error (1/255) of the input, of the stack network with no floor and of
    ``transform`` as shipped, on static z-stacks (each crop ``planes`` times, the noise
    drawn afresh for each plane)."""
    setup = inference_setup(den)
    unfloored = dataclasses.replace(setup, noise_floor=0.0)
    rng = np.random.default_rng(0)
    errors = []
    for image in clean:
        stack = np.repeat(image[None], planes, axis=0)
        noisy = (stack + rng.normal(0.0, level / 255, stack.shape)).astype(np.float32)
        volume = noisy[..., None]
        direct = denoise_decided(unfloored, volume, 1,
                                 read_noise(unfloored, volume, 1, 1.0))[..., 0]
        outs = [noisy, direct, den.transform(noisy[None])[0]]
        errors.append([np.sqrt(np.mean((out - stack) ** 2)) * 255 for out in outs])
    return np.mean(errors, axis=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--volumes", action="store_true",
                        help="the stack network (axes ZYX) on static 5-plane z-stacks")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.volumes:
        den = CNNDenoiser.pretrained("gray", axes="ZYX")
        what, columns, errors_at = "z-stacks of skimage.data crops", ["stack network"], \
            volume_errors
    else:
        den = CNNDenoiser.pretrained("gray")
        what, columns, errors_at = "skimage.data crops", ["network", "expert"], rms_errors
    columns = ["level", "input", *columns, "as shipped"]
    print(f"floor of the weights: {inference_setup(den).noise_floor * 255:.2f}/255")
    for blur in (False, True):
        clean = images(blur)
        print(f"\n{'blurred (1.5 px) ' if blur else ''}{what}, rms error in 1/255")
        print("| " + " | ".join(columns) + " |")
        print("|" + "---|" * len(columns))
        for level in LEVELS:
            den.set_params(sigma=level / 255)
            errors = errors_at(den, clean, level)
            print(f"| {level:.2f} | " + " | ".join(f"{e:.3f}" for e in errors) + " |")

if __name__ == "__main__":
    main()
