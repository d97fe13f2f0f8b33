"""Real DICOM, NIfTI and FITS files through ``sklearn-denoise denoise``: the estimated
noise level of each output against its input's.

The files ship with pydicom, nibabel and astropy. Each is denoised by the command line
(blind pretrained CNN, ``--noise auto``: MR DICOM as Rician), then
:func:`sklearn_denoise.noise.estimate_noise_level` is averaged over the planes of input
and output. Prints one Markdown row per file with the ratio (target: at most 0.6), and
the same ratio read by :func:`skimage.restoration.estimate_sigma` (the finest wavelet
band, which correlated noise shows little of). Besides the small CT and MR slices, the
pydicom files ``examples_overlay.dcm`` (an interpolated abdominal MR slice with a
filtered background) and two JPEG 2000 CT slices that carry no noise left to read (the
denoiser should leave them as they are: ratio 1), and a gzipped Digitized Sky Survey
plate as the archive serves it (``dss.14.29.56-62.41.05.fits.gz``, from astropy's WCS
tests).

Usage: python benchmarks/bench_field_formats.py [--extra-args "--sigma 23"]
"""

import argparse
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from skimage.restoration import estimate_sigma

from sklearn_denoise._io import open_image
from sklearn_denoise.noise import estimate_noise_level


def files():
    import astropy.io.fits
    import nibabel
    from pydicom.data import get_testdata_file

    nib = Path(nibabel.__file__).parent / "tests" / "data"
    fits = Path(astropy.io.fits.__file__).parent
    dicom = ["CT_small.dcm", "MR_small.dcm", "examples_overlay.dcm", "693_J2KI.dcm",
             "J2K_pixelrep_mismatch.dcm"]
    return [*(Path(get_testdata_file(name)) for name in dicom),
            nib / "example4d.nii.gz", nib / "anatomical.nii",
            fits / "hdu" / "compressed" / "tests" / "data" / "m13.fits",
            fits / "tests" / "data" / "o4sp040b0_raw.fits",
            fits.parents[1] / "wcs" / "tests" / "data" / "dss.14.29.56-62.41.05.fits.gz"]


def levels(path):
    """(learned, finest wavelet band) noise levels, averaged over the planes."""
    with open_image(path) as image:
        planes = list(image.planes())
    return (float(np.mean([estimate_noise_level(p) for p in planes])),
            float(np.mean([estimate_sigma(np.asarray(p, np.float64)) for p in planes])))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra-args", default="", help="more options for denoise")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp())
    inputs = files()
    cmd = [sys.executable, "-m", "sklearn_denoise", "denoise", *map(str, inputs), "-o",
           str(out), *shlex.split(args.extra_args)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    print(proc.stdout, file=sys.stderr)
    print("| file | input noise | output noise | ratio | wavelet: input | output | ratio |")
    print("|---|---|---|---|---|---|---|")
    for path in inputs:
        if not (out / path.name).exists():
            print(f"| {path.name} | failed | | | | | |")
            continue
        before, after = levels(path), levels(out / path.name)
        print(f"| {path.name} | " + " | ".join(
            f"{b:.4g} | {a:.4g} | {a / b:.2f}" for b, a in zip(before, after)) + " |")


if __name__ == "__main__":
    main()
