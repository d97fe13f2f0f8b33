"""JPEG compression read off an image's decoded pixels.

JPEG codes an 8-bit image as 8x8 blocks of DCT coefficients, each divided by a step of the
file's quantisation table and rounded. Decoding multiplies them back, so the DCT of the
decoded blocks puts every coefficient within a rounding error (about 0.3 code values) of
a multiple of its step. Nothing else puts an image's block DCT on such lattices, and only
on the grid the encoder used: blocks shifted off it mix coefficients of four blocks.

:func:`looks_jpeg_compressed` measures, on a crop of the luminance, how close the
coefficients of a few low frequencies come to the best lattice for each frequency, on all
64 block grids, and reports compression where one grid scores far above the others.
Noise compressed this way has lost the high frequencies that white-noise estimates read
(:mod:`sklearn_denoise._noise_level`), and in colour images its chroma has been
subsampled as well, so the CNN reads such noise as the learned estimator sees it
(:mod:`sklearn_denoise._cnn_steps`).
"""

import numpy as np
import scipy.fft

#: JPEG's block side.
BLOCK = 8
#: The luminance is analysed on a central crop of at most this side (plus a block for the
#: grid offsets).
_CROP = 256
#: The low frequencies whose lattices are measured: they keep most nonzero coefficients
#: after quantisation, with steps of 2 to a few tens at common qualities.
_FREQUENCIES = ((0, 1), (1, 0), (1, 1), (0, 2), (2, 0), (1, 2), (2, 1), (2, 2))
_STEPS = np.arange(2, 41, dtype=np.float32)
#: Coefficients this close to zero fit every lattice and are left out...
_NONZERO = 1.5
#: ... and a frequency needs this many others to be scored.
_MIN_COEFFICIENTS = 64
#: One grid must score this much above the median of the 64: quantisation by steps of 2
#: or more (quality 90 and below) gives 0.19 to 0.94, uncompressed images, noisy or not,
#: 0.06 at most, quality 95 0.07 (``benchmarks/bench_compressed.py --detection``; the
#: uncompressed ``immunohistochemistry`` reads 0.86: it was a JPEG itself).
CONTRAST = 0.12
#: BT.601 luma: what JPEG quantises at full resolution in a colour image.
LUMA = np.array([0.299, 0.587, 0.114])


def _dct_matrix():
    return scipy.fft.dct(np.eye(BLOCK), norm="ortho", axis=0).astype(np.float32)


def _analysed_region(image):
    """The central crop of an (H, W, ...) image that the JPEG test reads: at most
    _CROP + BLOCK pixels on a side, starting on the image's 8-pixel grid."""
    height, width = image.shape[:2]
    side = min(_CROP, (height - BLOCK) // BLOCK * BLOCK, (width - BLOCK) // BLOCK * BLOCK)
    top = (height - side - BLOCK) // 2 // BLOCK * BLOCK
    left = (width - side - BLOCK) // 2 // BLOCK * BLOCK
    return image[top : top + side + BLOCK, left : left + side + BLOCK]


def code_value(image):
    """What one 8-bit code is in the (H, W, C) image's units (1/255 or 1), or None when
    its values are not 8-bit codes (:func:`eight_bit_codes`).

    The range is checked on the whole image, the whole numbers on the central crop the
    JPEG test reads (large images: no full-size temporaries).
    """
    image = np.asarray(image)
    if image.size == 0:
        return None
    low, high = float(image.min()), float(image.max())
    if not (np.isfinite(low) and np.isfinite(high)):
        return None
    region = _analysed_region(image) if min(image.shape[:2]) >= 3 * BLOCK else image
    for scale in (255.0, 1.0):
        if low * scale < -0.01 or high * scale > 255.01:
            continue
        codes = region.astype(np.float64) * scale
        if np.max(np.abs(codes - np.rint(codes))) < 0.01:
            return 1.0 / scale
    return None


def eight_bit_codes(image):
    """The (H, W, C) image's values as 8-bit codes (0-255), or None when they are not.

    Decoded JPEG files hold 8-bit codes: uint8 arrays (here on [0, 1], as
    :func:`sklearn_denoise._validation.to_float` reads them), floats ``k / 255`` (scikit-image's
    ``img_as_float``) or floats ``k`` on [0, 255].
    """
    step = code_value(image)
    return None if step is None else np.asarray(image, dtype=np.float64) / step


def _lattice_scores(luma):
    """(8, 8) scores of an (H, W) luminance cut by :func:`_analysed_region`: for each grid
    offset, the mean over frequencies of the best ``mean cos(2 pi d / step)`` over steps,
    ``d`` the nonzero DCT coefficients."""
    dct = _dct_matrix()
    side = min(luma.shape) - BLOCK
    scores = np.full((BLOCK, BLOCK), np.nan)
    for dy in range(BLOCK):
        for dx in range(BLOCK):
            crop = luma[dy : dy + side, dx : dx + side]
            blocks = crop.reshape(side // BLOCK, BLOCK, side // BLOCK, BLOCK)
            blocks = blocks.transpose(0, 2, 1, 3).reshape(-1, BLOCK, BLOCK)
            # decoders clip to [0, 255], which moves a block that reaches either end off
            # its lattices (dark skies and saturated highlights)
            unclipped = (blocks.min(axis=(1, 2)) > 0.5) & (blocks.max(axis=(1, 2)) < 254.5)
            coefficients = dct @ (blocks[unclipped] - 128) @ dct.T
            fits, counts = [], []
            for u, v in _FREQUENCIES:
                d = coefficients[:, u, v]
                d = d[np.abs(d) >= _NONZERO]
                if len(d) < _MIN_COEFFICIENTS:
                    continue
                phases = (2 * np.pi) * d[:, None] / _STEPS[None, :]
                fits.append(float(np.cos(phases).mean(axis=0).max()))
                counts.append(len(d))
            if fits:
                scores[dy, dx] = np.average(fits, weights=counts)
    return scores


def looks_jpeg_compressed(image):
    """Whether one (H, W, C) image (C = 1 or 3) was decoded from a JPEG file.

    The image must hold 8-bit codes (:func:`eight_bit_codes`) and be at least 24 pixels
    on a side; its luminance (BT.601 luma for colour) is cut into 8x8 blocks on each of
    the 64 grids, and the grid whose block DCT coefficients sit on lattices far better
    than the median grid's (by :data:`CONTRAST`) is JPEG's. Quality 95 and above, whose
    steps are mostly 1, is not told from an uncompressed image; its noise keeps most of
    its high frequencies.

    Parameters
    ----------
    image : ndarray of shape (H, W, C)

    Returns
    -------
    compressed : bool
    """
    contrast = grid_contrast(image)
    return contrast is not None and contrast >= CONTRAST


def grid_contrast(image):
    """How far the best of the 64 block grids of one (H, W, C) image scores above the
    median grid (:func:`looks_jpeg_compressed`), or None when it cannot be read."""
    if image.ndim != 3 or image.shape[-1] not in (1, 3) or min(image.shape[:2]) < 3 * BLOCK:
        return None
    step = code_value(image)
    if step is None:
        return None
    codes = _analysed_region(image).astype(np.float64) / step
    luma = codes[..., 0] if codes.shape[-1] == 1 else codes @ LUMA
    scores = _lattice_scores(luma.astype(np.float32))
    if np.all(np.isnan(scores)):
        return None
    return float(np.nanmax(scores) - np.nanmedian(scores))
