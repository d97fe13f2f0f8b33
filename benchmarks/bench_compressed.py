"""Compressed noise: the shipped models, blind, on noise-then-JPEG images (issue #32).

Data: the Set12 images (../shared/data/set12) for ``pretrained("gray")``, and colour photos
the package never trained on for ``pretrained("color")`` (scikit-image's ``astronaut``,
``coffee``, ``chelsea``, ``rocket`` and ``immunohistochemistry``, 256x256 crops). Each
image gets white Gaussian noise of ``sigma`` (on 0-255), seeded per image, then a JPEG
round trip at ``quality`` (Pillow; 4:2:0 chroma subsampling for colour, as phones and
cameras store it): (sigma 15, quality 75) and (sigma 25, quality 90); and, as the
control that uncompressed noise loses nothing, the same noise stored in 8 bits without
JPEG (quality ``none``).

Columns, PSNR in dB averaged over the images (outputs clipped and rounded to 8 bits):

- ``noisy``: the compressed noisy input;
- ``blind``: the default call, ``pretrained(model).transform(X)``;
- ``best grid``: the same model given ``sigma`` (on [0, 1]) from a grid of 0.4 to 1.2
  times the true level in steps of 0.1, the best per image, as the issue defines it;
- ``gap``: best grid minus blind (the target: at most 0.3 dB);
- ``level``: the blind level the model reads (mean over images, in 0-255 units, for the
  luminance channel of colour images), against the true ``sigma``; on how many images
  ``noise_model="auto"`` read the noise as signal-dependent (sensor) noise, and on how
  many the image was read as decoded from a JPEG file, its noise as compressed noise
  (:func:`sklearn_denoise._compression.looks_jpeg_compressed`).

    python benchmarks/bench_compressed.py [--models gray,color] [--cases 15:75,25:none]
    python benchmarks/bench_compressed.py --images heldout   # images nothing was chosen on
    python benchmarks/bench_compressed.py --without-jpeg-reading   # as before issue #32
    python benchmarks/bench_compressed.py --level-factor 1.1   # the JPEG reading x 1.1
    python benchmarks/bench_compressed.py --clean-readings   # clean JPEGs' JPEG reading
    python benchmarks/bench_compressed.py --detection   # the JPEG test's contrast
    python benchmarks/bench_compressed.py --readings   # what each noise estimate reads
    python benchmarks/bench_compressed.py --figure docs/_static/compressed_chroma.png

``--readings`` prints, per image and opponent channel, the standard deviation of the
noise after compression (``true``) next to the three estimates the blind call can use:
the learned estimate (``estimate_level``), the finest wavelet band's
(``estimate_gaussian_sigma``) and the weak-texture one (``weak_texture_level``), all in
0-255 units of that channel.
"""

import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np
import skimage.data

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _protocol import DATA, git_commit, read_folder  # noqa: E402

from sklearn_denoise import CNNDenoiser  # noqa: E402
from sklearn_denoise._color import to_opponent  # noqa: E402
from sklearn_denoise._noise_level import estimate_level, weak_texture_level  # noqa: E402
from sklearn_denoise._sensor import estimate_gaussian_sigma  # noqa: E402
from sklearn_denoise.metrics import psnr  # noqa: E402
from sklearn_denoise.noise import gaussian, jpeg  # noqa: E402

COLOUR_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")
GRID = np.round(np.arange(0.4, 1.21, 0.1), 2)


def colour_images(size=256):
    out = []
    for name in COLOUR_PHOTOS:
        image = getattr(skimage.data, name)()[..., :3]
        top = (image.shape[0] - size) // 2
        left = (image.shape[1] - size) // 2
        out.append(image[top:top + size, left:left + size])
    return out


#: Images for ``--images heldout``, never used to choose anything: gray photos and
#: textures of ``skimage.data`` (Set12 is the gray set otherwise), and colour images
#: other than the five photos or other crops of them: (name, top, left).
HELDOUT_GRAY = ("camera", "moon", "brick", "grass", "gravel", "coins", "clock")
HELDOUT_COLOUR = (("retina", 600, 600), ("hubble_deep_field", 300, 400),
                  ("astronaut", 0, 0), ("coffee", 0, 344), ("chelsea", 44, 0),
                  ("rocket", 0, 0))


