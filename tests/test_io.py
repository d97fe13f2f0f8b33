"""Image files: PNG/JPEG/TIFF, 8/16-bit, gray/colour, atomic writes, clear errors."""

import os
import struct
import subprocess
import sys
import textwrap
import warnings
import zlib

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from PIL import Image

from sklearn_denoise import _io
from sklearn_denoise._io import (
    ImageFileError,
    ImageTooLargeError,
    ImageWriteError,
    read_image,
    write_image,
)
from sklearn_denoise.datasets import load_sample_images


def _random(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.random(shape).astype(dtype)
    return rng.integers(0, np.iinfo(dtype).max + 1, size=shape, dtype=dtype)


LOSSLESS = [
    ("png", np.uint8, ()), ("png", np.uint8, (2,)), ("png", np.uint8, (3,)),
    ("png", np.uint8, (4,)),
    ("png", np.uint16, ()), ("png", np.uint16, (2,)), ("png", np.uint16, (3,)),
    ("png", np.uint16, (4,)),
    ("tif", np.uint8, ()), ("tif", np.uint8, (3,)), ("tiff", np.uint16, ()),
    ("tif", np.uint16, (3,)), ("tif", np.uint16, (4,)), ("tif", np.float32, ()),
    ("TIF", np.float64, (3,)), ("PNG", np.uint8, (3,)),
]


@pytest.mark.parametrize(("ext", "dtype", "channels"), LOSSLESS)
def test_lossless_round_trip_keeps_dtype_and_colour_mode(tmp_path, ext, dtype, channels):
    image = _random((23, 37, *channels), dtype)
    path = write_image(tmp_path / f"img.{ext}", image)
    assert path == tmp_path / f"img.{ext}"
    back = read_image(path)
    assert back.dtype == image.dtype
    assert back.shape == image.shape
    np.testing.assert_array_equal(back, image)
    assert [p.name for p in tmp_path.iterdir()] == [f"img.{ext}"]  # no temporary left


@pytest.mark.parametrize("channels", [(), (2,), (3,), (4,)])
def test_our_files_are_read_the_same_by_other_readers(tmp_path, channels):
    image8 = _random((19, 21, *channels), np.uint8)
    write_image(tmp_path / "a.png", image8)
    np.testing.assert_array_equal(iio.imread(tmp_path / "a.png"), image8)
    image16 = _random((19, 21, *channels), np.uint16)
    write_image(tmp_path / "b.tif", image16)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "b.tif"), image16)
    write_image(tmp_path / "c.png", image16)
    with Image.open(tmp_path / "c.png") as im:  # a valid PNG for Pillow too
        assert im.size == (21, 19)
        if channels in ((3,), (4,)):  # Pillow keeps the high byte of 16-bit colour
            np.testing.assert_array_equal(np.asarray(im), (image16 >> 8).astype(np.uint8))


def test_reads_files_written_by_other_writers(tmp_path):
    gray = load_sample_images()[0]
    rgb = load_sample_images(color=True)[0]
    iio.imwrite(tmp_path / "gray.png", gray)
    iio.imwrite(tmp_path / "rgb.png", rgb)
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(rgb.astype(np.uint16) * 257, -1, 0),
                     photometric="rgb", planarconfig="separate")
    np.testing.assert_array_equal(read_image(tmp_path / "gray.png"), gray)
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.png"), rgb)
    planar = read_image(tmp_path / "planar.tif")
    assert planar.dtype == np.uint16 and planar.shape == rgb.shape
    np.testing.assert_array_equal(planar, rgb.astype(np.uint16) * 257)


def test_jpeg_round_trip_is_close_and_8_bit(tmp_path):
    rgb = load_sample_images(color=True)[0][:64, :80]
    gray = load_sample_images()[0][:64, :80]
    for name, image in (("c.jpg", rgb), ("g.JPEG", gray)):
        write_image(tmp_path / name, image)
        back = read_image(tmp_path / name)
        assert back.dtype == np.uint8 and back.shape == image.shape
        assert np.abs(back.astype(float) - image).mean() < 4  # quality 95


