"""Speckle (multiplicative, gamma-distributed intensity) noise: the ``noise_model="speckle"``
path of the pretrained CNN and of WaveletDenoiser against the CNN's blind Gaussian path.

Data: four grayscale images of ``skimage.data`` (every second pixel), times gamma noise of
mean 1 with L looks (seeded). Prints one Markdown row per number of looks: the PSNR in dB
(data range 1) averaged over the images, and the looks each speckle path reads (mean).

    python benchmarks/bench_speckle.py [--looks 1,4,16]
"""

import argparse

import numpy as np
from skimage import data

from sklearn_denoise import CNNDenoiser, WaveletDenoiser
from sklearn_denoise.metrics import psnr

IMAGES = ("camera", "moon", "coins", "brick")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--looks", default="1,4,16")
    args = parser.parse_args()
    print("| looks | noisy | CNN, gaussian | CNN, speckle | looks read | wavelet, speckle "
          "| looks read |")
    print("|---|---|---|---|---|---|---|")
    for looks in map(int, args.looks.split(",")):
        rows = []
        for seed, name in enumerate(IMAGES):
            clean = getattr(data, name)()[::2, ::2] / 255.0
            rng = np.random.default_rng(seed)
            noisy = (clean * rng.gamma(looks, 1 / looks, clean.shape))[None]
            gaussian = CNNDenoiser.pretrained("gray").transform(noisy)[0]
            cnn = CNNDenoiser.pretrained("gray", noise_model="speckle").for_image(noisy)
            wavelet = WaveletDenoiser(noise_model="speckle").fit(noisy).for_image(noisy)
            rows.append([psnr(clean, noisy[0], data_range=1),
                         psnr(clean, gaussian, data_range=1),
                         psnr(clean, cnn.transform(noisy)[0], data_range=1),
                         cnn.decision_.noise[0].looks,
                         psnr(clean, wavelet.transform(noisy)[0], data_range=1),
                         wavelet.decision_.noise[0].looks])
        mean = np.mean(rows, axis=0)
        print(f"| {looks} | " + " | ".join(f"{v:.2f}" for v in mean) + " |")


if __name__ == "__main__":
    main()
