"""The comparison engine (Set12 protocol), its Markdown table and figure, and the
benchmarks/compare_denoisers.py script."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from sklearn_denoise import CNNDenoiser, TVDenoiser, available_models
from sklearn_denoise import _compare as cmp
from sklearn_denoise.datasets import load_sample_images

ROOT = Path(__file__).resolve().parents[1]
HAS_BM3D = importlib.util.find_spec("bm3d") is not None
HAS_GRAY = "gray" in available_models()


@pytest.fixture(scope="module")
def images():
    gray = load_sample_images()
    # two sizes, to check that different sizes are allowed
    return [gray[0][100:148, 200:248], gray[1][:40, :56]]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    clean = load_sample_images(size=48).astype(np.float32) / 255
    den = CNNDenoiser(width=4, depth=2, blocks=1, max_epochs=1, train_sigma=0.1,
                      patch_size=16, patches_per_image=2, random_state=0).fit(clean)
    return den.save(tmp_path_factory.mktemp("model") / "tiny.pt")


def test_parse_sigmas():
    assert cmp.parse_sigmas("15, 25,50") == [15.0, 25.0, 50.0]
    assert cmp.parse_sigmas(25) == [25.0]
    for bad in ("", "a,b", "0", "300", "15,-5"):
        with pytest.raises(ValueError):
            cmp.parse_sigmas(bad)


def test_rows_follow_the_protocol_and_denoising_helps(images):
    methods = cmp.default_methods(include=["wavelet", "tv", "sk-wavelet"])
    result = cmp.run_comparison(images, "15,50", methods, seed=3)
    assert [tuple(r[:2]) for r in result] == [
        (m, s) for m in ("noisy", "wavelet", "tv", "sk-wavelet") for s in (15.0, 50.0)
    ]
    rows = {(r.method, r.sigma): r for r in result}
    for sigma in (15.0, 50.0):
        noisy = rows[("noisy", sigma)]
        assert noisy.seconds == 0
        for m in ("wavelet", "tv", "sk-wavelet"):
            row = rows[(m, sigma)]
            assert row.psnr > noisy.psnr + 2, row
            assert row.ssim > noisy.ssim
            assert 0 < row.seconds < 5
    # WaveletDenoiser reproduces skimage's denoise_wavelet
    assert rows[("wavelet", 15.0)].psnr == pytest.approx(rows[("sk-wavelet", 15.0)].psnr)
    assert result.n_images == 2 and result.image_shapes == [(48, 48), (40, 56)]
    assert result.skipped == {}


def test_same_numbers_as_the_benchmark_protocol_helpers(images):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import _protocol
    finally:
        sys.path.pop(0)
    tv = TVDenoiser(weight=0.9 * 25 / 255)

    def denoise(img, sigma=None):
        return tv.fit(img[None]).transform(img[None])[0]

    expected_psnr, expected_ssim = _protocol.evaluate(denoise, images, 25, seed=0)
    result = cmp.run_comparison(images, [25], {"tv": cmp.default_methods(include=["tv"])["tv"]})
    row = result[-1]
    assert row.method == "tv"
    assert row.psnr == pytest.approx(expected_psnr)
    assert row.ssim == pytest.approx(expected_ssim)
    # the noise does not depend on the methods run alongside: same seed, same noise
    again = cmp.run_comparison(images, [25], {"f": lambda img, s: denoise(img)})
    assert again[-1].psnr == pytest.approx(expected_psnr)


# add_noise(CLEAN, 25, 3) as computed before the noise moved to sklearn_denoise.noise:
# clean / 255 + np.random.default_rng(3).normal(0.0, 25 / 255, clean.shape), as hex floats
CLEAN = np.array([[0, 64, 128, 255], [12, 200, 37, 99], [5, 250, 7, 180]], np.uint8)
NOISY_25_SEED_3 = [
    ["0x1.99c8d7f38da2cp-3", "0x1.bda43ea48d400p-12", "0x1.15fda7f50020ap-1",
     "0x1.e3800c9a977a9p-1"],
    ["0x1.5f7642f65dd80p-9", "0x1.86bf1a519c90cp-1", "-0x1.b1aed79c2d090p-5",
     "0x1.7644ccc50e867p-2"],
    ["-0x1.0b20f29d4a42ep-4", "0x1.4e6193fc73cabp+0", "0x1.9637508087594p-5",
     "0x1.57b609733438bp-1"],
]


def test_protocol_noise_is_bit_for_bit_what_the_published_figures_used():
    from sklearn_denoise.noise import gaussian

    expected = np.array([[float.fromhex(v) for v in row] for row in NOISY_25_SEED_3])
    noisy = cmp.add_noise(CLEAN, 25, 3)
    assert noisy.dtype == np.float64
    assert noisy.tobytes() == expected.tobytes()
    # one noise source: the same numbers from sklearn_denoise.noise.gaussian
    assert gaussian(CLEAN / 255.0, 25 / 255, random_state=3).tobytes() == expected.tobytes()


def test_quantize_is_the_library_conversion_and_rounds_as_before():
    from sklearn_denoise._validation import from_float

    x = np.random.default_rng(0).normal(0.5, 0.7, size=(64, 64))
    x[0, :4] = [-0.0, 1.0, 0.5 / 255, 254.5 / 255]
    old = np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)  # the protocol's rounding
    np.testing.assert_array_equal(cmp.quantize(x), old)
    np.testing.assert_array_equal(cmp.quantize(x), from_float(x, np.uint8))
    counts = np.arange(2**16, dtype=np.uint16).reshape(256, 256)  # every 16-bit value
    np.testing.assert_array_equal(cmp._to_uint8(counts, "auto", "counts.tif"),
                                  np.rint(counts / 257.0).astype(np.uint8))


def test_methods_come_from_the_one_table():
    from sklearn_denoise._methods import METHODS

    assert cmp.METHOD_NAMES == tuple(METHODS)
    methods = cmp.default_methods(include=["tv", "sk-nlm", "wavelet-cs"])
    assert list(methods) == ["tv", "sk-nlm", "wavelet-cs"]
    for name, method in methods.items():
        assert method.label == METHODS[name].label
    assert methods["wavelet-cs"].label == "WaveletDenoiser(BayesShrink, db1, cycle_spins=3)"
    tv = METHODS["tv"].denoiser(0.1)
    assert tv.get_params()["sigma"] == 0.1
    with pytest.raises(ValueError, match="not a classical denoiser"):
        METHODS["sk-tv"].denoiser(0.1)


def test_estimators_and_callables_are_accepted_and_failures_recorded(images):
    calls = []

    def identity(image, sigma):
        calls.append(sigma)
        return image

    def broken(image, sigma):
        raise RuntimeError("boom")

    result = cmp.run_comparison(
        images, [25], {"est": TVDenoiser(weight=0.1), "id": identity, "broken": broken},
        include_noisy=False,
    )
    assert [r.method for r in result] == ["est", "id"]
    assert calls == [pytest.approx(25 / 255)] * 2
    assert result.skipped["broken"].startswith("failed: RuntimeError: boom")
    identity_row = result[1]
    noisy = cmp.run_comparison(images, [25], {}, include_noisy=True)[0]
    assert identity_row.psnr == pytest.approx(noisy.psnr)  # identity = the noisy input
    with pytest.raises(TypeError, match="Method 'x'"):
        cmp.run_comparison(images, [25], {"x": 3})


def test_color_images_and_input_checks(images):
    rgb = [load_sample_images(color=True)[0][:40, :40]]
    result = cmp.run_comparison(rgb, [25], cmp.default_methods(include=["wavelet", "sk-nlm"]))
    rows = {r.method: r for r in result}
    assert rows["wavelet"].psnr > rows["noisy"].psnr + 2
    assert rows["sk-nlm"].psnr > rows["noisy"].psnr + 2
    with pytest.raises(TypeError, match="uint8"):
        cmp.run_comparison([images[0].astype(np.float64)], [25], {})
    with pytest.raises(ValueError, match="too small"):
        cmp.run_comparison([images[0][:8, :8]], [25], {})
    with pytest.raises(ValueError, match="No images"):
        cmp.run_comparison([], [25], {})


def test_default_methods_lists_every_denoiser_and_why_some_are_missing():
    methods = cmp.default_methods()
    expected = {"wavelet", "wavelet-cs", "tv", "nlm", "bilateral", "sk-wavelet", "sk-tv",
                "sk-nlm"}
    assert expected <= set(methods)
    assert set(methods) | set(methods.skipped) == set(cmp.METHOD_NAMES)
    assert ("bm3d" in methods) == HAS_BM3D
    if HAS_BM3D:
        assert methods["bm3d"].slow
    else:
        assert "pip install bm3d" in methods.skipped["bm3d"]
    if HAS_GRAY:
        assert "cnn" in methods
    else:
        assert "no pretrained model" in methods.skipped["cnn"]
    with pytest.raises(ValueError, match="Unknown method"):
        cmp.default_methods(include=["wavelet", "nope"])


def test_cnn_method_with_a_model_file_on_gray_and_color(images, tiny_model):
    methods = cmp.default_methods(model=tiny_model, include=["cnn"])
    assert "tiny.pt" in methods["cnn"].label
    rgb = load_sample_images(color=True)[0][:48, :48]
    result = cmp.run_comparison([images[0], rgb], [25], methods)
    assert [r.method for r in result] == ["noisy", "cnn"]
    assert result.skipped == {}
    assert result.examples[25.0]["cnn"].shape == images[0].shape


@pytest.mark.skipif(not HAS_GRAY, reason="no pretrained 'gray' model is shipped yet "
                    "(sklearn_denoise/pretrained/registry.json is empty)")
def test_pretrained_cnn_is_the_default_and_beats_the_noisy_input(images):
    methods = cmp.default_methods(include=["cnn"])
    result = cmp.run_comparison(images, [25], methods)
    rows = {r.method: r for r in result}
    assert rows["cnn"].psnr > rows["noisy"].psnr + 5


def test_markdown_table(images):
    result = cmp.run_comparison(images, [15, 25], cmp.default_methods(include=["wavelet", "tv"]))
    result.skipped["bm3d"] = "needs the optional bm3d package"
    text = cmp.to_markdown(result, title="## title")
    lines = text.splitlines()
    assert lines[0] == "## title"
    header = next(line for line in lines if line.startswith("| method"))
    assert header == "| method | denoiser | sigma=15 | sigma=25 |"
    body = [line for line in lines if line.startswith("| `")]
    assert [line.split("|")[1].strip() for line in body] == ["`noisy`", "`wavelet`", "`tv`"]
    rows = {(r.method, r.sigma): r for r in result}
    tv_cells = body[2].split("|")[3].strip()
    assert tv_cells.startswith(f"**{rows[('tv', 15.0)].psnr:.2f}**")  # TV is best here
    assert tv_cells.endswith(" s")
    assert f"{rows[('noisy', 15.0)].psnr:.2f} / " in body[0]
    assert "mean over 2 images in grayscale;" in text
    assert "Not run: `bm3d` (needs the optional bm3d package)." in text
    assert text.isascii()
    # plain rows render too
    assert "| `tv` |" in cmp.to_markdown(list(result))


def test_figure_is_written_atomically_with_psnr_titles(images, tmp_path):
    pytest.importorskip("matplotlib", reason="the figure needs matplotlib")
    result = cmp.run_comparison(images, [15, 50], cmp.default_methods(include=["tv"]),
                                keep_image=1, names=["a", "b"])
    assert set(result.examples[50.0]) == {"clean", "noisy", "tv"}
    assert result.example_psnr[50.0]["tv"] > result.example_psnr[50.0]["noisy"]
    path = cmp.save_figure(result, tmp_path / "fig.png", sigma=50, crop=32)
    figure = iio.imread(path)
    assert figure.ndim == 3 and figure.shape[0] > 100 and figure.shape[1] > 200
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]
    with pytest.raises(ValueError, match="was not run"):
        cmp.save_figure(result, tmp_path / "x.png", sigma=25)


def _one_textured_region(size=160, box=(100, 20, 48, 48)):
    """A flat gray image with one textured square (x, y, w, h) of contrast above the noise,
    plus what fools a gradient-energy search: fine grain below the noise level (more
    gradient energy than the texture) and a strong straight edge."""
    rng = np.random.default_rng(0)
    img = np.full((size, size), 128.0)
    img[:, :20] = 0
    x, y, w, h = box
    gx, gy = 40, size - 64  # the grain, away from the texture
    img[gy : gy + 48, gx : gx + 48] += rng.integers(-30, 31, (48, 48))
    yy, xx = np.mgrid[0:h, 0:w]
    img[y : y + h, x : x + w] += 60 * np.sin(2 * np.pi * xx / 12) * np.sin(2 * np.pi * yy / 12)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_figure_crop_lands_on_the_textured_region():
    image = _one_textured_region()
    x, y, w, h = cmp._detail_crop(image, 32, level=25)
    assert (w, h) == (32, 32)
    assert 100 <= x <= 148 - 32 and 20 <= y <= 68 - 32, (x, y)  # inside the texture
    # an image smaller than the crop is shown whole
    assert cmp._detail_crop(image[:20, :30], 32) == (0, 0, 30, 20)


def test_figure_with_all_sigmas_and_a_given_crop(tmp_path):
    pytest.importorskip("matplotlib", reason="the figure needs matplotlib")
    image = _one_textured_region()
    result = cmp.run_comparison([image], [15, 25, 50], cmp.default_methods(include=["tv"]))
    assert cmp.figure_crop(result, crop=32) == cmp._detail_crop(image, 32, level=25)
    assert cmp.figure_crop(result, crop=(5, 6, 40, 30)) == (5, 6, 40, 30)
    one = iio.imread(cmp.save_figure(result, tmp_path / "one.png", crop=(5, 6, 40, 30)))
    every = iio.imread(cmp.save_figure(result, tmp_path / "all.png", sigma="all"))
    two = iio.imread(cmp.save_figure(result, tmp_path / "two.png", sigma=[15, 50]))
    assert every.shape[0] > two.shape[0] > one.shape[0]  # a row of panels per sigma
    with pytest.raises(ValueError, match="does not fit in the 160x160 image"):
        cmp.save_figure(result, tmp_path / "x.png", crop=(150, 0, 20, 20))
    with pytest.raises(ValueError, match="sigma=30 was not run"):
        cmp.save_figure(result, tmp_path / "x.png", sigma=[15, 30])
    assert not (tmp_path / "x.png").exists()


def test_figure_without_matplotlib_names_the_install_command(images, tmp_path, monkeypatch):
    result = cmp.run_comparison(images, [25], {}, keep_image=0)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        cmp.save_figure(result, tmp_path / "fig.png")
    assert not list(tmp_path.iterdir())


def test_load_images_from_a_folder(tmp_path):
    from sklearn_denoise.io import write_image

    rgb = load_sample_images(color=True)[0][:50, :60]
    write_image(tmp_path / "b.png", rgb)
    write_image(tmp_path / "a.tif", (load_sample_images()[0][:40, :40].astype(np.uint16) * 257))
    (tmp_path / "notes.txt").write_text("ignored")
    images, names = cmp.load_images(tmp_path, size=32)
    assert names == ["a", "b"]
    assert [img.shape for img in images] == [(32, 32), (32, 32)]
    assert all(img.dtype == np.uint8 for img in images)
    images, _ = cmp.load_images(tmp_path, color=True, max_images=1)
    assert images[0].shape == (40, 40, 3)
    images, _ = cmp.load_images(tmp_path, color="auto")  # each image as it is
    assert [img.shape for img in images] == [(40, 40), (50, 60, 3)]
    np.testing.assert_array_equal(images[1], rgb)
    with pytest.raises(ValueError, match="not a folder"):
        cmp.load_images(tmp_path / "missing")


def test_benchmark_script(tmp_path):
    pytest.importorskip("matplotlib", reason="the figure needs matplotlib")
    figure = tmp_path / "bench.png"
    table = tmp_path / "bench.md"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "compare_denoisers.py"), "--size", "40",
         "--max-images", "2", "--sigmas", "25", "--methods", "wavelet,tv", "sk-tv",
         "--figure", str(figure), "--output", str(table)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "| `wavelet` |" in proc.stdout and "| `sk-tv` |" in proc.stdout
    assert "sigma=25" in proc.stdout
    assert table.read_text().startswith("## Denoiser comparison: 2 image(s)")
    assert iio.imread(figure).ndim == 3