def _png16_with_filters(image):
    """Independent encoder: a 16-bit PNG using all five row filters in turn."""
    height, width, channels = image.shape
    raw = image.astype(">u2").view(np.uint8).reshape(height, -1).astype(int)
    bpp = 2 * channels
    lines = []
    prev = np.zeros(raw.shape[1], dtype=int)
    for y in range(height):
        cur = raw[y]
        ftype = y % 5
        out = []
        for i in range(len(cur)):
            a = cur[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 0:
                pred = 0
            elif ftype == 1:
                pred = a
            elif ftype == 2:
                pred = b
            elif ftype == 3:
                pred = (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            out.append((cur[i] - pred) % 256)
        lines.append(bytes([ftype] + out))
        prev = cur

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    colour_type = {2: 4, 3: 2, 4: 6}[channels]
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(lines)))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("channels", [2, 3, 4])
def test_16bit_colour_png_with_every_row_filter_is_decoded_exactly(tmp_path, channels):
    image = _random((11, 7, channels), np.uint16, seed=channels)
    path = tmp_path / "filters.png"
    path.write_bytes(_png16_with_filters(image))
    back = read_image(path)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, image)


def test_palette_and_bilevel_images_are_expanded(tmp_path):
    rgb = load_sample_images(color=True)[0][:32, :32]
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.png")
    Image.fromarray(load_sample_images()[0][:32, :32]).convert("1").save(tmp_path / "bw.png")
    palette = read_image(tmp_path / "palette.png")
    assert palette.dtype == np.uint8 and palette.shape == (32, 32, 3)
    bw = read_image(tmp_path / "bw.png")
    assert bw.dtype == np.uint8 and bw.shape == (32, 32)
    assert set(np.unique(bw)) <= {0, 255}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("corrupt.png", b"this is not an image" * 5, "corrupt"),
        ("empty.png", b"", "empty file"),
        ("text.jpg", b"hello", "corrupt"),
        ("notes.txt", b"hello", "unsupported file type '.txt'"),
        ("noext", b"hello", "unsupported file type"),
        ("bad.tif", b"II*\x00garbage", "corrupt"),
    ],
)
def test_unreadable_files_raise_a_clear_error(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageFileError, match=message) as info:
        read_image(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_truncated_files_raise_a_clear_error(tmp_path):
    full8 = write_image(tmp_path / "full8.png", _random((40, 40, 3), np.uint8))
    full16 = write_image(tmp_path / "full16.png", _random((40, 40, 3), np.uint16))
    for full in (full8, full16):
        cut = tmp_path / f"cut_{full.name}"
        cut.write_bytes(full.read_bytes()[:300])
        with pytest.raises(ImageFileError, match="truncated|corrupt"):
            read_image(cut)


def test_missing_file_folder_and_unsupported_layouts(tmp_path):
    with pytest.raises(ImageFileError, match="no such file"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ImageFileError, match="not a regular file"):
        read_image(tmp_path / "dir.png")
    tifffile.imwrite(tmp_path / "stack.tif", _random((5, 16, 16), np.uint8))
    with pytest.raises(ImageFileError, match="not supported|unsupported"):
        read_image(tmp_path / "stack.tif")
    tifffile.imwrite(tmp_path / "int16.tif", np.zeros((8, 8), np.int16))
    with pytest.raises(ImageFileError, match="unsupported pixel type int16"):
        read_image(tmp_path / "int16.tif")


def test_write_rejects_what_the_format_cannot_store(tmp_path):
    with pytest.raises(ImageWriteError, match="JPEG stores 8-bit"):
        write_image(tmp_path / "a.jpg", _random((8, 8), np.uint16))
    with pytest.raises(ImageWriteError, match="PNG stores 8- or 16-bit"):
        write_image(tmp_path / "a.png", _random((8, 8), np.float32))
    with pytest.raises(ImageWriteError, match="unsupported file type"):
        write_image(tmp_path / "a.bmp", _random((8, 8), np.uint8))
    with pytest.raises(ImageWriteError, match="unsupported dtype"):
        write_image(tmp_path / "a.tif", np.zeros((8, 8), np.int32))
    assert list(tmp_path.iterdir()) == []


def test_write_into_a_missing_or_impossible_folder_is_an_oserror(tmp_path):
    (tmp_path / "file").write_text("x")
    for bad in (tmp_path / "missing" / "a.png", tmp_path / "file" / "a.png"):
        with pytest.raises(ImageWriteError, match="Cannot write") as info:
            write_image(bad, _random((8, 8), np.uint8))
        assert isinstance(info.value, OSError)
        assert info.value.errno is not None


def test_interrupted_write_leaves_the_destination_untouched(tmp_path, monkeypatch):
    dest = tmp_path / "keep.png"
    original = _random((16, 16), np.uint8, seed=1)
    write_image(dest, original)

    def broken(fh, image, kind, quality, metadata=None):
        fh.write(b"\x89PNG partial")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(_io, "_write_pillow", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_image(dest, _random((16, 16), np.uint8, seed=2))
    np.testing.assert_array_equal(read_image(dest), original)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.png"]


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_image(tmp_path / "a.png", _random((8, 8), np.uint8))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_exif_colour_profile_and_dpi_are_carried_over(tmp_path):
    rgb = load_sample_images(color=True)[0][:32, :48]
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees when displayed
    exif[0x010F] = "TestCam"  # camera make
    icc = b"fake-icc-profile-bytes"
    Image.fromarray(rgb).save(tmp_path / "in.jpg", exif=exif, icc_profile=icc, dpi=(300, 300))
    image, info = read_image(tmp_path / "in.jpg", metadata=True)
    assert image.shape == rgb.shape
    assert info["icc_profile"] == icc and "exif" in info
    for name in ("out.jpg", "out.png"):
        write_image(tmp_path / name, image, metadata=info)
        with Image.open(tmp_path / name) as im:
            assert im.getexif()[0x0112] == 6 and im.getexif()[0x010F] == "TestCam"
            assert im.info["icc_profile"] == icc
            assert tuple(round(v) for v in im.info["dpi"]) == (300, 300)
    assert read_image(write_image(tmp_path / "plain.png", image), metadata=True)[1] == {}


def test_is_image_file():
    assert _io.is_image_file("a.PNG") and _io.is_image_file("b.tiff")
    assert _io.is_image_file("c.jpeg") and not _io.is_image_file("d.gif")


# ------------------------------------------------------------------ decompression bombs
def _zlib_of_zero_rows(row_bytes, n_rows):
    """A zlib stream of ``n_rows`` all-zero rows, built without compressing them all.

    After a full flush the compressor's output for an identical row repeats byte for byte,
    so one compressed row is repeated; the trailer is the Adler-32 of the whole data.
    """
    comp = zlib.compressobj(9)
    row = bytes(row_bytes)
    first = comp.compress(row) + comp.flush(zlib.Z_FULL_FLUSH)
    again = comp.compress(row) + comp.flush(zlib.Z_FULL_FLUSH)
    adler = 1
    for _ in range(n_rows):
        adler = zlib.adler32(row, adler)
    return first + again * (n_rows - 1) + b"\x03\x00" + struct.pack(">I", adler)


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_bomb(path, width, height, *, bit_depth=16, colour_type=2, data=True):
    """A valid PNG of zeros (or only its header): small file, huge image."""
    planes = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    idat = _zlib_of_zero_rows(1 + width * planes * bit_depth // 8, height) if data else b""
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
                     + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b""))
    return path


def _tiff_bomb(path, width, height, rows_per_strip=1000):
    """A valid deflate TIFF of zeros whose strips all point to one compressed strip."""
    strip = zlib.compress(bytes(width * rows_per_strip), 9)
    n = -(-height // rows_per_strip)
    offsets_at = 8 + 2 + 12 * 9 + 4
    counts_at = offsets_at + 4 * n
    data_at = counts_at + 4 * n
    entries = [  # tag, type (3 short, 4 long), count, value
        (256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 8),
        (262, 3, 1, 1), (273, 4, n, offsets_at if n > 1 else data_at), (277, 3, 1, 1),
        (278, 4, 1, rows_per_strip), (279, 4, n, counts_at if n > 1 else len(strip)),
    ]
    out = bytearray(b"II*\x00" + struct.pack("<IH", 8, len(entries)))
    for tag, kind, count, value in entries:
        out += struct.pack("<HHI", tag, kind, count)
        out += struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
    out += struct.pack("<I", 0)
    out += struct.pack(f"<{n}I", *[data_at] * n) + struct.pack(f"<{n}I", *[len(strip)] * n)
    path.write_bytes(bytes(out + strip))
    return path


def _jpeg_header(path, width, height):
    """SOI and a baseline frame header declaring ``width x height``: nothing to decode."""
    sof = struct.pack(">BHHB", 8, height, width, 1) + bytes([1, 0x11, 0])
    path.write_bytes(b"\xff\xd8\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof
                     + b"\xff\xd9")
    return path


def test_crafted_bombs_decode_to_zeros_when_allowed(tmp_path):
    # the helpers below write genuine images: a small one decodes to the declared zeros
    for path in (_png_bomb(tmp_path / "a.png", 30, 20), _tiff_bomb(tmp_path / "a.tif", 30, 20, 8),
                 _png_bomb(tmp_path / "g.png", 30, 20, bit_depth=8, colour_type=0)):
        image = read_image(path)
        assert image.shape[:2] == (20, 30) and not image.any(), path.name


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("rgb16.png", lambda p: _png_bomb(p, 15000, 15000, data=False)),  # pypng
        ("gray8.png", lambda p: _png_bomb(p, 100_000, 100_000, bit_depth=8, colour_type=0,
                                          data=False)),  # Pillow
        ("huge.jpg", lambda p: _jpeg_header(p, 65_000, 65_000)),
        ("huge.tif", lambda p: _tiff_bomb(p, 20000, 20000)),
    ],
)
def test_huge_images_are_refused_from_their_header(tmp_path, name, make):
    path = make(tmp_path / name)
    with pytest.raises(ImageTooLargeError, match="more than the limit of 134,217,728") as info:
        read_image(path)
    assert str(path) in str(info.value) and "max_pixels" in str(info.value)
    assert isinstance(info.value, ImageFileError)


