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

TIFF stacks (z or t planes of one gray image, e.g. ``(n, H, W)`` written by tifffile,
ImageJ hyperstacks) are read and written plane by plane with :func:`open_image` and
:func:`write_image_planes`, so memory stays bounded by one plane whatever the stack's
size; the dtype and the metadata tifffile keeps (resolution, description, the shape and
axes of the stack, simple ImageJ settings such as the voxel spacing and unit) are carried
over. :func:`read_image` reads single images only.

Unreadable, corrupt or unsupported files raise :class:`ImageFileError` (a ValueError)
naming the file and the reason; failures to write raise :class:`ImageWriteError` (an
OSError), and an image the file's format cannot store :class:`ImageFormatError` or
:class:`ImageTypeError`, which are ImageWriteErrors as well as a ValueError or a TypeError.

The public functions are :func:`sklearn_denoise.io.read_image` and
:func:`sklearn_denoise.io.write_image`, which call these.

Decompression bombs: a small compressed file can declare a huge image (a 1 MB PNG can
hold 15000 x 15000 pixels of zeros). Every reader first takes the image size from the
file's header (PNG IHDR chunk, JPEG frame header, TIFF directory) and refuses images of
more than ``max_pixels`` pixels (height x width, default :data:`MAX_PIXELS` = 2**27 =
134,217,728, e.g. 16384 x 8192) with :class:`ImageTooLargeError` before decoding anything.
Pillow's own limit (``PIL.Image.MAX_IMAGE_PIXELS``, refusing PNG and JPEG files of more
than twice that, about 179 million pixels) still applies on top of a larger
``max_pixels``.
"""

import errno
import io
import json
import math
import os
import struct
import warnings
import zlib
from contextlib import contextmanager
from numbers import Integral
from pathlib import Path
from typing import NamedTuple

import numpy as np
import png

from ._atomic import atomic_open
from ._file_errors import (
    ImageFileError,
    ImageFormatError,
    ImageTooLargeError,
    ImageTypeError,
    ImageWriteError,
)
from ._formats import (
    FIELD_EXTENSIONS,
    FieldFile,
    dicom_series_files,
    field_kind,
    read_field,
    write_field,
)

__all__ = [
    "MAX_PIXELS",
    "SUPPORTED_EXTENSIONS",
    "ImageFile",
    "ImageFileError",
    "ImageFormatError",
    "ImageTooLargeError",
    "ImageTypeError",
    "ImageWriteError",
    "is_image_file",
    "is_series_folder",
    "open_image",
    "read_image",
    "write_image",
    "write_image_planes",
]

_PNG = (".png",)
_JPEG = (".jpg", ".jpeg")
_TIFF = (".tif", ".tiff")
SUPPORTED_EXTENSIONS = _PNG + _JPEG + _TIFF + FIELD_EXTENSIONS
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SUPPORTED_DTYPES = (np.uint8, np.uint16, np.float32, np.float64)
_PILLOW_METADATA = ("exif", "icc_profile", "dpi")
# ImageJ settings carried over to a denoised file (scalars, text and per-channel lists);
# the counts of images, slices and frames are written by tifffile from the shape
_IMAGEJ_METADATA = ("spacing", "unit", "finterval", "fps", "loop", "Info", "Labels", "min",
                    "max", "Ranges")
_IMAGEJ_DTYPES = (np.uint8, np.uint16, np.float32)
_DEFLATE = (8, 32946)  # TIFF compression codes of zlib (deflate), kept on writing

# multi-band TIFF images ((B, H, W) planar or (H, W, B)): 5 to this many bands
_MAX_BANDS = 16

#: Largest image :func:`read_image` decodes by default, in pixels (height x width).
MAX_PIXELS = 2**27


def is_image_file(path):
    """Whether ``path`` has one of the supported image extensions (case-insensitive), or
    is a file without extension that starts as DICOM files do."""
    return Path(path).suffix.lower() in SUPPORTED_EXTENSIONS or field_kind(path) is not None


def is_series_folder(folder):
    """Whether ``folder`` holds DICOM files of one series and no other image file (the
    command line then denoises it as one volume)."""
    folder = Path(folder)
    files = dicom_series_files(folder)
    if not files or not folder.is_dir():
        return False
    try:
        others = [p for p in folder.iterdir() if p.is_file() and is_image_file(p)]
        import pydicom

        series = {str(pydicom.dcmread(p, stop_before_pixels=True,
                                      specific_tags=["SeriesInstanceUID"]).get(
                                          "SeriesInstanceUID", "")) for p in files}
    except Exception:  # unreadable files, no pydicom: decided file by file
        return False
    return len(others) == len(files) and len(series) == 1


def _kind(path):
    suffix = Path(path).suffix.lower()
    if suffix in _PNG:
        return "png"
    if suffix in _JPEG:
        return "jpeg"
    if suffix in _TIFF:
        return "tiff"
    return None


def _supported_kind(path, error, prefix):
    """``_kind`` of a ``path`` with a supported extension; ``error`` (with its message after
    ``prefix``) naming the supported ones otherwise."""
    kind = _kind(path)
    if kind is None:
        raise error(
            f"{prefix}unsupported file type {path.suffix or '(no extension)'!r}; supported: "
            f"{', '.join(SUPPORTED_EXTENSIONS)}."
        )
    return kind


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
    if field_kind(path) is not None:
        image, info = read_field(path, max_pixels)
        return (image, info) if metadata else image
    path, kind, head = _open_checks(path)
    info = {}
    with _decoding_errors(path, kind):
        if kind == "tiff":
            image, info = _read_tiff(path, max_pixels)
        else:
            size = _png_size(head) if kind == "png" else _jpeg_size(path)
            if size is not None:
                _check_size(*size, max_pixels, path)
            if kind == "png" and _is_16bit_colour_png(head):
                image = _read_png16(path)
            else:
                image, info = _read_pillow(path, kind, max_pixels)
    image = _check_pixels(image, path)
    return (image, info) if metadata else image


def _open_checks(path):
    """(path, kind, first bytes) of an existing, non-empty file with a supported name."""
    path = Path(path)
    kind = _supported_kind(path, ImageFileError, f"{path}: ")
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
    return path, kind, head


@contextmanager
def _decoding_errors(path, kind, what=""):
    """Turn the many exception types of the decoders into one ImageFileError."""
    try:
        yield
    except (ImageFileError, MemoryError):
        raise
    except Exception as exc:  # the readers raise many types for corrupt files
        raise ImageFileError(
            f"{path}: cannot read {what}as {kind.upper()}: the file is corrupt, truncated or "
            f"not an image ({type(exc).__name__}: {exc})."
        ) from exc


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
    if image.ndim not in (2, 3) or (image.ndim == 3 and not 2 <= image.shape[-1] <= _MAX_BANDS):
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


class _TiffLayout(NamedTuple):
    """Where the pixels of a TIFF file's first series are, from its directory."""

    axes: str
    shape: tuple  # of the whole series
    plane_shape: tuple  # (H, W) or (H, W, C): one image, or one plane of a stack
    channels_first: bool  # planar colour (S or C axis first), moved last when read
    is_stack: bool  # gray planes along one or more leading axes (z, t, ...)


