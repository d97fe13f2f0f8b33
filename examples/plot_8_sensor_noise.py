"""
Sensor data: 16-bit counts and signal-dependent noise
=====================================================

Scientific cameras (fluorescence microscopes, astronomy and low-light cameras) record
**counts**: integers on top of a black level, stored as ``uint16`` and filling a few
hundred of its 65536 levels. Their noise is not the white Gaussian noise of the
denoising literature: photon shot noise grows with the signal (Poisson) and the read-out
adds signal-independent Gaussian noise, so the variance is a line in the recorded value,

.. math:: \\mathrm{Var}[z] = \\mathrm{gain} \\, (z - \\mathrm{black}) + \\mathrm{read}^2.

This example simulates such data from the bundled photographs, measures the noise model
from the noisy images alone with :func:`~sklearn_denoise.noise.estimate_noise_model`,
and denoises the counts

- **blind** with the pretrained :class:`~sklearn_denoise.CNNDenoiser`, called without
  any argument: it maps each image onto [0, 1] (``normalize="auto"``), detects the
  signal-dependent noise and handles it (``noise_model="auto"``);
- with :class:`~sklearn_denoise.VarianceStabilizedDenoiser` around classical Gaussian
  denoisers: the generalised Anscombe transform turns the noise into noise of standard
  deviation about 1, the classical method denoises, an unbiased inverse maps back;
- with the classical denoisers' default calls, for reference.

Every output is ``uint16`` counts, like the input. See :ref:`sensor_data` in the user
guide.
"""

# %%
# Low-count 16-bit images
# -----------------------
# Three 160x160 crops of the sample photographs are the clean images, read on [0, 1].
# :func:`~sklearn_denoise.noise.poisson_gaussian` works in data units: a camera with one
# count per photo-electron (gain 1), ``PEAK = 20`` photo-electrons for white, a black
# level of 100 counts and a read noise of 2 counts gives
# ``100 + Poisson(20 * clean) + N(0, 2**2)``, which we round and store as ``uint16``
# like the camera would. The noise is seeded, so the example is reproducible.
import importlib.util
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.frozen import FrozenEstimator

from sklearn_denoise import (
    BM3DDenoiser,
    CNNDenoiser,
    NLMeansDenoiser,
    VarianceStabilizedDenoiser,
    WaveletDenoiser,
    available_models,
)
from sklearn_denoise.datasets import load_sample_images
from sklearn_denoise.metrics import psnr
from sklearn_denoise.noise import NoiseModel, estimate_noise_model, poisson_gaussian

PEAK = 20.0  # photo-electrons at white
BLACK_LEVEL = 100.0  # counts recorded for no light
READ_NOISE = 2.0  # counts
TRUE_MODEL = NoiseModel(gain=1.0, read_noise=READ_NOISE, black_level=BLACK_LEVEL)
NAMES = ["camera", "ascent", "coins"]

photos, photo_names = load_sample_images(size=160, return_names=True)
clean = np.stack([photos[photo_names.index(name)] for name in NAMES]) / 255  # [0, 1]
expected = BLACK_LEVEL + PEAK * clean  # the noise-free counts, for scoring only
raw = poisson_gaussian(PEAK * clean, gain=1.0, read_sigma=READ_NOISE,
                       black_level=BLACK_LEVEL, random_state=0)
counts = np.clip(np.rint(raw), 0, np.iinfo(np.uint16).max).astype(np.uint16)
print(f"counts: {counts.dtype}, shape {counts.shape}, values {counts.min()} to "
      f"{counts.max()}")

# %%
# A tiny part of the 16-bit range
# -------------------------------
# The package reads integer images on their dtype's full range (65535 is 1.0 for
# ``uint16``), so these counts are intensities between about 0.0014 and 0.0021: an
# almost black image with a noise level of a few ten-thousandths. The pretrained network
# was trained on images spanning [0, 1] and is not scale-equivariant, so every denoiser
# takes ``normalize="auto"``: an image that is not already on about [0, 1] is mapped
# affinely so that its 0.1st and 99.9th percentiles land on 0 and 1, denoised, and mapped
# back; the output keeps the input's dtype and scale.
used = (int(counts.max()) - int(counts.min()) + 1) / 65536
print(f"the images use {used:.3%} of the uint16 range")
for name, image in zip(NAMES, counts):
    low, high = np.percentile(image, [0.1, 99.9])
    print(f"{name}: 0.1st / 99.9th percentiles {low:g} / {high:g} counts, mapped onto 0 / 1")
