"""The files of medicine and astronomy: DICOM, NIfTI and FITS, through their own libraries.

:func:`read_field` returns the *modality values* of a file as float32 (float64 for
float64 data), the values the pixels stand for, and a dict of everything
:func:`write_field` needs to write a denoised array back in the same format, layout,
stored dtype and header:

- DICOM (pydicom; ``.dcm``, ``.dicom`` or a file with the ``DICM`` preamble and no
  extension; or a folder holding one series): the stored pixels times ``RescaleSlope``
  plus ``RescaleIntercept`` (CT in Hounsfield units), shape ``(Rows, Columns)``,
  ``(frames, Rows, Columns)`` for multi-frame files, ``(slices, Rows, Columns)`` for a
  series folder (slices ordered along the slice normal from ``ImagePositionPatient``, else
  by ``InstanceNumber``). Written back in the stored dtype with the same slope and
  intercept, every attribute kept except those a derived image must change: new
  ``SOPInstanceUID`` (and ``MediaStorageSOPInstanceUID``), a new ``SeriesInstanceUID``
  (one per original series and process: the slices of one series denoised by one run stay
  one series; ``info["series_uid"]`` sets another, ``info["derivation"]`` the
  description), ``ImageType`` value 1 ``DERIVED``, a ``DerivationDescription``, and
  ``SmallestImagePixelValue``/``LargestImagePixelValue`` when present; padding pixels
  (``PixelPaddingValue``) are filled for the denoisers as blanks are
  (:func:`_fill_blanks`) and written back as they were. Compressed transfer
  syntaxes are read where pydicom can decode them and written uncompressed (explicit VR
  little endian).
- NIfTI (nibabel; ``.nii``, ``.nii.gz``): the scaled data (``scl_slope``/``scl_inter``
  applied), in nibabel's layout ``(X, Y[, Z[, T]])``; written with the same shape, on-disk
  dtype, affine, header and scaling.
- NaN voxels of float NIfTI volumes (outside a mask) are filled for denoising
  (:func:`_fill_blanks`) and written back as NaN.
- FITS (astropy; ``.fits``, ``.fit``, ``.fts``, fpack's ``.fz``, and gzipped files,
  ``.fits.gz``, read and written gzipped): the first HDU holding an
  image (the primary HDU, an image extension or a tile-compressed image, decompressed),
  ``BSCALE``/``BZERO`` applied, in astropy's layout (``(..., NAXIS2, NAXIS1)``); written
  with every HDU of the file, the image's header and ``BITPIX`` kept (a tile-compressed
  image as an uncompressed image extension in its place). Blank pixels (NaN, or
  ``BLANK`` of integer images) are filled for denoising (:func:`_fill_blanks`) and
  written back blank.

The planes of a volume (``Z``/``T`` of NIfTI, frames and slices of DICOM, leading axes of
FITS) are denoised one by one (there is no joint 3-D denoiser yet): :class:`FieldFile`
gives them as 2-D images.

Files are untrusted: the size is read from the header (DICOM ``Rows``/``Columns``/
``NumberOfFrames``, the NIfTI header's ``dim``, FITS ``NAXISn``) and a file whose pixels
(all of them, planes and volumes included: these formats are read whole) exceed
``max_pixels`` is refused before any pixel is decoded; nothing is unpickled. Unsupported
variants (colour DICOM, float pixel data, FITS random groups or several tile-compressed
images, complex
or RGB NIfTI) raise :class:`~sklearn_denoise._io.ImageFileError` naming the reason.
"""

import copy
import gzip
import io
import math
import os
import secrets
from pathlib import Path

import numpy as np

from ._file_errors import ImageFileError, ImageFormatError, ImageTooLargeError, ImageWriteError

__all__ = [
    "FIELD_EXTENSIONS",
    "FieldFile",
    "field_kind",
    "read_field",
    "write_field",
]

#: Smallest side of the blank-free square the noise of a plane with blanks is read on.
_UNMASKED_MIN_SIDE = 32
#: Pixels over which the valid pixels are smoothed before blanks are filled from them,
#: and the scale below which a blank-free square's detail (its noise) fills them.
_EXTENSION_SMOOTHING = 2.0
_DETAIL_SCALE = 2.0

_DICOM = (".dcm", ".dicom")
_NIFTI = (".nii", ".nii.gz")
_FITS = (".fits", ".fit", ".fts", ".fz", ".fits.gz", ".fit.gz", ".fts.gz")
FIELD_EXTENSIONS = _DICOM + _NIFTI + _FITS
_LIBRARIES = {"dicom": ("pydicom", "dicom"), "nifti": ("nibabel", "nifti"),
              "fits": ("astropy", "fits")}
# one new SeriesInstanceUID per original series and process (see the module docstring)
_RUN_TOKEN = secrets.token_hex(16)


def _errors():
    return ImageFileError, ImageTooLargeError, ImageFormatError


