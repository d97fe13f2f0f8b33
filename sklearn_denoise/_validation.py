"""The image convention shared by every estimator, and input validation.

Accepted layouts of ``X`` (``n`` images):

- ``(n, H, W)``: grayscale images;
- ``(n, H, W, C)``: channels-last images;
- ``(n, n_features)``: flattened images of shape ``image_shape`` when the estimator's
  ``image_shape`` parameter is set, otherwise ``n`` one-dimensional signals of length
  ``n_features`` (handled as images of height 1);
- ``(H, W)`` or ``(H, W, 3)`` with both sides at least :data:`MIN_LONE_IMAGE_SIDE` (32)
  pixels and no ``image_shape``: one grayscale or RGB image, denoised exactly as
  ``X[np.newaxis]`` and returned in its own shape, in ``fit`` and ``transform`` alike
  (scikit-image's functions take a lone image so). Short signals and scikit-learn's
  ``(n_samples, n_features)`` tables stay signals; to denoise long 1-D signals as such,
  pass ``image_shape=(n_features,)``;
- a list of 2-D ``(H, W)`` or 3-D ``(H, W, C)`` arrays of different sizes (``transform``
  then returns a list).

An estimator whose ``axes`` is 3-D (``"ZYX"`` or ``"TYX"``, with ``"C"`` for channels, see
:data:`sklearn_denoise._param_checks.AXES`) takes volumes instead: ``(n, Z, H, W)``,
``(n, Z, H, W, C)`` or a list of ``(Z, H, W[, C])`` arrays, worked on as ``(n, Z, H, W,
C)`` floats (or a list of ``(Z, H, W, C)``) and restored alike; ``"YXC"`` requires a
channel axis.

Integer images are read on their full dtype range (scikit-image semantics: ``uint8`` 255 is
1.0, ``uint16`` 65535 is 1.0, likewise for int32, uint32 and int64); floats are taken as
given. Data rarely fill a wide integer type (or sit on [0, 1] as floats), so the denoisers'
``normalize="auto"`` then maps each image's occupied range onto [0, 1] and back (see
:mod:`sklearn_denoise._normalize`): an int64 image holding 0..255 is denoised like the
uint8 one, uint16 counts on 100..400 come back on 100..400. A ``sigma`` given by the user
stays on the dtype-range scale. Internally every estimator works on a float array of shape
``(n, H, W, C)`` (or a list of ``(H, W, C)`` arrays) and :func:`restore_layout` brings the
result back to the input's layout and dtype (integers rounded and clipped).
"""

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.validation import validate_data

from ._param_checks import check_axes, is_volume_axes

_FLOAT_DTYPES = (np.float32, np.float64)

#: A 2-D ``X`` without ``image_shape`` whose sides are both at least this long is one
#: image, not that many 1-D signals.
MIN_LONE_IMAGE_SIDE = 32
# A channel axis longer than this and than the image's height is most likely the width of
# a z-stack or time series handed as one (1, Z, H, W) image.
_MAX_PLAUSIBLE_CHANNELS = 16


@dataclass(frozen=True)
class ImageLayout:
    """How a validated ``X`` was laid out, to restore outputs in the same form."""

    kind: str  # "stack", "image" (one 2-D image), "flat", "signals" or "list"
    dtype: np.dtype
    channel_axis: bool  # whether the input had an explicit channel axis
    n_channels: int
    image_shape: tuple | None = None  # for kind == "flat"
    volume: bool = False  # images are (Z, H, W, C) volumes or sequences (3-D ``axes``)

    @property
    def is_signal(self):
        return self.kind == "signals"


def _working_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return np.float64 if dtype == np.float64 else np.float32
    if dtype.kind in "ui":
        return np.float32 if dtype.itemsize <= 2 else np.float64
    raise TypeError(
        f"Unsupported image dtype {dtype}: expected an integer (uint8, uint16, ...) or float "
        "(float32, float64) array."
    )