def _tiff_layout(tif, path, max_pixels):
    """Layout and size of the first series, checked before anything is decoded."""
    if not tif.series:
        raise ImageFileError(f"{path}: corrupt or empty TIFF file (it holds no image).")
    series = tif.series[0]
    axes, shape = series.axes, tuple(int(n) for n in series.shape)
    channels_first = axes == "SYX" or (axes == "CYX" and 2 <= shape[0] <= _MAX_BANDS)
    is_stack = False
    if channels_first or axes in ("YX", "YXS", "YXC"):
        height, width = shape[1:3] if channels_first else shape[:2]
        channels = shape[0] if channels_first else (shape[2] if len(shape) == 3 else 1)
        if not 1 <= channels <= _MAX_BANDS:
            raise ImageFileError(
                f"{path}: unsupported image layout {shape} (axes {axes!r}): expected one "
                f"gray, colour or multi-band image with at most {_MAX_BANDS} channels."
            )
        plane_shape = (height, width) if channels == 1 else (height, width, channels)
    elif len(shape) >= 3 and axes.endswith("YX") and "S" not in axes:
        height, width = shape[-2:]
        plane_shape, is_stack = (height, width), True
    else:
        raise ImageFileError(
            f"{path}: unsupported TIFF layout (axes {axes!r}, shape {shape}); expected a "
            "2-D gray or colour image, or a stack of 2-D gray planes (e.g. z or t)."
        )
    _check_size(width, height, max_pixels, path)
    return _TiffLayout(axes, shape, plane_shape, channels_first, is_stack)


