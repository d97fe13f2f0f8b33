"""
Scaling out with dask
=====================

:func:`sklearn_denoise.dask.denoise_dask` (optional extra:
``pip install "sklearn-denoise[dask]"``) maps a fitted denoiser over a
:class:`dask.array.Array` chunk by chunk, so images larger than memory, or stacks of many
images, are denoised in parallel on threads, processes or a ``dask.distributed`` cluster.
Chunks overlap by the denoiser's receptive field, so the result of the CNN equals the
in-memory ``transform``, seams included.

Grid searches scale out too: every estimator pickles cleanly (fitted CNNs included), so
``GridSearchCV`` runs its fits on the cluster through joblib's dask backend.
"""

# %%
# A large image
# -------------
# A 1536x1536 mosaic of photographs (flipped copies of four 512x512 images) with Gaussian
# noise, as a dask array of 768x768 chunks.
import time

import dask
import dask.array as da
import joblib
import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster
from matplotlib.patches import Rectangle
from skimage.color import rgb2gray
from sklearn.model_selection import GridSearchCV

from sklearn_denoise import CNNDenoiser, NLMeansDenoiser, TVDenoiser, available_models
from sklearn_denoise.dask import default_depth, denoise_dask
from sklearn_denoise.datasets import load_sample_images
from sklearn_denoise.metrics import j_invariant_scorer, psnr
from sklearn_denoise.noise import gaussian

SIGMA = 25 / 255
gray, names = load_sample_images(return_names=True)
tiles = [img.astype(np.float32) / 255 for img in gray if img.shape == (512, 512)]
rows = []
for r in range(3):
    row = []
    for c in range(3):
        tile = tiles[(r * 3 + c) % len(tiles)]
        row.append(tile[:, ::-1] if (r + c) % 2 else tile)
    rows.append(np.hstack(row))
clean = np.vstack(rows)
noisy = gaussian(clean, SIGMA, random_state=0).astype(np.float32)
image = da.from_array(noisy, chunks=(768, 768))
print(image)

# %%
# The CNN and its receptive field
# -------------------------------
# Each output pixel of the CNN depends on the input within its receptive radius, so
# :func:`~sklearn_denoise.dask.denoise_dask` overlaps the chunks by that much
# (:func:`~sklearn_denoise.dask.default_depth`) and aligns them with the U-Net's
# downsampling grid. Overlap costs computation: use chunks several times the depth.
if "gray" in available_models():
    cnn = CNNDenoiser.pretrained("gray")
else:
    print("No pretrained weights in this installation: training a small CNN instead.")
    train = [rgb2gray(img).astype(np.float32) for img in load_sample_images(color=True)]
    cnn = CNNDenoiser(depth=3, width=16, blocks=1, train_sigma=(0, 55 / 255), max_epochs=8,
                      patches_per_image=16, patch_size=48, lr=2e-3, random_state=0).fit(train)
depth = default_depth(cnn)
print(f"overlap depth: {depth} pixels")

# %%
# Denoise on threads with dask's default scheduler; ``torch_threads=1`` (the default)
# gives each chunk one torch thread, so dask's two worker threads use the two cores
# without oversubscribing them.
start = time.perf_counter()
lazy = denoise_dask(image, cnn)
with dask.config.set(scheduler="threads", num_workers=2):
    denoised = lazy.compute()
t_dask = time.perf_counter() - start

start = time.perf_counter()
reference = cnn.transform(noisy[np.newaxis])[0]
t_memory = time.perf_counter() - start
print(f"dask: {t_dask:.1f} s, in memory: {t_memory:.1f} s; max |difference| = "
      f"{np.abs(denoised - reference).max():.2e}")
print(f"PSNR {psnr(clean[None], noisy[None]):.2f} -> {psnr(clean[None], denoised[None]):.2f} dB")

# %%
# The chunks (solid) and the overlapped blocks each one was computed from (dashed): no
# seam at the chunk borders.
fig, axes = plt.subplots(1, 3, figsize=(14, 4.8))
axes[0].imshow(np.clip(noisy, 0, 1), cmap="gray", vmin=0, vmax=1)
axes[0].set_title("noisy input and chunks")
axes[1].imshow(np.clip(denoised, 0, 1), cmap="gray", vmin=0, vmax=1)
axes[1].set_title("denoise_dask")
offsets = [np.cumsum((0, *c)) for c in lazy.chunks]
for top, bottom in zip(offsets[0][:-1], offsets[0][1:]):
    for left, right in zip(offsets[1][:-1], offsets[1][1:]):
        for ax in axes[:2]:
            ax.add_patch(Rectangle((left, top), right - left, bottom - top, fill=False,
                                   color="tab:red", lw=1.2))
        t0, l0 = max(0, top - depth), max(0, left - depth)
        b0, r0 = min(clean.shape[0], bottom + depth), min(clean.shape[1], right + depth)
        axes[0].add_patch(Rectangle((l0, t0), r0 - l0, b0 - t0, fill=False, color="yellow",
                                    lw=0.8, ls="--"))
