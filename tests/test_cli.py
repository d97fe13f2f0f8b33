"""The ``sklearn-denoise`` command line, driven as a real subprocess on real files."""

import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import imageio.v3 as iio
import joblib
import numpy as np
import pytest
import torch

from sklearn_denoise import CNNDenoiser, available_models
from sklearn_denoise._io import read_image, write_image
from sklearn_denoise._weights import load_weights
from sklearn_denoise.cli import _learning_rate, build_parser, main
from sklearn_denoise.datasets import load_sample_images
from sklearn_denoise.methods import FINE_TUNING_LR

ROOT = Path(__file__).resolve().parents[1]
SET12 = ROOT.parent / "shared" / "data" / "set12"
HAS_GRAY = "gray" in available_models()
NO_PRETRAINED = "no pretrained 'gray' model is shipped yet (sklearn_denoise/pretrained/" \
    "registry.json is empty)"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
TINY = ["--width", "16", "--depth", "2", "--blocks", "1", "--patch-size", "32",
        "--patches-per-image", "4"]


def run(*args, entry_point=False, cwd=None, env=None):
    """Run the command line in a subprocess; returns the CompletedProcess. ``env``
    updates the environment (a None value removes the variable)."""
    if entry_point:
        script = Path(sys.executable).parent / "sklearn-denoise"
        if not script.exists():
            found = shutil.which("sklearn-denoise")
            if found is None:
                pytest.skip("the sklearn-denoise entry point is not installed")
            script = Path(found)
        cmd = [str(script)]
    else:
        cmd = [sys.executable, "-m", "sklearn_denoise"]
    environ = dict(os.environ)
    for key, value in (env or {}).items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True,
                          timeout=600, cwd=cwd, env=environ)


def _noisy(clean, sigma255, seed):
    """Clean integer image + Gaussian noise of sigma255/255 of the range, same dtype."""
    peak = np.iinfo(clean.dtype).max
    rng = np.random.default_rng(seed)
    noisy = clean / peak + rng.normal(0, sigma255 / 255, clean.shape)
    return np.rint(np.clip(noisy, 0, 1) * peak).astype(clean.dtype)


def _mse(a, b):
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def _digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def clean_images():
    gray = load_sample_images()[0][96:192, 160:256]  # camera crop
    rgb = load_sample_images(color=True)[0][64:160, 160:256]  # astronaut crop
    return {
        "gray8.png": gray,
        "rgb8.png": rgb,
        "rgba8.png": np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 200, np.uint8)], -1),
        "gray16.tif": gray.astype(np.uint16) * 257,
        "rgb16.tiff": rgb.astype(np.uint16) * 257,
        "rgb16.png": rgb.astype(np.uint16) * 257,
        "photo.jpg": rgb,
    }


@pytest.fixture
def noisy_folder(tmp_path, clean_images):
    folder = tmp_path / "in"
    folder.mkdir()
    for k, (name, clean) in enumerate(clean_images.items()):
        if clean.shape[-1] == 4:
            noisy = np.concatenate([_noisy(clean[..., :3], 25, k), clean[..., 3:]], -1)
        else:
            noisy = _noisy(clean, 25, k)
        write_image(folder / name, noisy)
    (folder / "README.txt").write_text("not an image: folders list image files only")
    return folder


def test_denoise_folder_keeps_format_and_removes_noise(noisy_folder, clean_images, tmp_path):
    before = {p.name: _digest(p) for p in noisy_folder.iterdir()}
    out = tmp_path / "out" / "nested"  # created, parents too
    proc = run("denoise", noisy_folder, "-o", out, "--method", "wavelet", entry_point=True)
    assert proc.returncode == 0, proc.stderr
    assert "denoised 7 of 7 images" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(clean_images)
    for name, clean in clean_images.items():
        noisy = read_image(noisy_folder / name)
        result = read_image(out / name)
        assert result.dtype == noisy.dtype, name  # bit depth kept
        assert result.shape == noisy.shape, name  # colour mode (and alpha) kept
        if clean.shape[-1] == 4:
            np.testing.assert_array_equal(result[..., 3], clean[..., 3])  # alpha untouched
            result, noisy, clean = result[..., :3], noisy[..., :3], clean[..., :3]
        assert _mse(result, clean) < 0.6 * _mse(noisy, clean), name
    # inputs untouched
    assert {p.name: _digest(p) for p in noisy_folder.iterdir()} == before