def _read_tiff(path, max_pixels):
    import tifffile

    with tifffile.TiffFile(path) as tif:
        layout = _tiff_layout(tif, path, max_pixels)
        if layout.is_stack:
            raise ImageFileError(
                f"{path}: the file is a stack of {math.prod(layout.shape[:-2])} planes (axes "
                f"{layout.axes!r}, shape {layout.shape}); multi-plane stacks are not "
                "supported here: read them plane by plane with open_image (as "
                "'sklearn-denoise denoise' does)."
            )
        series = tif.series[0]
        image = series.asarray()
        info = {"tiff": _tiff_metadata(tif, series)}
    if layout.channels_first:
        image = np.moveaxis(image, 0, -1)
    return np.ascontiguousarray(image), info


def _is_generated_description(text):
    """Whether an ImageDescription was written by tifffile or ImageJ (not by a user)."""
    stripped = text.lstrip()
    if stripped.startswith(("ImageJ=", "<?xml", "<OME")):
        return True
    if stripped.startswith("{"):
        try:
            return "shape" in json.loads(stripped)
        except (ValueError, TypeError):
            return False
    return False


def _tiff_metadata(tif, series):
    """What tifffile can write back: resolution, the user's description, the shaped
    (JSON) or simple ImageJ metadata, and zlib compression."""
    page = series.keyframe
    tags = page.tags
    info = {}
    if "XResolution" in tags and "YResolution" in tags:
        info["resolution"] = tuple(float(v) for v in page.resolution)
        info["resolutionunit"] = int(page.resolutionunit)
    for tag in tags.values():
        if tag.code == 270 and isinstance(tag.value, str):
            if not _is_generated_description(tag.value):
                info["description"] = tag.value
                break
    if tif.is_imagej:
        settings = tif.imagej_metadata or {}
        info["imagej"] = {k: settings[k] for k in _IMAGEJ_METADATA if k in settings}
    elif tif.is_shaped and tif.shaped_metadata:
        info["shaped"] = {k: v for k, v in tif.shaped_metadata[0].items() if k != "shape"}
    if page.compression in _DEFLATE:
        info["compression"] = "zlib"
    if tif.is_bigtiff:
        info["bigtiff"] = True
    if _is_four_bands(series, page):
        info["bands"] = True
    return info


def _is_four_bands(series, page):
    """Whether 4 channels are 4 bands of a multi-band image, not RGBA: stored as gray
    (MINISBLACK) samples with no alpha among them."""
    axes, shape = series.axes, tuple(series.shape)
    channels = shape[0] if axes in ("CYX", "SYX") else (
        shape[-1] if axes in ("YXS", "YXC") else 0)
    alpha = any(int(e) in (1, 2) for e in (page.extrasamples or ()))
    return channels == 4 and int(page.photometric) == 1 and not alpha