def _has_dicom_preamble(path):
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def field_kind(path, *, sniff=True):
    """``"dicom"``, ``"nifti"``, ``"fits"`` or None, from ``path``'s name (any case); a
    folder is ``"dicom"`` when it holds DICOM files, and with ``sniff`` a regular file
    without extension is ``"dicom"`` when it has the ``DICM`` preamble."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(_NIFTI):
        return "nifti"
    if name.endswith(_DICOM):
        return "dicom"
    if name.endswith(_FITS):
        return "fits"
    if sniff and path.is_dir():
        return "dicom" if dicom_series_files(path) else None
    if sniff and not path.suffix and path.is_file() and _has_dicom_preamble(path):
        return "dicom"
    return None


def _library(kind, path):
    """Import the library of a format, or say which extra installs it (an
    ImageFileError: the command line reports it for that file and goes on)."""
    module, extra = _LIBRARIES[kind]
    try:
        if kind == "fits":
            from astropy.io import fits

            return fits
        return __import__(module)
    except ImportError as exc:
        raise _errors()[0](
            f"{path}: reading and writing {kind.upper()} files needs {module}: pip install "
            f"'sklearn-denoise[{extra}]' (or [formats] for every field format)."
        ) from exc


def _check_total(shape, max_pixels, path, what):
    """Refuse, from the header, data of more than ``max_pixels`` pixels in all."""
    _, too_large, _ = _errors()
    count = math.prod(int(n) for n in shape)
    if count > max_pixels:
        raise too_large(
            f"{path}: the {what} is {' x '.join(str(int(n)) for n in shape)} ({count:,} "
            f"pixels), more than the limit of {max_pixels:,} (max_pixels); it is not decoded "
            "(it may be a decompression bomb). Raise max_pixels (command line: --max-pixels) "
            "if you trust the file."
        )


def _physical_dtype(stored):
    return np.float64 if np.dtype(stored) == np.float64 else np.float32


def _to_stored(values, dtype, slope, intercept, lo=None, hi=None):
    """Modality values back to stored values: ``(values - intercept) / slope``, rounded and
    clipped for integer dtypes."""
    dtype = np.dtype(dtype)
    raw = (np.asarray(values, dtype=np.float64) - intercept) / slope
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        lo = info.min if lo is None else lo
        hi = info.max if hi is None else hi
        return np.clip(np.rint(raw), lo, hi).astype(dtype)
    return raw.astype(dtype)


# ------------------------------------------------------------------------------------ DICOM
def dicom_series_files(folder):
    try:
        entries = sorted(p for p in Path(folder).iterdir() if p.is_file())
    except OSError:
        return []
    return [p for p in entries if p.name.lower().endswith(_DICOM)
            or (not p.suffix and _has_dicom_preamble(p))]


def _read_dicom_header(path, max_pixels, pydicom):
    file_error, _, _ = _errors()
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as exc:  # InvalidDicomError and the many errors of corrupt files
        raise file_error(f"{path}: not a readable DICOM file ({type(exc).__name__}: "
                         f"{exc}).") from exc
    missing = [k for k in ("Rows", "Columns", "BitsAllocated", "PixelRepresentation")
               if k not in ds]
    if missing:
        raise file_error(f"{path}: the DICOM file holds no image ({', '.join(missing)} "
                         "missing).")
    samples = int(ds.get("SamplesPerPixel", 1))
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if samples != 1 or not photometric.startswith("MONOCHROME"):
        raise file_error(
            f"{path}: unsupported DICOM image: {samples} sample(s) per pixel, "
            f"{photometric}; only single-sample grayscale (MONOCHROME1/2) images, such as "
            "CT and MR, are supported."
        )
    try:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        rows, columns = int(ds.Rows), int(ds.Columns)
        bits = int(ds.BitsAllocated)
    except (TypeError, ValueError) as exc:
        raise file_error(f"{path}: corrupt DICOM header ({exc}).") from exc
    # a segmentation's values are labels or occupancies, not intensities with noise; and
    # 1-bit pixel data would not survive being written back as bytes
    if str(ds.get("Modality", "")).upper() == "SEG" or bits == 1:
        raise file_error(
            f"{path}: a DICOM segmentation or binary mask (Modality "
            f"{ds.get('Modality', 'unknown')}, {bits} bit(s) per pixel) holds labels, not an "
            "image to denoise."
        )
    shape = (frames, rows, columns) if frames > 1 else (rows, columns)
    if min(shape) < 1:
        raise file_error(f"{path}: the DICOM image is empty ({shape}).")
    _check_total(shape, max_pixels, path, "DICOM image")
    return ds, shape


def _read_dicom_file(path, max_pixels):
    pydicom = _library("dicom", path)
    file_error, _, _ = _errors()
    header, shape = _read_dicom_header(path, max_pixels, pydicom)
    try:
        ds = pydicom.dcmread(path)
        stored = ds.pixel_array
    except Exception as exc:
        syntax = getattr(getattr(header, "file_meta", None), "TransferSyntaxUID", None)
        name = getattr(syntax, "name", syntax)
        raise file_error(
            f"{path}: cannot decode the DICOM pixel data (transfer syntax {name}): "
            f"{type(exc).__name__}: {exc}. The [dicom] extra decodes RLE, JPEG baseline, "
            "JPEG 2000 (Pillow) and JPEG-LS (pyjpegls); 12-bit and lossless JPEG need "
            "pylibjpeg-libjpeg (GPL-3, not installed by the extra: pip install pylibjpeg "
            "pylibjpeg-libjpeg)."
        ) from exc
    if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds or stored.dtype.kind == "f":
        raise file_error(f"{path}: float DICOM pixel data is not supported.")
    if tuple(stored.shape) != shape:
        raise file_error(f"{path}: the DICOM pixel data is {stored.shape}, the header says "
                         f"{shape}.")
    slope, intercept = _dicom_rescale(ds)
    values = stored.astype(np.float32) * np.float32(slope) + np.float32(intercept)
    # padding (outside a CT's reconstruction circle) holds no data: filled as blanks
    padding = _padding_mask(ds, stored)
    if padding is not None:
        _fill_blanks(values, path, "DICOM image", padding)
    return values, ds, stored.dtype.newbyteorder("=")


def _padding_mask(ds, stored):
    """Where ``stored`` holds padding (``PixelPaddingValue``, up to
    ``PixelPaddingRangeLimit``), or None when the dataset declares none."""
    padding = ds.get("PixelPaddingValue")
    if not isinstance(padding, int):
        return None
    limit = ds.get("PixelPaddingRangeLimit", padding)
    low, high = sorted((padding, limit if isinstance(limit, int) else padding))
    return (stored >= low) & (stored <= high)


def _dicom_rescale(ds):
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    return slope, intercept


def _slice_position(ds):
    """Where a slice lies along its normal (from the patient position and orientation),
    else its instance number."""
    position = ds.get("ImagePositionPatient")
    orientation = ds.get("ImageOrientationPatient")
    if position is not None and orientation is not None and len(orientation) == 6:
        row, col = np.asarray(orientation[:3], float), np.asarray(orientation[3:], float)
        return (0, float(np.dot(np.cross(row, col), np.asarray(position, float))))
    return (1, float(ds.get("InstanceNumber", 0) or 0))


def _read_dicom_series(folder, max_pixels):
    pydicom = _library("dicom", folder)
    file_error, _, _ = _errors()
    files = dicom_series_files(folder)
    if not files:
        raise file_error(f"{folder}: the folder holds no DICOM file.")
    headers = []
    for path in files:
        ds, shape = _read_dicom_header(path, max_pixels, pydicom)
        headers.append((path, ds, shape))
    series = {str(ds.get("SeriesInstanceUID", "")) for _, ds, _ in headers}
    if len(series) != 1:
        raise file_error(f"{folder}: the folder holds {len(series)} DICOM series; a series "
                         "folder must hold exactly one.")
    shapes = {shape for _, _, shape in headers}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise file_error(f"{folder}: the slices of a series must be single-frame images of "
                         f"one size, got {sorted(shapes)}.")
    _check_total((len(files), *next(iter(shapes))), max_pixels, folder, "DICOM series")
    headers.sort(key=lambda item: (_slice_position(item[1]), item[0].name))
    planes, datasets, names, dtype = [], [], [], None
    for path, _, _ in headers:
        values, ds, stored_dtype = _read_dicom_file(path, max_pixels)
        planes.append(values)
        datasets.append(ds)
        names.append(path.name)
        dtype = stored_dtype
    info = {"format": "dicom", "datasets": datasets, "file_names": names,
            "stored_dtype": np.dtype(dtype), "series": True,
            "noise_model": _dicom_noise_model(datasets[0])}
    return np.stack(planes), info


def _dicom_noise_model(ds):
    """The noise of a modality when it is known: Rician for MR magnitude images, speckle
    for ultrasound; None otherwise."""
    modality = str(ds.get("Modality", "")).upper()
    if modality == "MR":
        image_type = [str(v).upper() for v in ds.get("ImageType", [])]
        if not any(v in ("P", "PHASE", "R", "REAL", "I", "IMAGINARY") for v in image_type):
            return "rician"
    if modality == "US":
        return "speckle"
    return None


def _derived_uids(ds, series_uid=None):
    from pydicom.uid import generate_uid

    if series_uid is None:
        series = str(ds.get("SeriesInstanceUID", ""))
        series_uid = generate_uid(entropy_srcs=[series, _RUN_TOKEN])
    return generate_uid(), series_uid


def _derive_dicom(ds, stored, pydicom, description, series_uid=None):
    """A copy of ``ds`` holding ``stored`` as a derived, uncompressed image."""
    from pydicom.uid import ExplicitVRLittleEndian

    out = copy.deepcopy(ds)
    sop, series = _derived_uids(ds, series_uid)
    out.SOPInstanceUID = sop
    out.SeriesInstanceUID = series
    if getattr(out, "file_meta", None) is None:
        out.file_meta = pydicom.dataset.FileMetaDataset()
    out.file_meta.MediaStorageSOPInstanceUID = sop
    if "SOPClassUID" in out:
        out.file_meta.MediaStorageSOPClassUID = out.SOPClassUID
    image_type = [str(v) for v in out.get("ImageType", [])] or ["DERIVED", "SECONDARY"]
    image_type[0] = "DERIVED"
    out.ImageType = image_type
    out.DerivationDescription = description
    syntax = getattr(out.file_meta, "TransferSyntaxUID", None)
    if syntax is None or syntax.is_compressed or not syntax.is_little_endian:
        out.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        implicit = False
    else:
        implicit = bool(syntax.is_implicit_VR)
    stored = np.ascontiguousarray(stored.astype(stored.dtype.newbyteorder("<")))
    out.PixelData = stored.tobytes()
    out["PixelData"].VR = "OB" if stored.dtype.itemsize == 1 and not implicit else "OW"
    out["PixelData"].is_undefined_length = False
    for key in ("SmallestImagePixelValue", "LargestImagePixelValue"):
        if key in out:
            value = int(stored.min() if key.startswith("Smallest") else stored.max())
            out[key].value = value
    return out, implicit


def _write_dicom_dataset(fh, ds, implicit):
    import pydicom

    pydicom.dcmwrite(fh, ds, implicit_vr=implicit, little_endian=True,
                     enforce_file_format=True)


def _stored_range(ds, dtype):
    bits = int(ds.get("BitsStored", np.dtype(dtype).itemsize * 8))
    if np.dtype(dtype).kind == "i":
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def _dicom_stored(values, ds, dtype):
    """Stored pixels of ``values``; pixels that were padding (``PixelPaddingValue``, up to
    ``PixelPaddingRangeLimit``: outside a CT's reconstruction circle) stay padding."""
    slope, intercept = _dicom_rescale(ds)
    lo, hi = _stored_range(ds, dtype)
    stored = _to_stored(values, dtype, slope, intercept, lo, hi)
    if ds.get("PixelPaddingValue") is not None:
        original = ds.pixel_array.reshape(stored.shape)
        mask = _padding_mask(ds, original)
        if mask is not None:
            stored[mask] = original[mask]
    return stored


# ------------------------------------------------------------------------------------ NIfTI
def _read_nifti(path, max_pixels):
    nib = _library("nifti", path)
    file_error, _, _ = _errors()
    try:
        img = nib.load(str(path))  # the header only: the data are read below
    except Exception as exc:
        raise file_error(f"{path}: not a readable NIfTI file ({type(exc).__name__}: "
                         f"{exc}).") from exc
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise file_error(f"{path}: not a NIfTI-1 or NIfTI-2 image ({type(img).__name__}).")
    shape = tuple(int(n) for n in img.shape)
    dtype = img.get_data_dtype()
    if len(shape) not in (2, 3, 4) or min(shape) < 1:
        raise file_error(f"{path}: unsupported NIfTI shape {shape}: expected a 2-D image, "
                         "a 3-D volume or a 4-D series of volumes.")
    if dtype.names is not None or dtype.kind not in "uif":
        raise file_error(f"{path}: unsupported NIfTI data type {dtype} (RGB, complex and "
                         "structured data are not supported).")
    _check_total(shape, max_pixels, path, "NIfTI volume")
    try:
        values = np.asarray(img.dataobj, dtype=np.float64).astype(_physical_dtype(dtype))
    except Exception as exc:
        raise file_error(f"{path}: cannot read the NIfTI data: the file is corrupt or "
                         f"truncated ({type(exc).__name__}: {exc}).") from exc
    # NaN outside a mask (resampled, registered or skull-stripped volumes): filled for
    # the denoisers and written back, as FITS blanks are
    mask = _fill_blanks(values, path, "NIfTI volume", plane_axes=(0, 1))
    slope, inter = img.dataobj.slope, img.dataobj.inter
    info = {"format": "nifti", "header": img.header.copy(), "affine": img.affine.copy(),
            "stored_dtype": np.dtype(dtype), "slope": float(slope), "inter": float(inter),
            "image_class": type(img).__name__, "blank_mask": mask}
    return values, info


def _fill_blanks(values, path, what, mask=None, plane_axes=(-2, -1)):
    """Fill the non-finite (or ``mask``ed) pixels of ``values`` in place; the mask, or
    None when there are none.

    A filled region carries no noise, and the denoisers read the noise on the whole
    image: with the median alone in a fifth of the columns, white noise of sigma 10 read
    as 5.6, and with half of them blank as none at all (the image was left as it was;
    ``benchmarks/bench_blank_pixels.py``). So each plane (axes ``plane_axes``) is filled
    with its valid pixels carried out from the border (:func:`_extended`) plus the fine
    detail of its largest blank-free square, noise and all (:func:`_fine_detail`),
    mirrored over the blank region: the fill shows the noise the image has, correlated
    or white, at its level. Planes without such a square take the detail of the plane
    that has the largest. Deterministic: every reading of the file gives the same
    values. The blanks are written back as they were.
    """
    file_error, _, _ = _errors()
    if mask is None:
        mask = ~np.isfinite(values)
    if not mask.any():
        return None
    if mask.all():
        raise file_error(f"{path}: every pixel of the {what} is blank (NaN, BLANK or "
                         "padding).")
    values[mask] = np.median(values[~mask])
    # planes indexed with integers: views into ``values`` whatever its memory order
    moved_values = np.moveaxis(values, plane_axes, (-2, -1))
    moved_masks = np.moveaxis(mask, plane_axes, (-2, -1))
    blank_planes = [index for index in np.ndindex(*moved_masks.shape[:-2])
                    if moved_masks[index].any()]
    windows = {index: _unmasked_window(moved_masks[index]) for index in blank_planes}
    sides = {index: w[0].stop - w[0].start for index, w in windows.items() if w is not None}
    if not sides:
        return mask
    largest = max(sides, key=sides.get)
    details = {}  # planes without a square of their own share the largest one's
    for index in blank_planes:
        source = index if windows[index] is not None else largest
        plane, blank = moved_values[index], moved_masks[index]
        if source not in details:
            details[source] = _fine_detail(moved_values[source][windows[source]],
                                           blank.shape)
        detail = details[source]
        if not blank.all():
            plane[blank] = _extended(plane, blank)
        plane[blank] += detail[blank].astype(values.dtype)
    return mask


def _fine_detail(window, shape):
    """The fine detail of ``window`` (itself minus its Gaussian smoothing over
    :data:`_DETAIL_SCALE` pixels: the noise, correlated or not, and what edges and
    texture leave after clipping), mirrored over a plane of ``shape``."""
    from scipy.ndimage import gaussian_filter

    window = np.asarray(window, np.float64)
    detail = window - gaussian_filter(window, _DETAIL_SCALE, mode="mirror")
    # edges and texture are sparse and large next to the noise: clipped at 3 robust
    # standard deviations (the noise loses 0.3 % of its values)
    spread = 1.4826 * np.median(np.abs(detail - np.median(detail)))
    detail = np.clip(detail, -3 * spread, 3 * spread)
    return np.pad(detail, ((0, shape[0] - detail.shape[0]), (0, shape[1] - detail.shape[1])),
                  mode="symmetric")


def _extended(plane, blank):
    """Values for the ``blank`` pixels of a plane: the plane's valid pixels, smoothed over
    a few pixels, carried out to each blank pixel from the nearest valid one (no edge
    at the blanks' border for the denoisers to keep)."""
    from scipy.ndimage import distance_transform_edt, gaussian_filter

    valid = ~blank
    weights = gaussian_filter(valid.astype(np.float64), _EXTENSION_SMOOTHING)
    smooth = gaussian_filter(np.where(valid, plane, 0.0).astype(np.float64),
                             _EXTENSION_SMOOTHING) / np.maximum(weights, 1e-12)
    rows, cols = distance_transform_edt(blank, return_distances=False, return_indices=True)
    return smooth[rows[blank], cols[blank]].astype(plane.dtype)


def _unmasked_window(mask, min_side=_UNMASKED_MIN_SIDE):
    """The largest square of an (H, W) plane holding no pixel of ``mask``, as a tuple of
    two slices, or None when it would be smaller than ``min_side``."""
    from scipy.ndimage import distance_transform_cdt

    # chessboard distance of each pixel to the nearest masked pixel or the plane's edge:
    # a pixel at distance d is the centre of an unmasked square of side 2d - 1
    distance = distance_transform_cdt(np.pad(~mask, 1), metric="chessboard")[1:-1, 1:-1]
    row, col = np.unravel_index(int(np.argmax(distance)), distance.shape)
    half = int(distance[row, col]) - 1
    if 2 * half + 1 < min_side:
        return None
    return slice(row - half, row + half + 1), slice(col - half, col + half + 1)


def _nifti_bytes(path, values, info):
    nib = _library("nifti", path)
    dtype = info["stored_dtype"]
    stored = _to_stored(values, dtype, info["slope"], info["inter"])
    if info.get("blank_mask") is not None:
        stored[info["blank_mask"]] = np.nan  # only float volumes hold blanks
    header = info["header"].copy()
    header.set_data_dtype(dtype)
    cls = getattr(nib, info.get("image_class", "Nifti1Image"))
    img = cls(stored, info["affine"], header)
    # a new image from an array resets the scaling; the stored values use the original one
    img.header.set_slope_inter(info["slope"], info["inter"])
    data = img.to_bytes()
    if _gzipped(path):
        data = gzip.compress(data, mtime=0)
    return data


# ------------------------------------------------------------------------------------- FITS
def _fits_image_index(hdul, path, fits):
    file_error, _, _ = _errors()
    for index, hdu in enumerate(hdul):
        if isinstance(hdu, fits.CompImageHDU):
            # its size from the binary table's ZNAXISn, without decompressing a tile
            others = [h for h in hdul[index + 1:] if isinstance(h, fits.CompImageHDU)]
            if others:
                raise file_error(f"{path}: FITS files holding more than one tile-compressed "
                                 "image are not supported (decompress them first, e.g. "
                                 "with astropy or funpack).")
            return index
        if isinstance(hdu, fits.GroupsHDU):
            raise file_error(f"{path}: FITS random groups are not supported.")
        if isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU)) and hdu.header.get("NAXIS", 0):
            return index
    raise file_error(f"{path}: the FITS file holds no image (only empty or table HDUs).")


