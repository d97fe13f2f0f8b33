"""JPEG compression read off decoded pixels (sklearn_denoise._compression)."""

import numpy as np
import pytest
import skimage.data

from sklearn_denoise._compression import eight_bit_codes, looks_jpeg_compressed
from sklearn_denoise.noise import gaussian, jpeg


@pytest.fixture(scope="module")
def camera():
    return skimage.data.camera()[128:384, 128:384] / 255.0


@pytest.fixture(scope="module")
def astronaut():
    return skimage.data.astronaut()[100:356, 150:406] / 255.0


def _eight_bit(image):
    return np.rint(np.clip(image, 0, 1) * 255) / 255


@pytest.mark.parametrize("sigma, quality", [(0, 75), (15, 75), (25, 90), (40, 50)])
def test_noisy_and_clean_jpegs_are_found(camera, sigma, quality):
    noisy = gaussian(camera, sigma / 255, random_state=0) if sigma else camera
    assert looks_jpeg_compressed(jpeg(noisy, quality=quality)[..., None])


@pytest.mark.parametrize("sigma", [0, 5, 25])
def test_uncompressed_images_are_not(camera, sigma):
    noisy = _eight_bit(gaussian(camera, sigma / 255, random_state=0)) if sigma else camera
    assert not looks_jpeg_compressed(noisy[..., None])


def test_a_crop_off_the_block_grid_is_found(camera):
    compressed = jpeg(gaussian(camera, 15 / 255, random_state=1), quality=75)
    assert looks_jpeg_compressed(compressed[3:, 5:, None])


def test_colour_jpegs_are_read_on_their_luma(astronaut):
    noisy = gaussian(astronaut, 15 / 255, random_state=2)
    assert looks_jpeg_compressed(jpeg(noisy, quality=75))
    assert not looks_jpeg_compressed(_eight_bit(noisy))


def test_the_units_of_the_codes_do_not_matter(camera):
    compressed = jpeg(gaussian(camera, 15 / 255, random_state=3), quality=75)[..., None]
    as_uint8_floats = np.rint(compressed * 255)
    assert looks_jpeg_compressed(as_uint8_floats)  # floats on [0, 255]
    assert looks_jpeg_compressed(compressed.astype(np.float32))


def test_values_that_are_not_8_bit_codes_are_not_read(camera):
    compressed = jpeg(gaussian(camera, 15 / 255, random_state=4), quality=75)[..., None]
    assert eight_bit_codes(compressed * 0.5) is None  # k / 510
    assert not looks_jpeg_compressed(compressed * 0.5)
    assert eight_bit_codes(compressed * 4095) is None  # beyond 255
    assert eight_bit_codes(np.full((4, 4, 1), np.nan)) is None


def test_repetitive_synthetic_images_are_not_taken_for_jpegs():
    yy, xx = np.mgrid[:128, :128]
    checker = ((yy // 16 + xx // 16) % 2) * 200.0
    ramp = np.rint(xx * 2.0)
    blocks = np.kron(np.random.default_rng(0).integers(0, 256, (16, 16)), np.ones((8, 8)))
    for image in (checker, ramp, blocks.astype(float)):
        assert not looks_jpeg_compressed(image[..., None])


def test_small_images_and_other_channel_counts_are_not_read(camera):
    compressed = jpeg(gaussian(camera, 15 / 255, random_state=5), quality=75)
    assert not looks_jpeg_compressed(compressed[:20, :20, None])
    assert not looks_jpeg_compressed(np.stack([compressed] * 2, axis=-1))


def test_blocks_clipped_by_the_decoder_are_left_out(camera):
    # black under noise on 7/8 of the image: the decoder clips those blocks at 0, off
    # their lattices (with them the contrast was 0.04; without them 0.58)
    dark = camera.copy()
    dark[:, :224] = 0.0
    compressed = jpeg(gaussian(dark, 25 / 255, random_state=6), quality=90)
    assert looks_jpeg_compressed(compressed[..., None])


def test_large_images_are_read_without_full_size_temporaries():
    import tracemalloc

    image = np.random.default_rng(0).integers(0, 256, (3000, 4000, 3)).astype(np.float32)
    image /= 255  # 144 MB; a float64 copy would be 288 MB
    tracemalloc.start()
    try:
        assert not looks_jpeg_compressed(image)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20e6, peak
