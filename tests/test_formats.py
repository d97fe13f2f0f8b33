"""DICOM, NIfTI and FITS files (sklearn_denoise._formats through sklearn_denoise.io), on the
real test files that ship with pydicom, nibabel and astropy."""

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from skimage.restoration import estimate_sigma

from sklearn_denoise import WaveletDenoiser
from sklearn_denoise._io import open_image, write_image_planes
from sklearn_denoise.io import (
    ImageFileError,
    ImageTooLargeError,
    ImageWriteError,
    read_image,
    write_image,
)
from sklearn_denoise.noise import estimate_noise_level

pydicom = pytest.importorskip("pydicom")
nib = pytest.importorskip("nibabel")
fits = pytest.importorskip("astropy.io.fits")

from pydicom.data import get_testdata_file  # noqa: E402

NIB_DATA = Path(nib.__file__).parent / "tests" / "data"
FITS_DATA = Path(fits.__file__).parent / "tests" / "data"
M13 = Path(fits.__file__).parent / "hdu" / "compressed" / "tests" / "data" / "m13.fits"
CT = Path(get_testdata_file("CT_small.dcm"))
MR = Path(get_testdata_file("MR_small.dcm"))
DERIVED = {"SOPInstanceUID", "SeriesInstanceUID", "ImageType", "DerivationDescription",
           "SmallestImagePixelValue", "LargestImagePixelValue"}


def _dicom_differences(a, b):
    """Keywords of attributes that differ between two datasets (pixels aside)."""
    keys = {e.tag for e in a} | {e.tag for e in b}
    return {pydicom.datadict.keyword_for_tag(t) for t in keys if t != 0x7FE00010 and (
        t not in a or t not in b or a[t].value != b[t].value)}


def _no_temporaries(folder):
    return [p.name for p in Path(folder).iterdir() if p.name.startswith(".")] == []


# ------------------------------------------------------------------------------------ DICOM
def test_dicom_ct_round_trip_keeps_hounsfield_units_and_attributes(tmp_path):
    hu, info = read_image(CT, metadata=True)
    original = pydicom.dcmread(CT)
    assert hu.dtype == np.float32 and hu.shape == (128, 128)
    np.testing.assert_array_equal(hu, original.pixel_array * 1.0 - 1024.0)  # slope 1
    assert info["stored_dtype"] == np.int16
    out = write_image(tmp_path / "ct.dcm", hu + 10.4, metadata=info)
    derived = pydicom.dcmread(out)
    assert derived.pixel_array.dtype == np.int16
    np.testing.assert_array_equal(derived.pixel_array, original.pixel_array + 10)
    assert _dicom_differences(original, derived) <= DERIVED
    assert {"SOPInstanceUID", "SeriesInstanceUID", "ImageType",
            "DerivationDescription"} <= _dicom_differences(original, derived)
    assert derived.ImageType[0] == "DERIVED"
    assert list(derived.ImageType[1:]) == list(original.ImageType[1:])
    assert derived.StudyInstanceUID == original.StudyInstanceUID
    assert derived.file_meta.MediaStorageSOPInstanceUID == derived.SOPInstanceUID
    assert derived.RescaleIntercept == original.RescaleIntercept
    np.testing.assert_allclose(read_image(out), np.rint(hu + 10.4))
    assert _no_temporaries(tmp_path)


def test_dicom_padding_pixels_stay_padding(tmp_path):
    ds = pydicom.dcmread(CT)
    pixels = ds.pixel_array.copy()
    pixels[:10] = -2000  # outside the reconstruction circle
    ds.PixelData = pixels.tobytes()
    ds.PixelPaddingValue = -2000
    ds.save_as(tmp_path / "padded.dcm")
    values, info = read_image(tmp_path / "padded.dcm", metadata=True)
    out = write_image(tmp_path / "out.dcm", values + 5.0, metadata=info)
    back = pydicom.dcmread(out).pixel_array
    assert (back[:10] == -2000).all()
    np.testing.assert_array_equal(back[10:], pixels[10:] + 5)


def test_cli_denoises_a_padded_ct_slice_as_the_unpadded_one(tmp_path):
    """A CT slice whose corners are padding (``PixelPaddingValue``, outside the
    reconstruction circle; 31 % of CT_small here) was denoised with the padding as
    pixels: the noise read 28.45 HU instead of 21.12 and the slice came out 12 HU (mean)
    away from the unpadded slice's result. Padding is filled as blank pixels are now,
    and written back as padding."""
    ds = pydicom.dcmread(CT)
    yy, xx = np.mgrid[:128, :128]
    outside = (yy - 64) ** 2 + (xx - 64) ** 2 > 60**2
    pixels = ds.pixel_array.copy()
    pixels[outside] = -1000
    ds.PixelData = pixels.tobytes()
    ds.PixelPaddingValue = -1000
    ds.save_as(tmp_path / "padded.dcm")
    proc = _cli(CT, tmp_path / "padded.dcm", "-o", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    levels = [float(line.split("sigma ")[1].split()[0]) for line in proc.stdout.splitlines()
              if "sigma" in line]
    assert levels[1] == pytest.approx(levels[0], rel=0.1), proc.stdout
    plain = pydicom.dcmread(tmp_path / "out" / CT.name).pixel_array.astype(float)
    padded = pydicom.dcmread(tmp_path / "out" / "padded.dcm").pixel_array
    assert (padded[outside] == -1000).all()
    assert np.abs(padded[~outside] - plain[~outside]).mean() < 3


def test_dicom_rescale_slope_applied_and_kept(tmp_path):
    ds = pydicom.dcmread(CT)
    ds.RescaleSlope, ds.RescaleIntercept = 0.5, -100
    path = tmp_path / "slope.dcm"
    ds.save_as(path)
    values, info = read_image(path, metadata=True)
    np.testing.assert_allclose(values, ds.pixel_array * 0.5 - 100)
    out = write_image(tmp_path / "out.dcm", values + 1.0, metadata=info)
    back = pydicom.dcmread(out)
    assert float(back.RescaleSlope) == 0.5 and float(back.RescaleIntercept) == -100
    np.testing.assert_array_equal(back.pixel_array, ds.pixel_array + 2)


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "MR_small_jp2klossless.dcm",
                                  "MR_small_jpeg_ls_lossless.dcm"])