def _read_fits(path, max_pixels):
    fits = _library("fits", path)
    file_error, _, _ = _errors()
    try:
        hdul = fits.open(path, memmap=False, lazy_load_hdus=True,
                         do_not_scale_image_data=True)
    except Exception as exc:
        raise file_error(f"{path}: not a readable FITS file ({type(exc).__name__}: "
                         f"{exc}).") from exc
    with hdul:
        try:
            index = _fits_image_index(hdul, path, fits)
            compressed = isinstance(hdul[index], fits.CompImageHDU)
            if compressed:  # the table's header: the image's would be built from it
                table = hdul[index]._bintable.header
                naxis = int(table["ZNAXIS"])
                shape = tuple(int(table[f"ZNAXIS{k}"]) for k in range(naxis, 0, -1))
                header = None
            else:
                header = hdul[index].header
                naxis = int(header["NAXIS"])
                shape = tuple(int(header[f"NAXIS{k}"]) for k in range(naxis, 0, -1))
        except (KeyError, ValueError, TypeError) as exc:
            if isinstance(exc, file_error):
                raise
            raise file_error(f"{path}: corrupt FITS header ({exc}).") from exc
        if not 2 <= naxis <= 4 or min(shape) < 1:
            raise file_error(f"{path}: unsupported FITS image shape {shape}: expected a 2-D "
                             "image or a cube of 2-D planes.")
        _check_total(shape, max_pixels, path, "FITS image")  # from the header
        gzipped = _gzipped(path)
        if gzipped:
            _check_gzipped_fits_size(hdul, path, max_pixels)
        try:
            if compressed:
                header = hdul[index].header
            raw = np.asarray(hdul[index].data)
            where = hdul.fileinfo(index)
            # the bytes around the image's data, kept as is
            with (gzip.open if gzipped else open)(path, "rb") as fh:
                # (around the whole HDU for a compressed image, which is replaced)
                prefix = fh.read(where["hdrLoc" if compressed else "datLoc"])
                fh.seek(where["datLoc"] + where["datSpan"])
                suffix = fh.read()
            headers = [h.header.copy() for h in hdul]
            kinds = [type(h).__name__ for h in hdul]
            others = [None if i == index else h.data for i, h in enumerate(hdul)]
        except Exception as exc:
            raise file_error(f"{path}: cannot read the FITS data: the file is corrupt or "
                             f"truncated ({type(exc).__name__}: {exc}).") from exc
    if raw.shape != shape:
        raise file_error(f"{path}: the FITS data are {raw.shape}, the header says {shape}.")
    bscale = float(header.get("BSCALE", 1.0))
    bzero = float(header.get("BZERO", 0.0))
    stored = raw.dtype.newbyteorder("=")
    values = (raw.astype(np.float64) * bscale + bzero)
    blank = header.get("BLANK") if raw.dtype.kind in "ui" else None
    mask = ~np.isfinite(values) if raw.dtype.kind == "f" else (
        raw == blank if blank is not None else np.zeros(raw.shape, bool))
    values = values.astype(_physical_dtype(stored))
    mask = _fill_blanks(values, path, "FITS image", mask)
    info = {"format": "fits", "index": index, "headers": headers, "kinds": kinds,
            "others": others, "stored_dtype": np.dtype(stored), "bscale": bscale,
            "bzero": bzero, "blank_mask": mask, "bytes": (prefix, suffix),
            "image_hdus": [i for i, (kind, head) in enumerate(zip(kinds, headers))
                           if kind in ("PrimaryHDU", "ImageHDU", "CompImageHDU")
                           and int(head.get("NAXIS", 0) or 0) > 0],
            "compressed": compressed}
    return values, info


