"""
Comparing denoisers in one grid search
======================================

A :class:`~sklearn.pipeline.Pipeline` step can itself be a grid parameter, so a single
:class:`~sklearn.model_selection.GridSearchCV` compares different methods, each with its
own small grid: wavelet shrinkage, total variation, non-local means, the pretrained CNN
and, when the optional ``bm3d`` package is installed, BM3D. Every candidate is scored by
PSNR and SSIM on held-out images, and ``cv_results_`` also records how long fitting and
scoring took (``mean_fit_time``, ``mean_score_time``).
"""

# %%
# Data
# ----
import importlib.util

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline

from sklearn_denoise import (
    BM3DDenoiser,
    CNNDenoiser,
    NLMeansDenoiser,
    TVDenoiser,
    WaveletDenoiser,
    available_models,
)
from sklearn_denoise.datasets import load_sample_images
from sklearn_denoise.metrics import psnr, psnr_scorer, ssim_scorer
from sklearn_denoise.noise import gaussian

SIGMA = 25 / 255
X_clean = load_sample_images(size=128).astype(np.float32) / 255
X_noisy = gaussian(X_clean, SIGMA, random_state=0).astype(np.float32)

# %%
# One grid over several methods
# -----------------------------
# ``param_grid`` is a list of grids: each sets the ``denoise`` step to one method and
# tunes that method's parameters. The grid search clones and refits every candidate; the
# pretrained CNN has ``max_epochs=0`` by default, so its refit just loads the shipped
# weights without training.
param_grid = [
    {"denoise": [WaveletDenoiser(wavelet="sym4", levels=4, cycle_spins=1)]},
    {"denoise": [TVDenoiser()], "denoise__weight": [0.05, 0.1, 0.2]},
    {"denoise": [NLMeansDenoiser(patch_size=5, patch_distance=6)],
     "denoise__h": [0.6 * SIGMA, 0.8 * SIGMA]},
]
if "gray" in available_models():
    param_grid.append({"denoise": [CNNDenoiser.pretrained("gray")]})
else:
    print("No pretrained CNN in this installation: the CNN is left out of the comparison.")
if importlib.util.find_spec("bm3d") is not None:
    param_grid.append({"denoise": [BM3DDenoiser(sigma=SIGMA)]})
else:
    print("The optional bm3d package is not installed: BM3D is left out.")

pipe = Pipeline([("denoise", WaveletDenoiser())])
search = GridSearchCV(
    pipe,
    param_grid,
    scoring={"psnr": psnr_scorer, "ssim": ssim_scorer},
    refit="psnr",
    cv=KFold(3, shuffle=True, random_state=0),
    error_score="raise",
)
search.fit(X_noisy, X_clean)


# %%
# Ranking
# -------
# A readable name for every candidate, then the table sorted by PSNR. The score time is
# the time to denoise the two held-out images of a fold (twice: once per metric).
def label(params):
    den = params["denoise"]
    name = type(den).__name__.replace("Denoiser", "")
    extra = {k.split("__")[1]: v for k, v in params.items() if "__" in k}
    if extra:
        name += " (" + ", ".join(f"{k}={v:.3g}" for k, v in extra.items()) + ")"
    return name


res = search.cv_results_
labels = [label(p) for p in res["params"]]
order = np.argsort(-res["mean_test_psnr"])
print(f"{'candidate':28s} {'PSNR':>7s} {'SSIM':>6s} {'fit s':>7s} {'score s':>8s}")
for i in order:
    print(f"{labels[i]:28s} {res['mean_test_psnr'][i]:7.2f} {res['mean_test_ssim'][i]:6.3f} "
          f"{res['mean_fit_time'][i]:7.3f} {res['mean_score_time'][i]:8.3f}")
print("best:", labels[search.best_index_])

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=True)
y = np.arange(len(order))
names = [labels[i] for i in order]
axes[0].barh(y, res["mean_test_psnr"][order], xerr=res["std_test_psnr"][order],
             color="tab:blue")
axes[0].axvline(psnr(X_clean, X_noisy), color="gray", ls="--", label="noisy input")
axes[0].set_xlim(left=psnr(X_clean, X_noisy) - 1)
axes[0].set_xlabel("mean test PSNR (dB)")
axes[0].legend(loc="lower right", fontsize=8)
axes[1].barh(y, res["mean_test_ssim"][order], xerr=res["std_test_ssim"][order],
             color="tab:green")
axes[1].set_xlabel("mean test SSIM")
axes[2].barh(y - 0.2, res["mean_fit_time"][order], height=0.4, label="fit")
axes[2].barh(y + 0.2, res["mean_score_time"][order], height=0.4, label="score (2 images)")
axes[2].set_xscale("log")
axes[2].set_xlabel("seconds")
axes[2].legend(fontsize=8)
axes[0].set_yticks(y, names, fontsize=8)
axes[0].invert_yaxis()
fig.suptitle("Denoisers ranked by cross-validated PSNR (sigma = 25/255)")
fig.tight_layout()

# %%
# What the methods do to one image
# --------------------------------
# The best setting of each method, refitted on all images and applied to one of them.
best_per_method = {}
for i in order:  # best first
    method = type(res["params"][i]["denoise"]).__name__
    best_per_method.setdefault(method, i)
image = X_noisy[4:5]  # "moon": smooth regions and fine texture
fig, axes = plt.subplots(1, len(best_per_method) + 1, figsize=(3 * len(best_per_method) + 3, 3.4))
axes[0].imshow(np.clip(image[0], 0, 1), cmap="gray", vmin=0, vmax=1)
axes[0].set_title(f"noisy\n{psnr(X_clean[4:5], image):.2f} dB", fontsize=9)
for ax, i in zip(axes[1:], best_per_method.values()):
    est = pipe.set_params(**res["params"][i]).fit(X_noisy, X_clean)
    out = est.transform(image)
    ax.imshow(np.clip(out[0], 0, 1), cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"{labels[i]}\n{psnr(X_clean[4:5], out):.2f} dB", fontsize=9)
for ax in axes:
    ax.axis("off")
fig.tight_layout()
plt.show()