def test_dicom_compressed_read_and_written_uncompressed(tmp_path, name):
    """RLE, JPEG 2000 (Pillow) and JPEG-LS (pyjpegls, in the [dicom] extra)."""
    compressed = Path(get_testdata_file(name))
    values, info = read_image(compressed, metadata=True)
    np.testing.assert_array_equal(values, read_image(MR))  # the same image, coded
    assert info["noise_model"] == "rician"  # an MR magnitude image
    out = write_image(tmp_path / "mr.dcm", values, metadata=info)
    derived = pydicom.dcmread(out)
    assert not derived.file_meta.TransferSyntaxUID.is_compressed
    np.testing.assert_array_equal(derived.pixel_array,
                                  pydicom.dcmread(compressed).pixel_array)


def test_dicom_undecodable_syntax_names_the_decoder():
    """12-bit JPEG needs pylibjpeg-libjpeg (GPL-3), which the extra leaves out."""
    from pydicom.pixels.decoders.pylibjpeg import is_available

    path = Path(get_testdata_file("JPEG-lossy.dcm"))
    if is_available(pydicom.dcmread(path, stop_before_pixels=True).file_meta
                    .TransferSyntaxUID):
        pytest.skip("pylibjpeg-libjpeg is installed: the file decodes")
    with pytest.raises(ImageFileError,
                       match=r"(?s)JPEG-lossy.dcm.*JPEG Extended.*pylibjpeg-libjpeg"):
        read_image(path)


@pytest.mark.parametrize("name", ["rtdose.dcm", "rtdose_expb.dcm", "rtdose_rle.dcm"])
def test_dicom_multi_frame_round_trip(tmp_path, name):
    """15 frames of uint32, little endian, big endian and RLE: planes of one file."""
    path = Path(get_testdata_file(name))
    values, info = read_image(path, metadata=True)
    original = pydicom.dcmread(path)
    assert values.shape == (15, 10, 10) and info["stored_dtype"] == np.uint32
    with open_image(path) as frames:
        assert frames.n_planes == 15 and frames.plane_shape == (10, 10)
        out = write_image_planes(tmp_path / name, (p + 1 for p in frames.planes()), frames)
    derived = pydicom.dcmread(out)
    assert derived.file_meta.TransferSyntaxUID.is_little_endian
    np.testing.assert_array_equal(derived.pixel_array, original.pixel_array + 1)
    assert _dicom_differences(original, derived) <= DERIVED


def test_dicom_corrupt_header_is_a_file_error(tmp_path):
    ds = pydicom.dcmread(CT)
    ds.NumberOfFrames = 2
    ds.save_as(tmp_path / "bad.dcm")
    data = (tmp_path / "bad.dcm").read_bytes()
    tag = bytes.fromhex("2800 0800".replace(" ", "")) + b"IS"  # (0028,0008) IS, 2 bytes
    assert data.count(tag + b"\x02\x002 ") == 1
    # a NumberOfFrames that is not a number
    (tmp_path / "bad.dcm").write_bytes(data.replace(tag + b"\x02\x002 ", tag + b"\x02\x001A"))
    with pytest.raises(ImageFileError, match="bad.dcm"):
        read_image(tmp_path / "bad.dcm")


def _series(folder, n=4):
    folder.mkdir()
    positions = [7.5, -2.5, 12.5, 2.5][:n]
    for k, z in enumerate(positions):
        ds = pydicom.dcmread(CT)
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.ImagePositionPatient = [0.0, 0.0, z]
        ds.InstanceNumber = k + 1
        ds.PixelData = (ds.pixel_array + 100 * k).astype(np.int16).tobytes()
        ds.save_as(folder / f"IM{k}")  # scanner-style names, no extension
    return positions


def test_dicom_series_folder_is_one_volume(tmp_path):
    positions = _series(tmp_path / "series")
    volume, info = read_image(tmp_path / "series", metadata=True)
    assert volume.shape == (4, 128, 128)
    order = np.argsort(positions)
    assert info["file_names"] == [f"IM{k}" for k in order]  # along the slice normal
    ct = read_image(CT)
    for plane, k in zip(volume, order):
        np.testing.assert_array_equal(plane, ct + 100 * k)
    out = write_image(tmp_path / "denoised", volume, metadata=info)
    assert sorted(p.name for p in out.iterdir()) == ["IM0", "IM1", "IM2", "IM3"]
    derived = [pydicom.dcmread(p) for p in sorted(out.iterdir())]
    series = {ds.SeriesInstanceUID for ds in derived}
    assert len(series) == 1 and series != {pydicom.dcmread(CT).SeriesInstanceUID}
    assert len({ds.SOPInstanceUID for ds in derived}) == 4
    assert _no_temporaries(tmp_path)
    with pytest.raises(FileExistsError):
        write_image(tmp_path / "denoised", volume, metadata=info)
    chosen = pydicom.uid.generate_uid()  # another derived series of the same one
    again = write_image(tmp_path / "again", volume,
                        metadata={**info, "series_uid": chosen, "derivation": "test"})
    derived = [pydicom.dcmread(p) for p in sorted(again.iterdir())]
    assert {ds.SeriesInstanceUID for ds in derived} == {chosen}
    assert derived[0].DerivationDescription == "test"


