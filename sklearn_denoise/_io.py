"""Read and write image files (PNG, JPEG, TIFF), keeping bit depth and colour mode.

:func:`read_image` returns the pixels as stored: ``uint8`` or ``uint16`` (floats for float
TIFFs), shape ``(H, W)`` for grayscale, ``(H, W, C)`` with ``C`` in 2 (gray + alpha),
3 (RGB) or 4 (RGBA). :func:`write_image` writes such an array in the format named by the
file's extension, with the array's dtype and channel count, atomically: the data go to a
temporary file in the destination folder, which then replaces the destination, so an
interrupted write never leaves a half-written image.

PNG and JPEG go through Pillow, TIFF through tifffile (both come with scikit-image).
Pillow reads 16-bit colour PNGs as 8-bit and cannot write them, so those (colour types RGB,
RGBA and gray + alpha at 16 bits) go through pypng.

Unreadable, corrupt or unsupported files raise :class:`ImageFileError` (a ValueError)
naming the file and the reason; failures to write raise :class:`ImageWriteError` (an
OSError).

Decompression bombs: a small compressed file can declare a huge image (a 1 MB PNG can
hold 15000 x 15000 pixels of zeros). Every reader first takes the image size from the
file's header (PNG IHDR chunk, JPEG frame header, TIFF directory) and refuses images of
more than ``max_pixels`` pixels (height x width, default :data:`MAX_PIXELS` = 2**27 =
134,217,728, e.g. 16384 x 8192) with :class:`ImageTooLargeError` before decoding anything.
Pillow's own limit (``PIL.Image.MAX_IMAGE_PIXELS``, refusing PNG and JPEG files of more
than twice that, about 179 million pixels) still applies on top of a larger
``max_pixels``.
"""

import io
import struct
import warnings
import zlib
from numbers import Integral
from pathlib import Path

import numpy as np
import png

from ._atomic import atomic_open

__all__ = [
    "MAX_PIXELS",
    "SUPPORTED_EXTENSIONS",
    "ImageFileError",
    "ImageTooLargeError",
    "ImageWriteError",
    "is_image_file",
    "read_image",
    "write_image",
]

_PNG = (".png",)
_JPEG = (".jpg", ".jpeg")
_TIFF = (".tif", ".tiff")
SUPPORTED_EXTENSIONS = _PNG + _JPEG + _TIFF
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SUPPORTED_DTYPES = (np.uint8, np.uint16, np.float32, np.float64)
_PILLOW_METADATA = ("exif", "icc_profile", "dpi")

#: Largest image :func:`read_image` decodes by default, in pixels (height x width).
MAX_PIXELS = 2**27


class ImageFileError(ValueError):
    """An image file cannot be read: missing, unreadable, corrupt or unsupported."""


class ImageTooLargeError(ImageFileError):
    """An image file declares more pixels than allowed (a possible decompression bomb)."""


class ImageWriteError(OSError):
    """An image cannot be written (folder missing or read-only, disk full, bad format)."""


def is_image_file(path):
    """Whether ``path`` has one of the supported image extensions (case-insensitive)."""
    return Path(path).suffix.lower() in SUPPORTED_EXTENSIONS


def _kind(path):
    suffix = Path(path).suffix.lower()
    if suffix in _PNG:
        return "png"
    if suffix in _JPEG:
        return "jpeg"
    if suffix in _TIFF:
        return "tiff"
    return None


