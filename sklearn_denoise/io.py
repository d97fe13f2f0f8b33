"""Read and write image files (PNG, JPEG, TIFF; DICOM, NIfTI, FITS) as the command line
does.

:func:`read_image` returns the pixels as stored, ``uint8`` or ``uint16`` (``float32`` or
``float64`` for float TIFFs), gray ``(H, W)`` or colour ``(H, W, C)``, ready for any
denoiser of the package (integers are read on their dtype's full range and come back in
the same dtype). :func:`write_image` writes such an array with its bit depth and channel
count.

The same safeguards as ``sklearn-denoise denoise``:

- the image size is read from the file's header and an image of more than ``max_pixels``
  pixels (default :data:`MAX_PIXELS`, 2**27) is refused before anything is decoded (a
  small file can declare a huge image: a decompression bomb);
- files are written atomically, through a hidden temporary file
  ``.NAME.<host>-<pid>.<hex>.tmp`` in the destination folder that replaces ``NAME`` only
  once complete, so an interrupted write never leaves a half-written image;
- an existing file, an input among others, is never replaced unless
  ``overwrite=True``;
- errors name the file and the reason: :class:`ImageFileError` (a ValueError) for a file
  that cannot be read, ValueError or TypeError for an image the format cannot store, and
  :class:`ImageWriteError` (an OSError) for a file that cannot be written.

TIFF stacks (``(n, H, W)`` planes, ImageJ hyperstacks) are refused by :func:`read_image`:
:func:`open_image` reads any file plane by plane (an :class:`ImageFile`) and
:func:`write_image_planes` writes planes back in the same layout and format, as the
command line does for stacks, in bounded memory.

Folders: :func:`is_image_file` says which files are read; :func:`check_folder_writable`
checks that files can be created in a folder, and :func:`remove_stale_temporaries` removes
the temporary files a killed process left there (never those of a running one).
:func:`to_float` and :func:`from_float` convert between stored values and the [0, 1]
intensity scale the denoisers and metrics use.

Multi-band TIFF files (5 to 16 bands, or 4 stored as gray samples without alpha) are one
``(H, W, B)`` image.

DICOM (files and series folders), NIfTI and FITS files (extras ``[dicom]``, ``[nifti]``,
``[fits]``) are read as their modality or physical values (float32, in their library's
layout, volumes whole) with a ``metadata`` dict from which :func:`write_image` writes the
denoised values back in the same format, stored dtype and header (a derived DICOM image
gets new UIDs); see :mod:`sklearn_denoise._formats` and the user guide's "Medical,
astronomy and multi-band files".
"""

from . import _io
from ._atomic import check_folder_writable, remove_stale_temporaries
from ._io import (
    MAX_PIXELS,
    SUPPORTED_EXTENSIONS,
    ImageFile,
    ImageFileError,
    ImageTooLargeError,
    ImageWriteError,
    is_image_file,
    is_series_folder,
    open_image,
    write_image_planes,
)
from ._validation import from_float, to_float

__all__ = [
    "MAX_PIXELS",
    "SUPPORTED_EXTENSIONS",
    "ImageFile",
    "ImageFileError",
    "ImageTooLargeError",
    "ImageWriteError",
    "check_folder_writable",
    "from_float",
    "is_image_file",
    "is_series_folder",
    "open_image",
    "read_image",
    "remove_stale_temporaries",
    "to_float",
    "write_image",
    "write_image_planes",
]


def read_image(path, *, max_pixels=None, metadata=False):
    """Read a PNG, JPEG or TIFF file, with its bit depth and colour mode.

    Parameters
    ----------
    path : str or path-like
        Image file; the format is taken from its extension (``.png``, ``.jpg``, ``.jpeg``,
        ``.tif``, ``.tiff``; ``.dcm``, ``.dicom``, ``.nii``, ``.nii.gz``, ``.fits``,
        ``.fit``, ``.fts``, ``.fz``, ``.fits.gz``; any case), or a DICOM file without
        extension, or a folder holding one DICOM series.
    max_pixels : int, default=None
        Largest image to decode, in pixels (height x width; for DICOM, NIfTI and FITS
        the whole file's pixels, volumes included); None means
        :data:`MAX_PIXELS` (2**27, about 134 million). The size is read from the file's
        header, so a larger image is refused before any pixel is decoded.
    metadata : bool, default=False
        Also return a dict of what :func:`write_image` can carry over: ``exif``,
        ``icc_profile`` and ``dpi`` of PNG and JPEG files, ``tiff`` (resolution,
        description, ImageJ settings) of TIFF files, when the file has them. For DICOM,
        NIfTI and FITS files: the headers and stored dtype that :func:`write_image`
        writes back (``info["format"]``), and ``info["noise_model"]`` (``"rician"`` for
        MR magnitude, ``"speckle"`` for ultrasound DICOM, else None).

    Returns
    -------
    image : ndarray of shape (H, W) or (H, W, C)
        ``uint8`` or ``uint16`` pixels as stored (``float32``/``float64`` for float
        TIFFs), ``C`` in 2 (gray + alpha), 3 (RGB), 4 (RGBA, or 4 bands:
        ``info["tiff"]["bands"]``) or 5 to 16 (multi-band TIFF). Palette and 1-bit
        images are expanded to 8-bit RGB(A) or gray; CMYK JPEGs are converted to RGB.
        DICOM, NIfTI and FITS: the modality values as float32 (float64 for float64
        data), ``(Rows, Columns)``, ``(frames or slices, Rows, Columns)``, nibabel's
        ``(X, Y[, Z[, T]])`` or astropy's ``(..., NAXIS2, NAXIS1)``.
    info : dict
        Only with ``metadata=True``.

    Raises
    ------
    ImageFileError
        A ValueError: the file does not exist, has an unsupported extension, cannot be
        opened, is corrupt or truncated, or holds something other than one 2-D gray or
        colour image (e.g. a TIFF stack).
    ImageTooLargeError
        An ImageFileError: the image has more than ``max_pixels`` pixels.
    TypeError
        If ``max_pixels`` is not an integer or ``path`` not a path.

    See Also
    --------
    write_image : Write an image atomically.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from sklearn_denoise.io import read_image, write_image
    >>> folder = Path(tempfile.mkdtemp())
    >>> counts = np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000
    >>> path = write_image(folder / "counts.png", counts)
    >>> image = read_image(path)
    >>> image.dtype, image.shape
    (dtype('uint16'), (3, 4))
    >>> bool(np.array_equal(image, counts))
    True
    >>> try:
    ...     read_image(path, max_pixels=10)
    ... except ValueError as exc:  # an ImageTooLargeError, refused from the header
    ...     print(exc)
    /...counts.png: the image is 4x3 pixels (12 pixels), more than the limit of 10 ...
    """
    return _io.read_image(path, metadata=metadata, max_pixels=max_pixels)