def _gzipped(path):
    return str(path).lower().endswith(".gz")


def _check_gzipped_fits_size(hdul, path, max_pixels):
    """Refuse, from its headers, a gzipped FITS file whose HDUs, decompressed, take more
    than ``max_pixels`` float64 pixels would (tables and other images are read whole and
    written back; on disk a gzipped file can be a tiny fraction of that)."""
    file_error, too_large, _ = _errors()
    try:
        last = hdul.fileinfo(len(hdul) - 1)  # every header read, no data decompressed
        size = last["datLoc"] + last["datSpan"]
    except Exception as exc:
        raise file_error(f"{path}: corrupt FITS file ({type(exc).__name__}: {exc}).") from exc
    if size > 8 * max_pixels:
        raise too_large(
            f"{path}: the gzipped FITS file holds {size:,} bytes once decompressed, more "
            f"than {max_pixels:,} float64 pixels (max_pixels) take; it is not decoded (it "
            "may be a decompression bomb). Raise max_pixels (command line: --max-pixels) if "
            "you trust the file."
        )


def _fits_bytes(path, values, info):
    data = _plain_fits_bytes(path, values, info)
    return gzip.compress(data, mtime=0) if _gzipped(path) else data


def _plain_fits_bytes(path, values, info):
    fits = _library("fits", path)
    index, dtype = info["index"], info["stored_dtype"]
    header = info["headers"][index].copy()
    mask = info.get("blank_mask")
    if dtype.kind in "ui":
        stored = _to_stored(values, dtype, info["bscale"], info["bzero"])
        if mask is not None and "BLANK" in header:
            stored[mask] = header["BLANK"]
    else:
        stored = _to_stored(values, dtype, info["bscale"], info["bzero"])
        if mask is not None:
            stored[mask] = np.nan
    if info.get("compressed"):
        return _uncompressed_fits_bytes(fits, stored, header, info)
    if "CHECKSUM" not in header and "DATASUM" not in header:
        # every header and HDU byte for byte; the image's data block replaced
        prefix, suffix = info["bytes"]
        data = np.ascontiguousarray(stored.astype(stored.dtype.newbyteorder(">")))
        data = data.tobytes()
        return prefix + data + bytes(-len(data) % 2880) + suffix
    hdus = []  # checksums must be computed again: astropy writes the whole file
    for i, (kind, head) in enumerate(zip(info["kinds"], info["headers"])):
        data = stored if i == index else info["others"][i]
        cls = getattr(fits, kind)
        if i == index or kind in ("PrimaryHDU", "ImageHDU"):
            hdu = cls(data=data, header=head.copy(), do_not_scale_image_data=True)
            # the constructor drops BSCALE and BZERO, and sets BITPIX 8 without data
            hdu.header = head.copy()
        else:
            hdu = cls(data=data, header=head.copy())
        hdus.append(hdu)
    buffer = io.BytesIO()
    checksum = "CHECKSUM" in header or "DATASUM" in header
    fits.HDUList(hdus).writeto(buffer, checksum=checksum, output_verify="silentfix")
    return buffer.getvalue()


