"""Images with blank pixels (NaN in float FITS and NIfTI files) through the command line.

Mosaics and reprojected sky images are NaN outside their footprint, skull-stripped and
registered volumes outside their mask. The blanks are filled with the image's median for
the denoisers and written back as NaN; a filled region holds no noise. Four
``skimage.data`` images (256x256 gray, as float counts 1000 + 4 * value) with seeded
white Gaussian noise of sigma 10 and 30, written as float32 FITS files whole and with
blanks: "border 20 %" (a fifth of the columns on the left and a tenth of the rows at the
top), "border 50 %" (half of the columns and a quarter of the rows) and "disc" (NaN
outside a centred disc of radius 0.45 of the side, as a brain mask). Each file is
denoised by ``sklearn-denoise denoise`` (blind pretrained CNN). Rows: the noise level the
command line printed (mean over the images read as white Gaussian noise; how many of
the 4 were, the others read as Poisson-Gaussian) and the root-mean-square error against the clean
image over the pixels that are not blank, for the file with blanks and for the whole file
denoised and then restricted to the same pixels (the reference: what the blanks cost).

With ``--volume``: a 3-D NIfTI volume instead (24 planes of the camera at 128x128,
sigma 30, NaN outside an ellipsoid filling the volume), denoised jointly by the CNN and
the wavelet method; the error over all valid voxels, over those at least 6 voxels inside
the ellipsoid's surface and over the others, next to the whole volume's.

With ``--padding``: pydicom's ``CT_small.dcm`` as it is and with the pixels outside a
circle of radius 60 (31 %) made DICOM padding (``PixelPaddingValue``); the noise level the
command line reads on each and the mean absolute difference of the two results (in HU)
inside the circle.

    python benchmarks/bench_blank_pixels.py [--volume | --padding]
"""

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from skimage import data

IMAGES = ("camera", "coins", "moon", "page")
SIGMAS = (10, 30)
SIDE = 256