low, high = np.percentile(counts[0], [0.1, 99.9])

fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), width_ratios=[1, 1, 1.4])
axes[0].imshow(counts[0], cmap="gray", vmin=0, vmax=65535)
axes[0].set_title("dtype range 0 to 65535", fontsize=9)
axes[1].imshow(counts[0], cmap="gray", vmin=low, vmax=high)
axes[1].set_title(f"0.1 % to 99.9 % percentiles: {low:g} to {high:g}", fontsize=9)
for ax in axes[:2]:
    ax.axis("off")
axes[2].hist(counts.ravel(), bins=np.arange(counts.min(), counts.max() + 2) - 0.5,
             color="0.4")
axes[2].axvline(BLACK_LEVEL, color="tab:blue", ls="--", label="black level")
axes[2].axvline(BLACK_LEVEL + PEAK, color="tab:orange", ls="--", label="black + peak")
axes[2].set_xlabel("counts")
axes[2].set_ylabel("pixels")
axes[2].set_title("histogram of the three images", fontsize=9)
axes[2].legend(fontsize=8)
fig.tight_layout()

# %%
# Measuring the noise model
# -------------------------
# :func:`~sklearn_denoise.noise.estimate_noise_model` fits the variance line from one
# noisy image: it takes high-pass residuals in smooth regions, groups them by local mean
# level and fits a robust line through the (mean, variance) points. Only the slope (the
# gain) and the intercept can be identified from such points, so the black level is taken
# as the darkest local mean level, which assumes that some pixels receive no light. The
# camera's dark coat provides them; ascent and coins have no black pixels in these crops,
# so their black level (and with it the read noise, the fitted noise at the black level)
# come out too high. With so few photons on 160x160 pixels the gain is uncertain by some
# tens of percent, and the fitted lines wander around the true one. A stack
# ``(n, H, W)`` of frames from one sensor is pooled into one estimate.
fig, axes = plt.subplots(1, len(NAMES), figsize=(12, 3.6), sharey=True)
for ax, name, image in zip(axes, NAMES, counts):
    model, means, variances = estimate_noise_model(image, return_points=True)
    line = np.linspace(BLACK_LEVEL, BLACK_LEVEL + PEAK, 50)
    ax.plot(means, variances, "o", color="0.3", ms=4, label="level sets")
    ax.plot(line, model.variance(line), color="tab:orange", label="fitted")
    ax.plot(line, TRUE_MODEL.variance(line), color="tab:blue", ls="--", label="true")
    ax.set_title(f"{name}: gain {model.gain:.2f}, read {model.read_noise:.2f},\n"
                 f"black {model.black_level:.1f} (true 1, 2, 100)", fontsize=9)
    ax.set_xlabel("local mean (counts)")
    print(f"{name}: gain {model.gain:.3f}, read noise {model.read_noise:.2f}, "
          f"black level {model.black_level:.2f}")
axes[0].set_ylabel("noise variance (counts$^2$)")
axes[0].legend(fontsize=8)
fig.tight_layout()
pooled = estimate_noise_model(counts)  # (3, H, W): three frames of one sensor
print(f"pooled: gain {pooled.gain:.3f}, read noise {pooled.read_noise:.2f}, "
      f"black level {pooled.black_level:.2f} (true: 1, 2, 100)")

# %%
# Denoising the counts
# --------------------
# The pretrained CNN is called as it is, with nothing about the noise:
# ``CNNDenoiser.pretrained("gray").transform(counts)``. Per image it normalises, estimates
# the noise model, finds the variance growing with the signal (``noise_model="auto"``),
# and gives the network a per-pixel noise-level map, ``sqrt(gain * signal + read^2)``:
# the shipped weights were trained on such noise (weights trained on white Gaussian noise
# only run between the generalised Anscombe transform and its exact unbiased inverse
# instead). A calibrated camera's model can be given instead, in the data units of ``X``
# (raw counts for integer images): ``noise_model=NoiseModel(gain=1, read_noise=2,
# black_level=100)``.
#
# :class:`~sklearn_denoise.VarianceStabilizedDenoiser` applies the same transform around
# any Gaussian denoiser, with the noise model estimated per image (or given as ``gain``,
# ``read_noise`` and ``black_level``). The classical denoisers' default calls see the
# normalised counts and estimate a single, white noise level per image. BM3D needs the
# optional ``bm3d`` package and is left out without it.
candidates = {}
if "gray" in available_models():
    candidates["CNN (blind, default call)"] = CNNDenoiser.pretrained("gray")
    candidates["CNN (known noise model)"] = CNNDenoiser.pretrained("gray",
                                                                   noise_model=TRUE_MODEL)