def _uncompressed_fits_bytes(fits, stored, header, info):
    """The file of a tile-compressed image written uncompressed: an image extension with
    the image's header cards in place of the compressed table, every other byte of the
    file as it was."""
    header = header.copy()
    for card in ("SIMPLE", "EXTEND", "XTENSION", "PCOUNT", "GCOUNT"):
        header.remove(card, ignore_missing=True, remove_all=True)
    header.insert(0, ("XTENSION", "IMAGE", "image extension"))
    header.insert(f"NAXIS{header['NAXIS']}", ("PCOUNT", 0), after=True)
    header.insert("PCOUNT", ("GCOUNT", 1), after=True)
    hdu = fits.ImageHDU(data=stored, header=header, do_not_scale_image_data=True)
    hdu.header = header  # the constructor drops BSCALE and BZERO
    buffer = io.BytesIO()
    checksum = "CHECKSUM" in header or "DATASUM" in header
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buffer, checksum=checksum,
                                                   output_verify="silentfix")
    written = buffer.getvalue()
    with fits.open(io.BytesIO(written)) as back:  # where the extension starts
        start = back.fileinfo(1)["hdrLoc"]
    prefix, suffix = info["bytes"]
    return prefix + written[start:] + suffix


# ---------------------------------------------------------------------------- entry points
def read_field(path, max_pixels):
    """``(values, info)`` of a DICOM file or series folder, a NIfTI or a FITS file.

    ``values`` are the modality (physical) values as float32 (float64 for float64 data),
    in the library's layout (see the module docstring); ``info`` holds the format
    (``info["format"]``), the stored dtype and header(s) that :func:`write_field` writes
    back, and ``info["noise_model"]`` when the modality says which noise the image has
    (``"rician"`` for MR magnitude, ``"speckle"`` for ultrasound DICOM).
    """
    file_error, _, _ = _errors()
    path = Path(path)
    kind = field_kind(path)
    if kind is None:
        raise file_error(f"{path}: not a DICOM, NIfTI or FITS file.")
    if not path.exists():
        raise file_error(f"{path}: no such file.")
    if kind == "dicom" and path.is_dir():
        return _read_dicom_series(path, max_pixels)
    if not path.is_file():
        raise file_error(f"{path}: not a regular file.")
    if kind == "dicom":
        values, ds, dtype = _read_dicom_file(path, max_pixels)
        return values, {"format": "dicom", "datasets": [ds], "file_names": [path.name],
                        "stored_dtype": np.dtype(dtype), "series": False,
                        "noise_model": _dicom_noise_model(ds)}
    if kind == "nifti":
        return _read_nifti(path, max_pixels)
    return _read_fits(path, max_pixels)