def write_image(path, image, *, overwrite=False, quality=95, metadata=None):
    """Write an image atomically in the format named by ``path``'s extension.

    The data go to a hidden temporary file in the destination folder, which becomes
    ``path`` only once complete: an error or an interruption leaves ``path`` as it was
    (missing, or the old file with ``overwrite=True``).

    Parameters
    ----------
    path : str or path-like
        Destination (``.png``, ``.jpg``/``.jpeg``, ``.tif``/``.tiff``, any case); its
        folder must exist.
    image : array-like of shape (H, W) or (H, W, C), C in 1, 2, 3, 4
        ``uint8`` (every format), ``uint16`` (PNG, TIFF) or ``float32``/``float64``
        (TIFF); C is 2 for gray + alpha, 3 for RGB, 4 for RGBA. The file stores this
        dtype and channel count (JPEG: 8-bit gray or RGB only). Convert a float image on
        [0, 1] for PNG or JPEG yourself, e.g. ``np.rint(np.clip(x, 0, 1) * 255)
        .astype(np.uint8)``.
    overwrite : bool, default=False
        Replace ``path`` if it exists. By default an existing file (for instance the
        image that was read) is never replaced: FileExistsError is raised, before
        anything is encoded, and the file is put in place only if ``path`` still does not
        exist then.
    quality : int, default=95
        JPEG quality, 1 to 100.
    metadata : dict, default=None
        As returned by ``read_image(path, metadata=True)``, to carry it over: ``exif``,
        ``icc_profile`` and ``dpi`` into PNG and JPEG files (not 16-bit colour PNG),
        ``tiff`` into TIFF files. The metadata of a DICOM, NIfTI or FITS file write
        ``image`` (its values, of the shape read) as that format, with its header and
        stored dtype (values rounded and clipped to it); a DICOM series goes to the folder
        ``path``. These formats cannot be written without them.

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    ValueError
        If the extension is not supported, the shape is not that of one image, or the
        format cannot store this image (a float PNG, a 16-bit or RGBA JPEG), a float
        image holds NaN or infinite values (which :func:`read_image` refuses, so the file
        could not be read back), or ``quality`` is out of range.
    TypeError
        If the dtype is not one of those above (int32, bool, ...), or ``quality`` or
        ``metadata`` has the wrong type.
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    ImageWriteError
        An OSError: the file cannot be written (missing or read-only folder, disk full).
        The ValueError and TypeError about the image are ImageWriteErrors too.

    See Also
    --------
    read_image : Read an image with the same safeguards.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from sklearn_denoise.io import read_image, write_image
    >>> folder = Path(tempfile.mkdtemp())
    >>> rgb = np.zeros((4, 6, 3), dtype=np.uint8)
    >>> write_image(folder / "black.png", rgb).name
    'black.png'
    >>> try:
    ...     write_image(folder / "black.png", rgb + 255)
    ... except FileExistsError as exc:
    ...     print(exc.strerror)
    /...black.png already exists; pass overwrite=True to replace it
    >>> write_image(folder / "black.png", rgb + 255, overwrite=True).name
    'black.png'
    >>> int(read_image(folder / "black.png").min())
    255
    >>> try:
    ...     write_image(folder / "float.png", np.zeros((4, 6)))
    ... except ValueError as exc:
    ...     print(exc)
    Cannot write /...float.png: PNG stores 8- or 16-bit integers only (use TIFF for ...).
    """
    return _io.write_image(path, image, quality=quality, metadata=metadata,
                           overwrite=overwrite)