def test_corrupt_and_missing_inputs_are_reported_and_the_rest_processed(noisy_folder,
                                                                         tmp_path):
    (noisy_folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    (noisy_folder / "broken.tif").write_bytes(b"II*\x00" + b"\x00" * 40)
    out = tmp_path / "out"
    proc = run("denoise", noisy_folder, tmp_path / "missing.png", "-o", out, "--method", "tv",
               "--sigma", "25", "-q")
    assert proc.returncode == 1
    assert "corrupt.png" in proc.stderr and "broken.tif" in proc.stderr
    assert "missing.png: no such file" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "denoised 7 of 10 images" in proc.stderr and "3 failed" in proc.stderr
    produced = {p.name for p in out.iterdir()}
    assert "corrupt.png" not in produced and "broken.tif" not in produced
    assert len(produced) == 7
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files


def test_single_files_estimated_sigma_and_methods(noisy_folder, clean_images, tmp_path):
    out = tmp_path / "out"
    files = [noisy_folder / "gray8.png", noisy_folder / "rgb16.tiff"]
    for method in ("nlm", "bilateral", "wavelet-cs"):  # every denoiser of the method table
        proc = run("denoise", *files, "-o", out / method, "--method", method, "-q")
        assert proc.returncode == 0, proc.stderr
        for f in files:
            result = read_image(out / method / f.name)
            clean = clean_images[f.name]
            assert result.dtype == clean.dtype
            assert _mse(result, clean) < _mse(read_image(f), clean), (method, f.name)


def test_refuses_to_overwrite_inputs(noisy_folder):
    before = {p.name: _digest(p) for p in noisy_folder.iterdir()}
    proc = run("denoise", noisy_folder / "gray8.png", "-o", noisy_folder, "--method", "wavelet")
    assert proc.returncode == 2
    assert "refusing to overwrite input file" in proc.stderr
    assert "Traceback" not in proc.stderr
    # the same folder reached by another path is refused as well
    proc = run("denoise", noisy_folder, "-o", noisy_folder / ".." / noisy_folder.name,
               "--method", "wavelet")
    assert proc.returncode == 2 and "refusing to overwrite" in proc.stderr
    assert {p.name: _digest(p) for p in noisy_folder.iterdir()} == before


def test_unwritable_output_path_is_a_clear_error_even_for_root(noisy_folder, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("a regular file where a folder is needed")
    proc = run("denoise", noisy_folder / "gray8.png", "-o", blocker / "out", "--method",
               "wavelet")
    assert proc.returncode == 2
    assert "cannot create output folder" in proc.stderr and "Not a directory" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run("denoise", noisy_folder / "gray8.png", "-o", blocker, "--method", "wavelet")
    assert proc.returncode == 2 and "is not a folder" in proc.stderr


@pytest.mark.skipif(IS_ROOT, reason="root ignores folder permissions; the regular-file "
                    "parent test covers unwritable outputs for root")
def test_read_only_output_folder(noisy_folder, tmp_path):
    out = tmp_path / "readonly"
    out.mkdir()
    out.chmod(0o555)
    try:
        proc = run("denoise", noisy_folder / "gray8.png", "-o", out, "--method", "wavelet")
    finally:
        out.chmod(0o755)
    assert proc.returncode == 2
    assert "cannot write to output folder" in proc.stderr
    assert "Permission denied" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(out.iterdir()) == []


@pytest.mark.skipif(IS_ROOT, reason="root can read files without read permission")
def test_unreadable_input_file_is_reported(noisy_folder, tmp_path):
    locked = noisy_folder / "gray8.png"
    locked.chmod(0o000)
    try:
        proc = run("denoise", noisy_folder, "-o", tmp_path / "out", "--method", "wavelet")
    finally:
        locked.chmod(0o644)
    assert proc.returncode == 1
    assert "gray8.png: cannot open" in proc.stderr
    assert len(list((tmp_path / "out").iterdir())) == 6


# ------------------------------------------------------------------ sensor data, stacks
def _sensor_counts(clean, seed, *, peak=60, gain=1.0, read=2.0, black=100.0):
    """uint16 raw counts of a camera: Poisson-Gaussian noise around black + peak * clean."""
    from sklearn_denoise.noise import poisson_gaussian

    raw = poisson_gaussian(peak * clean, gain=gain, read_sigma=read, black_level=black,
                           random_state=seed)
    return np.clip(np.rint(raw), 0, 65535).astype(np.uint16)


@pytest.fixture
def sensor_stack(tmp_path):
    """An ImageJ z-stack of 3 uint16 planes of low-count sensor data, and the truth."""
    scene = load_sample_images()[0][64:128, 160:224] / 255  # 64x64: enough to estimate
    truth = np.stack([100 + 60 * np.roll(scene, 4 * k, axis=1) for k in range(3)])
    stack = np.stack([_sensor_counts(t - 100, k, peak=1) for k, t in enumerate(truth)])
    folder = tmp_path / "raw"
    folder.mkdir()
    tifffile = pytest.importorskip("tifffile")
    tifffile.imwrite(folder / "stack.tif", stack, imagej=True, resolution=(4.0, 4.0),
                     metadata={"axes": "ZYX", "spacing": 0.25, "unit": "um"})
    return folder / "stack.tif", stack, truth


def _noise_lines(stdout):
    return {line.split(":")[0]: line for line in stdout.splitlines() if "noise" in line}


def _number_after(text, label):
    return float(text.split(label, 1)[1].split()[0].split("/")[0].rstrip(","))


@pytest.mark.parametrize("method", ["cnn", "tv"])
def test_denoise_16bit_stack_plane_by_plane_with_its_noise_model(sensor_stack, tmp_path,
                                                                  method):
    if method == "cnn" and not HAS_GRAY:
        pytest.skip(NO_PRETRAINED)
    import tifffile

    path, stack, truth = sensor_stack
    out = tmp_path / "out"
    proc = run("denoise", path, "-o", out, "--method", method, "--axes", "YX", "-q")
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip()
    assert line.startswith(f"{path} (stack of 3 planes ZYX, noise from plane 2): "
                           "poisson-gaussian noise, gain "), line
    assert line.endswith("(estimated)")
    assert 0.6 < _number_after(line, "gain ") < 1.5  # counts per photo-electron: 1
    assert 95 < _number_after(line, "black level ") < 106
    with tifffile.TiffFile(out / "stack.tif") as tif:  # same layout, dtype and metadata
        series = tif.series[0]
        result = series.asarray()
        assert series.axes == "ZYX" and result.shape == stack.shape
        assert result.dtype == np.uint16
        assert tif.imagej_metadata["spacing"] == 0.25 and tif.imagej_metadata["unit"] == "um"
        assert tif.pages[0].resolution == (4.0, 4.0)
    for k in range(3):  # each plane denoised on the counts' scale
        assert _mse(result[k], truth[k]) < 0.5 * _mse(stack[k], truth[k]), k


def test_denoise_known_sensor_parameters_and_noise_options(sensor_stack, noisy_folder,
                                                           tmp_path):
    path, stack, truth = sensor_stack
    gray = noisy_folder / "gray8.png"  # Gaussian noise of sigma 25/255
    proc = run("denoise", path, gray, "-o", tmp_path / "a", "--method", "wavelet", "--axes",
               "YX", "-q")
    assert proc.returncode == 0, proc.stderr
    lines = _noise_lines(proc.stdout)
    assert "poisson-gaussian noise" in lines[f"{path} (stack of 3 planes ZYX, noise from "
                                             "plane 2)"]
    assert lines[str(gray)].startswith(f"{gray}: gaussian noise, sigma ")
    assert 20 < _number_after(lines[str(gray)], "sigma ") < 30
    # known parameters, in counts
    proc = run("denoise", path, "-o", tmp_path / "b", "--method", "wavelet", "--gain", 1,
               "--read-noise", 2, "--black-level", 100, "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith(": poisson-gaussian noise, gain 1, read noise 2, "
                                        "black level 100 (given)")
    result = read_image_planes(tmp_path / "b" / "stack.tif")
    assert _mse(result, truth) < 0.5 * _mse(stack, truth)
    # some given, the others estimated
    proc = run("denoise", path, "-o", tmp_path / "c", "--method", "tv", "--black-level", 100,
               "-q")
    assert proc.returncode == 0, proc.stderr
    assert "black level 100 (--black-level given, --gain and --read-noise estimated)" \
        in proc.stdout
    # --noise forces the model
    proc = run("denoise", path, gray, "-o", tmp_path / "d", "--method", "wavelet", "--noise",
               "gaussian", "--axes", "YX", "-q")
    assert proc.returncode == 0, proc.stderr
    lines = _noise_lines(proc.stdout)
    assert all(": gaussian noise, sigma " in line for line in lines.values()), lines
    assert "(uint16 values) (estimated)" in lines[f"{path} (stack of 3 planes ZYX, noise "
                                                  "from plane 2)"]


@pytest.mark.parametrize("method", ["cnn", "wavelet"])
def test_denoise_stack_jointly_equals_the_python_volume_call(sensor_stack, tmp_path,
                                                             method):
    """A stack file is denoised jointly by default, with the result of the estimator
    with axes="ZYX" on the whole volume (the CNN in chunks of planes)."""
    if method == "cnn" and not HAS_GRAY:
        pytest.skip(NO_PRETRAINED)
    from sklearn_denoise import CNNDenoiser, WaveletDenoiser

    path, _, truth = sensor_stack
    tifffile = pytest.importorskip("tifffile")
    # 20 planes: more than the planes a stack network decides on and one chunk of planes
    rng = np.random.default_rng(0)
    shifts = np.cumsum(rng.integers(-1, 2, size=(20, 2)), axis=0)
    scene = load_sample_images()[1][:64, :64] / 255
    clean = np.stack([np.roll(scene, tuple(s), axis=(0, 1)) for s in shifts])
    stack = np.stack([_sensor_counts(c, k, peak=30) for k, c in enumerate(clean)])
    tifffile.imwrite(tmp_path / "long.tif", stack, imagej=True, metadata={"axes": "ZYX"})
    proc = run("denoise", tmp_path / "long.tif", "-o", tmp_path / "out", "--method", method,
               "--threads", 1, "-q")
    assert proc.returncode == 0, proc.stderr
    noise_from = ", noise from 16 of them" if method == "cnn" else ""
    assert proc.stdout.startswith(f"{tmp_path / 'long.tif'} (stack of 20 planes ZYX, "
                                  f"denoised jointly{noise_from}): "), proc.stdout
    result = tifffile.imread(tmp_path / "out" / "long.tif")
    if method == "cnn":
        est = CNNDenoiser.pretrained("gray", axes="ZYX", n_threads=1)
    else:
        est = WaveletDenoiser(axes="ZYX", noise_model="auto").fit(stack[None])
    np.testing.assert_array_equal(result, est.transform(stack[None])[0])
    assert _mse(result, 100 + 30 * clean) < 0.5 * _mse(stack, 100 + 30 * clean)


def test_denoise_stack_axes_option(sensor_stack, tmp_path):
    path, _, _ = sensor_stack
    proc = run("denoise", path, "-o", tmp_path / "a", "--method", "bilateral", "-q")
    assert proc.returncode == 0, proc.stderr  # auto: plane by plane where it must
    assert "bilateral cannot denoise the stack jointly" in proc.stdout
    assert "noise from plane 2" in proc.stdout
    proc = run("denoise", path, "-o", tmp_path / "b", "--method", "bilateral", "--axes",
               "ZYX", "-q")
    assert proc.returncode == 1
    assert "--axes ZYX:" in proc.stderr and not (tmp_path / "b" / "stack.tif").exists()


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("_positive_int", "0", "expected a positive integer, got 0"),
        ("_positive_int", "2.5", "expected a positive integer, got '2.5'"),
        ("_non_negative_int", "-1", "expected an integer >= 0, got -1"),
        ("_finite_float", "x", "expected a number, got 'x'"),
        ("_finite_float", "inf", "expected a finite number, got inf"),
        ("_non_negative_float", "-1", "expected a number >= 0, got -1"),
        ("_non_negative_float", "nan", "expected a finite number, got nan"),
        ("_positive_float", "0", "expected a positive number, got 0"),
    ],
)
def test_number_argument_types(name, text, message):
    import argparse

    from sklearn_denoise import cli

    parse = getattr(cli, name)
    with pytest.raises(argparse.ArgumentTypeError, match=f"^{message}$"):
        parse(text)
    assert parse("3") == 3 and type(parse("3")) is (int if name.endswith("int") else float)


def test_denoise_noise_option_errors(sensor_stack, tmp_path, capsys):
    path, stack, _ = sensor_stack
    base = ["denoise", str(path), "-o", str(tmp_path / "o"), "--method", "tv", "-q"]
    cases = [
        (["--gain", "-1"], "argument --gain: expected a number >= 0, got -1"),
        (["--read-noise", "nan"], "argument --read-noise: expected a finite number"),
        (["--gain", "0", "--read-noise", "0"], "--gain 0 and --read-noise 0 describe "
                                               "noise-free data"),
        (["--sigma", "25", "--gain", "1"], "--sigma sets a white Gaussian noise level"),
        (["--noise", "gaussian", "--black-level", "90"], "cannot be combined with --noise "
                                                         "gaussian"),
        (["--noise", "laplace"], "invalid choice: 'laplace'"),
    ]
    for extra, message in cases:
        assert _exit_code(base + extra) == 2, extra
        assert message in capsys.readouterr().err, extra
    assert not (tmp_path / "o").exists()
    # a black level above the data is an error of that file (the others go on)
    proc = run(*base, "--black-level", 70000)
    assert proc.returncode == 1
    assert (f"{path}: cannot denoise: --black-level 70000 is above every value of {path} "
            f"(maximum {stack[1].max()})") in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_stack_that_fails_midway_leaves_no_output(tmp_path):
    import tifffile

    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    planes = np.stack([_noisy(load_sample_images()[0][:48, :48], 25, k) for k in range(3)])
    tifffile.imwrite(folder / "z.tif", planes, compression="zlib", photometric="minisblack")
    with tifffile.TiffFile(folder / "z.tif") as tif:  # damage the last plane's data
        offset, count = tif.pages[2].dataoffsets[0], tif.pages[2].databytecounts[0]
    data = bytearray((folder / "z.tif").read_bytes())
    data[offset:offset + count] = b"\xff" * count
    (folder / "z.tif").write_bytes(bytes(data))
    proc = run("denoise", folder, "-o", out, "--method", "wavelet", "-q")
    assert proc.returncode == 1
    assert "z.tif: cannot read plane 3 of 3 as TIFF" in proc.stderr
    assert list(out.iterdir()) == []  # neither a half-written stack nor a temporary file