def dtype_scale(dtype):
    """What 1.0 on the intensity scale is in ``dtype``'s units: the maximum of an integer
    dtype (scikit-image's convention, e.g. 255 for uint8, 65535 for uint16), 1 for floats."""
    dtype = np.dtype(dtype)
    return float(np.iinfo(dtype).max) if dtype.kind in "ui" else 1.0


def to_float(array):
    """Convert an image array to float, integers read on their dtype's full range.

    Parameters
    ----------
    array : array-like
        Integer or float image (any shape).

    Returns
    -------
    image : ndarray
        Floats are returned as they are (float16 as float32); integers divided by their
        dtype's maximum (``uint8`` 255 -> 1.0), as float32 for 8- and 16-bit integers,
        float64 for wider ones.
    """
    array = np.asarray(array)
    work = _working_dtype(array.dtype)
    if array.dtype.kind == "f":
        return array.astype(work, copy=False)
    return (array.astype(work) / work(dtype_scale(array.dtype))).astype(work, copy=False)


def from_float(array, dtype):
    """Convert a float image back to ``dtype``, the inverse of :func:`to_float`.

    Parameters
    ----------
    array : array-like
        Float image on the [0, 1] intensity scale.
    dtype : dtype
        Target dtype; integers are multiplied by their maximum, rounded and clipped to
        their range, floats are returned as they are.

    Returns
    -------
    image : ndarray of ``dtype``
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return np.asarray(array).astype(dtype, copy=False)
    info = np.iinfo(dtype)
    lower = info.min if dtype.kind == "i" else 0
    array = np.asarray(array)
    # float32 holds every 8- and 16-bit value exactly: no float64 copies of large images
    work = np.float32 if array.dtype == np.float32 and dtype.itemsize <= 2 else np.float64
    scaled = np.asarray(array, dtype=work) * work(info.max)
    np.rint(scaled, out=scaled)
    np.clip(scaled, lower, info.max, out=scaled)
    return scaled.astype(dtype)


def _check_real(values, name):
    """Refuse complex input as scikit-learn does ("Complex data not supported", a
    ValueError), with a short message: sklearn's prints the whole array."""
    dtype = np.asarray(values).dtype  # np.asarray, not np.iscomplexobj: array-likes that
    # only implement __array__ (sklearn's check_transformer_data_not_an_array) must pass
    if dtype.kind == "c":
        raise ValueError(
            f"Complex data not supported: {name} is {dtype}; denoisers take real images: "
            f"pass np.abs({name}), or its real and imaginary parts as separate images."
        )


def _check_image_shape(image_shape):
    if image_shape is None:
        return None
    try:
        shape = tuple(int(s) for s in image_shape)
    except TypeError as exc:
        raise TypeError(
            f"image_shape must be a tuple (H, W) or (H, W, C) (or (n_features,) for 1-D "
            f"signals), got {image_shape!r}."
        ) from exc
    if len(shape) not in (1, 2, 3) or min(shape) < 1:
        raise ValueError(
            f"image_shape must be a tuple (H, W) or (H, W, C) of positive ints (or "
            f"(n_features,) for 1-D signals), got {image_shape!r}."
        )
    return shape


def _check_not_empty(shape, name="images"):
    """Reject images with no pixels or no channels: (H, W, C) with a zero."""
    if 0 in shape:
        height, width, channels = shape
        raise ValueError(
            f"{name} of height {height}, width {width} and {channels} channel(s) are empty: "
            "every image needs at least one pixel and one channel."
        )


def _check_min_size(spatial_shape, min_size, estimator, is_signal):
    if min_size <= 1:
        return
    sizes = spatial_shape[1:] if is_signal else spatial_shape
    if min(sizes) < min_size:
        what = "signal length" if is_signal else "image of shape"
        raise ValueError(
            f"{type(estimator).__name__} needs images of at least {min_size}x{min_size} "
            f"pixels; got {what} {sizes if not is_signal else sizes[0]}."
        )


