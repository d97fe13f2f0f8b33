"""Bundled sample photographs."""

import numpy as np
import pytest
import skimage.data

from sklearn_denoise.datasets import load_sample_images


def test_gray_images():
    images, names = load_sample_images(return_names=True)
    assert names == ["camera", "ascent", "aero", "coins", "moon", "text"]
    assert isinstance(images, list) and len(images) == 6
    for img in images:
        assert img.dtype == np.uint8 and img.ndim == 2 and min(img.shape) >= 64
    np.testing.assert_array_equal(images[0], skimage.data.camera())


def test_color_images():
    images, names = load_sample_images(color=True, return_names=True)
    assert names == ["astronaut", "coffee", "chelsea", "china", "flower"]
    for img in images:
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[-1] == 3


def test_centre_crop_stack():
    stack = load_sample_images(size=64)
    assert stack.shape == (6, 64, 64) and stack.dtype == np.uint8
    camera = skimage.data.camera()
    top, left = (camera.shape[0] - 64) // 2, (camera.shape[1] - 64) // 2
    np.testing.assert_array_equal(stack[0], camera[top:top + 64, left:left + 64])
    color = load_sample_images(color=True, size=33)
    assert color.shape == (5, 33, 33, 3)


def test_size_out_of_range():
    with pytest.raises(ValueError, match="size must be between 1 and"):
        load_sample_images(size=0)
    with pytest.raises(ValueError, match="size must be between 1 and"):
        load_sample_images(size=100_000)
