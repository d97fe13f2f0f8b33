"""Compare denoisers on clean images with synthetic noise: the Set12 protocol.

Used by ``sklearn-denoise compare`` and ``benchmarks/compare_denoisers.py``.

Protocol (as for the published Set12 figures): clean ``uint8`` image -> float in [0, 1];
add white Gaussian noise of standard deviation ``sigma / 255`` drawn with a fixed seed
(:func:`sklearn_denoise.noise.gaussian` with ``random_state=seed + k`` for the ``k``-th
image, i.e. ``numpy.random.default_rng(seed + k)``; the same noise for every method),
without clipping the noisy input; denoise; clip the output to [0, 1], multiply by 255 and
round; PSNR against the ``uint8`` clean image with peak 255, and SSIM. Each denoise call is
timed with :func:`time.perf_counter`.

A *method* maps a known noise level to a function denoising one float image::

    Method("tv", "TVDenoiser(weight=0.9*sigma)", lambda s: lambda img: ...)

:func:`default_methods` builds every method of the table
:data:`sklearn_denoise._methods.METHODS` (the one the command line reads too);
:func:`run_comparison` runs them, :func:`to_markdown` renders the table and
:func:`save_figure` writes crops of one image.
"""

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._atomic import atomic_open
from ._cnn import load_cnn
from ._methods import METHOD_NAMES, METHODS
from ._validation import from_float, to_float
from .metrics import psnr, ssim
from .noise import gaussian

__all__ = [
    "Method",
    "MethodSet",
    "Row",
    "Comparison",
    "default_methods",
    "run_comparison",
    "to_markdown",
    "save_figure",
    "center_crop",
    "parse_sigmas",
    "load_images",
    "write_text",
    "add_noise",
    "quantize",
    "check_crop",
    "colour_mode",
    "figure_crop",
    "METHOD_NAMES",
]


class Row(NamedTuple):
    """Mean result of one method at one noise level."""

    method: str
    sigma: float  # 0-255 scale
    psnr: float  # dB, mean over images
    ssim: float  # mean over images
    seconds: float  # mean seconds per image


@dataclass
class Method:
    """A named denoising method.

    Parameters
    ----------
    name : str
        Short name (used in ``--methods`` and as the first table column).
    label : str
        What it is and with which parameters.
    build : callable
        ``build(sigma)`` with ``sigma`` on the [0, 1] scale (the true noise level) returns
        ``denoise(image) -> image``, taking and returning one float image of shape (H, W)
        or (H, W, 3). Called once per noise level, outside the timing.
    slow : bool, default=False
        Seconds per image rather than fractions of a second; the command line skips it
        unless asked for.
    prepare : callable, default=None
        ``prepare(channel_counts)`` is called once before any timing with the set of
        channel counts of the images (1 or 3), to load models.
    """

    name: str
    label: str
    build: Callable
    slow: bool = False
    prepare: Callable | None = None


