"""
Fine-tuning the pretrained CNN on a new kind of noise
=====================================================

The pretrained CNN was trained on white Gaussian and Poisson-Gaussian (sensor) noise, and
ships with an expert for noise that demosaicing has correlated into round grains a pixel
or two wide. CMOS sensors add a noise it has never seen: each row is read out with its
own fluctuation, so the noise forms horizontal *streaks* (row noise), which a network
trained on other noise takes for image detail. Rather than training from scratch, we
continue training the
pretrained network with :meth:`~sklearn_denoise.CNNDenoiser.partial_fit` on pairs of
noisy and clean images: each call runs one epoch (random patches of every training image)
from the current weights, on the estimator's cosine learning-rate schedule: starting at
``lr`` (set with ``set_params(lr=...)``) and decaying to 1 % of it over ``max_epochs``
calls.

We track the PSNR on a held-out photograph after every step, and compare with the
original model.
"""

# %%
# Streak noise
# ------------
# White Gaussian noise blurred along the rows only (a Gaussian of ``LENGTH`` pixels),
# rescaled to a standard deviation of 20/255 per pixel: streaks about 16 pixels long.
import copy
import time

import matplotlib.pyplot as plt
import numpy as np
from scipy.ndimage import gaussian_filter1d
from skimage.color import rgb2gray

from sklearn_denoise import CNNDenoiser, available_models
from sklearn_denoise.datasets import load_sample_images
from sklearn_denoise.metrics import psnr, ssim

SIGMA, LENGTH = 20 / 255, 4.0


def streaks(image, seed):
    """``image`` plus row-correlated Gaussian noise of std SIGMA per pixel."""
    noise = gaussian_filter1d(np.random.default_rng(seed).standard_normal(image.shape),
                              LENGTH, axis=-1)
    return (image + SIGMA * noise / noise.std()).astype(np.float32)


gray, names = load_sample_images(return_names=True)
gray = [img.astype(np.float32) / 255 for img in gray]
# training photographs: every sample image but "camera", colour ones turned to gray
train_clean = [img for img, name in zip(gray, names) if name != "camera"]
train_clean += [rgb2gray(img).astype(np.float32) for img in load_sample_images(color=True)]
# held-out test image: the centre of "camera"
camera = gray[names.index("camera")][128:384, 128:384]
X_test_clean = camera[np.newaxis]
X_test = streaks(X_test_clean, 0)
print(f"{len(train_clean)} training photographs; noisy test PSNR "
      f"{psnr(X_test_clean, X_test):.2f} dB")

# %%
# The original model
# ------------------
# Without shipped weights, a small CNN trained here on Gaussian noise plays its part.
if "gray" in available_models():
    original = CNNDenoiser.pretrained("gray")
else:
    print("No pretrained weights in this installation: training a small Gaussian CNN.")
    original = CNNDenoiser(depth=3, width=16, blocks=1, train_sigma=(0, 55 / 255),
                           max_epochs=8, patches_per_image=16, patch_size=48, lr=2e-3,
                           random_state=0).fit(train_clean)
original_psnr = psnr(X_test_clean, original.transform(X_test))
print(f"original model on streak noise: {original_psnr:.2f} dB")

# %%
# Fine-tuning with ``partial_fit``
# --------------------------------
# A copy of the original keeps training; fresh noise is drawn for every step, so
# the network never sees the same noisy patch twice. A learning rate lower than the
# original training's keeps what the network already knows.
tuned = copy.deepcopy(original).set_params(lr=5e-4, max_epochs=15, patches_per_image=4,
                                          train_sigma=None)
steps, curve = [0], [original_psnr]
start = time.perf_counter()
for step in range(1, 16):
    train_noisy = [streaks(img, 100 * step + k) for k, img in enumerate(train_clean)]
    tuned.partial_fit(train_noisy, train_clean)
    steps.append(step)
    curve.append(psnr(X_test_clean, tuned.transform(X_test)))
print(f"{steps[-1]} fine-tuning steps in {time.perf_counter() - start:.1f} s; "
      f"PSNR {curve[0]:.2f} -> {curve[-1]:.2f} dB")
print(f"history_ records {len(tuned.history_)} epochs; training mode: {tuned.training_mode_}")

# %%
# PSNR against fine-tuning steps
# ------------------------------
fig, ax = plt.subplots(figsize=(6.5, 4))
ax.plot(steps, curve, marker="o", label="fine-tuned with partial_fit")
ax.axhline(original_psnr, color="tab:red", ls="--", label="original model")
ax.axhline(psnr(X_test_clean, X_test), color="gray", ls=":", label="noisy input")
ax.set_xlabel("partial_fit steps (epochs)")
ax.set_ylabel("test PSNR (dB)")
ax.set_title(f"Streak noise, std {SIGMA * 255:.0f}/255")
ax.legend()
fig.tight_layout()

# %%
# Before and after fine-tuning
# ----------------------------
# The original model removes little of the streaks: the network (or its correlated-noise
# expert, if the noise is read as correlated) has never seen noise that runs along rows
# and takes the streaks for image structure. The fine-tuned one has learned what they look
# like; training dropped the expert, and the fine-tuned network gets the same blind level
# at transform time as the noise level of its training pairs, ``std(noisy - clean)``.
outputs = [X_test, original.transform(X_test), tuned.transform(X_test), X_test_clean]
titles = ["noisy", "original", f"fine-tuned ({steps[-1]} steps)", "clean"]
fig, axes = plt.subplots(1, 4, figsize=(13, 3.7))
for ax, img, title in zip(axes, outputs, titles):
    ax.imshow(np.clip(img[0], 0, 1), cmap="gray", vmin=0, vmax=1)
    if title != "clean":
        title += f"\nPSNR {psnr(X_test_clean, img):.2f} dB, SSIM {ssim(X_test_clean, img):.3f}"
    ax.set_title(title, fontsize=9)
    ax.axis("off")
fig.tight_layout()

# %%
# The fine-tuned model is an ordinary fitted estimator: save it with
# :meth:`~sklearn_denoise.CNNDenoiser.save` and load it back with
# :meth:`~sklearn_denoise.CNNDenoiser.load`, or use it in a Pipeline.
plt.show()