def test_denoise_stack_memory_is_bounded_by_a_plane(tmp_path):
    import tifffile

    rng = np.random.default_rng(0)
    stack = rng.integers(900, 1100, (128, 96, 96), dtype=np.uint16)  # 2.4 MB
    tifffile.imwrite(tmp_path / "big.tif", stack)
    tifffile.imwrite(tmp_path / "warm-up.tif", stack[:2])
    script = textwrap.dedent("""
        import sys, tracemalloc
        from sklearn_denoise.cli import main
        out, files = sys.argv[1], sys.argv[2:]
        # the first run imports what the command needs; the second is measured
        assert main(["denoise", files[0], "-o", out, "--method", "tv", "--axes", "YX",
                     "-q"]) == 0
        tracemalloc.start()
        code = main(["denoise", files[1], "-o", out, "--method", "tv", "--axes", "YX",
                     "-q"])
        print(code, tracemalloc.get_traced_memory()[1])
    """)
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "out"),
                           str(tmp_path / "warm-up.tif"), str(tmp_path / "big.tif")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    code, peak = proc.stdout.split()[-2:]
    assert code == "0"
    assert int(peak) < stack.nbytes / 3, peak  # a float64 copy of it would take 9.4 MB
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out" / "big.tif").shape,
                                  stack.shape)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_GRAY, reason=NO_PRETRAINED)
def test_denoise_stack_jointly_with_the_cnn_in_bounded_memory(tmp_path):
    """The stack network reads a long file in chunks of planes: the peak memory does not
    grow with the number of planes."""
    import tifffile

    rng = np.random.default_rng(0)
    stack = rng.integers(900, 1100, (120, 32, 32), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "short.tif", stack[:40], imagej=True, metadata={"axes": "ZYX"})
    tifffile.imwrite(tmp_path / "long.tif", stack, imagej=True, metadata={"axes": "ZYX"})
    script = textwrap.dedent("""
        import sys, tracemalloc
        from sklearn_denoise.cli import main
        folder = sys.argv[1]
        peaks = []
        for name in ("short", "short", "long"):  # the first run imports and loads
            tracemalloc.start()
            assert main(["denoise", f"{folder}/{name}.tif", "-o",
                         f"{folder}/out{len(peaks)}",
                         "--threads", "1", "-q"]) == 0
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        print(peaks[1], peaks[2])
    """)
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    short, long = map(int, proc.stdout.split()[-2:])
    assert long < 1.25 * short, (short, long)  # 3 times the planes
    assert "denoised jointly, noise from 16 of them" in proc.stdout


def read_image_planes(path):
    import tifffile

    return tifffile.imread(path)


