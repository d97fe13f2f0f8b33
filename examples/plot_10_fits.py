"""
Astronomy: a FITS image of the globular cluster M13
===================================================

FITS files keep their header (telescope, exposure, world coordinates) next to integer
or float pixels, often scaled by ``BSCALE``/``BZERO``. :func:`sklearn_denoise.io.read_image`
returns the scaled values as float32 and, with ``metadata=True``, the file's headers and
bytes: :func:`~sklearn_denoise.io.write_image` writes the denoised image back with
``BITPIX`` and every header card as they were (the data block is replaced in the
original bytes). The image is a real 300x300 ``int16`` exposure of M13 that ships with
astropy's test data; ``sklearn-denoise denoise m13.fits -o out/`` does the same.

A crowded star field is a trap for blind noise estimation: the learned estimator
(:func:`~sklearn_denoise.noise.estimate_noise_level`, printed below) reads the dense stars
as strong correlated noise. The denoiser also looks at the flattest parts of the image,
the sky between the stars, which varies by a count or two: it takes the image for faint
sensor noise, and the stars stay.
"""

# %%
# Read, denoise, write back
# -------------------------
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from astropy.io import fits

from sklearn_denoise import CNNDenoiser
from sklearn_denoise.io import read_image, write_image
from sklearn_denoise.noise import estimate_noise_level

path = Path(fits.__file__).parent / "hdu" / "compressed" / "tests" / "data" / "m13.fits"
image, info = read_image(path, metadata=True)
denoiser = CNNDenoiser.pretrained("gray").for_image(image)
denoised = denoiser.transform(image[np.newaxis])[0]
out = write_image(Path(tempfile.mkdtemp()) / "m13.fits", denoised, metadata=info)
print(denoiser.decision_.describe(image.dtype))
before, after = estimate_noise_level(image), estimate_noise_level(read_image(out))
print(f"estimated noise level: {before:.1f} -> {after:.1f} ({after / before:.2f}x)")
with fits.open(path) as a, fits.open(out) as b:
    # the file has checksums, which are computed again for the new data
    cards = [[c for c in h[0].header.items() if c[0] not in ("CHECKSUM", "DATASUM")]
             for h in (a, b)]
    print("same header (checksums aside):", cards[0] == cards[1], "| BITPIX",
          b[0].header["BITPIX"])

# %%
# The cluster before and after
# ----------------------------
# An arcsinh stretch shows the faint stars and the sky background together.
low, high = np.percentile(image, (1, 99.7))


def stretch(x):
    return np.arcsinh((x - low) / (high - low) * 10)


fig, axes = plt.subplots(1, 3, figsize=(10, 3.8))
for ax, data, title in zip(axes, (image, denoised, image - denoised),
                           ("M13 (input)", "denoised", "input - denoised")):
    ax.imshow(stretch(data) if title != "input - denoised" else data, cmap="gray",
              origin="lower")
    ax.set_title(title)
    ax.axis("off")
fig.tight_layout()
plt.show()