def test_dicom_refusals(tmp_path):
    with pytest.raises(ImageTooLargeError, match="128 x 128"):
        read_image(CT, max_pixels=1000)
    fake = tmp_path / "fake.dcm"
    fake.write_bytes(b"not dicom at all" * 20)
    with pytest.raises(ImageFileError, match="not a readable DICOM"):
        read_image(fake)
    ds = pydicom.dcmread(CT)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 3, "RGB"
    ds.save_as(tmp_path / "rgb.dcm")
    with pytest.raises(ImageFileError, match="MONOCHROME"):
        read_image(tmp_path / "rgb.dcm")
    with pytest.raises(ValueError, match="header"):
        write_image(tmp_path / "new.dcm", np.zeros((4, 4)))  # no metadata to write from
    _, info = read_image(CT, metadata=True)
    with pytest.raises(ValueError, match=r"\(128, 128\)"):
        write_image(tmp_path / "bad.dcm", np.zeros((4, 4)), metadata=info)
    with pytest.raises(ValueError, match="DICOM"):
        write_image(tmp_path / "bad.fits", np.zeros((128, 128)), metadata=info)


def test_dicom_segmentation_refused(tmp_path):
    """pydicom's liver_1frame.dcm (a 1-bit SEG) was denoised and written back as bytes
    under BitsAllocated 1: a corrupt file of 8 garbage frames."""
    with pytest.raises(ImageFileError, match="segmentation or binary mask.*SEG, 1 bit"):
        read_image(get_testdata_file("liver_1frame.dcm"))
    ds = pydicom.dcmread(CT)
    ds.Modality = "SEG"  # a fractional segmentation: 8 or 16 bits, still labels
    ds.save_as(tmp_path / "seg.dcm")
    with pytest.raises(ImageFileError, match="SEG, 16 bit"):
        read_image(tmp_path / "seg.dcm")
    proc = _cli(get_testdata_file("liver_1frame.dcm"), "-o", tmp_path / "out", "-q")
    assert proc.returncode == 1 and "holds labels" in proc.stderr
    assert not any((tmp_path / "out").iterdir())


def test_dicom_huge_declared_frames_refused_before_decoding(tmp_path):
    ds = pydicom.dcmread(CT)
    ds.NumberOfFrames = 100_000  # a small file claiming 1.6 billion pixels
    ds.save_as(tmp_path / "bomb.dcm")
    with pytest.raises(ImageTooLargeError, match="100000 x 128 x 128"):
        read_image(tmp_path / "bomb.dcm")


# ------------------------------------------------------------------------------------ NIfTI
@pytest.mark.parametrize("name", ["example4d.nii.gz", "anatomical.nii"])
def test_nifti_round_trip_keeps_shape_dtype_affine_header(tmp_path, name):
    original = nib.load(NIB_DATA / name)
    values, info = read_image(NIB_DATA / name, metadata=True)
    np.testing.assert_allclose(values, original.get_fdata(), rtol=1e-6)
    out = write_image(tmp_path / name, values, metadata=info)
    back = nib.load(out)
    assert back.shape == original.shape
    assert back.get_data_dtype() == original.get_data_dtype()
    np.testing.assert_array_equal(back.affine, original.affine)
    assert back.header == original.header
    np.testing.assert_array_equal(np.asanyarray(back.dataobj.get_unscaled()),
                                  np.asanyarray(original.dataobj.get_unscaled()))
    if name.endswith(".gz"):
        gzip.decompress(out.read_bytes())  # really gzip


def test_nifti_scaling_kept(tmp_path):
    data = np.arange(4 * 5 * 3, dtype=np.int16).reshape(4, 5, 3) * 10
    img = nib.Nifti1Image(data, np.diag([2.0, 2.0, 3.0, 1.0]))
    img.header.set_slope_inter(0.5, 7.0)
    nib.save(img, tmp_path / "scaled.nii")
    values, info = read_image(tmp_path / "scaled.nii", metadata=True)
    np.testing.assert_allclose(values, data * 0.5 + 7.0)
    out = write_image(tmp_path / "out.nii", values + 1.0, metadata=info)
    back = nib.load(out)
    assert back.dataobj.slope == 0.5 and back.dataobj.inter == 7.0
    np.testing.assert_array_equal(np.asanyarray(back.dataobj.get_unscaled()), data + 2)