class MethodSet(dict):
    """A ``{name: Method}`` dict that also records unavailable methods in ``skipped``."""

    def __init__(self, *args, skipped=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.skipped = dict(skipped or {})


@dataclass
class Comparison:
    """The result of :func:`run_comparison`; iterating over it yields the rows.

    Attributes
    ----------
    rows : list of Row
        One per (method, sigma), methods in the given order, the noisy input first.
    sigmas : list of float
    labels : dict
        Method name -> label.
    skipped : dict
        Method name -> reason, for methods that could not be run (and were dropped).
    n_images : int
    image_shapes : list of tuple
    examples : dict
        ``{sigma: {"clean": uint8, "noisy": uint8, method: uint8, ...}}`` for the image
        ``keep_image``, and ``example_psnr`` the matching PSNRs, for :func:`save_figure`.
    """

    rows: list
    sigmas: list
    labels: dict
    skipped: dict = field(default_factory=dict)
    n_images: int = 0
    image_shapes: list = field(default_factory=list)
    examples: dict = field(default_factory=dict)
    example_psnr: dict = field(default_factory=dict)
    keep_image: int | None = None
    image_names: list | None = None

    def __iter__(self):
        return iter(self.rows)

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        return self.rows[index]


NOISY = "noisy"


# ----------------------------------------------------------------------------------- helpers
def parse_sigmas(text):
    """Parse "15,25,50" into ``[15.0, 25.0, 50.0]`` (0-255 scale), checking the values."""
    if isinstance(text, (int, float)):
        values = [float(text)]
    elif isinstance(text, str):
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not parts:
            raise ValueError("no noise level given: expected e.g. 15,25,50")
        try:
            values = [float(p) for p in parts]
        except ValueError as exc:
            raise ValueError(
                f"invalid noise levels {text!r}: expected numbers on the 0-255 scale "
                "separated by commas, e.g. 15,25,50"
            ) from exc
    else:
        values = [float(v) for v in text]
    for v in values:
        if not np.isfinite(v) or not 0 < v <= 255:
            raise ValueError(f"noise level {v:g} is outside (0, 255] (0-255 scale)")
    return values


def center_crop(image, size):
    """Centre crop to at most ``size x size`` (smaller sides are kept whole)."""
    if size is None:
        return image
    h, w = image.shape[:2]
    ch, cw = min(h, int(size)), min(w, int(size))
    top, left = (h - ch) // 2, (w - cw) // 2
    return image[top : top + ch, left : left + cw]


def _check_images(images):
    if isinstance(images, np.ndarray) and images.ndim in (2,):
        images = [images]
    images = list(images)
    if not images:
        raise ValueError("No images to compare on.")
    out = []
    for i, img in enumerate(images):
        img = np.asarray(img)
        if img.dtype != np.uint8:
            raise TypeError(
                f"image {i} has dtype {img.dtype}: the protocol takes uint8 clean images"
            )
        if img.ndim == 3 and img.shape[-1] == 1:
            img = img[..., 0]
        if not (img.ndim == 2 or (img.ndim == 3 and img.shape[-1] == 3)):
            raise ValueError(
                f"image {i} has shape {img.shape}: expected gray (H, W) or RGB (H, W, 3)"
            )
        if min(img.shape[:2]) < 16:
            raise ValueError(f"image {i} is too small ({img.shape}); use at least 16x16")
        out.append(img)
    return out


def add_noise(clean, sigma255, seed):
    """Float [0, 1] image plus seeded N(0, (sigma/255)^2) noise, not clipped.

    The noise is :func:`sklearn_denoise.noise.gaussian` with ``random_state=seed``, that is
    ``numpy.random.default_rng(seed)``.
    """
    image = np.asarray(clean).astype(np.float64) / 255.0
    return gaussian(image, sigma255 / 255.0, random_state=seed)


def quantize(image):
    """Clip to [0, 1], scale to 255 and round to uint8
    (:func:`~sklearn_denoise._validation.from_float`)."""
    return from_float(image, np.uint8)


def _score(clean, out):
    return psnr(clean[None], out[None]), ssim(clean[None], out[None])


# ----------------------------------------------------------------------------------- methods
def _cnn_method(model=None, params=None):
    """The CNN method: a model file or name, or else the shipped pretrained models;
    ``params`` are passed to :func:`load_cnn` (e.g. ``device``)."""
    from . import available_models

    shipped = available_models()
    if model is None:
        if "gray" not in shipped:
            return None, (
                "no pretrained model is shipped in this installation (available: "
                f"{', '.join(shipped) or 'none'}); give a weight file with --model PATH "
                "(e.g. from `sklearn-denoise train`)"
            )
        label = METHODS["cnn"].label
    else:
        label = f"CNNDenoiser ({Path(os.fspath(model)).name if os.path.exists(model) else model})"
    models = {}

    def get(n_channels):
        if n_channels not in models:
            models[n_channels] = load_cnn(model, n_channels, **(params or {}))
        return models[n_channels]

    def prepare(channel_counts):
        for n in sorted(channel_counts):
            get(n)

    def build(sigma):
        def denoise(image):
            est = get(3 if image.ndim == 3 else 1)
            return est.transform(image[np.newaxis].astype(np.float32))[0]

        return denoise

    return Method("cnn", label, build, prepare=prepare), None


def default_methods(*, model=None, include=None, cnn_params=None):
    """Every denoiser available in the package, with parameters for a known noise level.

    Parameters
    ----------
    model : str or path, default=None
        CNN weights (a file written by ``CNNDenoiser.save`` or a shipped model name); None
        uses the shipped pretrained models when they exist.
    include : iterable of str, default=None
        Only these method names (in this order); None for all.
    cnn_params : dict, default=None
        Other parameters of the CNNDenoiser (e.g. ``{"device": "cuda"}``).

    Returns
    -------
    methods : MethodSet
        ``{name: Method}``, in the order: cnn, wavelet, wavelet-cs, tv, nlm, bilateral,
        bm3d, sk-wavelet, sk-tv, sk-nlm. ``methods.skipped`` maps the names of methods
        that are not available (no pretrained model, ``bm3d`` not installed, ...) to the
        reason.
    """
    names = list(METHOD_NAMES) if include is None else list(include)
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ValueError(
            f"Unknown method(s) {unknown}; choose from {list(METHOD_NAMES)} (or 'all')."
        )
    methods, skipped = {}, {}
    for name in names:
        spec = METHODS[name]
        if spec.kind == "cnn":
            method, reason = _cnn_method(model, cnn_params)
        else:
            reason = spec.unavailable()
            method = None if reason else Method(name, spec.label, spec.for_noise_level,
                                                slow=spec.slow)
        if method is None:
            skipped[name] = reason
        else:
            methods[name] = method
    return MethodSet(methods, skipped=skipped)


def _as_method(name, value):
    """Accept a Method, an estimator (fitted: used as is; else fit per image), or a
    callable ``f(image, sigma) -> image``."""
    if isinstance(value, Method):
        return value
    if hasattr(value, "transform"):
        from sklearn.base import clone
        from sklearn.utils.validation import check_is_fitted

        try:
            check_is_fitted(value)
            fitted = True
        except Exception:
            fitted = False

        def build(sigma):
            def denoise(image):
                batch = image[np.newaxis]
                est = value if fitted else clone(value).fit(batch)
                return est.transform(batch)[0]

            return denoise

        return Method(name, type(value).__name__, build)
    if callable(value):
        return Method(name, getattr(value, "__name__", name),
                      lambda sigma: (lambda image: value(image, sigma)))
    raise TypeError(
        f"Method {name!r} must be a Method, an estimator with transform or a callable "
        f"f(image, sigma), got {value!r}."
    )


# ----------------------------------------------------------------------------------- engine
def run_comparison(images, sigmas, methods=None, *, seed=0, keep_image=0, names=None,
                   include_noisy=True, progress=False):
    """Run the Set12 protocol for every method and noise level.

    Parameters
    ----------
    images : list of ndarray
        Clean ``uint8`` images, gray (H, W) or RGB (H, W, 3), sizes may differ.
    sigmas : iterable of float or str
        Noise levels on the 0-255 scale (or a string "15,25,50").
    methods : dict, default=None
        ``{name: Method | estimator | callable(image, sigma)}``; None uses
        :func:`default_methods`. An unfitted estimator is fitted on each noisy image (for
        the stateless classical denoisers), a fitted one only transforms.
    seed : int, default=0
        Noise seed: the ``k``-th image gets ``numpy.random.default_rng(seed + k)``.
    keep_image : int or None, default=0
        Keep the outputs for this image (for :func:`save_figure`); None keeps none.
    names : list of str, default=None
        Image names, for the figure.
    include_noisy : bool, default=True
        Add a "noisy" row: the noisy input itself, clipped and rounded.
    progress : bool, default=False
        Show a tqdm progress bar on stderr.

    Returns
    -------
    Comparison
        Iterable over the :class:`Row` tuples ``(method, sigma, psnr, ssim, seconds)``
        (means over the images; seconds per image). A method that fails is dropped and its
        error recorded in ``skipped``.
    """
    images = _check_images(images)
    sigmas = parse_sigmas(sigmas)
    if methods is None:
        methods = default_methods()
    skipped = dict(getattr(methods, "skipped", {}))
    methods = {name: _as_method(name, value) for name, value in methods.items()}
    labels = {name: m.label for name, m in methods.items()}
    if keep_image is not None and not 0 <= keep_image < len(images):
        raise ValueError(f"keep_image={keep_image} but there are {len(images)} images")

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(sigmas) * len(methods) * len(images), unit="image",
                   desc="compare", leave=False)
    results = {}  # (name, sigma) -> (psnrs, ssims, seconds)
    examples, example_psnr = {}, {}
    failed = {}
    channel_counts = {3 if img.ndim == 3 else 1 for img in images}
    for name, method in methods.items():
        if method.prepare is not None:
            try:
                method.prepare(channel_counts)
            except Exception as exc:
                failed[name] = f"failed: {type(exc).__name__}: {exc}"
    try:
        for sigma in sigmas:
            noisy = [add_noise(img, sigma, seed + k) for k, img in enumerate(images)]
            if keep_image is not None:
                examples[sigma] = {"clean": images[keep_image],
                                   NOISY: quantize(noisy[keep_image])}
                example_psnr[sigma] = {}
            if include_noisy:
                scores = [_score(c, quantize(n)) for c, n in zip(images, noisy)]
                results[(NOISY, sigma)] = ([s[0] for s in scores], [s[1] for s in scores],
                                           [0.0] * len(images))
                if keep_image is not None:
                    example_psnr[sigma][NOISY] = scores[keep_image][0]
            for name, method in methods.items():
                if name in failed:
                    if bar is not None:
                        bar.update(len(images))
                    continue
                if bar is not None:
                    bar.set_description(f"{name} sigma={sigma:g}")
                try:
                    psnrs, ssims, secs, kept = _run_method(method, images, noisy, sigma,
                                                           keep_image, bar)
                except Exception as exc:  # one broken method must not stop the others
                    failed[name] = f"failed: {type(exc).__name__}: {exc}"
                    continue
                results[(name, sigma)] = (psnrs, ssims, secs)
                if keep_image is not None:
                    examples[sigma][name] = kept
                    example_psnr[sigma][name] = psnrs[keep_image]
    finally:
        if bar is not None:
            bar.close()

    order = ([NOISY] if include_noisy else []) + [n for n in methods if n not in failed]
    rows = [
        Row(name, sigma, float(np.mean(results[(name, sigma)][0])),
            float(np.mean(results[(name, sigma)][1])),
            float(np.mean(results[(name, sigma)][2])))
        for name in order for sigma in sigmas
    ]
    for sigma in examples:
        for name in failed:
            examples[sigma].pop(name, None)
            example_psnr[sigma].pop(name, None)
    skipped.update(failed)
    if include_noisy:
        labels = {NOISY: "noisy input (no denoising)", **labels}
    return Comparison(
        rows=rows, sigmas=sigmas, labels={n: labels[n] for n in order}, skipped=skipped,
        n_images=len(images), image_shapes=[img.shape for img in images],
        examples=examples, example_psnr=example_psnr, keep_image=keep_image,
        image_names=list(names) if names is not None else None,
    )