class ImageFile:
    """An image file opened with :func:`open_image`, read one plane at a time.

    A single image is one plane; a TIFF stack of ``n`` gray planes (z, t, ... in any
    number of leading axes) has ``n`` planes in the file's order, each decoded only when
    asked for. Use it as a context manager, or call :meth:`close`.

    Attributes
    ----------
    path : pathlib.Path
    shape : tuple of int
        Shape of the whole file's pixels: ``plane_shape`` for a single image, the stack's
        shape (e.g. ``(n, H, W)`` or ``(t, z, H, W)``) otherwise.
    plane_shape : tuple of int
        ``(H, W)`` or ``(H, W, C)``.
    n_planes : int
    dtype : numpy.dtype
    axes : str or None
        The stack's axes as tifffile names them (e.g. ``"ZYX"``, ``"TZYX"``, ``"QYX"``);
        None for a single image.
    is_stack : bool
    metadata : dict
        Metadata that :func:`write_image_planes` (and :func:`write_image`) carry over.
    """

    def __init__(self, path, *, image=None, metadata=None, tif=None, layout=None,
                 dtype=None):
        self.path = Path(path)
        self.metadata = metadata or {}
        self._tif = tif
        self._image = image
        self._mapped = None
        self._page = (None, None)  # index and planes of the last decoded page
        if image is not None:
            self.shape = self.plane_shape = image.shape
            self.n_planes, self.dtype, self.axes, self.is_stack = 1, image.dtype, None, False
            return
        self.shape, self.plane_shape = layout.shape, layout.plane_shape
        self.n_planes = math.prod(layout.shape[:-2])
        self.dtype, self.axes, self.is_stack = np.dtype(dtype), layout.axes, True
        series = tif.series[0]
        offset = series.dataoffset
        if offset is not None and tif.filehandle.is_file:
            # uncompressed and contiguous: map the file, read planes by slicing
            self._mapped = np.memmap(self.path, mode="r", offset=offset,
                                     dtype=self.dtype.newbyteorder(tif.byteorder),
                                     shape=(self.n_planes, *self.plane_shape))
            return
        n_pages = len(series.pages)
        if n_pages < 1 or self.n_planes % n_pages:
            raise ImageFileError(f"{self.path}: unsupported TIFF layout: {self.n_planes} "
                                 f"planes stored in {n_pages} pages.")
        self._per_page = self.n_planes // n_pages  # planes stored together (planar samples)

    def plane(self, index):
        """Decode plane ``index`` (0 <= index < n_planes): an (H, W) or (H, W, C) array.

        Only that plane is read: from a memory map of the file when the stack is stored
        uncompressed and contiguous, else by decoding the TIFF page that holds it.
        """
        if not 0 <= index < self.n_planes:
            raise IndexError(f"plane {index} of a file with {self.n_planes} plane(s)")
        if self._image is not None:
            return self._image
        if self._tif is None:
            raise ValueError(f"{self.path} is closed.")
        where = f"plane {index + 1} of {self.n_planes} "
        with _decoding_errors(self.path, "tiff", where):
            if self._mapped is not None:
                plane = np.array(self._mapped[index], dtype=self.dtype)
            else:
                page = index // self._per_page
                if self._page[0] != page:
                    data = self._tif.asarray(series=0, key=page)
                    self._page = (page, np.asarray(data).reshape(self._per_page,
                                                                 *self.plane_shape))
                plane = self._page[1][index % self._per_page]
        plane = _check_pixels(plane, self.path)
        if plane.dtype != self.dtype:
            raise ImageFileError(f"{self.path}: plane {index + 1} has pixel type "
                                 f"{plane.dtype}, the file {self.dtype}.")
        return plane

    def planes(self):
        """Iterate over the planes, decoding one at a time."""
        for index in range(self.n_planes):
            yield self.plane(index)

    def close(self):
        self._mapped = None
        self._page = (None, None)
        if self._tif is not None:
            self._tif.close()
            self._tif = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        kind = f"stack {self.axes} " if self.is_stack else ""
        return f"ImageFile({str(self.path)!r}, {kind}{self.shape}, {self.dtype})"


