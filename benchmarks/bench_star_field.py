"""A crowded star field through the pretrained CNN's blind call: astropy's ``m13.fits``
(the core of the globular cluster M13, 300x300 int16 counts).

Prints the sky's spread (median absolute deviation of the four 40x40 corners, times
1.4826), the learned noise estimate (:func:`sklearn_denoise.noise.estimate_noise_level`)
and, on the image as the CNN normalises it, the spread of its flattest blocks
(``_noise_level.flat_level``) over that estimate; the decision the denoiser prints; then
the local maxima 50 counts above the sky (``skimage.feature.peak_local_max``,
``min_distance=2``) before and after, the brightest pixel before and after, and the
ratio of the 5x5 flux of the 50 brightest stars after to before (median, smallest and
largest).

    python benchmarks/bench_star_field.py
"""

from pathlib import Path

import numpy as np
from astropy.io import fits
from skimage.feature import peak_local_max

from sklearn_denoise import CNNDenoiser
from sklearn_denoise._normalize import fit_normalization
from sklearn_denoise.io import read_image
from sklearn_denoise.noise import estimate_noise_level

PATH = Path(fits.__file__).parent / "hdu" / "compressed" / "tests" / "data" / "m13.fits"


def main():
    image = read_image(PATH).astype(np.float64)
    corners = [image[:40, :40], image[:40, -40:], image[-40:, :40], image[-40:, -40:]]
    sky = float(np.median(image))
    spread = np.median([1.4826 * np.median(np.abs(c - np.median(c))) for c in corners])
    learned = estimate_noise_level(image)
    print(f"sky {sky:.0f}, its spread {spread:.2f}; learned estimate {learned:.1f}")
    try:
        from sklearn_denoise._noise_level import flat_level
    except ImportError:  # code from before the flat-region rule
        flat_level = None
    if flat_level is not None:
        x = image[..., None].astype(np.float32)
        seen = fit_normalization(x, "auto").apply(x).astype(np.float32)
        print(f"flattest blocks / learned level: "
              f"{flat_level(seen) / estimate_noise_level(seen):.3f}")
    denoiser = CNNDenoiser.pretrained("gray").for_image(image[None])
    print("decision:", denoiser.decision_.describe(np.dtype(np.int16)))
    out = denoiser.transform(image[None])[0].astype(np.float64)
    stars = [len(peak_local_max(im, min_distance=2, threshold_abs=sky + 50))
             for im in (image, out)]
    print(f"maxima 50 counts above the sky: {stars[0]} -> {stars[1]}")
    print(f"brightest pixel: {image.max():.0f} -> {out.max():.0f}")
    brightest = peak_local_max(image, min_distance=3, num_peaks=50)
    ratio = np.array([out[r - 2 : r + 3, c - 2 : c + 3].sum()
                      / image[r - 2 : r + 3, c - 2 : c + 3].sum() for r, c in brightest])
    print(f"5x5 flux of the 50 brightest, after / before: median {np.median(ratio):.3f}, "
          f"{ratio.min():.3f} to {ratio.max():.3f}")


if __name__ == "__main__":
    main()