@pytest.mark.parametrize(("ext", "dtype", "channels"), [
    ("png", np.uint8, ()), ("png", np.uint16, (3,)), ("jpg", np.uint8, (3,)),
    ("tif", np.uint16, ()), ("tif", np.uint8, (4,)),
])
def test_max_pixels_is_one_limit_for_every_reader(tmp_path, monkeypatch, ext, dtype,
                                                  channels):
    path = write_image(tmp_path / f"img.{ext}", _random((20, 30, *channels), dtype))
    assert read_image(path, max_pixels=600).shape == (20, 30, *channels)
    with pytest.raises(ImageTooLargeError, match="30x20 pixels"):
        read_image(path, max_pixels=599)
    monkeypatch.setattr(_io, "MAX_PIXELS", 599)  # the default limit
    with pytest.raises(ImageTooLargeError, match="limit of 599"):
        read_image(path)


def test_invalid_max_pixels(tmp_path):
    path = write_image(tmp_path / "a.png", _random((4, 4), np.uint8))
    for bad in ("1000", 1.5, True):
        with pytest.raises(TypeError, match="max_pixels must be a positive integer"):
            read_image(path, max_pixels=bad)
    with pytest.raises(ValueError, match="max_pixels must be a positive integer"):
        read_image(path, max_pixels=0)