def open_image(path, *, max_pixels=None):
    """Open an image file for reading plane by plane (bounded memory for TIFF stacks).

    PNG, JPEG and single-image TIFF files are decoded at once (as :func:`read_image`
    with ``metadata=True``) and make one plane. A TIFF file whose first series is a stack
    of 2-D gray planes (``(n, H, W)`` as tifffile writes it, ImageJ z/t hyperstacks,
    multi-page files) is kept open and decoded one plane at a time.

    Parameters
    ----------
    path : str or path-like
        Image file (``.png``, ``.jpg``, ``.jpeg``, ``.tif``, ``.tiff``).
    max_pixels : int, default=None
        Largest image, or plane of a stack, in pixels (height x width); None means
        :data:`MAX_PIXELS`. Checked from the file's header before decoding.

    Returns
    -------
    image_file : ImageFile

    Raises
    ------
    ImageFileError
        As :func:`read_image`; for stacks also when a plane is corrupt (when it is read)
        or the pixel type is not supported.
    """
    import tifffile

    max_pixels = _check_max_pixels(max_pixels)
    if field_kind(path) is not None:
        return FieldFile(path, *read_field(path, max_pixels))
    path, kind, _ = _open_checks(path)
    if kind == "tiff":
        tif = None
        try:
            with _decoding_errors(path, kind):
                tif = tifffile.TiffFile(path)
                layout = _tiff_layout(tif, path, max_pixels)
                if layout.is_stack:
                    dtype = np.dtype(tif.series[0].dtype)
                    if dtype.type not in _SUPPORTED_DTYPES:
                        raise ImageFileError(
                            f"{path}: unsupported pixel type {dtype} in a stack; supported: "
                            "8- and 16-bit unsigned integers, float32 and float64."
                        )
                    image_file = ImageFile(path, tif=tif, layout=layout, dtype=dtype,
                                           metadata={"tiff": _tiff_metadata(tif,
                                                                            tif.series[0])})
                    tif = None  # now owned by image_file
                    return image_file
        finally:
            if tif is not None:
                tif.close()
    image, info = read_image(path, metadata=True, max_pixels=max_pixels)
    return ImageFile(path, image=image, metadata=info)


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
def write_image(path, image, *, quality=95, metadata=None, overwrite=True):
    """Write an image atomically in the format named by ``path``'s extension.

    The public entry point is :func:`sklearn_denoise.io.write_image`, which refuses to
    replace an existing file unless asked.

    Parameters
    ----------
    path : str or path-like
        Destination (``.png``, ``.jpg``/``.jpeg``, ``.tif``/``.tiff``). Its folder must
        exist.
    image : ndarray of shape (H, W) or (H, W, C), C in 1, 2, 3, 4
        ``uint8`` (all formats), ``uint16`` (PNG, TIFF) or ``float32``/``float64``
        (TIFF). The file stores this dtype and channel count (JPEG: 8-bit gray or RGB).
    quality : int, default=95
        JPEG quality, 1 to 100.
    metadata : dict, default=None
        As returned by ``read_image(path, metadata=True)``: ``exif``, ``icc_profile`` and
        ``dpi`` are stored in a PNG or JPEG file (not in a 16-bit colour PNG), ``tiff``
        (resolution, description, ImageJ settings) in a TIFF file.
    overwrite : bool, default=True
        Replace an existing ``path``; False raises FileExistsError instead (checked
        before encoding and again, atomically, when the file is put in place).

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    ImageFormatError
        If the file type or the format cannot store this image (an ImageWriteError and a
        ValueError).
    ImageTypeError
        If the image's dtype is not supported (an ImageWriteError and a TypeError).
    ImageWriteError
        If the file cannot be written (missing or read-only folder, disk full, ...). The
        destination is then left as it was.
    FileExistsError
        If ``overwrite=False`` and ``path`` exists.
    TypeError, ValueError
        If ``quality`` or ``metadata`` is invalid, or a float image holds NaN or infinite
        values (which :func:`read_image` refuses: the file could not be read back).
    """
    path = Path(path)
    if isinstance(metadata, dict) and "format" in metadata:  # DICOM, NIfTI, FITS
        return _write_field(path, image, metadata, overwrite)
    if field_kind(path, sniff=False) is not None:
        raise ImageFormatError(
            f"Cannot write {path}: DICOM, NIfTI and FITS files are written from the "
            "metadata of a file read with read_image(path, metadata=True) (their header "
            "cannot be made up)."
        )
    kind = _supported_kind(path, ImageFormatError, f"Cannot write {path}: ")
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    bands = kind == "tiff" and image.ndim == 3 and 5 <= image.shape[-1] <= _MAX_BANDS
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (2, 3, 4)
                                    and not bands):
        raise ImageFormatError(
            f"Cannot write {path}: expected an (H, W) or (H, W, 2|3|4) image (TIFF: also "
            f"(H, W, B) with 5 to {_MAX_BANDS} bands), got shape {image.shape}."
        )
    if image.dtype.type not in _SUPPORTED_DTYPES:
        raise ImageTypeError(
            f"Cannot write {path}: unsupported dtype {image.dtype}; supported: uint8, uint16, "
            "float32 and float64 (TIFF only)."
        )
    if kind == "png" and image.dtype.kind == "f":
        raise ImageFormatError(f"Cannot write {path}: PNG stores 8- or 16-bit integers only "
                               "(use TIFF for float images).")
    if kind == "jpeg" and (image.dtype != np.uint8 or (image.ndim == 3 and image.shape[-1]
                                                       not in (3,))):
        raise ImageFormatError(
            f"Cannot write {path}: JPEG stores 8-bit gray or RGB images only, got "
            f"{image.dtype} with shape {image.shape} (use PNG or TIFF)."
        )
    _check_finite_pixels(image, path)
    _check_quality(quality)
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict (from read_image(path, metadata=True)) or "
                        f"None, got {type(metadata).__name__}.")
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(errno.EEXIST, f"{path} already exists; pass overwrite=True to "
                              "replace it", str(path))
    try:
        with atomic_open(path, "xb", fsync=True, replace=overwrite) as fh:
            if kind == "tiff":
                _write_tiff(fh, image, (metadata or {}).get("tiff"))
            elif kind == "png" and image.dtype == np.uint16 and image.ndim == 3:
                fh.write(_encode_png16(image))
            else:
                _write_pillow(fh, image, kind, quality, metadata)
    except FileExistsError:
        raise
    except OSError as exc:
        error = ImageWriteError(f"Cannot write {path}: {exc.strerror or exc}")
        error.errno = exc.errno
        raise error from exc
    return path


