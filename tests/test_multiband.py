"""MultibandDenoiser and multi-band TIFF files."""

import os
import subprocess
import sys

import numpy as np
import pytest

from sklearn_denoise import MultibandDenoiser, WaveletDenoiser
from sklearn_denoise.io import read_image, write_image
from sklearn_denoise.metrics import psnr

tifffile = pytest.importorskip("tifffile")


def _cube(seed=0, n_bands=8, size=64):
    """Bands mixed from 3 smooth scenes, uint16 counts, a different noise level per band."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    scenes = np.stack([np.sin(6 * xx) * np.cos(4 * yy), (xx > 0.5) * 1.0,
                       np.exp(-((xx - 0.3) ** 2 + (yy - 0.6) ** 2) * 20)], -1)
    scenes = (scenes - scenes.min((0, 1))) / np.ptp(scenes, (0, 1))
    clean = scenes @ rng.uniform(0.1, 1, (3, n_bands)) * 15000 + 1000
    sigma = rng.uniform(300, 900, n_bands)
    noisy = clean + rng.normal(size=clean.shape) * sigma
    return (np.rint(clean).astype(np.uint16), np.clip(np.rint(noisy), 0, 65535)
            .astype(np.uint16), sigma)


def test_joint_beats_band_by_band():
    clean, noisy, _ = _cube()
    joint = MultibandDenoiser(WaveletDenoiser()).fit(noisy[None]).transform(noisy[None])[0]
    gray = WaveletDenoiser().fit(noisy[None, ..., 0])
    separate = np.stack([gray.transform(noisy[None, ..., b])[0] for b in range(8)], -1)
    assert joint.dtype == np.uint16 and joint.shape == noisy.shape
    ref = clean.astype(float)
    assert psnr(ref, joint.astype(float), data_range=65535) > \
        psnr(ref, separate.astype(float), data_range=65535) + 1.0


def test_given_band_sigma_and_for_image():
    clean, noisy, sigma = _cube(1)
    est = MultibandDenoiser(WaveletDenoiser(), band_sigma=sigma).fit(noisy[None])
    pinned = est.for_image(noisy)
    np.testing.assert_allclose(pinned.decision_.sigma * 65535, sigma)
    assert "8 bands denoised jointly" in pinned.decision_.describe(noisy.dtype)
    np.testing.assert_array_equal(pinned.transform(noisy[None]), est.transform(noisy[None]))


@pytest.mark.parametrize("params, error, match", [
    ({"denoiser": "cnn"}, TypeError, "denoiser"),
    ({"band_sigma": -1.0}, ValueError, "band_sigma"),
    ({"band_sigma": [1.0, 2.0]}, ValueError, "2 values"),
])
def test_bad_parameters(params, error, match):
    _, noisy, _ = _cube()
    with pytest.raises(error, match=match):
        MultibandDenoiser(**{"denoiser": WaveletDenoiser(), **params}).fit(noisy[None])
    est = MultibandDenoiser(**params)
    assert est.get_params()[next(iter(params))] is params[next(iter(params))]


def test_one_band_refused():
    with pytest.raises(ValueError, match="2 bands or more"):
        MultibandDenoiser(WaveletDenoiser()).fit(np.zeros((1, 16, 16, 1)))


@pytest.mark.parametrize("axes_first", [True, False])
def test_multiband_tiff_round_trip(tmp_path, axes_first):
    _, noisy, _ = _cube(n_bands=12)
    if axes_first:
        tifffile.imwrite(tmp_path / "c.tif", np.moveaxis(noisy, -1, 0), metadata={"axes": "CYX"},
                         photometric="minisblack")
    else:
        tifffile.imwrite(tmp_path / "c.tif", noisy, photometric="minisblack",
                         planarconfig="contig")
    image, info = read_image(tmp_path / "c.tif", metadata=True)
    np.testing.assert_array_equal(image, noisy)  # one (H, W, B) image, not 12 planes
    write_image(tmp_path / "out.tif", image, metadata=info)
    assert tifffile.TiffFile(tmp_path / "out.tif").series[0].axes == "CYX"
    np.testing.assert_array_equal(read_image(tmp_path / "out.tif"), noisy)


def test_four_gray_bands_are_bands_not_rgba(tmp_path):
    _, noisy, _ = _cube(n_bands=4)
    tifffile.imwrite(tmp_path / "four.tif", np.moveaxis(noisy, -1, 0),
                     metadata={"axes": "CYX"}, photometric="minisblack")
    image, info = read_image(tmp_path / "four.tif", metadata=True)
    assert info["tiff"]["bands"] and image.shape == noisy.shape
    write_image(tmp_path / "out.tif", image, metadata=info)
    assert read_image(tmp_path / "out.tif", metadata=True)[1]["tiff"]["bands"]
    rgba = np.zeros((8, 8, 4), np.uint16)
    write_image(tmp_path / "rgba.tif", rgba)  # RGB + alpha: not bands
    assert "bands" not in read_image(tmp_path / "rgba.tif", metadata=True)[1]["tiff"]


@pytest.mark.parametrize("n_bands", [4, 8])
def test_cli_denoises_bands_jointly_as_python_does(tmp_path, n_bands):
    _, noisy, _ = _cube(2, n_bands=n_bands)
    tifffile.imwrite(tmp_path / "bands.tif", np.moveaxis(noisy, -1, 0),
                     metadata={"axes": "CYX"}, photometric="minisblack")
    proc = subprocess.run([sys.executable, "-m", "sklearn_denoise", "denoise",
                           tmp_path / "bands.tif", "-o", tmp_path / "out", "--method",
                           "wavelet", "-q"], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0, proc.stderr
    assert f"{n_bands} bands denoised jointly" in proc.stdout
    image = read_image(tmp_path / "bands.tif")
    python = MultibandDenoiser(WaveletDenoiser()).fit(image[None]).transform(image[None])[0]
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "bands.tif"), python)


@pytest.mark.parametrize("gray", ["wavelet", "cnn"])
def test_denoise_dask_equals_transform(gray):
    # the components are fitted once on the whole image (for_image), then each chunk is
    # denoised with the gray denoiser's own margin: the in-memory result, as for every
    # denoiser (issue #28); before, denoise_dask refused the estimator without a depth
    da = pytest.importorskip("dask.array")
    from sklearn_denoise.dask import denoise_dask

    _, noisy, _ = _cube(2, n_bands=5, size=160)
    denoiser = WaveletDenoiser() if gray == "wavelet" else None
    est = MultibandDenoiser(denoiser).fit(noisy[None])
    expected = est.transform(noisy[None])[0]
    chunked = denoise_dask(da.from_array(noisy, chunks=(64, 64, 5)), est).compute()
    assert chunked.dtype == expected.dtype
    # uint16 outputs: chunks may round a value the other way where the float results
    # differ by the CNN's 1e-6 of tiling
    assert np.abs(chunked.astype(int) - expected.astype(int)).max() <= (0 if gray == "wavelet"
                                                                         else 1)