zoom = (slice(768 - 96, 768 + 96), slice(768 - 96, 768 + 96))  # where four chunks meet
axes[2].imshow(np.clip(denoised[zoom], 0, 1), cmap="gray", vmin=0, vmax=1)
axes[2].axhline(95.5, color="tab:red", lw=0.8)
axes[2].axvline(95.5, color="tab:red", lw=0.8)
axes[2].set_title("zoom on the corner of four chunks")
for ax in axes:
    ax.axis("off")
fig.tight_layout()

# %%
# A large stack
# -------------
# 96 noisy 128x128 crops, chunked 16 images at a time: with whole images per chunk there
# is nothing to overlap, and chunks are independent tasks. Non-local means with a given
# ``sigma`` is a local filter, so here too the result equals the in-memory one.
rng = np.random.default_rng(0)
crops = []
for _ in range(96):
    tile = tiles[rng.integers(len(tiles))]
    top, left = rng.integers(0, 512 - 128, size=2)
    crops.append(tile[top:top + 128, left:left + 128])
stack_clean = np.stack(crops)
stack_noisy = gaussian(stack_clean, SIGMA, random_state=1).astype(np.float32)
stack = da.from_array(stack_noisy, chunks=(16, 128, 128))
nlm = NLMeansDenoiser(sigma=SIGMA).fit(stack_noisy[:1])
start = time.perf_counter()
with dask.config.set(scheduler="threads", num_workers=2):
    stack_denoised = denoise_dask(stack, nlm).compute()
print(f"stack of {len(stack_noisy)} in {time.perf_counter() - start:.1f} s; PSNR "
      f"{psnr(stack_clean, stack_noisy):.2f} -> {psnr(stack_clean, stack_denoised):.2f} dB; "
      f"max |difference| to in-memory = "
      f"{np.abs(stack_denoised[:16] - nlm.transform(stack_noisy[:16])).max():.2e}")

# %%
# A local cluster
# ---------------
# The same code runs on a ``dask.distributed`` cluster. With a
# :class:`~distributed.Client` active, ``compute()`` runs on the cluster. Here the cluster
# is two single-threaded workers inside this process, talking to the scheduler in memory
# (no network), which keeps the example runnable anywhere. A real cluster, or
# ``LocalCluster(processes=True)``, runs workers in other processes and pickles the
# estimator to them (every denoiser pickles cleanly, fitted CNNs included). Worker
# processes started by ``LocalCluster(processes=True)`` re-import the main script, so a
# script that starts one must keep its code under ``if __name__ == "__main__":``, as for
# any use of :mod:`multiprocessing`.
cluster = LocalCluster(processes=False, n_workers=2, threads_per_worker=1,
                       dashboard_address=None)
client = Client(cluster)
#
# Data already in this process's memory is sent to the cluster once with
# :meth:`~distributed.Client.scatter`; in real use the workers would rather load it
# themselves (e.g. with :func:`dask.array.from_zarr`).
[remote] = client.scatter([noisy])
image_on_cluster = da.from_delayed(remote, noisy.shape, dtype=noisy.dtype).rechunk(768)
start = time.perf_counter()
on_cluster = denoise_dask(image_on_cluster, cnn).compute()
t_cluster = time.perf_counter() - start
print(f"cluster: {t_cluster:.1f} s, max |difference| to in-memory = "
      f"{np.abs(on_cluster - reference).max():.2e}")

# %%
# Grid search through joblib's dask backend
# -----------------------------------------
# ``GridSearchCV`` parallelises its fits with joblib; inside
# ``joblib.parallel_backend("dask")`` they run as tasks on the cluster. Here the
# total-variation weight is tuned on the noisy stack alone with the self-supervised
# :func:`~sklearn_denoise.metrics.j_invariant_scorer`.
grid = {"weight": [0.02, 0.04, 0.06, 0.08, 0.12, 0.16]}
search = GridSearchCV(TVDenoiser(), grid, scoring=j_invariant_scorer, cv=3)
start = time.perf_counter()
with joblib.parallel_backend("dask"):
    search.fit(stack_noisy[:24])
t_search = time.perf_counter() - start
print(f"grid search on the cluster: {t_search:.1f} s, best {search.best_params_}")
client.close()
cluster.close()

fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
axes[0].bar(["dask threads\n(2 threads)", "in memory", "LocalCluster\n(2 workers)"],
            [t_dask, t_memory, t_cluster], color=["tab:blue", "tab:gray", "tab:green"])
axes[0].set_ylabel("seconds")
axes[0].set_title(f"CNN on a {clean.shape[0]}x{clean.shape[1]} image")
axes[1].plot(grid["weight"], -search.cv_results_["mean_test_score"], marker="o")
axes[1].axvline(search.best_params_["weight"], ls="--", color="tab:red")
axes[1].set_xlabel("TV weight")
axes[1].set_ylabel("J-invariant loss (lower is better)")
axes[1].set_title("GridSearchCV on the cluster, no clean images")
fig.tight_layout()
plt.show()