def _write_field(path, image, metadata, overwrite):
    try:
        return write_field(path, image, metadata, overwrite=overwrite)
    except (FileExistsError, ImageWriteError, TypeError, ValueError):
        raise
    except OSError as exc:
        error = ImageWriteError(f"Cannot write {path}: {exc.strerror or exc}")
        error.errno = exc.errno
        raise error from exc


def _check_finite_pixels(image, path, what="the image"):
    """Float pixels must be finite: :func:`read_image` refuses NaN and infinities, so a
    file holding them could not be read back."""
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        raise ValueError(f"Cannot write {path}: {what} contains NaN or infinite values, "
                         "which read_image refuses; replace them first (e.g. with "
                         "np.nan_to_num).")


def _check_quality(quality):
    if isinstance(quality, bool) or not isinstance(quality, Integral):
        raise TypeError(f"quality must be an integer from 1 to 100, got {quality!r}.")
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be an integer from 1 to 100, got {quality}.")


def _write_pillow(fh, image, kind, quality, metadata=None):
    from PIL import Image

    im = Image.fromarray(np.ascontiguousarray(image))  # uint16 2-D arrays become "I;16"
    extra = {k: v for k, v in (metadata or {}).items() if k in _PILLOW_METADATA and v}
    if kind == "png":
        im.save(fh, format="PNG", compress_level=6, **extra)
    else:
        im.save(fh, format="JPEG", quality=int(quality), **extra)


def _tiff_kwargs(tiff, imagej):
    """tifffile.TiffWriter.write arguments carrying over the metadata of a read file."""
    kwargs = {}
    if "resolution" in tiff:
        kwargs["resolution"] = tuple(tiff["resolution"])
        kwargs["resolutionunit"] = tiff.get("resolutionunit")
    if not imagej:  # ImageJ files hold their own description and are not compressed
        if "description" in tiff:
            kwargs["description"] = tiff["description"]
        if "compression" in tiff:
            kwargs["compression"] = tiff["compression"]
    return kwargs


def _write_tiff(fh, image, tiff=None):
    import tifffile

    tiff = tiff or {}
    channels = image.shape[-1] if image.ndim == 3 else 1
    if channels > 4 or (channels == 4 and tiff.get("bands")):
        # multi-band: planar (B, H, W), as remote-sensing tools write it
        kwargs = _tiff_kwargs(tiff, False)
        settings = {k: v for k, v in tiff.get("shaped", {}).items() if k != "axes"}
        with tifffile.TiffWriter(fh) as writer:
            writer.write(np.moveaxis(image, -1, 0), photometric="minisblack",
                         planarconfig="separate", metadata={**settings, "axes": "CYX"},
                         **kwargs)
        return
    imagej = "imagej" in tiff and channels == 1 and image.dtype.type in _IMAGEJ_DTYPES
    kwargs = _tiff_kwargs(tiff, imagej)
    if channels in (3, 4):
        kwargs["photometric"] = "rgb"
    else:
        kwargs["photometric"] = "minisblack"
    if channels in (2, 4):
        kwargs["extrasamples"] = ["unassalpha"]
    if channels > 1:
        kwargs["planarconfig"] = "contig"
    if imagej:
        kwargs["metadata"] = {**tiff["imagej"], "axes": "YX"}
    elif "shaped" in tiff:
        kwargs["metadata"] = {k: v for k, v in tiff["shaped"].items() if k != "axes"}
    with tifffile.TiffWriter(fh, imagej=imagej) as writer:
        writer.write(image, **kwargs)