def heldout_images(colour, size=256):
    if not colour:
        return [getattr(skimage.data, name)()[:size, :size] for name in HELDOUT_GRAY]
    return [getattr(skimage.data, name)()[top:top + size, left:left + size, :3]
            for name, top, left in HELDOUT_COLOUR]


def _score(clean, output):
    rounded = np.rint(np.clip(output, 0, 1) * 255) / 255
    return psnr(clean, rounded, data_range=1.0)


def measure(model, images, sigma255, quality):
    den = CNNDenoiser.pretrained(model)
    rows = {"noisy": [], "blind": [], "best": [], "level": [], "sensor": [],
            "compressed": []}
    for k, image in enumerate(images):
        clean = image / 255.0
        noisy = _degrade(clean, sigma255, quality, 1000 + k)
        rows["noisy"].append(_score(clean, noisy))
        decided = den.for_image(noisy)
        noise = decided.decision_.noise[0]
        sigma = getattr(noise, "sigma", None)  # None: read as signal-dependent noise
        rows["level"].append(np.nan if sigma is None else sigma * 255)
        rows["sensor"].append(sigma is None)
        rows["compressed"].append(decided.decision_.compressed)
        rows["blind"].append(_score(clean, decided.transform(noisy[np.newaxis])[0]))
        grid = [_score(clean, den.set_params(sigma=f * sigma255 / 255)
                       .transform(noisy[np.newaxis])[0]) for f in GRID]
        den.set_params(sigma=None)
        rows["best"].append(max(grid))
    out = {key: float(np.mean(values)) for key, values in rows.items()}
    out["level"] = float(np.nanmean(rows["level"])) if not all(rows["sensor"]) else np.nan
    out["sensor"] = int(np.sum(rows["sensor"]))
    out["compressed"] = int(np.sum(rows["compressed"]))
    return out


def _degrade(clean, sigma255, quality, seed):
    """White noise of ``sigma255`` and, unless ``quality`` is None, a JPEG round trip;
    without JPEG the noisy image is rounded to 8 bits, as a PNG stores it."""
    noisy = gaussian(clean, sigma255 / 255, random_state=seed)
    if quality is None:
        return np.rint(np.clip(noisy, 0, 1) * 255) / 255
    return jpeg(noisy, quality=quality)


def readings(model, images, sigma255, quality):
    for k, image in enumerate(images):
        clean = image / 255.0
        noisy = _degrade(clean, sigma255, quality, 1000 + k)
        if model == "gray":
            planes, noise = noisy[..., None], (noisy - clean)[..., None]
        else:
            planes = to_opponent(noisy[None].astype(np.float32))[0]
            noise = to_opponent((noisy - clean)[None].astype(np.float32), offset=False)[0]
        for c in range(planes.shape[-1]):
            x = np.ascontiguousarray(planes[..., c : c + 1], dtype=np.float32)
            print(f"{model} | {sigma255}:{quality} | image {k} | channel {c} | "
                  f"true {noise[..., c].std() * 255:.1f} | "
                  f"learned {estimate_level(x) * 255:.1f} | "
                  f"wavelet {estimate_gaussian_sigma(x) * 255:.1f} | "
                  f"weak texture {weak_texture_level(x) * 255:.1f}", flush=True)


@contextlib.contextmanager
def without_jpeg_reading():
    """The package as before issue #32: JPEG-compressed images read like any other (the
    noise of each opponent channel of a colour image read on its own)."""
    import sklearn_denoise._cnn_steps as steps

    reads_compressed = steps._reads_compressed_noise
    steps._reads_compressed_noise = lambda *args: False
    try:
        yield
    finally:
        steps._reads_compressed_noise = reads_compressed


