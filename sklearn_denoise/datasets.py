"""Real photographs bundled with the dependencies, for tests, examples and benchmarks."""

import numpy as np

__all__ = ["load_sample_images"]


def _gray_sources():
    import pywt.data
    import skimage.data

    return {
        "camera": skimage.data.camera,
        "ascent": pywt.data.ascent,
        "aero": pywt.data.aero,
        "coins": skimage.data.coins,
        "moon": skimage.data.moon,
        "text": skimage.data.text,
    }


def _color_sources():
    import skimage.data
    from sklearn.datasets import load_sample_image

    return {
        "astronaut": skimage.data.astronaut,
        "coffee": skimage.data.coffee,
        "chelsea": skimage.data.chelsea,
        "china": lambda: load_sample_image("china.jpg"),
        "flower": lambda: load_sample_image("flower.jpg"),
    }


def load_sample_images(color=False, *, size=None, return_names=False):
    """Load real photographs that ship with scikit-image, PyWavelets and scikit-learn.

    No download is needed: the images are part of those packages.

    Parameters
    ----------
    color : bool, default=False
        False for 6 grayscale images (camera, ascent, aero, coins, moon, text), True for 5
        RGB images (astronaut, coffee, chelsea, china, flower).
    size : int, default=None
        If given, centre-crop every image to ``size x size`` and return one array.
    return_names : bool, default=False
        Also return the image names.

    Returns
    -------
    images : list of ndarray or ndarray of shape (n, size, size[, 3])
        ``uint8`` images of different sizes (a list) or, with ``size``, a stack.
    names : list of str
        Only when ``return_names`` is True.

    Examples
    --------
    >>> from sklearn_denoise.datasets import load_sample_images
    >>> load_sample_images(size=64).shape
    (6, 64, 64)
    """
    sources = _color_sources() if color else _gray_sources()
    names = list(sources)
    images = [np.asarray(sources[name](), dtype=np.uint8) for name in names]
    if size is not None:
        size = int(size)
        smallest = min(min(img.shape[:2]) for img in images)
        if not 1 <= size <= smallest:
            raise ValueError(f"size must be between 1 and {smallest}, got {size}.")
        crops = []
        for img in images:
            top = (img.shape[0] - size) // 2
            left = (img.shape[1] - size) // 2
            crops.append(img[top : top + size, left : left + size])
        images = np.stack(crops)
    return (images, names) if return_names else images