def _run_method(method, images, noisy, sigma, keep_image, bar):
    denoise = method.build(sigma / 255.0)
    psnrs, ssims, secs = [], [], []
    kept = None
    for k, (clean, x) in enumerate(zip(images, noisy)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            start = time.perf_counter()
            out = denoise(x)
            secs.append(time.perf_counter() - start)
        out = np.asarray(out, dtype=np.float64)
        if out.shape != x.shape:
            raise ValueError(f"output shape {out.shape} differs from input {x.shape}")
        if not np.all(np.isfinite(out)):
            raise ValueError("output contains NaN or infinity")
        out = quantize(out)
        p, s = _score(clean, out)
        psnrs.append(p)
        ssims.append(s)
        if k == keep_image:
            kept = out
        if bar is not None:
            bar.update(1)
    return psnrs, ssims, secs, kept


# ----------------------------------------------------------------------------------- output
def to_markdown(comparison, *, title=None):
    """Markdown table: one row per method, one column per sigma, "PSNR / SSIM / s".

    The best PSNR of each column (the noisy input aside) is bold. ``comparison`` is a
    :class:`Comparison` or a list of :class:`Row` (then methods get no label).
    """
    rows = list(comparison)
    labels = dict(getattr(comparison, "labels", {}))
    sigmas = []
    for r in rows:
        if r.sigma not in sigmas:
            sigmas.append(r.sigma)
    methods = []
    for r in rows:
        if r.method not in methods:
            methods.append(r.method)
    cell = {(r.method, r.sigma): r for r in rows}
    best = {}
    for s in sigmas:
        candidates = [cell[(m, s)].psnr for m in methods if m != NOISY and (m, s) in cell]
        best[s] = max(candidates) if candidates else None

    lines = []
    n_images = getattr(comparison, "n_images", None)
    if title:
        lines += [title, ""]
    what = "PSNR (dB) / SSIM / seconds per image"
    if n_images:
        what += f", mean over {n_images} image{'s' if n_images != 1 else ''}"
    shapes = getattr(comparison, "image_shapes", None)
    if shapes:
        what += f" in {colour_mode(shapes)}"
    lines += [what + "; Gaussian noise, sigma on the 0-255 scale, output rounded to uint8.",
              ""]
    header = ["method", "denoiser"] + [f"sigma={s:g}" for s in sigmas]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---", "---"] + ["---:"] * len(sigmas)) + "|")
    for m in methods:
        cells = [f"`{m}`", labels.get(m, "")]
        for s in sigmas:
            r = cell.get((m, s))
            if r is None:
                cells.append("-")
                continue
            p = f"{r.psnr:.2f}"
            if m != NOISY and best[s] is not None and np.isclose(r.psnr, best[s]):
                p = f"**{p}**"
            t = "-" if m == NOISY else _format_seconds(r.seconds)
            cells.append(f"{p} / {r.ssim:.3f} / {t}")
        lines.append("| " + " | ".join(cells) + " |")
    skipped = getattr(comparison, "skipped", {})
    if skipped:
        lines.append("")
        lines.append("Not run: " + "; ".join(f"`{k}` ({v})" for k, v in skipped.items()) + ".")
    return "\n".join(lines) + "\n"


def colour_mode(shapes):
    """How a set of images is compared: "colour (RGB)", "grayscale" or "mixed: ..."."""
    n_colour = sum(len(shape) == 3 for shape in shapes)
    n_gray = len(shapes) - n_colour
    if n_colour and n_gray:
        return f"mixed: {n_colour} colour (RGB), {n_gray} grayscale"
    return "colour (RGB)" if n_colour else "grayscale"


def _format_seconds(seconds):
    if seconds >= 10:
        return f"{seconds:.1f} s"
    if seconds >= 0.01:
        return f"{seconds:.2f} s"
    return f"{seconds:.4f} s"


def write_text(path, text):
    """Write text atomically (temporary file in the same folder, then os.replace)."""
    with atomic_open(path, "x", encoding="utf-8") as fh:
        fh.write(text)
    return Path(path)


# Detail of a pixel: standard deviation of the clean image over this window around it.
_DETAIL_WINDOW = 7


def _detail_crop(image, size, level=None):
    """(x, y, w, h) of the ``size`` x ``size`` crop with the most visible detail.

    The detail of a pixel is the standard deviation of the clean image in the 7x7 window
    around it, capped at ``level`` (the noise std, 0-255 scale, when given): structure
    weaker than the noise is what denoising erases, structure stronger than it counts
    alike. A crop scores the mean detail of its pixels, so a crop filled with texture and
    edges wins over one crossed by a single strong edge or covered by faint grain.
    """
    from scipy.ndimage import uniform_filter

    gray = image.astype(np.float64)
    if gray.ndim == 3:
        gray = gray.mean(axis=-1)
    mean = uniform_filter(gray, _DETAIL_WINDOW, mode="reflect")
    square = uniform_filter(gray * gray, _DETAIL_WINDOW, mode="reflect")
    detail = np.sqrt(np.maximum(square - mean * mean, 0.0))
    if level is not None:
        detail = np.minimum(detail, level)
    h, w = gray.shape
    ch, cw = min(size, h), min(size, w)
    integral = np.pad(detail.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    step = max(1, min(ch, cw) // 8)
    tops = np.unique(np.r_[np.arange(0, h - ch + 1, step), h - ch])
    lefts = np.unique(np.r_[np.arange(0, w - cw + 1, step), w - cw])
    t, left = np.meshgrid(tops, lefts, indexing="ij")
    total = (integral[t + ch, left + cw] - integral[t, left + cw]
             - integral[t + ch, left] + integral[t, left])
    best = np.unravel_index(int(np.argmax(total)), total.shape)  # first of equals
    return int(lefts[best[1]]), int(tops[best[0]]), cw, ch


def check_crop(crop, shape):
    """An ``(x, y, w, h)`` crop (pixels, from the top-left corner) checked against an
    image of ``shape`` ``(H, W[, C])``; raises ValueError naming the image size."""
    try:
        x, y, w, h = (int(v) for v in crop)
    except (TypeError, ValueError):
        raise ValueError(f"crop must be four integers x, y, w, h, got {crop!r}") from None
    height, width = shape[:2]
    if min(x, y) < 0 or min(w, h) < 1 or x + w > width or y + h > height:
        raise ValueError(
            f"the crop x={x}, y={y}, w={w}, h={h} does not fit in the {width}x{height} "
            "image (x + w <= width and y + h <= height, all >= 0, w and h >= 1)"
        )
    return x, y, w, h


def _figure_sigmas(comparison, sigma):
    """The noise levels a figure shows: None (the middle one), one, several or "all"."""
    run = list(comparison.examples)
    if sigma is None:
        return [run[len(run) // 2]]
    if isinstance(sigma, str) and sigma == "all":
        return run
    wanted = [float(s) for s in (sigma if np.ndim(sigma) else [sigma])]
    missing = [s for s in wanted if s not in comparison.examples]
    if missing or not wanted:
        raise ValueError(f"sigma={', '.join(f'{s:g}' for s in missing) or '[]'} was not "
                         f"run; choose from {run}")
    return wanted


def figure_crop(comparison, *, sigma=None, crop=96):
    """The ``(x, y, w, h)`` crop :func:`save_figure` shows, with the same arguments."""
    if not comparison.examples:
        raise ValueError("The comparison kept no images: run it with keep_image set.")
    sigmas = _figure_sigmas(comparison, sigma)
    clean = comparison.examples[sigmas[0]]["clean"]
    if np.ndim(crop) == 0:
        return _detail_crop(clean, int(crop), level=sigmas[len(sigmas) // 2])
    return check_crop(crop, clean.shape)


def save_figure(comparison, path, *, sigma=None, crop=96, columns=4, dpi=150):
    """Write a figure of crops: clean, noisy and each method, titled with their PSNR.

    Parameters
    ----------
    comparison : Comparison
        From :func:`run_comparison` with ``keep_image`` set.
    path : str or path-like
        Output file; the format follows the extension (PNG, PDF, SVG, ...). Written
        atomically.
    sigma : float, list of float or "all", default=None
        Which noise levels to show, one row of panels each; None takes the middle one.
    crop : int or (x, y, w, h), default=96
        Side of a square crop placed where the clean image has the most visible detail
        (the highest mean local standard deviation, counted up to the noise level), or
        the crop itself in pixels from the image's top-left corner.
    columns : int, default=4
        Panels per row when one noise level is shown.

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    ValueError
        If a noise level was not run or the crop does not fit in the image.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            "Writing the comparison figure needs matplotlib: pip install matplotlib"
        ) from exc
    if not comparison.examples:
        raise ValueError("The comparison kept no images: run it with keep_image set.")
    sigmas = _figure_sigmas(comparison, sigma)
    x, y, cw, ch = figure_crop(comparison, sigma=sigma, crop=crop)
    names = [name for name in comparison.examples[sigmas[0]] if name != "clean"]
    panels = [(s, name) for s in sigmas for name in ["clean", *names]]
    if len(sigmas) == 1:
        columns = max(1, min(columns, len(panels)))
    else:
        columns = len(names) + 1
    n_rows = -(-len(panels) // columns)
    fig = Figure(figsize=(2.4 * columns, 2.6 * n_rows))
    for i, (s, name) in enumerate(panels):
        ax = fig.add_subplot(n_rows, columns, i + 1)
        img = comparison.examples[s][name][y : y + ch, x : x + cw]
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255,
                  interpolation="nearest")
        score = comparison.example_psnr[s].get(name)
        if name == "clean":
            title = "clean" if len(sigmas) == 1 else f"clean\nsigma={s:g}"
        else:
            title = name if score is None else f"{name}\n{score:.2f} dB"
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    image_name = ""
    if comparison.image_names and comparison.keep_image is not None:
        image_name = f"{comparison.image_names[comparison.keep_image]}, "
    shown = f"sigma={sigmas[0]:g}, " if len(sigmas) == 1 else ""
    fig.suptitle(f"{image_name}{shown}crop x={x}, y={y}, {cw}x{ch} (PSNR of the whole "
                 "image)", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    with atomic_open(path, "xb") as fh:
        fig.savefig(fh, format=fmt, dpi=dpi)
    return path


def load_images(folder=None, *, size=None, max_images=None, color=False):
    """Clean uint8 images for a comparison, and their names.

    Parameters
    ----------
    folder : str or path, default=None
        A folder of PNG/JPEG/TIFF images (sorted by name); None uses the bundled sample
        images (:func:`sklearn_denoise.datasets.load_sample_images`).
    size : int, default=None
        Centre-crop every image to at most ``size x size``.
    max_images : int, default=None
        Use only the first ``max_images``.
    color : bool or "auto", default=False
        True: RGB images (the colour sample images; gray folder images are repeated on
        three channels). False: gray images (the gray sample images; colour folder
        images are converted). "auto": folder images as they are, colour in colour and
        gray in gray (the gray sample images without a folder).

    Returns
    -------
    images : list of ndarray
    names : list of str
    """
    from ._io import is_image_file
    from .io import read_image

    if folder is None:
        from .datasets import load_sample_images

        images, names = load_sample_images(color=color is True, return_names=True)
    else:
        folder = Path(folder)
        if not folder.is_dir():
            raise ValueError(f"{folder} is not a folder")
        files = sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p))
        if max_images is not None:
            files = files[:max_images]
        if not files:
            raise ValueError(f"No PNG/JPEG/TIFF images in {folder}")
        images, names = [], []
        for p in files:
            img = read_image(p)
            images.append(_to_uint8(img, color, p))
            names.append(p.stem)
    if max_images is not None:
        images, names = images[:max_images], names[:max_images]
    images = [center_crop(img, size) for img in images]
    return images, names


def _to_uint8(img, color, path):
    if img.dtype != np.uint8:  # uint16 counts or float TIFF on [0, 1]
        img = quantize(to_float(img))
    if img.ndim == 3 and img.shape[-1] in (2, 4):  # drop alpha
        img = img[..., :-1]
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if color is True and img.ndim == 2:
        img = np.repeat(img[..., np.newaxis], 3, axis=-1)
    if color is False and img.ndim == 3:
        from skimage.color import rgb2gray

        img = quantize(rgb2gray(img))
    return img
