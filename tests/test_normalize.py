import numpy as np
import pytest

from sklearn_denoise import (
    BilateralDenoiser,
    NLMeansDenoiser,
    TVDenoiser,
    WaveletDenoiser,
)
from sklearn_denoise._normalize import Normalization, check_normalize, fit_normalization
from sklearn_denoise.datasets import load_sample_images
from sklearn_denoise.metrics import psnr

CLASSICAL = [WaveletDenoiser, TVDenoiser, NLMeansDenoiser, BilateralDenoiser]


@pytest.fixture(scope="module")
def camera():
    return load_sample_images(size=64)[0].astype(np.float64) / 255


def test_check_normalize_options():
    assert check_normalize("auto") == "auto"
    assert check_normalize(True) == "percentile"
    assert check_normalize(False) == "none"
    with pytest.raises(ValueError, match="normalize must be one of"):
        check_normalize("minmax")


def test_auto_leaves_images_on_unit_range_alone(camera):
    rng = np.random.default_rng(0)
    noisy = camera + rng.normal(0, 50 / 255, camera.shape)
    assert fit_normalization(noisy, "auto").is_identity
    assert not fit_normalization(noisy, "percentile").is_identity
    assert fit_normalization(noisy * 255, "none").is_identity


@pytest.mark.parametrize(
    "scale, offset",
    [(300 / 65535, 100 / 65535), (255.0, 0.0), (4095.0, 0.0), (2.0, -1.0), (1e300, 0.0),
     (255 / 9.2e18, 0.0)],
)
def test_auto_maps_other_ranges_onto_unit_range(camera, scale, offset):
    image = camera * scale + offset
    norm = fit_normalization(image, "auto")
    assert not norm.is_identity
    mapped = norm.apply(image)
    low, high = np.percentile(mapped, (0.1, 99.9))
    assert low == pytest.approx(0.0, abs=1e-9) and high == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(norm.invert(mapped), image, rtol=1e-9, atol=abs(offset) * 1e-9)


def test_constant_image_is_only_shifted():
    norm = fit_normalization(np.full((8, 8), 1e300), "auto")
    assert norm.scale == 1.0
    assert np.all(norm.apply(np.full((8, 8), 1e300)) == 0)


def test_unrepresentable_range_raises():
    image = np.zeros((8, 8))
    image[:4] = -1e308
    image[4:] = 1e308
    with pytest.raises(ValueError, match="more than float64 can represent"):
        fit_normalization(image, "percentile")


def test_noise_level_above_the_image_range_is_a_unit_error():
    with pytest.warns(UserWarning, match="times this image's intensity range"):
        assert Normalization(offset=0.0, scale=255 / 9.2e18).noise_level(0.1) == 1.0
    with pytest.raises(ValueError, match="25/255"):
        Normalization().noise_level(25)
    assert Normalization().noise_level(None) is None
    assert Normalization(0.0, 0.5).noise_level(0.1) == pytest.approx(0.2)


@pytest.mark.parametrize("cls", CLASSICAL)
def test_uint16_counts_on_a_small_range_come_back_on_their_scale(cls, camera):
    rng = np.random.default_rng(0)
    counts = 100 + rng.poisson(300 * camera) + rng.normal(0, 2, camera.shape)
    X = np.clip(np.rint(counts), 0, 65535).astype(np.uint16)[None]
    out = cls().fit(X).transform(X)
    assert out.dtype == np.uint16
    assert 80 <= np.percentile(out, 1) and np.percentile(out, 99) <= 420
    assert abs(float(out.mean()) - float(X.mean())) < 5
    expected = (100 + 300 * camera)[None]
    unmapped = cls(normalize="none").fit(X).transform(X)
    auto_psnr = psnr(expected, out.astype(float), data_range=300)
    # measured: TV 32.7 dB mapped vs 17.2 dB on the dtype's scale, the others within 0.2 dB
    assert auto_psnr >= psnr(expected, unmapped.astype(float), data_range=300) - 0.3


def test_tv_weight_works_on_counts_once_mapped(camera):
    rng = np.random.default_rng(0)
    counts = 100 + rng.poisson(300 * camera) + rng.normal(0, 2, camera.shape)
    X = np.clip(np.rint(counts), 0, 65535).astype(np.uint16)[None]
    expected = (100 + 300 * camera)[None]
    # a weight given on the [0, 1] scale (the default follows the noise level instead)
    mapped = TVDenoiser(weight=0.1).fit(X).transform(X).astype(float)
    unmapped = TVDenoiser(weight=0.1, normalize="none").fit(X).transform(X).astype(float)
    assert psnr(expected, mapped, data_range=300) > psnr(expected, unmapped, data_range=300) + 10


@pytest.mark.parametrize("cls", CLASSICAL)
def test_results_do_not_depend_on_the_intensity_scale(cls, camera):
    rng = np.random.default_rng(1)
    noisy = (camera + rng.normal(0, 0.08, camera.shape))[None]
    unit = cls(normalize="percentile").fit(noisy).transform(noisy)
    for factor, offset in [(255.0, 0.0), (4095.0, 0.0), (1.0, -1000.0)]:
        scaled = cls().fit(noisy * factor + offset).transform(noisy * factor + offset)
        np.testing.assert_allclose((scaled - offset) / factor, unit, atol=1e-6)