def test_pillow_limit_is_reported_and_its_warning_silenced(tmp_path, monkeypatch):
    path = write_image(tmp_path / "a.png", _random((10, 15), np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # warns above 100, fails above 200
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_image(path).shape == (10, 15)  # our limit decides, no Pillow warning
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)
    with pytest.raises(ImageTooLargeError, match="MAX_IMAGE_PIXELS"):
        read_image(path)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and rlimits")
def test_decompression_bombs_are_refused_in_bounded_memory(tmp_path):
    # the two files of the report: a 1.6 MB 16-bit RGB PNG of 15000 x 15000 pixels (1.35 GB
    # decoded, read through pypng) and a 20 KB TIFF of 20000 x 20000 (400 MB decoded)
    png = _png_bomb(tmp_path / "bomb.png", 15000, 15000)
    tif = _tiff_bomb(tmp_path / "bomb.tif", 20000, 20000)
    assert png.stat().st_size < 2_000_000 and tif.stat().st_size < 100_000
    script = textwrap.dedent("""
        import resource, sys
        from sklearn_denoise._io import ImageTooLargeError, read_image

        def peak_mb():  # this process's own peak (ru_maxrss starts at the parent's size)
            with open("/proc/self/status") as fh:
                return next(int(line.split()[1]) for line in fh
                            if line.startswith("VmHWM:")) / 1024

        vm = next(int(line.split()[1]) for line in open("/proc/self/status")
                  if line.startswith("VmSize:"))
        # a decoder that ignores the limit fails fast instead of eating the machine
        resource.setrlimit(resource.RLIMIT_AS, ((vm + 600 * 1024) * 1024,
                                                resource.RLIM_INFINITY))
        base = peak_mb()
        for path in sys.argv[1:]:
            try:
                read_image(path)
                print("decoded")
            except ImageTooLargeError:
                print("refused")
            except MemoryError:
                print("out of memory")
        print(peak_mb() - base)
    """)
    proc = subprocess.run([sys.executable, "-c", script, str(png), str(tif)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    *outcomes, growth = proc.stdout.split("\n")[:-1]
    assert outcomes == ["refused", "refused"]
    assert float(growth) < 50  # MB


# ------------------------------------------------------------------ TIFF stacks
def _stack_files(folder):
    """Stacks as microscopy software writes them: {file name: the stack's pixels}."""
    rng = np.random.default_rng(3)
    files = {}
    zyx = rng.integers(0, 4096, (5, 12, 16), dtype=np.uint16)
    tifffile.imwrite(folder / "shaped.tif", zyx, description="sample 7, 488 nm",
                     resolution=(3.0, 4.0), resolutionunit="CENTIMETER",
                     metadata={"axes": "ZYX", "operator": "ab"})
    files["shaped.tif"] = zyx
    tzyx = rng.integers(0, 4096, (2, 3, 12, 16), dtype=np.uint16)
    tifffile.imwrite(folder / "imagej.tif", tzyx, imagej=True, resolution=(2.0, 2.0),
                     metadata={"axes": "TZYX", "spacing": 0.5, "unit": "um",
                               "finterval": 1.5, "Info": "bead scan"})
    files["imagej.tif"] = tzyx
    # compressed, big-endian, float planes: decoded page by page, not memory-mapped
    zlib_stack = rng.random((4, 12, 16)).astype(np.float32)
    tifffile.imwrite(folder / "zlib.tiff", zlib_stack, compression="zlib", byteorder=">",
                     photometric="minisblack")
    files["zlib.tiff"] = zlib_stack
    pages = rng.integers(0, 256, (6, 12, 16), dtype=np.uint8)
    with tifffile.TiffWriter(folder / "pages.tif") as writer:  # multi-page, no JSON shape
        for page in pages:
            writer.write(page, metadata=None)
    files["pages.tif"] = pages
    return files


def test_tiff_stacks_round_trip_plane_by_plane_with_their_metadata(tmp_path):
    from sklearn_denoise._io import open_image, write_image_planes

    files = _stack_files(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    for name, stack in files.items():
        with open_image(tmp_path / name) as image_file:
            assert image_file.is_stack and image_file.shape == stack.shape, name
            assert image_file.dtype == stack.dtype and image_file.plane_shape == (12, 16)
            planes = stack.reshape(-1, 12, 16)
            assert image_file.n_planes == len(planes)
            np.testing.assert_array_equal(image_file.plane(2), planes[2])  # random access
            # a changed copy of each plane, as a denoiser would produce
            changed = (image_file.plane(k)[::-1] for k in range(image_file.n_planes))
            write_image_planes(out / name, changed, image_file)
        with tifffile.TiffFile(out / name) as tif:
            series = tif.series[0]
            np.testing.assert_array_equal(series.asarray(), stack[..., ::-1, :])
            assert series.asarray().dtype == stack.dtype, name
            page = tif.pages[0]
            if name == "shaped.tif":
                assert series.axes == "ZYX"
                assert page.description == "sample 7, 488 nm"
                assert page.resolution == (3.0, 4.0) and page.resolutionunit == 3
                assert tif.shaped_metadata[0]["operator"] == "ab"
            if name == "imagej.tif":
                assert series.axes == "TZYX" and page.resolution == (2.0, 2.0)
                settings = tif.imagej_metadata
                assert (settings["spacing"], settings["unit"], settings["finterval"],
                        settings["Info"]) == (0.5, "um", 1.5, "bead scan")
            if name == "zlib.tiff":
                assert page.compression == 8  # zlib kept
    assert sorted(p.name for p in out.iterdir()) == sorted(files)  # no temporary left


def test_read_image_refuses_stacks_and_points_to_open_image(tmp_path):
    _stack_files(tmp_path)
    with pytest.raises(ImageFileError, match=r"stack of 6 planes .*open_image"):
        read_image(tmp_path / "pages.tif")


def test_open_image_on_single_images_is_one_plane(tmp_path):
    from sklearn_denoise._io import open_image, write_image_planes

    gray = _random((10, 12), np.uint16)
    tifffile.imwrite(tmp_path / "one.tif", gray, description="one frame",
                     resolution=(7.0, 7.0), resolutionunit="INCH")
    write_image(tmp_path / "rgb.png", _random((10, 12, 3), np.uint8))
    for name in ("one.tif", "rgb.png"):
        with open_image(tmp_path / name) as image_file:
            assert not image_file.is_stack and image_file.n_planes == 1
            (plane,) = image_file.planes()
            write_image_planes(tmp_path / f"out-{name}", [plane], image_file)
            with pytest.raises(ImageWriteError, match="exactly one image"):
                write_image_planes(tmp_path / f"bad-{name}", [plane, plane], image_file)
        np.testing.assert_array_equal(read_image(tmp_path / f"out-{name}"), plane)
    with tifffile.TiffFile(tmp_path / "out-one.tif") as tif:  # single TIFFs keep them too
        assert tif.pages[0].description == "one frame"
        assert tif.pages[0].resolution == (7.0, 7.0) and tif.pages[0].resolutionunit == 2


def test_stack_write_is_atomic_and_checks_the_planes(tmp_path):
    from sklearn_denoise._io import open_image, write_image_planes

    _stack_files(tmp_path)
    dest = tmp_path / "out.tif"
    with open_image(tmp_path / "shaped.tif") as image_file:
        def failing():
            yield image_file.plane(0)
            yield image_file.plane(1)
            raise RuntimeError("denoiser crashed on plane 3")

        with pytest.raises(RuntimeError, match="plane 3"):
            write_image_planes(dest, failing(), image_file)
        assert not dest.exists()
        bad_dtype = (p.astype(np.float32) for p in image_file.planes())
        with pytest.raises(ImageWriteError, match="plane 1 is float32"):
            write_image_planes(dest, bad_dtype, image_file)
        with pytest.raises(ImageWriteError, match="2 planes for a stack of 5"):
            write_image_planes(dest, [image_file.plane(0)] * 2, image_file)
        with pytest.raises(ImageWriteError, match="only be written as TIFF"):
            write_image_planes(tmp_path / "out.png", image_file.planes(), image_file)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith((".", "out"))]


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_images_that_could_not_be_read_back_are_not_written(tmp_path, value, dtype):
    # issue 29: a NaN float image was written, and read_image then refused the file
    from sklearn_denoise.io import write_image as public_write

    image = np.full((4, 5), 0.5, dtype=dtype)
    image[1, 2] = value
    for write in (public_write, _io.write_image):
        with pytest.raises(ValueError, match="contains NaN or infinite values, which "
                           "read_image refuses"):
            write(tmp_path / "x.tif", image)
    assert list(tmp_path.iterdir()) == []
    image[1, 2] = 0.25  # finite: written and read back as it is
    public_write(tmp_path / "x.tif", image)
    np.testing.assert_array_equal(read_image(tmp_path / "x.tif"), image)


def test_stack_planes_that_could_not_be_read_back_are_not_written(tmp_path):
    from sklearn_denoise._io import open_image, write_image_planes

    _stack_files(tmp_path)
    dest = tmp_path / "out.tif"
    with open_image(tmp_path / "zlib.tiff") as image_file:
        planes = [image_file.plane(k) for k in range(image_file.n_planes)]
        planes[2] = planes[2].copy()
        planes[2][0, 0] = np.nan
        with pytest.raises(ValueError, match="plane 3 contains NaN"):
            write_image_planes(dest, planes, image_file)
    assert not dest.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_stack_of_unsupported_pixels_is_refused(tmp_path):
    from sklearn_denoise._io import open_image

    tifffile.imwrite(tmp_path / "int16.tif", np.zeros((3, 8, 8), np.int16),
                     photometric="minisblack")
    with pytest.raises(ImageFileError, match="unsupported pixel type int16 in a stack"):
        open_image(tmp_path / "int16.tif")
    tifffile.imwrite(tmp_path / "big.tif", np.zeros((3, 40, 50), np.uint8),
                     photometric="minisblack")
    with pytest.raises(ImageTooLargeError, match="50x40"):  # the limit is per plane
        open_image(tmp_path / "big.tif", max_pixels=1999)
    with open_image(tmp_path / "big.tif", max_pixels=2000) as image_file:
        assert image_file.n_planes == 3


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_stacks_are_read_and_written_in_memory_bounded_by_a_plane(tmp_path, compression):
    import tracemalloc

    from sklearn_denoise._io import open_image, write_image_planes

    stack = _random((96, 128, 128), np.uint16)  # 3 MB; a float64 copy would be 12 MB
    tifffile.imwrite(tmp_path / "in.tif", stack, compression=compression)
    tracemalloc.start()
    try:
        with open_image(tmp_path / "in.tif") as image_file:
            work = (np.rint(p.astype(np.float64)).astype(np.uint16)
                    for p in image_file.planes())
            write_image_planes(tmp_path / "out.tif", work, image_file)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < stack.nbytes / 4, peak  # about 0.5 MB: a plane and its buffers
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out.tif"), stack)


# ------------------------------------------------------------- public API: sklearn_denoise.io
PUBLIC_ROUND_TRIPS = [
    ("png", np.uint8, ()), ("png", np.uint8, (3,)), ("png", np.uint16, ()),
    ("png", np.uint16, (3,)), ("png", np.uint16, (4,)),
    ("tif", np.uint8, ()), ("tiff", np.uint8, (3,)), ("tif", np.uint16, ()),
    ("TIF", np.uint16, (3,)), ("tif", np.float32, ()), ("tif", np.float64, (3,)),
]


@pytest.mark.parametrize(("ext", "dtype", "channels"), PUBLIC_ROUND_TRIPS)
def test_public_round_trip(tmp_path, ext, dtype, channels):
    from sklearn_denoise import io

    image = _random((17, 29, *channels), dtype, seed=5)
    path = io.write_image(tmp_path / f"x.{ext}", image)
    back = io.read_image(str(path))
    assert back.dtype == image.dtype and back.shape == image.shape
    np.testing.assert_array_equal(back, image)
    image2, info = io.read_image(path, metadata=True)
    np.testing.assert_array_equal(image2, image)
    assert isinstance(info, dict)
    assert [p.name for p in tmp_path.iterdir()] == [f"x.{ext}"]  # no temporary left


def test_public_write_never_replaces_a_file_unless_asked(tmp_path):
    from sklearn_denoise import io

    first, second = _random((8, 8), np.uint8, seed=1), _random((8, 8), np.uint8, seed=2)
    path = io.write_image(tmp_path / "in.png", first)
    with pytest.raises(FileExistsError, match="overwrite=True") as info:
        io.write_image(path, second)
    assert info.value.filename == str(path)
    np.testing.assert_array_equal(io.read_image(path), first)
    io.write_image(path, second, overwrite=True)
    np.testing.assert_array_equal(io.read_image(path), second)
    assert [p.name for p in tmp_path.iterdir()] == ["in.png"]


def test_public_write_does_not_replace_a_file_created_while_encoding(tmp_path, monkeypatch):
    from sklearn_denoise import io

    path = tmp_path / "race.png"
    write_pillow = _io._write_pillow

    def slow_encoder(fh, image, kind, quality, metadata=None):
        path.write_bytes(b"written by someone else meanwhile")
        write_pillow(fh, image, kind, quality, metadata)

    monkeypatch.setattr(_io, "_write_pillow", slow_encoder)
    with pytest.raises(FileExistsError, match="already exists"):
        io.write_image(path, _random((8, 8), np.uint8))
    assert path.read_bytes() == b"written by someone else meanwhile"
    assert [p.name for p in tmp_path.iterdir()] == ["race.png"]


@pytest.mark.parametrize(("name", "image", "error", "message"), [
    ("a.bmp", np.zeros((8, 8), np.uint8), ValueError, "unsupported file type '.bmp'"),
    ("a", np.zeros((8, 8), np.uint8), ValueError, "unsupported file type"),
    ("a.png", np.zeros((2, 8, 8, 3), np.uint8), ValueError, "expected an \\(H, W\\)"),
    ("a.png", np.zeros((8, 8, 5), np.uint8), ValueError, "expected an \\(H, W\\)"),
    ("a.png", np.zeros((8, 8)), ValueError, "PNG stores 8- or 16-bit"),
    ("a.jpg", np.zeros((8, 8), np.uint16), ValueError, "JPEG stores 8-bit"),
    ("a.jpg", np.zeros((8, 8, 4), np.uint8), ValueError, "JPEG stores 8-bit"),
    ("a.tif", np.zeros((8, 8), np.int32), TypeError, "unsupported dtype int32"),
    ("a.png", np.zeros((8, 8), bool), TypeError, "unsupported dtype bool"),
    ("a.png", [["a", "b"]], TypeError, "unsupported dtype"),
])
def test_public_write_errors_are_value_and_type_errors(tmp_path, name, image, error,
                                                       message):
    from sklearn_denoise import io

    with pytest.raises(error, match=message) as info:
        io.write_image(tmp_path / name, image)
    assert isinstance(info.value, io.ImageWriteError)  # as the command line catches them
    assert str(tmp_path / name) in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_public_write_checks_quality_and_metadata(tmp_path):
    from sklearn_denoise import io

    rgb = _random((8, 8, 3), np.uint8)
    for bad, error in (("95", TypeError), (1.5, TypeError), (True, TypeError),
                       (0, ValueError), (101, ValueError)):
        with pytest.raises(error, match="quality must be an integer from 1 to 100"):
            io.write_image(tmp_path / "a.jpg", rgb, quality=bad)
    with pytest.raises(TypeError, match="metadata must be a dict"):
        io.write_image(tmp_path / "a.jpg", rgb, metadata=[("dpi", (300, 300))])
    assert list(tmp_path.iterdir()) == []
    photo = load_sample_images(color=True)[0][:32, :48]
    path = io.write_image(tmp_path / "a.jpg", photo, quality=50)
    assert np.abs(io.read_image(path).astype(int) - photo).mean() < 10
    with pytest.raises(io.ImageWriteError, match="Cannot write") as info:
        io.write_image(tmp_path / "missing" / "a.png", rgb)
    assert isinstance(info.value, OSError) and info.value.errno is not None


def test_public_read_errors(tmp_path):
    from sklearn_denoise import io

    with pytest.raises(ValueError, match="no such file"):
        io.read_image(tmp_path / "missing.png")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(io.ImageFileError, match="unsupported file type '.txt'"):
        io.read_image(tmp_path / "notes.txt")
    tifffile.imwrite(tmp_path / "stack.tif", _random((5, 16, 16), np.uint8))
    with pytest.raises(ValueError, match="multi-page|not supported"):
        io.read_image(tmp_path / "stack.tif")
    # the size comes from the header: a 15000 x 15000 PNG of 100 bytes is refused unread
    bomb = _png_bomb(tmp_path / "bomb.png", 15000, 15000, data=False)
    with pytest.raises(io.ImageTooLargeError, match="15000x15000 pixels"):
        io.read_image(bomb)
    with pytest.raises(io.ImageTooLargeError, match="limit of 100"):
        io.read_image(io.write_image(tmp_path / "a.png", _random((10, 11), np.uint8)),
                      max_pixels=100)
    with pytest.raises(TypeError, match="max_pixels"):
        io.read_image(tmp_path / "a.png", max_pixels=1e6)
    assert io.MAX_PIXELS == 2**27 and ".tiff" in io.SUPPORTED_EXTENSIONS


def test_public_module_is_the_private_implementation():
    from sklearn_denoise import _atomic, _validation, io

    # the folder helpers of the atomic writes, and the [0, 1] conversions, are public too
    implementation = {"check_folder_writable": _atomic, "remove_stale_temporaries": _atomic,
                      "to_float": _validation, "from_float": _validation}
    for name in io.__all__:
        if name not in ("read_image", "write_image"):
            assert getattr(io, name) is getattr(implementation.get(name, _io), name), name
    for func in (io.read_image, io.write_image):
        assert "Examples" in func.__doc__ and "Raises" in func.__doc__