# ---------------------------------------------------------------------------------- reading
def read_image(path, *, metadata=False, max_pixels=None):
    """Read a PNG, JPEG or TIFF file.

    Parameters
    ----------
    path : str or path-like
        Image file; the format is taken from its extension (``.png``, ``.jpg``, ``.jpeg``,
        ``.tif``, ``.tiff``, any case).
    metadata : bool, default=False
        Also return a dict of the metadata that :func:`write_image` can carry over to
        PNG and JPEG files: ``exif`` (camera data, orientation), ``icc_profile`` (colour
        profile) and ``dpi``, when the file has them.
    max_pixels : int, default=None
        Largest image to decode, in pixels (height x width); None means
        :data:`MAX_PIXELS` (2**27, about 134 million). The size is read from the file's
        header, so a larger image is refused before any pixel is decoded.

    Returns
    -------
    image : ndarray of shape (H, W) or (H, W, C)
        ``uint8`` or ``uint16`` pixels as stored (``float32``/``float64`` for float TIFFs),
        ``C`` in 2 (gray + alpha), 3 (RGB) or 4 (RGBA). Palette and 1-bit images are
        expanded to 8-bit RGB(A) or gray; CMYK JPEGs are converted to RGB.
    info : dict
        Only with ``metadata=True``.

    Raises
    ------
    ImageFileError
        If the file does not exist, cannot be opened, is corrupt or truncated, or holds
        something other than one 2-D gray or colour image.
    ImageTooLargeError
        If the image has more than ``max_pixels`` pixels (a subclass of ImageFileError).
    TypeError
        If ``max_pixels`` is not an integer.
    """
    max_pixels = _check_max_pixels(max_pixels)
    path = Path(path)
    kind = _kind(path)
    if kind is None:
        raise ImageFileError(
            f"{path}: unsupported file type {path.suffix or '(no extension)'!r}; supported: "
            f"{', '.join(SUPPORTED_EXTENSIONS)}."
        )
    if not path.exists():
        raise ImageFileError(f"{path}: no such file.")
    if not path.is_file():
        raise ImageFileError(f"{path}: not a regular file.")
    try:
        with open(path, "rb") as fh:
            head = fh.read(32)
    except OSError as exc:
        raise ImageFileError(f"{path}: cannot open ({exc.strerror or exc}).") from exc
    if not head:
        raise ImageFileError(f"{path}: empty file.")
    info = {}
    try:
        if kind == "tiff":
            image = _read_tiff(path, max_pixels)
        else:
            size = _png_size(head) if kind == "png" else _jpeg_size(path)
            if size is not None:
                _check_size(*size, max_pixels, path)
            if kind == "png" and _is_16bit_colour_png(head):
                image = _read_png16(path)
            else:
                image, info = _read_pillow(path, kind, max_pixels)
    except ImageFileError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # the readers raise many types for corrupt files
        raise ImageFileError(
            f"{path}: cannot read as {kind.upper()}: the file is corrupt, truncated or not "
            f"an image ({type(exc).__name__}: {exc})."
        ) from exc
    image = _check_pixels(image, path)
    return (image, info) if metadata else image


def _check_max_pixels(max_pixels):
    if max_pixels is None:
        return MAX_PIXELS
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, Integral):
        raise TypeError(f"max_pixels must be a positive integer or None, got {max_pixels!r}.")
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive integer, got {max_pixels}.")
    return int(max_pixels)


def _check_size(width, height, max_pixels, path):
    """Refuse an image whose header declares more than ``max_pixels`` pixels."""
    pixels = int(width) * int(height)
    if pixels > max_pixels:
        raise ImageTooLargeError(
            f"{path}: the image is {width}x{height} pixels ({pixels:,} pixels), more than "
            f"the limit of {max_pixels:,} (max_pixels); it is not decoded (it may be a "
            "decompression bomb). Raise max_pixels (command line: --max-pixels) if you "
            "trust the file."
        )


def _png_size(head):
    """(width, height) from a PNG header (the IHDR chunk comes first), or None."""
    if not head.startswith(_PNG_SIGNATURE) or len(head) < 24 or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


# JPEG start-of-frame markers (SOF0-SOF15 except DHT, JPG and DAC)
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(path):
    """(width, height) from the first JPEG frame header, or None if there is none."""
    with open(path, "rb") as fh:
        if fh.read(2) != b"\xff\xd8":
            return None
        while True:
            byte = fh.read(1)
            if byte != b"\xff":
                return None  # not at a marker: corrupt, left to the decoder
            while byte == b"\xff":  # fill bytes
                byte = fh.read(1)
            if not byte:
                return None
            marker = byte[0]
            if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a segment
                continue
            if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header
                return None
            segment = fh.read(2)
            if len(segment) < 2:
                return None
            length = struct.unpack(">H", segment)[0]
            if marker in _JPEG_SOF:
                frame = fh.read(5)
                if len(frame) < 5:
                    return None
                _, height, width = struct.unpack(">BHH", frame)
                return width, height
            fh.seek(length - 2, io.SEEK_CUR)