def clean_readings():
    """The JPEG reading (in 8-bit codes, of gray or of R, G and B) of clean JPEGs: what
    ``_cnn_steps.JPEG_NOISE_FLOOR`` must exceed."""
    from sklearn_denoise._noise_level import JPEG_ESTIMATOR_NAME

    sets = {"gray": [i / 255 for i in read_folder(DATA / "set12")[0]]
            + [i / 255 for i in heldout_images(colour=False)],
            "colour": [i / 255 for i in colour_images() + heldout_images(colour=True)]}
    for kind, images in sets.items():
        for quality in (50, 75, 90):
            levels = []
            for image in images:
                x = jpeg(image, quality=quality).astype(np.float32)
                if kind == "gray":
                    levels.append(estimate_level(x[..., None], JPEG_ESTIMATOR_NAME) * 255)
                else:
                    luminance = np.ascontiguousarray(to_opponent(x[None])[0, ..., :1])
                    levels.append(estimate_level(luminance, JPEG_ESTIMATOR_NAME) * 255
                                  / np.sqrt(1 / 3))
            print(f"clean {kind} JPEG q{quality}, {len(images)} images: median "
                  f"{np.median(levels):.2f}, range {min(levels):.2f}-{max(levels):.2f}",
                  flush=True)


def detection():
    """The JPEG test's contrast (best block grid minus the median grid) on Set12 and the
    colour photos, uncompressed or JPEG, noisy or clean, every third image cropped off the
    block grid: what ``_compression.CONTRAST`` must separate."""
    from sklearn_denoise._compression import CONTRAST, grid_contrast

    sets = {"gray": [i / 255 for i in read_folder(DATA / "set12")[0]],
            "colour": [i / 255 for i in colour_images()]}
    for kind, images in sets.items():
        for sigma255, quality in ((0, None), (5, None), (15, None), (50, None), (0, 95),
                                  (0, 75), (5, 75), (15, 75), (10, 90), (25, 90), (40, 50)):
            values = []
            for k, image in enumerate(images):
                x = _degrade(image, sigma255, quality, k) if sigma255 else (
                    image if quality is None else jpeg(image, quality=quality))
                x = x[3:, 5:] if k % 3 == 1 else x
                values.append(grid_contrast(x if x.ndim == 3 else x[..., None]))
            read = [v for v in values if v is not None]
            found = sum(v >= CONTRAST for v in read)
            print(f"{kind} sigma {sigma255} quality {quality}: contrast "
                  f"{min(read):.2f}-{max(read):.2f}, {found}/{len(values)} read as JPEG",
                  flush=True)


@contextlib.contextmanager
def jpeg_level_factor(factor):
    """The JPEG-compressed-noise reading multiplied by ``factor`` (an experiment: the
    shipped reading is 1.0 times the level of the whole error)."""
    import sklearn_denoise._cnn_steps as steps

    estimate = steps.estimate_level
    steps.estimate_level = lambda image, name: estimate(image, name) * factor
    try:
        yield
    finally:
        steps.estimate_level = estimate