@pytest.mark.skipif(not HAS_GRAY, reason=NO_PRETRAINED)
def test_threads_and_device_of_the_network(noisy_folder, tmp_path):
    tiny = ["compare", "--methods", "cnn", "--size", 32, "--max-images", 1, "--sigma", 25,
            "-q"]
    proc = run(*tiny, "--threads", 1, "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert "The CNN ran on cpu, 1 thread." in proc.stdout
    # default: the idle cores, at most $OMP_NUM_THREADS (torch's own setting)
    proc = run(*tiny, env={"OMP_NUM_THREADS": "1"})
    assert "The CNN ran on cpu, 1 thread." in proc.stdout
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        os.cpu_count()
    script = textwrap.dedent("""
        import sys
        from sklearn_denoise import _threads
        from sklearn_denoise.cli import main
        load = float(sys.argv[1])  # cores other processes keep busy
        _threads._OTHER_LOAD.busy_cores = lambda: load
        main(sys.argv[2:])
    """)
    environ = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    for load, threads in ((0.0, min(torch.get_num_threads(), cores)), (cores + 3.0, 1)):
        proc = subprocess.run([sys.executable, "-c", script, str(load), *map(str, tiny)],
                              capture_output=True, text=True, timeout=600, env=environ)
        assert proc.returncode == 0, proc.stderr
        plural = "s" if threads > 1 else ""
        assert f"The CNN ran on cpu, {threads} thread{plural}." in proc.stdout, load
    proc = run("denoise", noisy_folder / "gray8.png", "-o", tmp_path / "o", "--threads", 1)
    assert proc.returncode == 0, proc.stderr
    assert "with cnn (cpu, 1 thread) in" in proc.stderr
    if not torch.cuda.is_available():
        for args in (tiny, ["denoise", noisy_folder, "-o", tmp_path / "p"]):
            proc = run(*args, "--device", "cuda")
            assert proc.returncode == 2
            assert "--device cuda: device='cuda' was requested but CUDA is not available" \
                in proc.stderr
        assert not (tmp_path / "p").exists()
    proc = run(*tiny, "--threads", 0)
    assert proc.returncode == 2 and "expected a positive integer, got 0" in proc.stderr


def test_sigma_below_1_warns_about_the_scale(noisy_folder, train_folders, tmp_path):
    gray = noisy_folder / "gray8.png"
    proc = run("denoise", gray, "-o", tmp_path / "a", "--method", "wavelet", "--sigma", 0.1)
    assert proc.returncode == 0, proc.stderr
    assert (f"sklearn-denoise: warning: {gray}: --sigma 0.1 is in the file's units (uint8 "
            "values): a noise standard deviation of 0.00039 of the range") in proc.stderr
    assert "gaussian noise, sigma 0.1 (uint8 values) (given)" in proc.stdout  # as it says
    proc = run("denoise", gray, "-o", tmp_path / "b", "--method", "wavelet", "--sigma", 25)
    assert proc.returncode == 0 and "warning" not in proc.stderr
    proc = run("compare", "--methods", "wavelet", "--size", 32, "--max-images", 1,
               "--sigma", "0.2,25", "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("warning: --sigma") == 1
    assert "--sigma 0.2 is read on the 0-255 scale" in proc.stderr and "pass --sigma 51" \
        in proc.stderr
    cdir, _, _ = train_folders
    proc = run("train", "--clean", cdir, "--out", tmp_path / "m.pt", "--sigma", "0,0.2",
               "--epochs", 1, "-q", *TINY)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("warning: --sigma") == 1 and "--sigma 0.2 is read" in proc.stderr


@pytest.mark.parametrize("command", [None, "denoise", "compare", "train"])
def test_help_of_every_command(command):
    proc = run(*([command] if command else []), "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: sklearn-denoise")
    expected = {
        None: ["denoise", "compare", "train", "0-255 scale", "143 terminated"],
        "denoise": ["--method", "--sigma", "file's own units", "--model", "never overwritten",
                    "cnn,wavelet,wavelet-cs,tv,nlm,bilateral,bm3d", "--overwrite",
                    "--max-pixels",
                    "already exist", ".NAME.<host>-<pid>.<hex>.tmp", "--noise", "--gain",
                    "--read-noise",
                    "--black-level", "TIFF stacks of gray planes", "Poisson-Gaussian",
                    "--threads", "--device", "$OMP_NUM_THREADS"],
        "compare": ["--images", "--sigma", "--figure", "--methods", "skips the slow",
                    "--threads", "--device", "--gray", "colour images in colour",
                    "--figure-sigmas", "--crop X,Y,W,H", "most detail"],
        "train": ["--clean", "--noisy", "--init", "--out", "--epochs", "--sigma",
                  "--checkpoint", "--width", "--patch-size", "self-supervised",
                  "--max-pixels", "never a pickle", "at least 8x8", "--threads", "--device"],
    }[command]
    text = " ".join(proc.stdout.split())
    for word in expected:
        assert word in text, word


def test_method_options_come_from_the_method_table():
    from sklearn_denoise._methods import METHODS
    from sklearn_denoise.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    method = next(a for a in commands["denoise"]._actions if a.dest == "method")
    assert list(method.choices) == [n for n, m in METHODS.items() if m.kind != "reference"]
    methods = next(a for a in commands["compare"]._actions if a.dest == "methods")
    assert ", ".join(METHODS) in methods.help


def _exit_code(args):
    try:
        return main([str(a) for a in args])
    except SystemExit as exc:  # argparse errors
        return exc.code


def test_usage_errors_exit_2_with_a_clear_message(noisy_folder, tmp_path, capsys):
    cases = [
        (["denoise", noisy_folder, "-o", tmp_path / "o", "--sigma", "-1"],
         "expected a positive number"),
        (["denoise", noisy_folder, "-o", tmp_path / "o", "--method", "median"],
         "invalid choice"),
        (["denoise", noisy_folder, "-o", tmp_path / "o", "--model", tmp_path / "none.pt"],
         "neither an existing weight file"),
        (["denoise", noisy_folder, "-o", tmp_path / "o", "--method", "tv", "--model", "x"],
         "only used with --method cnn"),
        (["denoise", noisy_folder, "-o", tmp_path / "o", "--method", "tv",
          "--self-ensemble", "2"], "--self-ensemble is only used with --method cnn"),
        (["denoise", noisy_folder, "-o", tmp_path / "o", "--self-ensemble", "3"],
         "invalid choice"),
        (["denoise", tmp_path / "nothing_here", "-o", tmp_path / "o", "--method", "tv"],
         "no such file or folder"),
        (["train", "--out", tmp_path / "m.pt"], "give --clean DIR, --noisy DIR or both"),
        (["train", "--clean", tmp_path, "--out", tmp_path / "m.pt", "--sigma", "9,3"],
         "0 <= A <= B <= 255"),
        (["denoise", "-o", tmp_path / "o"], "give the input files or folders and -o"),
        (["denoise", noisy_folder], "give the input files or folders and -o"),
        (["compare", "--methods", "nope"], "Unknown method"),
        (["compare", "--sigma", "a,b"], "invalid noise levels"),
    ]
    for args, message in cases:
        code = _exit_code(args)
        err = capsys.readouterr().err
        assert code in (1, 2), args
        assert message in err, (args, err)
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())
    # through the real script: exit code 2 and no traceback
    proc = run(*cases[2][0])
    assert proc.returncode == 2
    assert proc.stderr.startswith("sklearn-denoise: error: --model")
    assert "Traceback" not in proc.stderr


def test_list_models(capsys):
    assert main(["denoise", "--list-models"]) == 0
    out = capsys.readouterr().out
    if not available_models():
        assert "no pretrained models" in out
        return
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == available_models()
    # one line each: the name, then what the model is
    assert all(len(line.split()) > 3 for line in lines)
    assert "RGB" in dict(zip(available_models(), lines)).get("color", "RGB")


@pytest.mark.skipif(HAS_GRAY, reason="a pretrained model is shipped: cnn works by default")
def test_cnn_without_a_shipped_model_asks_for_one(noisy_folder, tmp_path):
    proc = run("denoise", noisy_folder, "-o", tmp_path / "o")
    assert proc.returncode == 2
    assert "no pretrained CNN model is shipped" in proc.stderr
    assert "--model PATH" in proc.stderr


@pytest.fixture
def train_folders(tmp_path):
    clean = load_sample_images(size=96)
    cdir, ndir = tmp_path / "clean", tmp_path / "noisy"
    cdir.mkdir()
    ndir.mkdir()
    for k, img in enumerate(clean[:4]):
        write_image(cdir / f"{k}.png", img)
        write_image(ndir / f"{k}.png", _noisy(img, 25, k))
    return cdir, ndir, clean


def test_train_then_denoise_with_the_model_round_trip(train_folders, tmp_path, capsys):
    cdir, _, clean = train_folders
    model, ckpt = tmp_path / "model.pt", tmp_path / "ckpt.pt"
    # train in-process (the subprocess start-up is tested elsewhere), denoise in a subprocess
    code = main(["train", "--clean", str(cdir), "--out", str(model), "--epochs", "1",
                 "--sigma", "15,35", "--checkpoint", str(ckpt), *TINY])
    assert code == 0
    stdout = capsys.readouterr().out
    assert "epoch" in stdout and "train_loss" in stdout  # skorch's progress (verbose=1)
    assert f"saved the model to {model}" in stdout
    state = CNNDenoiser.load_checkpoint(ckpt)
    assert state.n_partial_fit_calls_ == 1 and state.training_mode_ == "synthetic"

    test_dir = tmp_path / "test"
    test_dir.mkdir()
    noisy = _noisy(clean[5], 25, 9)
    write_image(test_dir / "held_out.png", noisy)
    out = tmp_path / "out"
    proc = run("denoise", test_dir, "-o", out, "--model", model, "-q")
    assert proc.returncode == 0, proc.stderr
    result = read_image(out / "held_out.png")
    assert result.dtype == np.uint8 and result.shape == noisy.shape
    # the file is a regular weight file: CNNDenoiser.load gives the same result
    den = CNNDenoiser.load(model)
    assert den.config_ == {"architecture": "unet", "channels": 1, "depth": 2, "width": 16,
                           "blocks": 1, "noise_level_input": False}
    np.testing.assert_array_equal(den.transform(noisy[None])[0], result)
    # stored in float16 as the shipped weights: about half the size of float32 tensors
    full = den.save(tmp_path / "float32.pt")
    assert model.stat().st_size < 0.6 * full.stat().st_size
    assert all(t.dtype == torch.float32 for t in _state(full).values())
    same = CNNDenoiser.load(full).transform(noisy[None].astype(np.float32) / 255)
    half = den.transform(noisy[None].astype(np.float32) / 255)
    np.testing.assert_allclose(half, same, atol=2e-3)  # float16 rounding of the weights


@pytest.mark.parametrize(("lr", "message"), [
    ("1e30", r"lr must be in (0, 10.0], got 1e+30"),  # was: exit 0 and a NaN model saved
    ("10", "training failed: Training diverged: the loss of a training batch became"),
])
def test_train_never_saves_a_diverged_model(train_folders, tmp_path, capsys, lr, message):
    cdir, _, _ = train_folders
    model = tmp_path / "model.pt"
    code = main(["train", "--clean", str(cdir), "--out", str(model), "--epochs", "4",
                 "--sigma", "25", "--lr", lr, "-q", *TINY])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not model.exists()


def test_denoise_refuses_a_model_whose_output_is_not_finite(noisy_folder, tmp_path, capsys):
    # issue 29: such a model's NaN output was written as an all-zero PNG, exit code 0
    from sklearn_denoise._modules import build_module

    base = build_module("unet", 1, 2, 4, 1, False).state_dict()
    model = _tiny_weights(tmp_path / "nan.pt",
                          state={k: torch.full_like(v, 1e7) for k, v in base.items()})
    out = tmp_path / "out"
    code = main(["denoise", str(noisy_folder / "gray8.png"), "-o", str(out), "--model",
                 str(model), "-q"])
    assert code == 2
    assert "returns NaN or infinite values" in capsys.readouterr().err
    assert not out.exists() or list(out.iterdir()) == []


def _read_pty(master):
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def test_train_epoch_table_has_colours_only_on_a_terminal(train_folders, tmp_path):
    cdir, _, _ = train_folders
    cmd = [sys.executable, "-m", "sklearn_denoise", "train", "--clean", str(cdir),
           "--epochs", "1", *TINY]
    log = tmp_path / "log.txt"
    with open(log, "w") as fh:  # sklearn-denoise train ... > log.txt
        proc = subprocess.run(cmd + ["--out", str(tmp_path / "a.pt")], stdout=fh,
                              stderr=subprocess.PIPE, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    text = log.read_text()
    assert "train_loss" in text  # skorch's epoch table is there ...
    assert "\x1b[" not in text  # ... without ANSI colour codes
    pty = pytest.importorskip("pty", reason="needs a pseudo-terminal")
    master, slave = pty.openpty()  # a terminal keeps skorch's colours
    try:
        child = subprocess.Popen(cmd + ["--out", str(tmp_path / "b.pt")], stdout=slave,
                                 stderr=subprocess.DEVNULL)
        os.close(slave)
        output = _read_pty(master)
        assert child.wait(timeout=600) == 0
    finally:
        os.close(master)
    assert "train_loss" in output and "\x1b[3" in output


def _state(path):
    return load_weights(path)[1]


def test_train_resumes_from_its_checkpoint(train_folders, tmp_path, capsys):
    cdir, _, _ = train_folders
    model, ckpt = tmp_path / "model.pt", tmp_path / "ckpt.pt"
    args = ["train", "--clean", str(cdir), "--out", str(model), "--checkpoint", str(ckpt),
            "-q", *TINY]
    assert main(args + ["--epochs", "1"]) == 0
    first = CNNDenoiser.load_checkpoint(ckpt)
    assert len(first.history_) == 1 and first.n_partial_fit_calls_ == 1
    assert first.net_.optimizer_.state_dict()["state"]  # Adam's moments are stored
    assert main(args + ["--epochs", "2"]) == 0
    resumed = CNNDenoiser.load_checkpoint(ckpt)
    assert resumed.n_partial_fit_calls_ == 2
    assert len(resumed.history_) == 2  # continued, not restarted
    assert CNNDenoiser.load(model).weights_metadata_["epochs"] == 2
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    # the same two epochs in one run give the same weights bit for bit: the optimizer
    # state, the epoch count and the random streams were restored
    straight = tmp_path / "straight.pt"
    assert main(["train", "--clean", str(cdir), "--out", str(straight), "-q", *TINY,
                 "--epochs", "2"]) == 0
    resumed_state, straight_state = _state(model), _state(straight)
    assert all(torch.equal(resumed_state[k], straight_state[k]) for k in straight_state)
    # a checkpoint of another training mode is refused
    capsys.readouterr()
    bad = ["train", "--noisy", str(cdir), "--out", str(model), "--checkpoint", str(ckpt)]
    assert main(bad + ["--epochs", "3", "-q"]) == 2
    assert "synthetic mode" in capsys.readouterr().err


def test_train_loss_option_reaches_the_estimator_and_a_resume(train_folders, tmp_path):
    cdir, _, _ = train_folders
    model, ckpt = tmp_path / "model.pt", tmp_path / "ckpt.pt"
    args = ["train", "--clean", str(cdir), "--out", str(model), "--checkpoint", str(ckpt),
            "-q", *TINY]
    assert main(args + ["--epochs", "1", "--loss", "l1"]) == 0
    first = CNNDenoiser.load_checkpoint(ckpt)
    assert first.loss == "l1" and first.net_.criterion_.kind == "l1"
    # L1 then L2: the resumed run trains its next epoch with the squared error
    assert main(args + ["--epochs", "2", "--loss", "mse"]) == 0
    resumed = CNNDenoiser.load_checkpoint(ckpt)
    assert resumed.loss == "mse" and len(resumed.history_) == 2
    # the epoch's train_loss is a squared error again (an L1 loss is far larger here)
    assert resumed.history_[-1, "train_loss"] < 0.5 * first.history_[-1, "train_loss"]
    with pytest.raises(SystemExit):
        main(args + ["--loss", "ssim"])


class _Payload:
    """Unpickling this calls ``open(marker, "w")``: a harmless stand-in for any code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("writer", ["joblib", "torch"])
def test_train_never_unpickles_a_checkpoint(train_folders, tmp_path, capsys, writer):
    cdir, _, _ = train_folders
    marker, ckpt, model = tmp_path / "executed", tmp_path / "ckpt.pt", tmp_path / "m.pt"
    state = {"format": "sklearn-denoise-checkpoint", "version": 1, "epochs_done": 0,
             "mode": "synthetic", "estimator": _Payload(marker)}
    if writer == "joblib":  # the checkpoint format of earlier versions
        joblib.dump(state, ckpt)
        joblib.load(ckpt)  # the bomb works: loading it the old way runs the payload
    else:
        torch.save(state, ckpt)
        torch.load(ckpt, weights_only=False)
    assert marker.exists()
    marker.unlink()
    before = _digest(ckpt)
    code = main(["train", "--clean", str(cdir), "--out", str(model), "--checkpoint",
                 str(ckpt), "--epochs", "1", "-q", *TINY])
    err = capsys.readouterr().err
    assert code == 2
    assert f"cannot resume from the checkpoint {ckpt}" in err and "never unpickled" in err
    assert "Delete it to start over" in err
    assert not marker.exists()  # the payload did not run
    assert not model.exists() and _digest(ckpt) == before


def test_train_paired_and_self_supervised_modes(train_folders, tmp_path, capsys):
    cdir, ndir, _ = train_folders
    (ndir / "extra.png").write_bytes((ndir / "0.png").read_bytes())  # no clean partner
    paired, selfsup = tmp_path / "paired.pt", tmp_path / "self.pt"
    assert main(["train", "--clean", str(cdir), "--noisy", str(ndir), "--out", str(paired),
                 "--epochs", "1", "-q", *TINY]) == 0
    assert "extra has no matching file" in capsys.readouterr().err
    assert CNNDenoiser.load(paired).weights_metadata_["mode"] == "supervised"
    assert main(["train", "--noisy", str(ndir), "--out", str(selfsup), "--epochs", "1", "-q",
                 *TINY]) == 0
    assert CNNDenoiser.load(selfsup).weights_metadata_["mode"] == "self_supervised"
    # fine-tuning from a weight file takes its architecture
    tuned = tmp_path / "tuned.pt"
    assert main(["train", "--clean", str(cdir), "--init", str(paired), "--out", str(tuned),
                 "--epochs", "1", "-q", "--patch-size", "32", "--patches-per-image", "2"]) == 0
    assert CNNDenoiser.load(tuned).config_["depth"] == 2
    assert main(["train", "--noisy", str(ndir), "--sigma", "25", "--out", str(tuned)]) == 2
    assert "--sigma is for synthetic noise" in capsys.readouterr().err


@pytest.mark.skipif("gray" not in available_models(), reason="no pretrained model shipped")
def test_train_fine_tunes_the_shipped_noise_map_model(train_folders, tmp_path):
    cdir, ndir, _ = train_folders
    tuned, ckpt = tmp_path / "tuned.pt", tmp_path / "ckpt.pt"
    assert main(["train", "--clean", str(cdir), "--noisy", str(ndir), "--init", "gray",
                 "--out", str(tuned), "--epochs", "1", "-q", "--patch-size", "32",
                 "--patches-per-image", "1", "--checkpoint", str(ckpt)]) == 0
    assert CNNDenoiser.load(tuned).config_["noise_level_input"] is True
    # fine-tuning starts at the rate of CNNDenoiser.load / pretrained, not at 1e-3
    state = CNNDenoiser.load_checkpoint(ckpt)
    assert state.lr == FINE_TUNING_LR
    assert state.history_[0, "event_lr"] == pytest.approx(FINE_TUNING_LR)


@pytest.mark.parametrize(("options", "expected"), [
    ([], 1e-3), (["--init", "gray"], FINE_TUNING_LR), (["--init", "gray", "--lr", "5e-4"], 5e-4),
    (["--lr", "2e-3"], 2e-3),
])
def test_train_learning_rate_defaults(options, expected):
    args = build_parser().parse_args(["train", "--clean", "c", "--out", "m.pt", *options])
    assert _learning_rate(args) == expected


@pytest.mark.slow
def test_trained_model_denoises_held_out_images(train_folders, tmp_path):
    cdir, _, clean = train_folders
    model = tmp_path / "model.pt"
    proc = run("train", "--clean", cdir, "--out", model, "--epochs", 2, "--sigma", 25,
               "--lr", "3e-3", "--width", 16, "--depth", 2, "--blocks", 1, "--patch-size", 32,
               "--patches-per-image", 64, "--validation-fraction", 0, "-q")
    assert proc.returncode == 0, proc.stderr
    test_dir = tmp_path / "test"
    test_dir.mkdir()
    noisy = {f"{k}.png": _noisy(clean[k], 25, 100 + k) for k in (4, 5)}
    for name, img in noisy.items():
        write_image(test_dir / name, img)
    proc = run("denoise", test_dir, "-o", tmp_path / "out", "--model", model, "-q")
    assert proc.returncode == 0, proc.stderr
    for k, name in zip((4, 5), noisy):
        result = read_image(tmp_path / "out" / name)
        assert _mse(result, clean[k]) < 0.7 * _mse(noisy[name], clean[k])


@pytest.mark.skipif(not HAS_GRAY, reason=NO_PRETRAINED)
def test_denoise_with_the_shipped_model_by_default(noisy_folder, clean_images, tmp_path):
    out = tmp_path / "out"
    proc = run("denoise", noisy_folder / "gray8.png", noisy_folder / "rgb8.png",
               noisy_folder / "gray16.tif", "-o", out, "-q")
    assert proc.returncode == 0, proc.stderr
    for name in ("gray8.png", "rgb8.png", "gray16.tif"):
        result, clean = read_image(out / name), clean_images[name]
        assert result.dtype == clean.dtype and result.shape == clean.shape
        assert _mse(result, clean) < 0.5 * _mse(read_image(noisy_folder / name), clean)


def test_denoise_self_ensemble_averages_turned_passes(noisy_folder, tmp_path):
    single, ensemble = tmp_path / "single", tmp_path / "ensemble"
    args = [noisy_folder / "gray8.png", "--sigma", "25", "-q"]
    assert main([str(a) for a in ["denoise", *args, "-o", single]]) == 0
    assert main([str(a) for a in ["denoise", *args, "-o", ensemble, "--self-ensemble", 2]]) == 0
    image = read_image(noisy_folder / "gray8.png")
    expected = CNNDenoiser.pretrained("gray", sigma=25 / 255, self_ensemble=2).transform(
        image[np.newaxis])[0]
    np.testing.assert_array_equal(read_image(ensemble / "gray8.png"), expected)
    assert not np.array_equal(read_image(single / "gray8.png"), expected)


def _table_rows(stdout):
    return {line.split("|")[1].strip().strip("`"): line for line in stdout.splitlines()
            if line.startswith("| `")}


def _psnr(row, column=0):
    """The PSNR of a Markdown table row, in the column of the ``column``-th sigma."""
    return float(row.split("|")[3 + column].split("/")[0].strip(" *"))


def test_compare_tiny_with_figure(tmp_path):
    pytest.importorskip("matplotlib", reason="the figure needs matplotlib")
    figure = tmp_path / "figs" / "compare.png"
    proc = run("compare", "--size", 40, "--max-images", 2, "--sigma", "15,50", "--methods",
               "wavelet,sk-tv,nlm", "--figure", figure, "-q")
    assert proc.returncode == 0, proc.stderr
    rows = _table_rows(proc.stdout)
    assert list(rows) == ["noisy", "wavelet", "sk-tv", "nlm"]
    assert "| method | denoiser | sigma=15 | sigma=50 |" in proc.stdout
    assert "2 image(s) from bundled grayscale sample images" in proc.stdout
    for name in ("wavelet", "sk-tv", "nlm"):
        noisy_psnr = float(rows["noisy"].split("|")[3].split("/")[0])
        psnr = float(rows[name].split("|")[3].split("/")[0].strip(" *"))
        assert psnr > noisy_psnr + 2
    assert f"Figure written to {figure}" in proc.stdout
    assert figure.stat().st_size > 1000


def test_compare_figure_crop_sigmas_and_errors(tmp_path):
    pytest.importorskip("matplotlib", reason="the figure needs matplotlib")
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    image = np.full((256, 256), 128.0)  # flat, with one textured region ...
    yy, xx = np.mgrid[0:112, 0:112]
    image[120:232, 16:128] += 60 * np.sin(2 * np.pi * xx / 12) * np.sin(2 * np.pi * yy / 12)
    image[16:112, 140:236] += rng.integers(-30, 31, (96, 96))  # ... grain below the noise
    image[:, 246:] = 0  # ... and a strong edge
    write_image(folder / "scene.png", np.clip(image, 0, 255).astype(np.uint8))
    args = ["compare", "--images", folder, "--methods", "tv", "--sigma", "15,25,50", "-q"]
    proc = run(*args, "--figure", tmp_path / "auto.png")
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith(f"Figure written to {tmp_path / 'auto.png'}: image scene, crop ")
    x, y, w, h = map(int, line.split("crop ")[1].split()[0].split(","))
    assert (w, h) == (96, 96)
    assert 16 <= x <= 128 - 96 and 120 <= y <= 232 - 96, (x, y)  # inside the texture
    proc = run(*args, "--figure", tmp_path / "all.png", "--figure-sigmas", "all", "--crop",
               "140,16,64,48")
    assert proc.returncode == 0, proc.stderr
    assert "image scene, crop 140,16,64,48 (x,y,w,h)." in proc.stdout
    single = iio.imread(tmp_path / "auto.png")
    assert iio.imread(tmp_path / "all.png").shape[0] > 2 * single.shape[0]  # 3 rows
    errors = [
        (["--figure", tmp_path / "e.png", "--crop", "200,0,96,96"],
         "--crop 200,0,96,96 for image scene (--figure-image 0): the crop x=200, y=0, "
         "w=96, h=96 does not fit in the 256x256 image"),
        (["--figure", tmp_path / "e.png", "--crop", "1,2,3"], "invalid crop '1,2,3'"),
        (["--figure", tmp_path / "e.png", "--figure-sigmas", "30"],
         "--figure-sigmas 30 is not among the noise levels run (--sigma 15,25,50)"),
        (["--crop", "0,0,8,8"], "describe the figure: add --figure PATH"),
    ]
    for extra, message in errors:
        proc = run(*args, *extra)
        assert proc.returncode == 2, extra
        assert message in proc.stderr, (extra, proc.stderr)
    assert not (tmp_path / "e.png").exists()


def test_compare_on_a_folder_of_color_images(tmp_path, clean_images):
    folder = tmp_path / "imgs"
    folder.mkdir()
    write_image(folder / "a.png", clean_images["rgb8.png"])
    write_image(folder / "b.tif", clean_images["rgb16.tiff"])
    args = ["compare", "--images", folder, "--sigma", "25", "--methods", "wavelet", "-q"]
    proc = run(*args)  # colour images are compared in colour by default
    assert proc.returncode == 0, proc.stderr
    assert "2 image(s) from " in proc.stdout and "(shapes 96x96x3)" in proc.stdout
    assert "mean over 2 images in colour (RGB); Gaussian noise" in proc.stdout
    colour_psnr = _psnr(_table_rows(proc.stdout)["wavelet"])
    proc = run(*args, "--gray")
    assert proc.returncode == 0, proc.stderr
    assert "in grayscale (--gray)" in proc.stdout and "(shapes 96x96)" in proc.stdout
    assert "mean over 2 images in grayscale; Gaussian noise" in proc.stdout
    gray_psnr = _psnr(_table_rows(proc.stdout)["wavelet"])
    assert gray_psnr != colour_psnr
    # a gray image joins them as it is; --color makes it RGB
    write_image(folder / "c.png", clean_images["gray8.png"])
    proc = run(*args)
    assert "in mixed: 2 colour (RGB), 1 grayscale;" in proc.stdout
    assert "(shapes 96x96, 96x96x3)" in proc.stdout
    proc = run(*args, "--color")
    assert "in colour (--color)" in proc.stdout and "(shapes 96x96x3)" in proc.stdout
    assert "mean over 3 images in colour (RGB)" in proc.stdout
    proc = run(*args, "--color", "--gray")
    assert proc.returncode == 2 and "not allowed with argument --color" in proc.stderr
    proc = run("compare", "--images", tmp_path / "missing")
    assert proc.returncode == 2 and "is not a folder" in proc.stderr


@pytest.mark.slow
def test_compare_default_is_the_readme_main_job(tmp_path):
    pytest.importorskip("matplotlib", reason="the figure needs matplotlib")
    proc = run("compare", "--figure", tmp_path / "compare.png", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = _table_rows(proc.stdout)
    assert {"noisy", "wavelet", "wavelet-cs", "tv", "nlm", "bilateral", "sk-wavelet", "sk-tv",
            "sk-nlm"} <= set(rows)
    assert "bm3d" not in rows
    assert "`bm3d` (slow, skipped by default" in proc.stdout or \
        "`bm3d` (needs the optional bm3d package" in proc.stdout
    assert ("cnn" in rows) == HAS_GRAY
    assert "6 image(s)" in proc.stdout and "256x256" in proc.stdout
    assert (tmp_path / "compare.png").exists()


@pytest.mark.data
@pytest.mark.skipif(not SET12.is_dir(), reason="../shared/data/set12 is absent")
def test_compare_on_set12(tmp_path):
    proc = run("compare", "--images", SET12, "--max-images", 2, "--size", 128, "--sigma", "25",
               "--methods", "wavelet,tv", "-q")
    assert proc.returncode == 0, proc.stderr
    rows = _table_rows(proc.stdout)
    assert list(rows) == ["noisy", "wavelet", "tv"]


# ------------------------------------------------------------------ hardening
def test_existing_outputs_are_kept_unless_overwrite(noisy_folder, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "gray8.png").write_bytes(b"the user's own file")
    (out / "other.txt").write_text("unrelated")
    args = ["denoise", str(noisy_folder / "gray8.png"), str(noisy_folder / "rgb8.png"),
            "-o", str(out), "--method", "wavelet", "-q"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"1 output file(s) already exist: {out / 'gray8.png'}" in err
    assert "--overwrite" in err
    assert (out / "gray8.png").read_bytes() == b"the user's own file"
    assert sorted(p.name for p in out.iterdir()) == ["gray8.png", "other.txt"]  # nothing new
    assert main(args + ["--overwrite"]) == 0
    assert read_image(out / "gray8.png").shape == read_image(noisy_folder / "gray8.png").shape
    assert (out / "other.txt").read_text() == "unrelated"


def _tampered_registry(tmp_path, monkeypatch):
    """Point the package's pretrained folder to a copy whose weights are damaged."""
    from importlib import resources

    shipped = Path(str(resources.files("sklearn_denoise").joinpath("pretrained")))
    copy = tmp_path / "pretrained"
    shutil.copytree(shipped, copy)
    data = bytearray((copy / "gray.pt").read_bytes())
    data[-10] ^= 0xFF
    (copy / "gray.pt").write_bytes(bytes(data))

    class _Files:
        def joinpath(self, *parts):
            return copy.joinpath(*parts[1:]) if parts[0] == "pretrained" else \
                copy.joinpath(*parts)

    monkeypatch.setattr("sklearn_denoise._weights.resources.files", lambda pkg: _Files())


@pytest.mark.skipif(not HAS_GRAY, reason=NO_PRETRAINED)
def test_damaged_shipped_model_is_one_setup_error_before_any_output(noisy_folder, tmp_path,
                                                                      monkeypatch, capsys):
    _tampered_registry(tmp_path, monkeypatch)
    out = tmp_path / "out"
    assert main(["denoise", str(noisy_folder), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("fail their checksum") == 1  # once, not once per input file
    assert "cannot load the shipped model 'gray'" in err
    assert not out.exists()  # the output folder is not even created


def test_sigterm_cleans_up_like_ctrl_c(noisy_folder, tmp_path, monkeypatch, capsys):
    import signal

    from sklearn_denoise import _io

    def killed_while_writing(fh, image, kind, quality, metadata=None):
        fh.write(b"\x89PNG half an image")
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100):  # the handler runs between bytecodes
            time.sleep(0.01)
        raise AssertionError("SIGTERM was not handled")

    def fallback(signum, frame):  # only runs if the command line did not handle SIGTERM
        pass

    monkeypatch.setattr(_io, "_write_pillow", killed_while_writing)
    original = signal.signal(signal.SIGTERM, fallback)
    out = tmp_path / "out"
    try:
        code = main(["denoise", str(noisy_folder / "gray8.png"), "-o", str(out), "--method",
                     "wavelet", "-q"])
        restored = signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, original)
    assert code == 143
    assert "sklearn-denoise: error: terminated" in capsys.readouterr().err
    assert list(out.iterdir()) == []  # no temporary file, no partial image
    assert restored is fallback  # the handler is restored


def test_sigterm_to_a_running_process_exits_143(noisy_folder, tmp_path):
    import signal

    out = tmp_path / "out"
    many = tmp_path / "many"
    many.mkdir()
    image = read_image(noisy_folder / "rgb8.png")
    for k in range(40):
        write_image(many / f"{k:02d}.png", image)
    proc = subprocess.Popen([sys.executable, "-m", "sklearn_denoise", "denoise", str(many),
                             "-o", str(out), "--method", "nlm", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not out.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # the handler is installed before the folder is created
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert "terminated" in err and "Traceback" not in err
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.skipif(os.name != "posix", reason="process probe needs POSIX signals")
def test_stale_temporaries_of_ours_are_removed_and_nothing_else(noisy_folder, tmp_path,
                                                                 capsys):
    from sklearn_denoise._atomic import LEGACY_STALE_AFTER_SECONDS, host_id

    out = tmp_path / "out"
    out.mkdir()
    old = time.time() - 2 * LEGACY_STALE_AFTER_SECONDS
    # what a SIGKILL during a write leaves: the writer no longer runs
    stale = out / f".gray8.png.{host_id()}-{_dead_pid()}.0123456789ab.tmp"
    # a write in progress in another run, however old: never removed
    live = out / f".rgb8.png.{host_id()}-{os.getppid()}.abcdef012345.tmp"
    legacy = out / ".rgba8.png.abcdef012345.tmp"  # written by an earlier version, a day old
    fresh_legacy = out / ".rgb8.png.abcdef012345.tmp"
    others = [out / ".gray8.png.0123456789AB.tmp", out / ".notes.0123456789ab.tmp.bak",
              out / "x.png.0123456789ab.tmp", out / ".a.png.0123456789a.tmp",
              out / "keep.tmp", out / ".hidden"]
    for path in (stale, live, legacy, fresh_legacy, *others):
        path.write_bytes(b"data")
        if path is not fresh_legacy:
            os.utime(path, (old, old))
    assert main(["denoise", str(noisy_folder / "gray8.png"), "-o", str(out), "--method",
                 "wavelet", "-q"]) == 0
    assert "removed 2 stale temporary file(s)" in capsys.readouterr().err
    assert not stale.exists() and not legacy.exists()
    assert live.exists() and fresh_legacy.exists() and all(p.exists() for p in others)


@pytest.mark.parametrize("name", ["gray8.png", "stack.tif"])
@pytest.mark.parametrize("overwrite", [False, True])
def test_an_output_written_meanwhile_by_another_run_is_not_replaced(
        noisy_folder, sensor_stack, tmp_path, monkeypatch, capsys, name, overwrite):
    # issue 29: two runs writing the same output name at the same time both exited 0 and
    # one result silently replaced the other (the "already exists" check runs at start-up)
    import sklearn_denoise.cli as cli

    source = noisy_folder / name if name.endswith(".png") else sensor_stack[0]
    out = tmp_path / "out"
    target = out / name
    denoise_plane = cli._denoise_plane

    checked = cli._checked

    def other_run_finishes_first(denoise, plane, *args):
        if not target.exists():
            target.write_bytes(b"the other run's result")
        return denoise_plane(denoise, plane, *args)

    def other_run_finishes_first_joint(result, planes):  # a stack denoised jointly
        if not target.exists():
            target.write_bytes(b"the other run's result")
        return checked(result, planes)

    monkeypatch.setattr(cli, "_denoise_plane", other_run_finishes_first)
    monkeypatch.setattr(cli, "_checked", other_run_finishes_first_joint)
    code = main(["denoise", str(source), "-o", str(out), "--method", "wavelet", "-q"]
                + (["--overwrite"] if overwrite else []))
    err = capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == [name]  # no temporary file left either
    if overwrite:
        assert code == 0, err
        assert target.read_bytes() != b"the other run's result"
    else:
        assert code == 1
        assert target.read_bytes() == b"the other run's result"
        assert f"{target} appeared while it was denoised" in err
        assert "--overwrite" in err and "denoised 0 of 1 image" in err


def _tiny_weights(path, *, config=None, state=None, checksum=True, drop=None):
    """A small valid weight file, optionally with crafted settings or tensors."""
    from sklearn_denoise._modules import build_module
    from sklearn_denoise._weights import content_digest, save_weights

    base = {"architecture": "unet", "channels": 1, "depth": 2, "width": 4, "blocks": 1,
            "noise_level_input": False}
    torch.manual_seed(0)
    save_weights(path, base, build_module(**base).state_dict())
    payload = torch.load(path, weights_only=True)
    payload["config"].update(config or {})
    payload["state_dict"].update(state or {})
    for key in drop or ():
        del payload["state_dict"][key]
    if checksum:
        payload["sha256"] = content_digest(payload)
    else:
        del payload["sha256"]
    torch.save(payload, path)
    return path


@pytest.fixture
def bad_inputs(tmp_path):
    """A folder tree for the bad-input matrix: inputs, outputs, crafted files."""
    root = tmp_path / "env"
    imgs, tiny, out = root / "imgs", root / "tiny", root / "out"
    for folder in (imgs, tiny, out):
        folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        write_image(imgs / name, rng.integers(0, 256, (32, 32), dtype=np.uint8))
    write_image(tiny / "t.png", np.zeros((1, 1), np.uint8))
    write_image(out / "a.png", np.zeros((4, 4), np.uint8))  # an earlier result
    _tiny_weights(root / "good.pt")
    _tiny_weights(root / "blocks.pt", config={"blocks": 100000})
    _tiny_weights(root / "width.pt", config={"width": 200000})
    _tiny_weights(root / "depth.pt", config={"depth": -3})
    _tiny_weights(root / "arch.pt", config={"architecture": "resnet"})
    _tiny_weights(root / "shape.pt", state={"head.weight": torch.zeros(4, 1, 5, 5)})
    _tiny_weights(root / "missing.pt", drop=["tail.bias"])
    _tiny_weights(root / "nan.pt", state={"tail.bias": torch.tensor([float("nan")])})
    _tiny_weights(root / "nochecksum.pt", checksum=False)
    tampered = torch.load(root / "good.pt", weights_only=True)
    tampered["state_dict"]["tail.bias"] += 1  # sha256 left as it was
    torch.save(tampered, root / "tampered.pt")
    (root / "garbage.pt").write_bytes(b"PK\x03\x04 not really a zip")
    joblib.dump({"estimator": _Payload(root / "executed")}, root / "pickle.pt")
    return root


# each case: arguments ({root} is the bad_inputs folder), exit code, message on stderr
BAD_INPUTS = {
    "denoise-existing-output": (
        "denoise {root}/imgs -o {root}/out --method wavelet", 2,
        "already exist: {root}/out/a.png"),
    "denoise-into-input-folder": (
        "denoise {root}/imgs -o {root}/imgs --method wavelet --overwrite", 2,
        "refusing to overwrite input file"),
    "denoise-max-pixels-zero": (
        "denoise {root}/imgs -o {root}/new --max-pixels 0", 2,
        "expected a positive integer, got 0"),
    "denoise-too-many-pixels": (
        "denoise {root}/imgs/a.png -o {root}/new --method wavelet --max-pixels 1000", 1,
        "32x32 pixels (1,024 pixels), more than the limit of 1,000"),
    "model-blocks": ("denoise {root}/imgs -o {root}/new --model {root}/blocks.pt", 2,
                     "blocks must be in [1, 16], got 100000"),
    "model-width": ("denoise {root}/imgs -o {root}/new --model {root}/width.pt", 2,
                    "width must be in [1, 512], got 200000"),
    "model-depth": ("denoise {root}/imgs -o {root}/new --model {root}/depth.pt", 2,
                    "depth of unet must be in [1, 8], got -3"),
    "model-architecture": ("denoise {root}/imgs -o {root}/new --model {root}/arch.pt", 2,
                           "unknown architecture 'resnet'"),
    "model-tensor-shape": ("denoise {root}/imgs -o {root}/new --model {root}/shape.pt", 2,
                           "tensor 'head.weight' has shape (4, 1, 5, 5)"),
    "model-missing-tensor": ("denoise {root}/imgs -o {root}/new --model {root}/missing.pt",
                             2, "missing ['tail.bias']"),
    "model-nan": ("denoise {root}/imgs -o {root}/new --model {root}/nan.pt", 2,
                  "tensor 'tail.bias' holds NaN or infinite values"),
    "model-no-checksum": ("denoise {root}/imgs -o {root}/new --model {root}/nochecksum.pt",
                          2, "has no checksum"),
    "model-tampered": ("denoise {root}/imgs -o {root}/new --model {root}/tampered.pt", 2,
                       "fails its checksum"),
    "model-garbage": ("denoise {root}/imgs -o {root}/new --model {root}/garbage.pt", 2,
                      "is corrupt, truncated"),
    "model-pickle": ("denoise {root}/imgs -o {root}/new --model {root}/pickle.pt", 2,
                     "never unpickled"),
    "train-out-is-input": (
        "train --clean {root}/imgs --out {root}/imgs/a.png --epochs 1", 2,
        "refusing to overwrite input file {root}/imgs/a.png with --out"),
    "train-out-is-init": (
        "train --clean {root}/imgs --init {root}/good.pt --out {root}/good.pt", 2,
        "refusing to overwrite input file {root}/good.pt with --out"),
    "train-checkpoint-is-input": (
        "train --noisy {root}/imgs --out {root}/m.pt --checkpoint {root}/imgs/b.png", 2,
        "refusing to overwrite input file {root}/imgs/b.png with --checkpoint"),
    "train-out-is-checkpoint": (
        "train --clean {root}/imgs --out {root}/m.pt --checkpoint {root}/m.pt", 2,
        "--out and --checkpoint are the same file"),
    "train-tiny-images": ("train --clean {root}/tiny --out {root}/m.pt --epochs 1", 2,
                          "at least 8x8 pixels; too small in --clean: {root}/tiny/t.png (1x1)"),
    "train-width-too-large": (
        "train --clean {root}/imgs --out {root}/m.pt --width 1024", 2,
        "width must be in [1, 512], got 1024"),
    "train-depth-too-large": (
        "train --clean {root}/imgs --out {root}/m.pt --architecture dncnn --depth 65", 2,
        "depth must be in [1, 64], got 65"),
    "train-init-crafted": ("train --clean {root}/imgs --init {root}/blocks.pt --out "
                           "{root}/m.pt", 2, "cannot load --init"),
    "train-pickle-checkpoint": (
        "train --clean {root}/imgs --out {root}/m.pt --checkpoint {root}/pickle.pt", 2,
        "cannot resume from the checkpoint {root}/pickle.pt"),
    "train-weights-as-checkpoint": (
        "train --clean {root}/imgs --out {root}/m.pt --checkpoint {root}/good.pt", 2,
        "is not a sklearn-denoise checkpoint (it is a weight file)"),
    "train-max-pixels": ("train --clean {root}/imgs --out {root}/m.pt --max-pixels 1000",
                         2, "none of the images could be read"),
    "compare-figure-is-input": (
        "compare --images {root}/imgs --methods wavelet --figure {root}/imgs/a.png", 2,
        "refusing to overwrite input file {root}/imgs/a.png with --figure"),
    "compare-figure-is-model": (
        "compare --images {root}/imgs --model {root}/good.pt --figure {root}/good.pt", 2,
        "refusing to overwrite input file {root}/good.pt with --figure"),
}


def _snapshot(root):
    return {str(p.relative_to(root)): _digest(p) for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_matrix(bad_inputs, capsys, case):
    if case.startswith("compare-"):
        pytest.importorskip("matplotlib", reason="--figure needs matplotlib")
    args, expected_code, message = BAD_INPUTS[case]
    root = bad_inputs
    before = _snapshot(root)
    code = _exit_code(args.format(root=root).split() + ["-q"])
    err = capsys.readouterr().err
    assert code == expected_code, err
    assert message.format(root=root) in err, err
    assert "Traceback" not in err
    assert _snapshot(root) == before  # no output written, inputs untouched
    assert not (root / "executed").exists()  # nothing was unpickled


def test_cnn_on_correlated_noise_uses_the_networks_own_blind_level(tmp_path):
    """The command line estimates the noise of a file as the CNN does on its own: the
    learned level on spatially correlated noise, not the finest wavelet band's."""
    from skimage.restoration import estimate_sigma

    from sklearn_denoise.noise import correlated_gaussian

    clean = load_sample_images()[0][:192, :192]
    noisy = correlated_gaussian(clean / 255.0, 20 / 255, random_state=0)
    noisy = np.rint(np.clip(noisy, 0, 1) * 255).astype(np.uint8)
    write_image(tmp_path / "grain.png", noisy)
    assert main(["denoise", str(tmp_path / "grain.png"), "-o", str(tmp_path / "out"),
                 "-q"]) == 0
    out = read_image(tmp_path / "out" / "grain.png")
    den = CNNDenoiser.pretrained("gray")
    library = den.transform(noisy[np.newaxis])[0]
    wavelet = den.set_params(sigma=estimate_sigma(noisy / 255.0)).transform(
        noisy[np.newaxis])[0]
    assert np.abs(out.astype(int) - library).max() <= 1
    assert _mse(out, clean) < 0.8 * _mse(wavelet, clean)


# ------------------------------------------------------------------ one denoiser, one result
def _python_default(method, image):
    """The Python call a user makes for ``--method``: the estimator's defaults."""
    from sklearn_denoise import NLMeansDenoiser, TVDenoiser, WaveletDenoiser

    if method == "cnn":
        return CNNDenoiser.pretrained("gray").transform(image[np.newaxis])[0]
    est = {"wavelet": WaveletDenoiser, "nlm": NLMeansDenoiser, "tv": TVDenoiser}[method]()
    return est.fit(image[np.newaxis]).transform(image[np.newaxis])[0]


@pytest.mark.parametrize("method", ["wavelet", "nlm", "tv", "cnn"])
def test_denoise_on_sensor_counts_is_the_python_default(tmp_path, method):
    """Issue #28: on uint16 counts the command line used to add a variance-stabilising
    step that WaveletDenoiser(), NLMeansDenoiser() and TVDenoiser() did not have (32.46
    vs 32.31, 35.75 vs 35.00, 35.11 vs 34.66 dB); now it runs the Python default."""
    if method == "cnn" and not HAS_GRAY:
        pytest.skip(NO_PRETRAINED)
    scene = load_sample_images()[0][64:160, 160:256] / 255
    counts = _sensor_counts(60 * scene, 7, peak=1)
    write_image(tmp_path / "counts.tif", counts)
    proc = run("denoise", tmp_path / "counts.tif", "-o", tmp_path / "out", "--method",
               method, "-q")
    assert proc.returncode == 0, proc.stderr
    assert "poisson-gaussian noise" in proc.stdout, proc.stdout
    result = read_image(tmp_path / "out" / "counts.tif")
    np.testing.assert_array_equal(result, _python_default(method, counts))


@pytest.mark.parametrize("method", ["wavelet", "cnn"])
def test_sigma_is_in_the_file_units_for_float_files(tmp_path, method):
    """Issue #28: --sigma 100 on a float32 TIFF on [0, 4095] with noise of std 100 used to
    return the input untouched (read as 100/255 on [0, 1]); it is the file's units now, as
    sigma_on_intensity_scale says, and the result is the Python call's."""
    from sklearn_denoise import WaveletDenoiser
    from sklearn_denoise.noise import sigma_on_intensity_scale

    if method == "cnn" and not HAS_GRAY:
        pytest.skip(NO_PRETRAINED)
    clean = 4095 * (load_sample_images()[0][64:160, 160:256] / 255)
    noisy = (clean + np.random.default_rng(0).normal(0, 100, clean.shape)).astype(np.float32)
    write_image(tmp_path / "x.tif", noisy)
    proc = run("denoise", tmp_path / "x.tif", "-o", tmp_path / "out", "--method", method,
               "--sigma", 100, "-q")
    assert proc.returncode == 0, proc.stderr
    assert "gaussian noise, sigma 100 (given)" in proc.stdout, proc.stdout
    result = read_image(tmp_path / "out" / "x.tif")
    sigma = sigma_on_intensity_scale(100, np.float32)
    est = (CNNDenoiser.pretrained("gray", sigma=sigma) if method == "cnn"
           else WaveletDenoiser(sigma=sigma).fit(noisy[np.newaxis]))
    np.testing.assert_array_equal(result, est.transform(noisy[np.newaxis])[0])
    assert _mse(result, clean) < 0.8 * _mse(noisy, clean)  # denoised, never untouched
    # uint8: 25 in the file is 25/255 in Python, as always
    assert sigma_on_intensity_scale(25, np.uint8) == 25 / 255
    assert sigma_on_intensity_scale(100, np.uint16) == 100 / 65535


def test_denoise_colour_file_is_the_python_default(noisy_folder, tmp_path):
    if not HAS_GRAY:
        pytest.skip(NO_PRETRAINED)
    proc = run("denoise", noisy_folder / "rgb8.png", "-o", tmp_path / "out", "-q")
    assert proc.returncode == 0, proc.stderr
    image = read_image(noisy_folder / "rgb8.png")
    expected = CNNDenoiser.pretrained("color").transform(image)
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "rgb8.png"), expected)


def test_denoise_phone_jpeg_is_the_python_default(tmp_path):
    """A noisy photo saved as a 4:2:0 JPEG: the command line reads its noise as the
    Python call does (compressed noise, issue #32) and writes the same result."""
    if not HAS_GRAY:
        pytest.skip(NO_PRETRAINED)
    from PIL import Image
    from skimage import data

    clean = data.astronaut()[64:256, 160:352].astype(np.float64)
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 15, clean.shape), 0, 255)
    photo = tmp_path / "photo.jpg"
    Image.fromarray(np.rint(noisy).astype(np.uint8)).save(photo, quality=75)
    proc = run("denoise", photo, "-o", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    image = read_image(photo)
    decided = CNNDenoiser.pretrained("color").for_image(image)
    assert decided.decision_.compressed
    assert decided.decision_.describe(np.uint8) in proc.stdout, proc.stdout
    assert "JPEG-compressed gaussian noise" in proc.stdout
    expected = tmp_path / "expected.jpg"
    write_image(expected, CNNDenoiser.pretrained("color").transform(image))
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "photo.jpg"),
                                  read_image(expected))