def _check_pixels(image, path):
    image = np.asarray(image)
    if image.dtype == np.bool_:
        image = image.astype(np.uint8) * np.uint8(255)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (2, 3, 4)):
        raise ImageFileError(
            f"{path}: unsupported image layout {image.shape}: expected one gray (H, W) or "
            "colour (H, W, 2|3|4) image (multi-page files and volumes are not supported)."
        )
    if image.dtype.type not in _SUPPORTED_DTYPES:
        raise ImageFileError(
            f"{path}: unsupported pixel type {image.dtype}; supported: 8- and 16-bit "
            "unsigned integers (and float32/float64 TIFF)."
        )
    if image.dtype.kind == "f" and not np.all(np.isfinite(image)):
        raise ImageFileError(f"{path}: the image contains NaN or infinite values.")
    if min(image.shape[:2]) < 1:
        raise ImageFileError(f"{path}: the image is empty ({image.shape}).")
    return image


def _open_pillow(path):
    """Open (not decode) an image with Pillow, whose own size limit comes second to ours."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path)
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(
            f"{path}: the image is larger than Pillow's own limit ({exc}); raise "
            "PIL.Image.MAX_IMAGE_PIXELS as well as max_pixels if you trust the file."
        ) from exc


def _read_pillow(path, kind, max_pixels):
    with _open_pillow(path) as im:
        if im.format not in ("PNG", "JPEG", "MPO"):  # MPO: multi-picture camera JPEG
            raise ImageFileError(
                f"{path}: the file is {im.format or 'not a known image format'}, not "
                f"{kind.upper()} as its extension says."
            )
        _check_size(*im.size, max_pixels, path)  # from the header: nothing decoded yet
        if im.format == "PNG" and getattr(im, "n_frames", 1) > 1:
            raise ImageFileError(f"{path}: animated PNG files are not supported.")
        im.load()
        info = {k: im.info[k] for k in _PILLOW_METADATA if im.info.get(k)}
        if im.mode == "CMYK":
            info.pop("icc_profile", None)  # a CMYK profile does not describe the RGB pixels
        return _pillow_pixels(im, path), info


def _pillow_pixels(im, path):
    """The pixels of an open Pillow image as stored (expanding palette and 1-bit modes)."""
    mode = im.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        return np.asarray(im)
    if mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(im).astype(np.uint16)
    if mode == "I":  # 16-bit gray PNG on some Pillow versions
        arr = np.asarray(im)
        if arr.min() < 0 or arr.max() > 65535:
            raise ImageFileError(f"{path}: 32-bit integer images are not supported.")
        return arr.astype(np.uint16)
    if mode == "1":
        return np.asarray(im.convert("L"))
    if mode in ("P", "PA"):
        has_alpha = "transparency" in im.info or mode == "PA"
        return np.asarray(im.convert("RGBA" if has_alpha else "RGB"))
    if mode in ("CMYK", "YCbCr"):
        return np.asarray(im.convert("RGB"))
    raise ImageFileError(f"{path}: unsupported image mode {mode!r}.")


def _read_tiff(path, max_pixels):
    import tifffile

    with tifffile.TiffFile(path) as tif:
        if not tif.series:
            raise ImageFileError(f"{path}: corrupt or empty TIFF file (it holds no image).")
        series = tif.series[0]
        axes, shape = series.axes, tuple(series.shape)
        # layout and size from the directory, before decoding
        channels_first = axes == "SYX" or (axes == "CYX" and shape[0] in (2, 3, 4))
        if not channels_first and axes not in ("YX", "YXS", "YXC"):
            raise ImageFileError(
                f"{path}: unsupported TIFF layout (axes {axes!r}, shape {shape}); expected "
                "a single 2-D gray or colour image."
            )
        height, width = shape[1:3] if channels_first else shape[:2]
        channels = shape[0] if channels_first else (shape[2] if len(shape) == 3 else 1)
        if not 1 <= channels <= 4:
            raise ImageFileError(
                f"{path}: unsupported image layout {shape} (axes {axes!r}): expected one "
                "gray or colour image with at most 4 channels."
            )
        _check_size(width, height, max_pixels, path)
        image = series.asarray()
    if channels_first:
        image = np.moveaxis(image, 0, -1)
    return np.ascontiguousarray(image)


def _is_16bit_colour_png(head):
    """True for a PNG header announcing 16-bit RGB, RGBA or gray + alpha pixels."""
    if not head.startswith(_PNG_SIGNATURE) or len(head) < 26 or head[12:16] != b"IHDR":
        return False
    bit_depth, colour_type = head[24], head[25]
    return bit_depth == 16 and colour_type in (2, 4, 6)


def _read_png16(path):
    """Decode a 16-bit colour PNG with pypng (Pillow would reduce it to 8 bits)."""
    try:
        width, height, rows, info = png.Reader(filename=str(path)).asDirect()
        pixels = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows])
    except (png.Error, zlib.error, EOFError) as exc:
        raise ImageFileError(f"{path}: corrupt or truncated PNG file ({exc}).") from exc
    return pixels.reshape(height, width, info["planes"])


# ---------------------------------------------------------------------------------- writing
def write_image(path, image, *, quality=95, metadata=None):
    """Write an image atomically in the format named by ``path``'s extension.

    Parameters
    ----------
    path : str or path-like
        Destination (``.png``, ``.jpg``/``.jpeg``, ``.tif``/``.tiff``). Its folder must
        exist.
    image : ndarray of shape (H, W) or (H, W, C), C in 1, 2, 3, 4
        ``uint8`` (all formats), ``uint16`` (PNG, TIFF) or ``float32``/``float64``
        (TIFF). The file stores this dtype and channel count (JPEG: 8-bit gray or RGB).
    quality : int, default=95
        JPEG quality.
    metadata : dict, default=None
        ``exif``, ``icc_profile`` and ``dpi`` to store in a PNG or JPEG file (as returned
        by ``read_image(path, metadata=True)``); ignored for TIFF and 16-bit colour PNG.

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    ImageWriteError
        If the format cannot store this image, or the file cannot be written (missing or
        read-only folder, disk full, ...). The destination is then left as it was.
    """
    path = Path(path)
    kind = _kind(path)
    if kind is None:
        raise ImageWriteError(
            f"Cannot write {path}: unsupported file type {path.suffix or '(no extension)'!r}; "
            f"supported: {', '.join(SUPPORTED_EXTENSIONS)}."
        )
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (2, 3, 4)):
        raise ImageWriteError(
            f"Cannot write {path}: expected an (H, W) or (H, W, 2|3|4) image, got shape "
            f"{image.shape}."
        )
    if image.dtype.type not in _SUPPORTED_DTYPES:
        raise ImageWriteError(f"Cannot write {path}: unsupported dtype {image.dtype}.")
    if kind == "png" and image.dtype.kind == "f":
        raise ImageWriteError(f"Cannot write {path}: PNG stores 8- or 16-bit integers only "
                              "(use TIFF for float images).")
    if kind == "jpeg" and (image.dtype != np.uint8 or (image.ndim == 3 and image.shape[-1]
                                                       not in (3,))):
        raise ImageWriteError(
            f"Cannot write {path}: JPEG stores 8-bit gray or RGB images only, got "
            f"{image.dtype} with shape {image.shape} (use PNG or TIFF)."
        )
    try:
        with atomic_open(path, "xb", fsync=True) as fh:
            if kind == "tiff":
                _write_tiff(fh, image)
            elif kind == "png" and image.dtype == np.uint16 and image.ndim == 3:
                fh.write(_encode_png16(image))
            else:
                _write_pillow(fh, image, kind, quality, metadata)
    except OSError as exc:
        error = ImageWriteError(f"Cannot write {path}: {exc.strerror or exc}")
        error.errno = exc.errno
        raise error from exc
    return path


def _write_pillow(fh, image, kind, quality, metadata=None):
    from PIL import Image

    im = Image.fromarray(np.ascontiguousarray(image))  # uint16 2-D arrays become "I;16"
    extra = {k: v for k, v in (metadata or {}).items() if k in _PILLOW_METADATA and v}
    if kind == "png":
        im.save(fh, format="PNG", compress_level=6, **extra)
    else:
        im.save(fh, format="JPEG", quality=int(quality), **extra)


def _write_tiff(fh, image):
    import tifffile

    channels = image.shape[-1] if image.ndim == 3 else 1
    kwargs = {}
    if channels in (3, 4):
        kwargs["photometric"] = "rgb"
    else:
        kwargs["photometric"] = "minisblack"
    if channels in (2, 4):
        kwargs["extrasamples"] = ["unassalpha"]
    if channels > 1:
        kwargs["planarconfig"] = "contig"
    tifffile.imwrite(fh, image, **kwargs)


def _encode_png16(image):
    """Encode a 16-bit (H, W, C) image, C in 2, 3, 4, as PNG with pypng."""
    height, width, channels = image.shape
    writer = png.Writer(width, height, greyscale=channels == 2, alpha=channels in (2, 4),
                        bitdepth=16)
    buffer = io.BytesIO()
    writer.write(buffer, image.reshape(height, width * channels))
    return buffer.getvalue()