def test_nifti_blank_voxels_filled_for_denoising_and_written_back(tmp_path):
    """NaN outside a mask (resampled or skull-stripped volumes, such as nibabel's
    ``resampled_anat_moved.nii``) were refused; they are filled for the denoisers and
    written back as NaN, as FITS blanks are."""
    data = np.linspace(0, 1, 12 * 10 * 4, dtype=np.float32).reshape(12, 10, 4)
    data[:3] = np.nan
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "masked.nii")
    values, info = read_image(tmp_path / "masked.nii", metadata=True)
    assert np.isfinite(values).all()
    out = nib.load(write_image(tmp_path / "out.nii", values * 2, metadata=info)).get_fdata()
    np.testing.assert_array_equal(np.isnan(out), np.isnan(data))
    np.testing.assert_allclose(out[3:], data[3:] * 2, rtol=1e-6)
    nib.save(nib.Nifti1Image(np.full((8, 8), np.nan, np.float32), np.eye(4)),
             tmp_path / "blank.nii")
    with pytest.raises(ImageFileError, match="every pixel of the NIfTI volume is blank"):
        read_image(tmp_path / "blank.nii")
    real = NIB_DATA / "resampled_anat_moved.nii"
    proc = _cli(real, "-o", tmp_path / "cli", "--method", "wavelet", "-q")
    assert proc.returncode == 0, proc.stderr
    before = nib.load(real).get_fdata()
    after = nib.load(tmp_path / "cli" / real.name).get_fdata()
    np.testing.assert_array_equal(np.isnan(after), np.isnan(before))


