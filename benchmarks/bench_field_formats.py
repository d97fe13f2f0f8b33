"""Real DICOM, NIfTI and FITS files through ``sklearn-denoise denoise``: the estimated
noise level of each output against its input's.

The files ship with pydicom, nibabel and astropy. Each is denoised by the command line
(blind pretrained CNN, ``--noise auto``: MR DICOM as Rician), then
:func:`sklearn_denoise.noise.estimate_noise_level` is averaged over the planes of input
and output. Prints one Markdown row per file with the ratio (target: at most 0.6).

Usage: python benchmarks/bench_field_formats.py [--extra-args "--sigma 23"]
"""

import argparse
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from sklearn_denoise._io import open_image
from sklearn_denoise.noise import estimate_noise_level


def files():
    import astropy.io.fits
    import nibabel
    from pydicom.data import get_testdata_file

    nib = Path(nibabel.__file__).parent / "tests" / "data"
    fits = Path(astropy.io.fits.__file__).parent
    return [Path(get_testdata_file("CT_small.dcm")), Path(get_testdata_file("MR_small.dcm")),
            nib / "example4d.nii.gz", nib / "anatomical.nii",
            fits / "hdu" / "compressed" / "tests" / "data" / "m13.fits",
            fits / "tests" / "data" / "o4sp040b0_raw.fits"]


def level(path):
    with open_image(path) as image:
        return float(np.mean([estimate_noise_level(p) for p in image.planes()]))


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
    print("| file | input noise | output noise | ratio |")
    print("|---|---|---|---|")
    for path in inputs:
        if not (out / path.name).exists():
            print(f"| {path.name} | failed | | |")
            continue
        before, after = level(path), level(out / path.name)
        print(f"| {path.name} | {before:.4g} | {after:.4g} | {after / before:.2f} |")


if __name__ == "__main__":
    main()