def write_image_planes(path, planes, like, *, overwrite=True):
    """Write an image file plane by plane, atomically, with the layout of an open file.

    For a TIFF stack, the planes are written as they come (one plane in memory at a
    time) into a TIFF file with ``like``'s shape, axes and dtype and the metadata
    tifffile keeps (resolution, description, shaped JSON or simple ImageJ settings). For
    a single image, the one plane is written with :func:`write_image` and ``like``'s
    metadata. Either way the data go to a temporary file that replaces ``path`` only
    once every plane is written: an error while producing a plane (raised by the
    ``planes`` iterator) or while writing leaves ``path`` as it was.

    Parameters
    ----------
    path : str or path-like
        Destination; a stack must go to a ``.tif`` or ``.tiff`` file.
    planes : iterable of ndarray
        ``like.n_planes`` arrays of shape ``like.plane_shape`` and dtype ``like.dtype``.
    like : ImageFile
        The file whose layout and metadata to write (see :func:`open_image`).
    overwrite : bool, default=True
        Replace an existing ``path``. False raises FileExistsError if ``path`` exists
        before the first plane is produced, or when the file is put in place (a hard link:
        a file another process wrote there meanwhile is not replaced either).

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    ImageWriteError
        If a plane has the wrong shape or dtype, there are too few or too many planes,
        or the file cannot be written.
    FileExistsError
        If ``overwrite=False`` and ``path`` exists.
    """
    path = Path(path)
    planes = iter(planes)
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(errno.EEXIST, f"{path} already exists and is not replaced",
                              str(path))
    if isinstance(like, FieldFile):
        return _write_field(path, like.assemble(planes, path), like.metadata, overwrite)
    if not like.is_stack:
        image = next(planes, None)
        if image is None or next(planes, None) is not None:
            raise ImageWriteError(f"Cannot write {path}: expected exactly one image.")
        return write_image(path, image, metadata=like.metadata, overwrite=overwrite)
    if _kind(path) != "tiff":
        raise ImageWriteError(f"Cannot write {path}: a stack of planes can only be written "
                              "as TIFF (.tif, .tiff).")
    try:
        with atomic_open(path, "xb", fsync=True, replace=overwrite) as fh:
            _write_tiff_stack(fh, _checked_planes(planes, like, path), like)
    except FileExistsError:
        raise
    except OSError as exc:
        error = ImageWriteError(f"Cannot write {path}: {exc.strerror or exc}")
        error.errno = exc.errno
        raise error from exc
    return path


def _checked_planes(planes, like, path):
    count = 0
    for plane in planes:
        plane = np.asarray(plane)
        count += 1
        if count > like.n_planes:
            raise ImageWriteError(f"Cannot write {path}: more than the {like.n_planes} "
                                  "planes of the stack.")
        if plane.shape != tuple(like.plane_shape) or plane.dtype != like.dtype:
            raise ImageWriteError(
                f"Cannot write {path}: plane {count} is {plane.dtype} {plane.shape}, the "
                f"stack's planes are {like.dtype} {tuple(like.plane_shape)}."
            )
        _check_finite_pixels(plane, path, f"plane {count}")
        yield plane
    if count != like.n_planes:
        raise ImageWriteError(f"Cannot write {path}: {count} planes for a stack of "
                              f"{like.n_planes}.")


def _write_tiff_stack(fh, planes, like):
    import tifffile

    tiff = like.metadata.get("tiff", {})
    imagej = "imagej" in tiff and like.dtype.type in _IMAGEJ_DTYPES
    kwargs = _tiff_kwargs(tiff, imagej)
    settings = tiff.get("imagej", {}) if imagej else tiff.get("shaped", {})
    kwargs["metadata"] = {**settings, "axes": like.axes}
    nbytes = math.prod(like.shape) * like.dtype.itemsize
    bigtiff = not imagej and (tiff.get("bigtiff", False) or nbytes > 2**32 - 2**25)
    with tifffile.TiffWriter(fh, imagej=imagej, bigtiff=bigtiff) as writer:
        writer.write(planes, shape=tuple(like.shape), dtype=like.dtype,
                     photometric="minisblack", **kwargs)


def _encode_png16(image):
    """Encode a 16-bit (H, W, C) image, C in 2, 3, 4, as PNG with pypng."""
    height, width, channels = image.shape
    writer = png.Writer(width, height, greyscale=channels == 2, alpha=channels in (2, 4),
                        bitdepth=16)
    buffer = io.BytesIO()
    writer.write(buffer, image.reshape(height, width * channels))
    return buffer.getvalue()