def masks():
    yy, xx = np.mgrid[:SIDE, :SIDE]
    border20 = np.zeros((SIDE, SIDE), bool)
    border20[:, : SIDE // 5] = border20[: SIDE // 10] = True
    border50 = np.zeros((SIDE, SIDE), bool)
    border50[:, : SIDE // 2] = border50[: SIDE // 4] = True
    disc = (yy - SIDE / 2) ** 2 + (xx - SIDE / 2) ** 2 > (0.45 * SIDE) ** 2
    return {"whole": np.zeros((SIDE, SIDE), bool), "border 20 %": border20,
            "border 50 %": border50, "disc": disc}


def clean_image(name):
    from skimage.transform import resize

    image = getattr(data, name)()
    image = resize(image, (SIDE, SIDE), anti_aliasing=True, preserve_range=True)
    return 1000 + 4 * image.astype(np.float64)


def volume_table():
    import nibabel as nib
    from scipy.ndimage import binary_erosion

    folder = Path(tempfile.mkdtemp())
    z, y, x = np.mgrid[:24, :128, :128]
    clean = 1000 + 4 * np.stack([data.camera()[::4, ::4]] * 24).astype(np.float64)
    noisy = clean + np.random.default_rng(0).normal(0, 30, clean.shape)
    outside = ((z - 12) / 12.5) ** 2 + ((y - 64) / 60) ** 2 + ((x - 64) / 60) ** 2 > 1
    blanked = noisy.copy()
    blanked[outside] = np.nan
    for name, volume in (("blanks.nii.gz", blanked), ("whole.nii.gz", noisy)):
        nib.Nifti1Image(np.moveaxis(volume, 0, -1).astype(np.float32),
                        np.eye(4)).to_filename(folder / name)
    kept = ~outside
    inner = binary_erosion(kept, iterations=6)
    print("| method | voxels | rmse: blanks | rmse: whole volume there |")
    print("|---|---|---|---|")
    for method in ("cnn", "wavelet"):
        out = folder / method
        subprocess.run([sys.executable, "-m", "sklearn_denoise", "denoise",
                        str(folder / "blanks.nii.gz"), str(folder / "whole.nii.gz"), "-o",
                        str(out), "--method", method, "-q"], check=True, capture_output=True)
        results = [np.moveaxis(nib.load(out / n).get_fdata(), -1, 0)
                   for n in ("blanks.nii.gz", "whole.nii.gz")]
        for label, where in (("all", kept), ("inside", inner), ("near the surface",
                                                                   kept & ~inner)):
            errors = [np.sqrt(np.mean((r[where] - clean[where]) ** 2)) for r in results]
            print(f"| {method} | {label} | {errors[0]:.2f} | {errors[1]:.2f} |")


def padding_table():
    import pydicom
    from pydicom.data import get_testdata_file

    folder = Path(tempfile.mkdtemp())
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.save_as(folder / "plain.dcm")
    yy, xx = np.mgrid[: ds.Rows, : ds.Columns]
    outside = (yy - ds.Rows // 2) ** 2 + (xx - ds.Columns // 2) ** 2 > 60**2
    pixels = ds.pixel_array.copy()
    pixels[outside] = -1000
    ds.PixelData = pixels.tobytes()
    ds.PixelPaddingValue = -1000
    ds.save_as(folder / "padded.dcm")
    proc = subprocess.run([sys.executable, "-m", "sklearn_denoise", "denoise",
                           str(folder / "plain.dcm"), str(folder / "padded.dcm"), "-o",
                           str(folder / "out"), "-q"], capture_output=True, text=True,
                          check=True)
    print(proc.stdout.replace(str(folder) + "/", ""), end="")
    plain, padded = (pydicom.dcmread(folder / "out" / name).pixel_array.astype(np.float64)
                     for name in ("plain.dcm", "padded.dcm"))
    print(f"padding: {outside.mean():.0%} of the pixels; results inside the circle: mean "
          f"absolute difference {np.abs(plain - padded)[~outside].mean():.2f} HU, largest "
          f"{np.abs(plain - padded)[~outside].max():.0f} HU")


def main():
    from astropy.io import fits

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volume", action="store_true", help="the 3-D NIfTI case")
    parser.add_argument("--padding", action="store_true", help="the padded CT case")
    args = parser.parse_args()
    if args.volume:
        volume_table()
        return
    if args.padding:
        padding_table()
        return

    folder = Path(tempfile.mkdtemp())
    cases, files = [], []
    for name in IMAGES:
        clean = clean_image(name)
        for sigma in SIGMAS:
            noisy = clean + np.random.default_rng(sigma).normal(0, sigma, clean.shape)
            for label, mask in masks().items():
                path = folder / f"{name}-{sigma}-{len(cases)}.fits"
                blanked = noisy.astype(np.float32)
                blanked[mask] = np.nan
                fits.PrimaryHDU(blanked).writeto(path)
                cases.append((name, sigma, label, mask, clean))
                files.append(path)
    out = folder / "out"
    proc = subprocess.run([sys.executable, "-m", "sklearn_denoise", "denoise", *map(str, files),
                           "-o", str(out), "-q"], capture_output=True, text=True)
    if proc.returncode:
        sys.exit(proc.stderr)
    levels = {}
    for line in proc.stdout.splitlines():
        found = re.match(r"(\S+): gaussian noise, sigma ([\d.]+)", line)
        if found:
            levels[Path(found.group(1)).name] = float(found.group(2))
    rows = {}
    for (name, sigma, label, mask, clean), path in zip(cases, files):
        result = fits.getdata(out / path.name).astype(np.float64)
        rows.setdefault((sigma, label), []).append((name, result, mask, clean,
                                                    levels.get(path.name, np.nan)))
    print("| sigma | blanks | level read (Gaussian of 4) | rmse: blanks | "
          "rmse: whole file there |")
    print("|---|---|---|---|---|")
    for (sigma, label), entries in rows.items():
        wholes = {n: r for n, r, _, _, _ in rows[(sigma, "whole")]}
        errors, references, read = [], [], []
        for name, result, mask, clean, level in entries:
            kept = ~mask
            errors.append(np.sqrt(np.mean((result[kept] - clean[kept]) ** 2)))
            references.append(np.sqrt(np.mean((wholes[name][kept] - clean[kept]) ** 2)))
            read.append(level)
        gaussian = [level for level in read if np.isfinite(level)]
        mean = f"{np.mean(gaussian):.2f}" if gaussian else "-"
        print(f"| {sigma} | {label} | {mean} ({len(gaussian)}) | {np.mean(errors):.2f} | "
              f"{np.mean(references):.2f} |")


if __name__ == "__main__":
    main()