else:
    print("No pretrained weights in this installation: the CNN rows are left out.")
classical = {"wavelet": WaveletDenoiser, "NLM": NLMeansDenoiser}
if importlib.util.find_spec("bm3d") is not None:
    classical["BM3D"] = BM3DDenoiser
else:
    print("The optional bm3d package is not installed: BM3D is left out.")
for name, cls in classical.items():
    candidates[f"VST + {name}"] = VarianceStabilizedDenoiser(cls())
for name, cls in classical.items():
    candidates[f"{name} (default call)"] = cls()


def counts_psnr(reference, output):
    """PSNR (dB) in counts with the peak as data range, averaged over the images."""
    return psnr(reference, np.asarray(output, dtype=np.float64), data_range=PEAK)


outputs = {"noisy": counts}
seconds = {"noisy": 0.0}
for label, den in candidates.items():
    start = time.perf_counter()
    if not hasattr(den, "net_"):  # the pretrained CNNs are fitted already
        den.fit(counts)  # VST: estimates the noise models; classical: checks the input
    outputs[label] = den.transform(counts)
    seconds[label] = time.perf_counter() - start
assert all(out.dtype == np.uint16 for out in outputs.values())

header = f"{'method':28s}" + "".join(f"{name:>9s}" for name in NAMES) + f"{'mean':>9s}"
print(f"PSNR (dB) in counts, peak {PEAK:g} as data range; uint16 outputs\n{header}   time")
for label, out in outputs.items():
    scores = [counts_psnr(expected[i : i + 1], out[i : i + 1]) for i in range(len(NAMES))]
    cells = "".join(f"{s:9.2f}" for s in scores)
    print(f"{label:28s}{cells}{counts_psnr(expected, out):9.2f}  {seconds[label]:5.2f} s")

# %%
# Giving the network the true noise model changes little: the model estimated from each
# image is good enough.
#
# The pretrained network, kept as it is
# -------------------------------------
# :class:`~sklearn_denoise.VarianceStabilizedDenoiser` clones its denoiser in ``fit``,
# which would retrain a CNN. Wrapping the fitted network in
# :class:`sklearn.frozen.FrozenEstimator` keeps it as it is. Around the shipped network
# this is the variance-stabilising path that weights trained on white Gaussian noise take;
# the per-pixel noise map of the default call is the better way in for a network
# trained on sensor noise.
if "gray" in available_models():
    vst_cnn = VarianceStabilizedDenoiser(FrozenEstimator(CNNDenoiser.pretrained("gray")))
    out = vst_cnn.fit(counts).transform(counts)
    default = outputs["CNN (blind, default call)"]
    print(f"VST + frozen CNN: {counts_psnr(expected, out):.2f} dB "
          f"(default call: {counts_psnr(expected, default):.2f} dB)")

# %%
# Results
# -------
# All panels share one display range, from the black level to the black level plus the
# peak (darker and brighter counts are clipped for display only).
# sphinx_gallery_thumbnail_number = 3
shown = {"noisy": "noisy", "CNN (blind, default call)": "CNN (blind)",
         "VST + wavelet": "VST + wavelet", "VST + NLM": "VST + NLM",
         "VST + BM3D": "VST + BM3D", "wavelet (default call)": "wavelet"}
shown = {label: title for label, title in shown.items() if label in outputs}
fig, axes = plt.subplots(len(NAMES), len(shown) + 1,
                         figsize=(2.1 * (len(shown) + 1), 2.4 * len(NAMES)))
for row, name in enumerate(NAMES):
    panels = [(title, outputs[label][row]) for label, title in shown.items()]
    panels.append((None, expected[row]))
    for ax, (title, image) in zip(axes[row], panels):
        ax.imshow(image, cmap="gray", vmin=BLACK_LEVEL, vmax=BLACK_LEVEL + PEAK)
        if title is None:
            ax.set_title(f"clean\n({name})", fontsize=8)
        else:
            score = counts_psnr(expected[row][None], image[None])
            ax.set_title(f"{title}\n{score:.2f} dB", fontsize=8)
        ax.axis("off")
fig.tight_layout()

# %%
# The classical methods gain from the variance stabilisation: their default calls assume
# one noise level for the whole image, too high in the dark regions and too low in the
# bright ones. The pretrained CNN, called blind on the raw counts, does best here. The
# benchmarks page has the same comparison on Set12 at several photon counts.
plt.show()