def validate_images(estimator, X, *, reset, min_size=1):
    """Validate ``X`` against the image convention.

    Parameters
    ----------
    estimator : estimator instance
        Supplies ``image_shape`` (when it has one) and receives ``n_features_in_``
        (2-D input only) on ``reset``.
    X : array-like or list of array-like
        Images, see the module docstring.
    reset : bool
        True in ``fit``: record the layout. False in ``transform``: check it matches fit.
    min_size : int, default=1
        Smallest height and width the method can process.

    Returns
    -------
    images : ndarray of shape (n, H, W, C) or list of ndarray of shape (H, W, C)
        Float images; ``(n, Z, H, W, C)`` or a list of ``(Z, H, W, C)`` volumes when the
        estimator's ``axes`` is 3-D (``"ZYX"``, ``"TYX"``, ``"ZYXC"``, ``"TYXC"``).
    layout : ImageLayout
    """
    axes = check_axes(getattr(estimator, "axes", "YX"))
    if is_volume_axes(axes):
        return _validate_volumes(estimator, X, axes, reset=reset, min_size=min_size)
    images, layout = _validate_planes(estimator, X, reset=reset, min_size=min_size)
    if axes == "YXC" and not layout.channel_axis:
        raise ValueError(
            f"axes='YXC' needs images with a channel axis, (n, H, W, C) or a list of "
            f"(H, W, C); X of shape {_shape_of(X)} has none. Use axes='YX' for grayscale "
            "images."
        )
    return images, layout


def _shape_of(X):
    if isinstance(X, (list, tuple)) and len(X) and _is_array_like(X[0]) and not _is_regular(X):
        return f"list of {len(X)} arrays"
    return np.asarray(X).shape


def _validate_planes(estimator, X, *, reset, min_size):
    """``validate_images`` for 2-D images (``axes`` "YX" or "YXC")."""
    image_shape = _check_image_shape(getattr(estimator, "image_shape", None))
    if isinstance(X, (list, tuple)) and len(X) and _is_array_like(X[0]) and not _is_regular(X):
        return _validate_image_list(estimator, X, reset=reset, min_size=min_size)

    shape = np.asarray(X).shape  # not np.shape: array-likes may only have __array__
    ndim = len(shape)
    lone_image = image_shape is None and (ndim == 2 or (ndim == 3 and shape[-1] == 3)) and (
        min(shape[:2]) >= MIN_LONE_IMAGE_SIDE)
    if lone_image:
        ndim += 1  # validated as the stack X[np.newaxis]: no n_features_in_
    if reset and ndim != 2 and hasattr(estimator, "n_features_in_"):
        del estimator.n_features_in_
    if not reset and ndim == 2 and not hasattr(estimator, "n_features_in_"):
        if hasattr(estimator, "n_channels_in_"):
            raise ValueError(
                f"X has shape {shape} (2-D, read as {shape[0]} one-dimensional signals: "
                f"one image needs both sides >= {MIN_LONE_IMAGE_SIDE}) but "
                f"{type(estimator).__name__} was fitted on images; pass images as "
                "(n, H, W), e.g. X[np.newaxis] for one image, or set image_shape for "
                "flattened images."
            )
    _check_real(X, "X")
    array = validate_data(
        estimator,
        X,
        reset=reset and ndim == 2,
        allow_nd=True,
        dtype="numeric",
        ensure_all_finite=True,
        ensure_min_features=1,
    )
    if array.dtype.kind == "b":
        raise TypeError("Boolean images are not supported: convert X to uint8 or float.")
    if array.ndim > 4:
        raise ValueError(
            f"X must have 2, 3 or 4 dimensions ((n, n_features), (n, H, W) or (n, H, W, C)); "
            f"got an array of shape {array.shape}."
        )
    dtype = array.dtype
    n = array.shape[0]
    if array.ndim == 2 and image_shape is not None and len(image_shape) == 1:
        if array.shape[1] != image_shape[0]:
            raise ValueError(
                f"X has {array.shape[1]} features per sample, which does not match "
                f"image_shape={image_shape} (1-D signals of {image_shape[0]} samples)."
            )
        images = array[:, np.newaxis, :, np.newaxis]
        layout = ImageLayout("signals", dtype, False, 1)
    elif array.ndim == 2 and image_shape is not None:
        if array.shape[1] != int(np.prod(image_shape)):
            raise ValueError(
                f"X has {array.shape[1]} features per sample, which does not match "
                f"image_shape={image_shape} ({int(np.prod(image_shape))} pixels)."
            )
        images = array.reshape((n, *image_shape))
        if images.ndim == 3:
            images = images[..., np.newaxis]
        layout = ImageLayout("flat", dtype, len(image_shape) == 3, images.shape[-1], image_shape)
    elif array.ndim == 2 and lone_image:
        images = array[np.newaxis, :, :, np.newaxis]
        layout = ImageLayout("image", dtype, False, 1)
    elif array.ndim == 2:
        images = array[:, np.newaxis, :, np.newaxis]
        layout = ImageLayout("signals", dtype, False, 1)
    elif array.ndim == 3 and lone_image:
        images = array[np.newaxis]
        layout = ImageLayout("image", dtype, True, 3)
    elif array.ndim == 3:
        images = array[..., np.newaxis]
        layout = ImageLayout("stack", dtype, False, 1)
    else:
        images = array
        layout = ImageLayout("stack", dtype, True, array.shape[-1])
        _warn_stack_as_channels(array.shape)
    _check_not_empty(images.shape[1:])
    _check_min_size(images.shape[1:3], min_size, estimator, layout.is_signal)
    _check_channels(estimator, layout, reset, images.shape)
    return to_float(images), layout