def _noisy_camera_with_blanks(blank_columns, sigma=30.0):
    """camera as float counts (1000 + 4 * value, 256x256) with white noise of ``sigma``,
    and a copy whose ``blank_columns`` left columns and half as many top rows are NaN."""
    from skimage import data
    from skimage.transform import resize

    clean = 1000 + 4 * resize(data.camera(), (256, 256), preserve_range=True)
    noisy = (clean + np.random.default_rng(1).normal(0, sigma, clean.shape)).astype(
        np.float32)
    blanked = noisy.copy()
    blanked[:, :blank_columns] = blanked[: blank_columns // 2] = np.nan
    return clean, noisy, blanked


def test_blank_pixels_are_filled_with_the_images_noise():
    """Blank pixels carried no noise (the median): read on the whole image, the noise
    came out too low. They are filled with the valid pixels carried out from the
    border plus the fine detail (the noise) of the largest blank-free square, the same
    at every reading, per plane of a volume (NIfTI: [:, :, z])."""
    from sklearn_denoise._formats import _fill_blanks

    _, noisy, blanked = _noisy_camera_with_blanks(128)
    values = blanked.copy()
    mask = _fill_blanks(values, "x.fits", "FITS image")
    np.testing.assert_array_equal(mask, np.isnan(blanked))
    assert np.isfinite(values).all()
    np.testing.assert_array_equal(values[~mask], noisy[~mask])
    from sklearn_denoise._noise_level import weak_texture_level

    fill = values[128:, :126].astype(np.float64)  # blank: the noise reads sigma 30 there
    assert 24 < weak_texture_level(fill[..., None]) < 36
    assert 24 < estimate_sigma(fill) < 36
    # carried out from the border: a blank pixel next to the valid ones is near them
    border = np.corrcoef(values[64:, 127], noisy[64:, 128])[0, 1]
    assert border > 0.8, border  # the median alone: no correlation
    again = blanked.copy()
    _fill_blanks(again, "x.fits", "FITS image")
    np.testing.assert_array_equal(again, values)
    volume = np.stack([blanked, blanked[::-1]], axis=-1)  # NIfTI layout (X, Y, Z)
    filled = volume.copy()
    _fill_blanks(filled, "x.nii", "NIfTI volume", plane_axes=(0, 1))
    np.testing.assert_array_equal(filled[..., 0], values)
    # 4-D and in Fortran order, as nibabel reads: every plane filled in place
    series = np.asfortranarray(np.stack([volume, volume], axis=-1))  # (X, Y, Z, T)
    _fill_blanks(series, "x.nii", "NIfTI volume", plane_axes=(0, 1))
    for z in range(2):
        for t in range(2):
            np.testing.assert_array_equal(series[..., z, t], filled[..., z])


@pytest.mark.parametrize("blank_columns", [51, 128])
def test_cli_reads_the_noise_of_an_image_with_blanks_as_without(tmp_path, blank_columns):
    """A float FITS image with a fifth or half of its columns blank (NaN, as a mosaic
    outside its footprint): the command line read white noise of sigma 30 as 22 and as
    no noise at all (the image was left as it was). The level it reads now is within 10 %
    of the whole image's, and the error over the valid pixels within 10 % of the whole
    image's result there; the Python call (read_image, transform, write_image) gives the
    same file."""
    from sklearn_denoise import CNNDenoiser

    clean, noisy, blanked = _noisy_camera_with_blanks(blank_columns)
    fits.PrimaryHDU(noisy).writeto(tmp_path / "whole.fits")
    fits.PrimaryHDU(blanked).writeto(tmp_path / "blanks.fits")
    proc = _cli(tmp_path / "whole.fits", tmp_path / "blanks.fits", "-o", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    levels = dict(
        (line.split(":")[0].rsplit("/", 1)[-1], float(line.split("sigma ")[1].split()[0]))
        for line in proc.stdout.splitlines() if "gaussian noise, sigma" in line)
    assert levels["blanks.fits"] == pytest.approx(levels["whole.fits"], rel=0.1), proc.stdout
    kept = np.isfinite(blanked)
    results = [fits.getdata(tmp_path / "out" / name) for name in ("whole.fits", "blanks.fits")]
    np.testing.assert_array_equal(np.isnan(results[1]), ~kept)
    errors = [np.sqrt(np.mean((r[kept] - clean[kept]) ** 2)) for r in results]
    assert errors[1] < 1.1 * errors[0] and errors[1] < 0.7 * 30, errors
    values, info = read_image(tmp_path / "blanks.fits", metadata=True)
    python = CNNDenoiser.pretrained("gray").transform(values[None])[0]
    written = write_image(tmp_path / "python.fits", python, metadata=info)
    np.testing.assert_array_equal(fits.getdata(written), results[1])


def test_nifti_planes_in_volume_order(tmp_path):
    values = read_image(NIB_DATA / "functional.nii")
    with open_image(NIB_DATA / "functional.nii") as volume:
        assert volume.n_planes == 3 * 20 and volume.plane_shape == (17, 21)
        assert volume.axes == "XYZT"
        np.testing.assert_array_equal(volume.plane(1), values[:, :, 1, 0])
        np.testing.assert_array_equal(volume.plane(3), values[:, :, 0, 1])
        write_image_planes(tmp_path / "f.nii", (p - 10 for p in volume.planes()), volume)
        with pytest.raises(ImageWriteError, match="planes"):
            write_image_planes(tmp_path / "g.nii", iter([values[:, :, 0, 0]]), volume)
    assert not (tmp_path / "g.nii").exists() and _no_temporaries(tmp_path)
    step, lowest = volume.metadata["slope"], values.min()  # the stored dtype's minimum
    np.testing.assert_allclose(read_image(tmp_path / "f.nii"),
                               np.maximum(values - 10, lowest), atol=step / 2)


def test_nifti_huge_header_refused_before_decoding(tmp_path):
    img = nib.Nifti1Image(np.zeros((2, 2, 2), np.uint8), np.eye(4))
    img.header.set_data_shape((4000, 4000, 4000))  # 64e9 voxels declared, none stored
    path = tmp_path / "bomb.nii"
    path.write_bytes(img.header.binaryblock + b"\0" * 8)
    with pytest.raises(ImageTooLargeError, match="4000 x 4000 x 4000"):
        read_image(path)
    path.write_bytes(b"garbage" * 100)
    with pytest.raises(ImageFileError, match="NIfTI"):
        read_image(path)


# ------------------------------------------------------------------------------------- FITS
@pytest.mark.parametrize("path", [M13, FITS_DATA / "scale.fits", FITS_DATA / "arange.fits",
                                  FITS_DATA / "o4sp040b0_raw.fits"])
def test_fits_round_trip_keeps_every_header(tmp_path, path):
    values, info = read_image(path, metadata=True)
    index = info["index"]
    with fits.open(path) as hdul:
        np.testing.assert_allclose(values, hdul[index].data, rtol=1e-6)
    step = info["bscale"]
    out = write_image(tmp_path / path.name, values + 3 * step, metadata=info)
    raw = {"do_not_scale_image_data": True}  # headers as stored (BITPIX, BSCALE, BZERO)
    with fits.open(path, **raw) as hdul, fits.open(out, **raw) as back:
        assert len(back) == len(hdul)
        for a, b in zip(hdul, back):  # checksums computed again, all else equal
            assert [c for c in a.header.items() if c[0] not in ("CHECKSUM", "DATASUM")] \
                == [c for c in b.header.items() if c[0] not in ("CHECKSUM", "DATASUM")]
        assert back[index].data.dtype == hdul[index].data.dtype
        np.testing.assert_array_equal(back[index].data, hdul[index].data + 3)


def test_fits_float_blank_pixels_kept_and_checksums_updated(tmp_path):
    data = np.linspace(0, 1, 30 * 40, dtype=np.float32).reshape(30, 40)
    data[3, 4] = np.nan
    fits.PrimaryHDU(data).writeto(tmp_path / "nan.fits", checksum=True)
    values, info = read_image(tmp_path / "nan.fits", metadata=True)
    assert np.isfinite(values).all()  # filled for the denoisers
    out = write_image(tmp_path / "out.fits", values * 2, metadata=info)
    with fits.open(out, checksum=True) as back:  # warns on a bad checksum
        result = back[0].data
        assert back[0].verify_checksum() == 1
    assert np.isnan(result[3, 4]) and np.isnan(result).sum() == 1
    np.testing.assert_allclose(result[0, :5], data[0, :5] * 2)


@pytest.mark.parametrize("name", ["m13_rice.fits", "m13_gzip.fits", "m13_hcomp.fits"])
def test_fits_tile_compressed_read_and_written_uncompressed(tmp_path, name):
    """Rice, gzip and HCOMPRESS tile-compressed images (fpack's ``.fits.fz``): read as the
    uncompressed file's pixels, written back as an uncompressed image extension in the
    compressed table's place, the image's header cards kept."""
    path = M13.with_name(name)
    values, info = read_image(path, metadata=True)
    np.testing.assert_array_equal(values, read_image(M13))
    out = write_image(tmp_path / name, values + 7, metadata=info)
    with fits.open(out) as back, fits.open(path) as original:
        assert [type(h).__name__ for h in back] == ["PrimaryHDU", "ImageHDU"]
        # big-endian on disk, native once decompressed
        assert back[1].data.dtype.newbyteorder("=") == original[1].data.dtype.newbyteorder("=")
        np.testing.assert_array_equal(back[1].data, original[1].data + 7)
        changed = ("SIMPLE", "EXTEND", "XTENSION", "PCOUNT", "GCOUNT", "CHECKSUM", "DATASUM")
        assert ([c for c in back[1].header.items() if c[0] not in changed]
                == [c for c in original[1].header.items() if c[0] not in changed])
        if "CHECKSUM" in original[1].header:  # computed again for the new data
            assert back[1].verify_checksum() == 1
    # every byte before the image's HDU as it was
    start = fits.open(path).fileinfo(1)["hdrLoc"]
    assert out.read_bytes()[:start] == path.read_bytes()[:start]
    fz = tmp_path / "m13.fits.fz"  # fpack's name
    fz.write_bytes(path.read_bytes())
    np.testing.assert_array_equal(read_image(fz), values)


@pytest.mark.parametrize("suffix", [".fits.gz", ".FIT.GZ", ".fts.gz"])
def test_fits_gzipped_read_and_written_gzipped(tmp_path, suffix):
    """Gzipped FITS (how archives serve images): read as the plain file, written back
    gzipped, every header and HDU kept; the same bytes, once decompressed, as the plain
    file written from the same values."""
    source = FITS_DATA / "o4sp040b0_raw.fits"  # image extensions and a table
    path = tmp_path / f"raw{suffix}"
    path.write_bytes(gzip.compress(source.read_bytes()))
    values, info = read_image(path, metadata=True)
    plain_values, plain_info = read_image(source, metadata=True)
    np.testing.assert_array_equal(values, plain_values)
    (tmp_path / "out").mkdir()
    out = write_image(tmp_path / "out" / f"raw{suffix}", values + 2 * info["bscale"],
                      metadata=info)
    plain = write_image(tmp_path / "raw.fits", plain_values + 2 * info["bscale"],
                        metadata=plain_info)
    assert out.read_bytes()[:2] == b"\x1f\x8b"  # gzip's magic
    assert gzip.decompress(out.read_bytes()) == plain.read_bytes()
    with fits.open(out) as back, fits.open(source) as original:
        assert [type(h).__name__ for h in back] == [type(h).__name__ for h in original]
        index = info["index"]
        np.testing.assert_array_equal(back[index].data, original[index].data + 2)


def test_fits_gzipped_size_read_before_decoding(tmp_path):
    """A gzipped FITS file is a few bytes on disk for gigabytes decompressed: the sizes of
    all its HDUs are read from the headers and checked before any data is decompressed."""
    table = fits.Header({"XTENSION": "BINTABLE", "BITPIX": 8, "NAXIS": 2,
                         "NAXIS1": 1_000_000, "NAXIS2": 100_000, "PCOUNT": 0, "GCOUNT": 1,
                         "TFIELDS": 1, "TFORM1": "1000000B"})
    image = fits.PrimaryHDU(np.zeros((40, 40), np.int16))
    image.header["EXTEND"] = True
    buffer = __import__("io").BytesIO()
    image.writeto(buffer)
    body = buffer.getvalue() + table.tostring().encode()
    path = tmp_path / "bomb.fits.gz"
    with gzip.open(path, "wb") as fh:  # 100 GB of zeros declared, 1 MB written
        fh.write(body + bytes(1 << 20))
    with pytest.raises(ImageTooLargeError, match="gzipped FITS file holds 100,000,"):
        read_image(path)
    with pytest.raises(ImageFileError, match="corrupt or truncated"):  # trusted, yet short
        read_image(path, max_pixels=10**11)


def test_fits_tile_compressed_size_read_before_decoding(tmp_path):
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(np.zeros((40, 40), np.int16))]
                 ).writeto(tmp_path / "small.fits")
    data = (tmp_path / "small.fits").read_bytes()
    for axis in (b"ZNAXIS1", b"ZNAXIS2"):
        card = data[data.index(axis + b" "):][:30]
        data = data.replace(card, card[:10] + b"100000".rjust(20))
    (tmp_path / "bomb.fits").write_bytes(data)
    with pytest.raises(ImageTooLargeError, match="100000 x 100000"):
        read_image(tmp_path / "bomb.fits")
    two = fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(np.zeros((40, 40), np.int16)),
                        fits.CompImageHDU(np.ones((40, 40), np.int16))])
    two.writeto(tmp_path / "two.fits")
    with pytest.raises(ImageFileError, match="more than one tile-compressed image"):
        read_image(tmp_path / "two.fits")


