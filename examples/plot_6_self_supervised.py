"""
No clean images: self-supervised training and tuning
====================================================

Often only noisy images exist: microscopy, astronomy, low-light photography. Two tools
work without any clean reference:

- :class:`~sklearn_denoise.CNNDenoiser` trains **self-supervised** when ``fit`` gets the
  noisy images alone (``y=None``, ``train_sigma=None``): blind-spot training in the style
  of Noise2Void hides a few pixels of every patch and learns to predict them from their
  neighbours. Independent noise cannot be predicted from the neighbours, the signal can,
  so the network learns to denoise.
- :func:`~sklearn_denoise.metrics.j_invariant_scorer` scores a denoiser on noisy images
  (Noise2Self, Batson & Royer 2019): each pixel is predicted from an image in which it was
  masked, and compared with its noisy value. For zero-mean noise independent between
  pixels this loss is the true error plus the noise variance, so it ranks denoisers like
  the true error does: ``GridSearchCV(..., scoring=j_invariant_scorer).fit(X_noisy)``.

The clean images below are used for **nothing but the plots**, to show that the
self-supervised choices are the right ones.
"""

# %%
# Noisy images only
# -----------------
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_denoise import CNNDenoiser, TVDenoiser, WaveletDenoiser
from sklearn_denoise.datasets import load_sample_images
from sklearn_denoise.metrics import j_invariant_scorer, psnr, psnr_scorer
from sklearn_denoise.noise import gaussian

SIGMA = 0.1
X_clean = load_sample_images(size=128).astype(np.float32) / 255  # for the plots only
X_noisy = gaussian(X_clean, SIGMA, random_state=0).astype(np.float32)

# %%
# Self-supervised CNN
# -------------------
# ``fit(X_noisy)``: no ``y``, no ``train_sigma``, so the training mode is
# ``"self_supervised"``. A small U-Net and a few epochs keep this example fast; more
# epochs and more images give better results.
start = time.perf_counter()
cnn = CNNDenoiser(depth=3, width=16, blocks=1, max_epochs=15, patches_per_image=24,
                  patch_size=48, mask_ratio=0.03, lr=2e-3, random_state=0)
cnn.fit(X_noisy)
print(f"trained ({cnn.training_mode_}) in {time.perf_counter() - start:.1f} s")
X_cnn = cnn.transform(X_noisy)
print(f"PSNR noisy {psnr(X_clean, X_noisy):.2f} dB -> self-supervised CNN "
      f"{psnr(X_clean, X_cnn):.2f} dB")

fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(cnn.history_[:, "train_loss"], marker=".")
ax.set_xlabel("epoch")
ax.set_ylabel("masked-pixel loss")
ax.set_title("Self-supervised training loss")
fig.tight_layout()

# %%
# Tuning classical denoisers without clean images
# -----------------------------------------------
# The total-variation weight and the wavelet threshold's sigma, chosen by the
# self-supervised J-invariant score. For comparison only, the same grids are scored by
# PSNR against the clean images.
cv = KFold(3, shuffle=True, random_state=0)
grids = {
    "TV weight": (TVDenoiser(), "weight", [0.01, 0.02, 0.04, 0.08, 0.16, 0.32]),
    "wavelet sigma": (WaveletDenoiser(wavelet="db2"), "sigma",
                      [SIGMA * f for f in (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)]),
}
searches = {}
for name, (est, param, values) in grids.items():
    blind = GridSearchCV(est, {param: values}, scoring=j_invariant_scorer, cv=cv)
    blind.fit(X_noisy)  # no clean images
    oracle = GridSearchCV(est, {param: values}, scoring=psnr_scorer, cv=cv)
    oracle.fit(X_noisy, X_clean)  # for the plot only
    searches[name] = (blind, oracle)
    print(f"{name}: self-supervised pick {blind.best_params_[param]:.3g}, "
          f"PSNR-oracle pick {oracle.best_params_[param]:.3g}")

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for ax, (name, (blind, oracle)) in zip(axes, searches.items()):
    param = grids[name][1]
    values = grids[name][2]
    loss = -blind.cv_results_["mean_test_score"]
    ax.plot(values, loss, marker="o", color="tab:blue", label="J-invariant loss (noisy only)")
    ax.axvline(blind.best_params_[param], color="tab:blue", ls="--")
    if name == "TV weight":
        ax.set_xscale("log")
    ax.set_xlabel(name)
    ax.set_ylabel("self-supervised loss (lower is better)", color="tab:blue")
    twin = ax.twinx()
    twin.plot(values, oracle.cv_results_["mean_test_score"], marker="s", color="tab:orange")
    twin.axvline(oracle.best_params_[param], color="tab:orange", ls=":")
    twin.set_ylabel("PSNR vs clean (dB, hidden truth)", color="tab:orange")
    same = blind.best_params_[param] == oracle.best_params_[param]
    ax.set_title(f"{name}: " + ("both criteria pick the same value" if same
                                else "the picks differ"), fontsize=10)
fig.tight_layout()

# %%
# ``scoring=None`` does the same: without an image-shaped ``y``,
# :meth:`DenoiserMixin.score <sklearn_denoise.DenoiserMixin.score>` returns minus the
# J-invariant loss, so ``GridSearchCV(TVDenoiser(), grid).fit(X_noisy)`` is
# self-supervised too.
#
# Results
# -------
tv = searches["TV weight"][0].best_estimator_
wavelet = searches["wavelet sigma"][0].best_estimator_
panels = [
    ("noisy", X_noisy),
    ("TV (self-tuned)", tv.transform(X_noisy)),
    ("wavelet (self-tuned)", wavelet.transform(X_noisy)),
    ("self-supervised CNN", X_cnn),
    ("clean", X_clean),
]
fig, axes = plt.subplots(2, len(panels), figsize=(14, 6))
for col, (title, images) in enumerate(panels):
    for row, idx in enumerate([0, 3]):  # camera, coins
        ax = axes[row, col]
        ax.imshow(np.clip(images[idx], 0, 1), cmap="gray", vmin=0, vmax=1)
        sub = "" if title == "clean" else (
            f"\n{psnr(X_clean[idx:idx + 1], images[idx:idx + 1]):.2f} dB")
        ax.set_title(title + sub, fontsize=9)
        ax.axis("off")
fig.tight_layout()
plt.show()