def _validate_volumes(estimator, X, axes, *, reset, min_size):
    """``validate_images`` for volumes or sequences (``axes`` "ZYX", "TYX", with "C")."""
    channels = axes.endswith("C")
    ndim = len(axes)  # of one volume
    named = ", ".join(axes)
    if reset and hasattr(estimator, "n_features_in_"):
        del estimator.n_features_in_
    if isinstance(X, (list, tuple)) and len(X) and _is_array_like(X[0]) and not _is_regular(X):
        volumes = []
        for i, x in enumerate(X):
            _check_real(x, f"X[{i}]")
            arr = check_array(x, ensure_2d=True, allow_nd=True, dtype="numeric",
                              ensure_all_finite=True, input_name=f"X[{i}]")
            if arr.ndim != ndim:
                raise ValueError(
                    f"With axes={axes!r} each volume in a list must be ({named}); X[{i}] "
                    f"has shape {arr.shape}."
                )
            volumes.append(arr)
        dtypes = {v.dtype for v in volumes}
        if len(dtypes) > 1:
            raise ValueError(
                f"All volumes in a list must share one dtype; got {sorted(map(str, dtypes))}."
            )
        images = [v if channels else v[..., np.newaxis] for v in volumes]
        n_channels = {img.shape[-1] for img in images}
        if len(n_channels) > 1:
            raise ValueError(
                f"All volumes in a list must have the same channel count; got {n_channels}."
            )
        dtype = dtypes.pop()
        layout = ImageLayout("list", dtype, channels, n_channels.pop(), volume=True)
        shapes = [img.shape for img in images]
    else:
        _check_real(X, "X")
        array = validate_data(estimator, X, reset=False, allow_nd=True, dtype="numeric",
                              ensure_all_finite=True)
        if array.ndim != ndim + 1:
            hint = " (one volume: pass X[np.newaxis])" if array.ndim == ndim else ""
            raise ValueError(
                f"With axes={axes!r}, X must be (n, {named}) or a list of ({named}) "
                f"arrays; got an array of shape {array.shape}{hint}. Use axes='YX' for "
                "2-D images."
            )
        dtype = array.dtype
        images = array if channels else array[..., np.newaxis]
        layout = ImageLayout("stack", dtype, channels, images.shape[-1], volume=True)
        shapes = [images.shape[1:]] if len(images) else []
    if np.dtype(dtype).kind == "b":
        raise TypeError("Boolean images are not supported: convert X to uint8 or float.")
    for shape in shapes:
        if 0 in shape:
            raise ValueError(
                f"Volumes of shape {shape[:-1]} with {shape[-1]} channel(s) are empty: every "
                f"volume needs at least one plane ({axes[0]}), one pixel and one channel."
            )
        _check_min_size(shape[1:3], min_size, estimator, False)
    _check_channels(estimator, layout, reset)
    if layout.kind == "list":
        return [to_float(img) for img in images], layout
    return to_float(images), layout


