"""
Quick start: denoise a photo with the pretrained CNN
====================================================

:class:`~sklearn_denoise.CNNDenoiser` is a scikit-learn transformer. The package ships a
pretrained blind Gaussian denoiser (a residual U-Net trained for noise levels 0 to 55/255;
it estimates the noise level of each image, or takes ``sigma=`` when it is known), so
denoising a photograph is two lines::

    den = CNNDenoiser.pretrained("gray")
    denoised = den.transform(noisy_images)

Images follow one convention: a batch ``(n, H, W)`` for grayscale or ``(n, H, W, 3)`` for
colour, floats on the [0, 1] scale or integers on their dtype's full range, and the
output has the input's layout and dtype. The noise level ``sigma`` is always on the
[0, 1] scale: the classic "sigma 25" of 8-bit images is ``25 / 255``.
"""

# %%
# A noisy photograph
# ------------------
# The sample images ship with scikit-image, PyWavelets and scikit-learn. We add white
# Gaussian noise of sigma 25/255 with :func:`sklearn_denoise.noise.gaussian` (seeded, and
# not clipped, so the noise statistics stay exact).
import time

import matplotlib.pyplot as plt
import numpy as np
from skimage.color import rgb2gray

from sklearn_denoise import CNNDenoiser, available_models
from sklearn_denoise.datasets import load_sample_images
from sklearn_denoise.metrics import psnr, ssim
from sklearn_denoise.noise import gaussian

SIGMA = 25 / 255
gray, gray_names = load_sample_images(return_names=True)
camera = gray[gray_names.index("camera")].astype(np.float32) / 255  # (512, 512) in [0, 1]
X_clean = camera[np.newaxis]  # a batch of one image
X_noisy = gaussian(X_clean, SIGMA, random_state=0).astype(np.float32)
print(f"noisy: PSNR {psnr(X_clean, X_noisy):.2f} dB, SSIM {ssim(X_clean, X_noisy):.3f}")

# %%
# The pretrained model
# --------------------
# :func:`~sklearn_denoise.available_models` lists the shipped weights. In an installation
# without them this example trains a small CNN on the spot instead (on other photographs,
# with synthetic noise of random sigma per patch, like the shipped model), which is
# weaker but shows the same API.
if "gray" in available_models():
    den = CNNDenoiser.pretrained("gray")
else:
    print("No pretrained weights in this installation: training a small CNN instead.")
    train = [rgb2gray(img).astype(np.float32) for img in load_sample_images(color=True)]
    den = CNNDenoiser(depth=3, width=16, blocks=1, train_sigma=(0, 55 / 255),
                      max_epochs=12, patches_per_image=16, patch_size=48, lr=2e-3,
                      random_state=0).fit(train)

start = time.perf_counter()
X_denoised = den.transform(X_noisy)
print(f"denoised 512x512 in {time.perf_counter() - start:.2f} s: "
      f"PSNR {psnr(X_clean, X_denoised):.2f} dB, SSIM {ssim(X_clean, X_denoised):.3f}")


# %%
# Before and after
# ----------------
def show(axes, images, titles):
    for ax, img, title in zip(axes, images, titles):
        ax.imshow(np.clip(img, 0, 1), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.axis("off")


def scores(clean, image):
    return f"PSNR {psnr(clean, image):.2f} dB, SSIM {ssim(clean, image):.3f}"


fig, axes = plt.subplots(1, 3, figsize=(11, 4))
show(axes, [X_noisy[0], X_denoised[0], X_clean[0]],
     [f"noisy\n{scores(X_clean, X_noisy)}", f"CNN\n{scores(X_clean, X_denoised)}", "clean"])
fig.tight_layout()

# %%
# A zoom shows what the network keeps (edges, the tripod) and what it removes.
zoom = (slice(60, 220), slice(180, 340))
fig, axes = plt.subplots(1, 3, figsize=(11, 4))
show(axes, [X_noisy[0][zoom], X_denoised[0][zoom], X_clean[0][zoom]],
     ["noisy (zoom)", "CNN (zoom)", "clean (zoom)"])
fig.tight_layout()

# %%
# Colour photographs
# ------------------
# The "color" model applies the grayscale network to RGB images in a decorrelated colour
# space (:class:`~sklearn_denoise.CNNDenoiser` with ``channel_strategy="opponent"``).
# Integer images work as they are: ``uint8`` in, ``uint8`` out.
if "color" in available_models():
    color, color_names = load_sample_images(color=True, return_names=True)
    astronaut = color[color_names.index("astronaut")][:256, 128:384]  # uint8 (256, 256, 3)
    noisy_u8 = np.clip(gaussian(astronaut[np.newaxis], SIGMA, random_state=1), 0, 1)
    noisy_u8 = (noisy_u8 * 255).round().astype(np.uint8)
    denoised_u8 = CNNDenoiser.pretrained("color").transform(noisy_u8)
    print("colour output dtype:", denoised_u8.dtype)
    fig, axes = plt.subplots(1, 3, figsize=(11, 4))
    ref = astronaut[np.newaxis]
    for ax, img, title in zip(
        axes, [noisy_u8[0], denoised_u8[0], astronaut],
        [f"noisy\n{scores(ref, noisy_u8)}", f"CNN (color)\n{scores(ref, denoised_u8)}",
         "clean"],
    ):
        ax.imshow(img)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
else:
    print("No pretrained 'color' model in this installation: skipping the colour part.")

plt.show()
