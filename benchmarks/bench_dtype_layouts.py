"""The same counts in every dtype: how far apart the results come out.

Real integer images (astropy's gzipped DSS plate ``dss.14.29.56-62.41.05.fits.gz``, int16
counts on 3000..20000; pydicom's ``MR_small.dcm`` and ``CT_small.dcm``, int16) are given
to the pretrained CNN and to :class:`~sklearn_denoise.WaveletDenoiser` as int16, uint16,
int32, float32 and float64 copies of the same counts. Each row: the largest absolute
difference (in counts) of each copy's result from the float64 copy's, and the noise level
:func:`~sklearn_denoise.noise.estimate_noise_level` reads on each copy, in counts. Integer
results are rounded, so 0.5 is agreement.

    python benchmarks/bench_dtype_layouts.py
"""

import warnings
from pathlib import Path

import numpy as np

from sklearn_denoise import CNNDenoiser, WaveletDenoiser
from sklearn_denoise._validation import dtype_scale
from sklearn_denoise.noise import estimate_noise_level

DTYPES = (np.int16, np.uint16, np.int32, np.float32, np.float64)


def images():
    import astropy
    from astropy.io import fits
    from pydicom import dcmread
    from pydicom.data import get_testdata_file

    dss = Path(astropy.__file__).parent / "wcs" / "tests" / "data" / \
        "dss.14.29.56-62.41.05.fits.gz"
    with warnings.catch_warnings():  # a header card astropy cannot parse
        warnings.simplefilter("ignore")
        yield "dss (FITS)", fits.getdata(dss).astype(np.int16)
    for name in ("MR_small.dcm", "CT_small.dcm"):
        yield name, dcmread(get_testdata_file(name)).pixel_array.astype(np.int16)


def main():
    names = [np.dtype(d).name for d in DTYPES]
    print("| image | method | " + " | ".join(names) + " | level read: "
          + " / ".join(names) + " |")
    print("|---|---|" + "---|" * (len(DTYPES) + 1))
    cnn = CNNDenoiser.pretrained("gray")
    for name, counts in images():
        copies = [counts.astype(dtype) for dtype in DTYPES]
        levels = " / ".join(f"{estimate_noise_level(x) * dtype_scale(x.dtype):.1f}"
                            for x in copies)
        for method, denoise in [
            ("cnn", lambda x: cnn.transform(x[None])[0]),
            ("wavelet", lambda x: WaveletDenoiser().fit(x[None]).transform(x[None])[0]),
        ]:
            outputs = [np.asarray(denoise(x), np.float64) for x in copies]
            gaps = [float(np.abs(out - outputs[-1]).max()) for out in outputs]
            print(f"| {name} | {method} | " + " | ".join(f"{g:.2f}" for g in gaps)
                  + f" | {levels} |")


if __name__ == "__main__":
    main()