def figure(path, photo="rocket", sigma255=15, quality=75):
    """Input, output before issue #32 and output now on one colour photo, with the error
    of each image's opponent chroma (R - B) / 2 below it, where JPEG's chroma blotches
    show."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    image = colour_images()[COLOUR_PHOTOS.index(photo)] / 255.0
    noisy = _degrade(image, sigma255, quality, 1000 + COLOUR_PHOTOS.index(photo))
    den = CNNDenoiser.pretrained("color")
    now = den.transform(noisy[np.newaxis])[0]
    with without_jpeg_reading():
        before = den.transform(noisy[np.newaxis])[0]
    crop = (slice(0, 128), slice(64, 192))
    panels = [("clean", image), (f"noise {sigma255} + JPEG q{quality} (4:2:0)", noisy),
              ("blind, before #32", before), ("blind, now", now)]
    fig, axes = plt.subplots(2, 4, figsize=(12, 6.4))
    for column, (title, picture) in enumerate(panels):
        picture = np.clip(picture, 0, 1)
        error = to_opponent((picture - image)[np.newaxis].astype(np.float32),
                            offset=False)[0, ..., 1]
        score = "" if column == 0 else f"\n{_score(image, picture):.2f} dB"
        axes[0, column].imshow(picture[crop])
        axes[0, column].set_title(title + score, fontsize=10)
        axes[1, column].imshow(error[crop], cmap="RdBu", vmin=-0.05, vmax=0.05)
        axes[1, column].set_title("chroma error, (R - B) / 2, +-0.05", fontsize=9)
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    print(f"wrote {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="gray,color")
    parser.add_argument("--cases", default="15:75,25:90,15:none,25:none",
                        help="comma-separated sigma:quality pairs (sigma on 0-255; quality "
                        "'none': no JPEG, the noisy image stored in 8 bits)")
    parser.add_argument("--images", choices=["benchmark", "heldout"], default="benchmark",
                        help="heldout: other images (HELDOUT_GRAY, HELDOUT_COLOUR), the "
                        "check on images nothing was chosen on")
    parser.add_argument("--limit", type=int, default=None,
                        help="use only the first N images of each set (quick runs)")
    parser.add_argument("--readings", action="store_true",
                        help="print the noise estimates per image and channel instead")
    parser.add_argument("--figure", default=None, metavar="PNG",
                        help="write the chroma figure of the docs (rocket, sigma 15, "
                        "quality 75: input, before issue #32, now) instead")
    parser.add_argument("--without-jpeg-reading", action="store_true",
                        help="the 'before' columns: JPEG images read like any other, as "
                        "before issue #32")
    parser.add_argument("--level-factor", type=float, default=None, metavar="F",
                        help="multiply the JPEG-compressed-noise reading by F (experiment)")
    parser.add_argument("--clean-readings", action="store_true",
                        help="print the JPEG reading of clean JPEGs instead")
    parser.add_argument("--detection", action="store_true",
                        help="print the JPEG test's contrast on JPEG and other images instead")
    args = parser.parse_args(argv)
    if args.detection:
        detection()
        return
    if args.clean_readings:
        clean_readings()
        return
    if args.level_factor is not None:
        rest = list(argv or sys.argv[1:])
        if "--level-factor" in rest:
            i = rest.index("--level-factor")
            del rest[i : i + 2]
        rest = [a for a in rest if not a.startswith("--level-factor=")]
        with jpeg_level_factor(args.level_factor):
            return main(rest)
    if args.without_jpeg_reading:
        with without_jpeg_reading():
            return main([a for a in (argv or sys.argv[1:]) if a != "--without-jpeg-reading"])
    if args.figure:
        figure(args.figure)
        return
    cases = [(int(sigma), None if quality == "none" else int(quality))
             for sigma, quality in (case.split(":") for case in args.cases.split(","))]
    print(f"commit {git_commit()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    if not args.readings:
        print("model | images | sigma | quality | noisy | blind | best grid | gap | "
              "level (true) | read as sensor noise | read as JPEG")
    for model in args.models.split(","):
        if args.images == "heldout":
            images = heldout_images(colour=model != "gray")
            label = f"{len(images)} held-out {'gray' if model == 'gray' else 'colour'}"
        elif model == "gray":
            images, label = read_folder(DATA / "set12")[0], "Set12"
        else:
            images, label = colour_images(), f"{len(COLOUR_PHOTOS)} photos"
        images = [np.asarray(i, dtype=np.float64) for i in images[:args.limit]]
        for sigma255, quality in cases:
            if args.readings:
                readings(model, images, sigma255, quality)
                continue
            r = measure(model, images, sigma255, quality)
            print(f"{model} | {label} | {sigma255} | {quality} | {r['noisy']:.2f} | "
                  f"{r['blind']:.2f} | {r['best']:.2f} | {r['best'] - r['blind']:+.2f} | "
                  f"{r['level']:.1f} ({sigma255}) | {r['sensor']}/{len(images)} | "
                  f"{r['compressed']}/{len(images)}", flush=True)


if __name__ == "__main__":
    main()