def check_field_values(path, values, info):
    """The checks of :func:`write_field` that come before anything is written."""
    _, _, format_error = _errors()
    if not isinstance(info, dict) or info.get("format") not in _LIBRARIES:
        raise format_error(
            f"Cannot write {path}: DICOM, NIfTI and FITS files are written from the "
            "metadata of a file read with read_image(path, metadata=True) (their header "
            "cannot be made up)."
        )
    kind = field_kind(path, sniff=False)
    if kind is None and info["format"] == "dicom" and (info.get("series") or not path.suffix):
        kind = "dicom"  # a series folder, or a file named as scanners do (no extension)
    if kind != info["format"]:
        raise format_error(f"Cannot write {path}: the metadata are of a "
                           f"{info['format'].upper()} file; write it as one (same "
                           "extension as the file read).")
    values = np.asarray(values)
    expected = _expected_shape(info)
    if values.shape != expected:
        raise format_error(f"Cannot write {path}: the image is {values.shape}, the "
                           f"{info['format'].upper()} file read was {expected}.")
    if values.dtype.kind not in "uif":
        raise TypeError(f"Cannot write {path}: unsupported dtype {values.dtype}.")
    if not np.isfinite(values).all():
        raise ValueError(f"Cannot write {path}: the image contains NaN or infinite values.")
    return values


