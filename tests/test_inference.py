import numpy as np
import pytest

from sklearn_denoise._inference import dihedral_average
from sklearn_denoise._param_checks import SELF_ENSEMBLE_SIZES


def _not_symmetric(image, sigma):
    """A stand-in network that treats rows, columns and directions differently."""
    return np.cumsum(image, axis=0) + 2 * np.cumsum(image[:, ::-1], axis=1)[:, ::-1] + sigma


def _image(shape=(5, 7, 1)):
    return np.random.default_rng(0).random(shape, dtype=np.float32)


@pytest.mark.parametrize("size", SELF_ENSEMBLE_SIZES)
def test_a_pixelwise_network_is_unchanged_and_shapes_follow_the_image(size):
    image = _image()
    shapes = []

    def pixelwise(img, sigma):
        shapes.append(img.shape)
        return 3 * img + sigma

    out = dihedral_average(pixelwise, image, 0.5, size)
    np.testing.assert_allclose(out, 3 * image + 0.5, rtol=1e-6)
    assert len(shapes) == size
    # quarter turns (the passes after the fourth) see the image transposed
    assert shapes == [(5, 7, 1)] * min(size, 4) + [(7, 5, 1)] * max(size - 4, 0)


def test_one_pass_is_the_network_itself():
    image = _image()
    np.testing.assert_array_equal(dihedral_average(_not_symmetric, image, 0.0, 1),
                                  _not_symmetric(image, 0.0))


@pytest.mark.parametrize("size, symmetries", [
    (2, [lambda a: a[:, ::-1]]),
    (4, [lambda a: a[:, ::-1], lambda a: a[::-1], lambda a: a[::-1, ::-1]]),
    (8, [lambda a: a[:, ::-1], lambda a: np.rot90(a), lambda a: a.transpose(1, 0, 2),
         lambda a: np.rot90(a, -1)]),
])
def test_the_average_commutes_with_the_symmetries_it_averages_over(size, symmetries):
    image = _image((6, 6, 1))
    out = dihedral_average(_not_symmetric, image, 0.0, size)
    assert not np.allclose(out, _not_symmetric(image, 0.0))  # the ensemble changed it
    for symmetry in symmetries:
        np.testing.assert_allclose(
            dihedral_average(_not_symmetric, np.ascontiguousarray(symmetry(image)), 0.0,
                             size),
            symmetry(out), rtol=1e-5)


def test_a_noise_map_is_turned_with_the_image():
    image = _image((4, 6, 1))
    noise_map = np.arange(24, dtype=np.float32).reshape(4, 6, 1)

    def scaled(img, sigma):
        assert np.shape(sigma) == img.shape
        return img * sigma

    out = dihedral_average(scaled, image, noise_map, 8)
    np.testing.assert_allclose(out, image * noise_map, rtol=1e-6)