def test_int64_images_are_denoised_like_uint8(camera):
    rng = np.random.default_rng(2)
    noisy8 = np.clip(np.rint((camera + rng.normal(0, 0.08, camera.shape)) * 255), 0, 255)
    as_uint8 = noisy8.astype(np.uint8)[None]
    as_int64 = noisy8.astype(np.int64)[None]
    den = TVDenoiser(normalize="percentile")
    out8 = den.fit(as_uint8).transform(as_uint8)
    out64 = TVDenoiser().fit(as_int64).transform(as_int64)
    assert out64.dtype == np.int64
    assert np.abs(out64 - out8.astype(np.int64)).max() <= 1


def test_known_sigma_is_mapped_with_the_image(camera):
    rng = np.random.default_rng(3)
    noisy = (camera + rng.normal(0, 0.1, camera.shape))[None]
    unit = WaveletDenoiser(sigma=0.1, normalize="none").fit(noisy).transform(noisy)
    # floats on [0, 255] with sigma given on that float scale
    wide = WaveletDenoiser(sigma=0.1 * 255, normalize="auto")
    out = wide.fit(noisy * 255).transform(noisy * 255) / 255
    assert abs(psnr(camera[None], out, data_range=1) - psnr(camera[None], unit, data_range=1)) < 1


def test_integer_sigma_on_the_wrong_scale_warns(camera):
    X = np.rint(camera * 255).astype(np.int64)[None]
    with pytest.warns(UserWarning, match="times this image's intensity range"):
        WaveletDenoiser(sigma=0.1).fit(X).transform(X)


def test_sigma_on_the_0_255_scale_for_unit_images_raises_in_fit(camera):
    with pytest.raises(ValueError, match="25/255"):
        WaveletDenoiser(sigma=25).fit(camera[None])


def test_normalize_parameter_is_validated(camera):
    with pytest.raises(ValueError, match="normalize must be one of"):
        TVDenoiser(normalize="zscore").fit(camera[None])


def test_int16_counts_are_mapped_as_the_same_uint16_counts(camera):
    """Signed integers are on [-1, 1] (scikit-image's scale): "auto" asks their 1st and
    99th percentiles to span a quarter of that, as it asks of a uint16 image's [0, 1]. An
    int16 sky-survey plate on 3000..20000 counts spans 0.39 of [-1, 1] and was used
    unmapped, while the same counts as uint16 (0.2 of [0, 1]) or floats were mapped."""
    from sklearn_denoise._validation import to_float

    counts = np.rint(3000 + 17000 * camera)
    for dtype in (np.int16, np.uint16, np.int32):
        image = to_float(counts.astype(dtype))
        norm = fit_normalization(image, "auto", dtype=dtype)
        assert not norm.is_identity, dtype
        low, high = np.percentile(norm.apply(image), (0.1, 99.9))
        assert low == pytest.approx(0.0, abs=1e-6) and high == pytest.approx(1.0, abs=1e-6)
    # counts that fill at least a quarter of the dtype's range are on its scale already
    wide = np.rint(-15000 + 30000 * camera).astype(np.int16)
    assert fit_normalization(to_float(wide), "auto", dtype=np.int16).is_identity
    assert not fit_normalization(to_float(counts.astype(np.int16)), "auto",
                                 dtype=np.int16).is_identity


def test_the_same_counts_denoised_alike_in_every_integer_dtype(camera):
    """int16, uint16, int64 and float32 copies of the same counts: the same noise level
    and the same result, from the CNN (in memory and through Dask) and a classical
    denoiser. The int16 copy was denoised unmapped (up to 748 counts away from the
    others on astropy's DSS plate, ``dss.14.29.56-62.41.05.fits.gz``)."""
    import dask.array as da

    from sklearn_denoise import CNNDenoiser
    from sklearn_denoise._validation import dtype_scale
    from sklearn_denoise.dask import denoise_dask
    from sklearn_denoise.noise import estimate_noise_level, poisson_gaussian

    counts = np.rint(poisson_gaussian(3000 + 17000 * camera, gain=20, read_sigma=150,
                                      random_state=0))
    layouts = [counts.astype(dtype) for dtype in (np.int16, np.uint16, np.int64,
                                                  np.float32)]
    levels = [estimate_noise_level(x) * dtype_scale(x.dtype) for x in layouts]
    np.testing.assert_allclose(levels, levels[-1], rtol=1e-3)
    cnn = CNNDenoiser.pretrained("gray")
    for denoise in (lambda x: cnn.transform(x[None])[0],
                    lambda x: WaveletDenoiser().fit(x[None]).transform(x[None])[0],
                    lambda x: denoise_dask(da.from_array(x, chunks=32), cnn).compute()):
        outputs = [np.asarray(denoise(x), np.float64) for x in layouts]
        for out in outputs[:-1]:
            np.testing.assert_allclose(out, outputs[-1], atol=2.0)  # sigma: 321 counts
