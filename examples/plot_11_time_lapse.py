"""
Time-lapse: denoise a drifting sequence jointly with the stack network
======================================================================

A fluorescence time-lapse or a video carries the same scene in neighbouring frames, each
with its own noise. Denoising the frames one by one throws that away. The shipped stack
network (``CNNDenoiser.pretrained("gray", axes="TYX")``) denoises each frame seeing the
three frames before and after it, shifted onto it by the drift it measures between
frames.

Here a sample photograph drifts by a pixel or two per frame and is recorded as uint16
camera counts (Poisson-Gaussian noise on a black level of 100), as a microscope camera
would. We compare, blind:

* the 2-D network frame by frame,
* the stack network on the whole sequence,
* the 3-D wavelet (``WaveletDenoiser(axes="TYX")``), which does not compensate the drift.
"""

import matplotlib.pyplot as plt
import numpy as np

from sklearn_denoise import CNNDenoiser, VarianceStabilizedDenoiser, WaveletDenoiser
from sklearn_denoise.datasets import load_sample_images
from sklearn_denoise.metrics import psnr
from sklearn_denoise.noise import poisson_gaussian

# %%
# A drifting sequence of 9 frames, in camera counts
# -------------------------------------------------
rng = np.random.default_rng(0)
scene = load_sample_images(size=160)[0] / 255.0
drift = np.cumsum(rng.integers(-2, 3, size=(9, 2)), axis=0)
clean = np.stack([np.roll(scene, tuple(d), axis=(0, 1)) for d in drift])
peak, black = 40.0, 100.0
counts = poisson_gaussian(peak * clean, gain=1.0, read_sigma=2.0, black_level=black,
                          random_state=0)
counts = np.clip(np.rint(counts), 0, 65535).astype(np.uint16)
truth = black + peak * clean  # the expected counts


def frame_psnr(output):
    return [psnr(t, o.astype(float), data_range=peak) for t, o in zip(truth, output)]


# %%
# Frame by frame, jointly, and the 3-D wavelet
# --------------------------------------------
# Every call is blind: the noise model is estimated from the counts.
frames_2d = CNNDenoiser.pretrained("gray").transform(counts)
stack = CNNDenoiser.pretrained("gray", axes="TYX")
frames_joint = stack.transform(counts[np.newaxis])[0]
wavelet = VarianceStabilizedDenoiser(WaveletDenoiser(axes="TYX")).fit(counts[np.newaxis])
frames_wavelet = wavelet.transform(counts[np.newaxis])[0]

scores = {
    "noisy": frame_psnr(counts),
    "2-D network, frame by frame": frame_psnr(frames_2d),
    "stack network (TYX)": frame_psnr(frames_joint),
    "3-D wavelet (TYX)": frame_psnr(frames_wavelet),
}
for name, values in scores.items():
    print(f"{name:<28} {np.mean(values):.2f} dB")
print("noise decided once for the sequence:", stack.for_image(counts[np.newaxis])
      .decision_.describe(counts.dtype))

# %%
# PSNR per frame
# --------------
# The first and last frames have neighbours on one side only: they see the nearest
# frames on that side instead, further away in time than the middle frames' neighbours.
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, values in scores.items():
    ax.plot(np.arange(1, len(values) + 1), values, marker="o", label=name)
ax.set_xlabel("frame")
ax.set_ylabel("PSNR (dB, peak = 40 counts)")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# The middle frame
# ----------------
middle = len(counts) // 2
crop = (slice(30, 130), slice(30, 130))
panels = [("noisy", counts), ("2-D, frame by frame", frames_2d),
          ("stack network", frames_joint), ("clean", truth)]
fig, axes = plt.subplots(1, 4, figsize=(12, 3.4))
for ax, (title, frames) in zip(axes, panels):
    ax.imshow(frames[middle][crop], cmap="gray", vmin=black, vmax=black + peak)
    ax.set_title(title)
    ax.axis("off")
fig.tight_layout()
plt.show()