def _expected_shape(info):
    if info["format"] == "dicom":
        datasets = info["datasets"]
        rows, cols = int(datasets[0].Rows), int(datasets[0].Columns)
        frames = int(datasets[0].get("NumberOfFrames", 1) or 1)
        if info.get("series"):
            return (len(datasets), rows, cols)
        return (frames, rows, cols) if frames > 1 else (rows, cols)
    if info["format"] == "nifti":
        return tuple(int(n) for n in info["header"].get_data_shape())
    header = info["headers"][info["index"]]
    return tuple(int(header[f"NAXIS{k}"]) for k in range(int(header["NAXIS"]), 0, -1))


def _description(info):
    from . import __version__

    return (info.get("derivation") or
            f"Denoised with sklearn-denoise {__version__}")[:1024]


def encode_field(path, values, info):
    """The bytes of the file (one file; for a DICOM series, one per slice)."""
    kind = info["format"]
    if kind == "nifti":
        return [(None, _nifti_bytes(path, values, info))]
    if kind == "fits":
        return [(None, _fits_bytes(path, values, info))]
    pydicom = _library("dicom", path)
    dtype = info["stored_dtype"]
    planes = values if info.get("series") else [values]
    out = []
    for ds, name, plane in zip(info["datasets"], info["file_names"], planes):
        stored = _dicom_stored(plane, ds, dtype)
        derived, implicit = _derive_dicom(ds, stored, pydicom, _description(info),
                                          info.get("series_uid"))
        buffer = io.BytesIO()
        _write_dicom_dataset(buffer, derived, implicit)
        out.append((name, buffer.getvalue()))
    return out