def plane_view(image):
    """One (Z, H, W, C) volume as the (Z * H, W, C) image of its planes one above the
    other, for the 2-D noise estimators (an (H, W, C) image is returned as it is): the
    noise is estimated on every plane of the stack, and motion or a coarse z spacing
    between planes cannot read as noise."""
    image = np.asarray(image)
    return image.reshape(-1, *image.shape[2:]) if image.ndim == 4 else image


def _looks_like_volume(shape):
    """Whether an (n, H, W, C) shape is more likely one or more z-stacks or time series
    (n, Z, H, W), read with their width as channels."""
    height, channels = shape[-3], shape[-1]
    return channels > _MAX_PLAUSIBLE_CHANNELS and channels > height


def _volume_hint(shape):
    n, z, h, w = shape
    return (
        f"if X holds {'one' if n == 1 else n} z-stack{'s' if n > 1 else ''} or time "
        f"series (n, Z, H, W) = {tuple(shape)}, it is read as (n, H, W, C) with {w} "
        "channels: pass axes='ZYX' (or 'TYX') to denoise each volume jointly (the "
        "classical denoisers), or X.reshape(-1, "
        f"{h}, {w}) to denoise their planes as 2-D images and reshape the result back."
    )


def _warn_stack_as_channels(shape):
    if _looks_like_volume(shape):
        warnings.warn(
            f"X of shape {tuple(shape)} has {shape[-1]} channels, more than its height: "
            + _volume_hint(shape), UserWarning, stacklevel=4,
        )


def _is_array_like(obj):
    return hasattr(obj, "__array__") or isinstance(obj, (list, tuple))


def _is_regular(X):
    shapes = {np.shape(x) for x in X}
    return len(shapes) == 1


def _validate_image_list(estimator, X, *, reset, min_size):
    images = []
    dtypes = set()
    ndims = set()
    for i, x in enumerate(X):
        _check_real(x, f"X[{i}]")
        arr = check_array(
            x, ensure_2d=True, allow_nd=True, dtype="numeric", ensure_all_finite=True,
            input_name=f"X[{i}]",
        )
        if arr.ndim not in (2, 3):
            raise ValueError(
                f"Each image in a list must be (H, W) or (H, W, C); X[{i}] has shape {arr.shape}."
            )
        dtypes.add(arr.dtype)
        ndims.add(arr.ndim)
        images.append(arr if arr.ndim == 3 else arr[..., np.newaxis])
    if len(dtypes) > 1 or len(ndims) > 1:
        raise ValueError(
            "All images in a list must share one dtype and one number of dimensions; got "
            f"dtypes {sorted(map(str, dtypes))} and ndims {sorted(ndims)}."
        )
    channels = {img.shape[-1] for img in images}
    if len(channels) > 1:
        raise ValueError(f"All images in a list must have the same channel count; got {channels}.")
    if reset and hasattr(estimator, "n_features_in_"):
        del estimator.n_features_in_
    dtype = dtypes.pop()
    layout = ImageLayout("list", dtype, ndims.pop() == 3, channels.pop())
    for i, img in enumerate(images):
        _check_not_empty(img.shape, f"X[{i}]")
        _check_min_size(img.shape[:2], min_size, estimator, False)
    _check_channels(estimator, layout, reset)
    return [to_float(img) for img in images], layout