def test_fits_refusals(tmp_path):
    header = fits.Header({"SIMPLE": True, "BITPIX": 16, "NAXIS": 2, "NAXIS1": 100000,
                          "NAXIS2": 100000})
    (tmp_path / "bomb.fits").write_bytes(header.tostring().encode() + b"\0" * 2880)
    with pytest.raises(ImageTooLargeError, match="100000 x 100000"):
        read_image(tmp_path / "bomb.fits")
    with pytest.raises(ImageFileError, match="no image"):
        read_image(FITS_DATA / "tb.fits")


def test_never_overwrites_an_input(tmp_path):
    values, info = read_image(M13, metadata=True)
    path = write_image(tmp_path / "m13.fits", values, metadata=info)
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        write_image(path, values + 5, metadata=info)
    assert path.read_bytes() == before


# ------------------------------------------------------------------------ the command line
def _cli(*args):
    return subprocess.run([sys.executable, "-m", "sklearn_denoise", "denoise",
                           *map(str, args)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})


def test_cli_equals_python_on_field_files(tmp_path):
    """The command line denoises DICOM, NIfTI and FITS files as the Python calls do:
    read_image, the estimator (for_image on a volume's middle plane), write_image."""
    nifti = NIB_DATA / "functional.nii"
    proc = _cli(CT, M13, nifti, "-o", tmp_path / "cli", "--method", "wavelet", "-q")
    assert proc.returncode == 0, proc.stderr
    for path in (CT, M13):
        values, info = read_image(path, metadata=True)
        denoised = WaveletDenoiser().fit(values[None]).transform(values[None])[0]
        expected = write_image(tmp_path / path.name, denoised, metadata=info)
        np.testing.assert_array_equal(read_image(tmp_path / "cli" / path.name),
                                      read_image(expected))
    with open_image(nifti) as volume:
        est = WaveletDenoiser().fit(volume.plane(0)[None])
        est = est.for_image(volume.plane(volume.n_planes // 2)[None])
        python = write_image_planes(tmp_path / "f.nii",
                                    (est.transform(p[None])[0] for p in volume.planes()),
                                    volume)
    np.testing.assert_array_equal(read_image(tmp_path / "cli" / nifti.name),
                                  read_image(python))
    assert nib.load(tmp_path / "cli" / nifti.name).header == nib.load(nifti).header


def test_cli_denoises_dicom_series_folder_as_one_volume_like_python(tmp_path):
    _series(tmp_path / "series", n=3)
    proc = _cli(tmp_path / "series", MR, "-o", tmp_path / "out", "--method", "wavelet",
                "--axes", "YX", "-q")
    assert proc.returncode == 0, proc.stderr
    assert "series (stack of 3 planes ZYX, noise from plane 2)" in proc.stdout
    assert "MR_small.dcm: rician noise" in proc.stdout  # MR magnitude: Rician
    out = tmp_path / "out" / "series"
    assert sorted(p.name for p in out.iterdir()) == ["IM0", "IM1", "IM2"]
    assert len({pydicom.dcmread(p).SeriesInstanceUID for p in out.iterdir()}) == 1
    with open_image(tmp_path / "series") as volume:  # the Python calls
        est = WaveletDenoiser().fit(volume.plane(1)[None]).for_image(volume.plane(1)[None])
        python = write_image_planes(tmp_path / "python",
                                    (est.transform(p[None])[0] for p in volume.planes()),
                                    volume)
    np.testing.assert_array_equal(read_image(out), read_image(python))
    mr = read_image(MR)
    rician = WaveletDenoiser(noise_model="rician").fit(mr[None]).transform(mr[None])[0]
    np.testing.assert_allclose(read_image(tmp_path / "out" / "MR_small.dcm"),
                               np.rint(rician))


@pytest.mark.parametrize("path", [FITS_DATA / "o4sp040b0_raw.fits", CT])
def test_cnn_output_noise_at_most_0_6_of_input(tmp_path, path):
    """The issue's target on real files: the estimated noise level of the output at most
    0.6 times the input's (the pretrained CNN, as ``sklearn-denoise denoise`` runs it).
    Not met yet on pydicom's MR_small (0.76; ``benchmarks/bench_field_formats.py``); on
    ``m13.fits`` the estimator reads the stars (below)."""
    proc = _cli(path, "-o", tmp_path, "-q")
    assert proc.returncode == 0, proc.stderr
    before = estimate_noise_level(read_image(path))
    after = estimate_noise_level(read_image(tmp_path / path.name))
    assert after <= 0.6 * before, (before, after)


def test_cnn_keeps_the_stars_of_a_crowded_field(tmp_path):
    """astropy's m13.fits: the learned estimator reads its stars as correlated noise of
    135 counts, but its sky varies by about 1.5; denoised at that level, 264 of the 390
    maxima 50 counts above the sky were wiped out (``benchmarks/bench_star_field.py``)."""
    from skimage.feature import peak_local_max

    proc = _cli(M13, "-o", tmp_path, "-q")
    assert proc.returncode == 0, proc.stderr
    assert "correlated" not in proc.stdout
    before, after = read_image(M13), read_image(tmp_path / "m13.fits")
    sky = float(np.median(before))
    stars = [len(peak_local_max(image, min_distance=2, threshold_abs=sky + 50))
             for image in (before, after)]
    assert stars[1] >= 0.95 * stars[0], stars
    # and their light: the network compressed what lay above the normalisation's 99.9th
    # percentile (the brightest pixel, 3618 counts, came out as 2355)
    assert after.max() == pytest.approx(before.max(), rel=0.03)
    brightest = peak_local_max(before, min_distance=3, num_peaks=50)
    flux = [[image[r - 2 : r + 3, c - 2 : c + 3].sum() for r, c in brightest]
            for image in (before, after)]
    np.testing.assert_allclose(flux[1], flux[0], rtol=0.03)
    # the Python call decides and denoises alike
    from sklearn_denoise import CNNDenoiser

    values, info = read_image(M13, metadata=True)
    python = CNNDenoiser.pretrained("gray").transform(values[None])[0]
    np.testing.assert_array_equal(
        read_image(write_image(tmp_path / "python.fits", python, metadata=info)),
        after)


def test_cli_axes_of_length_one_do_not_make_a_stack(tmp_path):
    """A NIfTI volume stored as 4-D with one time point (as many tools write it) is
    denoised jointly, as the same volume stored 3-D; it went plane by plane ("XYZT": two
    axes of planes). A FITS image stored as (1, 1, H, W), as radio telescopes write a
    single plane, is denoised as the (H, W) image, without "stack of 1 planes"."""
    volume = np.asarray(nib.load(NIB_DATA / "anatomical.nii").dataobj)
    files = {"v3.nii": volume, "v4.nii": volume[..., np.newaxis]}
    for name, data in files.items():
        nib.Nifti1Image(data, np.eye(4)).to_filename(tmp_path / name)
    plane = read_image(M13)
    fits.PrimaryHDU(plane).writeto(tmp_path / "p2.fits")
    fits.PrimaryHDU(plane[None, None]).writeto(tmp_path / "p4.fits")
    proc = _cli(*(tmp_path / n for n in ("v3.nii", "v4.nii", "p2.fits", "p4.fits")),
                "-o", tmp_path / "out", "--method", "wavelet")
    assert proc.returncode == 0, proc.stderr
    assert "v4.nii (stack of 25 planes XYZT, denoised jointly)" in proc.stdout, proc.stdout
    assert "stack of 1" not in proc.stdout
    out = tmp_path / "out"
    np.testing.assert_array_equal(read_image(out / "v4.nii")[..., 0], read_image(out / "v3.nii"))
    np.testing.assert_array_equal(read_image(out / "p4.fits")[0, 0], read_image(out / "p2.fits"))


def test_cli_denoises_a_gzipped_sky_survey_image_as_python_does(tmp_path):
    """astropy's ``dss.14.29.56-62.41.05.fits.gz``, a Digitized Sky Survey plate as the
    archive serves it (gzipped): the command line refused it (".gz" is no FITS
    extension). It is denoised, written back gzipped with its header, and equal to the
    Python call's result."""
    from sklearn_denoise import CNNDenoiser

    path = Path(fits.__file__).parents[2] / "wcs" / "tests" / "data" / \
        "dss.14.29.56-62.41.05.fits.gz"
    proc = _cli(path, "-o", tmp_path / "cli", "-q")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "cli" / path.name
    assert out.read_bytes()[:2] == b"\x1f\x8b"
    with fits.open(path) as original, fits.open(out) as back:
        header_end = original.fileinfo(0)["datLoc"]  # a card astropy cannot parse, kept
        assert back[0].data.dtype == original[0].data.dtype
    plain = [gzip.decompress(p.read_bytes()) for p in (path, out)]
    assert plain[1][:header_end] == plain[0][:header_end]
    assert len(plain[1]) == len(plain[0])
    values, info = read_image(path, metadata=True)
    after = read_image(out)
    # the finest wavelet band: 0.47 of the input's (benchmarks/bench_field_formats.py)
    assert estimate_sigma(after) < 0.6 * estimate_sigma(values)
    python = CNNDenoiser.pretrained("gray").transform(values[None])[0]
    np.testing.assert_array_equal(
        read_image(write_image(tmp_path / path.name, python, metadata=info)), after)


def test_cli_says_which_image_of_a_multi_extension_file_it_denoises(tmp_path):
    """astropy's ``test0.fits``: four WFPC2 chips, each a ``SCI`` image extension. The
    first is denoised and the others are copied as they are (an HST file's ``ERR`` and
    ``DQ`` extensions must not be denoised); the command line said nothing of it."""
    path = FITS_DATA / "test0.fits"
    proc = _cli(path, "-o", tmp_path, "-q")
    assert proc.returncode == 0, proc.stderr
    assert ("test0.fits (HDU 1 'SCI', the first of 4 images; the others are copied as "
            "they are): gaussian noise") in proc.stdout, proc.stdout
    with fits.open(path) as original, fits.open(tmp_path / path.name) as back:
        assert not np.array_equal(back[1].data, original[1].data)
        for index in (2, 3, 4):
            np.testing.assert_array_equal(back[index].data, original[index].data)


def test_a_constant_file_is_said_to_be_left_as_it_is(tmp_path):
    """astropy's fixed-1890.fits, 100x100 pixels of 1890: the command line said "noise
    level not used"."""
    path = FITS_DATA / "fixed-1890.fits"
    proc = _cli(path, "-o", tmp_path, "-q")
    assert proc.returncode == 0, proc.stderr
    assert "fixed-1890.fits: a constant image: left as it is" in proc.stdout
    np.testing.assert_array_equal(read_image(tmp_path / path.name), read_image(path))


def test_cnn_on_a_interpolated_mr_slice_with_a_quiet_background(tmp_path):
    """pydicom's ``examples_overlay.dcm``: an abdominal MR slice, interpolated (its noise
    spatially correlated) with a background filtered down to a spread of about 1 where
    the tissue's noise reads 15. The blind call reads correlated Rician noise and runs
    the correlated-noise expert; the bias of the tissue's sigma is not removed from the
    quiet background. Before, the white-noise network left the tissue's noise (output
    noise 1.09 times the input's) and the background went to 0 (mean 18 -> 12)."""
    path = Path(get_testdata_file("examples_overlay.dcm"))
    proc = _cli(path, "-o", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "examples_overlay.dcm: correlated rician noise" in proc.stdout, proc.stdout
    before, after = read_image(path).astype(float), read_image(tmp_path / path.name)
    tissue, background = np.s_[100:200, 150:350], np.s_[0:40, 0:150]
    assert (estimate_noise_level(after[tissue])
            < 0.65 * estimate_noise_level(before[tissue]))
    assert estimate_noise_level(after) < 0.75 * estimate_noise_level(before)
    assert abs(after[background].mean() / before[background].mean() - 1) < 0.05


def test_cnn_leaves_a_noise_free_ct_slice_as_it_is(tmp_path):
    """pydicom's ``J2K_pixelrep_mismatch.dcm``: a CT slice so compressed (JPEG 2000) that
    no noise is read on it. Its noise is under the network's floor, so the slice is
    written back unchanged; before, the network added its 4-pixel grid pattern (up to
    +-5 HU; the finest wavelet band read 0.48 before and 2.49 after)."""
    path = Path(get_testdata_file("J2K_pixelrep_mismatch.dcm"))
    proc = _cli(path, "-o", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "under the network's noise floor: left as it is" in proc.stdout, proc.stdout
    np.testing.assert_array_equal(read_image(tmp_path / path.name), read_image(path))
