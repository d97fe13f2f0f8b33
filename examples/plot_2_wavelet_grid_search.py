"""
Tuning a wavelet denoiser with GridSearchCV
===========================================

Every denoiser is a scikit-learn estimator, so its hyper-parameters are tuned with
:class:`~sklearn.model_selection.GridSearchCV`. Pass noisy images as ``X`` and the clean
images as ``y``; the scorers of :mod:`sklearn_denoise.metrics` compare
``estimator.transform(X)`` with ``y``. With a dict of scorers the search records every
metric and ``refit`` names the one that picks the final model.

Here we search the :class:`~sklearn_denoise.WaveletDenoiser` over the wavelet, the number
of decomposition levels, the threshold rule (BayesShrink or VisuShrink), soft or hard
thresholding and cycle spinning, scored by PSNR and SSIM, refitted on PSNR.
"""

# %%
# Data: six photographs with Gaussian noise
# -----------------------------------------
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_denoise import WaveletDenoiser
from sklearn_denoise.datasets import load_sample_images
from sklearn_denoise.metrics import psnr, psnr_scorer, ssim, ssim_scorer
from sklearn_denoise.noise import gaussian

SIGMA = 25 / 255
X_clean, names = load_sample_images(size=128, return_names=True)  # uint8 (6, 128, 128)
X_clean = X_clean.astype(np.float32) / 255
X_noisy = gaussian(X_clean, SIGMA, random_state=0).astype(np.float32)
print(names, X_noisy.shape, f"noisy PSNR {psnr(X_clean, X_noisy):.2f} dB")

# %%
# The search
# ----------
# 4 wavelets x 3 levels x 2 methods x 2 modes x 2 cycle-spin settings = 96 candidates,
# each scored on 3 folds. The noise level is estimated from the images (``sigma=None``).
param_grid = {
    "wavelet": ["db1", "db2", "sym4", "coif1"],
    "levels": [2, 3, 4],
    "method": ["BayesShrink", "VisuShrink"],
    "mode": ["soft", "hard"],
    "cycle_spins": [0, 1],
}
search = GridSearchCV(
    WaveletDenoiser(),
    param_grid,
    scoring={"psnr": psnr_scorer, "ssim": ssim_scorer},
    refit="psnr",
    cv=KFold(3, shuffle=True, random_state=0),
)
start = time.perf_counter()
search.fit(X_noisy, X_clean)
print(f"{len(search.cv_results_['params'])} candidates in {time.perf_counter() - start:.1f} s")
print("best (PSNR):", search.best_params_, f"{search.best_score_:.2f} dB")

# %%
# The ten best candidates
# -----------------------
# ``cv_results_`` holds the mean and standard deviation of every metric, and its rank.
results = search.cv_results_
order = np.argsort(results["rank_test_psnr"])[:10]
columns = ["wavelet", "levels", "method", "mode", "cycle_spins"]
rows = []
for i in order:
    params = results["params"][i]
    rows.append([str(params[c]) for c in columns] + [
        f"{results['mean_test_psnr'][i]:.2f} ± {results['std_test_psnr'][i]:.2f}",
        f"{results['mean_test_ssim'][i]:.3f}",
        str(results["rank_test_ssim"][i]),
    ])
header = columns + ["PSNR (dB)", "SSIM", "SSIM rank"]
print(" | ".join(header))
for row in rows:
    print(" | ".join(row))

fig, ax = plt.subplots(figsize=(10, 3.2))
ax.axis("off")
table = ax.table(cellText=rows, colLabels=header, loc="center", cellLoc="center")
table.auto_set_font_size(False)
table.set_fontsize(8)
table.scale(1, 1.3)
ax.set_title("Top 10 by cross-validated PSNR")
fig.tight_layout()

# %%
# A heat map over two parameters
# ------------------------------
# For each wavelet and (method, levels) pair, the best mean PSNR over the other
# parameters (mode, cycle spins). BayesShrink adapts its threshold to every sub-band and
# gains from more levels; VisuShrink's single universal threshold over-smooths, the more
# so the more levels it is applied to.
methods = param_grid["method"]
levels = param_grid["levels"]
wavelets = param_grid["wavelet"]
col_labels = [f"{m}\nlevels={lv}" for m in methods for lv in levels]
heat = np.full((len(wavelets), len(col_labels)), -np.inf)
for params, score in zip(results["params"], results["mean_test_psnr"]):
    r = wavelets.index(params["wavelet"])
    c = methods.index(params["method"]) * len(levels) + levels.index(params["levels"])
    heat[r, c] = max(heat[r, c], score)

fig, ax = plt.subplots(figsize=(9, 3.8))
im = ax.imshow(heat, cmap="viridis")
ax.set_xticks(range(len(col_labels)), col_labels, fontsize=8)
ax.set_yticks(range(len(wavelets)), wavelets)
for r in range(heat.shape[0]):
    for c in range(heat.shape[1]):
        ax.text(c, r, f"{heat[r, c]:.2f}", ha="center", va="center", fontsize=8,
                color="white" if heat[r, c] < heat.mean() else "black")
fig.colorbar(im, ax=ax, label="mean test PSNR (dB)")
ax.set_title("Best PSNR over mode and cycle spins")
fig.tight_layout()

# %%
# PSNR and SSIM do not always agree
# ---------------------------------
# Each point is a candidate; the refitted model is the best by PSNR (``refit="psnr"``).
fig, ax = plt.subplots(figsize=(6, 4))
colors = {"BayesShrink": "tab:blue", "VisuShrink": "tab:orange"}
for method, color in colors.items():
    mask = np.array([p["method"] == method for p in results["params"]])
    ax.scatter(results["mean_test_psnr"][mask], results["mean_test_ssim"][mask], s=12,
               color=color, label=method)
best = search.best_index_
ax.scatter(results["mean_test_psnr"][best], results["mean_test_ssim"][best], s=120,
           facecolor="none", edgecolor="red", label="refit (best PSNR)")
ax.set_xlabel("mean test PSNR (dB)")
ax.set_ylabel("mean test SSIM")
ax.legend()
fig.tight_layout()

# %%
# The refitted denoiser
# ---------------------
# ``search`` itself is now the best denoiser, refitted on all images.
X_denoised = search.transform(X_noisy)
fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
for ax, img, title in zip(
    axes,
    [X_noisy[0], X_denoised[0], X_clean[0]],
    [f"noisy ({psnr(X_clean[:1], X_noisy[:1]):.2f} dB)",
     f"best wavelet ({psnr(X_clean[:1], X_denoised[:1]):.2f} dB, "
     f"SSIM {ssim(X_clean[:1], X_denoised[:1]):.3f})",
     "clean"],
):
    ax.imshow(np.clip(img, 0, 1), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
fig.tight_layout()
plt.show()