def write_field(path, values, info, *, overwrite):
    """Write ``values`` atomically as the file ``info`` was read from (see
    :func:`read_field`); a DICOM series goes to the folder ``path``, one file per slice
    under the names read, put in place once all are written."""
    from ._atomic import atomic_open

    path = Path(path)
    values = check_field_values(path, values, info)
    if not overwrite and os.path.lexists(path):
        import errno

        raise FileExistsError(errno.EEXIST, f"{path} already exists; pass overwrite=True "
                              "to replace it", str(path))
    files = encode_field(path, values, info)
    if not info.get("series"):
        with atomic_open(path, "xb", fsync=True, replace=overwrite) as fh:
            fh.write(files[0][1])
        return path
    return _write_series_folder(path, files, overwrite)


def _write_series_folder(path, files, overwrite):
    """The slices into a hidden folder beside ``path``, renamed to ``path`` once complete
    (an existing folder ``path`` is replaced only with ``overwrite``)."""
    import errno
    import shutil

    from ._atomic import host_id

    staging = path.parent / f".{path.name}.{host_id()}-{os.getpid()}.{secrets.token_hex(6)}.tmp"
    staging.mkdir()
    try:
        for name, data in files:
            with open(staging / name, "xb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        if os.path.lexists(path):
            if not overwrite:
                raise FileExistsError(errno.EEXIST, f"{path} already exists", str(path))
            old = staging.with_name(staging.name + ".old")
            os.rename(path, old)
            os.rename(staging, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path


class FieldFile:
    """A DICOM, NIfTI or FITS file read with :func:`read_field`, as 2-D planes.

    The same interface as :class:`~sklearn_denoise._io.ImageFile`: ``plane(i)`` is one
    (H, W) image of modality values (float32), ``planes()`` iterates over all of them
    (NIfTI: ``[:, :, z, t]`` with z fastest; DICOM and FITS: along the leading axes), and
    :func:`~sklearn_denoise._io.write_image_planes` writes them back with the metadata.
    """

    def __init__(self, path, values, info):
        self.path = Path(path)
        self.metadata = info
        self._values = values
        self.shape = values.shape
        self.dtype = values.dtype
        self._nifti = info["format"] == "nifti"
        self.plane_shape = values.shape[:2] if self._nifti else values.shape[-2:]
        self.n_planes = math.prod(values.shape[2:] if self._nifti else values.shape[:-2])
        self.is_stack = self.n_planes > 1 or values.ndim > 2
        self.axes = _AXES[info["format"]][values.ndim] if self.is_stack else None

    def _index(self, index):
        extra = self.shape[2:] if self._nifti else self.shape[:-2]
        where = np.unravel_index(index, extra, order="F" if self._nifti else "C")
        return (slice(None), slice(None), *where) if self._nifti else (*where, ...)

    def plane(self, index):
        if not 0 <= index < self.n_planes:
            raise IndexError(f"plane {index} of a file with {self.n_planes} plane(s)")
        return np.ascontiguousarray(self._values[self._index(index)])

    def planes(self):
        for index in range(self.n_planes):
            yield self.plane(index)

    def assemble(self, planes, path):
        """The planes (as ``planes()`` gives them) put back into one array."""
        out = np.empty(self.shape, self.dtype)
        count = 0
        for count, plane in enumerate(planes, 1):
            plane = np.asarray(plane)
            if count > self.n_planes or plane.shape != tuple(self.plane_shape):
                raise ImageWriteError(f"Cannot write {path}: plane {count} is {plane.shape}; "
                                      f"expected {self.n_planes} planes of "
                                      f"{tuple(self.plane_shape)}.")
            out[self._index(count - 1)] = plane
        if count != self.n_planes:
            raise ImageWriteError(f"Cannot write {path}: {count} planes for "
                                  f"{self.n_planes}.")
        return out

    def close(self):
        self._values = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        return (f"FieldFile({str(self.path)!r}, {self.metadata['format']} "
                f"{self.shape}, {self.dtype})")


_AXES = {"nifti": {2: "XY", 3: "XYZ", 4: "XYZT"},
         "dicom": {2: "YX", 3: "ZYX"},
         "fits": {2: "YX", 3: "ZYX", 4: "TZYX"}}