def _check_channels(estimator, layout, reset, shape=None):
    if reset:
        estimator.n_channels_in_ = layout.n_channels
    elif layout.n_channels != estimator.n_channels_in_:
        message = (
            f"X has {layout.n_channels} channel(s), but {type(estimator).__name__} was fitted "
            f"on images with {estimator.n_channels_in_} channel(s)."
        )
        if layout.n_channels > _MAX_PLAUSIBLE_CHANNELS and layout.kind == "stack" and (
                shape is not None and _looks_like_volume(shape)):
            message += " " + _volume_hint(shape)[0].upper() + _volume_hint(shape)[1:]
        raise ValueError(message)


def restore_layout(images, layout):
    """Bring float images back to the layout and dtype described by ``layout``."""
    if layout.kind == "list":
        out = []
        for img in images:
            img = img if layout.channel_axis else img[..., 0]
            out.append(from_float(img, layout.dtype))
        return out
    images = np.asarray(images)
    n = images.shape[0]
    if layout.kind == "image":
        images = images[0] if layout.channel_axis else images[0, ..., 0]
    elif layout.kind == "signals":
        images = images[:, 0, :, 0]
    elif layout.kind == "flat":
        images = images.reshape(n, -1)
    elif not layout.channel_axis:
        images = images[..., 0]
    return from_float(images, layout.dtype)


def iter_images(images):
    """Iterate over the images of a stack or list, each of shape (H, W, C)."""
    return (images[i] for i in range(len(images)))


def image_target(X, y, layout):
    """Return ``y`` as clean images matching ``X``, or None when ``y`` is not image-shaped.

    A ``y`` with fewer dimensions than ``X`` (class labels, regression targets) is not an
    image target and is ignored, so denoisers can sit in a classifier Pipeline. A ``y`` with
    ``X``'s number of dimensions must have ``X``'s shape.
    """
    if y is None:
        return None
    if layout.kind == "list":
        if not isinstance(y, (list, tuple)) or len(y) == 0 or not _is_array_like(y[0]):
            return None
        if len(y) != len(X):
            raise ValueError(f"y has {len(y)} images but X has {len(X)}.")
        out = []
        for i, (xi, yi) in enumerate(zip(X, y)):
            _check_real(yi, f"y[{i}]")
            yi = check_array(yi, ensure_2d=True, allow_nd=True, dtype="numeric",
                             input_name=f"y[{i}]")
            if yi.shape != np.shape(xi):
                raise ValueError(
                    f"y[{i}] has shape {yi.shape} but X[{i}] has shape {np.shape(xi)}: "
                    "y must hold the clean images matching X."
                )
            out.append(to_float(yi if layout.channel_axis else yi[..., np.newaxis]))
        return out
    y_arr = np.asarray(y)
    x_shape = np.asarray(X).shape
    if y_arr.ndim != len(x_shape):
        return None
    if y_arr.shape != x_shape:
        raise ValueError(
            f"y has shape {y_arr.shape} but X has shape {x_shape}: y must hold the clean "
            "images matching X (or be 1-D labels, which are ignored)."
        )
    _check_real(y_arr, "y")
    y_arr = check_array(y_arr, ensure_2d=True, allow_nd=True, dtype="numeric",
                        ensure_all_finite=True, input_name="y")
    return to_float(as_images(y_arr, layout))


def as_images(array, layout):
    """An array laid out like the ``X`` that ``layout`` describes (1-D signals, flattened
    images or an image stack) as (n, H, W, C)."""
    if layout.kind == "signals":
        return array[:, np.newaxis, :, np.newaxis]
    if layout.kind == "image":
        return array[np.newaxis] if layout.channel_axis else array[np.newaxis, ..., np.newaxis]
    if layout.kind == "flat":
        array = array.reshape((len(array), *layout.image_shape))
        return array[..., np.newaxis] if array.ndim == 3 else array
    return array if layout.channel_axis else array[..., np.newaxis]
